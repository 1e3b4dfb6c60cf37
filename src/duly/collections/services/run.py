"""The dunning run (:func:`collect`): evaluate every customer with open invoices and carry out what is due now.

Customers are gathered in chunks with batch queries (:mod:`duly.collections.snapshots`), with how far
each past reminder got (delivered, or waiting for a person to phone or post), and evaluated by the
pure :func:`duly.domain.dunning.evaluate`: escalation goes one step at a time, each after the
previous one reached the customer. The ``send`` actions of a chunk of customers are carried out in one
transaction (customers whose steps only send together, with bulk reads and inserts:
:mod:`.run_batch`; a customer with a side effect alone, in the chunk's order): each
:class:`~duly.collections.models.Reminder` with a
:class:`~duly.collections.models.ReminderInvoice` row per invoice (unique per invoice and step: two
overlapping runs never chase an invoice twice at a step, whatever invoices each saw), its side
effects (late fee, suspension, termination and the cancellations' credit notes), then its messages,
all built from one set of figures read after every side effect (one amount per customer per run:
the message, the letter for post and the final statement agree), commit with their chunk or not at all. A
reminder also carries the customer's new invoices not sent yet, listed with their own due date (one
e-mail, never a fee demanded before it is due). A run that crashes is simply run again: what was
done is found by its key and not done twice. ``dry_run`` evaluates and reports, and writes nothing.

After the reminders the run restores customers whose balance was cleared, then sends, in this
order, the invoices not sent yet (:mod:`.invoice_emails`), the price notices (:mod:`.price_notices`)
and the greetings (:mod:`.greetings`), so each message sees every other one in the contact budget.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from duly.customers.models import Organization
from duly.db.collector import paused as gc_paused
from duly.domain import dunning
from duly.domain.bounds import check_datetime_range
from duly.domain.errors import DomainError
from duly.invoicing.models import Invoice
from duly.db.scope import read_scope
from duly.messaging.models import Message
from duly.messaging.services import renderer_for, store_message

from .. import messages as msgs
from .. import snapshots
from ..models import CollectionRun, InvoiceDispatch, Reminder, ReminderInvoice
from ..signals import reminder_sent
from .common import _aware, _task
from .fees import assess_late_fees
from .greetings import send_greetings
from .invoice_emails import send_issued_invoices
from .policy_setup import ensure_setup
from .price_notices import deliver_price_notices
from .run_batch import ChunkWrites
from .statements import _final_statement
from .steps import already, plan_step
from .suspension import _suspend, _terminate, lift_cleared_suspensions

CHUNK_SIZE = 2000


@dataclass
class PlannedAction:
    """One decision of a run, as reported (dry run included)."""

    customer_id: int
    customer_code: str
    customer_name: str
    policy: str
    policy_reason: str
    action: dunning.Action
    invoice_numbers: list[str]
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "customer": self.customer_code, "customer_name": self.customer_name, "customer_id": self.customer_id,
            "policy": self.policy, "policy_reason": self.policy_reason, "kind": a.kind, "step": a.step_code,
            "channel": a.channel, "template": a.template, "tone": a.tone, "invoices": self.invoice_numbers,
            "actions": list(a.actions), "contact_id": a.contact_id, "fallback": a.fallback_reason,
            "scheduled_for": a.scheduled_for.isoformat() if a.scheduled_for else None, "reason": a.reason,
            "outcome": self.outcome,
        }


@dataclass
class CollectResult:
    as_of: datetime
    dry_run: bool
    planned: list[PlannedAction] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    greetings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    #: Suspensions lifted (or terminations undone in time) because the balance was cleared.
    restored: list[str] = field(default_factory=list)
    #: Issued invoices and credit notes e-mailed (or recorded as not e-mailed, with the reason).
    invoices: list[str] = field(default_factory=list)
    #: Greetings and price notices that wait, and why (a query open, a final step, the contact budget...).
    held: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.planned if p.action.kind == kind)

    def counts(self) -> dict[str, int]:
        done = sum(1 for p in self.planned if p.outcome == "done")
        return {"customers": len({p.customer_id for p in self.planned}), "send": self.count("send"),
                "defer": self.count("defer"), "skip": self.count("skip"), "done": done,
                "errors": len(self.errors), "greetings": len(self.greetings), "notices": len(self.notices),
                "invoices": len(self.invoices)}

    def summary(self) -> str:
        c = self.counts()
        verb = "would send" if self.dry_run else "sent"
        return (f"Collections as of {self.as_of.isoformat()}{' (dry run: nothing written)' if self.dry_run else ''}: "
                f"{verb} {c['send']} step(s) to {c['customers']} customer(s) considered, {c['defer']} deferred, "
                f"{c['skip']} skipped, {c['greetings']} greeting(s), {c['notices']} price notice(s), "
                f"{c['invoices']} issued invoice(s) {'to e-mail' if self.dry_run else 'e-mailed or recorded'}"
                + (f", {c['errors']} error(s)" if c["errors"] else "") + ".")

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "dry_run": self.dry_run, "counts": self.counts(),
                "actions": [p.as_dict() for p in self.planned],
                "errors": [{"customer": c, "error": e} for c, e in self.errors],
                "greetings": self.greetings, "notices": self.notices, "restored": self.restored,
                "invoices": self.invoices, "held": self.held}


def collect(org: Organization, *, as_of: datetime, dry_run: bool = False, customer_ids: Sequence[int] | None = None,
            chunk_size: int = CHUNK_SIZE, partition: tuple[int, int] | None = None,
            customer_id_range: tuple[int, int] | None = None) -> CollectResult:
    """The dunning run: evaluate every customer with open invoices and carry out what is due now.

    Then, in this order: restore customers whose balance was cleared, e-mail the invoices issued
    and not sent yet (those a reminder of this run carried are already sent), the price notices due
    and, last, the greetings, so each message sees every other one the run sent in the customer's
    contact budget. Idempotent and crash-safe (see the module docstring). With ``dry_run`` it lists
    every action with its reason and writes nothing.
    ``partition`` (``(index, count)``, :mod:`duly.db.partition`): only the reminders of that partition's
    customers; the steps after the reminders are left to one final call with ``customer_ids=[]`` once every
    partition is done (:mod:`duly.scaleout`), so they run in the same order as in one process.
    ``customer_ids`` or ``customer_id_range``
    (``(first, last)``, both included) limit the reminders to those customers (a partition).

    The customers are gathered ``chunk_size`` at a time (:func:`duly.collections.snapshots.gather`: a
    fixed number of bulk reads per chunk), so memory stays bounded by the chunk, not the book.
    """
    as_of = check_datetime_range(_aware(as_of), "The collections time")
    if not dry_run:
        ensure_setup(org)
    rc = snapshots.RunContext.load(org)
    builder = msgs.MessageBuilder(rc, renderer_for(org))
    result = CollectResult(as_of=as_of, dry_run=dry_run)
    run = None if dry_run else CollectionRun.objects.create(organization=org, as_of=as_of)
    ids = snapshots.customer_ids(org, only=customer_ids, partition=partition, id_range=customer_id_range)
    for chunk in snapshots.chunks(ids, chunk_size):
        # A chunk's writes commit together (a run killed midway leaves whole chunks done); the receivers' reads of
        # configuration (webhook endpoints) are read once per chunk.
        with gc_paused(), read_scope(), (nullcontext() if dry_run else transaction.atomic()):
            _run_chunk(rc, builder, result, chunk, as_of, dry_run, run)
    if not dry_run and partition is None:
        result.restored = lift_cleared_suspensions(org, now=as_of)
    if partition is None:
        result.invoices = send_issued_invoices(org, now=as_of, dry_run=dry_run)
        result.notices = deliver_price_notices(org, now=as_of, dry_run=dry_run, rc=rc, held=result.held)
        result.greetings = send_greetings(org, now=as_of, dry_run=dry_run, rc=rc, held=result.held)
    if run is not None:
        run.finished_at = timezone.now()
        run.counts = result.counts()
        run.save(update_fields=["finished_at", "counts"])
    return result


def _run_chunk(rc: snapshots.RunContext, builder: msgs.MessageBuilder, result: CollectResult, chunk: Sequence[int],
               as_of: datetime, dry_run: bool, run: CollectionRun | None) -> None:
    """Gather, evaluate and (unless ``dry_run``) carry out one chunk of customers: those whose steps only send
    together (:class:`.run_batch.ChunkWrites`), a customer with a side effect alone (:func:`_carry_out`), in
    the chunk's order."""
    work: list[tuple[snapshots.Account, list[PlannedAction]]] = []
    for account in snapshots.gather(rc, chunk, as_of):
        try:
            actions = dunning.evaluate(account.snapshot, account.policy, as_of, evaluator=rc.evaluator)
        except DomainError as exc:
            result.errors.append((account.customer.code, exc.message))
            continue
        sends: list[PlannedAction] = []
        for action in actions:
            planned = PlannedAction(
                customer_id=account.customer.id, customer_code=account.customer.code,
                customer_name=account.customer.name, policy=account.policy.code,
                policy_reason=account.policy_reason, action=action,
                invoice_numbers=[account.invoices[i].number for i in action.invoice_ids if i in account.invoices],
            )
            result.planned.append(planned)
            if not dry_run and action.kind == "send":
                sends.append(planned)
        if sends:
            work.append((account, sends))
    if not work:
        return

    def alone(account: snapshots.Account, sends: Sequence[PlannedAction]) -> None:
        try:
            _carry_out(rc, builder, account, sends, as_of, run)
        except DomainError as exc:
            for planned in sends:
                planned.outcome = f"error: {exc.message}"
            result.errors.append((account.customer.code, exc.message))

    batch = ChunkWrites(rc, builder, work, as_of, run)
    try:
        for account, sends in work:
            if batch.takes(sends):
                batch.add(account, sends, result.errors)
            else:
                batch.flush(alone)  # the customers before it first: every table keeps the chunk's order
                alone(account, sends)
        batch.flush(alone)
    finally:
        builder.forget()


@transaction.atomic
def _carry_out(rc: snapshots.RunContext, builder: msgs.MessageBuilder, account: snapshots.Account,
               sends: Sequence[PlannedAction], now: datetime, run: CollectionRun | None) -> None:
    """Do the ``send`` actions of one customer, all or nothing: claim each step for its invoices, carry
    out the side effects (late fees, suspension, termination with its cancellations), then build every
    message of the customer from one set of figures read after all of them (one amount per customer
    per run), and queue them. New documents not sent yet (the late-fee invoices just issued, a new
    invoice, a credit note) go with the first e-mail, listed with their own due date."""
    org = rc.org
    customer = account.customer
    local_today = now.astimezone(ZoneInfo(account.snapshot.timezone)).date()
    claimed: list[tuple[dunning.Action, Reminder, list[str]]] = []
    for planned in sends:
        reminder, outcome = _claim_reminder(org, account, planned.action, now, run)
        planned.outcome = outcome
        if reminder is not None:
            claimed.append((planned.action, reminder, []))
    if not claimed:
        return
    terminated: Reminder | None = None
    for action, reminder, notes in claimed:
        if "assess_late_fee" in action.actions:
            # A fee invoice is the seller's document: dated on the organization's day, as the billing run's
            # invoices are, so numbers follow issue dates whatever the customer's time zone.
            org_today = now.astimezone(ZoneInfo(org.timezone)).date()
            fees = assess_late_fees(org, as_of=org_today, invoice_ids=list(action.invoice_ids))
            reminder.fee_assessed = True
            notes.append(fees.summary())
        if "suspend" in action.actions:
            notes.append(_suspend(org, customer.id, now, local_today,
                                  f"suspended by step {action.step_code}: " + ", ".join(
                                      account.invoices[i].number for i in action.invoice_ids if i in account.invoices)))
        if "terminate" in action.actions:
            notes.append(_terminate(org, account, action, now, local_today))
            terminated = reminder
    figures = snapshots.figures(org, customer.id, local_today)
    carried = False  # the new documents went with a message already
    for action, reminder, notes in claimed:
        if "terminate" in action.actions:
            # The termination letter lists everything still unpaid, not only the invoices at this step.
            rows = list(figures.rows.values())
        else:
            rows = [figures.rows[i] for i in action.invoice_ids if i in figures.rows]
        if action.template and builder.category(action.template) in ("pre_due", "service_date"):
            due, upcoming = rows, []
        else:
            due, upcoming = figures.split(rows)
        new: list[int] = []
        if not carried and action.channel in ("email", "letter"):
            shown = {r.id for r in rows}
            for pk, kind in figures.unsent.items():
                row = figures.rows.get(pk)
                if pk in shown or kind == Invoice.KIND_CREDIT_NOTE:
                    new.append(pk)
                elif row is not None and row.due_date > local_today:
                    upcoming.append(row)
                    new.append(pk)
            carried = True
        reminder.message = _step_message(rc, builder, account, action, reminder, due, upcoming, new, now,
                                         local_today)
        if "handover" in action.actions:
            contact = account.contacts.get(action.contact_id) if action.contact_id is not None else None
            _task(org, customer.id, "handover", f"handover:{action.idempotency_key}", reminder, contact,
                  reminder.message, now, f"Hand over to a collection agency: "
                                         f"{', '.join(r.number for r in (*due, *upcoming))} ({action.reason})")
        if notes:
            reminder.reason = f"{reminder.reason}\n" + "\n".join(n for n in notes if n)
        reminder.save()
        reminder_sent.send(sender=Reminder, reminder=reminder)
    if terminated is not None:
        _final_statement(rc, builder, account, figures, now, local_today, terminated)


def _step_message(rc: snapshots.RunContext, builder: msgs.MessageBuilder, account: snapshots.Account,
                  action: dunning.Action, reminder: Reminder, due: list[snapshots.InvoiceRow],
                  upcoming: list[snapshots.InvoiceRow], new: list[int], now: datetime, local_today: date) -> Message | None:
    """Queue the message of one step (or its phone task): ``due`` demanded, ``upcoming`` listed with
    their due dates; ``new`` documents not sent before are attached and recorded as sent with it
    (:func:`.steps.plan_step` decides the rows, written here)."""
    org = rc.org
    writes = plan_step(rc, builder, account, action, due, upcoming, new, now, local_today)
    message = store_message(org, writes.message)[0] if writes.message is not None else None
    if writes.dispatched:
        InvoiceDispatch.objects.bulk_create([
            InvoiceDispatch(organization=org, invoice_id=pk, message=message, created_at=now,
                            note=writes.dispatch_note)
            for pk in writes.dispatched], ignore_conflicts=True)
    for task in writes.tasks:
        _task(org, account.customer.id, task.kind, task.key, reminder, task.contact,
              message if task.with_message else None, now, task.description)
    return message


def _claim_reminder(org, account, action, now, run) -> tuple[Reminder | None, str]:
    """Record the reminder and the (invoice, step) rows it covers, or say why not: another run did this
    step for one of these invoices already (the unique (invoice, step) rows decide, whatever invoice
    set that run saw; its message went out: this one would be a second at the same step)."""
    existing = Reminder.objects.filter(organization=org, idempotency_key=action.idempotency_key).first()
    if existing is not None:
        return None, "already done"
    taken = set(ReminderInvoice.objects.filter(invoice_id__in=action.invoice_ids, step_code=action.step_code)
                .values_list("invoice_id", flat=True))
    if taken:
        return None, already(account, taken)
    try:
        with transaction.atomic():
            reminder = Reminder.objects.create(
                organization=org, idempotency_key=action.idempotency_key, customer_id=account.customer.id,
                policy_code=account.policy.code, step_code=action.step_code, invoice_ids=list(action.invoice_ids),
                channel=action.channel, template=action.template, tone=action.tone, actions=list(action.actions),
                contact_id=action.contact_id, sent_at=now, reason=action.reason,
                fallback_reason=(action.fallback_reason or "")[:300], run=run)
            ReminderInvoice.objects.bulk_create([
                ReminderInvoice(organization=org, reminder=reminder, invoice_id=invoice_id, step_code=action.step_code)
                for invoice_id in action.invoice_ids])
    except IntegrityError:
        taken = set(ReminderInvoice.objects.filter(invoice_id__in=action.invoice_ids, step_code=action.step_code)
                    .values_list("invoice_id", flat=True))
        return None, already(account, taken) if taken else "already done"
    return reminder, "done"
