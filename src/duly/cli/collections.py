"""duly collect, duly fees assess, duly collections worklist|policy|promise|dispute|assign."""

from __future__ import annotations

import json
from pathlib import Path

import click

from duly.cli import (
    DATE, DATETIME, allow_date_option, check_business_date, current_org, handle_errors, org_option, progress_bar,
)
from duly.cli.i18n import N_, _, message, ngettext

#: The dunning run's kinds of action, as the text output names them.
ACTION_KINDS = {"send": N_("send"), "defer": N_("defer"), "skip": N_("skip")}


def _now():
    from django.utils import timezone

    return timezone.now()


def _customer(org, code: str):
    from duly.customers.models import Customer
    from duly.domain.errors import NotFound

    customer = Customer.objects.filter(organization=org, code=code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {code!r}.")
    return customer


def _invoice(org, number: str):
    from duly.invoicing.services import get_invoice_by_number

    return get_invoice_by_number(org, number)


# --- duly fees -------------------------------------------------------------------------------------
@click.group()
def fees():
    """Late fees and interest."""


@fees.command("assess")
@org_option
@click.option("--as-of", "as_of", type=DATE, required=True, help="Assess as of this date (YYYY-MM-DD)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@allow_date_option
@handle_errors
def assess(org_slug, as_of, fmt, allow_outside_window):
    """Assess late fees and interest the contracts allow: overdue invoices and invoices paid late.

    The manual/batch path: the dunning run assesses fees itself at the policy step that carries
    the fee action. Idempotent: each level is charged once, so run it as often as you like."""
    from duly.collections.services import assess_late_fees

    org = current_org(org_slug)
    check_business_date(org, as_of, "The assessment date", allow_outside=allow_outside_window)
    progress, task = progress_bar(_("Assessing late fees"), None)
    with progress:
        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = assess_late_fees(org, as_of=as_of, progress=step)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(fees_summary(result))
    for invoice, level, amount, currency in result.assessed:
        click.echo(f"  {invoice}: {level} {amount} {currency}")
    for invoice, reason in result.skipped:
        click.echo("  " + _("skipped {invoice}: {reason}", invoice=invoice, reason=message(reason)))


def fees_summary(result) -> str:
    """A fee run's summary (``FeeRunResult.summary()``) in the staff's language."""
    if not result.assessed:
        return _("No new late fees as of {date}.", date=result.as_of.isoformat())
    return _("{assessed} on {invoices} as of {date}: ", date=result.as_of.isoformat(),
             assessed=ngettext("Assessed {n} fee(s)", "Assessed {n} fee(s)", len(result.assessed)),
             invoices=ngettext("{n} late-fee invoice(s)", "{n} late-fee invoice(s)", len(result.fee_invoices))
             ) + ", ".join(result.fee_invoices)


def collect_summary(result) -> str:
    """A dunning run's summary (``CollectResult.summary()``) in the staff's language."""
    c = result.counts()
    date = result.as_of.isoformat()
    if result.dry_run:
        head = _("Collections as of {date} (dry run: nothing written)", date=date)
        sent = ngettext("would send {n} step(s)", "would send {n} step(s)", c["send"])
        invoices = ngettext("{n} issued invoice(s) to e-mail", "{n} issued invoice(s) to e-mail", c["invoices"])
    else:
        head = _("Collections as of {date}", date=date)
        sent = ngettext("sent {n} step(s)", "sent {n} step(s)", c["send"])
        invoices = ngettext("{n} issued invoice(s) e-mailed or recorded", "{n} issued invoice(s) e-mailed or recorded",
                            c["invoices"])
    return _("{head}: {sent} {customers}, {deferred}, {skipped}, {greetings}, {notices}, {invoices}{errors}.",
             head=head, sent=sent, invoices=invoices,
             customers=ngettext("to {n} customer(s) considered", "to {n} customer(s) considered", c["customers"]),
             deferred=ngettext("{n} deferred", "{n} deferred", c["defer"]),
             skipped=ngettext("{n} skipped", "{n} skipped", c["skip"]),
             greetings=ngettext("{n} greeting(s)", "{n} greeting(s)", c["greetings"]),
             notices=ngettext("{n} price notice(s)", "{n} price notice(s)", c["notices"]),
             errors=ngettext(", {n} error(s)", ", {n} error(s)", c["errors"]) if c["errors"] else "")


# --- duly collect ----------------------------------------------------------------------------------
@click.command()
@org_option
@click.option("--as-of", "as_of", type=DATETIME, required=True,
              help="Evaluate as of this instant (YYYY-MM-DDTHH:MM[+ZZ:ZZ]; UTC when no offset)")
@click.option("--dry-run", is_flag=True, help="List what would be done, with the reasons; write nothing")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Text output: also list skipped and deferred steps")
@allow_date_option
@handle_errors
def collect(org_slug, as_of, dry_run, fmt, show_all, allow_outside_window):
    """Run collections: reminders, late fees, suspensions, terminations, greetings, price notices.

    Idempotent and crash-safe: run it as often as you like; a step is done once per invoice.
    Escalation goes one step at a time, each after the previous one reached the customer.
    Messages go to the outbox; `duly outbox deliver` (or `duly serve`) sends them.
    """
    from duly.collections.services import collect as run

    org = current_org(org_slug)
    check_business_date(org, as_of, "The collections date", allow_outside=allow_outside_window)
    result = run(org, as_of=as_of, dry_run=dry_run)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(collect_summary(result))
    for planned in result.planned:
        a = planned.action
        if a.kind != "send" and not show_all:
            continue
        when = _(" at {time}", time=a.scheduled_for.isoformat()) if a.kind == "defer" and a.scheduled_for else ""
        extra = f" +{','.join(a.actions)}" if a.actions else ""
        outcome = f" [{planned.outcome}]" if planned.outcome else ""
        kind = _(ACTION_KINDS[a.kind]) if a.kind in ACTION_KINDS else a.kind
        click.echo(f"  {kind:5} {planned.customer_code}: {a.step_code} ({a.channel}{extra}){when}{outcome}")
        click.echo(f"        {message(a.reason)}")
        if a.fallback_reason:
            click.echo("        " + _("fallback: {reason}", reason=message(a.fallback_reason)))
    for line in result.greetings:
        click.echo("  " + _("greeting {line}", line=message(line)))
    for line in result.notices:
        click.echo("  " + _("price notice {line}", line=message(line)))
    for line in result.held:
        click.echo("  " + _("held {line}", line=message(line)))
    for code, error in result.errors:
        click.echo("  " + _("error {code}: {error}", code=code, error=message(error)), err=True)


# --- duly collections ------------------------------------------------------------------------------
@click.group()
def collections():
    """Worklist, dunning policies, promises to pay and queries."""


@collections.command("worklist")
@org_option
@click.option("--as-of", "as_of", type=DATETIME, default=None, help="Default: now")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def worklist_cmd(org_slug, as_of, fmt):
    """Per customer: overdue, last contact, next planned action and when, open queries and promises."""
    from rich.console import Console
    from rich.table import Table

    from duly.collections.worklist import worklist

    rows = worklist(current_org(org_slug), as_of=as_of or _now())
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    table = Table(*map(_, ("Customer", "Status", "Overdue", "Days", "Last contact", "Next step", "When", "Queries",
                           "Promises", "Policy")))
    for r in rows:
        d = r.as_dict()
        table.add_row(
            f"{r.code} {r.name}", r.status, r.overdue_text, str(d["oldest_days_overdue"] or ""),
            (d["last_contact"] or "")[:16], d["next_step"] or "", (d["next_step_at"] or "")[:16],
            ", ".join(d["open_disputes"]) + (ngettext(" ({n} late)", " ({n} late)", r.late_queries)
                                             if r.late_queries else ""),
            "; ".join(_("{amount} by {date}", amount=p["amount"], date=p["promised_date"]) for p in d["promises"]),
            r.policy,
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=180)
    console.print(table)


@collections.group("policy")
def policy():
    """Export and import dunning policies as YAML."""


@policy.command("export")
@org_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@handle_errors
def policy_export(org_slug, file):
    """Write the policies as YAML to FILE (or standard output)."""
    from duly.collections.services import export_policies

    text = export_policies(current_org(org_slug))
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(_("Wrote {file}.", file=file))


@policy.command("import")
@org_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@handle_errors
def policy_import(org_slug, file):
    """Create or replace the policies in FILE (validated first: a bad file changes nothing)."""
    from duly.collections.services import import_policies

    rows = import_policies(current_org(org_slug), file.read_text(encoding="utf-8"))
    click.echo(ngettext("Imported {n} policy: {codes}.", "Imported {n} policies: {codes}.", len(rows),
                        codes=", ".join(r.code for r in rows)))


@collections.command("assign")
@org_option
@click.argument("customer_code")
@click.argument("policy_code", required=False)
@handle_errors
def assign(org_slug, customer_code, policy_code):
    """Give CUSTOMER an explicit policy (omit POLICY to go back to segment/tone rules)."""
    from duly.collections.services import assign_policy

    org = current_org(org_slug)
    assign_policy(org, _customer(org, customer_code), policy_code)
    click.echo(f"{customer_code}: {policy_code or _('policy chosen by segment or tone rule')}.")


@collections.command("promise")
@org_option
@click.argument("customer_code")
@click.option("--date", "promised_date", type=DATE, required=True, help="Promised payment date")
@click.option("--amount", required=True, help="Promised amount, e.g. 1200.00")
@click.option("--invoice", "numbers", multiple=True, help="Invoice number (repeatable; default: overdue ones)")
@click.option("--note", default="")
@handle_errors
def promise(org_slug, customer_code, promised_date, amount, numbers, note):
    """Record a promise to pay: reminders for its invoices pause until the date."""
    from duly.collections.services import record_promise

    org = current_org(org_slug)
    ids = [_invoice(org, n).pk for n in numbers] or None
    p = record_promise(org, _customer(org, customer_code), promised_date=promised_date, amount=amount,
                       invoice_ids=ids, note=note, now=_now())
    click.echo(_("Promise #{id}: {amount} {currency} by {date} for {invoices}.", id=p.pk, amount=amount,
                 currency=p.currency, date=promised_date.isoformat(),
                 invoices=", ".join(i.number for i in p.invoices.all())))


@collections.group("dispute")
def dispute():
    """Queries on invoices (follow-ups pause while one is open)."""


@dispute.command("open")
@org_option
@click.argument("invoice_number")
@click.option("--question", required=True)
@click.option("--by", "opened_by", type=click.Choice(["staff", "customer"]), default="staff", show_default=True)
@handle_errors
def dispute_open(org_slug, invoice_number, question, opened_by):
    """Open a query on an invoice."""
    from duly.collections.services import open_dispute

    org = current_org(org_slug)
    d = open_dispute(org, _invoice(org, invoice_number).pk, question=question, opened_by=opened_by, now=_now())
    click.echo(_("Query #{id} on {invoice}: answer by {date}.", id=d.pk, invoice=invoice_number,
                 date=d.sla_due_on.isoformat()))


@dispute.command("resolve")
@org_option
@click.argument("dispute_id", type=int)
@click.option("--answer", required=True)
@click.option("--credit-note", is_flag=True, help="Also credit the whole invoice")
@click.option("--credit-amount", metavar="AMOUNT", default=None,
              help="Also credit part of the invoice: this amount, tax included, in the invoice's currency "
                   "(at most what is open), as one credit-note line")
@handle_errors
def dispute_resolve(org_slug, dispute_id, answer, credit_note, credit_amount):
    """Answer a query (the customer is told), optionally with a credit note (whole invoice or an amount)."""
    from duly.collections.services import resolve_dispute

    d = resolve_dispute(current_org(org_slug), dispute_id, answer=answer, credit_note=credit_note,
                        credit_amount=credit_amount, now=_now())
    extra = (_("; credit note {number} ({amount} {currency})", number=d.credit_note.number,
                amount=d.credit_note.amount("total_minor"), currency=d.credit_note.currency) if d.credit_note else "")
    click.echo(_("Query #{id} answered{credit}.", id=d.pk, credit=extra))


@collections.command("queries")
@org_option
@click.option("--as-of", "as_of", type=DATETIME, default=None, help="Judge the SLA at this instant (default: now)")
@handle_errors
def queries(org_slug, as_of):
    """The staff queue of open queries, oldest SLA first (LATE when past the SLA)."""
    from duly.collections.worklist import open_queries

    now = as_of or _now()
    for d, late in open_queries(current_org(org_slug), now=now):
        flag = _("LATE ") if late else ""
        click.echo(flag + _("#{id} {invoice} {customer} answer by {date}: ", id=d.pk, invoice=d.invoice.number,
                            customer=d.customer.code, date=d.sla_due_on.isoformat()) + d.question)


COMMANDS = [fees, collect, collections]
