"""Sequence types over a mandate's life: FRST, RCUR, FNAL when the mandate ends, OOFF once; nothing after FNAL."""

from __future__ import annotations

from datetime import date

import pytest

from duly.domain.errors import InvalidMandate
from duly.payments import return_services as returns
from duly.payments import sepa_services as sepa
from duly.payments.models import DirectDebit, Mandate

from .test_sepa_debits import DEBTOR_IBAN, creditor, issue, mandate, parse  # noqa: F401 - fixtures


def sequences(result):
    return [(seq, day) for seq, day, _ in parse(result.xml)[1]]


def test_the_last_debit_before_a_revocation_goes_out_as_fnal_and_ends_the_mandate(org, customer, contract,
                                                                                   creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    assert sequences(sepa.export_debits(org, date(2026, 3, 1))) == [("FRST", "2026-03-02")]
    sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 5, 1))  # the customer leaves at the end of April
    issue(org, customer, contract, "40", date(2026, 2, 28))  # due 30 March
    issue(org, customer, contract, "60", date(2026, 3, 2))  # due 1 April
    assert sequences(sepa.export_debits(org, date(2026, 3, 20))) == [("FNAL", "2026-04-01"), ("RCUR", "2026-03-30")]
    row = Mandate.objects.get()
    assert row.final_presented and row.collected == 3
    assert DirectDebit.objects.filter(sequence_type="FNAL").get().invoice.total_minor == 6000  # the later one
    issue(org, customer, contract, "10", date(2026, 3, 10))
    assert sepa.export_debits(org, date(2026, 3, 25)).batch is None  # after FNAL the mandate is not used again
    with pytest.raises(InvalidMandate) as err:
        sepa.sepa.check_mandate(sepa.snapshot(row), date(2026, 3, 25))
    assert err.value.code == "mandate_used"


def test_the_debit_of_a_contract_that_has_ended_goes_out_as_fnal(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    sepa.export_debits(org, date(2026, 3, 1))
    contract.end_date = date(2026, 3, 27)
    contract.save(update_fields=["end_date"])
    issue(org, customer, contract, "40", date(2026, 2, 28))  # due and debited 30 March: the contract is over
    assert sequences(sepa.export_debits(org, date(2026, 3, 20))) == [("FNAL", "2026-03-30")]
    assert Mandate.objects.get().final_presented


def test_a_contract_still_running_is_debited_rcur(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    sepa.export_debits(org, date(2026, 3, 1))
    contract.end_date = date(2026, 12, 31)
    contract.save(update_fields=["end_date"])
    issue(org, customer, contract, "40", date(2026, 2, 28))
    assert sequences(sepa.export_debits(org, date(2026, 3, 20))) == [("RCUR", "2026-03-30")]


def test_a_one_off_mandate_is_debited_once_as_ooff(org, customer, contract, creditor):
    customer.preferred_payment_method = "sepa_debit"  # the invoices pre-notify the debit
    customer.save(update_fields=["preferred_payment_method"])
    sepa.create_mandate(org, customer, reference="ONCE-1", signed_on=date(2026, 1, 10), debtor_name="Acme",
                        iban=DEBTOR_IBAN, kind=Mandate.ONE_OFF)
    issue(org, customer, contract, "100", date(2026, 1, 31))
    issue(org, customer, contract, "40", date(2026, 1, 31))
    assert sequences(sepa.export_debits(org, date(2026, 3, 1))) == [("OOFF", "2026-03-02")]
    assert DirectDebit.objects.count() == 1
    assert sepa.export_debits(org, date(2026, 3, 20)).batch is None


def test_a_returned_fnal_is_re_presented_as_fnal(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    sepa.export_debits(org, date(2026, 3, 1))
    sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 6, 1))
    issue(org, customer, contract, "40", date(2026, 2, 28))
    sepa.export_debits(org, date(2026, 3, 20))
    final = DirectDebit.objects.get(sequence_type="FNAL")
    retry = returns.record_debit_return(final, "AM04", returned_on=date(2026, 4, 9)).debit_return.retry
    assert (retry.sequence_type, retry.collection_date) == ("FNAL", date(2026, 4, 23))
    assert sequences(sepa.export_debits(org, date(2026, 4, 10))) == [("FNAL", "2026-04-23")]
    assert Mandate.objects.get().final_presented


def test_after_a_rejected_first_debit_the_next_is_first_again(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    first = DirectDebit.objects.get(batch=sepa.export_debits(org, date(2026, 3, 1)).batch)
    returns.record_debit_return(first, "MD02", returned_on=date(2026, 3, 3), kind="reject")  # staff must review
    issue(org, customer, contract, "40", date(2026, 2, 28))
    assert sequences(sepa.export_debits(org, date(2026, 3, 20))) == [("FRST", "2026-03-30")]

