"""The billing run (the bulk issuing path) freezes how each invoice will be paid, as issuing one invoice does."""

from __future__ import annotations

from datetime import date

import pytest

from duly.billing import services
from duly.invoicing.models import Invoice
from duly.payments import sepa_services as sepa


@pytest.mark.django_db
def test_the_billing_run_states_the_direct_debit_of_a_mandate_customer_and_the_transfer_of_others(
        org, customer, make_customer, make_contract, catalog, bill):
    sepa.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    make_contract(customer, terms_kind="net", terms_days=30, sepa_prenotification_days=10)
    sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2025, 12, 1),
                        debtor_name="Acme Industries SAS", iban="DE89370400440532013000")
    other = make_customer("ZETA", name="Zeta SA", preferred_payment_method="sepa_debit")  # no mandate
    make_contract(other, terms_kind="net", terms_days=30)
    for who in (customer, other):
        services.create_subscription(org, who, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    bill(date(2026, 1, 1))
    acme = Invoice.objects.get(customer=customer)
    assert acme.document_snapshot["payment"] == {
        "method": "sepa_debit", "mandate_reference": "ACME-MANDATE-1", "creditor_id": "DE98ZZZ09999999999",
        "debtor_iban": "DE89370400440532013000", "debit_date": "2026-02-02", "notice_days": 10,
        "notified_on": "2026-01-01"}  # due Saturday 31 January: the next TARGET day
    zeta = Invoice.objects.get(customer=other)
    assert zeta.document_snapshot["payment"] == {"method": "bank_transfer", "fallback": "no mandate"}
