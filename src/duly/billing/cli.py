"""duly bill / duly usage import."""

from __future__ import annotations

import json

import click

from duly.cli import DATE, current_org, handle_errors, org_option, progress_bar

#: At most this many rejected (or duplicate) rows are listed in the text summary; JSON lists them all.
LISTED_ROWS = 50


@click.command()
@org_option
@click.option("--as-of", "as_of", type=DATE, required=True, help="Bill everything due by this date (YYYY-MM-DD)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes planning the invoices while this one writes them [default: one per CPU, at most 4; "
                   "1 for a small run]")
@handle_errors
def bill(org_slug, as_of, fmt, workers):
    """Issue the invoices of every subscription period due by --as-of (idempotent: rerun it freely)."""
    from duly.billing.services import run_billing
    from duly.domain.money import from_minor

    org = current_org(org_slug)
    # No refresh thread: the run forks its planning processes, which a threaded process must not do.
    progress, task = progress_bar("Billing customers", None, auto_refresh=False)
    with progress:
        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, refresh=True)

        result = run_billing(org, as_of, progress=step, workers=workers)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(result.summary())
    for currency, row in sorted(result.by_currency.items()):
        click.echo(f"  {currency}: {row['invoices']} invoice(s), total {from_minor(row['total_minor'], currency)}, "
                   f"to pay {from_minor(row['payable_minor'], currency)}")
    if result.numbers:
        click.echo(f"  numbers {result.numbers[0]} … {result.numbers[-1]}")
    for customer, reason in result.skipped:
        click.echo(f"  left out {customer}: {reason}")
    for customer, reason in result.kept_prices:
        click.echo(f"  previous price kept for {customer}: {reason}")


@click.group()
def usage():
    """Usage events and licence counts."""


@usage.command("import")
@org_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def import_(org_slug, path, fmt):
    """Import usage events from a .csv (header: idempotency_key,customer,metric,timestamp,value[,properties]
    [,subscription]) or .jsonl file. Duplicates are ignored; rejected rows are listed with their line numbers
    and never stop the valid ones (the exit status is 2 when a row was rejected)."""
    from duly.billing.ingest import count_rows, read_usage_file
    from duly.billing.services import record_usage

    org = current_org(org_slug)
    total = count_rows(path)
    progress, task = progress_bar("Importing usage", total)
    with progress:
        result = record_usage(org, read_usage_file(path), progress=lambda n: progress.update(task, completed=n))
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"{path}: {result.summary()}.")
        if result.duplicate_lines:
            lines = ", ".join(map(str, result.duplicate_lines[:LISTED_ROWS]))
            extra = len(result.duplicate_lines) - LISTED_ROWS
            more = f" and {extra} more" if extra > 0 else ""
            click.echo(f"  duplicate lines (already recorded, ignored): {lines}{more}")
        for rejection in result.rejected[:LISTED_ROWS]:
            click.echo(f"  line {rejection.line}: rejected [{rejection.code}] {rejection.reason}")
        if len(result.rejected) > LISTED_ROWS:
            click.echo(f"  … and {len(result.rejected) - LISTED_ROWS} more rejected rows (use --format json)")
    if result.rejected:
        raise SystemExit(2)  # bad rows: say so to scripts (the valid rows are recorded all the same)


COMMANDS = [bill, usage]
