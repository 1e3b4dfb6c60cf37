"""duly init / serve / demo."""

from __future__ import annotations

import click

from duly.cli import DATE, handle_errors, progress_display


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


COMMANDS = [init, serve, demo]
