"""Payment allocation: explicit first, then oldest due date; the remainder becomes customer credit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from duly.domain.allocation import Allocation, AllocationResult, OpenBalance, allocate_payment, apply_credit
from duly.domain.errors import AllocationExceedsBalance, CurrencyMismatch, Overpayment, UnknownCurrency, ValidationError
from duly.domain.money import exponent


def item(invoice_id, balance, due, issue=None, currency="EUR") -> OpenBalance:
    due_date = date.fromisoformat(due)
    return OpenBalance(invoice_id=invoice_id, currency=currency, due_date=due_date,
                       issue_date=date.fromisoformat(issue) if issue else due_date - timedelta(days=30),
                       balance=D(balance))


OPEN = [
    item(3, "300.00", "2026-03-31"),
    item(1, "100.00", "2026-01-31"),
    item(2, "200.00", "2026-02-28"),
]


# --- worked examples -----------------------------------------------------------------------------
def test_oldest_due_date_first():
    result = allocate_payment(D("250.00"), "EUR", OPEN)
    assert result == AllocationResult(allocations=(Allocation(1, D("100.00")), Allocation(2, D("150.00"))),
                                      unapplied=D("0.00"))


def test_ties_on_due_date_break_on_issue_date_then_id():
    items = [
        item(9, "10.00", "2026-01-31", issue="2026-01-05"),
        item(8, "10.00", "2026-01-31", issue="2026-01-10"),
        item(7, "10.00", "2026-01-31", issue="2026-01-05"),
    ]
    result = allocate_payment(D("25.00"), "EUR", items)
    assert result.allocations == (Allocation(7, D("10.00")), Allocation(9, D("10.00")), Allocation(8, D("5.00")))


def test_exact_payment_settles_everything():
    result = allocate_payment(D("600.00"), "EUR", OPEN)
    assert [a.invoice_id for a in result.allocations] == [1, 2, 3]
    assert result.unapplied == D("0.00")


def test_overpayment_becomes_customer_credit():
    result = allocate_payment(D("650.00"), "EUR", OPEN)
    assert sum(a.amount for a in result.allocations) == D("600.00")
    assert result.unapplied == D("50.00")


def test_overpayment_without_credit_policy_is_refused():
    with pytest.raises(Overpayment) as exc:
        allocate_payment(D("650.00"), "EUR", OPEN, allow_credit=False)
    assert exc.value.message == (
        "The payment of 650.00 EUR exceeds the open balance 600.00 EUR and the customer has no credit policy."
    )
    assert exc.value.code == "overpayment"


def test_payment_without_open_items_is_all_credit():
    assert allocate_payment(D("10.00"), "EUR", []) == AllocationResult((), D("10.00"))
    with pytest.raises(Overpayment):
        allocate_payment(D("10.00"), "EUR", [], allow_credit=False)


def test_explicit_allocations_come_first():
    # The customer's remittance says: 250 on invoice 3. The rest goes to the oldest.
    result = allocate_payment(D("300.00"), "EUR", OPEN, explicit={3: D("250.00")})
    assert result.allocations == (Allocation(3, D("250.00")), Allocation(1, D("50.00")))
    assert result.unapplied == D("0.00")


def test_remainder_after_explicit_tops_up_the_oldest_including_the_explicit_invoice():
    result = allocate_payment(D("400.00"), "EUR", OPEN, explicit={2: D("50.00")})
    # 50 explicit on 2; 350 left: 100 on 1, 150 more on 2 (now settled), 100 on 3.
    assert result.allocations == (Allocation(2, D("200.00")), Allocation(1, D("100.00")), Allocation(3, D("100.00")))


def test_explicit_exceeding_the_invoice_balance_is_refused():
    with pytest.raises(AllocationExceedsBalance) as exc:
        allocate_payment(D("500.00"), "EUR", OPEN, explicit={1: D("100.01")})
    assert exc.value.context["invoice_id"] == 1
    assert "invoice 1" in exc.value.message and "100.00 EUR" in exc.value.message


def test_explicit_total_exceeding_the_payment_is_refused():
    with pytest.raises(Overpayment, match="explicit allocations total 300.00 EUR but the payment is only 250.00 EUR"):
        allocate_payment(D("250.00"), "EUR", OPEN, explicit={1: D("100.00"), 2: D("200.00")})


def test_explicit_to_an_unknown_or_settled_invoice_is_refused():
    with pytest.raises(ValidationError, match="Invoice 42 is not among"):
        allocate_payment(D("10.00"), "EUR", OPEN, explicit={42: D("10.00")})
    with pytest.raises(AllocationExceedsBalance):
        allocate_payment(D("10.00"), "EUR", [item(5, "0.00", "2026-01-01")], explicit={5: D("10.00")})


@pytest.mark.parametrize("amount", [D("0.00"), D("-5.00")])
def test_explicit_amounts_must_be_positive(amount):
    with pytest.raises(ValidationError, match="must be positive"):
        allocate_payment(D("10.00"), "EUR", OPEN, explicit={1: amount})


def test_settled_and_negative_balances_are_skipped():
    items = [item(1, "0.00", "2026-01-01"), item(2, "-5.00", "2026-01-02"), item(3, "20.00", "2026-01-03")]
    result = allocate_payment(D("30.00"), "EUR", items)
    assert result == AllocationResult((Allocation(3, D("20.00")),), D("10.00"))
    with pytest.raises(Overpayment, match="open balance 20.00 EUR"):
        allocate_payment(D("30.00"), "EUR", items, allow_credit=False)


def test_jpy_and_bhd():
    jpy = allocate_payment(D("15000"), "JPY", [item(1, "10000", "2026-01-31", currency="JPY"),
                                               item(2, "8000", "2026-02-28", currency="JPY")])
    assert jpy.allocations == (Allocation(1, D("10000")), Allocation(2, D("5000")))
    bhd = allocate_payment(D("1.5"), "BHD", [item(1, "1.234", "2026-01-31", currency="BHD")])
    assert bhd.allocations == (Allocation(1, D("1.234")),) and bhd.unapplied == D("0.266")
    assert bhd.unapplied.as_tuple().exponent == -3


def test_other_currency_is_refused_not_converted():
    with pytest.raises(CurrencyMismatch) as exc:
        allocate_payment(D("100.00"), "EUR", [*OPEN, item(4, "50.00", "2026-01-01", currency="USD")])
    assert exc.value.message == (
        "Invoice 4 is in USD; a payment in EUR cannot be applied to it (no silent conversion)."
    )
    assert exc.value.code == "currency_mismatch"


@pytest.mark.parametrize("amount", [D("0"), D("-1.00")])
def test_payment_must_be_positive(amount):
    with pytest.raises(ValidationError, match="must be positive"):
        allocate_payment(amount, "EUR", OPEN)


def test_amounts_must_fit_the_currency():
    with pytest.raises(ValidationError, match="payment: 10.5 has more decimals than JPY allows"):
        allocate_payment(D("10.5"), "JPY", [])
    with pytest.raises(ValidationError, match="allocation to invoice 1: 1.001 has more decimals"):
        allocate_payment(D("10.00"), "EUR", OPEN, explicit={1: D("1.001")})


def test_floats_and_unknown_currencies_are_refused():
    with pytest.raises(ValidationError, match="never floats"):
        allocate_payment(10.0, "EUR", OPEN)
    with pytest.raises(UnknownCurrency):
        allocate_payment(D("10"), "EURO", [])


def test_duplicate_open_items_are_refused():
    with pytest.raises(ValidationError, match="listed twice"):
        allocate_payment(D("10.00"), "EUR", [OPEN[0], OPEN[0]])


# --- apply_credit --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "credit, balance, expected",
    [("50.00", "120.00", "50.00"), ("200.00", "120.00", "120.00"), ("0.00", "120.00", "0.00"),
     ("50.00", "0.00", "0.00"), ("120.00", "120.00", "120.00")],
)
def test_apply_credit(credit, balance, expected):
    assert apply_credit(D(credit), D(balance)) == D(expected)


def test_apply_credit_refuses_negatives_and_floats():
    with pytest.raises(ValidationError):
        apply_credit(D("-1"), D("10"))
    with pytest.raises(ValidationError):
        apply_credit(D("1"), D("-10"))
    with pytest.raises(ValidationError):
        apply_credit(1.0, D("10"))


# --- properties ----------------------------------------------------------------------------------
@st.composite
def scenarios(draw, with_explicit: bool):
    currency = draw(st.sampled_from(["JPY", "EUR", "BHD"]))
    exp = exponent(currency)
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=8))
    base = date(2026, 1, 1)
    items = [
        OpenBalance(invoice_id=i, currency=currency,
                    due_date=base + timedelta(days=draw(st.integers(0, 90))),
                    issue_date=base - timedelta(days=draw(st.integers(0, 90))),
                    balance=D(draw(st.integers(0, 10**7))).scaleb(-exp))
        for i in ids
    ]
    explicit = {}
    if with_explicit:
        for it in items:
            if it.balance > 0 and draw(st.booleans()):
                explicit[it.invoice_id] = D(draw(st.integers(1, int(it.balance.scaleb(exp))))).scaleb(-exp)
    floor = sum(explicit.values(), D(0))
    amount = floor + D(draw(st.integers(0 if floor else 1, 2 * 10**7))).scaleb(-exp)
    return currency, items, explicit, amount


def check_invariants(result, items, explicit, amount, currency):
    exp = exponent(currency)
    balances = {it.invoice_id: it.balance for it in items}
    allocated = sum((a.amount for a in result.allocations), D(0))
    assert allocated + result.unapplied == amount
    assert allocated <= amount and result.unapplied >= 0
    assert len({a.invoice_id for a in result.allocations}) == len(result.allocations)
    for a in result.allocations:
        assert 0 < a.amount <= balances[a.invoice_id]
        assert a.amount.as_tuple().exponent == -exp
    assert result.unapplied.as_tuple().exponent == -exp
    got = {a.invoice_id: a.amount for a in result.allocations}
    for invoice_id, requested in explicit.items():
        assert got[invoice_id] >= requested
    if result.unapplied > 0:  # credit only once every open invoice is settled
        assert all(got.get(i, 0) == b for i, b in balances.items() if b > 0)


@settings(max_examples=300, deadline=None)
@given(scenarios(with_explicit=False))
def test_fifo_allocation_invariants(scenario):
    currency, items, _explicit, amount = scenario
    result = allocate_payment(amount, currency, items)
    check_invariants(result, items, {}, amount, currency)
    # Oldest first: in due-date order, the paid invoices are settled in full except the last one.
    order = sorted(items, key=lambda it: (it.due_date, it.issue_date, it.invoice_id))
    got = {a.invoice_id: a.amount for a in result.allocations}
    paid = [it for it in order if it.balance > 0]
    received = [got.get(it.invoice_id, D(0)) for it in paid]
    first_short = next((k for k, it in enumerate(paid) if received[k] < it.balance), len(paid))
    assert all(r == 0 for r in received[first_short + 1:])
    assert [a.invoice_id for a in result.allocations] == [it.invoice_id for it in paid if got.get(it.invoice_id)]


@settings(max_examples=300, deadline=None)
@given(scenarios(with_explicit=True))
def test_explicit_allocation_invariants(scenario):
    currency, items, explicit, amount = scenario
    result = allocate_payment(amount, currency, items, explicit=explicit)
    check_invariants(result, items, explicit, amount, currency)
    assert [a.invoice_id for a in result.allocations][: len(explicit)] == list(explicit)


@settings(max_examples=200, deadline=None)
@given(scenarios(with_explicit=True))
def test_without_credit_policy_refused_exactly_when_payment_exceeds_open_balance(scenario):
    currency, items, explicit, amount = scenario
    open_total = sum((it.balance for it in items), D(0))
    assume(amount > 0)
    if amount > open_total:
        with pytest.raises(Overpayment):
            allocate_payment(amount, currency, items, explicit=explicit, allow_credit=False)
    else:
        result = allocate_payment(amount, currency, items, explicit=explicit, allow_credit=False)
        assert result.unapplied == 0
        check_invariants(result, items, explicit, amount, currency)
