"""Which method an invoice states it will be paid by, decided from plain values (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from duly.domain.payment_instructions import (
    BANK_TRANSFER,
    CARD,
    SEPA_DEBIT,
    CardOnFile,
    MandateOnFile,
    PaymentInstruction,
    card_charge_date,
    choose,
    mask_iban,
)
from duly.domain.sepa import Mandate

VISA = CardOnFile("stripe", "pm_1", "visa", "4242")
MANDATE = MandateOnFile(Mandate("ACME-1", date(2026, 1, 10)), "DE89370400440532013000")
CI = "DE98ZZZ09999999999"


def debit(**kw):
    values = dict(currency="EUR", issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30), mandate=MANDATE,
                  creditor_id=CI)
    values.update(kw)
    return choose("sepa_debit", **values)


def test_a_card_customer_is_charged_on_the_due_date_or_the_agreed_days_before_never_before_issue():
    chosen = choose("card", currency="EUR", issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30), card=VISA,
                    autopay_days_before_due=3)
    assert (chosen.method, chosen.charge_date, chosen.card_label) == (CARD, date(2026, 4, 27), "Visa •••• 4242")
    assert card_charge_date(date(2026, 4, 2), 5, date(2026, 3, 31)) == date(2026, 3, 31)
    assert choose("paypal", currency="USD", issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30),
                  card=VISA).method == CARD


def test_a_card_customer_without_a_saved_card_transfers():
    chosen = choose("card", currency="EUR", issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30))
    assert (chosen.method, chosen.fallback) == (BANK_TRANSFER, "no saved card to charge")


def test_a_direct_debit_is_on_the_due_date_when_the_invoice_gives_the_full_notice():
    chosen = debit()
    assert (chosen.method, chosen.debit_date, chosen.notified_on, chosen.notice_days) == (
        SEPA_DEBIT, date(2026, 4, 30), date(2026, 3, 31), 14)
    assert (chosen.mandate_reference, chosen.creditor_id, chosen.debtor_iban_masked) == ("ACME-1", CI,
                                                                                         "DE89 •••• 3000")


@pytest.mark.parametrize("due, notice, debited", [
    (date(2026, 4, 7), 14, date(2026, 4, 14)),  # told 31 March: 14 days later, Tuesday 14 April
    (date(2026, 4, 7), 5, date(2026, 4, 7)),  # 5 days agreed: the due date
    (date(2026, 4, 2), 3, date(2026, 4, 7)),  # 3 April is Good Friday, 6 April Easter Monday: TARGET closed
    (date(2026, 5, 1), 14, date(2026, 5, 4)),  # a due date on 1 May (TARGET holiday): the next TARGET day
])
def test_the_debit_date_respects_the_notice_period_and_target_days(due, notice, debited):
    assert debit(due_date=due, notice_days=notice).debit_date == debited


@pytest.mark.parametrize("kw, why", [
    ({"currency": "USD"}, "SEPA direct debits are in euro, not USD"),
    ({"creditor_id": ""}, "no SEPA creditor identifier"),
    ({"mandate": None}, "no mandate"),
    ({"mandate": MandateOnFile(Mandate("ACME-1", date(2026, 1, 10), revoked_on=date(2026, 4, 10)), "DE89")},
     "mandate revoked before the debit date"),
    ({"mandate": MandateOnFile(Mandate("ACME-1", date(2026, 1, 10), revoked_on=date(2026, 3, 1)), "DE89")},
     "Mandate ACME-1 was revoked on 2026-03-01."),
])
def test_a_debit_that_cannot_be_made_is_a_transfer_saying_why(kw, why):
    chosen = debit(**kw)
    assert (chosen.method, chosen.fallback) == (BANK_TRANSFER, why)


def test_other_preferences_and_credit_notes_are_transfers():
    for preferred in ("bank_transfer", "check", "cash", "ach_debit"):
        assert choose(preferred, currency="EUR", issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30),
                      card=VISA, mandate=MANDATE, creditor_id=CI).method == BANK_TRANSFER
    assert debit(due_date=None).method == BANK_TRANSFER


def test_an_instruction_survives_its_json_and_masks_the_account():
    chosen = debit()
    assert PaymentInstruction.from_json(chosen.to_json()) == chosen
    assert PaymentInstruction.from_json(None) is None and PaymentInstruction.from_json({}) is None
    assert mask_iban("DE89 3704 0044 0532 0130 00") == "DE89 •••• 3000"
    assert PaymentInstruction(CARD, card_brand="amex").card_label == "American Express"
