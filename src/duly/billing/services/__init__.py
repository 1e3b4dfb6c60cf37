"""Writes of the billing area: catalog, subscriptions, deposits and retainers, price changes.

Every public function takes the organization explicitly, validates through the pure rules
(:mod:`duly.domain.pricing`, :mod:`duly.domain.schedules`) and is one transaction. Usage recording
lives in :mod:`duly.billing.usage_services` and the billing run in :mod:`duly.billing.run`; both are
re-exported here, so ``duly.billing.services`` is the one entry point.

Modules, by job: :mod:`.catalog` (products, metrics, prices), :mod:`.subscriptions` (creating them,
deposits, retainers), :mod:`.changes` (mid-period changes, pauses, cancellations), :mod:`.price_changes`
(price changes and their notices), :mod:`.previews` (what a change or a price would
charge, written nowhere), :mod:`.run_writer` (what the billing run writes), :mod:`.common`.

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

from typing import Any

from ..ingest import Rejection, UsageResult, read_usage_file
from ..retainers import RetainerBalance, retainer_balance
from ..runner.load import Catalog
from ..runner.topups import PREPAID_TAX_CATEGORY, PREPAID_TAX_REASON
from ..usage_services import record_licence_counts, record_usage, record_usage_event
from .catalog import (
    AGGREGATIONS,
    PRICE_NUMBER,
    check_price,
    check_tax,
    create_metric,
    create_price,
    create_product,
    update_catalog_entry,
    validate_price_config,
)
from .changes import (
    ChangeProration,
    PreparedCancel,
    PreparedChange,
    PreparedItem,
    Settlement,
    SettlementLine,
    add_item,
    cancel_subscription,
    change_item,
    pause_subscription,
    prepare_add_item,
    prepare_cancel,
    prepare_change,
    prepare_remove_item,
    remove_item,
    resume_subscription,
)
from .price_changes import (
    check_notice,
    mark_price_notice_sent,
    pending_price_notices,
    schedule_price_change,
)
from .previews import PriceExample, preview_add_item, preview_cancel, preview_change, preview_remove_item, price_example
from .subscriptions import ItemSpec, create_subscription, start_retainer, top_up_retainer


__all__ = [
    "BillingRunResult",
    "ChangeProration",
    "PreparedCancel",
    "PreparedChange",
    "PreparedItem",
    "PriceExample",
    "Settlement",
    "SettlementLine",
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
    "prepare_add_item",
    "prepare_cancel",
    "prepare_change",
    "prepare_remove_item",
    "preview_add_item",
    "preview_cancel",
    "preview_change",
    "preview_remove_item",
    "price_example",
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
    "top_up_retainer",
    "update_catalog_entry",
    "validate_price_config",
]


#: The billing run's names, re-exported on first use: the run writes through :mod:`.run_writer`, so
#: importing :mod:`duly.billing.run` while this package initialises would be an import cycle.
_FROM_RUN = ("BillingRunResult", "ScheduledBillingReport", "bill_all_organizations", "run_billing")


def __getattr__(name: str) -> Any:
    if name in _FROM_RUN:
        from .. import run

        value = getattr(run, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_RUN))
