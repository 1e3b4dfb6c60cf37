"""A customer with a Peppol address gets only documents an access point accepts: issuing runs the
invoice's UBL through the CEN and OpenPeppol BIS Billing 3.0 rules and refuses, naming the rule, what
would fail (domain error ``peppol_invalid``); nothing is written and the number is not used."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from duly.customers.services import create_organization, update_organization
from duly.domain.errors import PeppolInvalid
from duly.invoicing import services
from duly.invoicing.documents import document_bytes
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.models import Invoice

L = services.LineData
ON = date(2026, 3, 31)
GLN = {"electronic_address_scheme": "0088", "electronic_address": "5790000435968"}


def _draft(org, make_customer, make_contract, **draft_fields):
    customer = make_customer(organization=org, name="Globex Procurement SA", tax_id="FR61954506077", **GLN)
    contract = make_contract(customer)
    return services.create_draft(org, customer, [L("Consulting", D("10"), D("95"), unit="HUR", tax_rate=D("20"))],
                                 contract=contract, **draft_fields)


def _nothing_issued(org, draft):
    draft.refresh_from_db()
    assert draft.status == Invoice.DRAFT and not draft.number
    assert not Invoice.objects.filter(organization=org).exclude(status=Invoice.DRAFT).exists()


def test_a_seller_without_a_peppol_address_cannot_issue_to_a_peppol_customer(org, make_customer, make_contract,
                                                                             doc_settings):
    draft = _draft(org, make_customer, make_contract, po_number="PO-1")
    with pytest.raises(PeppolInvalid) as refused:
        services.issue_invoice(org, draft.pk, issue_date=ON)
    assert refused.value.code == "peppol_invalid"
    assert refused.value.context["rule_ids"] == ["PEPPOL-EN16931-R020"]
    assert "rule PEPPOL-EN16931-R020: seller electronic address (BT-34) is missing" in refused.value.message
    _nothing_issued(org, draft)
    # with its SIREN as its Peppol address (and as its registration id, BT-30, which the French reform's BR-FR-10
    # wants on a French seller's invoice to a French business), the same draft is issued as a valid Peppol document
    update_organization(org, electronic_address_scheme="0002", electronic_address="303265045",
                        registration_id="303 265 045")
    invoice = services.issue_invoice(org, draft.pk, issue_date=ON)
    assert invoice.number == "INV-2026-00001"  # the refused attempt used no number
    ubl = document_bytes(invoice, "ubl").content
    assert b'<cbc:EndpointID schemeID="0088">5790000435968</cbc:EndpointID>' in ubl
    assert b'<cbc:EndpointID schemeID="0002">303265045</cbc:EndpointID>' in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "peppol", "duly")) == []


def test_a_dutch_seller_without_a_kvk_number_is_refused_by_the_peppol_schematron(make_customer, make_contract,
                                                                                 doc_settings):
    """NL-R-003 (fatal, Peppol only): a Dutch supplier's legal entity identifier is its KvK (0106) or OIN
    (0190) number. The CEN rules accept a registration id in another form; the Peppol stylesheet refuses
    it, and issuing says so. An 8-digit KvK number is stated with scheme 0106 and the invoice is issued."""
    dutch = create_organization(name="Tulp Ontwerp BV", slug="tulp", country="NL", default_currency="EUR",
                                address_line1="Keizersgracht 1", postcode="1015 CJ", city="Amsterdam",
                                vat_id="NL004495445B01", registration_id="Handelsregister Amsterdam 3412",
                                iban="NL91ABNA0417164300", locale="nl_NL", timezone="Europe/Amsterdam",
                                electronic_address_scheme="9944", electronic_address="NL004495445B01")
    draft = _draft(dutch, make_customer, make_contract, po_number="PO-7")
    with pytest.raises(PeppolInvalid) as refused:
        services.issue_invoice(dutch, draft.pk, issue_date=ON)
    assert refused.value.code == "peppol_invalid" and refused.value.context["rule_ids"] == ["NL-R-003"]
    assert refused.value.message == (
        "Globex Procurement SA receives e-invoices through Peppol, and this invoice would break Peppol BIS Billing "
        "3.0 rule NL-R-003: For suppliers in the Netherlands, the legal entity identifier MUST be either a KVK or "
        "OIN number (schemeID 0106 or 0190). Nothing was issued.")
    _nothing_issued(dutch, draft)
    update_organization(dutch, registration_id="3412 3456")  # its KvK number
    ubl = document_bytes(services.issue_invoice(dutch, draft.pk, issue_date=ON), "ubl").content
    assert b'<cbc:CompanyID schemeID="0106">34123456</cbc:CompanyID>' in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "peppol", "duly")) == []


def test_a_customer_without_a_peppol_address_gets_a_bare_en16931_ubl_with_the_email_only_as_contact(
        org, make_customer, make_contract, doc_settings):
    customer = make_customer(name="Globex Procurement SA", tax_id="FR61954506077")
    draft = services.create_draft(org, customer, [L("Consulting", D("1"), D("95"), tax_rate=D("20"))],
                                  contract=make_contract(customer), po_number="PO-2")
    ubl = document_bytes(services.issue_invoice(org, draft.pk, issue_date=ON), "ubl").content
    assert b"EndpointID" not in ubl
    assert b'schemeID="EM"' not in ubl and b"<cbc:ElectronicMail>ap" in ubl
    assert b"<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>" in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "duly")) == []
