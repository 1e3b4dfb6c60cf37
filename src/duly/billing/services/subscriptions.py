"""Subscriptions: creating them (with their deposit invoice) and starting retainers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Sequence

from django.db import transaction

from duly.customers.models import Contract, Customer, Organization
from duly.customers.services import current_contract
from duly.domain import invoice_math, pricing
from duly.domain.billing_plan import SubscriptionPlan, slots
from duly.domain.compose import paused_days, recurring_charge
from duly.domain.errors import (
    BillingFrequencyMismatch,
    CurrencyMismatch,
    CustomerNotActive,
    InvalidSchedule,
    InvalidState,
    ValidationError,
)
from duly.domain.bounds import check_decimal, dates_in_range
from duly.domain.money import Money, check_amount, from_minor, round_money, to_decimal, to_minor
from duly.domain.text import Percent, Text, text
from duly.domain.schedules import WEEKDAYS, Interval, frequency_of
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

from ..models import PrepaidFunding, Price, RetainerAgreement, Subscription, SubscriptionItem
from ..runner.topups import PREPAID_TAX_CATEGORY, PREPAID_TAX_REASON, RETAINER_NOTE
from ..signals import subscription_changed
from .common import _own, _plan
from .price_changes import _notify_new_items


# --- subscriptions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemSpec:
    price: Price
    quantity: Decimal | int | str = 1


def _quantity(value: Decimal | int | str, price: Price) -> Decimal:
    quantity = to_decimal(value)
    if quantity < 0:
        raise ValidationError(f"Price {price.code}: the quantity cannot be negative (got {quantity}).")
    field = SubscriptionItem._meta.get_field("quantity")
    check_decimal(quantity, max_digits=field.max_digits, decimal_places=field.decimal_places,
                  what=f"Price {price.code}: the quantity")
    if quantity != quantity.quantize(Decimal("0.000001")):
        raise ValidationError(f"Price {price.code}: a quantity has at most 6 decimals (got {quantity}).")
    return quantity


def _check_price_currency(price: Price, customer: Customer, contract: Contract) -> None:
    if price.currency != contract.currency:
        uses = sorted({contract.currency, customer.currency})
        raise CurrencyMismatch(
            f"Price {price.code} is in {price.currency}, but {customer.name} is billed in {' and '.join(uses)} "
            f"(contract {contract.reference} is in {contract.currency}); use a {contract.currency} price.",
            price=price.code, expected=contract.currency, got=price.currency,
        )


def _default_anchor(contract: Contract, interval: str, start: date) -> tuple[str, str]:
    """The billing day of a new subscription given none, and where it comes from (see create_subscription)."""
    if interval == "custom":
        return "", ""
    if contract.billing_anchor_day.strip():
        return contract.billing_anchor_day.strip().lower(), f"the billing day of contract {contract.reference}"
    sibling = (Subscription.objects.filter(contract=contract, interval=interval, next_bill_on__isnull=False)
               .exclude(anchor_day="").order_by("start_date", "id").values_list("anchor_day", flat=True).first())
    if sibling:
        return sibling, f"the billing day of the other {interval} subscriptions under contract {contract.reference}"
    if interval in ("weekly", "biweekly"):
        return WEEKDAYS[start.weekday()], ""
    return str(start.day), ""


def _check_frequency(contract: Contract, interval: Interval, start: date) -> None:
    """Refuse a subscription billed at another frequency than its contract agrees."""
    labels = dict(Contract.FREQUENCY_CHOICES)
    agreed = contract.billing_frequency
    if agreed == "one_off":
        raise BillingFrequencyMismatch(
            f"Contract {contract.reference} is agreed as one-off billing: a subscription needs a contract with a "
            "recurring billing frequency (change the contract's billing frequency first).",
            contract=contract.reference, expected=agreed, got=interval.kind)
    got = frequency_of(interval, start)
    if got != agreed:
        what = (f"a {labels[got].lower()} subscription" if got in labels
                else f"a subscription on the rule {interval.rule!r}, which bills on no agreed frequency")
        raise BillingFrequencyMismatch(
            f"Contract {contract.reference} agrees {labels.get(agreed, agreed).lower()} billing; {what} does not "
            f"match it. Bill it {labels.get(agreed, agreed).lower()} (the default), or change the contract's "
            "billing frequency first.", contract=contract.reference, expected=agreed, got=got or interval.kind)


@transaction.atomic
@dates_in_range
def create_subscription(
    org: Organization,
    customer: Customer,
    items: Sequence[ItemSpec | tuple[Price, Decimal | int | str]],
    *,
    start_date: date,
    as_of: date,
    contract: Contract | None = None,
    interval: str | None = None,
    anchor_day: int | str | None = None,
    rrule: str = "",
    timing: str = Subscription.ADVANCE,
    trial_end: date | None = None,
    end_date: date | None = None,
    reference: str = "",
) -> Subscription:
    """Subscribe a customer to one or more prices under a contract (default: their current one).

    ``interval``: default the contract's billing frequency; another one is refused
    (:class:`~duly.domain.errors.BillingFrequencyMismatch`: the bill must follow the agreed
    frequency). A ``custom`` rule is accepted when it bills as often as agreed
    (:func:`duly.domain.schedules.frequency_of`: ``FREQ=MONTHLY;BYDAY=1MO`` is monthly).

    ``anchor_day``: 1..31 or ``"last"`` for month-based intervals, a weekday name for weekly ones.
    Default, so that a client's subscriptions fall on the same billing date and share one invoice:
    the contract's billing day (``Contract.billing_anchor_day``), else the billing day of the
    contract's other running subscriptions of the same interval, else the start date's day (or
    weekday). A subscription starting between two billing days begins with a prorated stub.

    A deposit the contract requires is invoiced now, dated ``as_of``, before service starts.
    """
    _own(org, customer, "Customer")
    if customer.status == Customer.STATUS_TERMINATED:
        raise CustomerNotActive(f"{customer.name} is terminated: no new subscription can start.")
    contract = contract or current_contract(customer, start_date)
    if contract is None:
        raise ValidationError(f"{customer.name} has no contract in force on {start_date.isoformat()}; "
                              "create one first (it sets the currency and payment terms).", code="no_contract")
    if contract.customer_id != customer.id:
        raise ValidationError(f"Contract {contract.reference} does not belong to {customer.name}.")
    if not items:
        raise ValidationError("A subscription needs at least one price.")
    if timing not in dict(Subscription.TIMING_CHOICES):
        raise InvalidSchedule(f"Unknown billing timing {timing!r}: use advance or arrears.")
    specs = [i if isinstance(i, ItemSpec) else ItemSpec(*i) for i in items]
    for spec in specs:
        _own(org, spec.price, "Price")
        _check_price_currency(spec.price, customer, contract)
        if not spec.price.active:
            raise ValidationError(f"Price {spec.price.code} is no longer sold.")
    interval = interval or contract.billing_frequency
    if interval == "one_off":
        _check_frequency(contract, Interval("monthly"), start_date)  # refused: one-off billing
    if interval == "custom":
        kind = Interval("custom", rrule)
    elif rrule:
        raise InvalidSchedule(f"Only a custom interval takes a recurrence rule, not {interval!r}.")
    else:
        kind = Interval(interval)
    anchor_source = ""
    if anchor_day not in (None, ""):
        anchor_text = str(anchor_day).lower()
    else:
        anchor_text, anchor_source = _default_anchor(contract, interval, start_date)
    if interval == "custom":
        anchor_text = ""
    sub = Subscription(
        organization=org, customer=customer, contract=contract, reference=reference, currency=contract.currency,
        interval=interval, rrule=rrule, anchor_day=anchor_text, timing=timing, start_date=start_date,
        end_date=end_date, trial_end=trial_end,
    )
    rows = [SubscriptionItem(organization=org, price=s.price, quantity=_quantity(s.quantity, s.price),
                             starts_on=start_date) for s in specs]
    try:
        plan = _plan(sub, rows, [])
        plan.schedule()  # validates interval, anchor, trial and end date (InvalidSchedule)
    except InvalidSchedule as exc:
        if not anchor_source:
            raise
        raise InvalidSchedule(f"{exc.message} (the billing day {anchor_text!r} is {anchor_source}; give the "
                              "subscription its own billing day, or correct the contract's).",
                              anchor=anchor_text) from None
    _check_frequency(contract, kind, start_date)
    _, first = slots(plan, last_key=None, as_of=date.min)
    sub.next_bill_on = first.billing_date if first else None
    sub.save()
    for row in rows:
        row.subscription = sub
    SubscriptionItem.objects.bulk_create(rows)
    _notify_new_items(org, sub, rows, as_of)
    _issue_deposit(org, sub, rows, plan, as_of)
    subscription_changed.send(sender=Subscription, subscription=sub, change="created", key="created")
    return sub


def _first_charges(sub: Subscription, rows: Sequence[SubscriptionItem], plan: SubscriptionPlan) -> Decimal:
    """Tax-inclusive total of the recurring charges of the first billed period (for a percent deposit)."""
    cycle = next(iter(plan.schedule().cycles(until=date.max - timedelta(days=400))), None)
    if cycle is None:
        return Decimal(0)
    inputs = []
    for row in rows:
        price = row.price
        if price.quantity_source != Price.SOURCE_QUANTITY:
            continue
        fc = recurring_charge(pricing.model_from_config(price.model_config), row.quantity, sub.currency, cycle,
                              cycle.period, paused_days(plan.pauses, cycle.period))
        inputs.append(invoice_math.LineInput(Decimal(1), fc.amount, price.product.tax_category,
                                             price.product.tax_rate))
    return invoice_math.compute_totals(inputs, sub.currency).tax_inclusive if inputs else Decimal(0)


def _issue_deposit(org: Organization, sub: Subscription, rows: Sequence[SubscriptionItem],
                   plan: SubscriptionPlan, as_of: date) -> Invoice | None:
    contract = sub.contract
    if contract.deposit_kind == "none":
        return None
    if PrepaidFunding.objects.filter(contract=contract, kind=PrepaidFunding.DEPOSIT).exists():
        return None  # one deposit per contract
    if contract.deposit_kind == "amount":
        amount = from_minor(contract.deposit_amount_minor, contract.currency)
        basis = text("as agreed in the contract")
    else:
        first = _first_charges(sub, rows, plan)
        amount = round_money(first * Decimal(contract.deposit_percent) / 100, contract.currency)
        basis = text("{rate} of the first period's charges ({first})",
                     rate=Percent(Decimal(contract.deposit_percent)), first=Money(first, contract.currency))
    if amount <= 0:
        return None
    line = invoicing.LineData(
        description=text("Deposit — contract {contract}", contract=contract.reference), quantity=Decimal(1),
        unit_price=amount, tax_category=PREPAID_TAX_CATEGORY, tax_exemption_reason=PREPAID_TAX_REASON,
        explanation=text("Deposit of {amount}, {basis}.", amount=Money(amount, contract.currency), basis=basis),
    )
    draft = invoicing.create_draft(
        org, sub.customer, [line], kind=Invoice.KIND_DEPOSIT, contract=contract,
        notes=(text("Deposit due before service starts on {date}. Once paid, it is held until your final invoice "
                    "under this contract and deducted from it; any rest is paid back.", date=sub.start_date)
               if contract.deposit_deduction == Contract.DEPOSIT_FINAL_INVOICE
               else text("Deposit due before service starts on {date}. Once paid, it is deducted from your next "
                         "invoices under this contract until used up.", date=sub.start_date)),
    )
    invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of)
    PrepaidFunding.objects.create(organization=org, customer=sub.customer, contract=contract, subscription=sub,
                                  kind=PrepaidFunding.DEPOSIT, invoice=invoice, currency=invoice.currency,
                                  amount_minor=invoice.total_minor, created_on=as_of)
    return invoice


# --- retainers -------------------------------------------------------------------------------------------
@transaction.atomic
@dates_in_range
def start_retainer(org: Organization, contract: Contract, *, topup_amount: Decimal | str, threshold: Decimal | str,
                   as_of: date, initial_amount: Decimal | str | None = None) -> RetainerAgreement:
    """Put a contract on a retainer and invoice its first funding (``initial_amount``, default the top-up)."""
    _own(org, contract, "Contract")
    if RetainerAgreement.objects.filter(contract=contract).exists():
        raise InvalidState(f"Contract {contract.reference} already has a retainer.")
    currency = contract.currency
    topup = check_amount(topup_amount, currency, "The top-up amount")
    limit = check_amount(threshold, currency, "The threshold")
    first = check_amount(initial_amount if initial_amount is not None else topup_amount, currency,
                         "The first funding amount")
    if topup <= 0 or first <= 0 or limit < 0:
        raise ValidationError("A retainer needs a positive top-up amount and a threshold of 0 or more.")
    retainer = RetainerAgreement.objects.create(
        organization=org, customer=contract.customer, contract=contract, currency=currency,
        topup_minor=to_minor(topup, currency), threshold_minor=to_minor(limit, currency), created_on=as_of)
    _retainer_invoice(org, contract, first, text("Retainer — contract {contract}", contract=contract.reference), as_of)
    return retainer


def _retainer_invoice(org: Organization, contract: Contract, amount: Decimal, description: Text,
                      as_of: date) -> Invoice:
    """Issue a retainer (funding) invoice of ``amount`` and record it in the retainer ledger."""
    currency = contract.currency
    line = invoicing.LineData(
        description=description, quantity=Decimal(1), unit_price=amount,
        tax_category=PREPAID_TAX_CATEGORY, tax_exemption_reason=PREPAID_TAX_REASON,
        explanation=text("Prepaid balance of {amount}, drawn down by recurring and usage charges.",
                         amount=Money(amount, currency)),
    )
    draft = invoicing.create_draft(org, contract.customer, [line], kind=Invoice.KIND_DEPOSIT, contract=contract,
                                   notes=RETAINER_NOTE)
    invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of)
    PrepaidFunding.objects.create(organization=org, customer=contract.customer, contract=contract,
                                  kind=PrepaidFunding.RETAINER, invoice=invoice, currency=currency,
                                  amount_minor=invoice.total_minor, created_on=as_of)
    return invoice


@transaction.atomic
@dates_in_range
def top_up_retainer(org: Organization, contract: Contract, *, as_of: date,
                    amount: Decimal | str | None = None) -> Invoice:
    """Invoice a top-up of a contract's retainer now (``amount``, default its agreed top-up), without waiting for
    the balance to fall below the threshold; it counts once paid."""
    _own(org, contract, "Contract")
    retainer = RetainerAgreement.objects.filter(contract=contract).first()
    if retainer is None:
        raise InvalidState(f"Contract {contract.reference} has no retainer: start one first.")
    if not retainer.active:
        raise InvalidState(f"The retainer of contract {contract.reference} is stopped.")
    currency = contract.currency
    value = from_minor(retainer.topup_minor, currency) if amount in (None, "") else check_amount(
        amount, currency, "The top-up amount")
    if value <= 0:
        raise ValidationError("A top-up amount must be above 0.")
    return _retainer_invoice(org, contract, value, text("Retainer top-up — contract {contract}", contract=contract.reference),
                             as_of)
