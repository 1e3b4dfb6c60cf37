"""What composing a batch of invoices reads: a snapshot of plain values (no database, no clock).

The billing run's loader (:mod:`duly.billing.runner.load`) reads them in bulk; tests build them by hand.
Every input is a frozen dataclass; collections of them are plain dicts, lists and tuples that the
composition never changes (it copies what it consumes, such as the notices shown once).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import AbstractSet, Any, Mapping, Sequence

from ..billing_plan import Slot, SubscriptionPlan
from ..schedules import Period
from ..usage import UsageEvent

__all__ = [
    "SOURCE_LICENCES",
    "SOURCE_QUANTITY",
    "SOURCE_USAGE",
    "BatchSnapshot",
    "BilledWindow",
    "CatalogSnapshot",
    "ContractInput",
    "EventSeries",
    "ItemInput",
    "LateEvent",
    "MetricInfo",
    "NoticeState",
    "PendingChargeInput",
    "PrepaidBalances",
    "PriceChangeInfo",
    "PriceInfo",
    "ProductInfo",
    "RetainerInput",
    "SubscriptionInput",
]

def _quick(cls: type) -> type:
    """Give a frozen, slotted dataclass an ``__init__`` that sets each slot through its descriptor.

    The instances are the same (equal, hashed and frozen alike: setting an attribute afterwards still
    raises); they are only built about twice as fast as through the ``object.__setattr__`` calls of the
    generated ``__init__``. A billing run builds tens of thousands of them.
    """
    names, params, namespace = [], [], {}
    for i, f in enumerate(fields(cls)):
        assert f.default_factory is MISSING, "plain defaults only"
        names.append(f.name)
        namespace[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
    body = "".join(f"    _set{i}(self, {name})\n" for i, name in enumerate(names)) or "    pass\n"
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", namespace)  # noqa: S102 - fixed source
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


#: Where a price's quantity comes from (the values of ``Price.quantity_source``).
SOURCE_QUANTITY, SOURCE_USAGE, SOURCE_LICENCES = "quantity", "usage", "licences"
#: A price-change notice's status (``PriceChangeNotice.status``).
NOTICE_QUEUED, NOTICE_SENT, NOTICE_CANCELED = "queued", "sent", "canceled"
#: Prepaid funding kinds (``PrepaidFunding.kind``).
DEPOSIT, RETAINER = "deposit", "retainer"
#: ``Contract.deposit_deduction``: a deposit held until the contract's final invoice.
DEPOSIT_FINAL_INVOICE = "final_invoice"


# --- the catalog -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProductInfo:
    id: int
    name: str
    unit: str
    tax_category: str
    tax_rate: Decimal
    tax_exemption_reason: str


@dataclass(frozen=True, slots=True)
class MetricInfo:
    id: int
    code: str
    name: str
    aggregation: str
    property_name: str


@dataclass(frozen=True, slots=True)
class PriceInfo:
    id: int
    product_id: int
    code: str
    nickname: str
    currency: str
    quantity_source: str
    metric_id: int | None
    model_config: Mapping[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class PriceChangeInfo:
    id: int
    price_id: int
    #: A change for one subscription only (None: every subscription of the price).
    subscription_id: int | None
    effective_date: date
    new_model_config: Mapping[str, Any] = field(hash=False, compare=False)
    notice_days: int = 0
    justification: str = ""


@dataclass(frozen=True, slots=True)
class NoticeState:
    """A customer's notice of a price change: its status, the local day it was sent, the day it is planned for."""

    status: str
    sent_on: date | None
    send_on: date


@dataclass(frozen=True)
class CatalogSnapshot:
    """The organization's products, prices, metrics and price changes (changes by price, oldest first)."""

    products: Mapping[int, ProductInfo]
    prices: Mapping[int, PriceInfo]
    metrics: Mapping[int, MetricInfo]
    changes: Mapping[int, Sequence[PriceChangeInfo]]


# --- one batch --------------------------------------------------------------------------------------------
@_quick
@dataclass(frozen=True, slots=True)
class ItemInput:
    pk: int
    price: PriceInfo
    quantity: Decimal
    starts_on: date
    ends_on: date | None

    def overlap(self, period: Period) -> Period | None:
        """The part of ``period`` this item is on (``period`` itself when whole), or None."""
        start = max(self.starts_on, period.start)
        end = min(self.ends_on or period.end, period.end)
        if start == period.start and end == period.end:
            return period
        return Period(start, end) if end > start else None


@_quick
@dataclass(frozen=True, slots=True)
class SubscriptionInput:
    """A subscription due in the batch, its schedule and the slots it has due (and the next one, if any)."""

    pk: int
    customer_id: int
    contract_id: int
    reference: str
    currency: str
    #: The customer's time zone name (usage windows are local days).
    timezone: str
    end_date: date | None
    last_billed_period_start: date | None
    plan: SubscriptionPlan
    due: tuple[Slot, ...]
    next: Slot | None


@_quick
@dataclass(frozen=True, slots=True)
class EventSeries:
    """One customer's events of one metric, by timestamp: three parallel tuples."""

    times: tuple[datetime, ...]
    #: Each event's subscription (None: any subscription of the customer).
    subscription_ids: tuple[int | None, ...]
    events: tuple[UsageEvent, ...]


@_quick
@dataclass(frozen=True, slots=True)
class PendingChargeInput:
    """A charge waiting for the customer's next invoice (a mid-period upgrade)."""

    pk: int
    contract_id: int
    description: str
    amount_minor: int
    currency: str
    unit: str
    tax_category: str
    tax_rate: Decimal
    tax_exemption_reason: str
    period_start: date | None
    period_end: date | None
    explanation: str


@_quick
@dataclass(frozen=True, slots=True)
class LateEvent:
    """A usage event that arrived after its window was invoiced, not billed yet."""

    pk: int
    subscription_id: int | None
    metric_id: int
    timestamp: datetime


@_quick
@dataclass(frozen=True, slots=True)
class BilledWindow:
    """An invoiced usage window (a billing record) that late events may fall into."""

    pk: int
    subscription_id: int
    customer_id: int
    contract_id: int
    currency: str
    timezone: str
    usage_start: date
    usage_end: date
    #: What was billed per metric code: {"quantity", "amount"[, "share"]} (BillingRecord.usage).
    usage: Mapping[str, Any] = field(hash=False, compare=False)
    #: The number of the invoice that billed it ("" when none).
    invoice_number: str = ""


@_quick
@dataclass(frozen=True, slots=True)
class ContractInput:
    id: int
    currency: str
    deposit_deduction: str


@dataclass(frozen=True, slots=True)
class RetainerInput:
    contract_id: int
    threshold_minor: int
    topup_minor: int
    currency: str


@dataclass(frozen=True)
class PrepaidBalances:
    """Deposits and retainers of the batch's contracts, before it."""

    #: (contract, kind) → minor units available (paid funding − drawdowns).
    available: Mapping[tuple[int, str], int] = field(default_factory=dict)
    #: Contracts with a retainer top-up invoice still open.
    open_topups: frozenset[int] = frozenset()
    #: contract → the number of its paid deposit invoice.
    deposit_invoices: Mapping[int, str] = field(default_factory=dict)
    retainers: Mapping[int, RetainerInput] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSnapshot:
    """Everything composing a batch's invoices reads."""

    as_of: date
    catalog: CatalogSnapshot
    #: The batch's customers, in the order they were read, and each one's time zone.
    customers: Mapping[int, str]
    contracts: Mapping[int, ContractInput]
    #: The subscriptions due, by id.
    subscriptions: Sequence[SubscriptionInput]
    items: Mapping[int, Sequence[ItemInput]]
    #: contract → its subscriptions still to be billed before this run (a deposit held until the final
    #: invoice is deducted once none is left).
    running: Mapping[int, AbstractSet[int]]
    #: (customer, metric) → events of the due usage windows; and of the windows late events fall into.
    events: Mapping[tuple[int, int], EventSeries]
    late_window_events: Mapping[tuple[int, int], EventSeries]
    #: subscription → {day: active licences}.
    licences: Mapping[int, Mapping[date, int]]
    #: customer → its pending charges (oldest first), late events and invoiced windows.
    pending: Mapping[int, Sequence[PendingChargeInput]]
    late: Mapping[int, Sequence[LateEvent]]
    late_windows: Mapping[int, Sequence[BilledWindow]]
    #: (price change, customer) → the notice not shown on an invoice yet (its id).
    notices: Mapping[tuple[int, int], int]
    prepaid: PrepaidBalances
