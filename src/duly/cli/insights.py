"""duly report aging."""

from __future__ import annotations

import csv
import io
import json
import sys

import click

from duly.cli import DATE, current_org, handle_errors, org_option
from duly.cli.i18n import N_, _, ngettext

#: The tables' column headers (translated where they are printed).
COLUMNS = (N_("Customer"), N_("Cur"), N_("Total open"), N_("Invoice"), N_("Issued"), N_("Due"), N_("Total"), N_("Open"),
           N_("Days past due"), N_("Bucket"))


@click.group()
def report():
    """Accounts receivable reports."""


@report.command("aging")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Report date (default: today in the organization's time zone)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@handle_errors
def aging_cmd(org_slug, as_of, fmt):
    """Aged receivables: current / 1–30 / 31–60 / 61–90 / 90+ per customer, with totals per currency."""
    from duly.customers.services import local_today
    from duly.insights.services import aging_report, days_late, dso

    org = current_org(org_slug)
    as_of = as_of or local_today(org)
    data = aging_report(org, as_of=as_of)
    buckets = data["buckets"]
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["code", "customer", "currency", *buckets, "total_open"])
        for r in data["customers"]:
            w.writerow([r["code"], r["name"], r["currency"], *(r["buckets"][b] for b in buckets), r["total_open"]])
        for cur, t in data["totals"].items():
            w.writerow(["", "TOTAL", cur, *(t["buckets"][b] for b in buckets), t["total_open"]])
        click.echo(out.getvalue().rstrip("\n"))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_("Aged receivables as of {date}", date=as_of.isoformat()))
    for col in ("Customer", "Cur", *buckets, "Total open"):
        table.add_column(col if col in buckets else _(col),
                         justify="left" if col in ("Customer", "Cur") else "right")
    for r in data["customers"]:
        table.add_row(r["name"], r["currency"], *(r["buckets"][b] for b in buckets), r["total_open"])
    for cur, t in data["totals"].items():
        table.add_row(f"[bold]{_('Total')}[/bold]", cur, *(t["buckets"][b] for b in buckets),
                      f"[bold]{t['total_open']}[/bold]")
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(_("DSO (90 days): ") + ", ".join(f"{c} {v if v is not None else _('n/a')}" for c, v in
                                                    dso(org, as_of=as_of).items()))
    for cur, late in days_late(org, as_of=as_of).items():
        console.print(ngettext("Average days late ({currency}): {simple} (amount-weighted {weighted}) over {n} "
                               "paid invoices",
                               "Average days late ({currency}): {simple} (amount-weighted {weighted}) over {n} "
                               "paid invoices", late.count, currency=cur, simple=late.simple, weighted=late.weighted))


COMMANDS = [report]


@report.command("statement")
@org_option
@click.argument("customer_code")
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Statement date (default: today in the organization's time zone)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def statement_cmd(org_slug, customer_code, as_of, fmt):
    """Statement of account for one customer: open items with their aging bucket."""
    from duly.customers.models import Customer
    from duly.customers.services import local_today
    from duly.domain.errors import NotFound
    from duly.insights.services import statement_of_account

    org = current_org(org_slug)
    customer = Customer.objects.filter(organization=org, code=customer_code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {customer_code!r}.")
    st = statement_of_account(customer, as_of=as_of or local_today(org))
    if fmt == "json":
        click.echo(json.dumps({
            "customer": customer.code, "as_of": st["as_of"].isoformat(),
            "lines": [{"number": l.number, "issue_date": l.issue_date.isoformat(),
                       "due_date": l.due_date.isoformat() if l.due_date else None, "currency": l.currency,
                       "total": str(l.total), "open": str(l.open_amount), "days_past_due": l.days_past_due,
                       "bucket": l.bucket, "interest_accrued": str(l.interest)} for l in st["lines"]],
            "buckets": {c: {b: str(v) for b, v in bk.items()} for c, bk in st["buckets"].items()},
            "total_open": {c: str(v) for c, v in st["total_open"].items()},
            "credit": {c: str(v) for c, v in st["credit"].items()},
            "retainer": {c: str(v) for c, v in st["retainer"].items()},
            "interest_accrued": {c: str(v) for c, v in st["interest"].items()},
        }, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_("Statement of account — {name} — {date}", name=customer.name, date=st["as_of"].isoformat()))
    for col in ("Invoice", "Issued", "Due", "Total", "Open", "Days past due", "Bucket"):
        table.add_column(_(col))
    for l in st["lines"]:
        table.add_row(l.number, l.issue_date.isoformat(), l.due_date.isoformat() if l.due_date else "",
                      f"{l.total} {l.currency}", f"{l.open_amount} {l.currency}", str(l.days_past_due), l.bucket)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for cur, total in st["total_open"].items():
        console.print(_("Total open {amount} {currency}", amount=total, currency=cur)
                      + (_(" · credit {amount} {currency}", amount=st["credit"][cur], currency=cur)
                         if cur in st["credit"] else ""))
    for cur, balance in st["retainer"].items():
        console.print(_("Retainer balance {amount} {currency}", amount=balance, currency=cur))
    for cur, interest in st["interest"].items():
        console.print(_("Late-payment interest accrued to {date}, not yet invoiced: {amount} {currency}",
                        date=st["as_of"].isoformat(), amount=interest, currency=cur))
