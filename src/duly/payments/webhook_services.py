"""Recording what a payment provider reports: charges (after a call or a recovery pass) and Stripe's webhooks.

Each webhook event is verified first (a forged or expired one raises :class:`WebhookRejected` and writes
nothing), then stored once per (provider, event id) and processed once:

- ``payment_intent.succeeded`` records the payment with :func:`~.services.record_payment`, idempotent on the
  PaymentIntent id (``external_reference``), for the invoice named in the intent's metadata;
- ``charge.refunded`` records what Stripe refunded beyond what Duly already recorded (:func:`~.services.refund_payment`);
- ``setup_intent.succeeded`` saves the method for the customer named in the intent's metadata (ids, and the
  brand, last four digits and expiry the provider describes it with);
- ``charge.dispute.created`` (a chargeback) reverses the disputed amount with :func:`~.services.refund_payment`
  (reopening the invoices it paid; external reference: the dispute id) and sends ``payment_disputed``;
- ``charge.dispute.closed``: won, the money came back: the reversed amount is recorded again as a payment
  (reference ``<dispute id>:won``) applied to the invoices the chargeback reopened, so they settle again; lost, they
  stay reopened. Either way ``payment_dispute_closed`` tells the layers above (the staff task records the outcome).
  A closing that arrives before its opening reverses the payment first, as the opening would have (which then
  changes nothing);
- ``payment_intent.payment_failed`` (an asynchronous method such as Stripe's SEPA Debit failing after
  ``processing``): the autopay attempt, found by the idempotency key in the intent's metadata or by the intent id,
  fails with its decline category and ``duly.domain.retries`` decides the retry
  (:func:`~.autopay_services.record_event`); a failure reported after the attempt succeeded is ignored.

An event about a payment Duly has not recorded yet (a refund or a dispute arriving before the success) stays
pending (``processed_at`` empty) and is processed right after that payment is recorded. Events Duly does not
act on are stored and marked processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone as dj_timezone

from duly.customers.models import Customer, Organization
from duly.domain.errors import DomainError, NotFound
from duly.domain.money import from_minor
from duly.invoicing.models import Invoice

from .models import ChargeAttempt, Payment, ProviderEvent, Refund, SavedPaymentMethod
from .providers import registry
from .providers.base import ChargeResult, MethodKind
from .checkout_services import CHECKOUT_METADATA, complete_card_payment
from .services import InvoicePayment, record_invoice_payments, record_payment, refund_payment
from .signals import payment_dispute_closed, payment_disputed

__all__ = ["WebhookOutcome", "handle_stripe_webhook", "record_charge"]

STRIPE = "stripe"
#: The PaymentIntent metadata that names the invoice a charge pays (set by whoever starts the charge).
INVOICE_METADATA = "duly_invoice"
ORGANIZATION_METADATA = "duly_organization"
#: The SetupIntent metadata that names the Duly customer saving a method.
CUSTOMER_METADATA = "duly_customer"
#: Refund references of chargebacks start with Stripe's dispute prefix.
DISPUTE_PREFIX = "dp_"


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    type: str
    #: ``processed``, ``pending`` (waits for its payment) or ``duplicate`` (processed before: nothing done).
    status: str
    detail: str = ""


class _NotYet(Exception):
    """The event concerns a payment not recorded yet: keep it pending."""


def _day(moment: int | None) -> date:
    return datetime.fromtimestamp(int(moment or 0), timezone.utc).date()


def _find_invoice(metadata: Mapping[str, Any]) -> Invoice | None:
    ref = str(metadata.get(INVOICE_METADATA) or "")
    if not ref.isdigit():
        return None
    invoice = Invoice.objects.select_related("organization", "customer").filter(pk=int(ref)).first()
    org_ref = str(metadata.get(ORGANIZATION_METADATA) or "")
    if invoice is None or (org_ref and org_ref != str(invoice.organization_id)):
        raise NotFound(f"Invoice {ref} named by the provider's metadata was not found.", invoice=ref)
    return invoice


def _record(invoice: Invoice, *, amount_minor: int, currency: str, reference: str, method: str,
            received_on: date) -> Payment:
    """The payment of ``invoice`` the provider reports, once per reference; applied to that invoice first."""
    currency = currency.upper()
    allocations = None
    invoice = Invoice.objects.get(pk=invoice.pk)
    if invoice.is_open and invoice.currency == currency and invoice.balance_minor > 0:
        allocations = {invoice.pk: from_minor(min(amount_minor, invoice.balance_minor), currency)}
    return record_payment(invoice.organization, invoice.customer, amount=from_minor(amount_minor, currency),
                          currency=currency, method=method, received_on=received_on, external_reference=reference,
                          allocations=allocations, note=f"{method} payment {reference}")


@transaction.atomic
def record_charge(org: Organization, invoice_id: int, result: ChargeResult, *, received_on: date,
                  method: str = "card") -> Payment | None:
    """Record a charge the provider reported (its answer, or a recovery pass's finding) for an invoice of ``org``.

    Only a succeeded charge is a payment; recording the same charge again (or after its webhook) is a no-op.
    """
    invoice = Invoice.objects.select_related("organization", "customer").filter(organization=org, pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found in {org.name}.")
    if not result.succeeded:
        return None
    payment = _record(invoice, amount_minor=result.amount_minor, currency=result.currency,
                      reference=result.charge_ref, method=method, received_on=received_on)
    _process_waiting(result.charge_ref)
    return payment


def record_charges(org: Organization, charges: list[tuple[int, ChargeResult, str, date]]) -> None:
    """Record several succeeded charges ``(invoice id, result, method, received on)`` at once (autopay's batch), each
    as :func:`record_charge` would: the common case in bulk (:func:`~.services.record_invoice_payments`), any other
    one by one."""
    items = [InvoicePayment(invoice_id, result.amount_minor, result.currency.upper(), method, day, result.charge_ref)
             for invoice_id, result, method, day in charges if result.succeeded]
    rest = {(i.invoice_id, i.reference) for i in record_invoice_payments(org, items)}
    for invoice_id, result, method, day in charges:
        if (invoice_id, result.charge_ref) in rest:
            record_charge(org, invoice_id, result, received_on=day, method=method)
    waiting = ProviderEvent.objects.filter(provider=STRIPE, object_ref__in=[i.reference for i in items],
                                           processed_at__isnull=True).values_list("object_ref", flat=True)
    for ref in sorted(set(waiting)):
        _process_waiting(ref)


# --- Stripe webhooks ------------------------------------------------------------------------------------------


def handle_stripe_webhook(payload_bytes: bytes, signature_header: str | None, *, provider=None) -> WebhookOutcome:
    """Verify (tolerance 300 s), store once and process one Stripe webhook. Raises WebhookRejected."""
    provider = provider or registry.get(STRIPE)
    event = provider.verify_webhook(payload_bytes, signature_header)  # nothing is written before this
    return _store_and_process(event)


def _object_ref(event: Mapping[str, Any]) -> str:
    obj = (event.get("data") or {}).get("object") or {}
    if obj.get("object") == "payment_intent":
        return str(obj.get("id") or "")
    return str(obj.get("payment_intent") or "")


@transaction.atomic
def _store_and_process(event: Mapping[str, Any]) -> WebhookOutcome:
    row, created = ProviderEvent.objects.get_or_create(
        provider=STRIPE, event_id=str(event["id"])[:255],
        defaults={"type": str(event.get("type") or "")[:100], "object_ref": _object_ref(event)[:255],
                  "received_at": dj_timezone.now(), "payload": dict(event)})
    row = ProviderEvent.objects.select_for_update().get(pk=row.pk)  # one delivery at a time per event
    if row.processed_at is not None:
        return WebhookOutcome(row.event_id, row.type, "duplicate", row.outcome)
    outcome = _process(row)
    if outcome.status == "processed" and row.object_ref and row.type == "payment_intent.succeeded":
        _process_waiting(row.object_ref)
    return outcome


def _process_waiting(object_ref: str) -> None:
    """Process the pending events about ``object_ref`` (they arrived before its payment), oldest first."""
    waiting = ProviderEvent.objects.select_for_update().filter(
        provider=STRIPE, object_ref=object_ref, processed_at__isnull=True)
    for row in sorted(waiting, key=lambda r: (int(r.payload.get("created") or 0), r.pk)):
        _process(row)  # a success reported again is a no-op (record_payment is idempotent on the reference)


def _process(row: ProviderEvent) -> WebhookOutcome:
    handler = _HANDLERS.get(row.type)
    try:
        with transaction.atomic():
            detail, org_id = handler(row.payload) if handler else ("ignored", None)
    except _NotYet as wait:
        row.outcome = f"pending: {wait}"[:255]
        row.save(update_fields=["outcome"])
        return WebhookOutcome(row.event_id, row.type, "pending", row.outcome)
    except DomainError as err:  # kept pending for staff; Stripe retrying would not change it
        row.outcome = f"failed: {err.code}: {err.message}"[:255]
        row.save(update_fields=["outcome"])
        return WebhookOutcome(row.event_id, row.type, "pending", row.outcome)
    row.processed_at = dj_timezone.now()
    row.outcome = detail[:255]
    row.organization_id = org_id or row.organization_id
    row.save(update_fields=["processed_at", "outcome", "organization"])
    return WebhookOutcome(row.event_id, row.type, "processed", row.outcome)


def _intent_succeeded(event: Mapping[str, Any]) -> tuple[str, int | None]:
    pi = event["data"]["object"]
    if (pi.get("metadata") or {}).get(CHECKOUT_METADATA):
        return _checkout_paid(event)
    invoice = _find_invoice(pi.get("metadata") or {})
    if invoice is None:
        return "ignored: no invoice in the metadata", None
    kinds = pi.get("payment_method_types") or ["card"]
    method = "sepa_debit" if kinds == ["sepa_debit"] else "card"
    amount = int(pi.get("amount_received") or pi["amount"])
    payment = _record(invoice, amount_minor=amount, currency=str(pi["currency"]), reference=str(pi["id"]),
                      method=method, received_on=_day(event.get("created")))
    _autopay_answer(pi, _day(event.get("created")))
    return f"payment {payment.pk}", payment.organization_id


def _checkout_paid(event: Mapping[str, Any]) -> tuple[str, int | None]:
    """A payment the customer made from their personal link (:mod:`.checkout_services`): recorded once, with the
    allocation they chose, whether this webhook or the status page comes first."""
    pi = event["data"]["object"]
    metadata = pi.get("metadata") or {}
    org_ref = str(metadata.get(ORGANIZATION_METADATA) or "")
    if not org_ref.isdigit():
        return "ignored: no organization in the metadata", None
    kinds = pi.get("payment_method_types") or ["card"]
    method = pi.get("payment_method")
    method_ref = str((method.get("id") if isinstance(method, dict) else method) or "")
    kind = "sepa_debit" if kinds == ["sepa_debit"] else "card"
    if len(kinds) > 1 and method_ref:  # the customer chose in the element (EUR: card or SEPA): ask what they used
        kind = "sepa_debit" if registry.get(STRIPE).saved_method(method_ref).kind is MethodKind.SEPA_DEBIT else "card"
    checkout = complete_card_payment(
        int(org_ref), str(metadata[CHECKOUT_METADATA]), payment_ref=str(pi["id"]),
        amount_minor=int(pi.get("amount_received") or pi["amount"]), currency=str(pi["currency"]),
        received_on=_day(event.get("created")), customer_ref=str(pi.get("customer") or ""),
        method_ref=method_ref, method=kind)
    return f"payment {checkout.payment_id} (checkout {checkout.public_id})", checkout.organization_id


def _autopay_answer(pi: Mapping[str, Any], on: date) -> str | None:
    """Tell autopay what became of its charge (a 3-D Secure confirmation, a processing debit): its attempt's status."""
    from .autopay_services import record_event  # autopay records charges through this module
    from .providers.stripe import IDEMPOTENCY_METADATA, intent_result

    key = str((pi.get("metadata") or {}).get(IDEMPOTENCY_METADATA) or "")
    if not key.startswith("autopay:"):
        return None
    return record_event(key, intent_result(pi, key), on)


def _intent_failed(event: Mapping[str, Any]) -> tuple[str, int | None]:
    """An autopay charge failed after it was made (3-D Secure failed, an asynchronous SEPA Debit came back): its
    attempt fails once, with the decline's category and the domain's retry day; a failure after success is ignored."""
    from .providers.stripe import IDEMPOTENCY_METADATA

    pi = event["data"]["object"]
    key = str((pi.get("metadata") or {}).get(IDEMPOTENCY_METADATA) or "")
    before = ChargeAttempt.objects.filter(idempotency_key=key).first() if key.startswith("autopay:") else None
    if before is None:
        return "ignored: not an autopay charge", None
    if before.status in (ChargeAttempt.SUCCEEDED, ChargeAttempt.FAILED):
        return f"ignored: attempt {key} already {before.status}", before.organization_id
    _autopay_answer(pi, _day(event.get("created")))
    row = ChargeAttempt.objects.get(pk=before.pk)
    if row.status != ChargeAttempt.FAILED:
        return f"attempt {key} {row.status}", row.organization_id
    retry = f", retry on {row.next_retry_on.isoformat()}" if row.next_retry_on else ", not retried"
    return f"attempt {key} failed ({row.decline_code}, {row.decline_category}{retry})", row.organization_id


def _payment_of(intent_ref: str) -> Payment:
    payment = (Payment.objects.select_related("organization").filter(
        method__in=("card", "sepa_debit"), external_reference=intent_ref).order_by("pk").first()
        if intent_ref else None)
    if payment is None:
        raise _NotYet(f"no payment recorded for {intent_ref or 'an unknown intent'} yet")
    return payment


def _charge_refunded(event: Mapping[str, Any]) -> tuple[str, int | None]:
    charge = event["data"]["object"]
    payment = _payment_of(str(charge.get("payment_intent") or ""))
    refunded = int(charge.get("amount_refunded") or 0)
    recorded = (Refund.objects.filter(payment=payment).exclude(external_reference__startswith=DISPUTE_PREFIX)
                .aggregate(s=Sum("amount_minor"))["s"] or 0)
    missing = min(refunded - recorded, payment.amount_minor - payment.refunded_minor)
    if missing <= 0:
        return "refund already recorded", payment.organization_id
    refund = refund_payment(payment.organization, payment.pk, amount=from_minor(missing, payment.currency),
                            refunded_on=max(_day(event.get("created")), payment.received_on),
                            reason="Refunded with Stripe", external_reference=f"{charge.get('id')}:{refunded}"[:120])
    return f"refund {refund.pk}", payment.organization_id


def _dispute_created(event: Mapping[str, Any]) -> tuple[str, int | None]:
    dispute = event["data"]["object"]
    payment = _payment_of(str(dispute.get("payment_intent") or ""))
    ref = str(dispute.get("id") or "")[:120]
    if Refund.objects.filter(payment=payment, external_reference=ref).exists():
        return "chargeback already recorded", payment.organization_id
    if _closed_already(payment.external_reference, ref):  # its closing came first and settled it
        return "dispute already closed: nothing to reverse", payment.organization_id
    amount = min(int(dispute.get("amount") or 0), payment.amount_minor - payment.refunded_minor)
    refund = None
    if amount > 0:
        refund = refund_payment(payment.organization, payment.pk, amount=from_minor(amount, payment.currency),
                                refunded_on=max(_day(event.get("created")), payment.received_on),
                                reason=f"Chargeback ({dispute.get('reason') or 'dispute'})"[:200],
                                external_reference=ref)
    payment_disputed.send(sender=Payment, payment=payment, refund=refund, dispute_ref=ref,
                          reason=str(dispute.get("reason") or ""))
    return (f"chargeback {refund.pk}" if refund else "chargeback: nothing left to reverse"), payment.organization_id


def _closed_already(intent_ref: str, dispute_ref: str) -> bool:
    closings = ProviderEvent.objects.filter(provider=STRIPE, type="charge.dispute.closed", object_ref=intent_ref,
                                            processed_at__isnull=False)
    return any(str(((row.payload.get("data") or {}).get("object") or {}).get("id") or "")[:120] == dispute_ref
               for row in closings)


def _dispute_closed(event: Mapping[str, Any]) -> tuple[str, int | None]:
    dispute = event["data"]["object"]
    payment = _payment_of(str(dispute.get("payment_intent") or ""))
    ref = str(dispute.get("id") or "")[:120]
    status = str(dispute.get("status") or "")
    won = status == "won"
    chargeback = Refund.objects.filter(payment=payment, external_reference=ref).first()
    if chargeback is None and not won and status == "lost":  # closed before its opening was seen: reverse first
        _dispute_created(event)
        chargeback = Refund.objects.filter(payment=payment, external_reference=ref).first()
    reinstated = None
    if won and chargeback is not None:
        reinstated = _reinstate(payment, chargeback, ref, _day(event.get("created")))
    payment_dispute_closed.send(sender=Payment, payment=payment, dispute_ref=ref, outcome=status or "closed",
                                reinstated=reinstated)
    if won:
        detail = f"dispute won: payment {reinstated.pk} settles the invoices again" if reinstated else "dispute won"
    else:
        detail = f"dispute {status or 'closed'}: the invoices stay reopened"
    return detail, payment.organization_id


def _reinstate(payment: Payment, chargeback: Refund, ref: str, on: date) -> Payment:
    """The money a won dispute brought back, recorded once (``<dispute id>:won``) on the invoices it had reopened."""
    allocations = {}
    for row in chargeback.reopened.select_related("invoice"):
        invoice = Invoice.objects.get(pk=row.invoice_id)
        take = min(row.amount_minor, invoice.balance_minor) if invoice.is_open else 0
        if take > 0:
            allocations[invoice.pk] = allocations.get(invoice.pk, 0) + take
    return record_payment(payment.organization, payment.customer, amount=from_minor(chargeback.amount_minor,
                                                                                   payment.currency),
                          currency=payment.currency, method=payment.method, received_on=max(on, chargeback.refunded_on),
                          external_reference=f"{ref}:won"[:120],
                          allocations={k: from_minor(v, payment.currency) for k, v in allocations.items()} or None,
                          note=f"Dispute {ref} won: the chargeback of payment {payment.pk} came back")


def _setup_succeeded(event: Mapping[str, Any]) -> tuple[str, int | None]:
    seti = event["data"]["object"]
    metadata = seti.get("metadata") or {}
    customer_ref, org_ref = str(metadata.get(CUSTOMER_METADATA) or ""), str(metadata.get(ORGANIZATION_METADATA) or "")
    if not (customer_ref.isdigit() and org_ref.isdigit() and seti.get("payment_method") and seti.get("customer")):
        return "ignored: no customer in the metadata", None
    customer = Customer.objects.filter(organization_id=int(org_ref), pk=int(customer_ref)).first()
    if customer is None:
        raise NotFound(f"Customer {customer_ref} named by the provider's metadata was not found.", customer=customer_ref)
    kinds = seti.get("payment_method_types") or ["card"]
    saved, created = SavedPaymentMethod.objects.get_or_create(
        organization_id=customer.organization_id, provider=STRIPE, method_ref=str(seti["payment_method"])[:255],
        defaults={"customer": customer, "customer_ref": str(seti["customer"])[:255],
                  "setup_ref": str(seti.get("id") or "")[:255], "kind": "sepa_debit" if kinds == ["sepa_debit"]
                  else "card",
                  # the first method a customer saves is the one autopay charges
                  "is_default": not SavedPaymentMethod.objects.filter(customer=customer, is_default=True).exists()})
    if created:
        _describe(saved)
    return f"saved method {saved.pk}", customer.organization_id


def _describe(saved: SavedPaymentMethod) -> None:
    """Keep what staff and the customer are shown of a method saved in the browser (brand, last four, expiry),
    asked of the provider; when it cannot say now, the method is saved all the same and shown by its id."""
    try:
        described = registry.get(saved.provider).saved_method(saved.method_ref)
    except DomainError:
        return
    SavedPaymentMethod.objects.filter(pk=saved.pk).update(
        brand=(described.wallet or described.brand)[:32], last4=described.last4, exp_month=described.exp_month,
        exp_year=described.exp_year)


_HANDLERS = {
    "setup_intent.succeeded": _setup_succeeded,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
}
