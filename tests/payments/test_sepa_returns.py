"""SEPA R-transactions: a returned or rejected debit fails, its payment is reversed, and the retry rules decide."""

from __future__ import annotations

from datetime import date

import pytest

from duly.domain.errors import DebitReturnConflict, InvalidState, ValidationError
from duly.invoicing.models import Invoice
from duly.payments import return_services as returns
from duly.payments import sepa_services as sepa
from duly.payments import signals
from duly.payments.models import DebitBatch, DebitReturn, DirectDebit, Mandate, Payment, Refund

from .test_sepa_debits import creditor, issue, mandate, parse  # noqa: F401 - fixtures


@pytest.fixture
def heard():
    calls = []

    def listener(sender, debit, debit_return, decision, **kw):
        calls.append((debit.end_to_end_id, debit_return.reason_code, decision.action.value))

    signals.debit_failed.connect(listener)
    yield calls
    signals.debit_failed.disconnect(listener)


def exported(org, customer, contract, amount="100", issued=date(2026, 1, 31), as_of=date(2026, 3, 1)):
    invoice = issue(org, customer, contract, amount, issued)
    result = sepa.export_debits(org, as_of)
    return invoice, DirectDebit.objects.get(batch=result.batch, invoice=invoice)


def rows():
    return (DirectDebit.objects.count(), DebitReturn.objects.count(), Payment.objects.count(),
            Refund.objects.count(), DebitBatch.objects.count())


def test_a_returned_debit_reverses_its_payment_and_is_re_presented_in_a_later_batch(
        org, customer, contract, creditor, mandate, heard):
    # issued 13 February, due Sunday 15 March: the invoice pre-notified the debit for Monday 16 March
    invoice, debit = exported(org, customer, contract, issued=date(2026, 2, 13))
    assert debit.sequence_type == "FRST" and debit.collection_date == date(2026, 3, 16)
    returns.record_debit_collected(debit, on=date(2026, 3, 16))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID

    result = returns.record_debit_return(debit, "am04", returned_on=date(2026, 3, 19), source="staff")
    debit.refresh_from_db()
    invoice.refresh_from_db()
    assert debit.status == DirectDebit.FAILED
    assert invoice.status != Invoice.PAID and invoice.balance_minor == 10_000  # reopened by the lifecycle
    ret = result.debit_return
    assert (ret.reason_code, ret.category, ret.action) == ("AM04", "soft", "retry")
    assert ret.refund.amount_minor == 10_000 and ret.refund.payment.external_reference == debit.end_to_end_id
    retry = ret.retry
    # a rejected first collection is presented as FRST again, pre-notified 14 days after the return
    assert (retry.attempt, retry.status, retry.sequence_type, retry.batch) == (2, "pending", "FRST", None)
    assert retry.collection_date == date(2026, 4, 2) and retry.amount_minor == 10_000
    assert heard == [(debit.end_to_end_id, "AM04", "retry")]
    assert "re-presented" in result.message

    before = rows()
    again = returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 19))
    assert not again.created and "already recorded" in again.message
    assert rows() == before and len(heard) == 1

    later = sepa.export_debits(org, date(2026, 3, 20))
    assert later.batch is not None and parse(later.xml)[1][0][:2] == ("FRST", "2026-04-02")
    assert DirectDebit.objects.get(pk=retry.pk).batch == later.batch


def test_am04_is_re_presented_at_most_twice(org, customer, contract, creditor, mandate, heard):
    invoice, debit = exported(org, customer, contract, issued=date(2026, 2, 13))  # debited 16 March
    first = returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 18), kind="reject",
                                        source="pain002").debit_return
    sepa.export_debits(org, date(2026, 3, 19))
    second = returns.record_debit_return(first.retry, "AM04", returned_on=date(2026, 4, 3)).debit_return
    assert second.retry is not None and second.retry.attempt == 3
    sepa.export_debits(org, date(2026, 4, 6))
    third = returns.record_debit_return(second.retry, "MS03", returned_on=date(2026, 4, 24))
    assert third.debit_return.action == "give_up" and third.debit_return.retry is None
    assert [a for *_, a in heard] == ["retry", "retry", "give_up"]
    # nothing plans that invoice on that mandate again
    assert sepa.export_debits(org, date(2026, 5, 1)).batch is None
    assert DirectDebit.objects.filter(invoice=invoice).count() == 3
    assert Mandate.objects.get().blocked_reason == ""  # insufficient funds do not block the mandate


@pytest.mark.parametrize("code", ["MD01", "AC04", "AC06"])
def test_a_hard_return_blocks_the_mandate_and_is_never_retried(org, customer, contract, creditor, mandate, heard,
                                                                code):
    invoice, debit = exported(org, customer, contract)
    result = returns.record_debit_return(debit, code, returned_on=date(2026, 3, 18))
    assert (result.debit_return.category, result.debit_return.action, result.debit_return.retry) == (
        "hard", "new_method", None)
    row = Mandate.objects.get()
    assert (row.blocked_reason, row.blocked_on) == (code, date(2026, 3, 18))
    assert heard == [(debit.end_to_end_id, code, "new_method")]
    assert "blocked" in result.message
    issue(org, customer, contract, "40", date(2026, 2, 28))
    assert sepa.export_debits(org, date(2026, 3, 20)).batch is None  # no invoice is debited on it again
    assert DirectDebit.objects.count() == 1


def test_a_creditor_side_code_is_for_staff_and_keeps_the_mandate(org, customer, contract, creditor, mandate, heard):
    _, debit = exported(org, customer, contract)
    result = returns.record_debit_return(debit, "MD02", returned_on=date(2026, 3, 18))
    assert result.debit_return.action == "review" and Mandate.objects.get().blocked_reason == ""


def test_a_rejection_before_settlement_has_no_payment_to_reverse(org, customer, contract, creditor, mandate):
    invoice, debit = exported(org, customer, contract)
    result = returns.record_debit_return(debit, "AC01", returned_on=date(2026, 3, 2), kind="reject")
    assert result.debit_return.refund is None and Refund.objects.count() == 0
    invoice.refresh_from_db()
    assert invoice.balance_minor == 10_000


def test_bad_returns_change_nothing(org, customer, contract, creditor, mandate):
    _, debit = exported(org, customer, contract)
    before = rows()
    for code in ("", "AM-4", "TOOLONG"):
        with pytest.raises(ValidationError):
            returns.record_debit_return(debit, code, returned_on=date(2026, 3, 18))
    with pytest.raises(ValidationError):
        returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 18), kind="bounce")
    with pytest.raises(ValidationError):
        returns.record_debit_return(debit, "AM04", returned_on=date(2026, 2, 1))  # before it was sent
    returns.record_debit_return(debit, "AC04", returned_on=date(2026, 3, 18))
    with pytest.raises(DebitReturnConflict):
        returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 18))
    assert DebitReturn.objects.get().reason_code == "AC04" and rows()[0] == before[0]

    Mandate.objects.update(blocked_reason="")  # as if staff had cleared it, to get a pending debit
    issue(org, customer, contract, "40", date(2026, 2, 28))  # pre-notifies its debit on the cleared mandate
    pending = sepa.plan_debits(org, date(2026, 3, 20))[0]
    with pytest.raises(InvalidState):
        returns.record_debit_return(pending, "AM04", returned_on=date(2026, 3, 20))


def test_find_debit_by_end_to_end_id(org, customer, contract, creditor, mandate):
    from duly.domain.errors import NotFound

    _, debit = exported(org, customer, contract)
    assert returns.find_debit(org, debit.end_to_end_id) == debit
    assert returns.find_debit(org, debit.end_to_end_id, batch_message_id=debit.batch.message_id) == debit
    with pytest.raises(NotFound):
        returns.find_debit(org, "NOPE-1")
