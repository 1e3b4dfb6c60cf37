"""Collections services: the dunning run, late fees, promises, queries, termination, greetings.

Every function here is the only code that writes collections state, and owns its transaction.

Late fees
    ``assess_late_fees`` is idempotent: each fee is charged at most once per (invoice, level) — a
    unique constraint, not luck — so running it twice, or two runs at once, changes nothing the
    second time. Each overdue invoice is handled in its own transaction: a failure on one never
    half-writes another.

The dunning run (:func:`collect`)
    Customers are gathered in chunks with batch queries (:mod:`duly.collections.snapshots`), with
    how far each past reminder got (delivered, or waiting for a person to phone or post), and
    evaluated by the pure :func:`duly.domain.dunning.evaluate`: escalation goes one step at a time,
    each after the previous one reached the customer. The ``send`` actions of one customer are
    carried out in one transaction: each :class:`~duly.collections.models.Reminder` with a
    :class:`~duly.collections.models.ReminderInvoice` row per invoice (unique per invoice and step:
    two overlapping runs never chase an invoice twice at a step, whatever invoices each saw), its
    side effects (late fee, suspension, termination and the cancellations' credit notes), then its
    messages, all built from one set of figures read after every side effect (one amount per
    customer per run: the message, the letter for post and the final statement agree), commit
    together or not at all. A reminder also carries the customer's new invoices not sent yet, listed
    with their own due date (one e-mail, never a fee demanded before it is due). A run that crashes is
    simply run again: what was done is found by its key and not done twice. ``dry_run`` evaluates
    and reports, and writes nothing.

One contact budget
    Reminders, invoice e-mails, price notices and greetings count toward the same contact-fatigue
    limits of the customer's policy (thank-yous and answers to queries reply to the customer and do
    not count). Reminders and greetings wait for room in that budget; invoices and price notices are
    due on a day and never wait for it, but use it. After the reminders the run sends, in this
    order, the invoices not sent yet (one e-mail per customer), the price notices and the greetings;
    greetings and price notices also wait while the customer has a query open, is suspended or
    terminated, or has an invoice at a final step (:func:`duly.domain.dunning.contact_hold`), and
    :attr:`CollectResult.held` says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, Sum
from django.utils import timezone

from duly.customers import services as customers_services
from duly.customers.models import Contact, Contract, Customer, Organization
from duly.domain import dunning, late_fees
from duly.domain.calendar import calendar_for
from duly.domain.errors import (
    DisputeAlreadyOpen,
    DisputeAlreadyResolved,
    DomainError,
    InvalidDunningPolicy,
    InvalidState,
    IssueDateBeforeLastIssued,
    NotFound,
    ValidationError,
)
from duly.domain.bounds import check_date_range, check_datetime_range
from duly.domain.money import check_amount, check_currency, from_minor, round_money, to_decimal, to_minor
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice
from duly.billing.models import Product
from duly.messaging.models import Message
from duly.messaging.services import SendWindow, queue_message, renderer_for
from duly.payments.models import CreditEntry, Payment

from . import adapters, snapshots
from . import messages as msgs
from . import policies as policies_mod
from .models import (
    CollectionRun,
    CollectionsSettings,
    CustomerProfile,
    Dispute,
    Greeting,
    InvoiceDispatch,
    LateFee,
    Policy,
    PromiseToPay,
    Reminder,
    ReminderInvoice,
    SpecialDate,
    Step,
    Task,
)

log = logging.getLogger("duly.collections")

FEE_TAX_CATEGORY = "O"
FEE_TAX_REASON = "Late-payment interest and compensation are not subject to VAT"


@dataclass
class FeeRunResult:
    as_of: date
    assessed: list[tuple[str, str, str, str]] = field(default_factory=list)  # (invoice, level, amount, currency)
    fee_invoices: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (invoice, reason)

    def summary(self) -> str:
        if not self.assessed:
            return f"No new late fees as of {self.as_of.isoformat()}."
        return (f"Assessed {len(self.assessed)} fee(s) on {len(self.fee_invoices)} late-fee invoice(s) as of "
                f"{self.as_of.isoformat()}: " + ", ".join(self.fee_invoices))

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "assessed": [dict(zip(("invoice", "level", "amount", "currency"), row)) for row in self.assessed],
            "fee_invoices": self.fee_invoices,
            "skipped": [dict(zip(("invoice", "reason"), row)) for row in self.skipped],
        }


def open_item_for(invoice: Invoice, assessed_levels: set[str]) -> late_fees.OpenItem:
    payments = sorted(
        (a.applied_on, from_minor(a.amount_minor, invoice.currency)) for a in invoice.allocations.all()
    )
    return late_fees.OpenItem(
        invoice_id=invoice.pk,
        currency=invoice.currency,
        due_date=invoice.due_date,
        unpaid_principal=from_minor(invoice.payable_minor, invoice.currency) - sum(
            (amt for _, amt in payments), from_minor(0, invoice.currency)),
        principal=from_minor(invoice.payable_minor, invoice.currency),
        payments=tuple(payments),
        assessed_levels=frozenset(assessed_levels),
    )


def late_fee_candidates(org: Organization, *, as_of: date, invoice_ids: Sequence[int] | None = None):
    """Invoices that may still owe a late-fee level as of ``as_of`` (a queryset, oldest due first).

    Open invoices past their due date, and invoices paid in full after their due date that were
    not assessed since the payment (once paid, the final partial interest month and any fixed fee
    are final: one assessment on or after the payment day charges everything that is left).
    Invoices settled in part by a credit note are left to a person: the corrected amount decides.
    """
    from duly.payments.models import Allocation

    assessed_since_paid = Exists(LateFee.objects.filter(invoice=OuterRef("pk"), assessed_on__gt=OuterRef("paid_on")))
    credited = Exists(Allocation.objects.filter(invoice=OuterRef("pk"), credit_note__isnull=False))
    late_paid = (Q(status=Invoice.PAID, paid_on__isnull=False, paid_on__gt=F("due_date"), paid_on__lte=as_of)
                 & ~assessed_since_paid & ~credited)
    qs = (
        Invoice.objects.filter(Q(status__in=Invoice.OPEN_STATUSES) | late_paid,
                               organization=org, due_date__lt=as_of,
                               kind__in=[Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT], contract__isnull=False)
        .exclude(contract__late_fee_kind="none")
        .select_related("contract", "customer", "organization")
        .prefetch_related("allocations", Prefetch("late_fees", queryset=LateFee.objects.only("invoice_id", "level")))
        .order_by("due_date", "id")
    )
    if invoice_ids is not None:
        qs = qs.filter(pk__in=list(invoice_ids))
    return qs


def assess_late_fees(org: Organization, *, as_of: date, invoice_ids: Sequence[int] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> FeeRunResult:
    """Assess the late fees and interest the contracts allow as of ``as_of`` (the manual/batch path).

    Covers open overdue invoices and invoices paid late (their last interest month up to the
    payment day, a fixed fee never charged while they were open); see :func:`late_fee_candidates`.
    Each level is charged once (unique per invoice and level), so a rerun changes nothing. The
    dunning run calls this for the invoices of a step carrying ``assess_late_fee``.
    ``progress(done, total)`` is called after each invoice.
    """
    check_date_range(as_of, "The assessment date")
    result = FeeRunResult(as_of=as_of)
    invoices = list(late_fee_candidates(org, as_of=as_of, invoice_ids=invoice_ids))
    if invoices:  # numbers follow issue dates: a run dated before the last invoice issued is refused whole
        invoicing.check_issue_date(org, "invoice", as_of, hint=lambda last: (
            f"Assess late fees as of {last.isoformat()} or later (interest then runs to that day)."))
    rates = customers_services.reference_rates_for_contracts(inv.contract for inv in invoices)  # one query at most
    total = len(invoices)
    for done, invoice in enumerate(invoices, start=1):
        _assess_one(org, invoice, as_of, result, rates)
        if progress is not None:
            progress(done, total)
    return result


def _assess_one(org: Organization, invoice: Invoice, as_of: date, result: FeeRunResult, rates: dict) -> None:
    item = open_item_for(invoice, {f.level for f in invoice.late_fees.all()})
    try:
        fees = late_fees.assess(item, invoice.contract.late_fee_policy(rates), as_of)
    except DomainError as exc:  # e.g. no reference rate recorded for a semester: this invoice waits, others go on
        result.skipped.append((invoice.number, exc.message))
        return
    if not fees:
        return
    if invoice.customer.status == Customer.STATUS_TERMINATED and invoice.is_open:
        result.skipped.append((invoice.number, "customer terminated: fees are claimed with the final statement"))
        return
    try:
        fee_invoice = _charge(org, invoice, fees, as_of, rates)
    except IntegrityError:
        result.skipped.append((invoice.number, "already assessed by a concurrent run"))
        return
    except IssueDateBeforeLastIssued:
        raise  # a later invoice was issued meanwhile: every other fee of this run would be refused too
    except DomainError as exc:
        result.skipped.append((invoice.number, exc.message))
        return
    result.fee_invoices.append(fee_invoice.number)
    result.assessed += [(invoice.number, f.level, str(f.amount), f.currency) for f in fees]


@transaction.atomic
def _charge(org: Organization, invoice: Invoice, fees: list, as_of: date, rates: dict) -> Invoice:
    """Record the fees (unique per level) and issue one late-fee invoice referencing the overdue one."""
    LateFee.objects.bulk_create([
        LateFee(organization=org, invoice=invoice, level=f.level, kind=f.kind,
                amount_minor=to_minor(f.amount, invoice.currency), currency=invoice.currency,
                days_late=f.days_late, explanation=f.explanation, assessed_on=as_of)
        for f in fees
    ])
    lines = [
        invoicing.LineData(
            description=f"{_fee_title(f.kind)} — invoice {invoice.number} due {invoice.due_date.isoformat()}",
            quantity=1, unit_price=f.amount, tax_category=FEE_TAX_CATEGORY, tax_rate=0,
            tax_exemption_reason=FEE_TAX_REASON, explanation=f.explanation,
        )
        for f in fees
    ]
    draft = invoicing.create_draft(
        org, invoice.customer, lines, kind=Invoice.KIND_LATE_FEE, contract=invoice.contract,
        currency=invoice.currency, related_invoice=invoice,
        notes=f"Late-payment charges on invoice {invoice.number} (due {invoice.due_date.isoformat()}).",
        po_number=invoice.po_number, buyer_reference=invoice.buyer_reference, cost_centre=invoice.cost_centre,
        ap_contact=invoice.ap_contact, billing_address=invoice.billing_address,
        custom_fields=invoice.custom_fields,
    )
    fee_invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of, reference_rates=rates)
    LateFee.objects.filter(invoice=invoice, level__in=[f.level for f in fees]).update(fee_invoice=fee_invoice)
    return fee_invoice


def _fee_title(kind: str) -> str:
    return {
        "fixed_fee": "Late-payment fee",
        "compensation": "Fixed compensation for recovery costs",
        "interest": "Late-payment interest",
    }.get(kind, "Late-payment charge")


# =====================================================================================================
# The dunning run
# =====================================================================================================
CHUNK_SIZE = 500


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


def _aware(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        raise ValidationError(f"as_of must be a date-time with a time zone, got {as_of!r}.")
    return as_of


@transaction.atomic
def ensure_setup(org: Organization) -> CollectionsSettings:
    """Create the organization's collections settings and the shipped policies it does not have yet."""
    conf, _ = CollectionsSettings.objects.get_or_create(organization=org)
    existing = set(Policy.objects.filter(organization=org).values_list("code", flat=True))
    for data in policies_mod.DEFAULT_POLICIES:
        if data["code"] not in existing:
            _write_policy(org, policies_mod.spec_from_dict(data))
    return conf


def collect(org: Organization, *, as_of: datetime, dry_run: bool = False, customer_ids: Sequence[int] | None = None,
            chunk_size: int = CHUNK_SIZE) -> CollectResult:
    """The dunning run: evaluate every customer with open invoices and carry out what is due now.

    Then, in this order: restore customers whose balance was cleared, e-mail the invoices issued
    and not sent yet (those a reminder of this run carried are already sent), the price notices due
    and, last, the greetings, so each message sees every other one the run sent in the customer's
    contact budget. Idempotent and crash-safe (see the module docstring). With ``dry_run`` it lists
    every action with its reason and writes nothing.
    """
    as_of = check_datetime_range(_aware(as_of), "The collections time")
    if not dry_run:
        ensure_setup(org)
    rc = snapshots.RunContext.load(org)
    builder = msgs.MessageBuilder(rc, renderer_for(org))
    result = CollectResult(as_of=as_of, dry_run=dry_run)
    run = None if dry_run else CollectionRun.objects.create(organization=org, as_of=as_of)
    ids = snapshots.customer_ids(org, only=customer_ids)
    for chunk in snapshots.chunks(ids, chunk_size):
        for account in snapshots.gather(rc, chunk, as_of):
            try:
                actions = dunning.evaluate(account.snapshot, account.policy, as_of)
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
            if not sends:
                continue
            try:
                _carry_out(rc, builder, account, sends, as_of, run)
            except DomainError as exc:
                for planned in sends:
                    planned.outcome = f"error: {exc.message}"
                result.errors.append((account.customer.code, exc.message))
    if not dry_run:
        result.restored = lift_cleared_suspensions(org, now=as_of)
    result.invoices = send_issued_invoices(org, now=as_of, dry_run=dry_run)
    result.notices = deliver_price_notices(org, now=as_of, dry_run=dry_run, rc=rc, held=result.held)
    result.greetings = send_greetings(org, now=as_of, dry_run=dry_run, rc=rc, held=result.held)
    if run is not None:
        run.finished_at = timezone.now()
        run.counts = result.counts()
        run.save(update_fields=["finished_at", "counts"])
    return result


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
    if terminated is not None:
        _final_statement(rc, builder, account, figures, now, local_today, terminated)


def _step_message(rc: snapshots.RunContext, builder: msgs.MessageBuilder, account: snapshots.Account,
                  action: dunning.Action, reminder: Reminder, due: list[snapshots.InvoiceRow],
                  upcoming: list[snapshots.InvoiceRow], new: list[int], now: datetime, local_today: date) -> Message | None:
    """Queue the message of one step (or its phone task): ``due`` demanded, ``upcoming`` listed with
    their due dates; ``new`` documents not sent before are attached and recorded as sent with it."""
    org = rc.org
    customer = account.customer
    contact = account.contacts.get(action.contact_id) if action.contact_id is not None else None
    if action.channel not in ("email", "letter"):
        _task(org, customer.id, "phone", f"phone:{action.idempotency_key}", reminder, contact, None, now,
              _phone_brief(account, action, due + upcoming, contact))
        return None
    name = contact.name if contact is not None else customer.name
    email = contact.email if (contact is not None and action.channel == "email") else ""
    category, rendered = builder.reminder(account, action, due, name, email, contact, now, upcoming=upcoming)
    language = msgs.Formatter.for_locale(msgs.locale_for(customer.locale, contact)).language
    shown = [r.id for r in (*due, *upcoming)]
    files = _invoice_attachments(list(dict.fromkeys([*shown, *new])))
    if action.channel == "letter":
        files = _letter_attachments(builder, account, action, due, name, local_today) + files
    message, _ = queue_message(
        org, customer=customer.id, contact=contact.id if contact else None, category=_message_category(category),
        template=action.template, language=language, rendered=rendered, to_email=email, to_name=name,
        idempotency_key=f"dunning:{action.idempotency_key}", now=now,
        attachments=files, invoice_ids=shown,
        channel=Message.CHANNEL_EMAIL if action.channel == "email" else Message.CHANNEL_LETTER,
        fallback_note=action.fallback_reason or "", window=account_window(account),
        deliver_after=action.scheduled_for,
    )
    if new:
        what = "letter" if action.channel == "letter" else "e-mail"
        InvoiceDispatch.objects.bulk_create([
            InvoiceDispatch(organization=org, invoice_id=pk, message=message, created_at=now,
                            note=f"sent with the {action.step_code} {what} of {local_today.isoformat()}")
            for pk in new], ignore_conflicts=True)
    if action.channel == "letter":
        _task(org, customer.id, "letter", f"letter:{action.idempotency_key}", reminder, contact, message, now,
              f"Print and post: {rendered.subject}" + (f" ({action.fallback_reason})"
                                                       if action.fallback_reason else ""))
    return message


def _message_category(template_category: str) -> str:
    return {"termination": "termination", "statement": "termination"}.get(template_category, "dunning")


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
        return None, _already(account, taken)
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
        return None, _already(account, taken) if taken else "already done"
    return reminder, "done"


def _already(account, taken: set[int]) -> str:
    numbers = ", ".join(account.invoices[i].number if i in account.invoices else str(i) for i in sorted(taken))
    return f"already done by a concurrent run for {numbers}"


def _invoice_attachments(invoice_ids: Sequence[int]) -> list[dict[str, Any]]:
    from duly.messaging import attachments

    return attachments.invoice_refs(invoice_ids)


def _letter_attachments(builder, account, action, rows, name: str, today: date) -> list[dict[str, Any]]:
    """The PDF letter for post: a reminder, a final notice or a termination letter, listing the
    invoices due (``rows``) with the amounts the message shows (frozen in the reference)."""
    from duly.messaging import attachments

    letter = ("termination" if "terminate" in action.actions
              else "final_notice" if "final_notice" in action.actions else "reminder")
    if letter == "termination":
        next_on = None  # the letter's deadline is the restore deadline, as in the message
    else:
        _, next_on = builder.next_consequence(account, action, today)
    deadline = next_on or today + timedelta(days=account.spec.restore_days)
    main_currency = rows[0].currency if rows else account.customer.currency
    listed = [r for r in rows if r.currency == main_currency]
    if not listed:
        return []
    return attachments.letter_refs(account.customer.id, [r.id for r in listed],
                                   letter=letter, on=today, deadline=deadline,
                                   reference=f"{action.step_code}/{account.customer.code}", contact_name=name,
                                   open_minor={r.id: r.balance_minor for r in listed},
                                   reminded_on=builder.reminder_dates(account, {r.id for r in listed}))


def _task(org, customer_id: int, kind: str, key: str, reminder, contact, message, now: datetime,
          description: str) -> Task:
    task, _ = Task.objects.get_or_create(
        organization=org, key=key,
        defaults=dict(customer_id=customer_id, kind=kind, reminder=reminder,
                      contact_id=contact.id if contact is not None else None, message=message,
                      description=description, due_at=now),
    )
    return task


def _phone_brief(account, action, rows, contact) -> str:
    fmt = msgs.Formatter.for_locale("en")
    who = f"{contact.name} ({contact.phone or 'no phone number'})" if contact is not None else account.customer.name
    items = ", ".join(f"{r.number} {fmt.money(r.balance_minor, r.currency)} due {r.due_date.isoformat()}"
                      for r in rows)
    text = f"Phone {who} about {items}. Why: {action.reason}"
    if action.fallback_reason:
        text += f" [{action.fallback_reason}]"
    return text


def _profile(org, customer_id: int) -> CustomerProfile:
    profile, _ = CustomerProfile.objects.get_or_create(organization=org, customer_id=customer_id)
    return profile


def _suspend(org, customer_id: int, now: datetime, local_today: date, reason: str) -> str:
    """Suspend the customer and pause their subscriptions through billing (no new charges)."""
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if customer.status != Customer.STATUS_ACTIVE:
        return f"not suspended: the customer is already {customer.status}"
    customers_services.update_customer(customer, status=Customer.STATUS_SUSPENDED)
    paused = adapters.pause_subscriptions(org, customer, on=local_today, reason=f"Suspended: {reason}")
    profile = _profile(org, customer_id)
    profile.suspended_at = now
    profile.status_reason = f"{reason}; {paused.note}"
    profile.suspension_pauses = list(paused.ids)
    profile.save(update_fields=["suspended_at", "status_reason", "suspension_pauses"])
    return f"customer suspended ({reason}); {paused.note}"


def _terminate(org, account, action, now: datetime, local_today: date) -> str:
    """Cancel subscriptions (billing credits what was billed in advance) and mark the customer
    terminated; the final statement follows once the run's figures are read."""
    customer = Customer.objects.select_for_update().get(pk=account.customer.id)
    cancelled = adapters.cancel_subscriptions(org, customer, on=local_today,
                                              reason=f"terminated for non-payment (step {action.step_code})")
    if customer.status != Customer.STATUS_TERMINATED:
        customers_services.update_customer(customer, status=Customer.STATUS_TERMINATED)
    profile = _profile(org, customer.pk)
    profile.terminated_at = now
    profile.restore_deadline = local_today + timedelta(days=account.spec.restore_days)
    profile.status_reason = f"terminated by step {action.step_code}: {action.reason}"
    profile.save(update_fields=["terminated_at", "restore_deadline", "status_reason"])
    return f"customer terminated; {cancelled.note}"


def _final_statement(rc, builder, account, figures: snapshots.Figures, now: datetime, local_today: date,
                     reminder: Reminder) -> None:
    """The final statement of account after a termination, from the run's figures: what is due
    now (the termination letter's total) and what falls due later, each with its due date."""
    org = rc.org
    customer_id = account.customer.id
    rows = list(figures.rows.values())
    if not rows:
        return
    addressee = msgs.pick_contact(account.contacts.values(), respect_opt_out=False)
    if addressee is None:
        _task(org, customer_id, "letter", f"final-statement:{reminder.idempotency_key}", reminder, None, None, now,
              f"Post the final statement of account to {account.customer.name}: no contact has an e-mail address.")
        return
    since = local_today - timedelta(days=365)
    payments = list(Payment.objects.filter(organization=org, customer_id=customer_id, received_on__gte=since)
                    .order_by("received_on", "id").values_list("received_on", "amount_minor", "currency",
                                                               "external_reference"))
    currency = rows[0].currency
    from duly.billing.retainers import retainer_balances

    retainer = retainer_balances([customer_id], as_of=local_today, currency=currency).get((customer_id, currency))
    due, upcoming = figures.split(rows)
    rendered = builder.final_statement(account, due, addressee, payments,
                                       credit_balance_minor_of(customer_id, currency), now,
                                       retainer=retainer.balance if retainer is not None else None,
                                       upcoming=upcoming)
    language = msgs.Formatter.for_locale(msgs.locale_for(account.customer.locale, addressee.contact)).language
    queue_message(
        org, customer=customer_id, contact=addressee.contact.id if addressee.contact else None,
        category="termination", template="final_statement", language=language, rendered=rendered,
        to_email=addressee.email, to_name=addressee.name, idempotency_key=f"final-statement:{reminder.idempotency_key}",
        now=now, attachments=_statement_attachments(customer_id, local_today), invoice_ids=[r.id for r in rows],
        fallback_note=addressee.fallback_note, window=account_window(account),
    )


def _statement_attachments(customer_id: int, on: date) -> list[dict[str, Any]]:
    from duly.messaging import attachments

    return attachments.statement_refs(customer_id, on)


def credit_balance_minor_of(customer_id: int, currency: str) -> int:
    return int(CreditEntry.objects.filter(customer_id=customer_id, currency=currency)
               .aggregate(s=Sum("amount_minor"))["s"] or 0)


# =====================================================================================================
# Policies: admin/YAML writes and assignment
# =====================================================================================================
def _write_policy(org: Organization, spec: policies_mod.PolicySpec) -> Policy:
    p = spec.policy
    row, _ = Policy.objects.update_or_create(
        organization=org, code=p.code,
        defaults=dict(name=p.name, max_per_window=p.fatigue.max_per_window, window_days=p.fatigue.window_days,
                      min_gap_hours=p.fatigue.min_gap_hours, restore_days=spec.restore_days),
    )
    row.steps.all().delete()
    conditions = [step.get("conditions", {}) for step in dunning.policy_to_dict(p)["steps"]]
    Step.objects.bulk_create([
        Step(policy=row, code=s.code, order=s.order, offset_days=s.offset_days, anchor=s.anchor, channel=s.channel,
             template=s.template, tone=s.tone, actions=list(s.actions), whatever_sent=s.whatever_sent,
             conditions=conditions[i])
        for i, s in enumerate(p.steps)
    ])
    return row


def _check_templates(org: Organization, spec: policies_mod.PolicySpec) -> None:
    from duly.messaging.services import template_exists

    for step in spec.policy.steps:
        if step.channel != "phone_task" and not template_exists(org, step.template):
            raise InvalidDunningPolicy(
                f"Policy {spec.policy.code!r}, step {step.code!r}: no message template named {step.template!r}.",
                step=step.code, template=step.template,
            )


@transaction.atomic
def import_policies(org: Organization, text: str) -> list[Policy]:
    """Create or replace policies from YAML (validated first: a bad file changes nothing)."""
    specs = policies_mod.parse_yaml(text)
    for spec in specs:
        _check_templates(org, spec)
    return [_write_policy(org, spec) for spec in specs]


def export_policies(org: Organization) -> str:
    """The organization's policies (shipped defaults included until it has its own) as YAML."""
    rc = snapshots.RunContext.load(org)
    return policies_mod.dump_yaml(sorted(rc.specs.values(), key=lambda s: s.policy.code))


@transaction.atomic
def save_policy_from_admin(policy: Policy) -> dunning.Policy:
    """Validate a policy edited in admin through the domain (raises InvalidDunningPolicy)."""
    domain = policy.to_domain()
    _check_templates(policy.organization, policies_mod.PolicySpec(domain, policy.restore_days))
    return domain


@transaction.atomic
def assign_policy(org: Organization, customer: Customer, policy_code: str | None) -> CustomerProfile:
    """Set (or clear, with None) the customer's explicit policy."""
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    policy = None
    if policy_code:
        ensure_setup(org)
        policy = Policy.objects.filter(organization=org, code=policy_code).first()
        if policy is None:
            raise NotFound(f"No dunning policy {policy_code!r} in {org.name}.", policy=policy_code)
    profile = _profile(org, customer.pk)
    profile.policy = policy
    profile.save(update_fields=["policy"])
    return profile


# =====================================================================================================
# Promises to pay
# =====================================================================================================
@transaction.atomic
def record_promise(org: Organization, customer: Customer, *, promised_date: date, amount: Decimal | str,
                   now: datetime, currency: str | None = None, invoice_ids: Sequence[int] | None = None,
                   note: str = "") -> PromiseToPay:
    """Record a promise to pay ``amount`` by ``promised_date``; reminders for its invoices pause until then.

    Without ``invoice_ids`` the promise covers every open invoice of the customer in that currency
    that is overdue (or all open ones when none is overdue yet).
    """
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    currency = currency or customer.currency
    check_currency(currency)
    check_date_range(promised_date, "The promised date")
    value = check_amount(amount, currency, "The promised amount")
    if value <= 0:
        raise ValidationError("A promised amount must be positive.")
    today = _local_date(_aware(now), customer.timezone)  # the customer's date, not UTC's
    if promised_date < today:
        raise ValidationError(f"The promised date {promised_date.isoformat()} is in the past.")
    open_qs = Invoice.objects.filter(organization=org, customer=customer, status__in=Invoice.OPEN_STATUSES,
                                     kind__in=snapshots.CHASED_KINDS, currency=currency)
    if invoice_ids:
        invoices = list(open_qs.filter(pk__in=list(invoice_ids)))
        missing = set(invoice_ids) - {i.pk for i in invoices}
        if missing:
            raise NotFound(f"Invoice(s) {sorted(missing)} are not open invoices of {customer.name} in {currency}.")
    else:
        invoices = list(open_qs.filter(due_date__lt=today)) or list(open_qs)
    if not invoices:
        raise ValidationError(f"{customer.name} has no open invoice in {currency} to promise a payment for.")
    promise = PromiseToPay.objects.create(organization=org, customer=customer, promised_date=promised_date,
                                          amount_minor=to_minor(value, currency), currency=currency,
                                          created_at=now, note=note)
    promise.invoices.set(invoices)
    return promise


def promise_state(promise: PromiseToPay, today: date) -> str:
    """``kept`` (the promised amount paid by the date), ``running`` (date not passed) or ``broken``:
    :func:`duly.domain.dunning.promise_outcome` on what was paid since the promise was made."""
    return promise_states([promise], lambda _: today)[promise.pk]


def promise_states(promises: Sequence[PromiseToPay], today_of) -> dict[int, str]:
    """:func:`promise_state` of many promises at once (two queries in all); ``today_of(promise)`` is the
    day each is judged on (the customer's local date)."""
    made = {p.pk: _local_date(p.created_at, p.customer.timezone) for p in promises}
    paid = snapshots.paid_towards_promises([(p.pk, made[p.pk], p.promised_date) for p in promises])
    return {
        p.pk: dunning.promise_outcome(
            dunning.Promise((), p.promised_date, from_minor(p.amount_minor, p.currency), p.created_at),
            from_minor(paid.get(p.pk, 0), p.currency), today_of(p))
        for p in promises
    }


# =====================================================================================================
# Queries and disputes
# =====================================================================================================
def sla_due_on(org: Organization, opened: date, business_days: int) -> date:
    """The day a query must be answered by: ``business_days`` of the organization's calendar (its country's
    weekend, its country's and region's public holidays) after ``opened``."""
    return calendar_for(org.holiday_region).add_business_days(opened, business_days)


@transaction.atomic
def open_dispute(org: Organization, invoice_id: int, *, question: str, now: datetime, opened_by: str = "staff",
                 user=None) -> Dispute:
    """Open a query on an invoice (by the customer or by staff for them); its follow-ups pause."""
    invoice = Invoice.objects.select_related("customer").filter(organization=org, pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found in {org.name}.", invoice_id=invoice_id)
    if not question or not question.strip():
        raise ValidationError("A query needs the customer's question.")
    if opened_by not in dict(Dispute.BY_CHOICES):
        raise ValidationError(f"opened_by must be customer or staff, got {opened_by!r}.")
    if invoice.status in (Invoice.DRAFT, Invoice.VOID):
        raise InvalidState(f"Invoice {invoice} is {invoice.status}: there is nothing to query.")
    existing = Dispute.objects.filter(organization=org, invoice=invoice, status=Dispute.OPEN).first()
    if existing is not None:
        raise DisputeAlreadyOpen(f"Invoice {invoice.number} already has an open query (#{existing.pk}).",
                                 dispute=existing.pk)
    conf = CollectionsSettings.objects.filter(organization=org).first()
    days = conf.dispute_sla_business_days if conf else 2
    local = now.astimezone(ZoneInfo(org.timezone)).date()
    try:
        with transaction.atomic():
            return Dispute.objects.create(
                organization=org, customer=invoice.customer, invoice=invoice, opened_by=opened_by,
                opened_by_user=user, opened_at=now, question=question.strip(),
                sla_due_on=sla_due_on(org, local, days),
            )
    except IntegrityError:  # a concurrent request opened one first (one open query per invoice)
        raise DisputeAlreadyOpen(f"Invoice {invoice.number} already has an open query.") from None


@transaction.atomic
def resolve_dispute(org: Organization, dispute_id: int, *, answer: str, now: datetime, credit_note: bool = False,
                    credit_lines: Sequence[invoicing.LineData] | None = None,
                    credit_amount: Decimal | str | None = None, user=None) -> Dispute:
    """Answer a query; optionally issue a credit note; tell the customer.

    The credit note credits the whole invoice (``credit_note``), the given ``credit_lines``, or
    ``credit_amount`` (tax included, in the invoice's currency, at most its open amount) as one line
    "Credit for query #N on INV-…: <answer>" (see :func:`duly.invoicing.services.partial_credit_lines`).
    """
    dispute = Dispute.objects.select_for_update().select_related("invoice", "customer").filter(
        organization=org, pk=dispute_id).first()
    if dispute is None:
        raise NotFound(f"Query {dispute_id} not found in {org.name}.")
    if dispute.status != Dispute.OPEN:
        raise DisputeAlreadyResolved(f"Query {dispute_id} on {dispute.invoice} was already answered.")
    if not answer or not answer.strip():
        raise ValidationError("An answer is required to resolve a query.")
    local = now.astimezone(ZoneInfo(org.timezone)).date()
    if credit_amount is not None and str(credit_amount).strip() != "":
        if credit_note or credit_lines:
            raise ValidationError("Credit the whole invoice, some lines or an amount: one of them, not several.")
        credit_lines = invoicing.partial_credit_lines(
            org, dispute.invoice_id, credit_amount,
            description=f"Credit for query #{dispute.pk} on {dispute.invoice.number}: {answer.strip()}")
    if credit_note or credit_lines:
        dispute.credit_note = invoicing.create_credit_note(
            org, dispute.invoice_id, reason=f"Query #{dispute.pk}: {answer.strip()}",
            lines=list(credit_lines) if credit_lines else None, issue_date=local)
    dispute.status = Dispute.RESOLVED
    dispute.answer = answer.strip()
    dispute.answered_at = now
    dispute.answered_by = user
    addressee = msgs.pick_contact(msgs.contact_rows(dispute.customer), respect_opt_out=False)
    if addressee is not None:
        single = msgs.SingleMessages(org, renderer_for(org))
        rendered = single.dispute_answer(dispute, addressee, local)
        dispute.message, _ = queue_message(
            org, customer=dispute.customer, contact=addressee.contact.id if addressee.contact else None,
            category="dispute", template="dispute_resolved", language=_language(dispute.customer, addressee),
            rendered=rendered, to_email=addressee.email, to_name=addressee.name,
            idempotency_key=f"dispute-answer:{dispute.pk}", now=now,
            attachments=_invoice_attachments([dispute.credit_note.pk]) if dispute.credit_note else [],
            invoice_ids=[dispute.invoice_id], fallback_note=addressee.fallback_note,
            window=customer_window(org, dispute.customer),
        )
    dispute.save()
    return dispute


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone or "UTC")).date()


def _settings_of(org: Organization) -> tuple[time, time]:
    """The organization's sending window (the default 09:00-17:00 before it has settings)."""
    row = CollectionsSettings.objects.filter(organization=org).values_list(
        "send_window_start", "send_window_end").first()
    return row or (time(9), time(17))


def account_window(account: snapshots.Account) -> SendWindow:
    """The sending window of a gathered customer: the one the dunning evaluation used."""
    snap = account.snapshot
    return SendWindow(snap.timezone, snap.send_window[0], snap.send_window[1], snap.country)


def customer_window(org: Organization, customer: Customer, conf: tuple[time, time] | None = None) -> SendWindow:
    """The sending window of one customer: the organization's hours in the customer's time zone, on
    the business days of the customer's country."""
    start, end = conf or _settings_of(org)
    return SendWindow(customer.timezone or "UTC", start, end,
                      snapshots.holiday_country(customer.country, customer.subdivision))


def _language(customer, addressee: msgs.Addressee) -> str:
    return msgs.Formatter.for_locale(msgs.locale_for(customer.locale, addressee.contact)).language


# =====================================================================================================
# Payments: thank-you and restoring a suspended customer (called by payments.record_payment)
# =====================================================================================================
def payment_recorded(payment) -> None:
    """Hook at the end of ``record_payment``, inside its transaction (a savepoint of its own).

    Queues the personalised thank-you in the outbox (delivered by the outbox worker after the
    payment commits) and lifts a suspension when nothing is overdue any more. A problem here is
    logged and never stops the payment from being recorded.
    """
    try:
        with transaction.atomic():
            _thank(payment)
            restore_if_cleared(payment.organization, payment.customer_id, on=payment.received_on,
                               cause=f"the payment of {payment.received_on.isoformat()}", now=payment.created_at)
    except DomainError:
        log.exception("collections follow-up of payment %s failed", payment.pk)


def _thank(payment) -> None:
    org, customer = payment.organization, payment.customer
    addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
    if addressee is None:
        log.info("no thank-you for payment %s: no contact of %s has an e-mail address", payment.pk, customer)
        return
    now = payment.created_at  # when the payment was recorded (a bank import at 03:00 is thanked at 09:00)
    single = msgs.SingleMessages(org, renderer_for(org))
    rendered = single.thank_you(payment, addressee, credit_balance_minor_of(customer.pk, payment.currency),
                                payment.received_on)
    from duly.messaging import attachments

    queue_message(
        org, customer=customer, contact=addressee.contact.id if addressee.contact else None, category="payment",
        template="thank_you", language=_language(customer, addressee), rendered=rendered, to_email=addressee.email,
        to_name=addressee.name, idempotency_key=f"thank-you:{payment.pk}", now=now,
        attachments=attachments.receipt_refs(payment.pk),
        invoice_ids=list(payment.allocations.values_list("invoice_id", flat=True)),
        fallback_note=addressee.fallback_note, window=customer_window(org, customer),
    )


REINSTATE_BUSINESS_DAYS = 2


def restore_if_cleared(org: Organization, customer_id: int, *, on: date, cause: str, now: datetime) -> str | None:
    """Lift a suspension, or undo a termination within its restore deadline, once nothing is overdue.

    Called after a payment (``payment_recorded``) and, for balances cleared otherwise (a credit
    note, customer credit, a void), by every collections run (:func:`lift_cleared_suspensions`).
    A suspension lifted resumes the subscriptions it paused. A terminated customer restored in
    time is active again, and staff get a ``reinstate`` task to restart the cancelled
    subscriptions (billing cannot re-activate one); that is what the termination letter promises.
    Returns what was done, or None.
    """
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if customer.status == Customer.STATUS_ACTIVE:
        return None
    overdue = (Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES,
                                      kind__in=snapshots.CHASED_KINDS, due_date__lt=on)
               .exclude(disputes__status=Dispute.OPEN))
    if overdue.exists():
        return None
    profile = _profile(org, customer.pk)
    if customer.status == Customer.STATUS_TERMINATED:
        if profile.restore_deadline is None or on > profile.restore_deadline:
            note = (f"{cause}: received after the restore deadline"
                    f" {profile.restore_deadline.isoformat() if profile.restore_deadline else '(none)'};"
                    " the termination stands")
            if note not in profile.status_reason:
                profile.status_reason = f"{profile.status_reason}\n{note}".strip()
                profile.save(update_fields=["status_reason"])
            return None
        since = _local_date(profile.terminated_at, customer.timezone) if profile.terminated_at else on
        cancelled = adapters.cancelled_subscriptions(org, customer, since=since)
        due = calendar_for(org.holiday_region).add_business_days(on, REINSTATE_BUSINESS_DAYS)
        _task(org, customer.pk, "reinstate", f"reinstate:{customer.pk}:{since.isoformat()}", None, None, None,
              datetime.combine(due, time(12), ZoneInfo(org.timezone or "UTC")),
              f"{customer.name} paid everything overdue by the restore deadline ({cause}): contact them and "
              f"restart their service; {cancelled.note}.")
        profile.status_reason = f"restored after {cause}; reinstatement task for staff ({cancelled.note})"
    else:
        resumed = adapters.resume_paused(org, profile.suspension_pauses, on=on)
        profile.status_reason = f"suspension lifted after {cause}; {resumed.note}"
    customers_services.update_customer(customer, status=Customer.STATUS_ACTIVE)
    profile.suspended_at = None
    profile.terminated_at = None
    profile.restore_deadline = None
    profile.suspension_pauses = []
    profile.save(update_fields=["suspended_at", "terminated_at", "restore_deadline", "status_reason",
                                "suspension_pauses"])
    return profile.status_reason


def lift_cleared_suspensions(org: Organization, *, now: datetime) -> list[str]:
    """Restore the suspended (or recently terminated) customers whose overdue balance was cleared
    by something other than a payment: a credit note, customer credit, a void. One query finds
    the candidates; each restore is its own transaction."""
    candidates = list(Customer.objects.filter(organization=org).filter(
        Q(status=Customer.STATUS_SUSPENDED)
        | Q(status=Customer.STATUS_TERMINATED, collections_profile__restore_deadline__isnull=False))
        .values_list("pk", "timezone", "collections_profile__restore_deadline"))
    if not candidates:
        return []
    earliest = min(_local_date(now, tz) for _, tz, _ in candidates)
    still_overdue = set(Invoice.objects.filter(
        organization=org, customer_id__in=[c[0] for c in candidates], status__in=Invoice.OPEN_STATUSES,
        kind__in=snapshots.CHASED_KINDS, due_date__lt=earliest).exclude(disputes__status=Dispute.OPEN)
        .values_list("customer_id", flat=True))
    done = []
    for pk, tz, deadline in candidates:
        today = _local_date(now, tz)
        if pk in still_overdue or (deadline is not None and today > deadline):
            continue
        with transaction.atomic():
            outcome = restore_if_cleared(org, pk, on=today, cause="the overdue balance was cleared", now=now)
        if outcome:
            done.append(outcome)
    return done


# =====================================================================================================
# Undeliverable reminders (bounced or failed): a person phones instead
# =====================================================================================================
def message_undeliverable(sender=None, *, message, **kwargs) -> Task | None:
    """Receiver of :data:`duly.messaging.signals.message_undeliverable`: a reminder (or termination
    message) that bounced or failed becomes a phone task for staff, once per message
    (``bounce:<Message-ID>``), shown on the worklist. Other messages (thank-yous...) need no call."""
    if message.category not in ("dunning", "termination"):
        return None
    org = message.organization
    rows = msgs.contact_rows(message.customer)
    callee = next((c for c in rows if c.id == message.contact_id and c.phone), None) or next(
        (c for c in rows if c.phone and not c.opted_out), None)
    who = (f"{callee.name} ({callee.phone})" if callee is not None
           else f"{message.customer.name} (no phone number on file)")
    what = "bounced" if message.status == Message.BOUNCED else "could not be delivered"
    why = message.bounce_reason or message.last_error
    when = message.bounced_at or message.claimed_at or message.created_at
    reminder = Reminder.objects.filter(organization=org, message=message).first()
    with transaction.atomic():
        return _task(org, message.customer_id, "phone", f"bounce:{message.message_id}"[:255], reminder, callee,
                     message, when, f"Phone {who}: the e-mail \"{message.subject}\" to {message.to_email} {what}"
                                    f" ({why}). Check the address and tell them what is overdue.")


# =====================================================================================================
# Relationship messages: birthdays, contract anniversaries, special dates
# =====================================================================================================
GREETING_GRACE_DAYS = 3


@dataclass(frozen=True)
class _Occasion:
    customer_id: int
    kind: str
    key: str
    label: str
    month: int
    day: int
    years: int
    contact_id: int | None


# =====================================================================================================
# Issued invoices and credit notes, e-mailed once each with their PDF and attachments
# =====================================================================================================
INVOICE_DISPATCH_CHUNK = 500


def send_issued_invoices(org: Organization, *, now: datetime, dry_run: bool = False,
                         chunk_size: int = INVOICE_DISPATCH_CHUNK) -> list[str]:
    """E-mail every invoice and credit note issued by ``now`` that has not been sent yet.

    Each goes to the customer's accounts-payable (else billing, else owner) contact, in their
    language, with the exact due date, the amount, how to pay (IBAN and RF reference, the pay
    link), the late-payment terms, and its PDF and stored attachments (service reports,
    timesheets). It waits for the customer's sending window like every message. Each invoice is
    recorded once (:class:`InvoiceDispatch`, unique per invoice) in the same transaction as its
    outbox message, so a rerun or a second run at once sends nothing twice, and a crash loses none.
    An invoice nobody can receive by e-mail is recorded with the reason; with invoice e-mails turned
    off (``CollectionsSettings.email_invoices``) invoices are recorded as not e-mailed, so turning
    them on later does not send old invoices. A customer gets one e-mail per run: the first new
    invoice, with the others listed and attached (a credit note goes on its own); a new invoice
    that a reminder of the run carried is already recorded with it. An invoice recorded in Duly
    after its due date (receivables brought over from another system) is not e-mailed on its own:
    its first overdue reminder carries it. Invoice e-mails count in the customer's contact budget but
    never wait for it. Returns one line per invoice.
    """
    from duly.invoicing.models import Attachment, InvoiceLine
    from duly.messaging import attachments

    pending = (Invoice.objects.filter(organization=org, dispatch__isnull=True, issued_at__lte=now)
               .exclude(status=Invoice.DRAFT).values_list("pk", flat=True).order_by("pk"))
    ids = list(pending)
    if not ids:
        return []
    settings_row = CollectionsSettings.objects.filter(organization=org).first()
    enabled = settings_row.email_invoices if settings_row is not None else True
    conf = _settings_of(org)
    single = msgs.SingleMessages(org, renderer_for(org))
    done: list[str] = []
    for chunk in snapshots.chunks(ids, chunk_size):
        invoices = list(Invoice.objects.filter(pk__in=chunk).select_related("customer", "contract",
                                                                            "related_invoice").order_by("pk"))
        contacts: dict[int, list[snapshots.ContactRow]] = {}
        for row in Contact.objects.filter(customer_id__in={i.customer_id for i in invoices}).order_by("pk") \
                .values_list("pk", "customer_id", "name", "email", "phone", "role", "locale", "opted_out"):
            contacts.setdefault(row[1], []).append(snapshots.ContactRow(*row))
        lines: dict[int, list[Any]] = {}
        for line in InvoiceLine.objects.filter(invoice_id__in=chunk).order_by("invoice_id", "position", "id"):
            lines.setdefault(line.invoice_id, []).append(line)
        names: dict[int, list[str]] = {}
        for invoice_id, filename in Attachment.objects.filter(invoice_id__in=chunk).order_by(
                "invoice_id", "filename").values_list("invoice_id", "filename"):
            names.setdefault(invoice_id, []).append(filename)
        refs = attachments.invoice_refs_each(chunk)
        rates = customers_services.reference_rates_for_contracts([i.contract for i in invoices if i.contract_id])
        by_customer: dict[int, list[Invoice]] = {}
        for invoice in invoices:
            by_customer.setdefault(invoice.customer_id, []).append(invoice)
        for docs in by_customer.values():
            customer = docs[0].customer
            addressee = msgs.pick_contact(contacts.get(customer.pk, []), respect_opt_out=False)
            today = _local_date(now, customer.timezone)
            notes = {invoice.pk: _dispatch_note(invoice, customer, enabled, addressee, today) for invoice in docs}
            for invoice in docs:
                note = notes[invoice.pk]
                if note:
                    done.append(f"{invoice.number}: {note}")
                    log.info("invoice %s %s", invoice.number, note)
                    if not dry_run:
                        InvoiceDispatch.objects.get_or_create(invoice=invoice, defaults=dict(
                            organization=org, note=note, created_at=now))
            # One e-mail per customer and run: the first invoice, with the others listed and attached
            # (each credit note goes on its own: it corrects one invoice).
            sendable = [i for i in docs if not notes[i.pk]]
            groups = [[i] for i in sendable if i.is_credit_note]
            bundle = [i for i in sendable if not i.is_credit_note]
            if bundle:
                groups.append(bundle)
            for group in groups:
                first = group[0]
                done += [f"{invoice.number} → {addressee.email}" for invoice in group]
                if dry_run:
                    continue
                try:
                    with transaction.atomic():
                        rendered = single.invoice_issued(
                            first, addressee, lines=lines.get(first.pk, []),
                            attachment_names=[n for i in group for n in names.get(i.pk, [])],
                            late_policy=invoicing.late_policy_for(first, rates), today=today, others=group[1:])
                        message, _ = queue_message(
                            org, customer=customer, contact=addressee.contact.id if addressee.contact else None,
                            category="invoice", template="invoice_issued", language=_language(customer, addressee),
                            rendered=rendered, to_email=addressee.email, to_name=addressee.name,
                            idempotency_key=f"invoice:{first.pk}", now=now,
                            attachments=[ref for i in group for ref in refs.get(i.pk, [])],
                            invoice_ids=[i.pk for i in group], fallback_note=addressee.fallback_note,
                            window=customer_window(org, customer, conf))
                        for invoice in group:
                            InvoiceDispatch.objects.create(organization=org, invoice=invoice, message=message,
                                                           note=addressee.fallback_note, created_at=now)
                except IntegrityError:
                    done[-1] += " (already sent by a concurrent run)"
    return done


def _dispatch_note(invoice: Invoice, customer: Customer, enabled: bool, addressee, today: date) -> str:
    """Why this invoice is not e-mailed on its own (empty: it is)."""
    if invoice.status == Invoice.VOID:
        return "not e-mailed: voided before it was sent"
    if not enabled:
        return "not e-mailed: invoice e-mails are turned off in the collections settings"
    if addressee is None:
        return f"not e-mailed: no contact of {customer.name} has an e-mail address"
    recorded = _local_date(invoice.issued_at, customer.timezone) if invoice.issued_at else today
    if not invoice.is_credit_note and invoice.due_date is not None and invoice.due_date < recorded:
        # Receivables brought over from another system, recorded in Duly after their due date: the customer
        # has them, and the first overdue reminder carries each open one's PDF.
        if invoice.status in Invoice.OPEN_STATUSES:
            return "not e-mailed on its own: already past due when recorded; its reminders carry it"
        return "not e-mailed: already past due and settled when recorded"
    return ""


def send_greetings(org: Organization, *, now: datetime, dry_run: bool = False,
                   rc: snapshots.RunContext | None = None, held: list[str] | None = None) -> list[str]:
    """Queue today's greetings: contacts' birthdays, contract anniversaries, customers' special dates.

    A greeting goes out on the occasion (or within 3 days when that day is not a business day), on
    a business day inside the sending window, to a contact who has not opted out, and only when
    the customer's contact budget allows one more message (reminders, invoice e-mails, notices and
    greetings all count). It waits while the customer is suspended or terminated, has a query open
    or an invoice at a final step (:func:`duly.domain.dunning.contact_hold`); ``held`` collects why.
    Once per contact, occasion and year.
    """
    now = _aware(now)
    rc = rc or snapshots.RunContext.load(org)
    if not rc.greetings_enabled:
        return []
    # Candidate days around the UTC date (customers' local dates differ by at most a day); the
    # domain's greeting_day then decides on each customer's own local date.
    days = [now.astimezone(dt_timezone.utc).date() + timedelta(days=d) for d in range(-GREETING_GRACE_DAYS - 1, 2)]

    def on_days(field: str) -> Q:
        """``field`` falls (month and day) on one of ``days``, whatever the year."""
        match = Q()
        for d in days:
            match |= Q(**{f"{field}__month": d.month, f"{field}__day": d.day})
        return match

    occasions: list[_Occasion] = []
    for pk, cid, name, born in (Contact.objects.filter(on_days("birthday"), organization=org, opted_out=False)
                                .exclude(email="").values_list("pk", "customer_id", "name", "birthday")):
        occasions.append(_Occasion(cid, "birthday", f"birthday:{pk}", name, born.month, born.day, 0, pk))
    for pk, cid, start, ref in (Contract.objects.filter(on_days("start_date"), organization=org,
                                                        start_date__year__lt=now.year)
                                .exclude(end_date__lt=now.date()).values_list("pk", "customer_id", "start_date",
                                                                              "reference")):
        occasions.append(_Occasion(cid, "anniversary", f"anniversary:{pk}", ref, start.month, start.day,
                                   start.year, None))
    for pk, cid, label, on in SpecialDate.objects.filter(on_days("date"), organization=org).values_list(
            "pk", "customer_id", "label", "date"):
        occasions.append(_Occasion(cid, "special", f"special:{pk}", label, on.month, on.day, 0, None))
    if not occasions:
        return []
    accounts = {a.customer.id: a for a in snapshots.gather(rc, sorted({o.customer_id for o in occasions}), now)}
    keys = [f"{o.key}:{year}" for o in occasions for year in (now.year - 1, now.year, now.year + 1)]
    already = set(Greeting.objects.filter(organization=org, key__in=keys).values_list("key", flat=True))
    single = None if dry_run else msgs.SingleMessages(org, renderer_for(org))
    done: list[str] = []
    for occ in occasions:
        account = accounts.get(occ.customer_id)
        if account is None or account.customer.status != Customer.STATUS_ACTIVE:
            continue
        local = now.astimezone(ZoneInfo(account.snapshot.timezone))
        on = dunning.greeting_day(occ.month, occ.day, local.date(), GREETING_GRACE_DAYS)
        if on is None or account_window(account).next_slot(now) != now:
            continue  # not its day, or not a business day inside the customer's window
        key = f"{occ.key}:{on.year}"
        if key in already:
            continue
        snap = account.snapshot
        why = dunning.contact_hold(snap, account.policy)
        if why is None and not dunning.fatigue_allows([*(r.sent_at for r in snap.reminders), *snap.other_messages],
                                                      account.policy.fatigue, now):
            why = "the contact budget is spent (contact-fatigue limits)"
        if why is not None:
            if held is not None:
                held.append(f"{account.customer.code}: {occ.kind} {occ.label} waits: {why}")
            continue
        if occ.contact_id is not None:
            contact = account.contacts.get(occ.contact_id)
            addressee = (msgs.Addressee(contact, contact.name, contact.email)
                         if contact is not None and contact.email and not contact.opted_out else None)
        else:
            addressee = msgs.pick_contact(account.contacts.values(), respect_opt_out=True)
        if addressee is None:
            continue
        done.append(f"{account.customer.code}: {occ.kind} {occ.label} ({on.isoformat()}) → {addressee.name}")
        if dry_run:
            continue
        assert single is not None
        years = on.year - occ.years if occ.kind == "anniversary" else 0
        rendered = single.greeting(_customer_obj(account.customer.id), addressee, kind=occ.kind, label=occ.label,
                                   years=years, on=on, today=local.date())
        _queue_greeting(org, account, occ, key, addressee, rendered, now)
    return done


def _customer_obj(customer_id: int) -> Customer:
    return Customer.objects.get(pk=customer_id)


@transaction.atomic
def _queue_greeting(org, account, occ: _Occasion, key: str, addressee: msgs.Addressee, rendered, now) -> None:
    greeting, created = Greeting.objects.get_or_create(
        organization=org, key=key,
        defaults=dict(customer_id=account.customer.id, contact_id=addressee.contact.id if addressee.contact else None,
                      kind=occ.kind, sent_at=now),
    )
    if not created:
        return
    greeting.message, _ = queue_message(
        org, customer=account.customer.id, contact=addressee.contact.id if addressee.contact else None,
        category="relationship", template=f"greeting_{occ.kind}",
        language=_language(account.customer, addressee), rendered=rendered, to_email=addressee.email,
        to_name=addressee.name, idempotency_key=f"greeting:{key}", now=now, fallback_note=addressee.fallback_note,
        window=account_window(account),
    )
    greeting.save(update_fields=["message"])


# =====================================================================================================
# Price-change notices queued by billing
# =====================================================================================================
def deliver_price_notices(org: Organization, *, now: datetime, dry_run: bool = False,
                          rc: snapshots.RunContext | None = None, held: list[str] | None = None) -> list[str]:
    """Render and queue the price-change notices billing queued for today or earlier.

    Billing queues one :class:`~duly.billing.models.PriceChangeNotice` per price change and customer
    (:func:`duly.billing.services.pending_price_notices`). Here it becomes a personal message in
    the customer's language: the price per period for their current quantity before and after,
    the effective date and billing's justification. Each notice is queued once
    (``price-notice:<id>``) and marked sent in billing in the same transaction.

    A notice is due on a day: it is not put off for the contact budget (it counts in it), but it
    waits while the customer is suspended or terminated, has a query open or an invoice at a
    final step (:func:`duly.domain.dunning.contact_hold`; ``held`` collects why). The billing run
    keeps the old price until a notice was sent the full notice period before.
    """
    from duly.billing.models import PriceChange, SubscriptionItem
    from duly.billing.services import mark_price_notice_sent, pending_price_notices
    from duly.domain.pricing import model_from_config

    # Every customer's local date is at most one day ahead of UTC; each notice is checked against its own.
    notices = pending_price_notices(org, now.astimezone(dt_timezone.utc).date() + timedelta(days=1))
    notices = [n for n in notices if n.send_on <= _local_date(now, n.customer.timezone)]
    if not notices:
        return []
    rc = rc or snapshots.RunContext.load(org)
    accounts = {a.customer.id: a for a in snapshots.gather(rc, sorted({n.customer_id for n in notices}), now)}
    waiting = []
    for notice in notices:
        account = accounts.get(notice.customer_id)
        why = dunning.contact_hold(account.snapshot, account.policy) if account is not None else (
            None if notice.customer.status == Customer.STATUS_ACTIVE else f"the customer is {notice.customer.status}")
        if why is not None:
            waiting.append(notice)
            if held is not None:
                held.append(f"{notice.customer.code}: price notice of {notice.price_change.effective_date.isoformat()}"
                            f" waits: {why}")
    notices = [n for n in notices if n not in waiting]
    if not notices:
        return []
    conf = _settings_of(org)
    quantities: dict[tuple[int, int], Decimal] = {}
    for cid, price_id, qty in SubscriptionItem.objects.filter(
            organization=org, subscription__customer_id__in={n.customer_id for n in notices},
            price_id__in={n.price_change.price_id for n in notices}, subscription__status="active").values_list(
            "subscription__customer_id", "price_id", "quantity"):
        quantities[(cid, price_id)] = quantities.get((cid, price_id), Decimal(0)) + qty
    earlier: dict[int, list[PriceChange]] = {}
    for change in PriceChange.objects.filter(organization=org, price_id__in={n.price_change.price_id
                                                                              for n in notices}).order_by(
            "effective_date", "id"):
        earlier.setdefault(change.price_id, []).append(change)
    single = msgs.SingleMessages(org, renderer_for(org))
    done: list[str] = []
    for notice in notices:
        change, customer = notice.price_change, notice.customer
        price = change.price
        before = [c for c in earlier.get(price.pk, []) if c.effective_date < change.effective_date
                  and c.subscription_id in (None, change.subscription_id) and c.pk != change.pk]
        old_config = before[-1].new_model_config if before else price.model_config
        qty = quantities.get((customer.pk, price.pk)) or Decimal(1)
        old = model_from_config(old_config).charge(qty, price.currency).amount
        new = model_from_config(change.new_model_config).charge(qty, price.currency).amount
        addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
        if addressee is None:
            log.warning("price notice %s: no contact of %s has an e-mail address", notice.pk, customer)
            continue
        product = Product.objects.filter(pk=price.product_id).values_list("name", flat=True).first() or price.code
        today = _local_date(now, customer.timezone)
        # Sent late (it waited for a query, a final step...): billing applies the new price only to periods
        # starting the full notice period after today, and the notice says so.
        effective = max(change.effective_date, today + timedelta(days=change.notice_days))
        done.append(f"{customer.code}: {product} {old} → {new} {price.currency} from {effective.isoformat()}")
        if dry_run:
            continue
        rendered = single.price_notice(
            customer, addressee, product=product, old_minor=to_minor(old, price.currency),
            new_minor=to_minor(new, price.currency), currency=price.currency, effective=effective,
            justification=change.justification, subscription="", today=today)
        with transaction.atomic():
            queue_message(org, customer=customer, contact=addressee.contact.id if addressee.contact else None,
                          category="notice", template="price_increase", language=_language(customer, addressee),
                          rendered=rendered, to_email=addressee.email, to_name=addressee.name,
                          idempotency_key=f"price-notice:{notice.pk}", now=now, fallback_note=addressee.fallback_note,
                          window=customer_window(org, customer, conf))
            mark_price_notice_sent(org, notice.pk, sent_at=now)
    return done


# =====================================================================================================
# Tasks
# =====================================================================================================
@transaction.atomic
def complete_task(org: Organization, task_id: int, *, now: datetime) -> Task:
    task = Task.objects.select_for_update().filter(organization=org, pk=task_id).first()
    if task is None:
        raise NotFound(f"Task {task_id} not found in {org.name}.")
    if task.done_at is None:
        task.done_at = now
        task.save(update_fields=["done_at"])
    return task
