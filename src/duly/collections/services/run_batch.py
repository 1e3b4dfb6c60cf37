"""The reminders of a chunk of customers, carried out together (the dunning run's write path, :mod:`.run`).

A customer whose steps only send (an e-mail, a letter for post, a phone call, a handover: no late fee, no
suspension, no termination) writes rows that depend on nothing another customer of the chunk writes. For
those, :class:`ChunkWrites` reads once per chunk what their messages need: the reminders already recorded
(by idempotency key) and the (invoice, step) rows already claimed, each customer's figures
(:func:`duly.collections.snapshots.figures_of`), the interest accrued and the invoices paid automatically
(:meth:`duly.collections.messages.MessageBuilder.preload`), the invoices' attachments; then builds the
same rows :func:`.run._carry_out` writes, and writes them with one bulk insert per table: the messages
(:func:`duly.messaging.services.queue_messages`, once per idempotency key), the reminders, their
(invoice, step) rows (unique: the claim), the documents dispatched with them and the staff tasks (once per
key). A customer with a side effect (late fee, suspension, termination: they change its figures) is carried
out alone, as before, after the writes of the customers before it: every table gets its rows in the same
order as one customer at a time would give them.

The whole chunk is one transaction (the caller's): a run killed in the middle of a chunk leaves nothing of
it, and a rerun finds what the chunks before did by their keys. When a concurrent run claimed one of the
chunk's steps meanwhile (a unique constraint refuses the bulk insert), the insert is rolled back to its
savepoint and those customers are carried out one at a time, each deciding as :func:`.run._claim_reminder`
does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from duly.db.fastpath import insert_objects, insert_rows
from duly.domain import dunning
from duly.domain.errors import DomainError
from duly.invoicing.models import Invoice
from duly.messaging import attachments
from duly.messaging.models import Message
from duly.messaging.services import queue_messages

from .. import messages as msgs
from .. import snapshots
from ..models import CollectionRun, InvoiceDispatch, Reminder, ReminderInvoice, Task
from ..signals import reminder_sent
from .steps import StepWrites, already, plan_step

#: Step actions that change what a customer owes or may use: such a customer is carried out alone.
SIDE_EFFECTS = frozenset({"assess_late_fee", "suspend", "terminate"})
#: Rows per read of an IN list: well under SQLite's limit of bound variables.
READ_BATCH = 5000


def sends_only(sends: Sequence[Any]) -> bool:
    """Whether these planned ``send`` actions have no side effect (:data:`SIDE_EFFECTS`)."""
    return not any(a in SIDE_EFFECTS for planned in sends for a in planned.action.actions)


@dataclass
class _Claim:
    planned: Any  # PlannedAction
    reminder: Reminder
    writes: StepWrites
    handover: str | None = None  # the handover task's description


@dataclass
class _Customer:
    account: snapshots.Account
    sends: Sequence[Any]
    claims: list[_Claim] = field(default_factory=list)


class ChunkWrites:
    """The writes of one chunk's customers whose steps only send (see the module docstring)."""

    def __init__(self, rc: snapshots.RunContext, builder: msgs.MessageBuilder,
                 work: Sequence[tuple[snapshots.Account, Sequence[Any]]], now: datetime,
                 run: CollectionRun | None) -> None:
        self.rc, self.builder, self.now, self.run = rc, builder, now, run
        self.pending: list[_Customer] = []
        mine = [(account, sends) for account, sends in work if sends_only(sends)]
        self.keys_done, self.taken = self._claimed(mine)
        self.local_today: dict[int, date] = {}
        for account, sends in mine:
            if any(self._decide(account, p.action) == "done" for p in sends):
                self.local_today[account.customer.id] = now.astimezone(ZoneInfo(account.snapshot.timezone)).date()
        self.figures = snapshots.figures_of(rc.org, self.local_today)
        builder.preload((row, self.local_today[cid]) for cid, f in self.figures.items() for row in f.rows.values())
        wanted = {pk for f in self.figures.values() for pk in (*f.rows, *f.unsent)}
        self.attachments = attachments.invoice_refs_each(wanted) if wanted else {}

    # --- reads, once per chunk ---------------------------------------------------------------------------
    def _claimed(self, mine) -> tuple[set[str], set[tuple[int, str]]]:
        """The keys of the reminders already recorded and the (invoice, step) rows already claimed, among
        this chunk's steps."""
        org = self.rc.org
        keys = [p.action.idempotency_key for _, sends in mine for p in sends]
        invoices = sorted({i for _, sends in mine for p in sends for i in p.action.invoice_ids})
        done: set[str] = set()
        for start in range(0, len(keys), READ_BATCH):
            done.update(Reminder.objects.filter(organization=org, idempotency_key__in=keys[start:start + READ_BATCH])
                        .values_list("idempotency_key", flat=True))
        taken: set[tuple[int, str]] = set()
        for start in range(0, len(invoices), READ_BATCH):
            taken.update(ReminderInvoice.objects.filter(invoice_id__in=invoices[start:start + READ_BATCH])
                         .values_list("invoice_id", "step_code"))
        return done, taken

    def _decide(self, account: snapshots.Account, action: dunning.Action) -> str:
        """What :func:`.run._claim_reminder` would say of this step: ``done`` (claimed) or why not."""
        if action.idempotency_key in self.keys_done:
            return "already done"
        taken = {i for i in action.invoice_ids if (i, action.step_code) in self.taken}
        return already(account, taken) if taken else "done"

    def takes(self, sends: Sequence[Any]) -> bool:
        return sends_only(sends)

    # --- one customer ------------------------------------------------------------------------------------
    def add(self, account: snapshots.Account, sends: Sequence[Any], errors: list[tuple[str, str]]) -> None:
        """Build the rows of one customer's steps (as :func:`.run._carry_out` does, with the chunk's reads);
        written by :meth:`flush`. A step that cannot be built (no e-mail address...) fails the customer's
        steps, recorded in ``errors``, as before."""
        org, now = self.rc.org, self.now
        customer = account.customer
        entry = _Customer(account, sends)
        for planned in sends:
            action = planned.action
            planned.outcome = self._decide(account, action)
            if planned.outcome == "done":
                entry.claims.append(_Claim(planned, Reminder(
                    organization=org, idempotency_key=action.idempotency_key, customer_id=customer.id,
                    policy_code=account.policy.code, step_code=action.step_code, invoice_ids=list(action.invoice_ids),
                    channel=action.channel, template=action.template, tone=action.tone, actions=list(action.actions),
                    contact_id=action.contact_id, sent_at=now, reason=action.reason,
                    fallback_reason=(action.fallback_reason or "")[:300], run=self.run), StepWrites()))
        if not entry.claims:
            return
        local_today = self.local_today[customer.id]
        figures = self.figures[customer.id]
        carried = False
        try:
            for claim in entry.claims:
                action = claim.planned.action
                rows = [figures.rows[i] for i in action.invoice_ids if i in figures.rows]
                if action.template and self.builder.category(action.template) in ("pre_due", "service_date"):
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
                claim.writes = plan_step(self.rc, self.builder, account, action, due, upcoming, new, now, local_today,
                                         self.attachments)
                if "handover" in action.actions:
                    claim.handover = (f"Hand over to a collection agency: "
                                      f"{', '.join(r.number for r in (*due, *upcoming))} ({action.reason})")
        except DomainError as exc:
            for planned in sends:
                planned.outcome = f"error: {exc.message}"
            errors.append((customer.code, exc.message))
            return
        for claim in entry.claims:  # claimed in this run: a later step of the chunk sees them (as the database would)
            action = claim.planned.action
            self.keys_done.add(action.idempotency_key)
            self.taken.update((i, action.step_code) for i in action.invoice_ids)
        self.pending.append(entry)

    # --- the writes --------------------------------------------------------------------------------------
    def flush(self, one_at_a_time: Callable[[snapshots.Account, Sequence[Any]], None]) -> None:
        """Write what :meth:`add` built, in a savepoint; when a concurrent run claimed one of these steps first,
        roll it back and carry the customers out ``one_at_a_time`` (each deciding again)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            with transaction.atomic():
                self._write(pending)
        except IntegrityError:
            for entry in pending:
                one_at_a_time(entry.account, entry.sends)

    def _write(self, pending: list[_Customer]) -> None:
        org, now = self.rc.org, self.now
        claims = [claim for entry in pending for claim in entry.claims]
        queued = iter(queue_messages(org, [c.writes.message for c in claims if c.writes.message is not None]))
        messages: list[Message | None] = [next(queued)[0] if c.writes.message is not None else None for c in claims]
        reminders = []
        for claim, message in zip(claims, messages):
            claim.reminder.message = message
            reminders.append(claim.reminder)
        insert_objects(Reminder, reminders)
        insert_rows(ReminderInvoice, ("organization_id", "reminder_id", "invoice_id", "step_code"), [
            (org.pk, c.reminder.pk, invoice_id, c.planned.action.step_code)
            for c in claims for invoice_id in c.planned.action.invoice_ids])
        dispatches = [InvoiceDispatch(organization=org, invoice_id=pk, message=message, created_at=now,
                                      note=c.writes.dispatch_note)
                      for c, message in zip(claims, messages) for pk in c.writes.dispatched]
        if dispatches:
            InvoiceDispatch.objects.bulk_create(dispatches, ignore_conflicts=True)
        tasks = self._tasks(pending, dict(zip((id(c) for c in claims), messages)))
        if tasks:
            self._create_tasks(tasks)
        for reminder in reminders:
            reminder_sent.send(sender=Reminder, reminder=reminder)

    def _tasks(self, pending: list[_Customer], message_of: dict[int, Message | None]) -> list[Task]:
        """The staff tasks in the order :func:`.run._carry_out` creates them: each step's own (phone call,
        letter to post), then its handover."""
        org, now = self.rc.org, self.now
        tasks = []
        for entry in pending:
            customer_id = entry.account.customer.id
            for claim in entry.claims:
                message = message_of[id(claim)]
                for plan in claim.writes.tasks:
                    tasks.append(Task(organization=org, key=plan.key, customer_id=customer_id, kind=plan.kind,
                                      reminder=claim.reminder,
                                      contact_id=plan.contact.id if plan.contact is not None else None,
                                      message=message if plan.with_message else None, description=plan.description,
                                      due_at=now))
                if claim.handover is not None:
                    action = claim.planned.action
                    contact = entry.account.contacts.get(action.contact_id) if action.contact_id is not None else None
                    tasks.append(Task(organization=org, key=f"handover:{action.idempotency_key}",
                                      customer_id=customer_id, kind="handover", reminder=claim.reminder,
                                      contact_id=contact.id if contact is not None else None, message=message,
                                      description=claim.handover, due_at=now))
        return tasks

    def _create_tasks(self, tasks: list[Task]) -> None:
        """Create each task once by its key (a task with that key already there stays as it is)."""
        org = self.rc.org
        keys = [t.key for t in tasks]
        there: set[str] = set()
        for start in range(0, len(keys), READ_BATCH):
            there.update(Task.objects.filter(organization=org, key__in=keys[start:start + READ_BATCH])
                         .values_list("key", flat=True))
        new = []
        for task in tasks:
            if task.key not in there:
                there.add(task.key)
                new.append(task)
        insert_objects(Task, new)
