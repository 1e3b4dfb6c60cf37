"""duly bill / duly usage import / duly usage record."""

from __future__ import annotations

import json

import click

from duly.cli import (
    DATE, EXIT_INCOMPLETE, allow_date_option, business_window, check_business_date, current_org, handle_errors,
    org_option, progress_bar,
)
from duly.cli.i18n import _, message, ngettext

#: At most this many rejected (or duplicate) rows are listed in the text summary; JSON lists them all.
LISTED_ROWS = 50


@click.command()
@org_option
@click.option("--as-of", "as_of", type=DATE, required=True, help="Bill everything due by this date (YYYY-MM-DD)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes planning the invoices while this one writes them [default: one per CPU, at most 4; "
                   "1 for a small run]")
@allow_date_option
@handle_errors
def bill(org_slug, as_of, fmt, workers, allow_outside_window):
    """Issue the invoices of every subscription period due by --as-of (idempotent: rerun it freely).

    Exit status: 0 when everything due was billed; 3 when customers were left out (each is listed with what to
    fix, for example the contract that lacks the PO number the customer requires; the others are billed): fix
    it and run again; 2 for bad input (nothing is billed).
    """
    from duly.billing.services import run_billing
    from duly.domain.money import from_minor

    org = current_org(org_slug)
    check_business_date(org, as_of, "The billing date", allow_outside=allow_outside_window)
    # No refresh thread: the run forks its planning processes, which a threaded process must not do.
    progress, task = progress_bar(_("Billing customers"), None, auto_refresh=False)
    with progress:
        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, refresh=True)

        result = run_billing(org, as_of, progress=step, workers=workers)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(run_summary(result))
        for currency, row in sorted(result.by_currency.items()):
            click.echo("  " + _("{currency}: {invoices}, total {total}, to pay {payable}", currency=currency,
                                invoices=ngettext("{n} invoice(s)", "{n} invoice(s)", row["invoices"]),
                                total=from_minor(row["total_minor"], currency),
                                payable=from_minor(row["payable_minor"], currency)))
        if result.numbers:
            click.echo("  " + _("numbers {first} … {last}", first=result.numbers[0], last=result.numbers[-1]))
        for customer, reason in result.skipped:
            click.echo("  " + _("left out {customer}: {reason}", customer=customer, reason=message(reason)))
        for customer, reason in result.kept_prices:
            click.echo("  " + _("previous price kept for {customer}: {reason}", customer=customer,
                                reason=message(reason)))
    if result.skipped:
        raise SystemExit(EXIT_INCOMPLETE)  # customers left out: say so to scripts (the others are billed)


def run_summary(result) -> str:
    """A billing run's summary (``BillingRunResult.summary()``) in the staff's language."""
    if not result.invoices:
        text = _("Nothing to bill as of {date}.", date=result.as_of.isoformat())
    else:
        amounts = ", ".join(f"{amount} {cur}" for cur, amount in result.totals().items())
        text = _("{issued} for {customers} as of {date} ({periods}): {amounts}.",
                 issued=ngettext("Issued {n} invoice(s)", "Issued {n} invoice(s)", result.invoices),
                 customers=ngettext("{n} customer(s)", "{n} customer(s)", result.customers),
                 date=result.as_of.isoformat(),
                 periods=ngettext("{n} subscription period(s)", "{n} subscription period(s)", result.slots),
                 amounts=amounts)
        if result.topups:
            text += " " + ngettext("Including {n} retainer top-up invoice(s).",
                                   "Including {n} retainer top-up invoice(s).", result.topups)
    if result.skipped:
        text += " " + ngettext("{n} customer(s) left out (see below).", "{n} customer(s) left out (see below).",
                               len(result.skipped))
    if result.kept_prices:
        text += " " + ngettext(
            "{n} customer(s) kept a previous price: its change was not announced in time (see below).",
            "{n} customer(s) kept a previous price: its change was not announced in time (see below).",
            len({c for c, _reason in result.kept_prices}))
    return text


def usage_summary(result) -> str:
    """A usage import's summary (``IngestResult.summary()``) in the staff's language."""
    text = _("{accepted} accepted, {duplicates} duplicate, {rejected} rejected", accepted=result.accepted,
             duplicates=result.duplicates, rejected=len(result.rejected))
    if result.late:
        text += ngettext(" ({n} late: billed on the next invoice as a late adjustment)",
                         " ({n} late: billed on the next invoice as a late adjustment)", result.late)
    return text


@click.group()
def usage():
    """Usage events and licence counts."""


@usage.command("import")
@org_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@allow_date_option
@handle_errors
def import_(org_slug, path, fmt, allow_outside_window):
    """Import usage events from a .csv (header: idempotency_key,customer,metric,timestamp,value[,properties]
    [,subscription]) or .jsonl file. Duplicates are ignored; rejected rows (an unreadable line, a bad value, a
    day outside the organization's window of business dates...) are listed with their line numbers and never
    stop the valid ones (the exit status is 2 when a row was rejected). A file whose header cannot be read
    records nothing."""
    from duly.billing.ingest import count_rows, read_usage_file
    from duly.billing.services import record_usage

    org = current_org(org_slug)
    window = None if allow_outside_window else business_window(org)
    total = count_rows(path)
    progress, task = progress_bar(_("Importing usage"), total)
    with progress:
        result = record_usage(org, read_usage_file(path), progress=lambda n: progress.update(task, completed=n),
                              window=window)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"{click.format_filename(path)}: {usage_summary(result)}.")
        if result.duplicate_lines:
            lines = ", ".join(map(str, result.duplicate_lines[:LISTED_ROWS]))
            extra = len(result.duplicate_lines) - LISTED_ROWS
            more = ngettext(" and {n} more", " and {n} more", extra) if extra > 0 else ""
            click.echo("  " + _("duplicate lines (already recorded, ignored): {lines}{more}", lines=lines, more=more))
        for rejection in result.rejected[:LISTED_ROWS]:
            click.echo("  " + _("line {line}: rejected [{code}] {reason}", line=rejection.line, code=rejection.code,
                                reason=message(rejection.reason)))
        if len(result.rejected) > LISTED_ROWS:
            click.echo("  " + ngettext("… and {n} more rejected rows (use --format json)",
                                       "… and {n} more rejected rows (use --format json)",
                                       len(result.rejected) - LISTED_ROWS))
    if result.rejected:
        raise SystemExit(2)  # bad rows: say so to scripts (the valid rows are recorded all the same)


@usage.command("record")
@org_option
@click.option("--customer", required=True, help="The customer's code")
@click.option("--metric", required=True, help="The metric's code")
@click.option("--value", required=True, help="A non-negative number (at most 6 decimals)")
@click.option("--timestamp", required=True, help="ISO 8601 with an offset, e.g. 2026-10-15T10:00:00Z")
@click.option("--key", "idempotency_key", required=True, help="Unique per event: recording it twice counts it once")
@click.option("--subscription", type=int, help="The subscription id, when the customer has several on the metric")
@handle_errors
def record(org_slug, customer, metric, value, timestamp, idempotency_key, subscription):
    """Record one usage event (a bad one is refused whole: nothing is written)."""
    from duly.billing.services import record_usage_event

    org = current_org(org_slug)
    result = record_usage_event(org, idempotency_key=idempotency_key, customer=customer, metric=metric,
                                timestamp=timestamp, value=value, subscription=subscription)
    click.echo(f"{idempotency_key}: {result.summary()}.")


@usage.command("licences")
@org_option
@click.argument("subscription")
@click.option("--day", type=DATE, required=True, help="The day counted")
@click.option("--count", type=click.IntRange(min=0), required=True, help="Active seats that day")
@handle_errors
def licences(org_slug, subscription, day, count):
    """Record a subscription's active-seat count of a day (replacing one recorded before; a day of an invoiced
    period is refused)."""
    from duly.billing.services import record_licence_counts
    from duly.cli.subscriptions import _target

    org, sub = _target(org_slug, subscription)
    record_licence_counts(org, sub, {day: count})
    click.echo(ngettext("{subscription}: {n} active seats on {date}", "{subscription}: {n} active seats on {date}",
                        count, subscription=sub, date=day.isoformat()))


COMMANDS = [bill, usage]
