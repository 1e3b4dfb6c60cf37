"""The French e-invoicing reform fields (issue 15, part 2: "the BR-FR fields"): the billing framework (BT-23,
cadre de facturation, BR-FR-08) and the PMT, PMD and AAB notes (BR-FR-05) of a French seller's e-invoices,
checked with the FNFE-MPE BR-FR rules vendored in ``duly/invoicing/einvoice/data/fnfe-br-fr-1.4.0``."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from lxml import etree

from duly.customers.services import update_organization
from duly.invoicing import services
from duly.invoicing.documents import document_bytes, mentions
from duly.invoicing.documents.adapter import build_document
from duly.invoicing.einvoice.model import Standard
from duly.invoicing.einvoice.ubl import render_ubl
from duly.invoicing.einvoice.validate import (validate_br_fr, validate_einvoice, validate_facturx_profile,
                                              validate_peppol)
from duly.invoicing.models import Invoice
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP

from .conftest import ISSUE_DATE
from .test_mentions import FRENCH_RATES, _issue

L = services.LineData
PMT = "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00\u00a0€."
PMD = "Pénalités de retard : 12\u00a0% par an à compter du lendemain de la date d’échéance."
AAB = "Pas d’escompte pour paiement anticipé."


@pytest.fixture
def reform_seller(org):
    """A French seller registered for the reform: SIREN, and a SIRET as its electronic address (BT-34)."""
    return update_organization(org, registration_id="RCS Paris 303 265 045", legal_form="SARL",
                               share_capital_minor=1_000_000, registry_city="Paris", supply_kind="services",
                               electronic_address_scheme="0009", electronic_address="30326504500011")


@pytest.fixture
def french_business(make_customer):
    return make_customer(name="Globex SA", tax_id="FR61954506077", locale="fr_FR",
                         electronic_address_scheme="0002", electronic_address="954506077")


def _invoice(seller, customer, make_contract, lines=FRENCH_RATES):
    contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                             late_rate_percent=D("12"))
    return _issue(seller, customer, contract, lines)


def test_french_cii_carries_the_billing_framework_and_the_coded_notes_and_passes_br_fr(
        reform_seller, french_business, make_contract, doc_settings):
    invoice = _invoice(reform_seller, french_business, make_contract)
    cii = document_bytes(invoice, "cii").content
    tree = etree.fromstring(cii)
    assert tree.xpath("rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
                      "/text()", namespaces=CII_NSMAP) == ["S1"]
    notes = {n.findtext("ram:SubjectCode", namespaces=CII_NSMAP): n.findtext("ram:Content", namespaces=CII_NSMAP)
             for n in tree.xpath("rsm:ExchangedDocument/ram:IncludedNote", namespaces=CII_NSMAP)}
    assert notes == {"PMT": PMT, "PMD": PMD, "AAB": AAB}
    assert validate_einvoice(cii, layers=("xsd", "en16931", "br-fr", "duly")) == []
    assert validate_facturx_profile(cii) == []


def test_french_ubl_under_the_french_cius_passes_br_fr(reform_seller, french_business, make_contract, doc_settings):
    invoice = _invoice(reform_seller, french_business, make_contract)
    ubl = render_ubl(build_document(invoice), standard=Standard.EN16931)
    tree = etree.fromstring(ubl)
    assert tree.xpath("cbc:ProfileID/text()", namespaces=UBL_NSMAP) == ["S1"]
    assert tree.xpath("cbc:Note/text()", namespaces=UBL_NSMAP) == [f"#PMT#{PMT}", f"#PMD#{PMD}", f"#AAB#{AAB}"]
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "br-fr", "duly")) == []


def test_the_peppol_ubl_keeps_the_coded_notes_but_cannot_carry_bt23(reform_seller, french_business, make_contract,
                                                                    doc_settings):
    """Peppol BIS fixes ProfileID (PEPPOL-EN16931-R007) and allows one note (R002): the stored UBL of a customer
    with a Peppol address joins the coded notes in one note, and only BR-FR-08 (BT-23) fails."""
    ubl = document_bytes(_invoice(reform_seller, french_business, make_contract), "ubl").content
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:01:1.0" in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "peppol", "duly")) == []
    (note,) = etree.fromstring(ubl).xpath("cbc:Note/text()", namespaces=UBL_NSMAP)
    assert note == f"#PMT#{PMT}\n\n#PMD#{PMD}\n\n#AAB#{AAB}"
    assert {v.rule_id for v in validate_br_fr(ubl)} == {"BR-FR-08_BT-23"}


def test_a_french_credit_note_carries_the_notes_too_and_a_consumer_invoice_none(
        reform_seller, french_business, make_customer, make_contract, doc_settings):
    invoice = _invoice(reform_seller, french_business, make_contract)
    note = services.create_credit_note(reform_seller, invoice.pk, reason="Erreur de quantité")
    credit = note if note.status != note.DRAFT else services.issue_invoice(reform_seller, note.pk,
                                                                           issue_date=ISSUE_DATE)
    cii = document_bytes(credit, "cii").content
    codes = etree.fromstring(cii).xpath("//ram:IncludedNote/ram:SubjectCode/text()", namespaces=CII_NSMAP)
    assert codes == ["PMT", "PMD", "AAB"]
    assert validate_einvoice(cii, layers=("xsd", "en16931", "br-fr")) == []
    consumer = make_customer(name="Julien Moreau", tax_id="", locale="fr_FR")
    doc = build_document(_invoice(reform_seller, consumer, make_contract, FRENCH_RATES[:1]))
    assert doc.coded_notes == () and doc.business_process == "S1"


@pytest.mark.parametrize(("kind", "after_down_payment", "paid", "code"), [
    ("services", False, False, "S1"), ("goods", False, False, "B1"), ("mixed", False, False, "M1"),
    ("services", True, False, "S4"), ("goods", True, True, "B4"), ("mixed", False, True, "M2"),
])
def test_billing_framework_code(kind, after_down_payment, paid, code):
    assert mentions.french_billing_mode(kind, after_down_payment=after_down_payment, paid_at_issue=paid) == code


def test_a_goods_seller_invoice_reads_b1(
        reform_seller, french_business, make_contract, doc_settings):
    update_organization(reform_seller, supply_kind="goods")
    doc = build_document(_invoice(reform_seller, french_business, make_contract))
    assert doc.business_process == "B1"


def test_bt23_in_the_peppol_ubl_is_a_true_conflict_which_peppol_wins(reform_seller, french_business, make_contract,
                                                                     doc_settings):
    """UBL has one ProfileID (0..1 in the UBL 2.1 schema), and the two rule sets want different values in it:
    PEPPOL-EN16931-R007 (fatal) "Business process MUST be in the format 'urn:fdc:peppol.eu:2017:poacc:billing:NN:1.0'"
    and BR-FR-08_BT-23 (fatal) "La valeur du cadre de facturation est absente ou n'est pas autorisée. Valeurs
    acceptées : B1, S1, M1, …". No value meets both: whichever one the document carries, the other rule set fails
    on that field only. In the Peppol BIS profile Peppol wins (an access point rejects R007); BT-23 travels in the
    CII / Factur-X and the French CIUS UBL, which pass BR-FR, and issuing checks BR-FR on the CII."""
    ubl = document_bytes(_invoice(reform_seller, french_business, make_contract), "ubl").content
    peppol_id = b"<cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>"
    assert peppol_id in ubl
    assert validate_peppol(ubl) == [] and {v.rule_id for v in validate_br_fr(ubl)} == {"BR-FR-08_BT-23"}
    french = ubl.replace(peppol_id, b"<cbc:ProfileID>S1</cbc:ProfileID>")
    assert validate_br_fr(french) == []
    assert {v.rule_id for v in validate_peppol(french)} == {"PEPPOL-EN16931-R007"}


def test_issuing_to_a_french_business_with_an_electronic_address_is_refused_when_br_fr_fails(
        reform_seller, french_business, make_customer, make_contract, doc_settings):
    """The reform's scope (a French seller, a business buyer with an electronic address): issuing checks the BR-FR
    rules and refuses, naming the rule with its message (code ``br_fr_invalid``); nothing is written and the number
    is given back. 19 % is no French VAT rate (BR-FR-16); CEN and Peppol accept it."""
    from duly.domain.errors import BrFrInvalid

    contract = make_contract(french_business, terms_kind="net", terms_days=30)
    draft = services.create_draft(reform_seller, french_business, [L("Conseil", D("1"), D("100.00"),
                                                                      tax_rate=D("19"))], contract=contract)
    with pytest.raises(BrFrInvalid) as refused:
        services.issue_invoice(reform_seller, draft.pk, issue_date=ISSUE_DATE)
    error = refused.value
    assert error.code == "br_fr_invalid"
    assert [r for r in error.context["rule_ids"] if r.startswith("BR-FR-16")] == error.context["rule_ids"]
    assert error.message.startswith("Globex SA is a French business with an electronic address, and this invoice "
                                    f"would break the French e-invoicing rule {error.context['rule_ids'][0]}")
    assert "19" in error.message and error.message.endswith("Nothing was issued.")
    draft.refresh_from_db()
    assert draft.status == Invoice.DRAFT and not draft.number
    assert not Invoice.objects.filter(organization=reform_seller).exclude(status=Invoice.DRAFT).exists()
    # a French rate is issued to the business, with the first number (the refused attempt used none); outside the
    # reform's scope (a consumer, no electronic address) the 19 % invoice is issued too
    invoice = _issue(reform_seller, french_business, contract, FRENCH_RATES[:1])
    assert invoice.number == "INV-2026-00001"
    consumer = make_customer(name="Julien Moreau", tax_id="", locale="fr_FR")
    issued = _issue(reform_seller, consumer, make_contract(consumer), [L("Conseil", D("1"), D("100.00"),
                                                                         tax_rate=D("19"))])
    assert issued.number == "INV-2026-00002"


def test_a_contract_may_override_the_billing_framework_letter(reform_seller, french_business, make_customer,
                                                              make_contract, doc_settings):
    """BT-23's letter is the organization's "what you sell" unless a contract says what it sells: a services seller's
    goods contract invoices as B1, its other contracts as S1; the CII still passes BR-FR."""
    from duly.customers.services import update_contract

    goods = make_contract(french_business, terms_kind="net", terms_days=30, supply_kind="goods")
    invoice = _issue(reform_seller, french_business, goods, FRENCH_RATES[:1])
    assert build_document(invoice).business_process == "B1"
    cii = document_bytes(invoice, "cii").content
    assert validate_einvoice(cii, layers=("xsd", "en16931", "br-fr", "duly")) == []
    other = make_customer(name="Initech SARL", tax_id="FR61954506077", locale="fr_FR")
    assert build_document(_issue(reform_seller, other, make_contract(other), FRENCH_RATES[:1])).business_process == "S1"
    update_contract(goods, supply_kind="")  # blank again: the organization's letter
    goods.refresh_from_db()
    assert build_document(_issue(reform_seller, french_business, goods, FRENCH_RATES[:1])).business_process == "S1"
    from duly.domain.errors import ValidationError

    with pytest.raises(ValidationError):  # not a kind of supply
        update_contract(goods, supply_kind="software")


def test_in_the_reform_bt30_is_the_siren_of_the_vat_number_and_attachments_carry_a_reform_code(
        org, french_business, make_contract, doc_settings):
    """A French seller with no registration id states the SIREN its VAT number contains as BT-30 (BR-FR-10), and an
    attachment's free description becomes the reform's code DOCUMENT_ANNEXE (BR-FR-17): the invoice is issued and
    its CII passes BR-FR."""
    seller = update_organization(org, electronic_address_scheme="0009", electronic_address="30326504500011")
    assert seller.registration_id == ""
    contract = make_contract(french_business, terms_kind="net", terms_days=30)
    draft = services.create_draft(seller, french_business, FRENCH_RATES[:1], contract=contract)
    services.add_attachment(seller, draft.pk, "releve-heures.csv", b"date,heures\n2026-03-02,3.5\n",
                            description="Relevé d'heures de mars", content_type="text/csv")
    invoice = services.issue_invoice(seller, draft.pk, issue_date=ISSUE_DATE)
    cii = document_bytes(invoice, "cii").content
    assert validate_einvoice(cii, layers=("xsd", "en16931", "br-fr", "duly")) == []
    tree = etree.fromstring(cii)
    seller_path = "//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID"
    assert [(e.text, e.get("schemeID")) for e in tree.xpath(seller_path, namespaces=CII_NSMAP)] == [
        ("303265045", "0002")]
    assert tree.xpath("//ram:AdditionalReferencedDocument/ram:Name/text()", namespaces=CII_NSMAP) == [
        "DOCUMENT_ANNEXE"]
