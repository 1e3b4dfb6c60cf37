"""Pure planning helpers of the billing engine: billing slots, prorated charges and their wording.

Nothing here touches the database or reads the clock; the rules themselves are in
:mod:`duly.domain.schedules` (periods, proration), :mod:`duly.domain.pricing` (price models) and
:mod:`duly.domain.usage` (aggregation). This module decides *what is billed on which date*.

Slots
    A subscription is billed in *slots*, each identified by a key date (the start of the service
    period it bills) and billed on its billing date:

    - **arrears**: the slot of period ``[start, end)`` is billed on ``end`` and charges the period's
      recurring prices and its usage;
    - **advance**: the slot of period ``[start, end)`` is billed on ``start`` and charges the
      period's recurring prices, plus the usage of the *previous* period (usage can only be billed
      once it happened). When the subscription ends, a closing slot keyed on the end date bills the
      last period's usage.

    A slot is billed once: the database keeps (subscription, key) unique.

Metered quantities
    An average (time-weighted, or daily licence counts) is an exact fraction; it is billed rounded
    half up to 6 decimals, the precision of an invoice line quantity, so every line can be
    recomputed as quantity × price by anyone reading the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property, lru_cache
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Iterator, Sequence

from . import pricing
from .errors import InvalidSchedule
from .money import MONEY_CONTEXT, round_money
from .schedules import WEEKDAYS, Cycle, Interval, Pause, Period, Schedule, prorate
from .pricing_words import describe_text
from .text import Price, Text, join_text, text

__all__ = [
    "QUANTITY_QUANTUM",
    "FixedCharge",
    "Slot",
    "SubscriptionPlan",
    "billable_quantity",
    "charge",
    "commitment_share",
    "commitment_share_text",
    "describe_model",
    "describe_model_text",
    "fixed_charge",
    "parse_anchor",
    "plain_quantity",
    "slots",
]

#: Precision of a billed quantity (that of ``InvoiceLine.quantity``).
QUANTITY_QUANTUM = Decimal("0.000001")


def parse_anchor(value: str | int | None, interval: str) -> int | str | None:
    """The stored anchor text (``"15"``, ``"last"``, ``"monday"`` or blank) as a schedule anchor."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "last" or text in WEEKDAYS:
        return text
    if text.isdigit():
        return int(text)
    raise InvalidSchedule(
        f"Invalid billing day {value!r} for a {interval} subscription: use 1..31, 'last' or a weekday name.",
        anchor=str(value),
    )


#: plain_quantity of values already seen: the result depends only on the value (``5.000000`` and ``5`` give
#: ``5``), except for zero (``-0``), which is never remembered.
_PLAIN: dict[Decimal, Decimal] = {}


def plain_quantity(value: Decimal) -> Decimal:
    """A stored quantity without its padding zeros: ``5.000000`` → ``5``, ``2.500000`` → ``2.5``."""
    if type(value) is Decimal and value and value.is_finite():
        result = _PLAIN.get(value)
        if result is None:
            result = _plain_quantity(value)
            if len(_PLAIN) >= 50_000:
                _PLAIN.clear()
            _PLAIN[value] = result
        return result
    return _plain_quantity(value)


def _plain_quantity(value: Decimal) -> Decimal:
    normalized = value.normalize(MONEY_CONTEXT)
    exponent = normalized.as_tuple().exponent
    return normalized.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normalized


def billable_quantity(value: Decimal) -> Decimal:
    """A metered quantity as billed: rounded half up to 6 decimals (exact quantities are unchanged)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        return value.quantize(QUANTITY_QUANTUM, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)
    return value


@dataclass(frozen=True)
class SubscriptionPlan:
    """The scheduling facts of one subscription (a snapshot of the stored row)."""

    start: date
    interval: str
    rule: str | None = None
    anchor: int | str | None = None
    trial_end: date | None = None
    end: date | None = None
    pauses: tuple[Pause, ...] = ()
    timing: str = "advance"
    #: Whether it has metered prices (usage or licences), billed over usage windows.
    metered: bool = False

    def schedule(self, restart_at: date | None = None) -> Schedule:
        """The schedule, restarted at an already billed cycle start when that is equivalent (faster).

        Month- and week-based cycles are computed from the anchor, so restarting on a cycle boundary
        gives the same boundaries; a custom rule (which may count occurrences) always starts over.
        """
        interval = Interval(self.interval, self.rule or None) if self.interval == "custom" else Interval(self.interval)
        if restart_at is not None and self.restartable(restart_at):
            return Schedule(restart_at, interval, self.anchor, None, self.end, self.pauses)
        return Schedule(self.start, interval, self.anchor, self.trial_end, self.end, self.pauses)

    def restartable(self, restart_at: date | None) -> bool:
        """Whether the schedule may restart at an already billed cycle start (see :meth:`schedule`)."""
        billing_start = self.trial_end if self.trial_end is not None else self.start
        return (
            restart_at is not None
            and self.interval != "custom"
            and restart_at > billing_start
            and (self.end is None or restart_at < self.end)
        )


@dataclass(frozen=True)
class Slot:
    """What one billing date of one subscription charges."""

    #: Unique per subscription: the start of the service period billed (the end date for a closing slot).
    key: date
    billing_date: date
    #: The recurring period charged on this slot (None for a closing usage-only slot).
    cycle: Cycle | None
    #: The usage window charged on this slot (None when nothing metered is due).
    usage: Period | None
    #: Start of the recurring period before ``cycle`` (None for the first one): a price change is
    #: announced on the first slot whose period starts on or after it.
    previous_start: date | None
    #: The whole anchored cycle ``usage`` belongs to (longer than ``usage`` for a stub or a last
    #: period cut by the end date): a minimum commitment is prorated to the share billed.
    usage_whole: Period | None = None


def _all_slots(plan: SubscriptionPlan, restart_at: date | None) -> Iterator[Slot]:
    schedule = plan.schedule(restart_at)
    previous: Cycle | None = None
    for cycle in schedule.cycles(until=date.max - timedelta(days=400)):
        if plan.timing == "advance":
            metered = plan.metered and previous is not None
            yield Slot(cycle.period.start, cycle.period.start, cycle, previous.period if metered else None,
                       previous.period.start if previous else None, previous.whole if metered else None)
        else:
            yield Slot(cycle.period.start, cycle.period.end, cycle, cycle.period if plan.metered else None,
                       previous.period.start if previous else None, cycle.whole if plan.metered else None)
        previous = cycle
    if plan.timing == "advance" and plan.metered and previous is not None and plan.end is not None:
        yield Slot(plan.end, plan.end, None, previous.period, previous.period.start, previous.whole)


def slots(plan: SubscriptionPlan, *, last_key: date | None, as_of: date) -> tuple[list[Slot], Slot | None]:
    """The slots after ``last_key`` billed on or before ``as_of``, and the next slot (None: finished)."""
    if plan.restartable(last_key):
        # Equivalent plans (only the start differs) share their slots: a run computes each calendar once.
        plan = replace(plan, start=last_key, trial_end=None)  # type: ignore[arg-type]
    due, nxt = _slots(plan, last_key, as_of)
    return list(due), nxt


@lru_cache(maxsize=65536)
def _slots(plan: SubscriptionPlan, last_key: date | None, as_of: date) -> tuple[tuple[Slot, ...], Slot | None]:
    due: list[Slot] = []
    for slot in _all_slots(plan, last_key):
        if last_key is not None and slot.key <= last_key:
            continue
        if slot.billing_date > as_of:
            return tuple(due), slot
        due.append(slot)
    return tuple(due), None


# --- recurring charges ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedCharge:
    """A recurring price for (part of) one period: the full-cycle charge and the prorated amount."""

    full: pricing.Charge
    amount: Decimal
    ratio: Fraction
    #: The days charged (inside the period, outside pauses) and the whole cycle's days.
    billable_days: int
    whole_days: int
    #: The arithmetic as structured text (put in the customer's language on an invoice line).
    text: Text

    @cached_property
    def explanation(self) -> str:
        """The arithmetic in English: ``flat fee 100.00 = 100.00; 16 of 31 days (starts mid-cycle): …``."""
        return str(self.text)


def fixed_charge(model: pricing.PriceModel, quantity: Decimal, currency: str, *, whole: Period, part: Period,
                 paused_days: int = 0, reasons: Sequence[Text] = ()) -> FixedCharge:
    """Price ``quantity`` for the cycle ``whole`` and prorate it to the unpaused days of ``part``.

    The proration goes through :func:`duly.domain.schedules.prorate` (exact ratio of days, rounded
    once, half up). Results are remembered: customers on the same plan share the arithmetic.
    """
    return _fixed_charge(model, quantity, currency, whole, part, paused_days, tuple(reasons))


@lru_cache(maxsize=16384)
def charge(model: pricing.PriceModel, quantity: Decimal, currency: str) -> pricing.Charge:
    """``model.charge(quantity, currency)``, remembered (price models are immutable values)."""
    return model.charge(quantity, currency)


@lru_cache(maxsize=16384)
def _fixed_charge(model: pricing.PriceModel, quantity: Decimal, currency: str, whole: Period, part: Period,
                  paused_days: int, reasons: tuple[Text, ...]) -> FixedCharge:
    full = charge(model, quantity, currency)
    billable = part.days - paused_days
    if billable <= 0:
        return FixedCharge(full, round_money(0, currency), Fraction(0), 0, whole.days, text("paused throughout"))
    ratio = Fraction(billable, whole.days)
    if ratio == 1:
        return FixedCharge(full, full.amount, ratio, billable, whole.days, full.text)
    amount = prorate(full.amount, currency, Period(whole.start, whole.start + timedelta(days=billable)), whole)
    values = {"full": full.text, "days": billable, "whole": whole.days, "amount": Price(full.amount, currency),
              "prorated": Price(amount, currency)}
    if reasons:
        words = text("{full}; {days} of {whole} day ({reasons}): {amount} × {days}/{whole} = {prorated}",
                     plural="{full}; {days} of {whole} days ({reasons}): {amount} × {days}/{whole} = {prorated}",
                     n=whole.days, reasons=join_text(reasons, ", "), **values)
    else:
        words = text("{full}; {days} of {whole} day: {amount} × {days}/{whole} = {prorated}",
                     plural="{full}; {days} of {whole} days: {amount} × {days}/{whole} = {prorated}",
                     n=whole.days, **values)
    return FixedCharge(full, amount, ratio, billable, whole.days, words)


# --- metered charges -----------------------------------------------------------------------------------------
def commitment_share(model: pricing.PriceModel, currency: str,
                     share: tuple[int, int] | None) -> tuple[pricing.PriceModel, str]:
    """The model for a usage window covering ``share`` = (days, cycle days) of its cycle, and why.

    Each registered model owns its share (:meth:`~duly.domain.pricing.BasePriceModel.share`): a minimum
    commitment is agreed per period, so a window that covers part of its cycle (a stub, a last period cut
    by the end date, an item added or removed mid-period) commits to the prorated minimum:
    ``minimum × days / cycle days``, rounded half up once (:func:`duly.domain.schedules.prorate_days`).
    Other models price the usage as it is. A whole cycle (or no share) keeps the model as it is.
    An object that is not a registered price model is refused (:class:`~duly.domain.errors.InvalidPricing`).
    """
    shared, why = commitment_share_text(model, currency, share)
    return shared, str(why)


def commitment_share_text(model: pricing.PriceModel, currency: str,
                          share: tuple[int, int] | None) -> tuple[pricing.PriceModel, Text | str]:
    """:func:`commitment_share` with the why as structured text (``""`` when the model is kept as it is)."""
    pricing.registered(model)
    if share is None or share[0] >= share[1]:
        return model, ""
    return model.share_text(currency, *share)


# --- wording ---------------------------------------------------------------------------------------------
def describe_model_text(model: pricing.PriceModel, currency: str) -> Text:
    """:func:`describe_model` as structured text, for the customer's language."""
    return describe_text(pricing.registered(model), currency)


def describe_model(model: pricing.PriceModel, currency: str) -> str:
    """A short English description of a price, e.g. ``12.00 EUR per unit`` (for notices and invoices).

    Each registered model words itself (:meth:`~duly.domain.pricing.BasePriceModel.describe`); an object
    that is not a registered price model is refused (:class:`~duly.domain.errors.InvalidPricing`).
    """
    return pricing.registered(model).describe(currency)
