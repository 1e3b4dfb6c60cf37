"""The billing run's bulk path refuses, as issuing one invoice does, an invoice a Peppol access point would
reject: only the invoices of customers with a Peppol address are checked; a refused one is not issued (its
customer is left out of the run, the Peppol rule named in the result) and the others are billed, with no gap
in the numbers."""

from __future__ import annotations

from datetime import date

import pytest

from duly.billing import services
from duly.billing.models import BillingRecord, Subscription
from duly.customers.services import update_organization
from duly.invoicing import bulk
from duly.invoicing.documents import document_bytes
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.models import Invoice

GLN = {"electronic_address_scheme": "0088", "electronic_address": "5790000435968"}


@pytest.fixture
def peppol_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DULY_PUBLIC_URL = "https://pay.duly.test"
    return settings


@pytest.mark.django_db
def test_a_peppol_customer_whose_invoice_breaks_the_rules_is_left_out_with_the_rule_named(
        org, make_customer, make_contract, catalog, bill, peppol_settings):
    peppol = make_customer("GLOBEX", name="Globex Procurement SA", tax_id="FR61954506077", **GLN)
    plain = [make_customer(f"PLAIN{i}", name=f"Plain {i} SARL") for i in range(3)]
    for c in (peppol, *plain):
        make_contract(c)
        services.create_subscription(org, c, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))

    # The seller has no Peppol address of its own: the Globex invoice would break PEPPOL-EN16931-R020.
    result = bill(date(2026, 1, 1))
    assert result.invoices == 3 and result.numbers == ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]
    [(code, reason)] = result.skipped
    assert code == "GLOBEX"
    assert "Peppol BIS Billing 3.0 rule PEPPOL-EN16931-R020: seller electronic address (BT-34) is missing" in reason
    assert {"customer": "GLOBEX", "reason": reason} in result.as_dict()["skipped"]
    assert not Invoice.objects.filter(customer=peppol).exists()  # nothing issued, no number used
    assert Subscription.objects.get(customer=peppol).next_bill_on == date(2026, 1, 1)  # still due
    assert not BillingRecord.objects.filter(subscription__customer=peppol).exists()
    assert Invoice.objects.filter(customer__in=plain).count() == 3

    # Fixed (the seller's SIREN as its Peppol address, and as its registration id: the French reform's BR-FR-10
    # wants a French seller's SIREN, BT-30, on its invoices to a French business), the next run bills Globex with a
    # valid Peppol UBL.
    update_organization(org, electronic_address_scheme="0002", electronic_address="303265045",
                        registration_id="303 265 045")
    org.refresh_from_db()  # the instance the run is given
    again = bill(date(2026, 1, 2))
    assert again.skipped == [], again.skipped
    assert (again.invoices, again.numbers) == (1, ["INV-2026-00004"])
    ubl = document_bytes(Invoice.objects.get(customer=peppol), "ubl").content
    assert b'<cbc:EndpointID schemeID="0088">5790000435968</cbc:EndpointID>' in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "peppol", "duly")) == []


@pytest.mark.django_db
def test_only_the_invoices_of_peppol_customers_are_checked(org, make_customer, make_contract, catalog, bill,
                                                           peppol_settings, monkeypatch):
    """Throughput: a block is read once to find its Peppol customers, and only their invoices are rendered."""
    from duly.invoicing.documents import store

    update_organization(org, electronic_address_scheme="0002", electronic_address="303265045",
                        registration_id="303 265 045")  # its SIREN (BT-30): the French reform's BR-FR-10
    org.refresh_from_db()  # the instance the run is given
    peppol = make_customer("GLOBEX", name="Globex Procurement SA", tax_id="FR61954506077", **GLN)
    for c in (peppol, *[make_customer(f"PLAIN{i}") for i in range(4)]):
        make_contract(c)
        services.create_subscription(org, c, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    checked = []
    real = store.check_peppol
    monkeypatch.setattr(store, "check_peppol", lambda invoice: checked.append(invoice.customer_id) or real(invoice))
    result = bill(date(2026, 1, 1))
    assert (result.invoices, result.skipped) == (5, [])
    assert checked == [peppol.pk]


@pytest.mark.django_db
def test_issue_prepared_refuses_the_block_naming_the_peppol_customers(org, make_customer, make_contract,
                                                                      peppol_settings):
    from decimal import Decimal as D

    from django.db import transaction

    from duly.invoicing.services import LineData

    peppol = make_customer("GLOBEX", name="Globex Procurement SA", tax_id="FR61954506077", **GLN)
    contract = make_contract(peppol)
    item = bulk.BulkInvoice(customer=peppol, contract=contract,
                            lines=[LineData("Consulting", D("10"), D("95"), unit="HUR", tax_rate=D("20"))])
    prepared = bulk.prepare(org, item, issue_date=date(2026, 3, 31))
    with pytest.raises(bulk.PeppolRefused) as refused:
        with transaction.atomic():
            bulk.issue_prepared(org, [prepared], issue_date=date(2026, 3, 31))
    assert refused.value.code == "peppol_invalid" and refused.value.context["rule_ids"] == ["PEPPOL-EN16931-R020"]
    assert list(refused.value.refused) == [peppol.pk]
    assert not Invoice.objects.filter(organization=org).exists()


@pytest.mark.django_db
def test_a_french_business_whose_invoice_breaks_br_fr_is_left_out_with_the_rule_named(
        org, make_customer, make_contract, catalog, bill, peppol_settings):
    """The French reform's scope (a French seller, a French business buyer with an electronic address): the run
    checks the BR-FR rules as issuing one invoice does. 19 % is no French VAT rate (BR-FR-16; CEN and Peppol accept
    it): that client is left out, the rule named, the others billed, the period still due."""
    from decimal import Decimal

    update_organization(org, electronic_address_scheme="0002", electronic_address="303265045")
    org.refresh_from_db()
    odd = services.create_product(org, code="ODD", name="Odd rate", tax_category="S", tax_rate=Decimal("19"))
    odd_price = services.create_price(org, odd, code="odd", currency="EUR",
                                      model_config={"model": "flat", "amount": "100.00"})
    globex = make_customer("GLOBEX", name="Globex Procurement SA", tax_id="FR61954506077", **GLN)
    plain = make_customer("PLAIN", name="Plain SARL")
    for c, price in ((globex, odd_price), (plain, odd_price)):
        make_contract(c)
        services.create_subscription(org, c, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    result = bill(date(2026, 1, 1))
    assert (result.invoices, result.numbers) == (1, ["INV-2026-00001"])  # the consumer: outside the reform
    [(code, reason)] = result.skipped
    assert code == "GLOBEX" and "French e-invoicing rule BR-FR-16" in reason and reason.endswith("Nothing was issued.")
    assert not Invoice.objects.filter(customer=globex).exists()
    assert Subscription.objects.get(customer=globex).next_bill_on == date(2026, 1, 1)  # still due
