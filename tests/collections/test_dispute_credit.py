"""Answering a query with a partial credit: an amount (tax included, in the invoice's currency) credited as one
credit-note line at the invoice's tax rate, from the service, the admin and the CLI; a wrong amount is refused
with a clear reason and changes nothing."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from django.urls import reverse

from duly.cli import main
from duly.collections.models import Dispute
from duly.collections.services import open_dispute, resolve_dispute
from duly.domain.errors import (
    CreditAmountNotExact,
    CreditExceedsOpenAmount,
    SeveralTaxRates,
    ValidationError,
    ValueOutOfRange,
)
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice

PARIS = ZoneInfo("Europe/Paris")


def at(day, hour=10):
    return datetime.combine(day, time(hour), PARIS)


@pytest.fixture
def disputed(org, customer, contract):
    """An invoice of 1,200.00 EUR (1,000.00 + 20 % VAT), 200.00 of it paid, with an open query."""
    from duly.payments.services import record_payment

    draft = inv.create_draft(org, customer, [inv.LineData("Consulting — March", Decimal(8), Decimal("125.00"),
                                                          unit="HUR", tax_rate=Decimal("20"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    record_payment(org, customer, amount="200.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 10))
    invoice.refresh_from_db()
    assert (invoice.total_minor, invoice.balance_minor) == (120000, 100000)
    return open_dispute(org, invoice.pk, question="Two of the eight hours were not worked.",
                        now=at(date(2026, 3, 12)))


def _unchanged(dispute):
    dispute.refresh_from_db()
    invoice = Invoice.objects.get(pk=dispute.invoice_id)
    return (dispute.status == Dispute.OPEN and dispute.credit_note_id is None
            and not Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).exists()
            and invoice.balance_minor == 100000)


def test_a_partial_credit_is_one_line_at_the_invoice_rate_and_lowers_the_open_amount(org, disputed):
    answered = resolve_dispute(org, disputed.pk, answer="Agreed: two hours credited.", credit_amount="300.00",
                               now=at(date(2026, 3, 13)))
    note = answered.credit_note
    assert answered.status == Dispute.RESOLVED and note.number.startswith("CN-2026-")  # issued on the answer day
    assert note.issue_date == date(2026, 3, 13)
    assert (note.kind, note.related_invoice_id, note.currency) == (Invoice.KIND_CREDIT_NOTE, disputed.invoice_id,
                                                                   "EUR")
    assert (note.tax_exclusive_minor, note.tax_total_minor, note.total_minor) == (25000, 5000, 30000)
    [line] = note.lines.all()
    assert line.description == (f"Credit for query #{disputed.pk} on {disputed.invoice.number}: "
                                "Agreed: two hours credited.")
    assert (line.quantity, line.unit_price, line.tax_category, line.tax_rate) == (1, Decimal("250.00"), "S", 20)
    invoice = Invoice.objects.get(pk=disputed.invoice_id)
    assert invoice.balance_minor == 70000 and invoice.status == Invoice.PARTIALLY_PAID


def test_a_credit_of_the_whole_open_amount_settles_the_invoice(org, disputed):
    resolve_dispute(org, disputed.pk, answer="Written down.", credit_amount="1000.00", now=at(date(2026, 3, 13)))
    invoice = Invoice.objects.get(pk=disputed.invoice_id)
    assert invoice.balance_minor == 0 and invoice.status == Invoice.PAID


@pytest.mark.parametrize("amount, error, words", [
    ("0", ValueOutOfRange, "must be above 0"),
    ("-10.00", ValueOutOfRange, "must be above 0"),
    ("10.005", ValueOutOfRange, "10.005 has more decimals than EUR allows"),
    ("ten", ValidationError, "Not a number: 'ten'"),
    ("1000.01", CreditExceedsOpenAmount, "The credit (1000.01 EUR) is more than what is open on"),
    ("1200.00", CreditExceedsOpenAmount, "(1000.00 EUR)"),
    # at 20 %, a net of 0.02 gives 0.02 and a net of 0.03 gives 0.04: 0.03 cannot be credited exactly
    ("0.03", CreditAmountNotExact, "the nearest amounts are 0.02 or 0.04"),
])
def test_a_wrong_credit_amount_is_refused_and_changes_nothing(org, disputed, amount, error, words):
    with pytest.raises(error) as err:
        resolve_dispute(org, disputed.pk, answer="Agreed.", credit_amount=amount, now=at(date(2026, 3, 13)))
    assert words in err.value.message
    assert _unchanged(disputed)


def test_an_amount_and_a_whole_credit_together_are_refused(org, disputed):
    with pytest.raises(ValidationError, match="not several"):
        resolve_dispute(org, disputed.pk, answer="Agreed.", credit_note=True, credit_amount="100.00",
                        now=at(date(2026, 3, 13)))
    assert _unchanged(disputed)


def test_an_invoice_with_several_tax_rates_cannot_be_credited_by_amount(org, customer, contract):
    draft = inv.create_draft(org, customer, [
        inv.LineData("Design", Decimal(1), Decimal("100.00"), tax_rate=Decimal("20")),
        inv.LineData("Brochures", Decimal(1), Decimal("100.00"), tax_rate=Decimal("5.5")),
    ], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    dispute = open_dispute(org, invoice.pk, question="Discount?", now=at(date(2026, 3, 12)))
    with pytest.raises(SeveralTaxRates) as err:
        resolve_dispute(org, dispute.pk, answer="Agreed.", credit_amount="10.00", now=at(date(2026, 3, 13)))
    assert err.value.code == "several_tax_rates" and "S 20%" in err.value.message and "S 5.5%" in err.value.message
    dispute.refresh_from_db()
    assert dispute.status == Dispute.OPEN and not Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).exists()


def test_a_zero_decimal_currency_credits_whole_units(org, make_customer, make_contract):
    jp = make_customer("JP", country="JP", currency="JPY", locale="ja_JP", timezone="Asia/Tokyo")
    draft = inv.create_draft(org, jp, [inv.LineData("Support", Decimal(1), Decimal("10000"), tax_rate=Decimal("10"))],
                             contract=make_contract(jp))
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    dispute = open_dispute(org, invoice.pk, question="Too much?", now=at(date(2026, 3, 12)))
    with pytest.raises(ValueOutOfRange, match="more decimals than JPY allows"):
        resolve_dispute(org, dispute.pk, answer="Agreed.", credit_amount="550.50", now=at(date(2026, 3, 13)))
    note = resolve_dispute(org, dispute.pk, answer="Agreed.", credit_amount="550", now=at(date(2026, 3, 13))).credit_note
    assert (note.tax_exclusive_minor, note.tax_total_minor, note.total_minor) == (500, 50, 550)


# --- admin --------------------------------------------------------------------------------------------
def test_the_admin_answer_form_credits_an_amount_and_shows_a_refusal_next_to_the_field(bookkeeper, org, disputed,
                                                                                         monkeypatch):
    from duly.collections.admin import DisputeAdmin

    monkeypatch.setattr(DisputeAdmin, "clock", staticmethod(lambda: at(date(2026, 3, 13))))
    url = reverse("admin:collections_dispute_resolve", args=[disputed.pk])
    page = bookkeeper.get(url).content.decode()
    assert "Or credit an amount (EUR)" in page and "open: 1000.00 EUR" in page

    for amount, words in (("1000.01", "The credit (1000.01 EUR) is more than what is open on"),
                          ("10.005", "10.005 has more decimals than EUR allows"),
                          ("-5", "The amount must be above 0"),
                          ("0.03", "the nearest amounts are 0.02 or 0.04")):
        resp = bookkeeper.post(url, {"answer": "Agreed.", "credit_amount": amount})
        assert resp.status_code == 200, amount  # the form again, with the reason
        assert words in resp.content.decode(), amount
        assert resp.context["form"].errors["credit_amount"], amount
        assert _unchanged(disputed)
    resp = bookkeeper.post(url, {"answer": "Agreed.", "credit_amount": "100.00", "credit_note": "on"})
    assert resp.status_code == 200 and "Credit the whole invoice or an amount, not both." in resp.content.decode()
    assert _unchanged(disputed)

    resp = bookkeeper.post(url, {"answer": "Two hours credited.", "credit_amount": "300.00"})
    assert resp.status_code == 302
    disputed.refresh_from_db()
    assert disputed.status == Dispute.RESOLVED and disputed.credit_note.total_minor == 30000
    assert disputed.credit_note.lines.get().description.endswith(": Two hours credited.")


# --- CLI ----------------------------------------------------------------------------------------------
def test_the_cli_credits_an_amount_and_refuses_more_than_is_open(org, disputed):
    too_much = CliRunner().invoke(main, ["collections", "dispute", "resolve", str(disputed.pk),
                                         "--answer", "Agreed.", "--credit-amount", "5000"])
    assert too_much.exit_code == 2
    assert too_much.stderr.startswith("error: The credit (5000 EUR) is more than what is open on ")
    assert too_much.stderr.endswith("(1000.00 EUR). [credit_exceeds_open_amount]\n")
    assert _unchanged(disputed)
    inexact = CliRunner().invoke(main, ["collections", "dispute", "resolve", str(disputed.pk),
                                        "--answer", "Agreed.", "--credit-amount", "0.03"])
    assert inexact.exit_code == 2 and "[credit_amount_not_exact]" in inexact.stderr
    assert _unchanged(disputed)

    done = CliRunner().invoke(main, ["collections", "dispute", "resolve", str(disputed.pk),
                                     "--answer", "Two hours credited.", "--credit-amount", "300.00"])
    assert done.exit_code == 0, done.output
    disputed.refresh_from_db()
    note = disputed.credit_note
    assert done.stdout == f"Query #{disputed.pk} answered; credit note {note.number} (300.00 EUR).\n"
    assert note.total_minor == 30000 and Invoice.objects.get(pk=disputed.invoice_id).balance_minor == 70000
