"""duly bank accounts add|list; duly bank import FILE (camt.053/054, MT940, OFX, CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from duly.cli import current_org, fail, handle_errors, org_option
from duly.cli.i18n import _, ngettext


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
            fail(_("--csv-mapping is not valid JSON."))
    account = add_bank_account(org, iban=iban, currency=currency, name=name, bic=bic, csv_mapping=mapping)
    click.echo(_("Bank account {iban} ({currency}) ready for statements.", iban=account.iban,
                 currency=account.currency))


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
        click.echo(f"{account.iban}\t{account.currency}\t{account.name}\t"
                   + ngettext("{n} statement(s)", "{n} statement(s)", account.n_statements) + "\t"
                   + ngettext("{n} line(s)", "{n} line(s)", account.n_lines))


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
            fail(_("{file} is larger than {size} MB.", file=path.name, size=MAX_FILE_BYTES // (1024 * 1024)))
        data = path.read_bytes()
    except OSError as exc:
        fail(_("cannot read {file}: {reason}.", file=path.name, reason=exc.strerror or _("error")))
    result = import_statement(org, data, account=account or None)
    click.echo(import_summary(result))


def import_summary(result) -> str:
    """A statement import's summary (``ImportResult.message``) in the staff's language."""
    return _("{format}: {statements}, {lines}: {new}.", format=result.format,
             statements=ngettext("{n} statement(s)", "{n} statement(s)", result.statements),
             lines=ngettext("{n} line(s)", "{n} line(s)", result.lines),
             new=ngettext("{n} new line", "{n} new lines", result.new_lines))


COMMANDS = [bank]


# Reconciliation and the review queue live in their own module; they are subcommands of `duly bank`.
from duly.cli.bank_review import COMMANDS as _REVIEW_COMMANDS  # noqa: E402

for _command in _REVIEW_COMMANDS:
    bank.add_command(_command)
