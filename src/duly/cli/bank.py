"""duly bank accounts add|list; duly bank import FILE (camt.053/054, MT940, OFX, CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from duly.cli import current_org, fail, handle_errors, org_option


@click.group()
def bank():
    """The organization's bank accounts and their statements."""


@bank.group("accounts")
def accounts():
    """The bank accounts statements are imported for."""


@accounts.command("add")
@org_option
@click.argument("iban")
@click.option("--currency", required=True, help="The account's currency (ISO 4217, e.g. EUR)")
@click.option("--name", default="", help="A name for the account, e.g. 'Main account'")
@click.option("--bic", default="", help="The bank's BIC")
@click.option("--csv-mapping", "csv_mapping", default="",
              help='CSV column mapping as JSON, e.g. {"booking_date": "Date", "amount": "Amount"} '
                   "(given again for an existing account, it replaces the saved one)")
@handle_errors
def add(org_slug, iban, currency, name, bic, csv_mapping):
    """Add bank account IBAN (or the bank's account number where it has no IBAN)."""
    from duly.payments.bank_services import add_bank_account

    org = current_org(org_slug)
    mapping = None
    if csv_mapping:
        try:
            mapping = json.loads(csv_mapping)
        except json.JSONDecodeError:
            fail("--csv-mapping is not valid JSON.")
    account = add_bank_account(org, iban=iban, currency=currency, name=name, bic=bic, csv_mapping=mapping)
    click.echo(f"Bank account {account.iban} ({account.currency}) ready for statements.")


@accounts.command("list")
@org_option
@handle_errors
def list_accounts(org_slug):
    """List the bank accounts with their number of statements and lines."""
    from django.db.models import Count

    from duly.payments.bank_models import BankAccount

    org = current_org(org_slug)
    rows = BankAccount.objects.filter(organization=org).annotate(
        n_statements=Count("statements", distinct=True), n_lines=Count("lines", distinct=True))
    for account in rows:
        click.echo(f"{account.iban}\t{account.currency}\t{account.name}\t{account.n_statements} statement(s)\t"
                   f"{account.n_lines} line(s)")


@bank.command("import")
@org_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--account", default="", help="IBAN of the account (needed for CSV and files that name none)")
@handle_errors
def import_(org_slug, file, account):
    """Import statement FILE: camt.053/054, MT940, OFX, or CSV with the account's column mapping."""
    from duly.payments.bank_services import import_statement
    from duly.payments.statements import MAX_FILE_BYTES

    org = current_org(org_slug)
    path = Path(file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            fail(f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path.name}: {exc.strerror or 'error'}.")
    result = import_statement(org, data, account=account or None)
    click.echo(result.message)


COMMANDS = [bank]


# Reconciliation and the review queue live in their own module; they are subcommands of `duly bank`.
from duly.cli.bank_review import COMMANDS as _REVIEW_COMMANDS  # noqa: E402

for _command in _REVIEW_COMMANDS:
    bank.add_command(_command)
