"""duly report aging."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import click

from duly.cli import DATE, current_org, handle_errors, org_option


@click.group()
def report():
    """Accounts receivable reports."""


@report.command("aging")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None, help="Report date (default: today)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@handle_errors
def aging_cmd(org_slug, as_of, fmt):
    """Aged receivables: current / 1–30 / 31–60 / 61–90 / 90+ per customer, with totals per currency."""
    from duly.insights.services import aging_report, days_late, dso

    org = current_org(org_slug)
    as_of = as_of or date.today()
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

    table = Table(title=f"Aged receivables as of {as_of.isoformat()}")
    for col in ("Customer", "Cur", *buckets, "Total open"):
        table.add_column(col, justify="left" if col in ("Customer", "Cur") else "right")
    for r in data["customers"]:
        table.add_row(r["name"], r["currency"], *(r["buckets"][b] for b in buckets), r["total_open"])
    for cur, t in data["totals"].items():
        table.add_row("[bold]Total[/bold]", cur, *(t["buckets"][b] for b in buckets), f"[bold]{t['total_open']}[/bold]")
    console = Console()
    console.print(table)
    late = days_late(org)
    console.print("DSO (90 days): " + ", ".join(f"{c} {v if v is not None else 'n/a'}" for c, v in
                                                 dso(org, as_of=as_of).items())
                  + f" · average days late: {late.simple} (amount-weighted {late.weighted}) over {late.count} paid")


COMMANDS = [report]
