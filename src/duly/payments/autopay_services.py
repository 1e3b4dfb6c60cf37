"""Autopay: charge each open invoice falling due on the customer's default saved method, once, and retry soft declines.

Every charge is a :class:`~.models.ChargeAttempt` written (pending) and committed *before* the provider is called,
with the idempotency key ``autopay:<invoice id>:<attempt>``. Its result is then recorded in a second transaction:

- succeeded: the payment, with :func:`~.webhook_services.record_charge` (idempotent on the provider's charge id, so
  the charge's webhook arriving too records nothing more);
- declined: ``failed``, with the decline's category (``duly.domain.retries``); a soft decline gets its next retry
  date from :func:`duly.domain.retries.decide` on the customer's business days, a hard one is never retried;
- :class:`ProviderUnavailable` (the outcome is unknown): ``unknown``, left to :func:`recover_attempts`.

A crash between the charge and its recording leaves the attempt ``pending``: :func:`recover_attempts` asks the
provider what became of it by its idempotency key (never by charging again blindly) and records it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone as dj_timezone

from duly.customers.models import Organization
from duly.domain.calendar import HolidayCalendar
from duly.domain.errors import DomainError, ProviderError, ProviderUnavailable
from duly.domain.retries import CARD_SCHEDULE, SEPA_SCHEDULE, Action, Attempt, SendWindow, classify, decide
from duly.invoicing.models import Invoice

from .models import ChargeAttempt, SavedPaymentMethod
from .providers import registry
from .providers.base import ChargeResult, ChargeStatus, PaymentRequest, Provider
from .webhook_services import INVOICE_METADATA, ORGANIZATION_METADATA, record_charge

__all__ = ["AutopayReport", "RecoveryReport", "autopay_key", "record_async_failure", "recover_attempts", "run_autopay"]

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
    #: Invoices falling due whose customer has no default saved method.
    skipped: int = 0
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
                f"{self.pending} pending, {self.skipped} without a saved method")


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


def _payment_method(method: SavedPaymentMethod) -> str:
    return "sepa_debit" if method.kind == "sepa_debit" else "card"


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


def _charge(org: Organization, attempt: ChargeAttempt, invoice: Invoice, provider: Provider, as_of: date) -> str:
    """Charge the attempt with its key and record the answer; the attempt's status afterwards."""
    try:
        result = provider.charge(_request(attempt, invoice, attempt.method))
    except ProviderUnavailable as err:
        log.warning("autopay %s: outcome unknown (%s)", attempt.idempotency_key, err.message)
        return _mark(attempt, ChargeAttempt.UNKNOWN)
    except ProviderError as err:  # refused before charging (a bad request): staff must look, never retried
        return _mark(attempt, ChargeAttempt.FAILED, code=(err.code or "provider_error")[:100], category="hard")
    return _record(org, attempt, result, as_of)


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
    with transaction.atomic():
        row = (ChargeAttempt.objects.select_for_update().select_related("invoice__customer", "method")
               .get(pk=attempt.pk))
        if row.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
            return row.status
        row.provider_ref = (result.charge_ref or "")[:255]
        if result.succeeded:
            record_charge(org, row.invoice_id, result, received_on=as_of, method=_payment_method(row.method))
            row.status = ChargeAttempt.SUCCEEDED
        elif result.status is ChargeStatus.PENDING:
            row.status = ChargeAttempt.PENDING  # processing: its webhook records it, recovery looks again
        else:
            rail = "sepa" if row.method.kind == "sepa_debit" else "card"
            if result.decline is not None:
                code, category = result.decline.code, result.decline.category.value
            else:  # requires action: the customer must authenticate on session
                code, category = AUTHENTICATION_REQUIRED, classify(rail, AUTHENTICATION_REQUIRED).category.value
            row.status, row.decline_code, row.decline_category = ChargeAttempt.FAILED, code[:100], category
            row.next_retry_on = _next_retry(row, as_of) if category == "soft" else None
        if row.status != ChargeAttempt.PENDING:
            row.finished_at = dj_timezone.now()
        row.save()
    attempt.status, attempt.next_retry_on = row.status, row.next_retry_on
    return row.status


def record_async_failure(charge_ref: str, idempotency_key: str, decline, *, failed_on: date) -> tuple[str, int | None]:
    """An asynchronous charge (Stripe SEPA Debit after ``processing``) failed: its attempt, found by idempotency key
    (else by the provider's charge id), fails with the decline's category and, when soft, the retry day
    ``duly.domain.retries`` gives. A failure reported again, or after the attempt succeeded, changes nothing.
    Returns (what was done, the organization id) for the webhook's record."""
    with transaction.atomic():
        rows = ChargeAttempt.objects.select_for_update().select_related("invoice__customer", "method")
        row = rows.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if row is None and charge_ref:
            row = rows.filter(provider_ref=charge_ref).order_by("-pk").first()
        if row is None:
            return "ignored: no autopay attempt for this charge", None
        if row.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
            return f"ignored: attempt {row.idempotency_key} already {row.status}", row.organization_id
        code = decline.code if decline is not None else "failed"
        category = decline.category.value if decline is not None else "hard"
        row.status, row.decline_code, row.decline_category = ChargeAttempt.FAILED, code[:100], category
        row.provider_ref = row.provider_ref or charge_ref[:255]
        row.next_retry_on = _next_retry(row, max(failed_on, row.attempted_on)) if category == "soft" else None
        row.finished_at = dj_timezone.now()
        row.save()
    retry = f", retry on {row.next_retry_on.isoformat()}" if row.next_retry_on else ", not retried"
    return f"attempt {row.idempotency_key} failed ({code}, {category}{retry})", row.organization_id


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


def _chunks(pks: list[int], size: int = 500):
    """The invoices of ``pks``, read a chunk at a time (no cursor stays open while the charges write)."""
    for start in range(0, len(pks), size):
        yield from Invoice.objects.filter(pk__in=pks[start:start + size]).order_by("pk")


def run_autopay(org: Organization, as_of: date, *, provider: Provider | None = None) -> AutopayReport:
    """Charge every open invoice of ``org`` falling due on ``as_of`` (first attempts) and every scheduled retry
    due by ``as_of``, on the customer's default saved method. Running it again charges nothing more."""
    providers = _Providers(provider)
    report = AutopayReport(as_of)
    defaults = {m.customer_id: m for m in SavedPaymentMethod.objects.filter(organization=org, is_default=True)
                .order_by("created_at", "pk")}
    due = list(Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES, due_date=as_of,
                                      charge_attempts__isnull=True).order_by("pk").values_list("pk", flat=True))
    for invoice in _chunks(due):
        method = defaults.get(invoice.customer_id)
        if method is None:
            report.skipped += 1
            continue
        if invoice.balance_minor <= 0:
            continue
        attempt = _start(org, invoice, 1, method, as_of)
        if attempt is not None:
            report.add(_charge(org, attempt, invoice, providers(method.provider), as_of), attempt)
    retries = (ChargeAttempt.objects.filter(organization=org, status=ChargeAttempt.FAILED, next_retry_on__lte=as_of,
                                            invoice__status__in=Invoice.OPEN_STATUSES)
               .select_related("invoice", "method").order_by("next_retry_on", "pk"))
    for previous in retries:
        invoice = previous.invoice
        if ChargeAttempt.objects.filter(invoice=invoice, attempt__gt=previous.attempt).exists():
            continue
        method = defaults.get(invoice.customer_id)
        if method is None:
            report.skipped += 1
            continue
        if invoice.balance_minor <= 0:
            continue
        attempt = _start(org, invoice, previous.attempt + 1, method, as_of)
        if attempt is not None:
            report.add(_charge(org, attempt, invoice, providers(method.provider), as_of), attempt)
    return report


def recover_attempts(org: Organization, as_of: date, *, provider: Provider | None = None) -> RecoveryReport:
    """Settle the attempts of ``org`` left pending or unknown (a crash or an outage between a charge and its
    recording): ask the provider by idempotency key; record a charge it made once, a decline as a decline, and
    charge again (with the same key) one it never received."""
    providers = _Providers(provider)
    report = RecoveryReport()
    open_ = (ChargeAttempt.objects.filter(organization=org, status__in=(ChargeAttempt.PENDING, ChargeAttempt.UNKNOWN))
             .select_related("invoice", "method").order_by("pk"))
    for attempt in open_:
        report.checked += 1
        invoice, prov = attempt.invoice, providers(attempt.provider)
        try:
            result = prov.recover_charge(_request(attempt, invoice, attempt.method), sent_at=attempt.created_at,
                                         now=dj_timezone.now())
        except ProviderError as err:
            log.warning("autopay %s: recovery failed (%s)", attempt.idempotency_key, err.message)
            report.unresolved += 1
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
