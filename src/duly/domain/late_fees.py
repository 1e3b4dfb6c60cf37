"""Late-payment fees and interest: what an overdue invoice owes as of an explicit date.

Policies (:class:`LateFeePolicy.kind`)
    ``none``              nothing is charged (every other field is ignored).
    ``fixed_fee``         a one-off fee of ``fixed_fee``.
    ``interest_annual``   simple interest at ``rate_percent`` per year.
    ``interest_monthly``  simple interest at ``rate_percent`` per month, i.e. ``rate_percent × 12``
                          per year on the same day count.
    statutory regimes     the late-payment law of a jurisdiction, one row of :data:`REGIMES` each
                          (data, not code): its reference-rate series, its margin in points, its
                          half-year rule and its fixed sums by size of debt.

    ====================  ==========================================  ==========  ======  ============  =================
    kind                  law                                         series      margin  rate fixed    fixed sum
    ====================  ==========================================  ==========  ======  ============  =================
    ``eu_statutory``      Directive 2011/7/EU                         invoice     + 8     1 Jan/1 Jul   EUR 40
                                                                      currency's
    ``de_statutory_b2b``  §288(2) and (5) BGB, between businesses     DE-BASIS    + 9     1 Jan/1 Jul   EUR 40 Pauschale
    ``de_statutory_b2c``  §288(1) BGB, with a consumer                DE-BASIS    + 5     1 Jan/1 Jul   none
    ``fr_statutory``      art. L441-10 and D441-5 Code de commerce    EUR (ECB)   + 10    1 Jan/1 Jul   EUR 40 indemnité
    ``uk_statutory``      Late Payment of Commercial Debts (Interest) GBP (BoE)   + 8     31 Dec/30 Jun GBP 40/70/100 by
                          Act 1998                                                                      size of debt
    ====================  ==========================================  ==========  ======  ============  =================

    The fixed sums are never converted: an invoice in another currency needs an agreed
    ``compensation_amount`` (0 to waive it). The UK sum depends on the size of the debt (the
    invoice's principal): GBP 40 under 1,000.00, GBP 70 from 1,000.00 to 9,999.99, GBP 100 from
    10,000.00. An agreed ``compensation_amount`` replaces the table's sums.

    Any kind but ``none`` may add a ``fixed_fee`` and/or a ``compensation_amount`` (for instance
    interest at 12% per year plus a EUR 40 fee). Fields a kind does not use are ignored.

Reference rates (statutory regimes)
    Each regime follows one series of reference rates (:data:`REFERENCE_SERIES`): the EU rule the
    central bank rate of the invoice currency (series ``EUR``, the ECB's main refinancing rate,
    for the euro), France the ECB rate (``EUR``), Germany the Bundesbank's base rate
    (``DE-BASIS``, §247 BGB), the UK the Bank of England base rate (``GBP``). Every regime here
    has a half-year rule: one rate per semester (January-June, July-December). Directive
    2011/7/EU art. 2(6)-(7), L441-10 and §247 BGB take the rate in force on **1 January** /
    **1 July**; the UK Late Payment (Rate of Interest) Order 2002 the rate in force on
    **31 December** / **30 June**, the day before. A change on 11 June counts only from 1 July.

    - ``reference_rates``: the recorded rates of the regime's series as data, ``(valid_from,
      rate_percent)`` pairs. The rate of a semester is the latest one with ``valid_from`` on or
      before the semester's fixing day. Interest is charged per calendar month and a month never
      spans two semesters, so each month is charged at its own semester's rate. When a month that
      must be charged has no known rate, :class:`~duly.domain.errors.ReferenceRateMissing`
      (``reference_rate_missing``) names the series and the semester: nothing is guessed.
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

Interest accrued to a day
    :func:`accrued_interest` is the interest a reminder, a statement or the pay page shows on a
    given day, day by day (the current month up to that day included), for the late days not
    charged yet: what would be invoiced if the month ended that day. It is never an invoice: the
    interest months already charged are what has been invoiced, and are not counted again.

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
from types import MappingProxyType
from typing import Hashable, Mapping

from .calendar import add_months, end_of_month
from .errors import InvalidLateFeePolicy, ReferenceRateMissing, ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, exponent, round_money, to_decimal
from .late_fee_words import band_text as _band_text
from .late_fee_words import period_label as _period_label
from .late_fee_words import rate_factor_text, reference_text, semester_text
from .payment_terms import format_date
from .text import Amount, Percent, Text, join_text, text

__all__ = [
    "AccruedInterest",
    "DAY_COUNT_BASIS",
    "EU_COMPENSATION_EUR",
    "EU_STATUTORY_MARGIN",
    "Fee",
    "KINDS",
    "LEVEL_COMPENSATION",
    "LEVEL_FIXED",
    "LateFeePolicy",
    "OpenItem",
    "REFERENCE_SERIES",
    "REGIMES",
    "ReferenceRates",
    "StatutoryRegime",
    "accrued_interest",
    "assess",
    "check_series",
    "MINIMUM_FEE_INVOICE",
    "describe_compensation",
    "describe_policy",
    "first_semester_from",
    "fixing_day",
    "format_amount",
    "interest_level",
    "reference_rate_in_force",
    "reference_rate_name",
    "semester_label",
    "semester_start",
    "split_by_minimum",
]

#: Actual/365: a year of interest is 365 days, leap years included.
DAY_COUNT_BASIS = 365
#: Directive 2011/7/EU: statutory interest = ECB reference rate + 8 percentage points.
EU_STATUTORY_MARGIN = Decimal(8)
#: Directive 2011/7/EU art. 6: fixed compensation for recovery costs, in EUR.
EU_COMPENSATION_EUR = Decimal("40.00")

#: Half-year rules: the rate of a semester is the one in force on its first day (1 January / 1 July), or
#: on the day before it (31 December / 30 June).
FIXINGS = ("first_day", "day_before")

#: Named reference-rate series (``duly rates set --series ...``) besides the ISO currency codes (a
#: currency code names its central bank's rate: ``EUR`` the ECB's main refinancing operations rate,
#: ``GBP`` the Bank of England base rate...): series → (what it is, the half-year rule its users apply).
REFERENCE_SERIES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "DE-BASIS": ("Deutsche Bundesbank base rate (Basiszinssatz, §247 BGB)", "first_day"),
    "EUR": ("ECB main refinancing operations rate", "first_day"),
    "GBP": ("Bank of England base rate", "day_before"),
})
#: Other names accepted for a series.
SERIES_ALIASES: Mapping[str, str] = MappingProxyType({"ECB": "EUR", "BOE": "GBP", "DE-BASE": "DE-BASIS"})


@dataclass(frozen=True)
class StatutoryRegime:
    """One jurisdiction's late-payment law: a row of :data:`REGIMES`."""

    kind: str
    #: The law, as cited in explanations (``§288 BGB``).
    law: str
    #: The reference-rate series; None: the central bank rate of the invoice currency (EU rule).
    series: str | None
    #: The reference rate in words (``base rate``); None: ``ECB rate`` / ``<currency> central bank rate``.
    reference: str | None
    margin: Decimal
    fixing: str
    #: Fixed sums by size of debt: ``(debt below, sum)`` pairs in order, the last ``(None, sum)``; () for none.
    fixed_sums: tuple[tuple[Decimal | None, Decimal], ...]
    #: The currency of the fixed sums (never converted).
    sums_currency: str | None
    #: What the fixed sum is, as explanations name it.
    sum_title: str
    #: Whether the terms in words and the interest explanations cite :attr:`law` (the EU rule's never did:
    #: its compensation names the directive).
    names_law: bool = True

    def reference_name(self, currency: str) -> str:
        return self.reference or reference_rate_name(currency)

    def series_for(self, currency: str) -> str:
        """The series this regime reads for an invoice in ``currency``."""
        return self.series or currency


_FORTY_EUR = ((None, EU_COMPENSATION_EUR),)
#: The statutory late-payment regimes (data: one row each, see the module notes).
REGIMES: Mapping[str, StatutoryRegime] = MappingProxyType({r.kind: r for r in (
    StatutoryRegime("eu_statutory", "Directive 2011/7/EU", None, None, EU_STATUTORY_MARGIN, "first_day",
                    _FORTY_EUR, "EUR", "Fixed compensation for recovery costs under Directive 2011/7/EU",
                    names_law=False),
    StatutoryRegime("de_statutory_b2b", "§288(2) BGB", "DE-BASIS", "base rate", Decimal(9), "first_day",
                    _FORTY_EUR, "EUR", "Flat sum (Pauschale) under §288(5) BGB"),
    StatutoryRegime("de_statutory_b2c", "§288(1) BGB", "DE-BASIS", "base rate", Decimal(5), "first_day",
                    (), None, ""),
    StatutoryRegime("fr_statutory", "art. L441-10 Code de commerce", "EUR", "ECB rate", Decimal(10), "first_day",
                    _FORTY_EUR, "EUR",
                    "Fixed indemnity for recovery costs under art. L441-10 and D441-5 Code de commerce"),
    StatutoryRegime("uk_statutory", "Late Payment of Commercial Debts (Interest) Act 1998", "GBP",
                    "Bank of England base rate", Decimal(8), "day_before",
                    ((Decimal("1000.00"), Decimal("40.00")), (Decimal("10000.00"), Decimal("70.00")),
                     (None, Decimal("100.00"))), "GBP",
                    "Fixed sum under section 5A of the Late Payment of Commercial Debts (Interest) Act 1998"),
)})

KINDS = ("none", "fixed_fee", "interest_annual", "interest_monthly", *REGIMES)
INTEREST_KINDS = ("interest_annual", "interest_monthly", *REGIMES)

LEVEL_FIXED = "fixed"
LEVEL_COMPENSATION = "compensation"
INTEREST_LEVEL_PREFIX = "interest:"

_ONE_DAY = timedelta(days=1)

#: Recorded reference rates of one currency: ``(valid_from, rate_percent)`` pairs, sorted by date.
ReferenceRates = tuple[tuple[date, Decimal], ...]


def semester_start(day: date) -> date:
    """First day of the semester of ``day``: 1 January or 1 July (Directive 2011/7/EU art. 2(7))."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def fixing_day(day: date, fixing: str = "first_day") -> date:
    """The day whose rate applies to the semester of ``day``: its first day (1 January / 1 July), or the
    day before it (31 December / 30 June) under the ``day_before`` rule."""
    start = semester_start(day)
    return start if fixing == "first_day" else start - _ONE_DAY


def first_semester_from(valid_from: date, fixing: str = "first_day") -> date:
    """First day of the first semester a rate taking effect on ``valid_from`` can apply to: that day
    itself on 1 January / 1 July (31 December / 30 June under the ``day_before`` rule: the next day),
    else the next semester's first day."""
    if fixing == "day_before":
        valid_from += _ONE_DAY
    start = semester_start(valid_from)
    if start == valid_from:
        return start
    return date(start.year, 7, 1) if start.month == 1 else date(start.year + 1, 1, 1)


def check_series(series: str) -> str:
    """A reference-rate series name, normalised: a named series (:data:`REFERENCE_SERIES`, aliases accepted)
    or an ISO 4217 currency code (its central bank's rate)."""
    text = series.strip().upper() if isinstance(series, str) else ""
    text = SERIES_ALIASES.get(text, text)
    if text in REFERENCE_SERIES:
        return text
    try:
        return check_currency(text)
    except ValidationError:
        raise ValidationError(
            f"Unknown reference-rate series {series!r}: use {', '.join(REFERENCE_SERIES)} or the ISO code of a "
            "currency (its central bank's rate).", field="series") from None


def series_name(series: str) -> str:
    """What a series is, in words: ``Bank of England base rate``, ``PLN central bank rate``."""
    named = REFERENCE_SERIES.get(series)
    return named[0] if named else reference_rate_name(series)


def series_fixing(series: str) -> str:
    """The half-year rule the regimes reading ``series`` apply (for listings)."""
    named = REFERENCE_SERIES.get(series)
    return named[1] if named else "first_day"


def semester_label(day: date) -> str:
    """``1st half of 2026`` / ``2nd half of 2026`` for any day of that semester."""
    return f"{'1st' if day.month <= 6 else '2nd'} half of {day.year}"


def reference_rate_in_force(rates: ReferenceRates, day: date, fixing: str = "first_day") -> Decimal | None:
    """The reference rate of the semester of ``day``: the latest rate with ``valid_from`` on or before
    the semester's fixing day (:func:`fixing_day`); None when no such rate is recorded."""
    fixed_on = fixing_day(day, fixing)
    found = None
    for valid_from, rate in rates:
        if valid_from > fixed_on:
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
    #: The recorded reference rates of the regime's series (a statutory regime without a fixed
    #: ``reference_rate_percent``, see :attr:`reference_series`); None: not given.
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
        regime = self.regime
        if regime is not None:
            margin = _fmt_rate(regime.margin)
            if self.reference_rate_percent is None and self.reference_rates is None:
                raise InvalidLateFeePolicy(
                    f"Statutory interest under {regime.law} needs the {regime.reference or 'ECB reference rate'}: "
                    "the recorded semester rates (reference_rates) or an agreed fixed reference_rate_percent."
                )
            if self.reference_rate_percent is not None and self.reference_rate_percent + regime.margin <= 0:
                raise InvalidLateFeePolicy(
                    f"Reference rate {_fmt_rate(self.reference_rate_percent)}% + {margin} points is not a positive "
                    "rate."
                )
            if self.reference_rate_percent is None:
                for valid_from, rate in self.reference_rates or ():
                    if rate + regime.margin <= 0:
                        raise InvalidLateFeePolicy(
                            f"Reference rate {_fmt_rate(rate)}% from {valid_from.isoformat()} + {margin} points is "
                            "not a positive rate."
                        )

    @property
    def regime(self) -> StatutoryRegime | None:
        """The statutory regime of the policy (a row of :data:`REGIMES`), or None for an agreed rate or fee."""
        return REGIMES.get(self.kind)

    @property
    def charges_interest(self) -> bool:
        return self.kind in INTEREST_KINDS

    @property
    def uses_reference_rates(self) -> bool:
        """True when the rate follows the recorded semester rates (a statutory regime without a fixed rate)."""
        return self.regime is not None and self.reference_rate_percent is None

    def reference_series(self, currency: str) -> str | None:
        """The series of reference rates the policy reads for an invoice in ``currency`` (None: none)."""
        regime = self.regime
        return regime.series_for(currency) if regime is not None else None

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
        regime = self.regime
        if regime is not None and self.reference_rate_percent is not None:
            return self.reference_rate_percent + regime.margin
        return None

    def reference_rate_on(self, day: date | None, currency: str) -> Decimal:
        """The reference rate (in percent) for the semester of ``day``: the fixed agreed rate, else the
        recorded rate in force on the semester's fixing day (the regime's half-year rule).

        ``day`` may be None only with a fixed rate. Raises
        :class:`~duly.domain.errors.ReferenceRateMissing` when no rate is recorded for the semester.
        """
        regime = self.regime
        if regime is None:
            raise InvalidLateFeePolicy(f"A {self.kind} policy has no reference rate.")
        if self.reference_rate_percent is not None:
            return self.reference_rate_percent
        if not isinstance(day, date):
            raise ValidationError(
                "The statutory rate follows the semester's reference rate: give the date it applies on (as_of)."
            )
        rate = reference_rate_in_force(self.reference_rates or (), day, regime.fixing)
        if rate is None:
            start = semester_start(day)
            series = regime.series_for(currency)
            fixed_on = fixing_day(day, regime.fixing)
            raise ReferenceRateMissing(
                f"No {series} reference rate is recorded for the {semester_label(day)} (the "
                f"{regime.reference_name(currency)} in force on {format_date(fixed_on)}): record it with "
                f"`duly rates set --series {series}` before statutory interest under {regime.law} can be charged "
                "or stated.",
                currency=currency, series=series, semester=f"{start.year}-H{1 if start.month == 1 else 2}",
                valid_from=fixed_on.isoformat(),
            )
        return rate

    def annual_rate_on(self, day: date | None, currency: str) -> Decimal | None:
        """The annual interest rate (percent) applying on ``day``; None when the policy charges no interest.

        For statutory interest: the semester's reference rate + the regime's margin (see
        :meth:`reference_rate_on`); ``day`` may be None for every policy with one fixed rate.
        """
        regime = self.regime
        if regime is not None:
            return self.reference_rate_on(day, currency) + regime.margin
        return self.annual_rate_percent

    def compensation_bands(self, currency: str) -> tuple[tuple[Decimal | None, Decimal], ...]:
        """The fixed compensation by size of debt: ``(debt below, amount)`` pairs, the last ``(None, amount)``.

        An agreed ``compensation_amount`` is one band; else the regime's fixed sums in their own currency
        (never converted: another currency needs an agreed amount); else none (``()``).
        """
        check_currency(currency)
        if self.kind == "none":
            return ()
        if self.compensation_amount is not None:
            return ((None, self.compensation_amount),) if self.compensation_amount > 0 else ()
        regime = self.regime
        if regime is None or not regime.fixed_sums:
            return ()
        if currency != regime.sums_currency:
            sums = " / ".join(_fmt_money(amount, regime.sums_currency or currency) for _, amount in regime.fixed_sums)
            raise InvalidLateFeePolicy(
                f"The fixed sum under {regime.law} is {sums} and is never converted: set compensation_amount "
                f"in {currency} explicitly (0 to waive it).",
                currency=currency,
            )
        return regime.fixed_sums

    def compensation_for(self, currency: str, debt: Decimal | None = None) -> Decimal:
        """Fixed compensation in ``currency`` for a debt of ``debt`` (the invoice principal): an explicit
        amount, else the regime's sum for that size of debt, else 0. ``debt`` is needed only when the sum
        depends on it (UK)."""
        bands = self.compensation_bands(currency)
        if not bands:
            return ZERO
        if len(bands) == 1:
            return bands[0][1]
        if debt is None:
            raise ValidationError("The fixed sum depends on the size of the debt: give the debt.")
        for below, amount in bands:
            if below is None or debt < below:
                return amount
        raise AssertionError("the last band is unbounded")  # pragma: no cover

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
    ``explanation`` is the worked arithmetic, e.g. ``1,000.00 × 10.15% × 31/365 = 8.62``, in English (for logs and
    staff); ``text`` is the same as structured text, to render in the customer's language on the fee's line.
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
    text: Text | None = None


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
    text: Text
    days: int = 0
    period_start: date | None = None
    period_end: date | None = None


def _exact(amount: Decimal, currency: str, what: str) -> Decimal:
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise InvalidLateFeePolicy(f"The {what} {amount} has more decimals than {currency} allows.", currency=currency)
    return rounded


def _interest_charges(
    item: OpenItem, policy: LateFeePolicy, balance: _Balance, as_of: date, first_day: date, last_day: date,
    accrue: bool = False,
) -> list[_Charge]:
    currency = item.currency
    final = balance.settled_on is not None or accrue
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
        factor_text = rate_factor_text(policy.kind, policy.rate_percent, rate)
        terms = join_text([
            text("{balance} × {factor} × {days}/{basis}", balance=Amount(bal, currency), factor=factor_text,
                 days=str((stop - start).days + 1), basis=str(DAY_COUNT_BASIS))
            for start, stop, bal in runs
        ], " + ")
        explanation = text("Interest {period}: {terms} = {amount}", period=_period_label(lo, hi), terms=terms,
                           amount=Amount(amount, currency))
        regime = policy.regime
        if regime is not None and policy.uses_reference_rates:
            note = dict(reference=reference_text(regime.reference, currency), rate=Percent(rate - regime.margin),
                        semester=semester_text(month_start), margin=regime.margin)
            if regime.names_law:
                note_text = text("({reference} {rate} for the {semester} + {margin} points, {law})", law=regime.law,
                                 **note)
            else:
                note_text = text("({reference} {rate} for the {semester} + {margin} points)", **note)
            explanation = join_text([explanation, note_text])
        days = sum((stop - start).days + 1 for start, stop, _ in runs)
        charges.append(
            _Charge(
                level=level,
                kind="interest",
                amount=amount,
                days_late=(hi - item.due_date).days,
                rate=rate,
                text=explanation,
                days=days,
                period_start=lo,
                period_end=hi,
            )
        )
    return charges


def _cited(regime: StatutoryRegime) -> str:
    """``, §288(2) BGB``: the law an interest explanation cites (see :attr:`StatutoryRegime.names_law`)."""
    return f", {regime.law}" if regime.names_law else ""


def _candidate_charges(item: OpenItem, policy: LateFeePolicy, as_of: date, accrue: bool = False) -> list[_Charge]:
    """Every charge due as of ``as_of`` in level order, before caps and before skipping charged levels
    (with ``accrue``, the interest of the current month up to ``as_of`` too)."""
    currency = item.currency
    fixed = _exact(policy.fixed_fee_for(currency), currency, "fixed fee")
    bands = policy.compensation_bands(currency)
    compensation = _exact(policy.compensation_for(currency, item.principal), currency, "compensation")
    first_chargeable = item.due_date + timedelta(days=policy.grace_days + 1)
    balance = _Balance(item, as_of)
    if as_of < first_chargeable or balance.on(first_chargeable) <= 0:
        return []
    last_day = balance.settled_on if balance.settled_on is not None else as_of
    days_late = (last_day - item.due_date).days
    if balance.settled_on is not None:
        when = text("paid {n} day late on {date}", plural="paid {n} days late on {date}", n=days_late, date=last_day)
    else:
        when = text("{n} day late on {date}", plural="{n} days late on {date}", n=days_late, date=as_of)
    charges = []
    if fixed > 0:
        charges.append(_Charge(LEVEL_FIXED, "fixed_fee", fixed, days_late, None,
                               text("Fixed late-payment fee: {currency} {amount} ({when})", currency=currency,
                                    amount=Amount(fixed, currency), when=when)))
    if compensation > 0:
        regime = policy.regime
        title = text(regime.sum_title if regime is not None and regime.sum_title
                     else "Fixed compensation for recovery costs", context="late fee")
        sum_ = dict(title=title, currency=currency, amount=Amount(compensation, currency), when=when)
        if len(bands) > 1:
            worded = text("{title}: {currency} {amount} for a debt of {currency} {debt}: {band} ({when})",
                          debt=Amount(item.principal or ZERO, currency),
                          band=_band_text(bands, compensation, currency), context="late fee", **sum_)
        else:
            worded = text("{title}: {currency} {amount} ({when})", context="late fee", **sum_)
        charges.append(_Charge(LEVEL_COMPENSATION, "compensation", compensation, days_late, None, worded))
    if policy.charges_interest:
        first_day = item.due_date + _ONE_DAY if policy.interest_from_due_date else first_chargeable
        charges += _interest_charges(item, policy, balance, as_of, first_day, last_day, accrue)
    return charges


def describe_compensation(bands: tuple[tuple[Decimal | None, Decimal], ...], currency: str) -> str:
    """The fixed compensation in words: ``EUR 40.00``, or by size of debt (``GBP 40.00 (under 1,000.00),
    GBP 70.00 (1,000.00 to 9,999.99) or GBP 100.00 (10,000.00 or more)``)."""
    if len(bands) == 1:
        return _fmt_money(bands[0][1], currency)
    parts = [f"{_fmt_money(amount, currency)} ({_band_text(bands, amount, currency)})" for _, amount in bands]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def assess(item: OpenItem, policy: LateFeePolicy, as_of: date) -> list[Fee]:
    """The fees to charge now on ``item`` under ``policy``: only levels not charged before, capped.

    Deterministic and idempotent: the same snapshot gives the same fees, and once the returned
    levels are recorded a rerun (with the same or a later ``as_of``) returns only new levels.
    """
    return _assess(item, policy, as_of, accrue=False)


@dataclass(frozen=True)
class AccruedInterest:
    """Interest accrued on an invoice up to a day and not invoiced yet (see :func:`accrued_interest`)."""

    amount: Decimal
    currency: str
    #: Late days counted, and the first and last of them (None when nothing accrued).
    days: int
    first_day: date | None
    last_day: date | None
    #: The worked arithmetic, one part per calendar month: ``Interest 1–8 March 2026: 1,000.00 × 10.15% × 8/365 = 2.22``.
    explanation: str


def accrued_interest(item: OpenItem, policy: LateFeePolicy, as_of: date, *, explain: bool = True) -> AccruedInterest:
    """The interest accrued on ``item`` up to ``as_of`` (included), day by day, on the late days not
    charged yet: the months charged before are what has been invoiced; the current month counts up to
    ``as_of`` although it is charged only once complete. Caps apply as :func:`assess` applies them
    (the fixed fee and compensation due first). Raises what :func:`assess` raises (a reference rate
    missing for a semester). ``explain=False``: the same figures, the explanation left empty (not
    written out: a message shows only the amount)."""
    currency = item.currency
    fees = [f for f in _assess(item, policy, as_of, accrue=True, explain=explain) if f.kind == "interest"]
    if not fees:
        return AccruedInterest(round_money(ZERO, currency), currency, 0, None, None, "")
    return AccruedInterest(
        amount=sum((f.amount for f in fees), ZERO),
        currency=currency,
        days=sum(f.days for f in fees),
        first_day=min(f.period_start for f in fees if f.period_start is not None),
        last_day=max(f.period_end for f in fees if f.period_end is not None),
        explanation="; ".join(f.explanation for f in fees),
    )


def _assess(item: OpenItem, policy: LateFeePolicy, as_of: date, *, accrue: bool, explain: bool = True) -> list[Fee]:
    if policy.kind == "none":
        return []
    currency = item.currency
    charges = _candidate_charges(item, policy, as_of, accrue)
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
        amount, explanation = charge.amount, charge.text
        if cap is not None:
            room = max(ZERO, cap - used)
            if amount > room:
                amount = room
                explanation = join_text([explanation, text(
                    "reduced to {amount} by the cap of {cap} on total late charges ({used} already charged)",
                    amount=Amount(amount, currency), cap=Amount(cap, currency), used=Amount(used, currency))], "; ")
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
                explanation=str(explanation) if explain else "",
                text=explanation,
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

    Other regimes name their law: ``statutory interest under §288(2) BGB at the base rate + 9 points
    (currently 10.27% per year, base rate 1.27% for the 1st half of 2026)``; the UK fixed sum is stated
    by size of debt. ``as_of`` is needed only by a policy whose rate follows the semester rates (else
    it is ignored).
    """
    check_currency(currency)
    if policy.kind == "none":
        return "No late-payment charges."
    parts = []
    regime = policy.regime
    if policy.charges_interest:
        rate = policy.annual_rate_on(as_of, currency)
        assert rate is not None
        if policy.kind == "interest_monthly":
            text = f"interest at {_fmt_rate(policy.rate_percent)}% per month ({_fmt_rate(rate)}% per year)"
        elif regime is not None and policy.uses_reference_rates:
            assert as_of is not None
            under = f" under {regime.law}" if regime.names_law else ""
            rate_word = "reference rate" if regime.reference is None else regime.reference
            text = (
                f"statutory interest{under} at the {rate_word} + {_fmt_rate(regime.margin)} points (currently "
                f"{_fmt_rate(rate)}% per year, {regime.reference_name(currency)} "
                f"{_fmt_rate(rate - regime.margin)}% for the {semester_label(as_of)})"
            )
        elif regime is not None:
            assert policy.reference_rate_percent is not None
            name = "ECB reference rate" if regime.reference is None else regime.reference
            text = (
                f"interest at {_fmt_rate(rate)}% per year ({name} "
                f"{_fmt_rate(policy.reference_rate_percent)}% + {_fmt_rate(regime.margin)} points{_cited(regime)})"
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
    bands = policy.compensation_bands(currency)
    if bands:
        parts.append(f"{describe_compensation(bands, currency)} fixed compensation"
                     + (" by size of debt" if len(bands) > 1 else ""))
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


#: Late charges under this total (in the invoice's currency) are not invoiced alone: they wait, and join the next
#: charges of the same customer and currency (``DULY_LATE_FEE_MINIMUM`` sets another amount; 0 invoices any charge).
MINIMUM_FEE_INVOICE = Decimal("5.00")


def split_by_minimum(charges: list[tuple[Hashable, list[Fee]]], minimum: Decimal
                     ) -> tuple[list[list[tuple[Hashable, list[Fee]]]], list[tuple[Hashable, list[Fee]]]]:
    """Which late charges of ONE customer and currency to invoice now, and which to carry.

    ``charges``: (invoice key, its new fees) in order. Each invoice whose fees reach ``minimum`` is invoiced
    on its own (a group of one); the others are pooled, and the pool is invoiced as one group when its total
    reaches ``minimum``. Returns (groups to invoice, invoices carried: nothing charged, so their levels stay
    open and come back with the next assessment).
    """
    minimum = to_decimal(minimum)
    groups: list[list[tuple[Hashable, list[Fee]]]] = []
    small: list[tuple[Hashable, list[Fee]]] = []
    for key, fees in charges:
        if not fees:
            continue
        if sum((f.amount for f in fees), ZERO) >= minimum:
            groups.append([(key, fees)])
        else:
            small.append((key, fees))
    if small and sum((f.amount for _, fees in small for f in fees), ZERO) >= minimum:
        return [*groups, small], []
    return groups, small
