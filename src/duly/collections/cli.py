"""duly fees assess."""

from __future__ import annotations

import json

import click

from duly.cli import DATE, current_org, handle_errors, org_option


@click.group()
def fees():
    """Late fees and interest."""


@fees.command("assess")
@org_option
@click.option("--as-of", "as_of", type=DATE, required=True, help="Assess as of this date (YYYY-MM-DD)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def assess(org_slug, as_of, fmt):
    """Assess late fees and interest for overdue invoices (idempotent: run it as often as you like)."""
    from duly.collections.services import assess_late_fees

    result = assess_late_fees(current_org(org_slug), as_of=as_of)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(result.summary())
    for invoice, level, amount, currency in result.assessed:
        click.echo(f"  {invoice}: {level} {amount} {currency}")
    for invoice, reason in result.skipped:
        click.echo(f"  skipped {invoice}: {reason}")


COMMANDS = [fees]
