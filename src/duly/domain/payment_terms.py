"""Payment terms: from an explicit issue date to one exact due date, stated in words.

Kinds of terms
    ``net``                 issue date + ``days`` (``days=0``: due on the issue date).
    ``end_of_month``        end of the issue month, then + ``days`` ("30 days end of month" is read
                            as EOM + 30: issued 10 January → 31 January + 30 days = 2 March).
    ``day_of_next_month``   day ``day_of_month`` of the month after the issue month, clamped to that
                            month's last day (31 → 28 February / 29 in a leap year).
    ``on_receipt``          due on the issue date.

``days`` is used by ``net`` and ``end_of_month`` only and ``day_of_month`` by ``day_of_next_month``
only; the other kinds ignore them (a stored contract keeps its defaults when its kind changes).

Business-day adjustment
    With ``business_day_adjustment`` set (``following``, ``preceding`` or ``modified_following``)
    a due date on a weekend or a public holiday of ``country`` is moved (see
    :meth:`duly.domain.calendar.HolidayCalendar.adjust`). An adjustment never moves the due date
    before the issue date: when ``preceding`` would, the unadjusted date is kept.

The text from :func:`describe` is plain English and always contains the exact date; the Django
layer localises it from the structured :class:`TermsSummary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Sequence

from .calendar import BUSINESS_DAY_CONVENTIONS, AnchorDay, HolidayCalendar, add_months, days_in_month, end_of_month
from .errors import InvalidTerms, ValidationError
from .money import ZERO, allocate, check_currency, round_money, to_decimal

__all__ = [
    "ADJUSTMENTS",
    "KINDS",
    "Instalment",
    "PaymentTerms",
    "TermsSummary",
    "describe",
    "due_date",
    "format_date",
    "instalments",
    "summarize",
]

KINDS = ("net", "end_of_month", "day_of_next_month", "on_receipt")
ADJUSTMENTS = BUSINESS_DAY_CONVENTIONS

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def format_date(d: date, *, weekday: bool = False) -> str:
    """Unambiguous English date, independent of the process locale: ``31 March 2026``."""
    text = f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}"
    return f"{WEEKDAY_NAMES[d.weekday()]} {text}" if weekday else text


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PaymentTerms:
    """Agreed payment terms. Validated on creation; invalid terms raise :class:`InvalidTerms`."""

    kind: str
    days: int = 0
    day_of_month: int | None = None
    business_day_adjustment: str | None = None
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidTerms(
                f"Unknown payment terms {self.kind!r}: use one of {', '.join(KINDS)}.", kind=str(self.kind)
            )
        if not _is_int(self.days):
            raise InvalidTerms(f"Payment terms days must be a whole number, got {self.days!r}.")
        if self.days < 0:
            raise InvalidTerms(f"Payment terms days cannot be negative (got {self.days}).", days=self.days)
        if self.day_of_month is not None and not (_is_int(self.day_of_month) and 1 <= self.day_of_month <= 31):
            raise InvalidTerms(
                f"Day of month must be between 1 and 31, got {self.day_of_month!r}.",
                day_of_month=str(self.day_of_month),
            )
        if self.kind == "day_of_next_month" and self.day_of_month is None:
            raise InvalidTerms("Terms 'day_of_next_month' need a day_of_month (1-31).")
        if self.business_day_adjustment is not None:
            if self.business_day_adjustment not in ADJUSTMENTS:
                raise InvalidTerms(
                    f"Unknown business-day adjustment {self.business_day_adjustment!r}: "
                    f"use one of {', '.join(ADJUSTMENTS)} or none.",
                    business_day_adjustment=str(self.business_day_adjustment),
                )
            if not self.country:
                raise InvalidTerms(
                    "A business-day adjustment needs the country whose public holidays apply."
                )
            self.calendar()  # fails early on an unknown country or subdivision

    def calendar(self) -> HolidayCalendar | None:
        """The holiday calendar used for the adjustment, or None without adjustment."""
        if self.business_day_adjustment is None or not self.country:
            return None
        return HolidayCalendar(self.country, self.subdivision)

    def unadjusted_due_date(self, issue_date: date) -> date:
        """The due date before any business-day adjustment."""
        if self.kind == "net":
            return issue_date + timedelta(days=self.days)
        if self.kind == "end_of_month":
            return end_of_month(issue_date) + timedelta(days=self.days)
        if self.kind == "day_of_next_month":
            assert self.day_of_month is not None
            return add_months(issue_date.replace(day=1), 1, anchor_day=self.day_of_month)
        return issue_date


@dataclass(frozen=True)
class TermsSummary:
    """Structured result of applying terms to an issue date, for localised rendering."""

    kind: str
    issue_date: date
    due_date: date
    unadjusted_due_date: date
    days: int
    day_of_month: int | None
    business_day_adjustment: str | None
    country: str | None
    #: Name of the public holiday that moved the due date, if it was a holiday.
    holiday_name: str | None
    #: English text, always containing the exact due date.
    text: str

    @property
    def adjusted(self) -> bool:
        return self.due_date != self.unadjusted_due_date


def due_date(terms: PaymentTerms, issue_date: date) -> date:
    """The exact due date of an invoice issued on ``issue_date`` under ``terms``."""
    unadjusted = terms.unadjusted_due_date(issue_date)
    cal = terms.calendar()
    if cal is None:
        return unadjusted
    adjusted = cal.adjust(unadjusted, terms.business_day_adjustment)
    return adjusted if adjusted >= issue_date else unadjusted


def _terms_label(terms: PaymentTerms, unadjusted: date) -> str:
    if terms.kind == "net":
        if terms.days == 0:
            return "net, due on the issue date"
        return f"{terms.days} day{'s' if terms.days != 1 else ''} net"
    if terms.kind == "end_of_month":
        return "end of month" if terms.days == 0 else f"end of month + {terms.days} days"
    assert terms.day_of_month is not None
    label = f"{_ordinal(terms.day_of_month)} of the following month"
    if terms.day_of_month > days_in_month(unadjusted.year, unadjusted.month):
        label += ", or its last day"
    return label


def summarize(terms: PaymentTerms, issue_date: date) -> TermsSummary:
    """Due date plus the structured facts and English text describing it."""
    unadjusted = terms.unadjusted_due_date(issue_date)
    due = due_date(terms, issue_date)
    cal = terms.calendar()
    holiday = None
    notes = [] if terms.kind == "on_receipt" else [_terms_label(terms, unadjusted)]
    if due != unadjusted:
        assert cal is not None
        holiday = cal.holiday_name(unadjusted)
        why = f", a public holiday in {cal.country}," if holiday else ""
        direction = "next" if due > unadjusted else "previous"
        notes.append(f"moved from {format_date(unadjusted, weekday=True)}{why} to the {direction} business day")
    lead = "Payment due on receipt, by" if terms.kind == "on_receipt" else "Payment due by"
    text = f"{lead} {format_date(due)}"
    if notes:
        text += f" ({'; '.join(notes)})"
    return TermsSummary(
        kind=terms.kind,
        issue_date=issue_date,
        due_date=due,
        unadjusted_due_date=unadjusted,
        days=terms.days,
        day_of_month=terms.day_of_month,
        business_day_adjustment=terms.business_day_adjustment,
        country=cal.country if cal else None,
        holiday_name=holiday,
        text=text,
    )


def describe(terms: PaymentTerms, issue_date: date) -> str:
    """English sentence with the exact due date, e.g. ``Payment due by 31 March 2026 (30 days net)``."""
    return summarize(terms, issue_date).text


@dataclass(frozen=True)
class Instalment:
    """One part of a split amount: its 1-based ``number``, due date and amount."""

    number: int
    due_date: date
    amount: Decimal
    currency: str


def instalments(
    total: Decimal | int | str,
    currency: str,
    dates: Sequence[date] | None = None,
    *,
    count: int | None = None,
    first_due: date | None = None,
    interval_months: int | None = None,
    interval_days: int | None = None,
    anchor_day: AnchorDay | None = None,
    weights: Sequence[Decimal | int | str] | None = None,
) -> list[Instalment]:
    """Split ``total`` into instalments; the parts always add up to ``total`` exactly.

    Give either the explicit ``dates`` (strictly increasing), or ``count`` and ``first_due`` with an
    interval: ``interval_months`` (default 1; each date is computed from ``first_due`` so a schedule
    starting on the 31st keeps returning to month ends) or ``interval_days``. ``anchor_day`` is passed
    to :func:`~duly.domain.calendar.add_months` (``"last"`` pins every instalment to a month end).

    Parts are equal unless ``weights`` are given; each part is rounded down to the minor unit and the
    last one absorbs the remainder (:func:`duly.domain.money.allocate`).
    """
    check_currency(currency)
    amount = to_decimal(total)
    if amount < 0:
        raise InvalidTerms(f"Cannot split a negative amount ({amount}).")
    if round_money(amount, currency) != amount:
        raise ValidationError(f"{amount} has more decimals than {currency} allows.", currency=currency)

    if dates is not None:
        if count is not None or first_due is not None or interval_months is not None or interval_days is not None:
            raise InvalidTerms("Give either explicit instalment dates or count + first_due + interval, not both.")
        schedule = list(dates)
        if not schedule:
            raise InvalidTerms("At least one instalment date is needed.")
        if any(b <= a for a, b in zip(schedule, schedule[1:])):
            raise InvalidTerms("Instalment dates must be strictly increasing.")
    else:
        if count is None or first_due is None:
            raise InvalidTerms("Give instalment dates, or count and first_due.")
        if not _is_int(count) or count < 1:
            raise InvalidTerms(f"Number of instalments must be at least 1, got {count!r}.")
        if interval_months is not None and interval_days is not None:
            raise InvalidTerms("Give interval_months or interval_days, not both.")
        if interval_days is not None:
            if not _is_int(interval_days) or interval_days < 1:
                raise InvalidTerms(f"interval_days must be at least 1, got {interval_days!r}.")
            schedule = [first_due + timedelta(days=i * interval_days) for i in range(count)]
        else:
            months = 1 if interval_months is None else interval_months
            if not _is_int(months) or months < 1:
                raise InvalidTerms(f"interval_months must be at least 1, got {months!r}.")
            schedule = [add_months(first_due, i * months, anchor_day=anchor_day) for i in range(count)]

    if weights is None:
        parts = allocate(amount, [1] * len(schedule), currency)
    else:
        if len(weights) != len(schedule):
            raise InvalidTerms(f"Got {len(weights)} weights for {len(schedule)} instalments.")
        ws = [to_decimal(w) for w in weights]
        if any(w < 0 for w in ws) or sum(ws, ZERO) <= 0:
            raise InvalidTerms("Instalment weights must be non-negative and not all zero.")
        parts = allocate(amount, ws, currency)
    return [Instalment(i + 1, d, part, currency) for i, (d, part) in enumerate(zip(schedule, parts))]
