"""duly init / serve / demo / rates."""

from __future__ import annotations

import click

from duly.cli import DATE, allow_date_option, current_org, handle_errors, org_option, progress_display
from duly.cli.i18n import _


@click.command()
@click.option("--org-name", help="Legal name of your organization")
@click.option("--slug", help="Short identifier (default: from the name)")
@click.option("--country", help="ISO country code, e.g. FR")
@click.option("--subdivision", default="", help="Optional ISO 3166-2 region whose public holidays apply, e.g. DE-BY")
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
def init(org_name, slug, country, subdivision, currency, address_line1, postcode, city, vat_id, iban, bic, locale,
         tz, admin_user, admin_email, admin_password, no_input):
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
    org, _created = services.set_up_organization(
        admin_username=admin_user, admin_password=admin_password, admin_email=admin_email,
        name=org_name, slug=slug, country=country, subdivision=subdivision, default_currency=currency,
        address_line1=address_line1,
        postcode=postcode, city=city, vat_id=vat_id, iban=iban, bic=bic, locale=locale, timezone=tz,
    )
    click.echo(_("Created organization {name} ({slug}) and admin user {user}.", name=org.name, slug=org.slug,
                 user=admin_user))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve only; run no periodic jobs in this process")
@click.option("--interval", default=300, show_default=True, type=int, help="Seconds between scheduler passes")
@handle_errors
def serve(host, port, threads, no_scheduler, interval):
    """Serve Duly with a production WSGI server (waitress) and the in-process scheduler.

    Refuses to start unless DULY_SECRET_KEY is a random secret of at least 32 characters."""
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
    """Seed a realistic demo organization, then serve it (needs no configuration).

    Without DULY_SECRET_KEY, the demo generates a random key once and keeps it in var/demo-secret-key
    (mode 0600). It refuses a database holding another organization and never changes an existing user."""
    import os
    from datetime import date

    from django.conf import settings
    from django.core.management import call_command
    from duly.demo import refuse_a_database_in_use, seed_demo
    from duly.security import demo_secret_key

    call_command("migrate", interactive=False, verbosity=0)
    refuse_a_database_in_use()
    if not os.environ.get("DULY_SECRET_KEY"):
        settings.SECRET_KEY = demo_secret_key(settings.VAR_DIR)
    # The demo runs on this machine: its documents may carry pay links to 127.0.0.1 (DULY_PUBLIC_URL's default),
    # which issuing refuses everywhere else (duly.customers.links.check_public_url).
    settings.DULY_ALLOW_LOOPBACK_LINKS = True
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

        login = f"{summary.username} / {summary.password}" if summary.password else summary.username
        click.echo(_("Serving on {url}  (login: {login})", url=f"http://{host}:{port}/admin/", login=login))
        run(host=host, port=port, threads=8, scheduler=True, interval=300, demo=True)


@click.command()
@handle_errors
def check():
    """Check the configuration for a public deployment: Django's deploy checks and DULY_SECRET_KEY.

    Prints what to fix and exits 2 when anything is reported; prints the all-clear and exits 0 otherwise."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check", deploy=True, fail_level="WARNING")
    except SystemCheckError as exc:
        click.echo(str(exc).strip())
        from duly.cli import fail

        fail(_("the configuration is not ready for a public deployment (see the issues above and SECURITY.md)."))


@click.group()
def rates():
    """Statutory reference rates: the rates statutory late-payment interest follows, by series.

    Shared by every organization. A series is a currency's central bank rate (EUR: the ECB's main
    refinancing rate, for the EU rule and France; GBP: the Bank of England base rate, for the UK Act)
    or DE-BASIS (the Bundesbank's base rate, for §288 BGB). Record each change of a rate on the day it
    took effect; each law takes one rate per half-year: the rate in force on 1 January / 1 July (EU,
    France, Germany) or on 31 December / 30 June (UK).
    """


@rates.command("set")
@click.option("--series", default=None, help="EUR (ECB rate), GBP (Bank of England base rate), DE-BASIS (German "
                                              "base rate) or another currency's code")
@click.option("--currency", default=None, help="The same as --series with a currency code, e.g. EUR or PLN (NBP rate)")
@click.option("--from", "valid_from", type=DATE, required=True, help="Day the rate took effect (YYYY-MM-DD)")
@click.option("--rate", required=True, help="Rate in percent per year, e.g. 2.15")
@allow_date_option
@handle_errors
def rates_set(series, currency, valid_from, rate, allow_outside_window):
    """Record (or correct) the reference rate of a series from a date."""
    from django.utils import timezone

    from duly.customers.services import record_reference_rate
    from duly.domain.bounds import check_business_date
    from duly.domain.errors import ValidationError

    # Shared by every organization: only the window's upper bound applies (31 days after today, UTC).
    check_business_date(valid_from, today=timezone.now().date(), first_invoice_date=None,
                        what="The rate's first day", allow_outside=allow_outside_window)

    if (series is None) == (currency is None):
        raise ValidationError("Give the series with --series (EUR, GBP, DE-BASIS...), or --currency.")
    recorded = record_reference_rate(series=series, currency=currency.upper() if currency else None,
                                     valid_from=valid_from, rate_percent=rate)
    row = recorded.rate
    what = dict(series=row.series, rate=_percent(row.rate_percent), date=row.valid_from.isoformat())
    if recorded.outcome == "created":
        click.echo(_("Recorded the {series} reference rate {rate} from {date}.", **what))
    elif recorded.outcome == "updated":
        click.echo(_("Corrected the {series} reference rate {rate} from {date} (was {previous}).",
                     previous=_percent(recorded.previous_percent), **what))
    else:
        click.echo(_("The {series} reference rate {rate} from {date} was already recorded; nothing changed.", **what))


@rates.command("list")
@click.option("--series", default=None, help="Only this series (or currency)")
@click.option("--currency", default=None, help="The same as --series")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def rates_list(series, currency, fmt):
    """List the recorded reference rates, newest first, with the half-year each first applies to."""
    import json

    from duly.customers.services import list_reference_rates
    from duly.domain.late_fees import semester_label, series_name

    wanted = series or currency
    rows = [{"series": r.series, "name": series_name(r.series), "valid_from": r.valid_from.isoformat(),
             "rate_percent": format(r.rate_percent.normalize(), "f"),
             "first_semester": semester_label(first) if first else None}
            for r, first in list_reference_rates(wanted if wanted else None)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(_("No reference rates recorded yet: add one with `duly rates set --series EUR --from "
                     "YYYY-MM-DD --rate 2.15` (or --series GBP, --series DE-BASIS)."))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*map(_, ("Series", "Rate of", "Valid from", "Rate", "Statutory interest")))
    for r in rows:
        applies = (_("from the {semester}", semester=r["first_semester"]) if r["first_semester"]
                   else _("never (replaced before it applied)"))
        table.add_row(r["series"], r["name"], r["valid_from"], f"{r['rate_percent']}%", applies)
    Console(width=120).print(table)


def _percent(value) -> str:
    return f"{format(value.normalize(), 'f')}%"


@click.group()
def customers():
    """Customers: their Peppol electronic addresses; revoke their personal pay links."""


@customers.command("rotate-link")
@click.argument("code")
@org_option
@handle_errors
def customers_rotate_link(code, org_slug):
    """Revoke every pay link made so far for the customer CODE (messages from now on carry new ones)."""
    from duly.customers.models import Customer
    from duly.customers.services import rotate_pay_links
    from duly.domain.errors import NotFound

    organization = current_org(org_slug)
    customer = Customer.objects.filter(organization=organization, code=code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {code!r} in {organization.slug}.")
    version = rotate_pay_links(customer)
    click.echo(_("Rotated the pay links of {code} ({name}): links made before no longer open (key version {version}).",
                 code=customer.code, name=customer.name, version=version))


@customers.command("set-address")
@click.argument("code")
@click.argument("scheme")
@click.argument("identifier")
@org_option
@handle_errors
def customers_set_address(code, scheme, identifier, org_slug):
    """Set the Peppol electronic address of the customer CODE: SCHEME is its Electronic Address Scheme
    code (0002 SIREN, 0009 SIRET, 0088 GLN, 0208 Belgian enterprise number, 9930 German VAT...) and
    IDENTIFIER the number in it. Use CODE "-" "-" to remove it. Use code "@org" for your organization."""
    from duly.customers.models import Customer
    from duly.customers.services import update_customer, update_organization
    from duly.domain.errors import NotFound

    organization = current_org(org_slug)
    scheme, identifier = ("", "") if (scheme, identifier) == ("-", "-") else (scheme, identifier)
    if code == "@org":
        organization = update_organization(organization, electronic_address_scheme=scheme,
                                           electronic_address=identifier)
        who, scheme, identifier = organization.name, organization.electronic_address_scheme, \
            organization.electronic_address
    else:
        customer = Customer.objects.filter(organization=organization, code=code).first()
        if customer is None:
            raise NotFound(f"No customer with the code {code!r} in {organization.slug}.")
        customer = update_customer(customer, electronic_address_scheme=scheme, electronic_address=identifier)
        who, scheme, identifier = f"{customer.code} ({customer.name})", customer.electronic_address_scheme, \
            customer.electronic_address
    if scheme:
        click.echo(_("Peppol electronic address of {who}: {address}.", who=who, address=f"{scheme}:{identifier}"))
    else:
        click.echo(_("{who} has no Peppol electronic address now.", who=who))


@click.command("roles")
@handle_errors
def roles_command():
    """Print the role matrix (Markdown): each role's permissions and what every back-office page needs."""
    from duly.customers.role_matrix import render_markdown

    click.echo(render_markdown(), nl=False)


COMMANDS = [init, serve, demo, check, rates, customers, roles_command]
