"""How each invoice will actually be paid, for its documents: card autopay, SEPA direct debit or bank transfer.

Invoicing asks through :data:`duly.invoicing.hooks.payment_instructions` (this app provides it in its
``AppConfig.ready()``) when it freezes an invoice's document snapshot at issue, and for a draft's preview. The
answer is read here from the payments rows and decided by :func:`duly.domain.payment_instructions.choose`:

- the preferred method is the contract's (``Contract.preferred_payment_method``), else the customer's;
- card (or PayPal, a wallet): the customer's default saved card (``SavedPaymentMethod.is_default``, kind card
  or wallet), charged by autopay ``Contract.autopay_days_before_due`` days before the due date; its brand and
  last four digits are the ones recorded when it was saved (``SavedPaymentMethod.brand``/``last4``, never card
  data), else asked of the provider once per card, and left out when the provider cannot say;
- SEPA direct debit: the customer's newest mandate usable on the issue date (as :func:`.sepa_services.plan_debits`
  picks it), the organization's creditor identifier, a standard invoice in euro; the debit date respects the
  contract's pre-notification period (``Contract.sepa_prenotification_days``, 14 unless agreed shorter), counted
  from the issue date: the invoice is the pre-notification;
- otherwise, and whenever the preference cannot be honoured, a bank transfer.

Read-only: nothing here writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from duly.domain import payment_instructions as rules
from duly.domain import sepa
from duly.domain.errors import DomainError, InvalidMandate
from duly.invoicing.hooks import InstructionRequest
from duly.invoicing.models import Invoice

from .models import ChargeAttempt, DirectDebit, Mandate, SavedPaymentMethod, SepaCreditor

__all__ = ["instructions", "preferred_method", "scheduled_collections"]

log = logging.getLogger(__name__)

CARD_KINDS = ("card", "wallet")


def preferred_method(customer, contract) -> str:
    """The contract's preferred payment method, else the customer's."""
    chosen = getattr(contract, "preferred_payment_method", "") if contract is not None else ""
    return chosen or customer.preferred_payment_method or rules.BANK_TRANSFER


class _Cards:
    """Brand and last four of saved cards, asked of their provider once per card."""

    def __init__(self) -> None:
        self.providers: dict[str, Any] = {}
        self.described: dict[int, rules.CardOnFile] = {}

    def __call__(self, method: SavedPaymentMethod) -> rules.CardOnFile:
        if method.pk not in self.described and method.brand and method.last4:  # recorded when it was saved
            self.described[method.pk] = rules.CardOnFile(method.provider, method.method_ref, method.brand,
                                                         method.last4)
        if method.pk not in self.described:
            brand = last4 = ""
            try:
                from .providers import registry

                if method.provider not in self.providers:
                    self.providers[method.provider] = registry.get(method.provider)
                saved = self.providers[method.provider].saved_method(method.method_ref)
                brand, last4 = saved.brand, saved.last4
            except DomainError as err:  # not configured, unknown, or unavailable: the card without its digits
                log.warning("payment instructions: card %s not described (%s)", method.pk, err.message)
            self.described[method.pk] = rules.CardOnFile(method.provider, method.method_ref, brand, last4)
        return self.described[method.pk]


def _mandates(org_id: int, customer_ids: set[int], as_of_by_customer: dict[int, Any]) -> dict[int, Mandate]:
    """Each customer's newest mandate usable on its invoice's issue date."""
    found: dict[int, Mandate] = {}
    if not customer_ids:
        return found
    from .sepa_services import snapshot

    for mandate in Mandate.objects.filter(organization_id=org_id, customer_id__in=customer_ids).order_by(
            "customer_id", "-signed_on", "-pk"):
        if mandate.customer_id in found:
            continue
        try:
            sepa.check_mandate(snapshot(mandate), as_of_by_customer[mandate.customer_id])
        except InvalidMandate:
            continue
        found[mandate.customer_id] = mandate
    return found


def instructions(requests: Sequence[InstructionRequest]) -> list[dict[str, Any] | None]:
    """The payment instruction (JSON) of each request, in order: three queries at most for the whole list, and
    one provider call per saved card shown."""
    if not requests:
        return []
    wanted = [preferred_method(r.customer, r.contract) for r in requests]
    org_id = requests[0].customer.organization_id
    card_customers = {r.customer.pk for r, w in zip(requests, wanted) if w in rules.CARD_PREFERENCES}
    sepa_requests = [r for r, w in zip(requests, wanted) if w == rules.SEPA_DEBIT]
    cards: dict[int, SavedPaymentMethod] = {}
    if card_customers:
        for method in SavedPaymentMethod.objects.filter(organization_id=org_id, customer_id__in=card_customers,
                                                        is_default=True, kind__in=CARD_KINDS).order_by("created_at",
                                                                                                      "pk"):
            cards.setdefault(method.customer_id, method)
    mandates: dict[int, Mandate] = {}
    creditor_id = ""
    if sepa_requests:
        creditor = SepaCreditor.objects.filter(organization_id=org_id).first()
        creditor_id = creditor.creditor_id if creditor is not None else ""
        earliest = {}
        for r in sepa_requests:
            earliest[r.customer.pk] = min(earliest.get(r.customer.pk, r.issue_date), r.issue_date)
        mandates = _mandates(org_id, set(earliest), earliest)
    describe = _Cards()
    from .sepa_services import snapshot

    result: list[dict[str, Any] | None] = []
    for request, preferred in zip(requests, wanted):
        if request.kind == Invoice.KIND_CREDIT_NOTE:
            result.append(None)
            continue
        if preferred not in rules.CARD_PREFERENCES and preferred != rules.SEPA_DEBIT:
            result.append({"method": rules.BANK_TRANSFER})  # the common case, without building anything
            continue
        customer, contract = request.customer, request.contract
        card = cards.get(customer.pk)
        mandate = mandates.get(customer.pk)
        if preferred == rules.SEPA_DEBIT and request.kind != Invoice.KIND_STANDARD:
            mandate = None  # only standard invoices are debited (sepa_services.plan_debits)
        chosen = rules.choose(
            preferred, currency=request.currency, issue_date=request.issue_date, due_date=request.due_date,
            card=describe(card) if card is not None else None,
            mandate=rules.MandateOnFile(snapshot(mandate), mandate.iban, mandate.debtor_name) if mandate else None,
            creditor_id=creditor_id,
            autopay_days_before_due=getattr(contract, "autopay_days_before_due", 0) or 0,
            notice_days=getattr(contract, "sepa_prenotification_days", None) or sepa.DEFAULT_NOTICE_DAYS)
        result.append(chosen.to_json())
    return result


def scheduled_collections(invoices: Sequence[Invoice], as_of: date) -> dict[int, dict[str, Any]]:
    """Of ``invoices``, those an automatic collection will still pay on or after ``as_of``, with that collection
    (the instruction each invoice stated at issue, its date brought up to date), for a letter about them:

    - a SEPA debit planned or exported and not yet collected (its collection date), or pre-notified and not yet
      planned while its date is still ahead and no debit of it failed;
    - a card charge not yet attempted while its date is still ahead, or a declined one whose retry is scheduled.

    Every other invoice (a transfer, a debit returned or refused, a card declined for good) is the customer's to
    pay by transfer. Two queries for the whole list."""
    ids = [invoice.pk for invoice in invoices]
    debits: dict[int, list[DirectDebit]] = {}
    for debit in DirectDebit.objects.filter(invoice_id__in=ids).order_by("attempt"):
        debits.setdefault(debit.invoice_id, []).append(debit)
    attempts: dict[int, ChargeAttempt] = {}
    for attempt in ChargeAttempt.objects.filter(invoice_id__in=ids).order_by("attempt"):
        attempts[attempt.invoice_id] = attempt  # the last one
    found: dict[int, dict[str, Any]] = {}
    for invoice in invoices:
        stated = rules.PaymentInstruction.from_json((invoice.document_snapshot or {}).get("payment"))
        if stated is None or not invoice.is_open:
            continue
        if stated.method == rules.SEPA_DEBIT:
            mine = debits.get(invoice.pk, [])
            live = [d for d in mine if d.status in (DirectDebit.PENDING, DirectDebit.EXPORTED)]
            if live and live[-1].collection_date >= as_of:
                found[invoice.pk] = replace(stated, debit_date=live[-1].collection_date).to_json()
            elif not mine and stated.debit_date is not None and stated.debit_date >= as_of:
                found[invoice.pk] = stated.to_json()
        elif stated.method == rules.CARD:
            last = attempts.get(invoice.pk)
            if last is None and stated.charge_date is not None and stated.charge_date >= as_of:
                found[invoice.pk] = stated.to_json()
            elif last is not None and last.status == ChargeAttempt.FAILED and last.next_retry_on is not None \
                    and last.next_retry_on >= as_of:
                found[invoice.pk] = replace(stated, charge_date=last.next_retry_on).to_json()
    return found
