"""Writes of the billing area: catalog, subscriptions, deposits and retainers, price changes.

Every public function takes the organization explicitly, validates through the pure rules
(:mod:`duly.domain.pricing`, :mod:`duly.domain.schedules`) and is one transaction. Usage recording
lives in :mod:`duly.billing.ingest` and the billing run in :mod:`duly.billing.run`; both are
re-exported here, so ``duly.billing.services`` is the one entry point.

Mid-period changes (prices billed in advance)
    A plan or quantity change, a pause or an immediate cancellation that touches a period already
    invoiced is settled at once, with Decimal proration from :mod:`duly.domain.schedules`:

    - the customer owes more (an upgrade): a prorated charge waits for their next invoice
      (:class:`~duly.billing.models.PendingCharge`), its line explaining "remaining new − unused old";
    - the customer is owed (a downgrade, a pause, a cancellation): a credit note for the prorated
      unused part is issued against the invoice that billed the period.

    Periods billed in arrears need nothing: the run bills each item for the days it was active.
    Invoiced periods cannot be changed retroactively (a change may start at the earliest on the
    first day of the last invoiced period).

Deposits
    A contract with ``deposit_kind`` ``amount`` or ``percent`` gets one deposit invoice when its first
    subscription is created, before service starts (``percent``: of the first period's recurring
    charges, tax included). Once paid, it is deducted as the contract says (``deposit_deduction``),
    shown on the invoice as the prepaid amount (EN 16931 BT-113):

    - ``next_invoices`` (default): from the contract's next invoices until used up;
    - ``final_invoice``: held (each invoice says so) until the contract's final invoice, the one
      billing the last period once no subscription under the contract is left to bill; it is
      deducted from that invoice (and any later one, e.g. late usage), and what is left is shown as
      owed back to the customer. Paying it back is a payment, outside billing.

Retainers
    :func:`start_retainer` issues the first retainer invoice; once paid, recurring and usage charges
    draw the balance down, and the billing run invoices a top-up when it falls below the threshold.
    :func:`retainer_balance` is the balance shown on invoices and statements (:mod:`duly.billing.retainers`
    reads the ledger, as of any date).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping, Sequence

from django.db import transaction
from django.db.models import Q

from duly.customers.models import Contract, Customer, Organization
from duly.customers.services import check_model_values, current_contract
from duly.domain import invoice_math, pricing
from duly.domain import usage as domain_usage
from duly.domain.billing_plan import (
    SubscriptionPlan,
    describe_model,
    fixed_charge,
    parse_anchor,
    plain_quantity,
    slots,
)
from duly.domain.calendar import calendar_for
from duly.domain.errors import (
    BillingFrequencyMismatch,
    CurrencyMismatch,
    CustomerNotActive,
    InvalidPricing,
    InvalidSchedule,
    InvalidState,
    NotFound,
    NoticePeriodTooShort,
    UnknownAggregation,
    ValidationError,
)
from duly.domain.bounds import check_decimal, dates_in_range
from duly.domain.money import check_amount, check_currency, from_minor, round_money, to_decimal, to_minor
from duly.domain.payment_terms import format_date
from duly.domain.schedules import (
    WEEKDAYS,
    Cycle,
    Interval,
    Pause,
    Period,
    change_proration,
    frequency_of,
    prorate,
    split_part,
)
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

from .ingest import Rejection, UsageResult, read_usage_file
from .usage_services import record_licence_counts, record_usage, record_usage_event
from .models import (
    BillingRecord,
    Metric,
    PendingCharge,
    PrepaidFunding,
    Price,
    PriceChange,
    PriceChangeNotice,
    Product,
    RetainerAgreement,
    Subscription,
    SubscriptionItem,
    SubscriptionPause,
)
from .retainers import RetainerBalance, retainer_balance
from .run import (
    PREPAID_TAX_CATEGORY,
    PREPAID_TAX_REASON,
    BillingRunResult,
    Catalog,
    ScheduledBillingReport,
    bill_all_organizations,
    run_billing,
)

__all__ = [
    "BillingRunResult",
    "ItemSpec",
    "RetainerBalance",
    "Rejection",
    "ScheduledBillingReport",
    "UsageResult",
    "AGGREGATIONS",
    "add_item",
    "bill_all_organizations",
    "cancel_subscription",
    "change_item",
    "check_notice",
    "check_price",
    "check_tax",
    "create_metric",
    "create_price",
    "create_product",
    "create_subscription",
    "mark_price_notice_sent",
    "pause_subscription",
    "pending_price_notices",
    "read_usage_file",
    "record_licence_counts",
    "record_usage",
    "record_usage_event",
    "remove_item",
    "resume_subscription",
    "retainer_balance",
    "run_billing",
    "schedule_price_change",
    "start_retainer",
    "update_catalog_entry",
    "validate_price_config",
]


def _own(org: Organization, obj: Any, what: str) -> None:
    if obj is None or obj.organization_id != org.id:
        raise NotFound(f"{what} not found in {org.name}.")


# --- catalog ------------------------------------------------------------------------------------------
#: Usage aggregations a metric may use.
AGGREGATIONS = domain_usage.AGGREGATIONS
_DISPLAY_FIELDS: dict[type, frozenset[str]] = {
    Product: frozenset({"name", "description", "active"}),
    Metric: frozenset({"name"}),
    Price: frozenset({"nickname", "active"}),
}


def check_tax(tax_category: str, tax_rate: Decimal | str | int) -> None:
    """A valid tax category and rate, judged by the invoice arithmetic itself."""
    invoice_math.compute_totals(
        [invoice_math.LineInput(Decimal(1), Decimal(0), tax_category, to_decimal(tax_rate))], "EUR")


@transaction.atomic
def update_catalog_entry(org: Organization, obj: Product | Metric | Price, **fields: Any) -> Product | Metric | Price:
    """Change the display fields of a product, metric or price (name, description, nickname, active).

    What is billed (codes, currency, price model, tax) never changes in place: create a new price, or
    schedule a price change.
    """
    _own(org, obj, type(obj).__name__)
    allowed = _DISPLAY_FIELDS[type(obj)]
    wrong = set(fields) - allowed
    if wrong:
        raise ValidationError(f"Only {', '.join(sorted(allowed))} of a {type(obj).__name__.lower()} can change; "
                              f"not {', '.join(sorted(wrong))}.")
    if "name" in fields and not fields["name"]:
        raise ValidationError("A name cannot be empty.")
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save(update_fields=list(fields) or None)
    return obj


@transaction.atomic
def create_product(org: Organization, *, code: str, name: str, unit: str = "C62", tax_category: str = "S",
                   tax_rate: Decimal | str | int = 0, tax_exemption_reason: str = "", description: str = "") -> Product:
    """A product; its tax category and rate apply to every invoice line of its prices."""
    if not code or not name:
        raise ValidationError("A product needs a code and a name.")
    rate = check_model_values(Product, {"code": code, "name": name, "unit": unit, "tax_rate": tax_rate,
                                        "tax_exemption_reason": tax_exemption_reason, "description": description},
                              f"Product {code}")["tax_rate"]
    check_tax(tax_category, rate)
    if Product.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Product code {code!r} is already used.", code="duplicate")
    return Product.objects.create(organization=org, code=code, name=name, unit=unit, tax_category=tax_category,
                                  tax_rate=rate, tax_exemption_reason=tax_exemption_reason, description=description)


@transaction.atomic
def create_metric(org: Organization, *, code: str, name: str, aggregation: str, property_name: str = "") -> Metric:
    """A usage meter, aggregated per period with one of :data:`duly.domain.usage.AGGREGATIONS`."""
    if not code or not name:
        raise ValidationError("A metric needs a code and a name.")
    if aggregation not in domain_usage.AGGREGATIONS:
        raise UnknownAggregation(
            f"Unknown aggregation {aggregation!r}: use one of {', '.join(domain_usage.AGGREGATIONS)}.",
            aggregation=str(aggregation))
    if property_name and aggregation != "unique_count":
        raise ValidationError("A property name only applies to a unique_count metric.")
    if Metric.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Metric code {code!r} is already used.", code="duplicate")
    return Metric.objects.create(organization=org, code=code, name=name, aggregation=aggregation,
                                 property_name=property_name)


def validate_price_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a price model configuration; overlapping tiers and other mistakes raise.

    Raises :class:`~duly.domain.errors.OverlappingTiers` or :class:`~duly.domain.errors.InvalidPricing`
    with a message naming the tier or setting at fault.
    """
    return pricing.model_from_config(config).to_config()


def check_price(code: str, currency: str, model_config: Mapping[str, Any], quantity_source: str,
                metric: Metric | None) -> dict[str, Any]:
    """Validate a price without writing it; returns the canonical configuration."""
    check_currency(currency)
    if quantity_source not in dict(Price.SOURCE_CHOICES):
        raise ValidationError(f"Unknown quantity source {quantity_source!r}: use quantity, usage or licences.")
    if quantity_source == Price.SOURCE_USAGE and metric is None:
        raise ValidationError(f"Price {code}: a usage price needs the metric it is billed on.")
    if quantity_source != Price.SOURCE_USAGE and metric is not None:
        raise ValidationError(f"Price {code}: only a usage price has a metric.")
    config = validate_price_config(model_config)
    _check_config_numbers(config, f"Price {code}")
    model = pricing.model_from_config(config)
    takes_transactions = isinstance(model, pricing.PercentagePricing) or (
        isinstance(model, pricing.MinimumCommitment) and isinstance(model.charge_model, pricing.PercentagePricing))
    if takes_transactions and quantity_source != Price.SOURCE_USAGE:
        raise InvalidPricing(f"Price {code}: a percentage price is charged on transactions, so it must be a "
                             "usage price whose events are the transaction amounts.")
    return config


#: Numbers in a price configuration (amounts, unit prices, tier bounds, rates): what Duly computes with exactly.
PRICE_NUMBER = dict(max_digits=25, decimal_places=10)


def _check_config_numbers(config: Any, what: str) -> None:
    """Every number of a canonical price configuration within :data:`PRICE_NUMBER` (15 significant digits)."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, Decimal, int)) and not isinstance(item, bool):
            try:
                number = to_decimal(item)
            except ValidationError:
                continue  # text (the model's name...): the model itself judged it
            check_decimal(number, what=f"{what}: the number", **PRICE_NUMBER)


@transaction.atomic
def create_price(org: Organization, product: Product, *, code: str, currency: str, model_config: Mapping[str, Any],
                 quantity_source: str = Price.SOURCE_QUANTITY, metric: Metric | None = None,
                 nickname: str = "") -> Price:
    """A price of ``product`` in one currency. The configuration is validated and stored canonically."""
    _own(org, product, "Product")
    if metric is not None:
        _own(org, metric, "Metric")
    config = check_price(code, currency, model_config, quantity_source, metric)
    if Price.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Price code {code!r} is already used.", code="duplicate")
    return Price.objects.create(organization=org, product=product, code=code, currency=currency,
                                model_config=config, quantity_source=quantity_source, metric=metric,
                                nickname=nickname)


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


def _plan(sub: Subscription, items: Sequence[SubscriptionItem] | None = None,
          pauses: Sequence[SubscriptionPause] | None = None) -> SubscriptionPlan:
    items = list(sub.items.select_related("price")) if items is None else items
    pauses = list(sub.pauses.all()) if pauses is None else pauses
    return SubscriptionPlan(
        start=sub.start_date, interval=sub.interval, rule=sub.rrule or None,
        anchor=parse_anchor(sub.anchor_day, sub.interval), trial_end=sub.trial_end, end=sub.end_date,
        pauses=tuple(Pause(p.starts_on, p.resumes_on or date.max) for p in pauses), timing=sub.timing,
        metered=any(i.price.quantity_source != Price.SOURCE_QUANTITY for i in items),
    )


def _refresh_cursor(sub: Subscription) -> None:
    """Recompute when the subscription is next due (after a change of its schedule or items)."""
    _, nxt = slots(_plan(sub), last_key=sub.last_billed_period_start, as_of=date.min)
    sub.next_bill_on = nxt.billing_date if nxt else None
    if nxt is None and sub.end_date is not None and sub.status == Subscription.ACTIVE \
            and sub.last_billed_period_start is not None:
        sub.status = Subscription.ENDED
    sub.save(update_fields=["next_bill_on", "status", "end_date", "cancel_at_period_end", "canceled_on",
                            "trial_end"])


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
        fc = fixed_charge(pricing.model_from_config(price.model_config), row.quantity, sub.currency,
                          whole=cycle.whole, part=cycle.period,
                          paused_days=sum(p.period.overlap_days(cycle.period) for p in plan.pauses))
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
        basis = "as agreed in the contract"
    else:
        first = _first_charges(sub, rows, plan)
        amount = round_money(first * Decimal(contract.deposit_percent) / 100, contract.currency)
        basis = f"{Decimal(contract.deposit_percent).normalize():f}% of the first period's charges ({first})"
    if amount <= 0:
        return None
    line = invoicing.LineData(
        description=f"Deposit — contract {contract.reference}", quantity=Decimal(1), unit_price=amount,
        tax_category=PREPAID_TAX_CATEGORY, tax_exemption_reason=PREPAID_TAX_REASON,
        explanation=f"Deposit of {amount} {contract.currency}, {basis}.",
    )
    draft = invoicing.create_draft(
        org, sub.customer, [line], kind=Invoice.KIND_DEPOSIT, contract=contract,
        notes=(f"Deposit due before service starts on {format_date(sub.start_date)}. Once paid, it is "
               + ("held until your final invoice under this contract and deducted from it; any rest is paid back."
                  if contract.deposit_deduction == Contract.DEPOSIT_FINAL_INVOICE
                  else "deducted from your next invoices under this contract until used up.")),
    )
    invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of)
    PrepaidFunding.objects.create(organization=org, customer=sub.customer, contract=contract, subscription=sub,
                                  kind=PrepaidFunding.DEPOSIT, invoice=invoice, currency=invoice.currency,
                                  amount_minor=invoice.total_minor, created_on=as_of)
    return invoice


def _locked(org: Organization, subscription: Subscription) -> Subscription:
    _own(org, subscription, "Subscription")
    return Subscription.objects.select_for_update(of=("self",)).select_related("customer", "contract").get(
        pk=subscription.pk)


def _cycle_containing(plan: SubscriptionPlan, day: date) -> Cycle | None:
    for cycle in plan.schedule().cycles(until=day + timedelta(days=1)):
        if cycle.period.start <= day < cycle.period.end:
            return cycle
    return None


def _billed_cycle(sub: Subscription, plan: SubscriptionPlan, day: date) -> tuple[Cycle | None, BillingRecord | None]:
    """The cycle containing ``day`` and its billing record, if that cycle was already invoiced."""
    if sub.last_billed_period_start is not None and day < sub.last_billed_period_start:
        raise InvalidState(
            f"{day.isoformat()} is in a period of {sub} that was already invoiced; changes start on "
            f"{sub.last_billed_period_start.isoformat()} at the earliest (or issue a credit note).")
    cycle = _cycle_containing(plan, day)
    if cycle is None:
        return None, None
    record = BillingRecord.objects.filter(subscription=sub, period_start=cycle.period.start).select_related(
        "invoice").first()
    if record is not None and sub.timing == Subscription.ARREARS:
        raise InvalidState(f"The period of {sub} containing {day.isoformat()} was already invoiced in arrears.")
    return cycle, record


def _item_charge(sub: Subscription, item: SubscriptionItem, cycle: Cycle, plan: SubscriptionPlan, catalog: Catalog):
    """The recurring charge billed for an item over a cycle (recomputed exactly as the run computed it).

    ``catalog`` is read once per service call (:class:`~duly.billing.run.Catalog`), not once per item.
    """
    model, _ = catalog.model_at(item.price, sub.pk, cycle.period.start, sub.customer_id)
    start = max(item.starts_on, cycle.period.start)
    end = min(item.ends_on or cycle.period.end, cycle.period.end)
    if end <= start:
        return model, None, None
    part = Period(start, end)
    paused = sum(p.period.overlap_days(part) for p in plan.pauses)
    return model, part, fixed_charge(model, item.quantity, sub.currency, whole=cycle.whole, part=part,
                                     paused_days=paused)


def _label(price: Price, product: Product | None = None) -> str:
    name = (product or price.product).name
    return f"{name} ({price.nickname})" if price.nickname else name


def _credit(org: Organization, record: BillingRecord | None, lines: list[invoicing.LineData], reason: str,
            as_of: date) -> Invoice | None:
    lines = [line for line in lines if line.unit_price > 0]
    if not lines or record is None or record.invoice is None or record.invoice.status == Invoice.VOID:
        return None
    lines = _net_against_pending(record, lines)
    if not lines:
        return None
    return invoicing.create_credit_note(org, record.invoice_id, reason=reason, lines=lines, issue_date=as_of)


def _net_against_pending(record: BillingRecord, lines: list[invoicing.LineData]) -> list[invoicing.LineData]:
    """Credit lines that the invoice ``record`` billed can no longer absorb go against the charges not yet invoiced.

    Days of an invoiced cycle can be credited (a pause), charged back (a resume: a pending charge for the
    next invoice) and credited again (a second pause, a cancellation). What the invoice's credit notes
    credit never exceeds its total (``credit_exceeds_invoice_total``), so the part of the credit beyond
    what is left to credit on the invoice reduces the subscription's pending charges of that cycle instead
    (newest first): those charges billed the very days credited again. Whatever they cannot absorb is
    left in the credit note, which the invoice's own check then refuses as a real over-credit.
    """
    invoice = record.invoice
    currency = invoice.currency
    totals = invoicing.check_lines(lines, currency)
    room = invoice.total_minor - invoicing.credited_minor(invoice)
    excess = to_minor(totals.tax_inclusive, currency) - room
    if excess <= 0:
        return lines
    # The excess in net terms (the lines' VAT scales with them), rounded up so the gross fits the room.
    gross_minor = max(to_minor(totals.tax_inclusive, currency), 1)
    excess_net = -(-excess * to_minor(totals.tax_exclusive, currency) // gross_minor)  # integer ceiling
    pending = list(PendingCharge.objects.select_for_update().filter(
        subscription_id=record.subscription_id, invoice__isnull=True, amount_minor__gt=0,
        period_start__lt=record.period_end).order_by("-id"))
    absorbed = 0
    for charge in pending:
        take = min(charge.amount_minor, excess_net - absorbed)
        if take <= 0:
            break
        charge.amount_minor -= take
        charge.explanation = (charge.explanation + f" Reduced by {from_minor(take, currency)}: those days were "
                              f"credited again.").strip()[:2000]
        if charge.amount_minor:
            charge.save(update_fields=["amount_minor", "explanation"])
        else:
            charge.delete()
        absorbed += take
    if not absorbed:
        return lines
    # Take the absorbed amount off the credit lines, last line first.
    out = list(lines)
    left = from_minor(absorbed, currency)
    for i in range(len(out) - 1, -1, -1):
        cut = min(out[i].unit_price, left)
        out[i] = dataclass_replace(out[i], unit_price=out[i].unit_price - cut)
        left -= cut
        if not left:
            break
    return [line for line in out if line.unit_price > 0]


def _pending(org: Organization, sub: Subscription, price: Price, amount: Decimal, description: str,
             explanation: str, period: Period, as_of: date) -> PendingCharge | None:
    if amount <= 0:
        return None
    product = price.product
    return PendingCharge.objects.create(
        organization=org, customer=sub.customer, subscription=sub, currency=sub.currency, description=description,
        amount_minor=to_minor(amount, sub.currency), unit=product.unit, tax_category=product.tax_category,
        tax_rate=product.tax_rate, tax_exemption_reason=product.tax_exemption_reason, period_start=period.start,
        period_end=period.last_day, explanation=explanation, created_on=as_of,
    )


def _unused_line(item: SubscriptionItem, full: Decimal, currency: str, cycle: Cycle, part: Period,
                 plan: SubscriptionPlan, on: date, description: str):
    """The credit line for the unused rest ``[on, part.end)`` of an item's invoiced part: priced from the
    undiscounted price of the whole cycle and its unpaused days (:func:`~duly.domain.schedules.split_part`)."""
    split = split_part(full, currency, part, on, whole=cycle.whole, pauses=plan.pauses)
    rest = Period(on, part.end)
    paused = rest.days - split.unused_days
    days = f"{split.unused_days} unused day{'' if split.unused_days == 1 else 's'}" + (
        f" ({paused} paused day{'' if paused == 1 else 's'} not counted)" if paused else "")
    explanation = (f"{days} of {split.whole_days}: {full} × {split.billed_days}/{split.whole_days} invoiced "
                   f"({split.billed}) − {full} × {split.used_days}/{split.whole_days} used ({split.used}) "
                   f"= {split.unused}.")
    return _credit_line(item.price, split.unused, rest, description, explanation)


def _credit_line(price: Price, amount: Decimal, period: Period, description: str, explanation: str):
    product = price.product
    return invoicing.LineData(
        description=description[:500], quantity=Decimal(1), unit_price=amount, unit=product.unit,
        tax_category=product.tax_category, tax_rate=product.tax_rate,
        tax_exemption_reason=product.tax_exemption_reason, period_start=period.start, period_end=period.last_day,
        explanation=explanation,
    )


@transaction.atomic
@dates_in_range
def change_item(org: Organization, subscription: Subscription, item_id: int, *, on: date, as_of: date,
                quantity: Decimal | int | str | None = None, price: Price | None = None) -> SubscriptionItem:
    """Change the quantity and/or the price (plan) of an item from ``on``; prorated if that period was invoiced.

    The current item ends on ``on`` and a new one starts then, so every period is billed exactly
    for the days each applied. Returns the new item.
    """
    sub = _locked(org, subscription)
    item = SubscriptionItem.objects.select_related("price__product").filter(subscription=sub, pk=item_id).first()
    if item is None:
        raise NotFound(f"Item {item_id} is not an item of {sub}.")
    if quantity is None and price is None:
        raise ValidationError("Give a new quantity, a new price, or both.")
    new_price = price or item.price
    _own(org, new_price, "Price")
    _check_price_currency(new_price, sub.customer, sub.contract)
    if (new_price.quantity_source == Price.SOURCE_QUANTITY) != (item.price.quantity_source == Price.SOURCE_QUANTITY):
        raise ValidationError("A recurring price can only be changed for another recurring price (and a metered "
                              "one for another metered one); add and remove items instead.")
    new_quantity = _quantity(item.quantity if quantity is None else quantity, new_price)
    _check_item_date(sub, item, on)
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    new_item = SubscriptionItem(organization=org, subscription=sub, price=new_price, quantity=new_quantity,
                                starts_on=on, ends_on=item.ends_on)
    if record is not None and record.invoice is not None and item.price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        catalog = Catalog(org)
        _, part, old = _item_charge(sub, item, cycle, plan, catalog)
        if part is not None and part.start <= on < part.end:
            new_model, _ = catalog.model_at(new_price, sub.pk, cycle.period.start, sub.customer_id)
            new = fixed_charge(new_model, new_quantity, sub.currency, whole=cycle.whole, part=cycle.whole).full
            # From the undiscounted prices of the whole cycle and the days actually paused: a pause
            # already taken off the invoice is never taken off the rest a second time.
            split = change_proration(old.full.amount, new.amount, sub.currency, part, on, whole=cycle.whole,
                                     pauses=plan.pauses)
            rest = Period(on, part.end)
            what = (f"{_label(item.price)} × {plain_quantity(item.quantity):f} → {_label(new_price)} × "
                    f"{plain_quantity(new_quantity):f} from {format_date(on)}")
            explanation = (f"Remaining {format_date(on)}–{format_date(rest.last_day)} at the new price "
                           f"{split.charge_for_remaining_new} − unused part of the period already invoiced "
                           f"({record.invoice.number}) {split.credit_for_unused_old} = {split.net}.")
            if split.net > 0:
                _pending(org, sub, new_price, split.net, f"Change: {what}, {domain_usage.format_period(rest)}",
                         explanation, rest, as_of)
            elif split.net < 0:
                _credit(org, record, [_credit_line(item.price, -split.net, rest,
                                                   f"Change: {what}, {domain_usage.format_period(rest)}",
                                                   explanation)], f"Plan change of {sub}: {what}.", as_of)
    item.ends_on = on
    item.save(update_fields=["ends_on"])
    if new_quantity > 0 or new_price.quantity_source != Price.SOURCE_QUANTITY:
        new_item.save()
        _notify_new_items(org, sub, [new_item], as_of)
    _refresh_cursor(sub)
    return new_item


def _check_item_date(sub: Subscription, item: SubscriptionItem | None, on: date) -> None:
    if on < sub.start_date:
        raise InvalidSchedule(f"{on.isoformat()} is before {sub} starts ({sub.start_date.isoformat()}).")
    if sub.end_date is not None and on >= sub.end_date:
        raise InvalidSchedule(f"{sub} ends on {sub.end_date.isoformat()}; nothing can change after that.")
    if item is not None:
        if on < item.starts_on:
            raise InvalidSchedule(f"The item starts on {item.starts_on.isoformat()}; it cannot change before.")
        if item.ends_on is not None and on >= item.ends_on:
            raise InvalidSchedule(f"The item already ended on {item.ends_on.isoformat()}.")


@transaction.atomic
@dates_in_range
def add_item(org: Organization, subscription: Subscription, price: Price, quantity: Decimal | int | str = 1, *,
             on: date, as_of: date) -> SubscriptionItem:
    """Add a price from ``on`` (an add-on).

    In a period invoiced in advance, its prorated rest waits for the next invoice.
    """
    sub = _locked(org, subscription)
    _own(org, price, "Price")
    _check_price_currency(price, sub.customer, sub.contract)
    qty = _quantity(quantity, price)
    _check_item_date(sub, None, on)
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    item = SubscriptionItem.objects.create(organization=org, subscription=sub, price=price, quantity=qty,
                                           starts_on=on)
    item.price = Price.objects.select_related("product").get(pk=price.pk)
    if record is not None and record.invoice is not None and price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        _, part, charge = _item_charge(sub, item, cycle, _plan(sub), Catalog(org))
        if part is not None and charge is not None:
            _pending(org, sub, item.price, charge.amount,
                     f"Added: {_label(item.price)} × {plain_quantity(qty):f}, {domain_usage.format_period(part)}",
                     charge.explanation, part, as_of)
    _notify_new_items(org, sub, [item], as_of)
    _refresh_cursor(sub)
    return item


@transaction.atomic
@dates_in_range
def remove_item(org: Organization, subscription: Subscription, item_id: int, *, on: date, as_of: date) -> None:
    """End an item on ``on``; the unused part of an invoiced advance period is credited."""
    sub = _locked(org, subscription)
    item = SubscriptionItem.objects.select_related("price__product").filter(subscription=sub, pk=item_id).first()
    if item is None:
        raise NotFound(f"Item {item_id} is not an item of {sub}.")
    _check_item_date(sub, item, on)
    if not SubscriptionItem.objects.filter(subscription=sub).exclude(pk=item.pk).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gt=on)).exists():
        raise InvalidState(f"{item.price.code} is the last item of {sub}: cancel the subscription instead.")
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    if record is not None and record.invoice is not None and item.price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        _, part, fixed = _item_charge(sub, item, cycle, plan, Catalog(org))
        if part is not None and part.start <= on < part.end:
            rest = Period(on, part.end)
            _credit(org, record, [_unused_line(item, fixed.full.amount, sub.currency, cycle, part, plan, on,
                                               f"Removed: {_label(item.price)}, {domain_usage.format_period(rest)}")],
                    f"{_label(item.price)} removed from {sub} on {format_date(on)}.", as_of)
    item.ends_on = on
    item.save(update_fields=["ends_on"])
    _refresh_cursor(sub)


@transaction.atomic
@dates_in_range
def cancel_subscription(org: Organization, subscription: Subscription, *, on: date, as_of: date,
                        at_period_end: bool = True, reason: str = "") -> Subscription:
    """Cancel at the end of the period containing ``on``, or immediately on ``on`` with a prorated credit note.

    Immediately, the unused days of a period invoiced in advance are credited against that invoice;
    usage up to ``on`` is still billed (on the next run).
    """
    sub = _locked(org, subscription)
    if sub.status != Subscription.ACTIVE:
        raise InvalidState(f"{sub} is already {sub.get_status_display().lower()}.")
    plan = _plan(sub)
    new_end = plan.schedule().cancel(on, at_period_end=at_period_end).end
    if not at_period_end:
        cycle, record = _billed_cycle(sub, plan, on)
        if record is not None and record.invoice is not None and cycle is not None:
            lines = []
            catalog = Catalog(org)
            for item in sub.items.select_related("price__product"):
                if item.price.quantity_source != Price.SOURCE_QUANTITY:
                    continue
                _, part, fixed = _item_charge(sub, item, cycle, plan, catalog)
                if part is None or not part.start <= on < part.end:
                    continue
                rest = Period(on, part.end)
                lines.append(_unused_line(item, fixed.full.amount, sub.currency, cycle, part, plan, on,
                                          f"Cancelled: {_label(item.price)}, {domain_usage.format_period(rest)}"))
            _credit(org, record, lines, f"{sub} cancelled on {format_date(on)}" + (f": {reason}" if reason else "."),
                    as_of)
    sub.end_date = new_end
    sub.status = Subscription.CANCELED
    sub.cancel_at_period_end = at_period_end
    sub.canceled_on = as_of
    _refresh_cursor(sub)
    return sub


@transaction.atomic
@dates_in_range
def pause_subscription(org: Organization, subscription: Subscription, *, starts_on: date, as_of: date,
                       resumes_on: date | None = None, reason: str = "") -> SubscriptionPause:
    """Pause recurring charges from ``starts_on`` (until ``resumes_on``, or until resumed).

    Paused days of a period already invoiced in advance are credited at once.
    """
    sub = _locked(org, subscription)
    if sub.status != Subscription.ACTIVE:
        raise InvalidState(f"{sub} is {sub.get_status_display().lower()}: it cannot be paused.")
    if resumes_on is not None and resumes_on <= starts_on:
        raise InvalidSchedule("A pause must resume after it starts.")
    _check_item_date(sub, None, starts_on)
    for other in sub.pauses.all():
        if starts_on < (other.resumes_on or date.max) and other.starts_on < (resumes_on or date.max):
            raise InvalidState(f"{sub} is already paused from {other.starts_on.isoformat()}"
                               + (f" to {other.resumes_on.isoformat()}." if other.resumes_on else " (open)."))
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, starts_on)
    pause = SubscriptionPause.objects.create(organization=org, subscription=sub, starts_on=starts_on,
                                             resumes_on=resumes_on, reason=reason)
    if record is not None and record.invoice is not None and cycle is not None:
        paused = Period(starts_on, min(resumes_on or cycle.period.end, cycle.period.end))
        _settle_days(org, sub, cycle, record, plan, paused, as_of, credit=True,
                     why=f"paused from {format_date(starts_on)}")
    _refresh_cursor(sub)
    return pause


@transaction.atomic
@dates_in_range
def resume_subscription(org: Organization, subscription: Subscription, *, on: date, as_of: date) -> SubscriptionPause:
    """End the open pause on ``on``. Days of an invoiced period that were credited for the pause are charged back."""
    sub = _locked(org, subscription)
    pause = sub.pauses.filter(Q(resumes_on__isnull=True) | Q(resumes_on__gt=on), starts_on__lte=on).first()
    if pause is None:
        raise InvalidState(f"{sub} is not paused on {on.isoformat()}.")
    if on <= pause.starts_on:
        raise InvalidSchedule("A pause must resume after it starts.")
    plan = _plan(sub)
    old_resume = pause.resumes_on
    cycle, record = _billed_cycle(sub, plan, on)
    if record is not None and cycle is not None:
        # The period was billed without these days (credited by the pause, or billed while paused).
        back = Period(on, min(old_resume or cycle.period.end, cycle.period.end))
        _settle_days(org, sub, cycle, record, plan, back, as_of, credit=False,
                     why=f"resumed on {format_date(on)}")
    pause.resumes_on = on
    pause.save(update_fields=["resumes_on"])
    _refresh_cursor(sub)
    return pause


def _settle_days(org: Organization, sub: Subscription, cycle: Cycle, record: BillingRecord,
                 plan: SubscriptionPlan, days: Period, as_of: date, *, credit: bool, why: str) -> None:
    """Credit (or charge back) the recurring charges of ``days`` inside an invoiced cycle."""
    lines = []
    catalog = Catalog(org)
    for item in sub.items.select_related("price__product"):
        if item.price.quantity_source != Price.SOURCE_QUANTITY:
            continue
        model, part, charge = _item_charge(sub, item, cycle, plan, catalog)
        if part is None:
            continue
        start, end = max(part.start, days.start), min(part.end, days.end)
        if end <= start:
            continue
        span = Period(start, end)
        amount = prorate(charge.full.amount, sub.currency, span, cycle.whole)
        description = f"{'Paused' if credit else 'Resumed'}: {_label(item.price)}, {domain_usage.format_period(span)}"
        explanation = f"{span.days} of {cycle.whole.days} days ({why}): {charge.full.amount} × {span.days}/" \
                      f"{cycle.whole.days} = {amount}."
        if credit:
            lines.append(_credit_line(item.price, amount, span, description, explanation))
        else:
            _pending(org, sub, item.price, amount, description, explanation, span, as_of)
    if credit:
        _credit(org, record, lines, f"{sub} {why}.", as_of)


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
    line = invoicing.LineData(
        description=f"Retainer — contract {contract.reference}", quantity=Decimal(1), unit_price=first,
        tax_category=PREPAID_TAX_CATEGORY, tax_exemption_reason=PREPAID_TAX_REASON,
        explanation=f"Prepaid balance of {first} {currency}, drawn down by recurring and usage charges.",
    )
    draft = invoicing.create_draft(org, contract.customer, [line], kind=Invoice.KIND_DEPOSIT, contract=contract,
                                   notes="Retainer: once paid, this amount is drawn down by your recurring and "
                                         "usage charges.")
    invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of)
    PrepaidFunding.objects.create(organization=org, customer=contract.customer, contract=contract,
                                  kind=PrepaidFunding.RETAINER, invoice=invoice, currency=currency,
                                  amount_minor=invoice.total_minor, created_on=as_of)
    return retainer


# --- price changes -----------------------------------------------------------------------------------------
@transaction.atomic
@dates_in_range
def schedule_price_change(org: Organization, price: Price, *, effective_date: date,
                          new_model_config: Mapping[str, Any], justification: str, as_of: date,
                          notice_days: int = 30, subscription: Subscription | None = None) -> PriceChange:
    """Change a price (for every subscription on it, or one) from ``effective_date``, and queue the notices.

    Each affected customer gets one :class:`~duly.billing.models.PriceChangeNotice`, to be sent
    ``notice_days`` before the change; a change scheduled with less notice is refused. A period is
    billed at the price in force on its first day, so the first period at the new price is the
    first one starting on or after ``effective_date`` (the notice names it). A customer who takes the
    price later but before the change is effective (a new subscription, an added item, a plan
    change) gets the same notice then (see :func:`_notify_new_items`).
    """
    _own(org, price, "Price")
    if subscription is not None:
        _own(org, subscription, "Subscription")
        if not subscription.items.filter(price=price).exists():
            raise ValidationError(f"{subscription} has no item on price {price.code}.")
    if not justification or not justification.strip():
        raise ValidationError("Explain the price change: the justification (what improved, why) is shown to "
                              "every customer.")
    check_notice(effective_date, as_of, notice_days)
    config = validate_price_config(new_model_config)
    change = PriceChange.objects.create(
        organization=org, price=price, subscription=subscription, effective_date=effective_date,
        new_model_config=config, justification=justification.strip(), notice_days=notice_days, scheduled_on=as_of)
    subs = Subscription.objects.filter(
        Q(items__ends_on__isnull=True) | Q(items__ends_on__gt=effective_date), organization=org,
        items__price=price).filter(
        Q(end_date__isnull=True) | Q(end_date__gt=effective_date)).exclude(status=Subscription.ENDED).distinct()
    if subscription is not None:
        subs = subs.filter(pk=subscription.pk)
    _queue_notices(org, change, list(subs.select_related("customer").prefetch_related("items__price", "pauses")),
                   as_of, Catalog(org))
    return change


def _queue_notices(org: Organization, change: PriceChange, subs: Sequence[Subscription], as_of: date,
                   catalog: Catalog) -> None:
    """Queue one notice of ``change`` per customer of ``subs`` (a customer who already has one keeps it).

    The notice is sent ``notice_days`` before the change (on the customer's last business day by
    then, so that it can go out in time: the new price is billed only once the notice went out the
    full notice period before), or on ``as_of`` when that is already later (a customer who
    subscribes inside the notice period is told at once).
    """
    by_customer: dict[int, list[Subscription]] = {}
    for sub in subs:
        by_customer.setdefault(sub.customer_id, []).append(sub)
    price = catalog.prices[change.price_id]
    label = _label(price, catalog.products[price.product_id])
    effective_date = change.effective_date
    new = describe_model(catalog.model(price, change), price.currency)
    notices = []
    for customer_subs in by_customer.values():
        customer = customer_subs[0].customer
        before = catalog.change_at(price, customer_subs[0].pk, effective_date - timedelta(days=1))
        old = describe_model(catalog.model(price, before), price.currency)
        firsts = []
        for s in customer_subs:
            cycle = next((c for c in _plan(s).schedule().cycles(until=effective_date + timedelta(days=800))
                          if c.period.start >= effective_date), None)
            if cycle is not None:
                firsts.append(cycle.period)
        first = f" Your first period at the new price: {domain_usage.format_period(min(firsts))}." if firsts else ""
        notices.append(PriceChangeNotice(
            organization=org, price_change=change, customer=customer,
            send_on=max(as_of, calendar_for(customer.country).adjust(
                effective_date - timedelta(days=change.notice_days), "preceding")),
            subject=f"Price change for {label} from {format_date(effective_date)}",
            body=(f"Dear {customer.name},\n\nFrom {format_date(effective_date)}, the price of {label} changes "
                  f"from {old} to {new}.{first}\n\nWhy: {change.justification}\n"),
        ))
    PriceChangeNotice.objects.bulk_create(notices, ignore_conflicts=True)


def _notify_new_items(org: Organization, sub: Subscription, items: Sequence[SubscriptionItem], as_of: date) -> None:
    """Queue the notices of price changes already scheduled for prices a subscription now has.

    A customer who subscribes (or adds or switches to a price) after a change of that price was
    scheduled, and who will be billed at the old price before it takes effect, gets the same notice
    as the customers who were there when it was scheduled, so their first invoice at the new price
    shows the old and new price and the justification. A change effective on or before the item
    starts needs no notice: the customer only ever pays the new price.
    """
    if not items:
        return
    ends = sub.end_date or date.max
    wanted = Q()
    for item in items:  # the few items of one subscription
        wanted |= Q(price_id=item.price_id, effective_date__gt=item.starts_on,
                    effective_date__lt=min(item.ends_on or date.max, ends))
    changes = list(PriceChange.objects.filter(wanted, Q(subscription__isnull=True) | Q(subscription=sub),
                                              organization=org).order_by("effective_date", "id"))
    if not changes:
        return
    catalog = Catalog(org)
    for change in changes:
        _queue_notices(org, change, [sub], as_of, catalog)


def check_notice(effective_date: date, as_of: date, notice_days: int) -> None:
    """Refuse a price change announced with less than ``notice_days`` days' notice."""
    if isinstance(notice_days, bool) or not isinstance(notice_days, int) or notice_days < 0:
        raise ValidationError(f"The notice period is a number of days ≥ 0, got {notice_days!r}.")
    if (effective_date - as_of).days < notice_days:
        raise NoticePeriodTooShort(
            f"A price change effective {effective_date.isoformat()} needs {notice_days} days' notice, so it must "
            f"be scheduled by {(effective_date - timedelta(days=notice_days)).isoformat()}; scheduled today, the "
            f"earliest effective date is {(as_of + timedelta(days=notice_days)).isoformat()}.",
            effective_date=effective_date.isoformat(), notice_days=notice_days)


def pending_price_notices(org: Organization, as_of: date) -> list[PriceChangeNotice]:
    """Price-change notices queued and due to be sent by ``as_of`` (for the messaging outbox)."""
    return list(PriceChangeNotice.objects.filter(organization=org, status=PriceChangeNotice.QUEUED,
                                                 send_on__lte=as_of)
                .select_related("customer", "price_change", "price_change__price").order_by("send_on", "id"))


@transaction.atomic
def mark_price_notice_sent(org: Organization, notice_id: int, *, sent_at: datetime) -> PriceChangeNotice:
    """Record that a notice was delivered (idempotent)."""
    notice = PriceChangeNotice.objects.select_for_update().filter(organization=org, pk=notice_id).first()
    if notice is None:
        raise NotFound(f"Price-change notice {notice_id} not found in {org.name}.")
    if notice.status == PriceChangeNotice.QUEUED:
        notice.status, notice.sent_at = PriceChangeNotice.SENT, sent_at
        notice.save(update_fields=["status", "sent_at"])
    return notice
