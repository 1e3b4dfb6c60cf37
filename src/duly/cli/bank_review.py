"""duly bank reconcile; duly bank review [accept|reject|split|credit|ignore|undo] (added to the ``bank`` group)."""

from __future__ import annotations

import click

from duly.cli import DATE, current_org, fail, handle_errors, org_option
from duly.cli.i18n import _, ngettext


def _today(org, as_of):
    from duly.customers.services import local_today

    return as_of or local_today(org)


@click.command("reconcile")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None, help="Matching date (default: today where the org is)")
@click.option("--auto-score", type=click.IntRange(0, 101), default=90, show_default=True,
              help="Apply a proposal automatically from this score (101: never)")
@click.option("--short-tolerance", default="0", show_default=True,
              help="A payment this much short (account currency, e.g. 15.00) still pays the invoice; the rest stays open")
@click.option("--short-payment", type=click.Choice(["leave_open", "write_off"]), default="leave_open",
              show_default=True, help="What becomes of a short payment's rest: left open, or written off")
@click.option("--partitions", type=click.IntRange(1, 1024), default=None,
              help="Run on the Celery workers (docs/scale-out.md): match once, then apply in this many partitions "
                   "of the customers; needs CELERY_BROKER_URL and running `duly worker` processes")
@click.option("--timeout", type=click.IntRange(min=1), default=3600, show_default=True,
              help="With --partitions: seconds to wait for the workers to finish")
@handle_errors
def reconcile(org_slug, as_of, auto_score, short_tolerance, short_payment, partitions, timeout):
    """Match the new statement lines: apply the sure ones, send the others to review."""
    from duly.domain.matching import MatchPolicy
    from duly.domain.money import to_decimal, to_minor
    from duly.payments.reconcile_services import reconcile as run

    org = current_org(org_slug)
    tolerance = to_minor(to_decimal(short_tolerance), org.default_currency)
    policy = MatchPolicy(auto_apply_score=auto_score, short_tolerance_minor=tolerance, short_payment=short_payment)
    if partitions is None:
        result = run(org, as_of=_today(org, as_of), policy=policy)
        matched, review, outgoing, debits = result.matched, result.review, result.outgoing, result.debits
    else:
        done = _on_workers(org, _today(org, as_of), partitions, timeout, {
            "auto_apply_score": auto_score, "short_tolerance_minor": tolerance, "short_payment": short_payment})
        matched, review, outgoing, debits = (done.get(k, 0) for k in ("matched", "review", "outgoing", "debits"))
    click.echo(_("{matched} matched automatically, {review} sent to review, {outgoing} outgoing set aside",
                 matched=matched, review=review, outgoing=outgoing)
               + (ngettext(", {n} SEPA direct debit line(s) (returns, collections).",
                           ", {n} SEPA direct debit line(s) (returns, collections).", debits)
                  if debits else "."))


def _on_workers(org, as_of, partitions: int, timeout: int, policy: dict) -> dict:
    """The partitioned reconciliation (``duly.scaleout.reconcile``) sent to the workers, waited for; its combined
    counts."""
    from celery.exceptions import TimeoutError as WaitedTooLong
    from django.conf import settings

    from duly import scaleout
    from duly.celery import app

    if not (settings.DULY_BROKER_CONFIGURED or app.conf.task_always_eager):
        fail(_("--partitions runs on Celery workers: set CELERY_BROKER_URL and start `duly worker` "
               "(docs/scale-out.md)"))
    run = scaleout.reconcile(org.id, as_of, partitions, policy=policy)
    # Eager (CELERY_TASK_ALWAYS_EAGER): in this process; a chord applied eagerly must not be waited for as a task.
    pending = run.apply() if app.conf.task_always_eager else run.apply_async()
    try:
        return pending.get(timeout=timeout) or {}
    except WaitedTooLong:
        fail(_("the workers did not finish within {timeout} s; the run goes on (run the command again later: it "
               "skips the lines already applied)", timeout=timeout), code=1)


@click.group("review", invoke_without_command=True)
@org_option
@click.pass_context
def review(ctx, org_slug):
    """The review queue: list it (the default), or act on a line."""
    ctx.obj = {"org_slug": org_slug}
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_entries)


@review.command("list")
@click.pass_context
@handle_errors
def list_entries(ctx):
    """The lines waiting in review, each with its ranked proposals and their evidence."""
    org_slug = (ctx.obj or {}).get("org_slug")
    from duly.domain.money import from_minor
    from duly.invoicing.models import Invoice
    from duly.payments.bank_models import StatementLine
    from duly.payments.reconcile_models import ReviewEntry

    org = current_org(org_slug)
    entries = list(ReviewEntry.objects.filter(organization=org, line__status=StatementLine.REVIEW)
                   .select_related("line").order_by("line__booking_date", "line_id"))
    ids = {iid for e in entries for p in e.proposals for iid, _amount in p["allocations"]}
    numbers = dict(Invoice.objects.filter(organization=org, pk__in=ids).values_list("pk", "number"))
    if not entries:
        click.echo(_("Nothing to review."))
    for e in entries:
        ln = e.line
        click.echo((_("line {id}", id=ln.pk) + f"  {ln.booking_date}  {from_minor(ln.amount_minor, ln.currency)} "
                    f"{ln.currency}  {ln.counterparty_name or '-'}  {ln.remittance_structured} "
                    f"{ln.remittance_unstructured}").rstrip())
        if e.note:
            click.echo("    " + _("note: {note}", note=e.note))
        for rank, p in enumerate(e.proposals, 1):
            pays = ", ".join(f"{numbers.get(i, i)} {from_minor(a, p['currency'])}" for i, a in p["allocations"])
            credit = (_(" credit {amount}", amount=from_minor(p["credit_minor"], p["currency"]))
                      if p["credit_minor"] else "")
            blockers = ("  " + _("[not automatic: {blockers}]", blockers=", ".join(p["blockers"]))
                        if p["blockers"] else "")
            click.echo(f"  {rank}. " + _("score {score}  customer {customer}: ", score=p["score"],
                                          customer=p["customer_id"]) + f"{pays or '-'}{credit}{blockers}")
            for rule, matched, detail in p["evidence"]:
                click.echo(f"       {rule}: {matched} {detail}".rstrip())


def _org(ctx):
    return current_org(ctx.obj["org_slug"])


@review.command("accept")
@click.argument("line_id", type=int)
@click.option("--rank", type=int, default=1, help="Which proposal (1 = the best)")
@click.option("--as-of", "as_of", type=DATE, default=None)
@click.pass_context
@handle_errors
def accept(ctx, line_id, rank, as_of):
    """Apply proposal RANK of line LINE_ID."""
    from duly.payments import reconcile_services as rec

    org = _org(ctx)
    match = rec.accept(org, line_id, rank=rank, as_of=_today(org, as_of))
    click.echo(_("line {line} matched (match {match}, payment {payment}).", line=line_id, match=match.pk,
                 payment=match.payment_id))


@review.command("reject")
@click.argument("line_id", type=int)
@click.option("--rank", type=int, default=1)
@click.pass_context
@handle_errors
def reject(ctx, line_id, rank):
    """Drop proposal RANK of line LINE_ID (the line stays in review)."""
    from duly.payments import reconcile_services as rec

    entry = rec.reject(_org(ctx), line_id, rank=rank)
    click.echo(ngettext("line {line}: proposal {rank} dropped, {n} left.",
                        "line {line}: proposal {rank} dropped, {n} left.", len(entry.proposals), line=line_id,
                        rank=rank))


@review.command("split")
@click.argument("line_id", type=int)
@click.option("--customer", "customer_id", type=int, required=True)
@click.option("--pay", "pays", multiple=True, required=True, help="INVOICE_ID=AMOUNT (repeat)")
@click.option("--as-of", "as_of", type=DATE, default=None)
@click.pass_context
@handle_errors
def split(ctx, line_id, customer_id, pays, as_of):
    """Apply line LINE_ID to the customer's invoices with the amounts given; the rest is credit."""
    from duly.payments import reconcile_services as rec

    amounts = {}
    for item in pays:
        invoice, sep, amount = item.partition("=")
        if not sep or not invoice.strip().isdigit():
            fail(_("--pay takes INVOICE_ID=AMOUNT, got {value}.", value=repr(item)))
        amounts[int(invoice)] = amount.strip()
    org = _org(ctx)
    match = rec.split(org, line_id, customer_id=customer_id, amounts=amounts, as_of=_today(org, as_of))
    click.echo(_("line {line} split (match {match}).", line=line_id, match=match.pk))


@review.command("credit")
@click.argument("line_id", type=int)
@click.option("--customer", "customer_id", type=int, required=True)
@click.option("--as-of", "as_of", type=DATE, default=None)
@click.pass_context
@handle_errors
def credit(ctx, line_id, customer_id, as_of):
    """Assign line LINE_ID to a customer as credit."""
    from duly.payments import reconcile_services as rec

    org = _org(ctx)
    rec.assign_credit(org, line_id, customer_id=customer_id, as_of=_today(org, as_of))
    click.echo(_("line {line} assigned to customer {customer} as credit.", line=line_id, customer=customer_id))


@review.command("ignore")
@click.argument("line_id", type=int)
@click.option("--reason", required=True)
@click.pass_context
@handle_errors
def ignore(ctx, line_id, reason):
    """Set line LINE_ID aside: not a customer's payment."""
    from duly.payments import reconcile_services as rec

    rec.ignore(_org(ctx), line_id, reason=reason)
    click.echo(_("line {line} ignored.", line=line_id))


@review.command("undo")
@click.argument("match_id", type=int)
@click.option("--reason", default="undone from the command line")
@click.option("--as-of", "as_of", type=DATE, default=None)
@click.pass_context
@handle_errors
def undo(ctx, match_id, reason, as_of):
    """Undo match MATCH_ID exactly (payments, write-offs, SEPA collections and returns); the line returns to review."""
    from duly.payments import reconcile_services as rec

    org = _org(ctx)
    match = rec.undo(org, match_id, reason=reason, as_of=_today(org, as_of))
    click.echo(_("match {match} undone; line {line} is back in review.", match=match.pk, line=match.line_id))


COMMANDS = [reconcile, review]
