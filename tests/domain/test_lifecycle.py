"""The invoice life cycle as plain values (duly.domain.lifecycle)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain import lifecycle as lc
from duly.domain.errors import InvalidState, InvoiceAlreadyVoid, InvoiceHasPayments, ReasonRequired

ON = date(2026, 5, 4)


def test_every_transition_names_known_states_and_reasons():
    for (current, target), reasons in lc.TRANSITIONS.items():
        assert current in lc.STATES and target in lc.STATES and reasons <= set(lc.REASONS)
    # a closed invoice leaves the closed states only by a write-off reversed on purpose, never by a settled amount
    for (current, target), reasons in lc.TRANSITIONS.items():
        if current in lc.CLOSED and target not in lc.CLOSED:
            assert current == lc.UNCOLLECTIBLE and reasons == {lc.REVERSE_WRITE_OFF}
    assert not any(lc.REVERSE_WRITE_OFF in reasons for (current, _), reasons in lc.TRANSITIONS.items()
                   if current != lc.UNCOLLECTIBLE)


@pytest.mark.parametrize("paid, payable, expected", [
    (0, 1000, (lc.ISSUED, 0, None)),
    (975, 1000, (lc.PARTIALLY_PAID, 975, None)),
    (1000, 1000, (lc.PAID, 1000, ON)),
])
def test_a_write_off_reversed_reopens_the_invoice_as_what_it_received_says(paid, payable, expected):
    after = lc.reopened(lc.UNCOLLECTIBLE, paid, payable, "bank match undone", ON, invoice="INV-1")
    assert (after.status, after.paid_minor, after.paid_on) == expected


@pytest.mark.parametrize("status", [lc.ISSUED, lc.PARTIALLY_PAID, lc.PAID, lc.VOID, lc.DRAFT])
def test_only_a_written_off_invoice_has_a_write_off_to_reverse(status):
    with pytest.raises(InvalidState):
        lc.reopened(status, 0, 1000, "undo", ON, invoice="INV-1")
    with pytest.raises(ReasonRequired):
        lc.reopened(lc.UNCOLLECTIBLE, 0, 1000, " ", ON, invoice="INV-1")


@pytest.mark.parametrize("paid, payable, amount, expected", [
    (0, 1000, 1000, (lc.PAID, 1000, ON)),
    (0, 1000, 400, (lc.PARTIALLY_PAID, 400, None)),
    (400, 1000, -400, (lc.ISSUED, 0, None)),
    (1000, 1000, -1, (lc.PARTIALLY_PAID, 999, None)),
    (0, 0, 0, (lc.PAID, 0, ON)),
])
def test_a_settled_amount_moves_an_open_invoice(paid, payable, amount, expected):
    status = lc.PAID if paid >= payable and paid else (lc.PARTIALLY_PAID if paid else lc.ISSUED)
    after = lc.settle(status, paid, payable, amount, ON)
    assert (after.status, after.paid_minor, after.paid_on) == expected


@given(st.sampled_from(lc.CLOSED), st.integers(0, 10_000), st.integers(1, 10_000), st.integers(-500, 10_000))
def test_a_closed_invoice_stays_closed(status, paid, payable, amount):
    after = lc.settle(status, paid, payable, amount, ON)
    assert after.status == status and after.paid_minor == paid + amount and after.paid_on is None


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.integers(-10_000, 10_000).filter(bool))
def test_every_settlement_is_an_allowed_transition(paid, payable, amount):
    status = lc.settle(lc.ISSUED, 0, payable, paid, ON).status if paid else lc.ISSUED
    after = lc.settle(status, paid, payable, amount, ON)
    if after.paid_minor >= 0:
        lc.check_transition(status, after.status, lc.settle_reason(after, amount))


def test_issued_is_paid_only_when_the_prepaid_amount_covers_a_positive_total():
    assert lc.issued(1000, 1000, ON) == lc.Settlement(lc.PAID, 0, ON)
    assert lc.issued(1000, 999, ON) == lc.Settlement(lc.ISSUED, 0, None)
    assert lc.issued(0, 0, ON) == lc.Settlement(lc.ISSUED, 0, None)
    assert lc.issued(1000, 1000, ON, rounding_minor=1).status == lc.ISSUED


def test_void_and_write_off_refusals_have_stable_codes():
    with pytest.raises(ReasonRequired):
        lc.check_void(lc.ISSUED, 0, "  ", invoice="INV-1")
    with pytest.raises(InvoiceAlreadyVoid):
        lc.check_void(lc.VOID, 0, "dup", invoice="INV-1")
    with pytest.raises(InvoiceHasPayments):
        lc.check_void(lc.PARTIALLY_PAID, 5, "dup", invoice="INV-1")
    assert lc.check_void(lc.ISSUED, 0, " dup ", invoice="INV-1") == "dup"
    with pytest.raises(InvalidState, match="Only open invoices"):
        lc.check_write_off(lc.PAID, "gone", invoice="INV-1", status_label="paid")
    with pytest.raises(InvalidState):
        lc.check_transition(lc.VOID, lc.ISSUED, lc.REFUND)
