"""Autopay: charge each open invoice falling due on the customer's default saved method, once, and retry soft declines.

Every charge is a :class:`~.models.ChargeAttempt` written (pending) and committed *before* the provider is called,
with the idempotency key ``autopay:<invoice id>:<attempt>``. Its result is then recorded in a second transaction:

- succeeded: the payment, with :func:`~.webhook_services.record_charge` (idempotent on the provider's charge id, so
  the charge's webhook arriving too records nothing more);
- declined: ``failed``, with the decline's category (``duly.domain.retries``); a soft decline gets its next retry
  date from :func:`duly.domain.retries.decide` on the customer's business days, a hard one is never retried;
- :class:`ProviderUnavailable` (the outcome is unknown): ``unknown``, left to :func:`recover_attempts`.

Charges go a batch at a time (:data:`BATCH`): the batch's attempts are committed together before its first charge,
then its answers are recorded together (successes in bulk through
:func:`~.services.record_invoice_payments`), which keeps SQLite's write-ahead log small (fewer checkpoints) and the
queries per charge few. A crash between the charge and its recording leaves the attempt ``pending``: :func:`recover_attempts` asks the
provider what became of it by its idempotency key (never by charging again blindly) and records it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone as dj_timezone

from duly.customers.models import Organization
from duly.db import partition as partitions
from duly.db.fastpath import ids_in
from duly.domain.calendar import HolidayCalendar
from duly.domain.errors import DomainError, ProviderError, ProviderUnavailable
from duly.domain.retries import CARD_SCHEDULE, SEPA_SCHEDULE, Action, Attempt, Fault, SendWindow, classify, decide
from duly.invoicing.models import PAYABLE_MINOR, Invoice

from .models import ChargeAttempt, SavedPaymentMethod
from .providers import registry
from .providers.base import ChargeResult, ChargeStatus, PaymentRequest, Provider
from .signals import charge_failed
from .webhook_services import INVOICE_METADATA, ORGANIZATION_METADATA, record_charge, record_charges

__all__ = ["AutopayReport", "RecoveryReport", "autopay_key", "recover_attempts", "run_autopay"]

log = logging.getLogger(__name__)

#: What an attempt answered by the provider as "requires action" (off-session 3-D Secure) is recorded as.
AUTHENTICATION_REQUIRED = "authentication_required"


def autopay_key(invoice_id: int, attempt: int) -> str:
    return f"autopay:{invoice_id}:{attempt}"


@dataclass
class AutopayReport:
    as_of: date
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    retries_scheduled: int = 0
    unknown: int = 0
    pending: int = 0
    #: Invoices falling due whose customer has no default saved method (or whose contract prefers another way).
    skipped: int = 0
    #: Invoices whose charge day (or retry day) is older than the catch-up window: not charged, for staff.
    too_old: int = 0
    charged_minor: dict[str, int] | None = None

    def add(self, status: str, attempt: ChargeAttempt) -> None:
        self.attempted += 1
        if status == ChargeAttempt.SUCCEEDED:
            self.succeeded += 1
            charged = self.charged_minor if self.charged_minor is not None else {}
            charged[attempt.currency] = charged.get(attempt.currency, 0) + attempt.amount_minor
            self.charged_minor = charged
        elif status == ChargeAttempt.FAILED:
            self.failed += 1
            self.retries_scheduled += attempt.next_retry_on is not None
        elif status == ChargeAttempt.UNKNOWN:
            self.unknown += 1
        else:
            self.pending += 1

    def summary(self) -> str:
        return (f"Autopay {self.as_of.isoformat()}: {self.attempted} charged, {self.succeeded} succeeded, "
                f"{self.failed} declined ({self.retries_scheduled} retries scheduled), {self.unknown} unknown, "
                f"{self.pending} pending, {self.skipped} without a saved method"
                + (f", {self.too_old} too old to charge automatically (over {CATCH_UP_DAYS} days late: charge them "
                   "by hand)" if self.too_old else ""))


@dataclass
class RecoveryReport:
    checked: int = 0
    succeeded: int = 0
    failed: int = 0
    #: Never received by the provider: charged again with the same key.
    recharged: int = 0
    #: The provider still cannot say (unavailable) or the charge is still processing.
    unresolved: int = 0

    def summary(self) -> str:
        return (f"recovered {self.checked} attempts: {self.succeeded} succeeded, {self.failed} failed, "
                f"{self.recharged} charged again, {self.unresolved} unresolved")


class _Providers:
    """The provider of each saved method's code, built once per run (or the one the caller gave)."""

    def __init__(self, given: Provider | None) -> None:
        self.given = given
        self.built: dict[str, Provider] = {}

    def __call__(self, code: str) -> Provider:
        if self.given is not None:
            return self.given
        if code not in self.built:
            self.built[code] = registry.get(code)
        return self.built[code]


def _request(attempt: ChargeAttempt, invoice: Invoice, method: SavedPaymentMethod) -> PaymentRequest:
    return PaymentRequest(attempt.amount_minor, attempt.currency, attempt.idempotency_key, method.customer_ref,
                          method.method_ref, description=f"Invoice {invoice.number or invoice.pk}",
                          metadata={INVOICE_METADATA: str(invoice.pk),
                                    ORGANIZATION_METADATA: str(invoice.organization_id)})


def _rail(method: SavedPaymentMethod) -> str:
    return "sepa" if method.kind == "sepa_debit" else "card"


def _payment_method(method: SavedPaymentMethod) -> str:
    return "sepa_debit" if method.kind == "sepa_debit" else "card"


class _Unknown:
    """The provider could not say what became of a charge (outage): the attempt is ``unknown``."""


class _Refused:
    """The provider refused the request before charging (a bad request): failed, for staff, never retried."""

    def __init__(self, code: str) -> None:
        self.code = code


Answer = ChargeResult | _Unknown | _Refused


def _start(org: Organization, invoice: Invoice, number: int, method: SavedPaymentMethod,
           as_of: date) -> ChargeAttempt | None:
    """The attempt row, committed before any charge; None when another run made it already."""
    with transaction.atomic():
        attempt, created = ChargeAttempt.objects.get_or_create(
            invoice=invoice, attempt=number,
            defaults={"organization": org, "provider": method.provider, "method": method,
                      "amount_minor": invoice.balance_minor, "currency": invoice.currency,
                      "idempotency_key": autopay_key(invoice.pk, number), "attempted_on": as_of})
    return attempt if created else None


def _start_batch(org: Organization, jobs: list["_Job"], as_of: date) -> list[tuple[ChargeAttempt, Invoice]]:
    """The attempt rows of ``jobs``, written and committed together before any of them is charged; the ones
    another run made already (or whose invoice was settled meanwhile) are left out."""
    invoices = Invoice.objects.in_bulk([j.invoice_id for j in jobs])
    wanted = [(j, invoices[j.invoice_id]) for j in jobs
              if j.invoice_id in invoices and invoices[j.invoice_id].is_open and invoices[j.invoice_id].balance_minor > 0]
    rows = [ChargeAttempt(organization=org, invoice=inv, attempt=j.number, provider=j.method.provider, method=j.method,
                          amount_minor=inv.balance_minor, currency=inv.currency,
                          idempotency_key=autopay_key(inv.pk, j.number), attempted_on=as_of) for j, inv in wanted]
    try:
        with transaction.atomic():
            taken = set(ChargeAttempt.objects.filter(invoice_id__in=[inv.pk for _, inv in wanted])
                        .values_list("invoice_id", "attempt"))
            rows = [r for r in rows if (r.invoice_id, r.attempt) not in taken]
            ChargeAttempt.objects.bulk_create(rows)
    except IntegrityError:  # another run started some of them meanwhile: one at a time, each once
        started = [(_start(org, inv, j.number, j.method, as_of), inv) for j, inv in wanted]
        return [(a, inv) for a, inv in started if a is not None]
    return [(r, invoices[r.invoice_id]) for r in rows]


def _ask(attempt: ChargeAttempt, invoice: Invoice, provider: Provider) -> Answer:
    """Charge the attempt with its idempotency key: the provider's answer."""
    try:
        return provider.charge(_request(attempt, invoice, attempt.method))
    except ProviderUnavailable as err:
        log.warning("autopay %s: outcome unknown (%s)", attempt.idempotency_key, err.message)
        return _Unknown()
    except ProviderError as err:
        return _Refused((err.code or "provider_error")[:100])


def _charge(org: Organization, attempt: ChargeAttempt, invoice: Invoice, provider: Provider, as_of: date) -> str:
    """Charge one attempt and record the answer (its own transaction); the attempt's status afterwards."""
    return _record_batch(org, [(attempt, _ask(attempt, invoice, provider))], as_of)[0]


def _mark(attempt: ChargeAttempt, status: str, *, code: str = "", category: str = "") -> str:
    with transaction.atomic():
        row = ChargeAttempt.objects.select_for_update().get(pk=attempt.pk)
        if row.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
            return row.status
        row.status, row.decline_code, row.decline_category = status, code, category
        if status == ChargeAttempt.FAILED:
            row.finished_at = dj_timezone.now()
        row.save(update_fields=["status", "decline_code", "decline_category", "finished_at"])
    attempt.status = status
    return status


def _record(org: Organization, attempt: ChargeAttempt, result: ChargeResult, as_of: date) -> str:
    """Record a charge's answer on its attempt (and the payment when it succeeded), once."""
    return _record_batch(org, [(attempt, result)], as_of)[0]


def _record_batch(org: Organization, answers: list[tuple[ChargeAttempt, Answer]], as_of: date) -> list[str]:
    """Record the answers of several charges in one transaction (a savepoint each), each once: the payment of
    a success (through the payments services), a decline with its category and retry day. The status of each
    attempt afterwards, in order."""
    statuses: list[str] = []
    now = dj_timezone.now()
    with transaction.atomic():
        rows = (ChargeAttempt.objects.select_for_update().select_related("invoice__customer", "method")
                .in_bulk([a.pk for a, _ in answers]))
        paid = []
        for attempt, answer in answers:
            row = rows[attempt.pk]
            if row.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
                continue
            if isinstance(answer, ChargeResult) and answer.succeeded:
                paid.append((row, answer))
            else:
                with transaction.atomic():
                    _apply(org, row, answer, as_of, now)
        if paid:  # the payments, in bulk through the payments services, then their attempts
            record_charges(org, [(row.invoice_id, result, _payment_method(row.method), as_of) for row, result in paid])
            for row, result in paid:
                row.status, row.provider_ref, row.finished_at = (ChargeAttempt.SUCCEEDED,
                                                                 (result.charge_ref or "")[:255], now)
            ChargeAttempt.objects.filter(pk__in=[row.pk for row, _ in paid]).update(status=ChargeAttempt.SUCCEEDED,
                                                                                    finished_at=now)
            ChargeAttempt.objects.bulk_update([row for row, _ in paid], ["provider_ref"])
        for attempt, _ in answers:
            row = rows[attempt.pk]
            attempt.status, attempt.next_retry_on = row.status, row.next_retry_on
            attempt.decline_code, attempt.decline_category = row.decline_code, row.decline_category
            statuses.append(row.status)
    return statuses


def _apply(org: Organization, row: ChargeAttempt, answer: Answer, as_of: date, now: datetime) -> None:
    """Write one answer on its (locked) attempt row."""
    fields = ["status", "decline_code", "decline_category", "finished_at"]
    action = ""
    decline = None
    if isinstance(answer, _Unknown):
        row.status = ChargeAttempt.UNKNOWN
    elif isinstance(answer, _Refused):
        row.status, row.decline_code, row.decline_category = ChargeAttempt.FAILED, answer.code, "hard"
        action = "review"
    else:
        result = answer
        row.provider_ref = (result.charge_ref or "")[:255]
        fields += ["provider_ref", "next_retry_on"]
        if result.succeeded:
            record_charge(org, row.invoice_id, result, received_on=as_of, method=_payment_method(row.method))
            row.status = ChargeAttempt.SUCCEEDED
        elif result.status is ChargeStatus.PENDING:
            row.status = ChargeAttempt.PENDING  # processing: its webhook records it, recovery looks again
        elif result.status is ChargeStatus.REQUIRES_ACTION or (
                result.decline is not None and result.decline.code == AUTHENTICATION_REQUIRED):
            # 3-D Secure: not a decline. The customer is asked to confirm the payment on session; the attempt waits
            # (pending) for the provider's webhook to say it succeeded or failed.
            row.status, row.decline_code, row.decline_category = ChargeAttempt.PENDING, AUTHENTICATION_REQUIRED, ""
            action = "authenticate"
        else:
            rail = _rail(row.method)
            code = result.decline.code if result.decline is not None else "generic_decline"
            decline = classify(rail, code)
            row.status, row.decline_code, row.decline_category = (ChargeAttempt.FAILED, code[:100],
                                                                  decline.category.value)
            row.next_retry_on = _next_retry(row, as_of) if not decline.hard else None
            action = ("retry" if row.next_retry_on is not None else "final" if not decline.hard
                      else "new_method" if decline.fault is Fault.CUSTOMER else "review")
    if row.status == ChargeAttempt.FAILED:
        row.finished_at = now
    elif row.status == ChargeAttempt.SUCCEEDED:
        row.finished_at = now
    row.save(update_fields=fields)
    if action:
        charge_failed.send(sender=ChargeAttempt, attempt=row, action=action, decline=decline)


def _next_retry(row: ChargeAttempt, as_of: date) -> date | None:
    """The day of the next attempt after the soft decline ``row`` (the domain's schedule), or None."""
    customer = row.invoice.customer
    try:
        window = SendWindow(customer.timezone or "UTC")
        calendar = HolidayCalendar(customer.country, customer.subdivision or None)
        earlier = ChargeAttempt.objects.filter(invoice_id=row.invoice_id, attempt__lt=row.attempt).order_by("attempt")
        outcome = {ChargeAttempt.SUCCEEDED: "succeeded", ChargeAttempt.FAILED: "failed"}
        attempts = [Attempt(_moment(a.attempted_on, window), outcome.get(a.status, "pending"), a.decline_code or None)
                    for a in earlier]
        attempts.append(Attempt(_moment(row.attempted_on, window), "failed", row.decline_code))
        schedule = SEPA_SCHEDULE if row.method.kind == "sepa_debit" else CARD_SCHEDULE
        decision = decide(attempts, schedule=schedule, as_of=max(_moment(as_of, window), attempts[-1].at),
                          calendar=calendar, window=window)
    except DomainError as err:
        log.warning("autopay %s: no retry scheduled (%s)", row.idempotency_key, err.message)
        return None
    if decision.action is not Action.RETRY or decision.retry_at is None:
        return None
    return window.local_date(decision.retry_at)


def _moment(day: date, window: SendWindow) -> datetime:
    """An attempt made on ``day`` counts from the start of the customer's window that day."""
    return window.bounds(day)[0]


#: A run charges what fell to be charged on a day no run happened (the scheduler was down, the server was off) for
#: this many days back, once. An older charge day is not charged silently: the invoice is counted ``too_old`` in
#: the report (and logged) for staff to charge by hand or ask the customer; chasing goes on as for any invoice.
CATCH_UP_DAYS = 7

#: The longest ``Contract.autopay_days_before_due`` allows (its validator): how far ahead a run looks.
MAX_DAYS_BEFORE_DUE = 60

#: How many charges are started (their attempts committed together) and then recorded together. 500 rather than
#: 100: each commit rewrites the hot pages of the tables and indexes into SQLite's WAL, and fewer commits mean fewer
#: checkpoints (bench/autopay.py, 3,000 charges: 222/s with 100, 497/s with 500). A crash leaves at most a batch
#: pending, which recovery settles by idempotency key.
BATCH = 500

#: What a contract may prefer for autopay to charge a saved method (blank: the customer's default method).
_AUTOMATIC = {"", "card", "sepa_debit"}


def charge_day(due: date, issued: date | None, days_before: int | None) -> date:
    """The day autopay charges an invoice due on ``due``: ``days_before`` days earlier (the contract's
    ``autopay_days_before_due``; 0 or None: on the due date), never before the invoice was issued."""
    day = due - timedelta(days=days_before or 0)
    return max(day, issued) if issued is not None and issued <= due else day


@dataclass
class _Job:
    invoice_id: int
    number: int
    method: SavedPaymentMethod


def _due_jobs(org: Organization, as_of: date, defaults: dict[int, SavedPaymentMethod],
              report: AutopayReport, partition: tuple[int, int] | None = None) -> list[_Job]:
    """First attempts: open invoices never attempted whose charge day is in the catch-up window ending ``as_of``."""
    oldest = as_of - timedelta(days=CATCH_UP_DAYS)
    jobs: list[_Job] = []
    rows = (partitions.filter_queryset(Invoice.objects.filter(
                organization=org, status__in=Invoice.OPEN_STATUSES, due_date__isnull=False,
                due_date__lte=as_of + timedelta(days=MAX_DAYS_BEFORE_DUE), charge_attempts__isnull=True), partition)
            .exclude(kind=Invoice.KIND_CREDIT_NOTE)
            .values_list("pk", "customer_id", "due_date", "issue_date", "contract__autopay_days_before_due",
                         "contract__preferred_payment_method", PAYABLE_MINOR, "paid_minor")
            .order_by("pk"))
    for pk, customer_id, due, issued, days_before, preferred, payable, paid in rows:
        day = charge_day(due, issued, days_before)
        if day > as_of:
            continue
        method = defaults.get(customer_id)
        if day < oldest:
            if method is not None and (preferred or "") in _AUTOMATIC:
                report.too_old += 1
            continue
        if method is None:
            report.skipped += 1
            continue
        if (preferred or "") not in _AUTOMATIC or (preferred and preferred != _payment_method(method)):
            report.skipped += 1  # the contract says this invoice is paid another way
            continue
        if payable - paid <= 0:
            continue
        jobs.append(_Job(pk, 1, method))
    return jobs


def _retry_jobs(org: Organization, as_of: date, defaults: dict[int, SavedPaymentMethod],
                report: AutopayReport, partition: tuple[int, int] | None = None) -> list[_Job]:
    """Retries: the last attempt of an open invoice failed softly and its retry day is in the catch-up window."""
    oldest = as_of - timedelta(days=CATCH_UP_DAYS)
    waiting = set(partitions.filter_queryset(ChargeAttempt.objects.filter(
        organization=org, status=ChargeAttempt.FAILED, next_retry_on__lte=as_of,
        invoice__status__in=Invoice.OPEN_STATUSES), partition, "invoice__customer_id").values_list("invoice_id", flat=True))
    latest: dict[int, tuple[int, str, date | None]] = {}
    customers: dict[int, int] = {}
    for invoice_id, number, status, retry_on, customer_id in ChargeAttempt.objects.filter(
            invoice_id__in=waiting).values_list("invoice_id", "attempt", "status", "next_retry_on",
                                                "invoice__customer_id"):
        if invoice_id not in latest or number > latest[invoice_id][0]:
            latest[invoice_id] = (number, status, retry_on)
            customers[invoice_id] = customer_id
    jobs: list[_Job] = []
    for invoice_id in sorted(latest, key=lambda i: (latest[i][2] or as_of, i)):
        number, status, retry_on = latest[invoice_id]
        if status != ChargeAttempt.FAILED or retry_on is None or retry_on > as_of:
            continue
        method = defaults.get(customers[invoice_id])
        if retry_on < oldest:
            report.too_old += method is not None
            continue
        if method is None:
            report.skipped += 1
            continue
        jobs.append(_Job(invoice_id, number + 1, method))
    return jobs


def _run_batch(org: Organization, jobs: list[_Job], providers: _Providers, as_of: date,
               report: AutopayReport) -> None:
    """Start the attempts of ``jobs`` (committed), charge each, then record the answers together."""
    started = _start_batch(org, jobs, as_of)
    answers = [(attempt, _ask(attempt, invoice, providers(attempt.provider))) for attempt, invoice in started]
    if answers:
        for (attempt, _), status in zip(answers, _record_batch(org, answers, as_of)):
            report.add(status, attempt)


def run_autopay(org: Organization, as_of: date, *, provider: Provider | None = None,
                partition: tuple[int, int] | None = None) -> AutopayReport:
    """Charge, on the customer's default saved method, every open invoice of ``org`` whose charge day (its due
    date, or ``Contract.autopay_days_before_due`` days before it) is ``as_of`` or one of the
    :data:`CATCH_UP_DAYS` days before it that no run covered, and every retry due by then. Running it again
    charges nothing more. ``partition``: only that partition's customers (:mod:`duly.db.partition`)."""
    providers = _Providers(provider)
    report = AutopayReport(as_of)
    defaults = {m.customer_id: m for m in SavedPaymentMethod.objects.filter(organization=org, is_default=True)
                .order_by("created_at", "pk")}
    jobs = _due_jobs(org, as_of, defaults, report, partition) + _retry_jobs(org, as_of, defaults, report, partition)
    for start in range(0, len(jobs), BATCH):
        _run_batch(org, jobs[start:start + BATCH], providers, as_of, report)
    if report.too_old:
        log.warning("autopay %s %s: %s invoices were due to be charged more than %s days ago and were not "
                    "charged", org.slug, as_of.isoformat(), report.too_old, CATCH_UP_DAYS)
    return report


def recover_attempts(org: Organization, as_of: date, *, provider: Provider | None = None,
                     partition: tuple[int, int] | None = None) -> RecoveryReport:
    """Settle the attempts of ``org`` left pending or unknown (a crash or an outage between a charge and its
    recording): ask the provider by idempotency key; record a charge it made once, a decline as a decline, and
    charge again (with the same key) one it never received."""
    providers = _Providers(provider)
    report = RecoveryReport()
    open_ = (partitions.filter_queryset(ChargeAttempt.objects.filter(
        organization=org, status__in=(ChargeAttempt.PENDING, ChargeAttempt.UNKNOWN)), partition, "invoice__customer_id")
             .select_related("invoice", "method").order_by("pk"))
    for attempt in open_:
        report.checked += 1
        invoice, prov = attempt.invoice, providers(attempt.provider)
        waiting = attempt.decline_code == AUTHENTICATION_REQUIRED and bool(attempt.provider_ref)
        try:
            if waiting:  # the customer was asked to authenticate: only a final answer is recorded
                result = prov.retrieve_charge(attempt.provider_ref)
            else:
                result = prov.recover_charge(_request(attempt, invoice, attempt.method), sent_at=attempt.created_at,
                                             now=dj_timezone.now())
        except ProviderError as err:
            log.warning("autopay %s: recovery failed (%s)", attempt.idempotency_key, err.message)
            report.unresolved += 1
            continue
        if waiting and not result.succeeded and (result.status is not ChargeStatus.FAILED or (
                result.decline is not None and result.decline.code == AUTHENTICATION_REQUIRED)):
            report.unresolved += 1  # still waiting for the customer
            continue
        if result is None:
            if not invoice.is_open or invoice.balance_minor <= 0:  # settled otherwise meanwhile: nothing to charge
                _mark(attempt, ChargeAttempt.FAILED, code="not_charged")
                report.failed += 1
                continue
            status = _charge(org, attempt, invoice, prov, as_of)
            report.recharged += 1
        else:
            status = _record(org, attempt, result, as_of)
        if status == ChargeAttempt.SUCCEEDED:
            report.succeeded += 1
        elif status == ChargeAttempt.FAILED:
            report.failed += 1
        else:
            report.unresolved += 1
    return report


def record_event(attempt_key: str, result: ChargeResult, on: date) -> str | None:
    """What a provider's webhook says about an autopay charge (``result``, found by its idempotency key): recorded
    on its attempt once, when the attempt still waits (3-D Secure, a processing debit, a lost answer); the payment
    of a success is the webhook's to record. The attempt's status, or None when no attempt has that key."""
    attempt = (ChargeAttempt.objects.select_related("organization", "invoice", "method")
               .filter(idempotency_key=attempt_key).first())
    if attempt is None:
        return None
    if attempt.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
        return attempt.status
    if result.status in (ChargeStatus.PENDING, ChargeStatus.REQUIRES_ACTION) or (
            attempt.decline_code == AUTHENTICATION_REQUIRED and result.decline is not None
            and result.decline.code == AUTHENTICATION_REQUIRED):
        return attempt.status  # still waiting (the customer was already asked to authenticate)
    if result.succeeded:  # the webhook records the payment itself (idempotent on the charge): the attempt is done
        with transaction.atomic():
            row = ChargeAttempt.objects.select_for_update().get(pk=attempt.pk)
            if row.status not in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
                row.status, row.provider_ref, row.finished_at = (ChargeAttempt.SUCCEEDED, result.charge_ref[:255],
                                                                 dj_timezone.now())
                row.save(update_fields=["status", "provider_ref", "finished_at"])
        return row.status
    return _record_batch(attempt.organization, [(attempt, result)], on)[0]


def autopay_holds(invoice_ids, today: date) -> tuple[set[int], dict[int, tuple[str, str]]]:
    """For the chasing of these invoices (read by collections): the ones whose autopay is still under way (a retry
    is scheduled within the catch-up window, or a charge is pending or unknown), when reminders wait; and the ones
    whose last attempt failed for good, with ``(rail, code)`` of that decline, which the next reminder explains.
    An attempt waiting for the customer to authenticate (3-D Secure) does not hold reminders back. One query per
    5,000 invoices."""
    latest: dict[int, tuple[int, str, date | None, str, str]] = {}
    ids = list(invoice_ids)
    for start in range(0, len(ids), 5000):  # well under SQLite's limit of bound variables
        for invoice_id, number, status, retry_on, code, kind in ChargeAttempt.objects.filter(
                ids_in("invoice_id", ids[start:start + 5000])).values_list(
                "invoice_id", "attempt", "status", "next_retry_on", "decline_code", "method__kind"):
            if invoice_id not in latest or number > latest[invoice_id][0]:
                latest[invoice_id] = (number, status, retry_on, code, kind)
    held: set[int] = set()
    declined: dict[int, tuple[str, str]] = {}
    oldest = today - timedelta(days=CATCH_UP_DAYS)
    for invoice_id, (_, status, retry_on, code, kind) in latest.items():
        if status in (ChargeAttempt.PENDING, ChargeAttempt.UNKNOWN):
            if code != AUTHENTICATION_REQUIRED:
                held.add(invoice_id)
        elif status == ChargeAttempt.FAILED:
            if retry_on is not None and retry_on >= oldest:
                held.add(invoice_id)
            elif retry_on is None:
                declined[invoice_id] = ("sepa" if kind == "sepa_debit" else "card", code)
    return held, declined
