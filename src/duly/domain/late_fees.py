"""Late-payment fees and interest: what an overdue invoice owes as of an explicit date.

Policies (:class:`LateFeePolicy.kind`)
    ``none``              nothing is charged (every other field is ignored).
    ``fixed_fee``         a one-off fee of ``fixed_fee``.
    ``interest_annual``   simple interest at ``rate_percent`` per year.
    ``interest_monthly``  simple interest at ``rate_percent`` per month, i.e. ``rate_percent × 12``
                          per year on the same day count.
    ``eu_statutory``      Late Payment Directive 2011/7/EU: simple interest at the reference rate
                          + 8 percentage points per year, plus a fixed compensation for recovery
                          costs of EUR 40. The EUR 40 default is never converted: for other
                          currencies ``compensation_amount`` must be set.

    Any kind but ``none`` may add a ``fixed_fee`` and/or a ``compensation_amount`` (for instance
    interest at 12% per year plus a EUR 40 fee). Fields a kind does not use are ignored.

Reference rate (``eu_statutory``)
    Directive 2011/7/EU art. 2(6)-(7): the reference rate is the central bank's rate for its main
    refinancing operations (the ECB's for the euro, the national central bank's for a member
    state's own currency). The rate in force on **1 January** applies to the whole first
    semester (January-June), the rate in force on **1 July** to the whole second semester: a
    change on 11 June counts only from 1 July.

    - ``reference_rates``: the recorded rates of the invoice currency as data, ``(valid_from,
      rate_percent)`` pairs. The rate of a semester is the latest one with ``valid_from`` on or
      before the semester's first day. Interest is charged per calendar month and a month never
      spans two semesters, so each month is charged at its own semester's rate. When a month that
      must be charged has no known rate, :class:`~duly.domain.errors.ReferenceRateMissing`
      (``reference_rate_missing``) names the currency and the semester: nothing is guessed.
    - ``reference_rate_percent``: an agreed fixed reference rate (a contractual override). When
      set it applies to every semester and ``reference_rates`` is ignored.

    A statutory policy needs one of the two (``reference_rates=()`` is fine: no rate recorded yet,
    which only matters once a rate is needed). The terms in words (:func:`describe_policy`) state
    the rate of the semester of their ``as_of`` (the issue date).

Interest
    Simple interest, day count **actual/365** (also in leap years): each late day accrues
    ``balance × annual rate / 365`` on the principal still unpaid that day. Day ``d`` is late when
    ``d`` is after the due date; a payment dated ``p`` reduces the balance from day ``p + 1``, so a
    payment one day after the due date bears one day of interest. Interest therefore runs from the
    due date by default; with ``interest_from_due_date=False`` it starts only after the grace days.

Grace days
    Nothing at all is charged until ``due_date + grace_days`` has passed, and nothing is charged if
    the invoice was paid in full by then.

Fee levels (the idempotency scheme)
    Every fee has a stable ``level``; the database keeps (invoice, level) unique, so each level is
    charged at most once, whatever the number or timing of runs:

    - ``"fixed"``: the fixed fee, once per invoice.
    - ``"compensation"``: the fixed compensation, once per invoice.
    - ``"interest:YYYY-MM"``: the interest for the late days falling in that calendar month.
      A month is charged only once it is complete (``as_of`` on or after its last day), or once the
      invoice is paid in full, in which case the final partial month is charged up to the payment
      date. Because the months partition the late days, a later run charges only months not charged
      before: no day is ever charged twice, and no day is lost.

    :func:`assess` returns only the levels not yet charged (``OpenItem.assessed_levels`` and the keys
    of ``OpenItem.already_charged``). Each interest month is rounded on its own (half up).

Caps
    ``cap_percent`` (of the invoice principal) and/or ``cap_amount`` limit the total of all late
    charges of the invoice: fixed fee, compensation and interest together; with both, the lower one
    applies. Charges consume the cap in level order (fixed fee, compensation, then interest month by
    month); the charge that reaches the cap is reduced and later ones are dropped, never negative.
    Already-charged levels count against the cap with the amounts in ``OpenItem.already_charged``
    (levels known only by name are re-computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Hashable, Mapping

from .calendar import add_months, end_of_month
from .errors import InvalidLateFeePolicy, ReferenceRateMissing, ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, exponent, round_money, to_decimal
from .payment_terms import format_date

__all__ = [
    "DAY_COUNT_BASIS",
    "EU_COMPENSATION_EUR",
    "EU_STATUTORY_MARGIN",
    "Fee",
    "KINDS",
    "LEVEL_COMPENSATION",
    "LEVEL_FIXED",
    "LateFeePolicy",
    "OpenItem",
    "ReferenceRates",
    "assess",
    "describe_policy",
    "first_semester_from",
    "format_amount",
    "interest_level",
    "reference_rate_in_force",
    "reference_rate_name",
    "semester_label",
    "semester_start",
]

KINDS = ("none", "fixed_fee", "interest_annual", "interest_monthly", "eu_statutory")
INTEREST_KINDS = ("interest_annual", "interest_monthly", "eu_statutory")

#: Actual/365: a year of interest is 365 days, leap years included.
DAY_COUNT_BASIS = 365
#: Directive 2011/7/EU: statutory interest = ECB reference rate + 8 percentage points.
EU_STATUTORY_MARGIN = Decimal(8)
#: Directive 2011/7/EU art. 6: fixed compensation for recovery costs, in EUR.
EU_COMPENSATION_EUR = Decimal("40.00")

LEVEL_FIXED = "fixed"
LEVEL_COMPENSATION = "compensation"
INTEREST_LEVEL_PREFIX = "interest:"

_ONE_DAY = timedelta(days=1)

#: Recorded reference rates of one currency: ``(valid_from, rate_percent)`` pairs, sorted by date.
ReferenceRates = tuple[tuple[date, Decimal], ...]


def semester_start(day: date) -> date:
    """First day of the semester of ``day``: 1 January or 1 July (Directive 2011/7/EU art. 2(7))."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def first_semester_from(valid_from: date) -> date:
    """First day of the first semester a rate taking effect on ``valid_from`` can apply to: that day
    itself on 1 January / 1 July, else the next semester's first day."""
    start = semester_start(valid_from)
    if start == valid_from:
        return start
    return date(start.year, 7, 1) if start.month == 1 else date(start.year + 1, 1, 1)


def semester_label(day: date) -> str:
    """``1st half of 2026`` / ``2nd half of 2026`` for any day of that semester."""
    return f"{'1st' if day.month <= 6 else '2nd'} half of {day.year}"


def reference_rate_in_force(rates: ReferenceRates, day: date) -> Decimal | None:
    """The reference rate of the semester of ``day``: the latest rate with ``valid_from`` on or before
    the semester's first day; None when no such rate is recorded."""
    start = semester_start(day)
    found = None
    for valid_from, rate in rates:
        if valid_from > start:
            break
        found = rate
    return found


def reference_rate_name(currency: str) -> str:
    """Whose rate it is: ``ECB rate`` for the euro, else the national central bank's rate."""
    return "ECB rate" if currency == "EUR" else f"{currency} central bank rate"


def interest_level(year: int, month: int) -> str:
    """Level of the interest for the late days of one calendar month: ``interest:2026-03``."""
    return f"{INTEREST_LEVEL_PREFIX}{year:04d}-{month:02d}"


def format_amount(amount: Decimal, currency: str) -> str:
    """``1,000.00`` for EUR, ``1,000`` for JPY: the currency's decimals, with thousands separators."""
    return f"{amount:,.{exponent(currency)}f}"


def _fmt_money(amount: Decimal, currency: str) -> str:
    return f"{currency} {format_amount(amount, currency)}"


def _fmt_rate(rate: Decimal) -> str:
    """``Decimal("10.1500")`` → ``10.15``; ``Decimal("12.0000")`` → ``12``."""
    text = format(rate.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _decimal_field(name: str, value: object) -> Decimal:
    try:
        return to_decimal(value)
    except ValidationError as exc:
        raise InvalidLateFeePolicy(f"Late-fee policy {name}: {exc.message}", field=name) from None


def _check_rates(rates: object) -> ReferenceRates:
    """``(valid_from, rate_percent)`` pairs: dates, exact Decimals, one rate per date; returned sorted."""
    try:
        pairs = [tuple(pair) for pair in rates]  # type: ignore[union-attr]
    except TypeError:
        raise InvalidLateFeePolicy("reference_rates must be (valid_from, rate_percent) pairs.") from None
    checked = []
    for pair in pairs:
        if len(pair) != 2 or not isinstance(pair[0], date) or isinstance(pair[0], datetime):
            raise InvalidLateFeePolicy(f"reference_rates: {pair!r} is not a (valid_from date, rate_percent) pair.")
        checked.append((pair[0], _decimal_field("reference_rates", pair[1])))
    checked.sort(key=lambda pair: pair[0])
    for (a, _), (b, _) in zip(checked, checked[1:]):
        if a == b:
            raise InvalidLateFeePolicy(f"reference_rates: two rates from {a.isoformat()}.")
    return tuple(checked)


@dataclass(frozen=True)
class LateFeePolicy:
    """Agreed late-payment charges. Amounts are in major units of the invoice currency."""

    kind: str
    fixed_fee: Decimal = ZERO
    rate_percent: Decimal = ZERO
    reference_rate_percent: Decimal | None = None
    grace_days: int = 0
    cap_percent: Decimal | None = None
    cap_amount: Decimal | None = None
    compensation_amount: Decimal | None = None
    interest_from_due_date: bool = True
    #: The recorded reference rates of the invoice currency (``eu_statutory`` without a fixed
    #: ``reference_rate_percent``); None: not given.
    reference_rates: ReferenceRates | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidLateFeePolicy(
                f"Unknown late-fee policy {self.kind!r}: use one of {', '.join(KINDS)}.", kind=str(self.kind)
            )
        for name in ("fixed_fee", "rate_percent"):
            object.__setattr__(self, name, _decimal_field(name, getattr(self, name)))
        for name in ("reference_rate_percent", "cap_percent", "cap_amount", "compensation_amount"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _decimal_field(name, getattr(self, name)))
        if not isinstance(self.grace_days, int) or isinstance(self.grace_days, bool) or self.grace_days < 0:
            raise InvalidLateFeePolicy(f"Grace days must be a whole number of days, 0 or more, got {self.grace_days!r}.")
        if not isinstance(self.interest_from_due_date, bool):
            raise InvalidLateFeePolicy("interest_from_due_date must be True or False.")
        if self.reference_rates is not None:
            object.__setattr__(self, "reference_rates", _check_rates(self.reference_rates))
        if self.kind == "none":
            return
        for name in ("fixed_fee", "rate_percent", "cap_percent", "cap_amount", "compensation_amount"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidLateFeePolicy(f"Late-fee policy {name} cannot be negative (got {value}).", field=name)
        if self.kind == "fixed_fee" and self.fixed_fee == 0:
            raise InvalidLateFeePolicy("A fixed-fee policy needs a fixed_fee greater than 0.")
        if self.kind in ("interest_annual", "interest_monthly") and self.rate_percent == 0:
            raise InvalidLateFeePolicy(f"An {self.kind} policy needs a rate_percent greater than 0.")
        if self.kind == "eu_statutory":
            if self.reference_rate_percent is None and self.reference_rates is None:
                raise InvalidLateFeePolicy(
                    "The EU statutory policy needs the ECB reference rate: the recorded semester rates "
                    "(reference_rates) or an agreed fixed reference_rate_percent."
                )
            if self.reference_rate_percent is not None and self.reference_rate_percent + EU_STATUTORY_MARGIN <= 0:
                raise InvalidLateFeePolicy(
                    f"ECB reference rate {self.reference_rate_percent}% + 8 points is not a positive rate."
                )
            if self.reference_rate_percent is None:
                for valid_from, rate in self.reference_rates or ():
                    if rate + EU_STATUTORY_MARGIN <= 0:
                        raise InvalidLateFeePolicy(
                            f"Reference rate {_fmt_rate(rate)}% from {valid_from.isoformat()} + 8 points is not a "
                            "positive rate."
                        )

    @property
    def charges_interest(self) -> bool:
        return self.kind in INTEREST_KINDS

    @property
    def uses_reference_rates(self) -> bool:
        """True when the rate follows the recorded semester rates (EU statutory without a fixed rate)."""
        return self.kind == "eu_statutory" and self.reference_rate_percent is None

    @property
    def annual_rate_percent(self) -> Decimal | None:
        """The annual interest rate applied, in percent, when it is one fixed rate.

        None when the policy charges no interest, and when it follows the recorded semester rates
        (:attr:`uses_reference_rates`): the rate then depends on the date, see :meth:`annual_rate_on`.
        """
        if self.kind == "interest_annual":
            return self.rate_percent
        if self.kind == "interest_monthly":
            return self.rate_percent * 12
        if self.kind == "eu_statutory" and self.reference_rate_percent is not None:
            return self.reference_rate_percent + EU_STATUTORY_MARGIN
        return None

    def reference_rate_on(self, day: date | None, currency: str) -> Decimal:
        """The reference rate (in percent) for the semester of ``day``: the fixed agreed rate, else the
        recorded rate in force on the semester's first day.

        ``day`` may be None only with a fixed rate. Raises
        :class:`~duly.domain.errors.ReferenceRateMissing` when no rate is recorded for the semester.
        """
        if self.kind != "eu_statutory":
            raise InvalidLateFeePolicy(f"A {self.kind} policy has no reference rate.")
        if self.reference_rate_percent is not None:
            return self.reference_rate_percent
        if not isinstance(day, date):
            raise ValidationError(
                "The statutory rate follows the semester's reference rate: give the date it applies on (as_of)."
            )
        rate = reference_rate_in_force(self.reference_rates or (), day)
        if rate is None:
            start = semester_start(day)
            raise ReferenceRateMissing(
                f"No {currency} reference rate is recorded for the {semester_label(day)} (the "
                f"{reference_rate_name(currency)} in force on {format_date(start)}): record it before statutory "
                "interest can be charged or stated.",
                currency=currency, semester=f"{start.year}-H{1 if start.month == 1 else 2}",
                valid_from=start.isoformat(),
            )
        return rate

    def annual_rate_on(self, day: date | None, currency: str) -> Decimal | None:
        """The annual interest rate (percent) applying on ``day``; None when the policy charges no interest.

        For EU statutory interest: the semester's reference rate + 8 points (see :meth:`reference_rate_on`);
        ``day`` may be None for every policy with one fixed rate.
        """
        if self.kind == "eu_statutory":
            return self.reference_rate_on(day, currency) + EU_STATUTORY_MARGIN
        return self.annual_rate_percent

    def compensation_for(self, currency: str) -> Decimal:
        """Fixed compensation in ``currency``: explicit amount, else EUR 40 for EU statutory in EUR, else 0."""
        check_currency(currency)
        if self.kind == "none":
            return ZERO
        if self.compensation_amount is not None:
            return self.compensation_amount
        if self.kind == "eu_statutory":
            if currency != "EUR":
                raise InvalidLateFeePolicy(
                    f"The EU statutory compensation is EUR 40 and is never converted: set compensation_amount "
                    f"in {currency} explicitly (0 to waive it).",
                    currency=currency,
                )
            return EU_COMPENSATION_EUR
        return ZERO

    def fixed_fee_for(self, currency: str) -> Decimal:
        """The fixed fee charged in ``currency`` (0 for ``none``)."""
        check_currency(currency)
        return ZERO if self.kind == "none" else self.fixed_fee

    def cap_for(self, principal: Decimal, currency: str) -> Decimal | None:
        """Maximum total of late charges on ``principal``, rounded to the currency; None if uncapped."""
        caps = []
        if self.cap_percent is not None:
            caps.append(round_money(principal * self.cap_percent / 100, currency))
        if self.cap_amount is not None:
            caps.append(self.cap_amount)
        return min(caps) if caps else None


@dataclass(frozen=True)
class OpenItem:
    """Snapshot of an overdue invoice for fee assessment.

    ``payments`` are (date, amount) pairs applied to the invoice, before or after the due date.
    ``principal`` is the amount that was due on the due date; when omitted it is
    ``unpaid_principal + sum(payments)``. When given, ``unpaid_principal`` must equal
    ``principal - sum(payments)``.

    Charged levels are passed as ``assessed_levels`` (names) and/or ``already_charged``
    (name → amount; needed for exact caps).
    """

    invoice_id: Hashable
    currency: str
    due_date: date
    unpaid_principal: Decimal
    principal: Decimal | None = None
    payments: tuple[tuple[date, Decimal], ...] = ()
    assessed_levels: frozenset[str] = frozenset()
    already_charged: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not isinstance(self.due_date, date):
            raise ValidationError(f"Invoice {self.invoice_id} has no due date: late fees need one.")
        unpaid = to_decimal(self.unpaid_principal)
        payments = tuple(sorted((d, to_decimal(a)) for d, a in self.payments))
        if any(a < 0 for _, a in payments):
            raise ValidationError(f"Invoice {self.invoice_id}: payment amounts cannot be negative.")
        paid = sum((a for _, a in payments), ZERO)
        principal = unpaid + paid if self.principal is None else to_decimal(self.principal)
        if principal < 0:
            raise ValidationError(f"Invoice {self.invoice_id}: principal cannot be negative ({principal}).")
        if principal - paid != unpaid:
            raise ValidationError(
                f"Invoice {self.invoice_id}: unpaid principal {unpaid} does not equal principal {principal} "
                f"minus payments {paid}.",
            )
        object.__setattr__(self, "unpaid_principal", unpaid)
        object.__setattr__(self, "principal", principal)
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "assessed_levels", frozenset(self.assessed_levels))
        object.__setattr__(self, "already_charged", {k: to_decimal(v) for k, v in dict(self.already_charged).items()})

    @property
    def charged_levels(self) -> frozenset[str]:
        return self.assessed_levels | frozenset(self.already_charged)


@dataclass(frozen=True)
class Fee:
    """One charge decided by :func:`assess`.

    ``days_late`` is the number of days past due at the end of what the fee covers (``as_of``, the
    payment date, or the last day of the interest month). ``rate`` is the annual interest rate in
    percent for interest, None otherwise. ``days`` is the number of interest days in the period.
    ``explanation`` is the worked arithmetic, e.g. ``1,000.00 × 10.15% × 31/365 = 8.62``.
    """

    level: str
    kind: str  # "fixed_fee" | "compensation" | "interest"
    amount: Decimal
    currency: str
    days_late: int
    rate: Decimal | None
    explanation: str
    days: int = 0
    period_start: date | None = None
    period_end: date | None = None


class _Balance:
    """Unpaid principal day by day, from the payments dated on or before ``as_of``."""

    def __init__(self, item: OpenItem, as_of: date) -> None:
        assert item.principal is not None
        self.principal = item.principal
        self.payments = [(d, a) for d, a in item.payments if d <= as_of]
        self.settled_on: date | None = None
        remaining = self.principal
        for d, a in self.payments:
            remaining -= a
            if remaining <= 0:
                self.settled_on = d
                break

    def on(self, day: date) -> Decimal:
        """Principal bearing interest on ``day``: payments dated before ``day`` are deducted."""
        return max(ZERO, self.principal - sum((a for d, a in self.payments if d < day), ZERO))

    def segments(self, first: date, last: date) -> list[tuple[date, date, Decimal]]:
        """(from, to, balance) runs of constant positive balance covering ``first``..``last``."""
        cuts = sorted({d + _ONE_DAY for d, _ in self.payments if first < d + _ONE_DAY <= last})
        bounds = [first, *cuts, last + _ONE_DAY]
        runs = []
        for start, stop in zip(bounds, bounds[1:]):
            balance = self.on(start)
            if balance > 0:
                runs.append((start, stop - _ONE_DAY, balance))
        return runs


@dataclass(frozen=True)
class _Charge:
    level: str
    kind: str
    amount: Decimal
    days_late: int
    rate: Decimal | None
    explanation: str
    days: int = 0
    period_start: date | None = None
    period_end: date | None = None


def _exact(amount: Decimal, currency: str, what: str) -> Decimal:
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise InvalidLateFeePolicy(f"The {what} {amount} has more decimals than {currency} allows.", currency=currency)
    return rounded


def _period_label(first: date, last: date) -> str:
    if first == last:
        return format_date(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{format_date(last)}"
    return f"{format_date(first)} – {format_date(last)}"


def _rate_factor_text(policy: LateFeePolicy, rate: Decimal) -> str:
    if policy.kind == "interest_monthly":
        return f"{_fmt_rate(policy.rate_percent)}% × 12"
    return f"{_fmt_rate(rate)}%"


def _interest_charges(
    item: OpenItem, policy: LateFeePolicy, balance: _Balance, as_of: date, first_day: date, last_day: date
) -> list[_Charge]:
    currency = item.currency
    final = balance.settled_on is not None
    uncapped = policy.cap_percent is None and policy.cap_amount is None
    charges = []
    month = first_day.replace(day=1)
    while month <= last_day:
        month_end = end_of_month(month)
        if not final and month_end > as_of:
            break
        lo, hi = max(first_day, month), min(month_end, last_day)
        level = interest_level(month.year, month.month)
        month_start, month = month, add_months(month, 1)
        if level in item.already_charged or (uncapped and level in item.assessed_levels):
            continue  # charged before, and no cap needs its amount: nothing to compute (nor a rate to know)
        runs = balance.segments(lo, hi)
        if not runs:
            continue
        rate = policy.annual_rate_on(month_start, currency)  # a month lies in one semester: one rate
        assert rate is not None
        with localcontext(MONEY_CONTEXT):
            exact = sum(
                (bal * rate * ((stop - start).days + 1) / (100 * DAY_COUNT_BASIS) for start, stop, bal in runs), ZERO
            )
        amount = round_money(exact, currency)
        if amount <= 0:
            continue
        factor_text = _rate_factor_text(policy, rate)
        terms = " + ".join(
            f"{format_amount(bal, currency)} × {factor_text} × {(stop - start).days + 1}/{DAY_COUNT_BASIS}"
            for start, stop, bal in runs
        )
        explanation = f"Interest {_period_label(lo, hi)}: {terms} = {format_amount(amount, currency)}"
        if policy.uses_reference_rates:
            explanation += (
                f" ({reference_rate_name(currency)} {_fmt_rate(rate - EU_STATUTORY_MARGIN)}% for the "
                f"{semester_label(month_start)} + {_fmt_rate(EU_STATUTORY_MARGIN)} points)"
            )
        days = sum((stop - start).days + 1 for start, stop, _ in runs)
        charges.append(
            _Charge(
                level=level,
                kind="interest",
                amount=amount,
                days_late=(hi - item.due_date).days,
                rate=rate,
                explanation=explanation,
                days=days,
                period_start=lo,
                period_end=hi,
            )
        )
    return charges


def _candidate_charges(item: OpenItem, policy: LateFeePolicy, as_of: date) -> list[_Charge]:
    """Every charge due as of ``as_of`` in level order, before caps and before skipping charged levels."""
    currency = item.currency
    fixed = _exact(policy.fixed_fee_for(currency), currency, "fixed fee")
    compensation = _exact(policy.compensation_for(currency), currency, "compensation")
    first_chargeable = item.due_date + timedelta(days=policy.grace_days + 1)
    balance = _Balance(item, as_of)
    if as_of < first_chargeable or balance.on(first_chargeable) <= 0:
        return []
    last_day = balance.settled_on if balance.settled_on is not None else as_of
    days_late = (last_day - item.due_date).days
    late = f"{days_late} day{'' if days_late == 1 else 's'} late"
    when = (
        f"paid {late} on {format_date(last_day)}" if balance.settled_on is not None else f"{late} on {format_date(as_of)}"
    )
    charges = []
    if fixed > 0:
        charges.append(_Charge(LEVEL_FIXED, "fixed_fee", fixed, days_late, None,
                               f"Fixed late-payment fee: {_fmt_money(fixed, currency)} ({when})"))
    if compensation > 0:
        source = " under Directive 2011/7/EU" if policy.kind == "eu_statutory" else ""
        charges.append(_Charge(LEVEL_COMPENSATION, "compensation", compensation, days_late, None,
                               f"Fixed compensation for recovery costs{source}: "
                               f"{_fmt_money(compensation, currency)} ({when})"))
    if policy.charges_interest:
        first_day = item.due_date + _ONE_DAY if policy.interest_from_due_date else first_chargeable
        charges += _interest_charges(item, policy, balance, as_of, first_day, last_day)
    return charges


def assess(item: OpenItem, policy: LateFeePolicy, as_of: date) -> list[Fee]:
    """The fees to charge now on ``item`` under ``policy``: only levels not charged before, capped.

    Deterministic and idempotent: the same snapshot gives the same fees, and once the returned
    levels are recorded a rerun (with the same or a later ``as_of``) returns only new levels.
    """
    if policy.kind == "none":
        return []
    currency = item.currency
    charges = _candidate_charges(item, policy, as_of)
    if not charges:
        return []
    cap = policy.cap_for(item.principal or ZERO, currency)
    charged = item.charged_levels
    known = item.already_charged

    # Charges recorded before, in level order: known amounts as recorded, others re-computed.
    used = sum(known.values(), ZERO)
    if cap is not None:
        for charge in charges:
            if charge.level in charged and charge.level not in known:
                used += min(charge.amount, max(ZERO, cap - used))

    fees = []
    for charge in charges:
        if charge.level in charged:
            continue
        amount, explanation = charge.amount, charge.explanation
        if cap is not None:
            room = max(ZERO, cap - used)
            if amount > room:
                amount = room
                explanation += (
                    f"; reduced to {format_amount(amount, currency)} by the cap of "
                    f"{format_amount(cap, currency)} on total late charges "
                    f"({format_amount(used, currency)} already charged)"
                )
        if amount <= 0:
            continue
        used += amount
        fees.append(
            Fee(
                level=charge.level,
                kind=charge.kind,
                amount=amount,
                currency=currency,
                days_late=charge.days_late,
                rate=charge.rate,
                explanation=explanation,
                days=charge.days,
                period_start=charge.period_start,
                period_end=charge.period_end,
            )
        )
    return fees


def describe_policy(policy: LateFeePolicy, currency: str, as_of: date | None = None) -> str:
    """English sentence with the actual rate and amounts, e.g.

    ``Late payment: interest at 10.15% per year (ECB reference rate 2.15% + 8 points) from the due
    date, plus EUR 40.00 fixed compensation.`` (an agreed fixed reference rate), or, when the rate
    follows the recorded semester rates, the rate of the semester of ``as_of`` (the issue date):

    ``Late payment: statutory interest at the reference rate + 8 points (currently 10.15% per year,
    ECB rate 2.15% for the 1st half of 2026) from the due date, plus EUR 40.00 fixed compensation.``

    ``as_of`` is needed only by a policy whose rate follows the semester rates (else it is ignored).
    """
    check_currency(currency)
    if policy.kind == "none":
        return "No late-payment charges."
    parts = []
    if policy.charges_interest:
        rate = policy.annual_rate_on(as_of, currency)
        assert rate is not None
        margin = _fmt_rate(EU_STATUTORY_MARGIN)
        if policy.kind == "interest_monthly":
            text = f"interest at {_fmt_rate(policy.rate_percent)}% per month ({_fmt_rate(rate)}% per year)"
        elif policy.uses_reference_rates:
            assert as_of is not None
            text = (
                f"statutory interest at the reference rate + {margin} points (currently {_fmt_rate(rate)}% per "
                f"year, {reference_rate_name(currency)} {_fmt_rate(rate - EU_STATUTORY_MARGIN)}% for the "
                f"{semester_label(as_of)})"
            )
        elif policy.kind == "eu_statutory":
            assert policy.reference_rate_percent is not None
            text = (
                f"interest at {_fmt_rate(rate)}% per year (ECB reference rate "
                f"{_fmt_rate(policy.reference_rate_percent)}% + {margin} points)"
            )
        else:
            text = f"interest at {_fmt_rate(rate)}% per year"
        if policy.interest_from_due_date or policy.grace_days == 0:
            text += " from the due date"
        else:
            text += f" from {policy.grace_days} days after the due date"
        parts.append(text)
    fixed = policy.fixed_fee_for(currency)
    if fixed > 0:
        parts.append(f"a fixed fee of {_fmt_money(fixed, currency)}")
    compensation = policy.compensation_for(currency)
    if compensation > 0:
        parts.append(f"{_fmt_money(compensation, currency)} fixed compensation")
    if not parts:
        return "No late-payment charges."
    sentence = "Late payment: " + ", plus ".join(parts)
    if policy.grace_days:
        day_word = "day" if policy.grace_days == 1 else "days"
        sentence += f"; charged only when payment is more than {policy.grace_days} {day_word} late"
    caps = []
    if policy.cap_percent is not None:
        caps.append(f"{_fmt_rate(policy.cap_percent)}% of the invoice amount")
    if policy.cap_amount is not None:
        caps.append(_fmt_money(policy.cap_amount, currency))
    if caps:
        sentence += "; total late charges capped at " + " or ".join(caps)
        if len(caps) == 2:
            sentence += ", whichever is lower"
    return sentence + "."
