"""Invoice totals: THE one place where line amounts, tax and document totals are computed.

The arithmetic follows EN 16931 (the European e-invoicing semantic model), so every total
Duly stores, prints or writes into UBL/CII is the total a validator recomputes.

Line net amount (BT-131)
    ``gross = quantity × unit_price / base_quantity`` is kept at full precision and rounded
    once, half up, to the currency's minor unit (JPY 0 decimals, EUR 2, BHD 3); that rounded
    gross is the line allowance base amount (BT-137). The line discount (BT-136) is either
    ``round_money(base × discount_percent / 100)`` (so BT-136 = BT-137 × BT-138 / 100 exactly,
    as validators recompute it) or an absolute ``discount_amount`` of at most the base, never
    both. Then ``net = base − discount``. As the discount is already on the minor-unit grid and
    never exceeds the base, this is ``round_money(gross − discount)``, except that a discount
    can never flip the sign of a line (a 100% discount of 0.005 EUR gives 0.00, not -0.01).
    Line charges (BG-28, received invoices only) are added the same way:
    ``net = base − discount + charge``; the discount may then be at most ``base + charge``.
    A discount is applied with the sign of its line: on a negative line (a returned item) it
    reduces the line's magnitude, so ``net == base − discount`` holds in :class:`LineResult`
    and a negative line is the exact mirror of the positive one.

Document allowances and charges (BG-20 / BG-21)
    Each carries a tax category and rate, and either an absolute ``amount`` or a ``percent``
    of the line total (BT-106), rounded to the minor unit.

    An allowance reduces the lines of its own VAT category and rate: the allowances of a group may
    not exceed its line net amounts plus its charges (:class:`~duly.domain.errors.AllowanceExceedsTaxGroup`,
    ``allowance_exceeds_tax_group``), so no group's taxable amount or VAT ever turns negative.

Tax breakdown (BG-23), rule BR-CO-17
    One :class:`TaxSubtotal` per (category, rate). Its taxable amount (BT-116) is the sum of
    the line net amounts of that group plus its document charges minus its document
    allowances; its tax (BT-117) is ``round_money(taxable × rate / 100)``: tax is rounded once
    per group, never per line. Categories Z, E, AE, K, G and O always have a 0% rate and no tax.
    Groups are ordered by category (in the order of :data:`TAX_CATEGORIES`), then by rate,
    highest first, so the breakdown does not depend on the order of the lines.

Document totals (BG-22)
    BT-106 line total = Σ line net amounts; BT-107/BT-108 = Σ document allowances/charges;
    BT-109 = 106 − 107 + 108; BT-110 = Σ group tax; BT-112 = 109 + 110;
    BT-115 payable = 112 − 113 prepaid + 114 rounding.

Credit notes
    A credit note (UNTDID 1001 type 381) carries the same positive quantities and amounts as
    the invoice it corrects: the document type carries the sign, as in EN 16931. Compute its
    totals with this same function. Negative quantities are only for lines that correct within
    a document (a returned item, a deposit taken back) and must be asked for with
    ``allow_negative=True``.

Inputs
    Quantities, prices, rates and percentages may have any precision. Monetary inputs
    (``discount_amount``, document ``amount``, ``prepaid``, ``rounding_amount``) must already fit
    the currency's minor unit: they are amounts someone agreed on, so they are never rounded
    silently. Floats are refused (see :func:`duly.domain.money.to_decimal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Iterable, Sequence

from .errors import AllowanceExceedsTaxGroup, NegativeQuantity, ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, exponent, quantum, round_money, to_decimal, to_minor

#: UNCL5305 VAT category codes accepted by EN 16931, with the words used in messages.
TAX_CATEGORIES: dict[str, str] = {
    "S": "standard rate",
    "Z": "zero rated",
    "E": "exempt",
    "AE": "reverse charge",
    "K": "intra-community supply",
    "G": "export outside the EU",
    "O": "not subject to VAT",
    "L": "Canary Islands IGIC",
    "M": "Ceuta and Melilla IPSI",
}

#: Categories whose rate is always 0% and whose tax is always nil (BR-Z-05, BR-E-05, BR-AE-05,
#: BR-IC-05, BR-G-05, BR-O-05).
ZERO_RATE_CATEGORIES: frozenset[str] = frozenset({"Z", "E", "AE", "K", "G", "O"})

_HUNDRED = Decimal(100)
_CATEGORY_ORDER = {code: i for i, code in enumerate(TAX_CATEGORIES)}


@dataclass(frozen=True)
class LineInput:
    """One invoice line, as entered."""

    quantity: Decimal
    #: Net item price (BT-146), any precision.
    unit_price: Decimal
    #: UNCL5305 code, one of :data:`TAX_CATEGORIES`.
    tax_category: str = "S"
    #: Percent, e.g. ``Decimal("20")``.
    tax_rate: Decimal = Decimal(0)
    #: Line allowance as a percentage of ``quantity × unit_price / base_quantity`` (rounded).
    discount_percent: Decimal | None = None
    #: Or as an absolute amount (BT-136); not both.
    discount_amount: Decimal | None = None
    #: Price base quantity (BT-149).
    base_quantity: Decimal = Decimal(1)
    #: Line charges (BG-28, BT-141 summed), an absolute amount added to the line (received invoices).
    charge_amount: Decimal | None = None


@dataclass(frozen=True)
class AllowanceCharge:
    """A document-level allowance (BG-20) or charge (BG-21)."""

    is_charge: bool
    amount: Decimal | None = None
    #: Percentage of the line total (BT-106); give either ``amount`` or ``percent``.
    percent: Decimal | None = None
    tax_category: str = "S"
    tax_rate: Decimal = Decimal(0)
    reason: str = ""


@dataclass(frozen=True)
class TaxSubtotal:
    """One row of the VAT breakdown (BG-23)."""

    category: str
    #: Canonical form: no trailing zeros, no exponent (``Decimal("20")``, ``Decimal("5.5")``).
    rate: Decimal
    #: BT-116.
    taxable_amount: Decimal
    #: BT-117.
    tax_amount: Decimal


@dataclass(frozen=True)
class LineResult:
    #: BT-131, rounded to the currency's minor unit.
    net_amount: Decimal
    #: BT-136, rounded; signed like the line (see the module notes).
    discount_amount: Decimal
    #: BT-141 summed (line charges); signed like the line.
    charge_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class InvoiceTotals:
    currency: str
    #: One result per input line, in input order.
    lines: tuple[LineResult, ...]
    #: BT-106: sum of line net amounts.
    line_total: Decimal
    #: BT-107.
    allowance_total: Decimal
    #: BT-108.
    charge_total: Decimal
    #: BT-109 = 106 − 107 + 108.
    tax_exclusive: Decimal
    #: One per (category, rate), ordered deterministically.
    tax_breakdown: tuple[TaxSubtotal, ...]
    #: BT-110.
    tax_total: Decimal
    #: BT-112 = 109 + 110.
    tax_inclusive: Decimal
    #: BT-113.
    prepaid: Decimal
    #: BT-114.
    rounding: Decimal
    #: BT-115 = 112 − 113 + 114.
    payable: Decimal


def compute_totals(
    lines: Sequence[LineInput],
    currency: str,
    allowances_charges: Sequence[AllowanceCharge] = (),
    prepaid: Decimal = Decimal(0),
    rounding_amount: Decimal = Decimal(0),
    *,
    allow_negative: bool = False,
) -> InvoiceTotals:
    """Compute every EN 16931 total of an invoice or credit note (see the module notes).

    Raises :class:`~duly.domain.errors.UnknownCurrency` for an unknown currency,
    :class:`~duly.domain.errors.NegativeQuantity` for a negative quantity unless
    ``allow_negative`` is true, and :class:`~duly.domain.errors.ValidationError` (naming the
    line, e.g. ``"line 3: ..."``) for any other invalid input.
    """
    check_currency(currency)
    with localcontext(MONEY_CONTEXT):
        results = tuple(_remembered_line_result(i, line, currency, allow_negative)
                        for i, line in enumerate(lines, 1))
        groups: dict[tuple[str, Decimal], Decimal] = {}
        for line, result in zip(lines, results):
            key = (line.tax_category, _rate_key(line.tax_rate))
            groups[key] = groups.get(key, ZERO) + result.net_amount
        line_total = _sum((r.net_amount for r in results), currency)

        allowance_total = _zero(currency)
        charge_total = _zero(currency)
        allowed: dict[tuple[str, Decimal], list[tuple[int, AllowanceCharge, Decimal]]] = {}
        for i, item in enumerate(allowances_charges, 1):
            amount, key = _allowance_charge(i, item, line_total, currency)
            signed = amount if item.is_charge else -amount
            groups[key] = groups.get(key, ZERO) + signed
            if item.is_charge:
                charge_total += amount
            else:
                allowance_total += amount
                allowed.setdefault(key, []).append((i, item, amount))
        for key, given in allowed.items():
            _check_allowances_fit(key, given, groups[key], currency)

        breakdown = tuple(
            TaxSubtotal(
                category=category,
                rate=rate,
                taxable_amount=_clean(taxable, currency),
                tax_amount=_money(taxable * rate / _HUNDRED, currency),
            )
            for (category, rate), taxable in sorted(groups.items(), key=lambda kv: _group_order(kv[0]))
        )
        tax_exclusive = line_total - allowance_total + charge_total
        tax_total = _sum((t.tax_amount for t in breakdown), currency)
        tax_inclusive = tax_exclusive + tax_total
        prepaid_amount = _zero(currency) if _is_zero(prepaid) else _exact_amount(prepaid, currency, "prepaid amount")
        if prepaid_amount < 0:
            raise ValidationError(f"The prepaid amount cannot be negative (got {prepaid_amount}).")
        rounding = (_zero(currency) if _is_zero(rounding_amount)
                    else _exact_amount(rounding_amount, currency, "rounding amount"))
        payable = tax_inclusive - prepaid_amount + rounding

    return InvoiceTotals(
        currency=currency,
        lines=results,
        line_total=_clean(line_total, currency),
        allowance_total=_clean(allowance_total, currency),
        charge_total=_clean(charge_total, currency),
        tax_exclusive=_clean(tax_exclusive, currency),
        tax_breakdown=breakdown,
        tax_total=_clean(tax_total, currency),
        tax_inclusive=_clean(tax_inclusive, currency),
        prepaid=_clean(prepaid_amount, currency),
        rounding=_clean(rounding, currency),
        payable=_clean(payable, currency),
    )


def totals_to_minor(totals: InvoiceTotals) -> dict:
    """Integer minor units of every amount in ``totals``, for storage.

    Scalar totals are keyed ``<field>_minor`` (``line_total_minor`` … ``payable_minor``).
    ``lines`` is a list of ``{"net_minor", "discount_minor"}`` in line order, and
    ``tax_breakdown`` a list of ``{"category", "rate" (str), "taxable_minor", "tax_minor"}``.
    """
    cur = totals.currency
    scalar_fields = (
        "line_total", "allowance_total", "charge_total", "tax_exclusive", "tax_total",
        "tax_inclusive", "prepaid", "rounding", "payable",
    )
    result: dict = {f"{name}_minor": to_minor(getattr(totals, name), cur) for name in scalar_fields}
    result["lines"] = [
        {"net_minor": to_minor(line.net_amount, cur), "discount_minor": to_minor(line.discount_amount, cur)}
        for line in totals.lines
    ]
    result["tax_breakdown"] = [
        {
            "category": t.category,
            "rate": str(t.rate),
            "taxable_minor": to_minor(t.taxable_amount, cur),
            "tax_minor": to_minor(t.tax_amount, cur),
        }
        for t in totals.tax_breakdown
    ]
    return result


# --- internals ---------------------------------------------------------------------------------
#: Results of lines already computed, by (line, currency, allow_negative): a run issuing thousands of
#: invoices computes the same few lines again and again. Only lines whose numbers are all Decimals are
#: remembered (``1.0 == Decimal(1)``: a float must still be refused), and only their successful results.
_LINE_RESULTS: dict[tuple[LineInput, str, bool], LineResult] = {}
_LINE_RESULTS_MAX = 50_000
_RATES: dict[Decimal, Decimal] = {}


def _exact(line: LineInput) -> bool:
    return (type(line.quantity) is Decimal and type(line.unit_price) is Decimal and type(line.tax_rate) is Decimal
            and type(line.base_quantity) is Decimal and type(line.tax_category) is str
            and (line.discount_percent is None or type(line.discount_percent) is Decimal)
            and (line.discount_amount is None or type(line.discount_amount) is Decimal)
            and (line.charge_amount is None or type(line.charge_amount) is Decimal)
            and line.quantity.is_finite() and line.unit_price.is_finite() and line.tax_rate.is_finite()
            and line.base_quantity.is_finite()
            and (line.discount_percent is None or line.discount_percent.is_finite())
            and (line.discount_amount is None or line.discount_amount.is_finite())
            and (line.charge_amount is None or line.charge_amount.is_finite()))


def _remembered_line_result(n: int, line: LineInput, currency: str, allow_negative: bool) -> LineResult:
    """:func:`_line_result`, remembered for lines of exact numbers (the same inputs give the same result;
    equal Decimals give equal, identically quantized results)."""
    if type(line) is not LineInput or not _exact(line):
        return _line_result(n, line, currency, allow_negative)
    key = (line, currency, allow_negative)
    result = _LINE_RESULTS.get(key)
    if result is None:
        result = _line_result(n, line, currency, allow_negative)
        if len(_LINE_RESULTS) >= _LINE_RESULTS_MAX:
            _LINE_RESULTS.clear()
        _LINE_RESULTS[key] = result
    return result


def _rate_key(rate: object) -> Decimal:
    """``_canonical_rate(to_decimal(rate))``, remembered for Decimal rates."""
    if type(rate) is Decimal and rate.is_finite():
        result = _RATES.get(rate)
        if result is None:
            result = _canonical_rate(rate)
            if len(_RATES) < 1000:
                _RATES[rate] = result
        return result
    return _canonical_rate(to_decimal(rate))


def _line_result(n: int, line: LineInput, currency: str, allow_negative: bool) -> LineResult:
    where = f"line {n}"
    quantity = _number(line.quantity, f"{where}: quantity")
    unit_price = _number(line.unit_price, f"{where}: unit price")
    base_quantity = _number(line.base_quantity, f"{where}: base quantity")
    _check_tax(where, line.tax_category, _number(line.tax_rate, f"{where}: tax rate"))
    if quantity < 0 and not allow_negative:
        raise NegativeQuantity(
            f"{where}: quantity {quantity} is negative. Correct an issued invoice with a credit note "
            "(positive quantities); negative lines are only accepted on corrections.",
            line=n,
        )
    if unit_price < 0:
        raise ValidationError(f"{where}: the unit price cannot be negative (got {unit_price}).", line=n)
    if base_quantity <= 0:
        raise ValidationError(f"{where}: the price base quantity must be positive (got {base_quantity}).", line=n)

    base = _money(quantity * unit_price / base_quantity, currency)
    sign = -1 if base < 0 else 1
    charge = _zero(currency)
    if line.charge_amount is not None:
        charge = _exact_amount(line.charge_amount, currency, f"{where}: charge amount")
        if charge < 0:
            raise ValidationError(f"{where}: a charge amount cannot be negative (got {charge}).", line=n)
    if line.discount_percent is not None and line.discount_amount is not None:
        raise ValidationError(f"{where}: give either a discount percentage or a discount amount, not both.", line=n)
    if line.discount_percent is not None:
        percent = _number(line.discount_percent, f"{where}: discount percentage")
        if not 0 <= percent <= _HUNDRED:
            raise ValidationError(f"{where}: a discount percentage must be between 0 and 100 (got {percent}).", line=n)
        discount = _money(base * percent / _HUNDRED, currency)
    elif line.discount_amount is not None:
        amount = _exact_amount(line.discount_amount, currency, f"{where}: discount amount")
        if amount < 0:
            raise ValidationError(f"{where}: a discount amount cannot be negative (got {amount}).", line=n)
        if amount > abs(base) + charge:
            raise ValidationError(f"{where}: the discount {amount} exceeds the line amount {abs(base) + charge}.",
                                  line=n)
        discount = amount * sign
    else:
        discount = _zero(currency)
    return LineResult(net_amount=_clean(base - discount + charge * sign, currency),
                      discount_amount=_clean(discount, currency), charge_amount=_clean(charge * sign, currency))


def _allowance_charge(
    n: int, item: AllowanceCharge, line_total: Decimal, currency: str
) -> tuple[Decimal, tuple[str, Decimal]]:
    """The rounded amount of a document allowance/charge and its (category, rate) group."""
    where = f"document {'charge' if item.is_charge else 'allowance'} {n}" + (
        f" ({item.reason})" if item.reason else ""
    )
    rate = _number(item.tax_rate, f"{where}: tax rate")
    _check_tax(where, item.tax_category, rate)
    if (item.amount is None) == (item.percent is None):
        raise ValidationError(f"{where}: give either an amount or a percentage of the line total, not both or neither.")
    if item.amount is not None:
        amount = _exact_amount(item.amount, currency, f"{where}: amount")
        if amount < 0:
            kind = "an allowance" if item.is_charge else "a charge"
            raise ValidationError(f"{where}: the amount cannot be negative (got {amount}); use {kind} instead.")
    else:
        percent = _number(item.percent, f"{where}: percentage")
        if percent < 0:
            raise ValidationError(f"{where}: the percentage cannot be negative (got {percent}).")
        amount = _money(line_total * percent / _HUNDRED, currency)
    return amount, (item.tax_category, _canonical_rate(rate))


def _check_allowances_fit(key: tuple[str, Decimal], given: list[tuple[int, AllowanceCharge, Decimal]],
                          taxable: Decimal, currency: str) -> None:
    """A document allowance reduces the lines (and charges) of its own VAT group: together, a group's
    allowances may not exceed them, or the group's taxable amount and VAT would turn negative."""
    if taxable >= 0:
        return
    category, rate = key
    reduced = sum((amount for _, _, amount in given), ZERO)
    names = ", ".join(f"{n}" + (f" ({item.reason})" if item.reason else "") for n, item, _ in given)
    raise AllowanceExceedsTaxGroup(
        f"document allowance {names}: {_clean(reduced, currency)} {currency} is more than the "
        f"{_clean(taxable + reduced, currency)} {currency} of lines and charges in VAT category {category} at "
        f"{_canonical_rate(rate)}% it reduces; an allowance applies to the lines of its own VAT category and rate.",
        tax_category=category, tax_rate=str(_canonical_rate(rate)),
    )


def _check_tax(where: str, category: str, rate: Decimal) -> None:
    if category not in TAX_CATEGORIES:
        raise ValidationError(
            f"{where}: unknown tax category {category!r}; use a UNCL5305 code: {', '.join(TAX_CATEGORIES)}.",
            tax_category=str(category),
        )
    if rate < 0:
        raise ValidationError(f"{where}: the tax rate cannot be negative (got {rate}%).")
    if rate >= _MAX_TAX_RATE:
        raise ValidationError(f"{where}: the tax rate {rate}% is out of range (below {_MAX_TAX_RATE}%).")
    if category in ZERO_RATE_CATEGORIES and rate != 0:
        raise ValidationError(
            f"{where}: category {category} ({TAX_CATEGORIES[category]}) must have a 0% rate, "
            f"not {_canonical_rate(rate)}%.",
            tax_category=category,
        )


#: Tax rates are stored with 3 digits before the point (999.9999% at most).
_MAX_TAX_RATE = Decimal(1000)


def _group_order(key: tuple[str, Decimal]) -> tuple[int, Decimal]:
    category, rate = key
    return _CATEGORY_ORDER[category], -rate


def _canonical_rate(rate: Decimal) -> Decimal:
    """``20.0000`` → ``20``, ``5.50`` → ``5.5``: equal rates look the same in every document."""
    if rate == rate.to_integral_value():
        rate = rate.quantize(Decimal(1), context=MONEY_CONTEXT)
        return abs(rate) if rate == 0 else rate
    return rate.normalize(MONEY_CONTEXT)


def _number(value: object, what: str) -> Decimal:
    """:func:`to_decimal` with the field named in the message."""
    try:
        return to_decimal(value)
    except ValidationError as err:
        raise ValidationError(f"{what}: {err.message}") from None


def _exact_amount(value: object, currency: str, what: str) -> Decimal:
    """A monetary input, which must already fit the currency's minor unit."""
    amount = _number(value, what)
    rounded = _money(amount, currency)
    if rounded != amount:
        raise ValidationError(
            f"{what}: {amount} has more decimals than {currency} allows ({exponent(currency)}).", currency=currency
        )
    return rounded


def _is_zero(value: object) -> bool:
    """A Decimal zero (the default): its exact amount is the currency's zero, ``0.00``."""
    return type(value) is Decimal and value.is_zero()


def _money(value: Decimal, currency: str) -> Decimal:
    return _clean(round_money(value, currency, ROUND_HALF_UP), currency)


def _clean(value: Decimal, currency: str) -> Decimal:
    """Quantize exactly (the value is already on the grid) and turn ``-0.00`` into ``0.00``."""
    value = value.quantize(quantum(currency), context=MONEY_CONTEXT)
    return abs(value) if not value else value


_ZEROS: dict[str, Decimal] = {}


def _zero(currency: str) -> Decimal:
    zero = _ZEROS.get(currency) if type(currency) is str else None
    if zero is None:
        zero = ZERO.quantize(quantum(currency))
        if type(currency) is str:
            _ZEROS[currency] = zero
    return zero


def _sum(values: Iterable[Decimal], currency: str) -> Decimal:
    return sum(values, _zero(currency))


def net_for_tax_inclusive(amount: Decimal | str, currency: str, *, tax_category: str = "S",
                          tax_rate: Decimal = Decimal(0)) -> Decimal:
    """The net amount of one line (quantity 1) whose total with its tax is exactly ``amount``.

    Tax is rounded once per rate (see the module notes), so not every tax-inclusive amount can be
    reached: at 20 %, 0.03 EUR cannot (0.02 net gives 0.02, 0.03 net gives 0.04). Such an amount is
    refused with :class:`~duly.domain.errors.CreditAmountNotExact`, naming the nearest amounts that can.
    ``amount`` must be positive and fit the currency's minor unit.
    """
    from .errors import CreditAmountNotExact, ValueOutOfRange

    check_currency(currency)
    value = _number(amount, "amount")
    if _money(value, currency) != value:
        raise ValueOutOfRange(f"{value} has more decimals than {currency} allows ({exponent(currency)}).",
                              currency=currency)
    if value <= 0:
        raise ValueOutOfRange(f"The amount must be above 0 (got {value}).")
    rate = _canonical_rate(_number(tax_rate, "tax rate"))
    step = quantum(currency)

    def total(net: Decimal) -> Decimal:
        return compute_totals([LineInput(Decimal(1), net, tax_category, rate)], currency).tax_inclusive

    with localcontext(MONEY_CONTEXT):
        guess = _money(value * _HUNDRED / (_HUNDRED + rate), currency)
        candidates = [guess + k * step for k in range(-3, 4) if guess + k * step > 0]
    reached = {net: total(net) for net in candidates}
    for net, gross in reached.items():
        if gross == value:
            return _clean(net, currency)
    below = max((g for g in reached.values() if g < value), default=None)
    above = min((g for g in reached.values() if g > value), default=None)
    nearest = " or ".join(str(g) for g in (below, above) if g is not None)
    raise CreditAmountNotExact(
        f"{value} {currency} cannot be reached exactly with tax at {rate}% (tax is rounded once, to the minor unit); "
        f"the nearest amounts are {nearest}.", currency=currency)
