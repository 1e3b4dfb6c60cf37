"""Property tests of :func:`compute_totals`: the EN 16931 identities hold for any valid input (a valid document's
allowances fit the VAT groups they reduce), and an allowance that does not fit is refused."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from duly.domain.errors import AllowanceExceedsTaxGroup
from duly.domain.invoice_math import (
    ZERO_RATE_CATEGORIES,
    AllowanceCharge,
    InvoiceTotals,
    LineInput,
    compute_totals,
    totals_to_minor,
)
from duly.domain.money import exponent, from_minor

CURRENCIES = ["JPY", "EUR", "BHD", "CLF"]  # exponents 0, 2, 3, 4
CATEGORIES = ["S", "S", "S", "Z", "E", "AE", "K", "G", "O", "L", "M"]
RATES = [D("0"), D("2.1"), D("5.5"), D("7"), D("8.1"), D("10"), D("19"), D("20"), D("21"), D("25"), D("27")]


def q(currency: str) -> D:
    return D(1).scaleb(-exponent(currency))


@st.composite
def line_inputs(draw, currency: str, negative: bool = False) -> LineInput:
    quantity = draw(st.decimals(min_value=0, max_value=10_000, places=draw(st.integers(0, 4))))
    if negative and draw(st.booleans()):
        quantity = -quantity
    price = draw(st.decimals(min_value=0, max_value=100_000, places=draw(st.integers(0, 6))))
    base = draw(st.sampled_from([D(1), D(1), D(10), D(100), D("0.5"), D(3)]))
    category = draw(st.sampled_from(CATEGORIES))
    rate = D(0) if category in ZERO_RATE_CATEGORIES else draw(st.sampled_from(RATES))
    discount_percent = discount_amount = None
    kind = draw(st.sampled_from(["none", "none", "percent", "amount"]))
    if kind == "percent":
        discount_percent = draw(st.decimals(min_value=0, max_value=100, places=2))
    elif kind == "amount":
        gross = abs(quantity * price / base).quantize(q(currency), rounding=ROUND_HALF_UP)
        fraction = draw(st.decimals(min_value=0, max_value=1, places=3))
        discount_amount = (gross * fraction).quantize(q(currency), rounding=ROUND_DOWN)
    return LineInput(quantity=quantity, unit_price=price, tax_category=category, tax_rate=rate,
                     discount_percent=discount_percent, discount_amount=discount_amount, base_quantity=base)


@st.composite
def allowance_charges(draw, currency: str) -> AllowanceCharge:
    category = draw(st.sampled_from(CATEGORIES))
    rate = D(0) if category in ZERO_RATE_CATEGORIES else draw(st.sampled_from(RATES))
    if draw(st.booleans()):
        minor = draw(st.integers(0, 10_000_000))
        amount, percent = D(minor).scaleb(-exponent(currency)), None
    else:
        amount, percent = None, draw(st.decimals(min_value=0, max_value=50, places=2))
    return AllowanceCharge(is_charge=draw(st.booleans()), amount=amount, percent=percent,
                           tax_category=category, tax_rate=rate)


def _fitting(acs: list[AllowanceCharge], lines: list[LineInput], currency: str) -> list[AllowanceCharge]:
    """``acs`` without the allowances that do not fit the lines and charges of their VAT group (a valid document:
    an allowance reduces only its own group, see test_allowances_are_refused_exactly_when_a_group_turns_negative)."""
    plain = compute_totals(lines, currency, allow_negative=True)
    room = {(s.category, s.rate): s.taxable_amount for s in plain.tax_breakdown}
    for ac in acs:
        if ac.is_charge:
            key = _group(ac, currency)
            room[key] = room.get(key, D(0)) + _amount(ac, plain.line_total, currency)
    kept = []
    for ac in acs:
        if ac.is_charge:
            kept.append(ac)
            continue
        key = _group(ac, currency)
        amount = _amount(ac, plain.line_total, currency)
        if amount <= room.get(key, D(0)):
            room[key] = room.get(key, D(0)) - amount
            kept.append(ac)
    return kept


def _group(ac: AllowanceCharge, currency: str) -> tuple[str, D]:
    """The (category, canonical rate) of the VAT group an allowance or charge belongs to."""
    alone = AllowanceCharge(is_charge=True, amount=D(0), tax_category=ac.tax_category, tax_rate=ac.tax_rate)
    return ac.tax_category, compute_totals([], currency, [alone]).tax_breakdown[0].rate


def _amount(ac: AllowanceCharge, line_total: D, currency: str) -> D:
    if ac.amount is not None:
        return ac.amount
    return (line_total * ac.percent / 100).quantize(q(currency), rounding=ROUND_HALF_UP)


@st.composite
def invoices(draw, negative: bool = False):
    currency = draw(st.sampled_from(CURRENCIES))
    lines = draw(st.lists(line_inputs(currency, negative), max_size=12))
    acs = _fitting(draw(st.lists(allowance_charges(currency), max_size=4)), lines, currency)
    prepaid = D(draw(st.integers(0, 10**9))).scaleb(-exponent(currency))
    rounding = D(draw(st.integers(-99, 99))).scaleb(-exponent(currency))
    return currency, lines, acs, prepaid, rounding


def all_amounts(t: InvoiceTotals) -> list[D]:
    values = [t.line_total, t.allowance_total, t.charge_total, t.tax_exclusive, t.tax_total, t.tax_inclusive,
              t.prepaid, t.rounding, t.payable]
    values += [v for r in t.lines for v in (r.net_amount, r.discount_amount)]
    values += [v for s in t.tax_breakdown for v in (s.taxable_amount, s.tax_amount)]
    return values


@settings(max_examples=300, deadline=None)
@given(invoices(negative=True))
def test_en16931_identities(invoice):
    currency, lines, acs, prepaid, rounding = invoice
    t = compute_totals(lines, currency, acs, prepaid, rounding, allow_negative=True)

    assert sum((r.net_amount for r in t.lines), D(0)) == t.line_total                      # BT-106
    assert t.tax_exclusive == t.line_total - t.allowance_total + t.charge_total             # BT-109
    assert sum((s.taxable_amount for s in t.tax_breakdown), D(0)) == t.tax_exclusive        # BR-CO-13 / BT-116
    assert sum((s.tax_amount for s in t.tax_breakdown), D(0)) == t.tax_total                # BR-CO-14
    assert t.tax_exclusive + t.tax_total == t.tax_inclusive                                 # BR-CO-15
    assert t.payable == t.tax_inclusive - t.prepaid + t.rounding                            # BR-CO-16
    assert (t.prepaid, t.rounding) == (prepaid, rounding)

    for s in t.tax_breakdown:                                                              # BR-CO-17
        assert s.tax_amount == (s.taxable_amount * s.rate / 100).quantize(q(currency), rounding=ROUND_HALF_UP)
        if s.category in ZERO_RATE_CATEGORIES:
            assert s.rate == 0 and s.tax_amount == 0
    assert len({(s.category, s.rate) for s in t.tax_breakdown}) == len(t.tax_breakdown)

    for line, r in zip(lines, t.lines, strict=True):                                       # BT-131
        base = (line.quantity * line.unit_price / line.base_quantity).quantize(q(currency), rounding=ROUND_HALF_UP)
        assert r.net_amount == base - r.discount_amount
        assert 0 <= abs(r.net_amount) <= abs(base)
        assert r.net_amount == 0 or (r.net_amount < 0) == (base < 0)  # a discount never flips the sign
        if line.discount_percent is not None:                                               # BT-136 = 137 x 138
            expected = (base * line.discount_percent / 100).quantize(q(currency), rounding=ROUND_HALF_UP)
            assert r.discount_amount == expected
        elif line.discount_amount is not None:
            assert r.discount_amount == (line.discount_amount if base >= 0 else -line.discount_amount)
        else:
            assert r.discount_amount == 0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_allowances_are_refused_exactly_when_a_group_turns_negative(data):
    currency = data.draw(st.sampled_from(CURRENCIES))
    lines = data.draw(st.lists(line_inputs(currency), max_size=6))
    acs = data.draw(st.lists(allowance_charges(currency), max_size=4))
    # Each group's lines and charges, less its allowances, by plain arithmetic on the line results.
    plain = compute_totals(lines, currency)
    groups: dict[tuple[str, D], D] = {}
    with_allowance = set()
    for ac in acs:
        key = _group(ac, currency)
        groups[key] = groups.get(key, D(0)) + (1 if ac.is_charge else -1) * _amount(ac, plain.line_total, currency)
        if not ac.is_charge:
            with_allowance.add(key)
    for s in plain.tax_breakdown:
        groups[(s.category, s.rate)] = groups.get((s.category, s.rate), D(0)) + s.taxable_amount
    negative = {key for key in with_allowance if groups[key] < 0}
    try:
        t = compute_totals(lines, currency, acs)
    except AllowanceExceedsTaxGroup as refused:
        assert negative and refused.code == "allowance_exceeds_tax_group"
        return
    assert not negative
    assert all(s.taxable_amount >= 0 and s.tax_amount >= 0 for s in t.tax_breakdown)


@settings(max_examples=300, deadline=None)
@given(invoices(negative=True))
def test_every_amount_has_exactly_the_currency_exponent(invoice):
    currency, lines, acs, prepaid, rounding = invoice
    t = compute_totals(lines, currency, acs, prepaid, rounding, allow_negative=True)
    for value in all_amounts(t):
        assert value.as_tuple().exponent == -exponent(currency), value
        assert not (value == 0 and value.is_signed()), "negative zero"


@settings(max_examples=150, deadline=None)
@given(invoices(), st.randoms(use_true_random=False))
def test_breakdown_does_not_depend_on_line_order(invoice, rnd):
    currency, lines, acs, prepaid, rounding = invoice
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    a = compute_totals(lines, currency, acs, prepaid, rounding)
    b = compute_totals(shuffled, currency, acs, prepaid, rounding)
    assert a.tax_breakdown == b.tax_breakdown
    assert (a.line_total, a.tax_total, a.payable) == (b.line_total, b.tax_total, b.payable)


@settings(max_examples=150, deadline=None)
@given(invoices())
def test_negated_lines_mirror_the_invoice(invoice):
    """A line with quantity -x is the exact mirror of the line with quantity x (half up is symmetric)."""
    currency, lines, _acs, _prepaid, _rounding = invoice
    positive = compute_totals(lines, currency)
    mirrored = compute_totals(
        [LineInput(quantity=-ln.quantity, unit_price=ln.unit_price, tax_category=ln.tax_category,
                   tax_rate=ln.tax_rate, discount_percent=ln.discount_percent,
                   discount_amount=ln.discount_amount, base_quantity=ln.base_quantity) for ln in lines],
        currency, allow_negative=True,
    )
    assert [r.net_amount for r in mirrored.lines] == [-r.net_amount for r in positive.lines]
    assert mirrored.tax_total == -positive.tax_total
    assert mirrored.payable == -positive.payable


@settings(max_examples=150, deadline=None)
@given(invoices(negative=True))
def test_totals_to_minor_round_trips(invoice):
    currency, lines, acs, prepaid, rounding = invoice
    t = compute_totals(lines, currency, acs, prepaid, rounding, allow_negative=True)
    minor = totals_to_minor(t)
    assert from_minor(minor["tax_inclusive_minor"], currency) == t.tax_inclusive
    assert from_minor(minor["payable_minor"], currency) == t.payable
    assert [from_minor(x["net_minor"], currency) for x in minor["lines"]] == [r.net_amount for r in t.lines]
    assert all(type(v) is int for k, v in minor.items() if k.endswith("_minor"))


# --- the net of a tax-inclusive amount (a partial credit) ----------------------------------------------
@given(minor=st.integers(min_value=1, max_value=10_000_000),
       rate=st.sampled_from([D(0), D("5.5"), D(7), D(10), D(19), D(20), D(21), D("27")]),
       currency=st.sampled_from(["EUR", "JPY", "BHD"]))
@settings(max_examples=300)
def test_net_for_tax_inclusive_is_exact_or_names_the_reachable_amounts_either_side(minor, rate, currency):
    from duly.domain.errors import CreditAmountNotExact
    from duly.domain.invoice_math import LineInput, compute_totals, net_for_tax_inclusive

    amount = from_minor(minor, currency)

    def total(net):
        return compute_totals([LineInput(D(1), net, "S", rate)], currency).tax_inclusive

    try:
        net = net_for_tax_inclusive(amount, currency, tax_rate=rate)
    except CreditAmountNotExact as err:
        assert rate > 0  # without tax every amount is reachable
        below, above = (D(x) for x in err.message.rsplit("are ", 1)[1].rstrip(".").split(" or "))
        assert below < amount < above and above - below == 2 * D(1).scaleb(-exponent(currency))
        return
    assert total(net) == amount and net == net.quantize(D(1).scaleb(-exponent(currency)))
