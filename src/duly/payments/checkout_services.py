"""Paying now from the personal link: a :class:`~.models.Checkout` per payment the customer starts.

The customer picks one, several or all of their open invoices and may pay less (a partial payment, applied oldest
due first among the invoices they picked) or, when their credit policy allows it, more (the rest goes to their
other open invoices, then to credit). :func:`plan_checkout` decides that allocation with
:func:`duly.domain.allocation.allocate_payment` before anything is written; an amount above what is open without the
overpayment policy is refused (:class:`~duly.domain.errors.Overpayment`) and nothing is written.

Three ways to pay:

- **card or wallet** (Stripe's payment element): :func:`start_checkout` commits the checkout, then
  :func:`open_card_payment` creates its PaymentIntent with the idempotency key ``checkout:<public id>`` (a reload
  or a retry after an outage gets the same intent back). The payment is recorded by :func:`complete_card_payment`,
  reached from the webhook (``payment_intent.succeeded`` with ``duly_checkout`` in its metadata) or from the status
  page asking Stripe (:func:`refresh_checkout`), whichever comes first: once, with the planned allocation, the
  PaymentIntent id as the payment's external reference;
- **SEPA direct debit** from the organization's own bank: :func:`sign_mandate` records the mandate the customer
  signs on the page (:func:`duly.payments.sepa_services.create_mandate`); the invoices are then debited with the
  next pain.008 export;
- **bank transfer**: the details, the RF reference and the QR code; the checkout is paid when its invoices are.

"Use this method for future invoices" makes the saved card the customer's default (autopay), signs a recurrent
mandate (else a one-off one), or makes bank transfer the customer's preferred method.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from duly.customers.models import Customer, Organization
from duly.domain.allocation import OpenBalance, allocate_payment
from duly.domain.errors import (
    CurrencyMismatch,
    DomainError,
    NotFound,
    ProviderError,
    SepaNotConfigured,
    ValidationError,
)
from duly.domain.money import from_minor, round_money, to_decimal, to_minor
from duly.invoicing.models import Invoice

from .models import Checkout, Mandate, SavedPaymentMethod, SepaCreditor
from .providers import registry
from .providers.base import ChargeStatus, CheckoutRequest, Provider, SetupRequest, SetupResult
from .services import record_payment

__all__ = ["CHECKOUT_METADATA", "Plan", "cancel_superseded", "complete_card_payment", "finish_setup",
           "open_card_payment", "open_invoices", "plan_changed", "plan_checkout", "refresh_checkout", "setup_of",
           "sign_mandate", "sign_standing_mandate", "start_checkout", "start_setup"]

STRIPE = "stripe"
#: The PaymentIntent metadata naming the checkout it pays (the webhook finds the checkout by it).
CHECKOUT_METADATA = "duly_checkout"
#: The metadata naming the customer and organization (the webhook's own names, :mod:`.webhook_services`).
CUSTOMER_METADATA, ORGANIZATION_METADATA = "duly_customer", "duly_organization"


@dataclass(frozen=True)
class Plan:
    """What a checkout pays: ``allocations`` {invoice id: minor units}, oldest due first; ``extra_minor`` is what
    goes beyond the chosen invoices (to other open invoices, then credit)."""

    amount_minor: int
    currency: str
    allocations: dict[int, int]
    extra_minor: int
    #: What the chosen invoices owe in all.
    due_minor: int = 0


def open_invoices(customer: Customer, *, only: int | None = None) -> list[Invoice]:
    """The customer's invoices that can receive money, oldest due first (only ``only`` when the link is for one)."""
    rows = (Invoice.objects.filter(organization_id=customer.organization_id, customer=customer,
                                   status__in=Invoice.OPEN_STATUSES)
            .exclude(kind=Invoice.KIND_CREDIT_NOTE).order_by("due_date", "issue_date", "id"))
    if only is not None:
        rows = rows.filter(pk=only)
    return [inv for inv in rows if inv.balance_minor > 0]


def _amount_minor(amount, currency: str) -> int:
    if isinstance(amount, str):  # "1 200,50" as a French customer types it
        amount = "".join(amount.replace("\u00a0", " ").replace("\u202f", " ").split())
        if "," in amount and "." not in amount and amount.count(",") == 1:
            amount = amount.replace(",", ".")
    try:
        value = to_decimal(amount)
    except (DomainError, ArithmeticError, TypeError, ValueError):
        raise ValidationError("Enter the amount as a number, for example 120.50.", code="invalid_amount") from None
    rounded = round_money(value, currency)
    # "1.200" equals 1.20 but was typed as 1200 with a thousands separator: more decimals typed is refused too
    if value != rounded or value.as_tuple().exponent < rounded.as_tuple().exponent:
        raise ValidationError(f"The amount has more decimals than {currency} allows.", code="amount_decimals",
                              currency=currency)
    if value <= 0:
        raise ValidationError("The amount must be more than zero.", code="amount_not_positive")
    if value > Decimal("1e12"):
        raise ValidationError("The amount is too large.", code="amount_too_large")
    return to_minor(value, currency)


def plan_checkout(customer: Customer, invoice_ids, amount=None, *, only: int | None = None) -> Plan:
    """The allocation of a payment of ``amount`` (None or blank: all that the chosen invoices owe) to the chosen
    open invoices (none chosen: all of them), oldest due first. Raises a DomainError with a clear message."""
    available = open_invoices(customer, only=only)
    by_id = {inv.pk: inv for inv in available}
    wanted: list[int] = []
    for raw in invoice_ids or ():
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()) or int(text) not in by_id:  # "²" is a digit int() refuses
            raise ValidationError("One of the chosen invoices is not open any more; reload the page.",
                                  code="invoice_not_open")
        wanted.append(int(text))
    chosen = [inv for inv in available if inv.pk in set(wanted)] if wanted else available
    if not chosen:
        raise ValidationError("Nothing is open on your account.", code="nothing_open")
    currencies = {inv.currency for inv in chosen}
    if len(currencies) > 1:
        raise CurrencyMismatch("Choose invoices in one currency per payment.", code="several_currencies")
    currency = currencies.pop()
    due = sum(inv.balance_minor for inv in chosen)
    amount_minor = due if amount in (None, "") else _amount_minor(amount, currency)
    result = allocate_payment(
        from_minor(amount_minor, currency), currency,
        [OpenBalance(inv.pk, inv.currency, inv.due_date, inv.issue_date, inv.balance) for inv in chosen],
        allow_credit=customer.credit_allowed)  # Overpayment when above what is open and no credit policy
    allocations = {a.invoice_id: to_minor(a.amount, currency) for a in result.allocations}
    return Plan(amount_minor, currency, {k: v for k, v in allocations.items() if v > 0},
                to_minor(result.unapplied, currency), due)


def _creditor(org: Organization) -> SepaCreditor | None:
    return SepaCreditor.objects.filter(organization=org).first()


@transaction.atomic
def start_checkout(org: Organization, customer: Customer, *, method: str, invoice_ids=(), amount=None,
                   save_for_future: bool = False, only: int | None = None) -> Checkout:
    """Record the payment the customer starts (nothing is charged yet). Refuses bad input, writing nothing."""
    if customer.organization_id != org.pk:
        raise NotFound("Customer not found.")
    if method not in dict(Checkout.METHOD_CHOICES):
        raise ValidationError("Choose how you want to pay.", code="invalid_choice")
    if method == Checkout.SEPA_MANDATE and _creditor(org) is None:
        raise SepaNotConfigured("Direct debit is not offered by this organization.")
    plan = plan_checkout(customer, invoice_ids, amount, only=only)
    if method == Checkout.SEPA_MANDATE and plan.currency != "EUR":
        raise CurrencyMismatch("Direct debit is only possible for invoices in euro.", code="sepa_not_euro")
    if method == Checkout.SEPA_MANDATE:  # what is debited is what the page shows (sepa_services.plan_debits)
        if not save_for_future and len(plan.allocations) > 1:  # a one-off mandate is collected once
            raise ValidationError("A one-off direct debit pays one invoice: choose one, or keep direct debit for "
                                  "future invoices.", code="sepa_one_invoice")
        if plan.extra_minor > 0 or (save_for_future and plan.amount_minor != plan.due_minor):
            raise ValidationError("A standing direct debit takes what the invoices owe: leave the amount as it is.",
                                  code="sepa_full_amount")
    status = Checkout.PROCESSING if method == Checkout.TRANSFER else Checkout.OPEN
    checkout = Checkout.objects.create(
        organization=org, customer=customer, public_id=secrets.token_urlsafe(18), method=method,
        amount_minor=plan.amount_minor, currency=plan.currency, save_for_future=bool(save_for_future),
        plan={str(k): v for k, v in plan.allocations.items()}, status=status,
        provider=STRIPE if method == Checkout.CARD else "")
    if method == Checkout.TRANSFER and save_for_future:
        _prefer(customer, "bank_transfer")
    return checkout


def _prefer(customer: Customer, method: str) -> None:
    from duly.customers.services import update_customer

    if customer.preferred_payment_method != method:
        update_customer(customer, preferred_payment_method=method)


def _provider(provider: Provider | None) -> Provider:
    return provider or registry.get(STRIPE)


def open_card_payment(checkout: Checkout, *, provider: Provider | None = None) -> Checkout:
    """Create (or find again) the checkout's PaymentIntent and keep its id and client secret. Called outside any
    transaction: the checkout row is committed before the provider is called, with the checkout's own
    idempotency key, so a reload or a retry after an outage never makes a second intent."""
    if checkout.method != Checkout.CARD or checkout.client_secret or checkout.status == Checkout.PAID:
        return checkout
    customer = checkout.customer
    saved = SavedPaymentMethod.objects.filter(customer=customer, provider=STRIPE).order_by("-is_default", "-pk").first()
    request = CheckoutRequest(
        amount_minor=checkout.amount_minor, currency=checkout.currency,
        idempotency_key=f"checkout:{checkout.public_id}", customer_ref=saved.customer_ref if saved else "",
        email=customer.email or "", name=customer.name, save_for_future=checkout.save_for_future,
        description=f"{checkout.organization.name}: payment {checkout.public_id}",
        metadata={CHECKOUT_METADATA: checkout.public_id, ORGANIZATION_METADATA: str(checkout.organization_id),
                  CUSTOMER_METADATA: str(customer.pk)})
    session = _provider(provider).start_checkout(request)
    return _store_session(checkout.pk, session.payment_ref, session.client_secret)


@transaction.atomic
def _store_session(checkout_id: int, ref: str, secret: str) -> Checkout:
    checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
    if not checkout.provider_ref:
        checkout.provider_ref, checkout.client_secret = ref[:255], secret[:255]
        checkout.save(update_fields=["provider_ref", "client_secret", "updated_at"])
    return checkout


@transaction.atomic
def complete_card_payment(org_id: int, public_id: str, *, payment_ref: str, amount_minor: int, currency: str,
                          received_on: date, method_ref: str = "", customer_ref: str = "",
                          method: str = "card") -> Checkout:
    """Record the payment of a checkout the provider reports succeeded: once (a second report finds it paid),
    with the planned allocation to the invoices still open; the rest goes oldest due first, then to credit."""
    checkout = (Checkout.objects.select_for_update().select_related("organization", "customer")
                .filter(organization_id=org_id, public_id=public_id).first())
    if checkout is None:
        raise NotFound(f"Checkout {public_id} not found.")
    if checkout.payment_id is not None:
        return checkout
    if checkout.provider_ref and payment_ref != checkout.provider_ref:
        raise ValidationError(f"Payment {payment_ref} is not the one of checkout {public_id}.")
    currency = currency.upper()
    if currency != checkout.currency:
        raise CurrencyMismatch(f"Checkout {public_id} is in {checkout.currency}, the provider reported {currency}.")
    still_open = {inv.pk: inv for inv in Invoice.objects.filter(
        organization_id=org_id, customer=checkout.customer, pk__in=[int(k) for k in checkout.plan],
        status__in=Invoice.OPEN_STATUSES)}
    left, allocations = amount_minor, {}
    for key, planned in checkout.plan.items():
        inv = still_open.get(int(key))
        take = min(planned, inv.balance_minor, left) if inv is not None else 0
        if take > 0:
            allocations[inv.pk] = from_minor(take, currency)
            left -= take
    payment = record_payment(checkout.organization, checkout.customer, amount=from_minor(amount_minor, currency),
                             currency=currency, method=method, received_on=received_on,
                             external_reference=payment_ref, allocations=allocations or None,
                             note=f"Paid from the personal link ({checkout.public_id})")
    checkout.payment, checkout.status, checkout.failure = payment, Checkout.PAID, ""
    checkout.provider_ref = checkout.provider_ref or payment_ref[:255]
    checkout.save(update_fields=["payment", "status", "failure", "provider_ref", "updated_at"])
    if checkout.save_for_future and method_ref and customer_ref:
        _save_default(checkout.customer, method_ref, customer_ref, method, checkout.provider_ref)
    customer_id = checkout.customer_id
    transaction.on_commit(lambda: cancel_superseded(customer_id), robust=True)
    return checkout


def plan_changed(checkout: Checkout) -> bool:
    """Whether an invoice of the checkout's plan was paid (even in part) or voided since it was started."""
    open_now = {inv.pk: inv.balance_minor for inv in Invoice.objects.filter(
        organization_id=checkout.organization_id, customer_id=checkout.customer_id,
        pk__in=[int(k) for k in checkout.plan], status__in=Invoice.OPEN_STATUSES)}
    return any(open_now.get(int(k), 0) < v for k, v in checkout.plan.items())


def cancel_superseded(customer_id: int, *, provider: Provider | None = None) -> list[str]:
    """Cancel the PaymentIntents of the customer's unpaid card checkouts whose invoices were paid meanwhile (another
    tab, another route): a page still showing Stripe's element can then not take the money twice. Called after a
    payment is committed; an intent that succeeded or is processing meanwhile is left to its own recording."""
    cancelled = []
    for checkout in (Checkout.objects.filter(customer_id=customer_id, method=Checkout.CARD,
                                             status__in=(Checkout.OPEN, Checkout.FAILED))
                     .exclude(provider_ref="").order_by("pk")):
        if not plan_changed(checkout):
            continue
        try:
            _provider(provider).cancel_checkout(checkout.provider_ref)
        except ProviderError:
            continue
        _mark(checkout.pk, Checkout.FAILED)
        cancelled.append(checkout.public_id)
    return cancelled


def _save_default(customer: Customer, method_ref: str, customer_ref: str, kind: str,
                  setup_ref: str) -> SavedPaymentMethod | None:
    """Keep a method the customer saved as their default for autopay (ids only), once."""
    saved, _ = SavedPaymentMethod.objects.get_or_create(
        organization_id=customer.organization_id, provider=STRIPE, method_ref=method_ref[:255],
        defaults={"customer": customer, "customer_ref": customer_ref[:255], "kind": kind, "setup_ref": setup_ref})
    if saved.customer_id != customer.pk:  # another customer's method: never made theirs
        return None
    SavedPaymentMethod.objects.filter(customer=customer, is_default=True).exclude(pk=saved.pk).update(is_default=False)
    if not saved.is_default:
        saved.is_default = True
        saved.save(update_fields=["is_default"])
    _prefer(customer, "card" if kind == "card" else "sepa_debit")
    return saved


# --- setting up a method for future invoices, without paying now ------------------------------------------------

def start_setup(customer: Customer, *, provider: Provider | None = None) -> SetupResult:
    """Start saving a card for future invoices (the customer finishes it in the browser). Nothing is written: the
    SetupIntent carries the customer in its metadata, and :func:`finish_setup` checks it."""
    saved = SavedPaymentMethod.objects.filter(customer=customer, provider=STRIPE).order_by("-is_default", "-pk").first()
    return _provider(provider).create_setup(SetupRequest(
        idempotency_key=f"setup:{customer.organization_id}:{customer.pk}:{secrets.token_hex(8)}",
        customer_ref=saved.customer_ref if saved else "", email=customer.email or "", name=customer.name,
        metadata={CUSTOMER_METADATA: str(customer.pk), ORGANIZATION_METADATA: str(customer.organization_id)}))


def setup_of(customer: Customer, setup_ref: str, *, provider: Provider | None = None) -> SetupResult:
    """The customer's setup ``setup_ref`` as the provider sees it; another customer's is "not found"."""
    result = _provider(provider).retrieve_setup(setup_ref)
    if (result.metadata.get(CUSTOMER_METADATA) != str(customer.pk)
            or result.metadata.get(ORGANIZATION_METADATA) != str(customer.organization_id)):
        raise NotFound("Setup not found.")
    return result


@transaction.atomic
def finish_setup(customer: Customer, result: SetupResult, *, kind: str = "card") -> SavedPaymentMethod | None:
    """A succeeded setup of ``customer``: the method becomes their default for future invoices (once)."""
    if result.status != "succeeded" or not result.method_ref:
        return None
    if result.metadata.get(CUSTOMER_METADATA) != str(customer.pk):
        raise NotFound("Setup not found.")
    return _save_default(customer, result.method_ref, result.customer_ref, kind, result.setup_ref)


@transaction.atomic
def sign_standing_mandate(customer: Customer, *, debtor_name: str, iban: str, bic: str = "", consent: bool,
                          signed_on: date) -> Mandate:
    """A recurrent SEPA Core mandate the customer signs from their link for future invoices (no payment now);
    signing again for the same account keeps the mandate in force (one per customer and IBAN)."""
    from .sepa_services import clean_iban, create_mandate

    org = customer.organization
    if _creditor(org) is None:
        raise SepaNotConfigured("Direct debit is not offered by this organization.")
    if not consent:
        raise ValidationError("Tick the box to authorise the direct debit.", code="mandate_consent_missing")
    if not " ".join((debtor_name or "").split()):
        raise ValidationError("Enter the account holder's name.", code="mandate_name_missing")
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one signature at a time per customer
    same = (Mandate.objects.filter(organization=org, customer=customer, kind=Mandate.RECURRENT,
                                   revoked_at__isnull=True, iban=clean_iban(iban)).order_by("-pk").first())
    if same is not None:  # signed again (a double click, a resubmitted form): the mandate already in force
        _prefer(customer, "sepa_debit")
        return same
    code = "".join(ch for ch in customer.code.upper() if ch.isalnum())[:12] or "C"
    mandate = create_mandate(org, customer, reference=f"DULY-{code}-{secrets.token_hex(6).upper()}",
                             signed_on=signed_on, debtor_name=debtor_name, iban=iban, bic=bic,
                             signed_at=customer.city, kind=Mandate.RECURRENT, as_of=signed_on)
    _prefer(customer, "sepa_debit")
    return mandate


@transaction.atomic
def _mark(checkout_id: int, status: str, failure: str = "") -> Checkout:
    checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
    if checkout.status != Checkout.PAID and (checkout.status, checkout.failure) != (status, failure):
        checkout.status, checkout.failure = status, failure[:255]
        checkout.save(update_fields=["status", "failure", "updated_at"])
    return checkout


def refresh_checkout(checkout: Checkout, *, today: date, provider: Provider | None = None) -> Checkout:
    """Bring a checkout up to date (the status page calls it on every load, so it survives a reload): a card
    payment from its PaymentIntent; a mandate or a transfer from its invoices (paid when they all are)."""
    if checkout.status == Checkout.PAID:
        return checkout
    if checkout.method == Checkout.CARD:
        if not checkout.provider_ref:
            return checkout
        session = _provider(provider).retrieve_checkout(checkout.provider_ref)
        charge = session.charge
        if charge.status is ChargeStatus.SUCCEEDED:
            try:
                return complete_card_payment(
                    checkout.organization_id, checkout.public_id, payment_ref=charge.charge_ref,
                    amount_minor=charge.amount_minor, currency=charge.currency, received_on=today,
                    method_ref=session.method_ref, customer_ref=session.customer_ref,
                    method=session.method_kind or "card")
            except DomainError as err:
                # The money arrived but cannot be applied (its invoices were paid meanwhile, another tab): never
                # payable again; staff apply or refund it (its webhook event waits for them).
                _mark(checkout.pk, Checkout.PROCESSING)
                raise ValidationError(f"Payment {charge.charge_ref} of checkout {checkout.public_id} could not be "
                                      f"recorded: {err.message}", code="payment_not_applied") from err
        if charge.status is ChargeStatus.PENDING and charge.provider_status == "processing":
            return _mark(checkout.pk, Checkout.PROCESSING)
        if charge.status is ChargeStatus.FAILED and session.attempted:
            return _mark(checkout.pk, Checkout.FAILED, charge.decline.message if charge.decline else "")
        return checkout
    if checkout.status in (Checkout.PROCESSING, Checkout.OPEN) and checkout.plan:
        ids = [int(k) for k in checkout.plan]
        still_open = Invoice.objects.filter(pk__in=ids, status__in=Invoice.OPEN_STATUSES).exists()
        if not still_open and (checkout.method == Checkout.TRANSFER or checkout.mandate_id):
            return _mark(checkout.pk, Checkout.PAID)
    return checkout


def mandate_reference(checkout: Checkout) -> str:
    """A mandate reference unique in the organization: the customer's code and the checkout's id."""
    code = "".join(ch for ch in checkout.customer.code.upper() if ch.isalnum())[:12] or "C"
    tail = "".join(ch for ch in checkout.public_id.upper() if ch.isalnum())[:12]
    return f"DULY-{code}-{tail}"


@transaction.atomic
def sign_mandate(checkout: Checkout, *, debtor_name: str, iban: str, bic: str = "", consent: bool,
                 signed_on: date) -> Checkout:
    """The SEPA Core mandate the customer signs on the page: on ``signed_on`` (their local date), at their city.
    Recurrent when they keep the method for future invoices, else one-off. Bad input writes nothing."""
    from .sepa_services import create_mandate

    checkout = Checkout.objects.select_for_update().select_related("organization", "customer").get(pk=checkout.pk)
    if checkout.method != Checkout.SEPA_MANDATE:
        raise ValidationError("This payment is not by direct debit.")
    if checkout.mandate_id is not None:
        return checkout
    if not consent:
        raise ValidationError("Tick the box to authorise the direct debit.", code="mandate_consent_missing")
    if not " ".join((debtor_name or "").split()):
        raise ValidationError("Enter the account holder's name.", code="mandate_name_missing")
    kind = Mandate.RECURRENT if checkout.save_for_future else Mandate.ONE_OFF
    mandate = create_mandate(checkout.organization, checkout.customer, reference=mandate_reference(checkout),
                             signed_on=signed_on, debtor_name=debtor_name, iban=iban, bic=bic,
                             signed_at=checkout.customer.city, kind=kind, as_of=signed_on)
    checkout.mandate, checkout.status = mandate, Checkout.PROCESSING
    checkout.save(update_fields=["mandate", "status", "updated_at"])
    if checkout.save_for_future:
        _prefer(checkout.customer, "sepa_debit")
    return checkout


def creditor_of(org: Organization) -> SepaCreditor | None:
    """The organization's SEPA creditor (None: direct debit is not offered)."""
    return _creditor(org)

