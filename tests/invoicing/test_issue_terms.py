"""Issuing: the terms in words on every invoice, the customer's status at issue, and issuing several at once."""

from datetime import date
from decimal import Decimal

import pytest

from duly.customers.services import update_customer
from duly.domain.errors import CustomerNotActive, InvoiceNotDraft, RequiredFieldMissing
from duly.invoicing import services
from duly.invoicing.models import Invoice, SeriesCounter

L = services.LineData


def draft_for(org, customer, contract=None, amount="100"):
    return services.create_draft(org, customer, [L("Consulting", Decimal(1), Decimal(amount))], contract=contract)


def test_eu_statutory_terms_state_the_actual_rate_and_the_fixed_compensation(org, customer, make_contract):
    # ECB reference rate 2.15 % + 8 points = 10.15 % per year; EUR 40 fixed compensation per invoice
    ctr = make_contract(customer, reference="CTR-EU", late_fee_kind="eu_statutory",
                        reference_rate_percent=Decimal("2.15"))
    inv = services.issue_invoice(org, draft_for(org, customer, ctr).pk, issue_date=date(2026, 3, 31))
    assert inv.payment_terms_text == "Paiement au plus tard le 30 avril 2026 (30 jours net)."  # in French
    assert inv.late_terms_text == (  # in French too (issue 15), the numbers in the French way
        "En cas de retard de paiement : intérêts au taux de 10,15\xa0% par an (taux de refinancement de la BCE "
        "2,15\xa0% + 8 points) à compter de la date d'échéance, plus une indemnité forfaitaire pour frais de "
        "recouvrement de 40,00\xa0€."
    )


def test_interest_and_fixed_fee_terms_in_words(org, customer, contract):
    # the shared contract: 12 % per year simple interest and a EUR 40.00 fixed fee
    inv = services.issue_invoice(org, draft_for(org, customer, contract).pk, issue_date=date(2026, 1, 31))
    assert inv.payment_terms_text == "Paiement au plus tard le 2 mars 2026 (30 jours net)."  # in French
    assert inv.late_terms_text == (  # in French too
        "En cas de retard de paiement : intérêts au taux de 12\xa0% par an à compter de la date d'échéance, plus des "
        "frais fixes de 40,00\xa0€.")


def test_an_invoice_without_contract_says_no_late_charges_apply(org, customer):
    inv = services.issue_invoice(org, draft_for(org, customer).pk, issue_date=date(2026, 3, 31))
    assert inv.contract is None
    assert inv.payment_terms_text == "Paiement au plus tard le 30 avril 2026 (30 jours net)."  # in French
    assert inv.late_terms_text == "Aucune pénalité de retard."  # in French too


def test_a_customer_terminated_after_the_draft_was_created_cannot_be_invoiced(org, customer, contract):
    draft = draft_for(org, customer, contract)
    update_customer(customer, status="terminated")
    with pytest.raises(CustomerNotActive, match="Acme Industries SAS is terminated"):
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.issue_date, draft.due_date) == (Invoice.DRAFT, None, None, None)
    assert not SeriesCounter.objects.exists()  # no number was taken


def test_issue_invoices_is_all_or_nothing(org, customer, contract, make_customer, make_contract):
    strict = make_customer("PO", name="Globex SA", required_fields=["po_number"])
    good_1, bad, good_2 = draft_for(org, customer, contract), draft_for(org, strict, make_contract(strict)), \
        draft_for(org, customer, contract)
    with pytest.raises(RequiredFieldMissing) as err:
        services.issue_invoices(org, [good_1.pk, bad.pk, good_2.pk], issue_date=date(2026, 3, 1))
    assert f"invoice {bad.pk}:" in err.value.message and "Globex SA" in err.value.message
    assert "Nothing was issued" in err.value.message
    assert set(Invoice.objects.values_list("status", flat=True)) == {Invoice.DRAFT}
    issued = services.issue_invoices(org, [good_2.pk, good_1.pk], issue_date=date(2026, 3, 1))
    assert [i.number for i in issued] == ["INV-2026-00001", "INV-2026-00002"]  # in the order given, gapless
    assert issued[0].pk == good_2.pk
    with pytest.raises(InvoiceNotDraft):
        services.issue_invoices(org, [good_1.pk], issue_date=date(2026, 3, 2))
