"""duly init / serve / demo / rates."""

from __future__ import annotations

import click

from duly.cli import DATE, allow_date_option, handle_errors, progress_display


@click.command()
@click.option("--org-name", help="Legal name of your organization")
@click.option("--slug", help="Short identifier (default: from the name)")
@click.option("--country", help="ISO country code, e.g. FR")
@click.option("--currency", help="Default currency, e.g. EUR")
@click.option("--address", "address_line1", help="Street address")
@click.option("--postcode", default="", help="Postcode")
@click.option("--city", help="City")
@click.option("--vat-id", default="", help="VAT/tax id")
@click.option("--iban", default="", help="IBAN for bank transfers")
@click.option("--bic", default="", help="BIC")
@click.option("--locale", default="en", show_default=True)
@click.option("--timezone", "tz", default="UTC", show_default=True)
@click.option("--admin-user", help="Back-office user name")
@click.option("--admin-email", default="", help="Back-office user email")
@click.option("--admin-password", help="Back-office password (prompted if missing)")
@click.option("--no-input", is_flag=True, help="Never prompt; fail if a required flag is missing")
@handle_errors
def init(org_name, slug, country, currency, address_line1, postcode, city, vat_id, iban, bic, locale, tz,
         admin_user, admin_email, admin_password, no_input):
    """Migrate the database, create an organization and an admin user (one transaction: all or nothing)."""
    from django.core.management import call_command

    from duly.customers import services
    from duly.domain.errors import ValidationError

    def need(value, prompt, hide=False):
        if value:
            return value
        if no_input:
            raise ValidationError(f"--{prompt.lower().replace(' ', '-')} is required with --no-input.")
        return click.prompt(prompt, hide_input=hide, confirmation_prompt=hide)

    call_command("migrate", interactive=False, verbosity=0)
    org_name = need(org_name, "Org name")
    country = need(country, "Country").upper()
    currency = need(currency, "Currency").upper()
    address_line1 = need(address_line1, "Address")
    city = need(city, "City")
    admin_user = need(admin_user, "Admin user")
    admin_password = need(admin_password, "Admin password", hide=True)
    org, _ = services.set_up_organization(
        admin_username=admin_user, admin_password=admin_password, admin_email=admin_email,
        name=org_name, slug=slug, country=country, default_currency=currency, address_line1=address_line1,
        postcode=postcode, city=city, vat_id=vat_id, iban=iban, bic=bic, locale=locale, timezone=tz,
    )
    click.echo(f"Created organization {org.name} ({org.slug}) and admin user {admin_user}.")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve only; run no periodic jobs in this process")
@click.option("--interval", default=300, show_default=True, type=int, help="Seconds between scheduler passes")
@handle_errors
def serve(host, port, threads, no_scheduler, interval):
    """Serve Duly with a production WSGI server (waitress) and the in-process scheduler."""
    from duly.server import serve as run

    run(host=host, port=port, threads=threads, scheduler=not no_scheduler, interval=interval)


@click.command()
@click.option("--no-serve", is_flag=True, help="Seed only; do not start the server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Date the demo history ends, YYYY-MM-DD (default: today)")
@click.option("--seed", default=2026, show_default=True, type=int, help="Random seed (reproducible data)")
@handle_errors
def demo(no_serve, host, port, as_of, seed):
    """Seed a realistic demo organization, then serve it."""
    from datetime import date

    from django.core.management import call_command
    from duly.demo import seed_demo

    call_command("migrate", interactive=False, verbosity=0)
    end = as_of or date.today()
    tasks: dict[str, int] = {}
    with progress_display() as progress:

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = seed_demo(as_of=end, seed=seed, progress=step)
    click.echo(summary.text())
    if not no_serve:
        from duly.server import serve as run

        click.echo(f"Serving on http://{host}:{port}/admin/  (login: {summary.username} / {summary.password})")
        run(host=host, port=port, threads=8, scheduler=True, interval=300)


@click.group()
def rates():
    """Statutory reference rates: the central bank rates EU statutory late-payment interest follows.

    Shared by every organization. Record each change of the rate on the day it took effect; the
    rate in force on 1 January (1 July) applies to the whole first (second) half of the year.
    """


@rates.command("set")
@click.option("--currency", required=True, help="ISO currency, e.g. EUR (ECB rate) or PLN (NBP rate)")
@click.option("--from", "valid_from", type=DATE, required=True, help="Day the rate took effect (YYYY-MM-DD)")
@click.option("--rate", required=True, help="Rate in percent per year, e.g. 2.15")
@allow_date_option
@handle_errors
def rates_set(currency, valid_from, rate, allow_outside_window):
    """Record (or correct) the reference rate of a currency from a date."""
    from django.utils import timezone

    from duly.customers.services import record_reference_rate
    from duly.domain.bounds import check_business_date

    # Shared by every organization: only the window's upper bound applies (31 days after today, UTC).
    check_business_date(valid_from, today=timezone.now().date(), first_invoice_date=None,
                        what="The rate's first day", allow_outside=allow_outside_window)

    recorded = record_reference_rate(currency=currency.upper(), valid_from=valid_from, rate_percent=rate)
    row = recorded.rate
    what = f"{row.currency} reference rate {_percent(row.rate_percent)} from {row.valid_from.isoformat()}"
    if recorded.outcome == "created":
        click.echo(f"Recorded the {what}.")
    elif recorded.outcome == "updated":
        click.echo(f"Corrected the {what} (was {_percent(recorded.previous_percent)}).")
    else:
        click.echo(f"The {what} was already recorded; nothing changed.")


@rates.command("list")
@click.option("--currency", default=None, help="Only this currency")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def rates_list(currency, fmt):
    """List the recorded reference rates, newest first."""
    import json

    from duly.customers.services import list_reference_rates

    from duly.domain.late_fees import semester_label

    rows = [{"currency": r.currency, "valid_from": r.valid_from.isoformat(),
             "rate_percent": format(r.rate_percent.normalize(), "f"),
             "first_semester": semester_label(first) if first else None}
            for r, first in list_reference_rates(currency.upper() if currency else None)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No reference rates recorded yet: add one with `duly rates set --currency EUR --from "
                   "YYYY-MM-DD --rate 2.15`.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("Currency", "Valid from", "Rate", "Statutory interest")
    for r in rows:
        applies = f"from the {r['first_semester']}" if r["first_semester"] else "never (replaced before 1 Jan/1 Jul)"
        table.add_row(r["currency"], r["valid_from"], f"{r['rate_percent']}%", applies)
    Console().print(table)


def _percent(value) -> str:
    return f"{format(value.normalize(), 'f')}%"


COMMANDS = [init, serve, demo, rates]
