"""An invoice's lines: what a subscription slot charges, and the adjustments late usage brings."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from .. import aggregations, pricing
from .. import usage as domain_usage
from ..billing_plan import (
    FixedCharge,
    Slot,
    billable_quantity,
    charge as cached_charge,
    commitment_share,
    commitment_share_text,
    fixed_charge,
    plain_quantity,
)
from ..calendar import zone as calendar_zone
from ..money import from_minor
from ..schedules import Cycle, Pause, Period
from .inputs import (
    SOURCE_QUANTITY,
    SOURCE_USAGE,
    BilledWindow,
    EventSeries,
    ItemInput,
    LateEvent,
    MetricInfo,
    PendingChargeInput,
    PriceInfo,
    ProductInfo,
    SubscriptionInput,
)
from ..text import Number, Price, Text, labelled, text
from .notes import InvoiceNote, change_text
from .prices import PriceBook, product_label

__all__ = [
    "Line",
    "LateAdjustments",
    "line_for",
    "late_lines",
    "paused_days",
    "pending_line",
    "recurring_charge",
    "slot_lines",
    "takes_transactions",
    "usage_quantity",
    "zone",
]


@dataclass(frozen=True, slots=True)
class Line:
    """One invoice line to issue (the fields of :class:`duly.invoicing.services.LineData`, which it stands for).

    Its words are structured text (:class:`~duly.domain.text.Text`), put in the customer's language when the
    invoice is written; ``str()`` of each is the English the line has always had."""

    description: str | Text
    quantity: Decimal
    unit_price: Decimal
    unit: str = "C62"
    tax_category: str = "S"
    tax_rate: Decimal = Decimal(0)
    discount_percent: Decimal | None = None
    tax_exemption_reason: str = ""
    period_start: date | None = None
    period_end: date | None = None
    explanation: str | Text = ""


def zone(name: str) -> ZoneInfo:
    """A customer's time zone (UTC when unknown): the domain calendar's one helper."""
    return calendar_zone(name, "UTC")


@lru_cache(maxsize=4096)
def _bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local midnights that open and close ``period`` (customers of one zone share them: computed once)."""
    return datetime.combine(period.start, time.min, tz), datetime.combine(period.end, time.min, tz)


def _words(template: str, **params: Any) -> Text:
    """Structured text of placeholders and punctuation only: nothing to translate, its values are."""
    return Text(template, tuple(params.items()))


def takes_transactions(model: pricing.PriceModel) -> bool:
    """Whether a model prices each usage value (a transaction) rather than their aggregate (the model says)."""
    return model.takes_transactions()


def _fits_line(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -6


def line_for(price: PriceInfo, product: ProductInfo, model: pricing.PriceModel, amount: Decimal, quantity: Decimal,
             description: str | Text, explanation: str | Text, period: Period, *, prorated: bool) -> Line:
    """An invoice line whose net amount is exactly ``amount``: quantity × price when that is exact, else 1 × amount."""
    # Only a model whose charge is exactly quantity × a unit price shows them (the model says which).
    unit = None if prorated else model.line_unit_price()
    if unit is not None and _fits_line(quantity) and _fits_line(unit):
        qty, unit_price = quantity, unit
    else:
        qty, unit_price = Decimal(1), amount
    return Line(
        description=description[:500] if isinstance(description, str) else description, quantity=qty, unit_price=unit_price, unit=product.unit,
        tax_category=product.tax_category, tax_rate=product.tax_rate,
        tax_exemption_reason=product.tax_exemption_reason, period_start=period.start, period_end=period.last_day,
        explanation=explanation,
    )


def paused_days(pauses: Sequence[Pause], part: Period) -> int:
    return sum(p.period.overlap_days(part) for p in pauses) if pauses else 0


def recurring_charge(model: pricing.PriceModel, quantity: Decimal, currency: str, cycle: Cycle, part: Period,
                     paused: int, reasons: Sequence[Text] = ()) -> FixedCharge:
    """A recurring price for the part of a cycle an item was on (``paused`` days of it paused, see
    :func:`paused_days`), prorated to its unpaused days.

    The billing run bills it; a mid-period change recomputes it exactly so, to credit or charge the difference.
    """
    return fixed_charge(model, quantity, currency, whole=cycle.whole, part=part, paused_days=paused,
                        reasons=reasons)


def usage_quantity(series: EventSeries | None, subscription_id: int, tz: ZoneInfo, metric: MetricInfo,
                   window: Period) -> tuple[Decimal, list[Decimal]]:
    """The aggregated quantity of a metric over a window, and the values (transactions) in it."""
    start, end = _bounds(window, tz)
    if series is None:
        times: Sequence[datetime] = ()
        subs: Sequence[int | None] = ()
        events: Sequence[domain_usage.UsageEvent] = ()
    else:
        times, subs, events = series.times, series.subscription_ids, series.events
    # An aggregation that reads events before the window (a time-weighted average: the level it opens with)
    # gets them all; one that counts a property (a unique count) gets the metric's property name.
    agg = aggregations.aggregation(metric.aggregation)
    lo = 0 if agg.reads_before_window else bisect.bisect_left(times, start)
    hi = bisect.bisect_left(times, end)
    chosen = [i for i in range(lo, hi) if subs[i] in (None, subscription_id)]
    quantity = domain_usage.aggregate(
        metric.aggregation, [events[i] for i in chosen], start, end,
        unique_property=(metric.property_name or None) if agg.uses_property else None,
    )
    return plain_quantity(quantity), [events[i].value for i in chosen if start <= times[i] < end]


class SlotContext:
    """What the lines of one batch's slots share: the price book, the batch's usage and notices."""

    def __init__(self, book: PriceBook, events: Mapping[tuple[int, int], EventSeries],
                 licences: Mapping[int, Mapping[date, int]], notices: dict[tuple[int, int], int],
                 kept: list[tuple[int, str]]) -> None:
        self.book = book
        self.events = events
        self.licences = licences
        #: Notices not shown yet: each is shown once, on the first invoice at its new price (popped then).
        self.notices = notices
        self.kept = kept


def _change_note(ctx: SlotContext, price: PriceInfo, sub: SubscriptionInput, change,
                 notices: list[tuple[int, InvoiceNote]]) -> Text | None:
    """The first time a customer is invoiced at a new price: the old and new price and the justification."""
    if change is None:
        return None
    notice = ctx.notices.pop((change.id, sub.customer_id), None)  # shown once: on the first invoice at it
    if notice is None:
        return None
    note = ctx.book.change_note(price, sub.pk, sub.customer_id, change)
    if all(n != notice for n, _ in notices):
        notices.append((notice, note))
    return change_text(note)


def _explained(note: Text | None, *parts: Any) -> Text:
    """A line's explanation: the price-change note first when there is one, then its words."""
    names = [f"p{i}" for i in range(len(parts))]
    body = "".join("{" + n + "}" for n in names)
    if note is not None:
        return Text("{note} — " + body, (("note", note), *zip(names, parts)))
    return Text(body, tuple(zip(names, parts)))


def slot_lines(ctx: SlotContext, sub: SubscriptionInput, items: Sequence[ItemInput], slot: Slot,
               notices: list[tuple[int, InvoiceNote]]) -> tuple[list[Line], dict]:
    """The lines of one slot (recurring prices for its period, metered prices for its usage window).

    A line at a new price whose customer was sent a notice and has not been invoiced at that price
    yet explains the change; the notice (its id) and its note are appended to ``notices``.
    """
    book, currency = ctx.book, sub.currency
    lines: list[Line] = []
    quantities: dict[str, Any] = {}
    schedule_pauses = sub.plan.pauses
    for item in items:
        price = item.price
        product = book.products[price.product_id]
        if price.quantity_source == SOURCE_QUANTITY:
            if slot.cycle is None:
                continue
            part = item.overlap(slot.cycle.period)
            if part is None:
                continue
            whole = slot.cycle.whole
            paused = paused_days(schedule_pauses, part)
            # Customers on the same price, quantity and period get the same line: computed once per run
            # (only for a price that never changes: a change may bring a notice, shown once per customer).
            shared = None if book.changes.get(price.id) else (
                price.id, item.quantity.as_tuple(), part, whole, paused, currency)
            if shared is not None and shared in book.recurring_lines:
                line = book.recurring_lines[shared]
                if line is not None:
                    lines.append(line)
                continue
            reasons = []
            if part.start > whole.start:
                reasons.append(text("starts mid-cycle"))
            if part.end < whole.end:
                reasons.append(text("ends mid-cycle"))
            if paused:
                reasons.append(text("paused {n} day", plural="paused {n} days", n=paused))
            model, change = book.model_at(price, sub.pk, slot.cycle.period.start, sub.customer_id, ctx.kept)
            fc = recurring_charge(model, item.quantity, currency, slot.cycle, part, paused, reasons)
            if fc.billable_days == 0:
                if shared is not None:
                    book.recurring_lines[shared] = None
                continue
            label = product_label(price, product)
            if model.prices_quantity():  # the model says whether its label names the quantity
                label += f" × {item.quantity:f}"
            explanation = _explained(_change_note(ctx, price, sub, change, notices), fc.text)
            description = _words("{label}, {period}", label=label, period=domain_usage.period_span(part))
            line = line_for(price, product, model, fc.amount, item.quantity, description,
                            explanation, part, prorated=fc.ratio != 1)
            if shared is not None:
                book.recurring_lines[shared] = line  # a Line is immutable: invoices may share it
            lines.append(line)
        elif slot.usage is not None:
            window = item.overlap(slot.usage)
            if window is None:
                continue
            model, change = book.model_at(price, sub.pk, window.start, sub.customer_id, ctx.kept)
            share, prorated = None, ""
            # A minimum agreed per period (the model says) is prorated on a part of one.
            if model.minimum_per_period() is not None:
                whole = slot.usage_whole or slot.usage
                share = (window.days, whole.days) if window.days < whole.days else None
                model, prorated = commitment_share_text(model, currency, share)
            transactions: list[Decimal] = []
            if price.quantity_source == SOURCE_USAGE:
                metric = book.metrics[price.metric_id]  # type: ignore[index]
                raw, values = usage_quantity(ctx.events.get((sub.customer_id, metric.id)), sub.pk, zone(sub.timezone),
                                             metric, window)
                summary = domain_usage.usage_summary_text(metric.aggregation, raw, metric.name, window)
                key = metric.code
                if takes_transactions(model):
                    transactions = values
                    raw = sum(values, Decimal(0))
            else:
                raw = domain_usage.average_daily_count(ctx.licences.get(sub.pk, {}), window)
                summary = domain_usage.usage_summary_text("average_daily", raw, text("active seats"), window)
                key = f"licences:{price.code}"
            quantity = billable_quantity(raw)
            charge = model.charge(quantity, currency, transactions=transactions) if transactions else \
                cached_charge(model, quantity, currency)
            quantities[key] = {"quantity": str(quantity), "amount": str(charge.amount)}
            if prorated:
                quantities[key]["share"] = list(share)  # type: ignore[arg-type]  # re-priced alike if usage is late
            explanation = _explained(_change_note(ctx, price, sub, change, notices), prorated,
                                     labelled(summary, charge.text))
            lines.append(line_for(price, product, model, charge.amount, quantity,
                                  labelled(product_label(price, product), summary),
                                  explanation, window, prorated=False))
    return lines, quantities


def pending_line(charge: PendingChargeInput) -> Line:
    """The line of a charge that waited for the customer's next invoice."""
    return Line(
        description=charge.description, quantity=Decimal(1),
        unit_price=from_minor(charge.amount_minor, charge.currency), unit=charge.unit,
        tax_category=charge.tax_category, tax_rate=charge.tax_rate,
        tax_exemption_reason=charge.tax_exemption_reason, period_start=charge.period_start,
        period_end=charge.period_end, explanation=charge.explanation,
    )


@dataclass
class LateAdjustments:
    """A customer's late usage: adjustment lines, the late events settled, the windows re-priced, a contract."""

    lines: list[Line]
    handled: list[int]
    #: (billing record id, its usage re-priced), in the order they were touched (a record may repeat).
    touched: list[tuple[int, dict]]
    contract_id: int | None


def late_lines(book: PriceBook, rows: Sequence[LateEvent], windows: Sequence[BilledWindow],
               items: Mapping[int, Sequence[ItemInput]],
               events: Mapping[tuple[int, int], EventSeries]) -> LateAdjustments:
    """Late-adjustment lines for late usage events of a customer, priced as a difference per closed window."""
    if not rows:
        return LateAdjustments([], [], [], None)
    lines: list[Line] = []
    handled: list[int] = []
    touched: list[int] = []
    usage: dict[int, dict] = {}
    contract = None
    for record in sorted(windows, key=lambda r: (r.usage_start, r.subscription_id)):
        sub_id = record.subscription_id
        window = Period(record.usage_start, record.usage_end)
        tz = zone(record.timezone)
        start, end = _bounds(window, tz)
        mine = [r for r in rows if r.pk not in handled and start <= r.timestamp < end
                and r.subscription_id in (None, sub_id)]
        if not mine:
            continue
        metrics = {r.metric_id for r in mine}
        for item in items.get(sub_id, []):
            price = item.price
            if price.quantity_source != SOURCE_USAGE or price.metric_id not in metrics:
                continue
            metric = book.metrics[price.metric_id]
            current = usage.get(record.pk, record.usage)
            if metric.code not in current:
                continue
            billed = current[metric.code]
            share = tuple(billed["share"]) if billed.get("share") else None
            model, _ = commitment_share(book.model_at(price, sub_id, window.start, record.customer_id)[0],
                                        record.currency, share)  # type: ignore[arg-type]
            raw, values = usage_quantity(events.get((record.customer_id, metric.id)), sub_id, tz, metric, window)
            transactions: list[Decimal] = []
            if takes_transactions(model):
                transactions, raw = values, sum(values, Decimal(0))
            new_quantity = billable_quantity(raw)
            old_quantity, old_amount = Decimal(billed["quantity"]), Decimal(billed["amount"])
            new = model.charge(new_quantity, record.currency, transactions=transactions)
            difference = new.amount - old_amount
            count = sum(1 for r in mine if r.metric_id == metric.id)
            values = {"metric": metric.name, "period": domain_usage.period_span(window),
                      "old": Number(old_quantity), "new": Number(new_quantity),
                      "new_amount": Price(new.amount, record.currency), "old_amount": Price(old_amount, record.currency),
                      "difference": Price(difference, record.currency)}
            if record.invoice_number:
                explanation = text(
                    "{n} {metric} event(s) of {period} arrived after that period was invoiced (invoice {number}). "
                    "Billed {old} → now {new}: {new_amount} − {old_amount} = {difference}.",
                    plural="{n} {metric} event(s) of {period} arrived after that period was invoiced (invoice "
                           "{number}). Billed {old} → now {new}: {new_amount} − {old_amount} = {difference}.",
                    n=count, number=record.invoice_number, **values)
            else:
                explanation = text(
                    "{n} {metric} event(s) of {period} arrived after that period was invoiced. "
                    "Billed {old} → now {new}: {new_amount} − {old_amount} = {difference}.",
                    plural="{n} {metric} event(s) of {period} arrived after that period was invoiced. "
                           "Billed {old} → now {new}: {new_amount} − {old_amount} = {difference}.",
                    n=count, **values)
            if difference:
                product = book.products[price.product_id]
                lines.append(Line(
                    description=text("Late usage adjustment — {label}, {period}",
                                     label=product_label(price, product)[:400],
                                     period=domain_usage.period_span(window)),
                    quantity=Decimal(1 if difference > 0 else -1), unit_price=abs(difference), unit=product.unit,
                    tax_category=product.tax_category, tax_rate=product.tax_rate,
                    tax_exemption_reason=product.tax_exemption_reason, period_start=window.start,
                    period_end=window.last_day, explanation=explanation,
                ))
            usage[record.pk] = {**current, metric.code: {**billed, "quantity": str(new_quantity),
                                                         "amount": str(new.amount)}}
            touched.append(record.pk)
            contract = contract or record.contract_id
        handled += [r.pk for r in mine]
    # Late events no billed window claims (no usage price for them then) are settled without a line.
    handled += [r.pk for r in rows if r.pk not in handled]
    return LateAdjustments(lines, handled, [(pk, usage[pk]) for pk in touched], contract)
