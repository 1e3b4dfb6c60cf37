"""Every invoice describes the method that will actually pay it, on the PDF and in its UBL and CII.

Card autopay: the card and the day it is charged, payment means 48 with the last four digits (BT-87).
SEPA direct debit: the pre-notification (mandate reference, creditor identifier, debited account, amount and debit
date), no transfer QR code, payment means 59 with BT-89, BT-90 and BT-91. Otherwise a transfer: IBAN, RF reference
and QR code, payment means 58. Each XML passes the official EN 16931 rules (CEN Schematron, XSD, Duly's own).
"""

from __future__ import annotations

import io
import sys
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from duly.domain.references import format_rf
from duly.invoicing import services
from duly.invoicing.documents import build_printable, document_bytes
from duly.invoicing.einvoice.validate import validate_einvoice, validate_facturx_profile
from duly.invoicing.einvoice.xmlutil import UBL_NSMAP
from duly.invoicing.pdf import render_invoice_pdf
from duly.payments import sepa_services as sepa
from duly.payments.models import SavedPaymentMethod

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

ISSUED = date(2026, 3, 31)  # net 30: due Thursday 30 April 2026
CREDITOR_ID = "DE98ZZZ09999999999"
DEBTOR_IBAN = "DE89370400440532013000"
KEY = "sk_test_duly"
CII_NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
          "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"}


def draft_for(org, make_customer, make_contract, *, preferred, locale="en_GB", terms_days=30, currency="EUR",
              **contract_fields):
    customer = make_customer(name="Globex Procurement SA", locale=locale, preferred_payment_method=preferred,
                             currency=currency)
    contract = make_contract(customer, terms_kind="net", terms_days=terms_days, currency=currency,
                             **contract_fields)
    return services.create_draft(org, customer, [services.LineData("Design work", D(10), D("100.00"),
                                                                   tax_rate=D("20"))], contract=contract)


def issue(org, draft, on=ISSUED):
    return services.issue_invoice(org, draft.pk, issue_date=on)


def images(pdf: bytes) -> list:
    return [img for page in PdfReader(io.BytesIO(pdf)).pages for img in page.images]


def assert_valid(xml: bytes) -> etree._Element:
    assert validate_einvoice(xml) == []
    return etree.fromstring(xml)


def cii_of(invoice) -> etree._Element:
    return assert_valid(document_bytes(invoice, "cii").content)


@pytest.fixture
def debit_customer(org, make_customer, make_contract, doc_settings):
    """A draft of a customer who pays by SEPA direct debit: creditor identifier and a signed mandate."""
    sepa.configure_creditor(org, creditor_id=CREDITOR_ID)

    def make(**kw):
        draft = draft_for(org, make_customer, make_contract, preferred="sepa_debit", **kw)
        sepa.create_mandate(org, draft.customer, reference=f"GLOBEX-M-{draft.customer.pk}",
                            signed_on=date(2026, 1, 10), signed_at="Lyon", debtor_name="Globex Procurement SA",
                            iban=DEBTOR_IBAN)
        return draft

    return make


# --- SEPA direct debit ----------------------------------------------------------------------------------------

def test_a_direct_debit_invoice_is_the_pre_notification_and_shows_no_transfer_qr(org, debit_customer, pdf_text):
    draft = debit_customer()
    invoice = issue(org, draft)
    mandate = f"GLOBEX-M-{draft.customer.pk}"
    payment = invoice.document_snapshot["payment"]
    assert payment == {"method": "sepa_debit", "mandate_reference": mandate, "creditor_id": CREDITOR_ID,
                       "debtor_iban": DEBTOR_IBAN, "debit_date": "2026-04-30", "notice_days": 14,
                       "notified_on": "2026-03-31"}
    [option] = build_printable(invoice).payment_options
    assert (option.method, option.pay_date, option.amount) == ("sepa_debit", date(2026, 4, 30), D("1200.00"))

    pdf = render_invoice_pdf(invoice)
    text = pdf_text(pdf)
    assert "€1,200.00 will be debited from your account by SEPA direct debit on 30 April 2026." in text
    assert f"Mandate reference {mandate}" in text and f"Creditor identifier {CREDITOR_ID}" in text
    assert "Debited account DE89 •••• 3000" in text and "Debit date 30 April 2026" in text
    assert "This invoice is the pre-notification of the SEPA direct debit by" in text
    assert "Please pay" not in text and "Bank transfer" not in text
    assert images(pdf) == []  # no EPC QR code: nothing to transfer

    ubl = assert_valid(document_bytes(invoice, "ubl").content)
    means = ubl.find("cac:PaymentMeans", UBL_NSMAP)
    assert means.findtext("cbc:PaymentMeansCode", namespaces=UBL_NSMAP) == "59"
    assert means.findtext("cac:PaymentMandate/cbc:ID", namespaces=UBL_NSMAP) == mandate  # BT-89
    assert means.findtext("cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID",
                          namespaces=UBL_NSMAP) == DEBTOR_IBAN  # BT-91
    assert means.find("cac:PayeeFinancialAccount", UBL_NSMAP) is None
    seller_ids = ubl.findall("cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID", UBL_NSMAP)
    assert [(i.text, i.get("schemeID")) for i in seller_ids] == [(CREDITOR_ID, "SEPA")]  # BT-90

    cii = cii_of(invoice)
    settlement = cii.find(".//ram:ApplicableHeaderTradeSettlement", CII_NS)
    assert settlement.findtext("ram:CreditorReferenceID", namespaces=CII_NS) == CREDITOR_ID  # BT-90
    assert settlement.findtext("ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode", namespaces=CII_NS) == "59"
    assert settlement.findtext("ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID",
                               namespaces=CII_NS) == mandate  # BT-89
    assert settlement.findtext("ram:SpecifiedTradeSettlementPaymentMeans/ram:PayerPartyDebtorFinancialAccount/"
                               "ram:IBANID", namespaces=CII_NS) == DEBTOR_IBAN  # BT-91


def test_facturx_of_a_direct_debit_invoice_passes_the_official_rules(org, debit_customer):
    invoice = issue(org, debit_customer())
    reader = PdfReader(io.BytesIO(document_bytes(invoice, "facturx").content))
    xml = reader.attachments["factur-x.xml"][0]
    root = assert_valid(xml)
    assert validate_facturx_profile(xml) == []  # the Factur-X 1.09 EN 16931 profile's own rules too
    assert root.findtext(".//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode", namespaces=CII_NS) == "59"


def test_an_invoice_sent_too_late_for_the_notice_moves_the_debit_to_the_earliest_allowed_date(org, debit_customer):
    # Net 7: due Tuesday 7 April, but the debtor must be told 14 days before: the debit is on Tuesday 14 April.
    invoice = issue(org, debit_customer(terms_days=7))
    assert invoice.due_date == date(2026, 4, 7)
    assert invoice.document_snapshot["payment"]["debit_date"] == "2026-04-14"


def test_a_contract_with_a_shorter_agreed_notice_is_debited_on_the_due_date(org, debit_customer, pdf_text):
    # Five days agreed: told on 31 March, the debit can be on the due date, Tuesday 7 April (after Easter Monday).
    invoice = issue(org, debit_customer(terms_days=7, sepa_prenotification_days=5))
    payment = invoice.document_snapshot["payment"]
    assert (payment["debit_date"], payment["notice_days"]) == ("2026-04-07", 5)
    assert "Debit date 7 April 2026" in pdf_text(render_invoice_pdf(invoice))


def test_the_pre_notification_in_french_names_the_rum_and_the_ics(org, debit_customer, pdf_text):
    invoice = issue(org, debit_customer(locale="fr_FR"))
    text = pdf_text(render_invoice_pdf(invoice))
    assert "1 200,00 € seront prélevés sur votre compte par prélèvement SEPA le 30 avril 2026." in text
    assert "Référence unique du mandat" in text and "Identifiant créancier SEPA" in text
    assert "Cette facture vaut pré-notification du prélèvement SEPA" in text


def test_what_was_stated_at_issue_stays_stated_when_the_mandate_is_revoked_later(org, debit_customer, pdf_text):
    invoice = issue(org, debit_customer())
    mandate = invoice.customer.sepa_mandates.get()
    sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 4, 2))
    invoice.customer.preferred_payment_method = "bank_transfer"
    invoice.customer.save()
    invoice.refresh_from_db()
    assert "will be debited from your account by SEPA direct debit on 30 April 2026" in pdf_text(
        document_bytes(invoice, "pdf").content)


@pytest.mark.parametrize("why", ["no mandate", "no creditor", "revoked", "dollars"])
def test_a_debit_that_cannot_be_made_falls_back_to_a_transfer_with_its_qr_code(org, make_customer, make_contract,
                                                                               doc_settings, pdf_text, why):
    if why != "no creditor":
        sepa.configure_creditor(org, creditor_id=CREDITOR_ID)
    draft = draft_for(org, make_customer, make_contract, preferred="sepa_debit",
                      currency="USD" if why == "dollars" else "EUR")
    if why != "no mandate":
        mandate = sepa.create_mandate(org, draft.customer, reference="GLOBEX-M-1", signed_on=date(2026, 1, 10),
                                      debtor_name="Globex", iban=DEBTOR_IBAN)
        if why == "revoked":
            sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 3, 1))
    invoice = issue(org, draft)
    assert invoice.document_snapshot["payment"]["method"] == "bank_transfer"
    pdf = render_invoice_pdf(invoice)
    text = pdf_text(pdf)
    assert "SEPA direct debit" not in text and org.iban in text and format_rf(invoice.rf_reference) in text
    if invoice.currency == "EUR":
        assert len(images(pdf)) == 1  # the EPC QR code
    ubl = assert_valid(document_bytes(invoice, "ubl").content)
    assert ubl.findtext("cac:PaymentMeans/cbc:PaymentMeansCode", namespaces=UBL_NSMAP) == (
        "58" if invoice.currency == "EUR" else "30")


# --- card autopay ---------------------------------------------------------------------------------------------

@pytest.fixture
def stripe(settings):
    with StripeFake(KEY) as fake:
        fake.point_settings(settings)
        yield fake


def save_card(customer, pm="pm_card_visa", *, client=None):
    from duly.payments.providers.stripe import StripeProvider

    provider = StripeProvider()
    ref = provider.client.v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
    return SavedPaymentMethod.objects.create(organization=customer.organization, customer=customer,
                                             provider="stripe", customer_ref=ref, method_ref=pm, kind="card",
                                             is_default=True)


def test_a_card_autopay_invoice_names_the_card_and_the_charge_date(org, make_customer, make_contract, doc_settings,
                                                                   stripe, pdf_text):
    draft = draft_for(org, make_customer, make_contract, preferred="card", autopay_days_before_due=3)
    save_card(draft.customer)
    invoice = issue(org, draft)
    assert invoice.document_snapshot["payment"] == {"method": "card", "card_brand": "visa", "card_last4": "4242",
                                                    "charge_date": "2026-04-27"}
    pdf = render_invoice_pdf(invoice)
    text = pdf_text(pdf)
    assert "€1,200.00 will be charged to Visa •••• 4242 on 27 April 2026." in text
    assert "Bank transfer" not in text and "Please pay" not in text and images(pdf) == []

    ubl = assert_valid(document_bytes(invoice, "ubl").content)
    means = ubl.find("cac:PaymentMeans", UBL_NSMAP)
    assert means.findtext("cbc:PaymentMeansCode", namespaces=UBL_NSMAP) == "48"
    assert means.findtext("cac:CardAccount/cbc:PrimaryAccountNumberID", namespaces=UBL_NSMAP) == "4242"  # BT-87
    cii = cii_of(invoice)
    assert validate_facturx_profile(document_bytes(invoice, "cii").content) == []
    means = cii.find(".//ram:SpecifiedTradeSettlementPaymentMeans", CII_NS)
    assert means.findtext("ram:TypeCode", namespaces=CII_NS) == "48"
    assert means.findtext("ram:ApplicableTradeSettlementFinancialCard/ram:ID", namespaces=CII_NS) == "4242"


@pytest.mark.parametrize("locale, sentence", [
    ("fr_FR", "1 200,00 € seront débités sur votre carte Visa •••• 4242 le 30 avril 2026."),
    ("de_DE", "1.200,00 € werden am 30. April 2026 von Ihrer Karte Visa •••• 4242 abgebucht."),
    ("es_ES", "Se cargarán 1.200,00 € en su tarjeta Visa •••• 4242 el 30 de abril de 2026."),
    ("ru_RU", "1 200,00 € будут списаны с карты Visa •••• 4242 30 апреля 2026 г."),
])
def test_the_card_sentence_in_every_language_of_the_documents(org, make_customer, make_contract, doc_settings,
                                                             stripe, pdf_text, locale, sentence):
    draft = draft_for(org, make_customer, make_contract, preferred="card", locale=locale)
    save_card(draft.customer)
    assert sentence in pdf_text(render_invoice_pdf(issue(org, draft)))


def test_a_card_the_provider_cannot_describe_is_still_named_as_the_saved_card(org, make_customer, make_contract,
                                                                             doc_settings, pdf_text):
    # Stripe not configured here: the card is charged all the same, the invoice says so without its digits.
    draft = draft_for(org, make_customer, make_contract, preferred="card")
    SavedPaymentMethod.objects.create(organization=org, customer=draft.customer, provider="stripe",
                                      customer_ref="cus_1", method_ref="pm_1", kind="card", is_default=True)
    invoice = issue(org, draft)
    assert "€1,200.00 will be charged to your saved card on 30 April 2026." in pdf_text(render_invoice_pdf(invoice))
    assert validate_einvoice(document_bytes(invoice, "ubl").content) == []


def test_a_card_customer_without_a_saved_card_gets_the_pay_link_and_the_transfer(org, make_customer, make_contract,
                                                                                doc_settings, pdf_text):
    invoice = issue(org, draft_for(org, make_customer, make_contract, preferred="card"))
    assert [o.method for o in build_printable(invoice).payment_options] == ["online", "bank_transfer"]
    text = pdf_text(render_invoice_pdf(invoice))
    assert "will be charged" not in text and "Pay online at:" in text and org.iban in text


# --- letters ----------------------------------------------------------------------------------------------------

def test_a_letter_says_a_debit_still_ahead_will_be_made_and_asks_a_transfer_once_it_failed(org, debit_customer,
                                                                                         pdf_text):
    from duly.invoicing.pdf import render_letter
    from duly.payments.models import DirectDebit

    # Net 7 with 14 days' notice: due 7 April, debited 14 April; a reminder on 10 April must not ask for a transfer.
    invoice = issue(org, debit_customer(terms_days=7))
    mandate = invoice.customer.sepa_mandates.get()
    facts = {"date": date(2026, 4, 10), "invoices": [invoice], "deadline": date(2026, 4, 20)}
    text = pdf_text(render_letter("reminder", invoice.customer, facts))
    assert (f"{invoice.number}: €1,200.00 will be debited from your account by SEPA direct debit on 14 April 2026. "
            f"Mandate reference: {mandate.reference}, Creditor identifier: {CREDITOR_ID}.") in text
    assert "Bank transfer" not in text

    planned = sepa.plan_debits(org, date(2026, 4, 10))
    assert [d.collection_date for d in planned] == [date(2026, 4, 14)]
    DirectDebit.objects.filter(pk=planned[0].pk).update(status=DirectDebit.FAILED)  # returned: nothing collected
    text = pdf_text(render_letter("reminder", invoice.customer, dict(facts, date=date(2026, 4, 20))))
    assert "will be debited" not in text
    assert f"Bank transfer: IBAN {org.iban}" in text and f"{format_rf(invoice.rf_reference)} ({invoice.number})" in text


def test_a_letter_names_the_card_retry_already_scheduled(org, make_customer, make_contract, doc_settings, pdf_text):
    from duly.invoicing.pdf import render_letter
    from duly.payments.models import ChargeAttempt

    draft = draft_for(org, make_customer, make_contract, preferred="card")
    method = SavedPaymentMethod.objects.create(organization=org, customer=draft.customer, provider="stripe",
                                               customer_ref="cus_1", method_ref="pm_1", kind="card", is_default=True)
    invoice = issue(org, draft)
    ChargeAttempt.objects.create(organization=org, invoice=invoice, attempt=1, provider="stripe", method=method,
                                 amount_minor=120000, currency="EUR", idempotency_key="autopay:x:1",
                                 status=ChargeAttempt.FAILED, attempted_on=date(2026, 4, 30),
                                 decline_code="insufficient_funds", decline_category="soft",
                                 next_retry_on=date(2026, 5, 6))
    text = pdf_text(render_letter("reminder", invoice.customer, {"date": date(2026, 5, 4), "invoices": [invoice],
                                                                  "deadline": date(2026, 5, 14)}))
    assert f"{invoice.number}: €1,200.00 will be charged to your saved card on 6 May 2026." in text
    assert "Bank transfer" not in text


def test_a_contract_preferring_cheques_prints_cheques_first_for_a_customer_preferring_transfers(
        org, make_customer, make_contract, doc_settings):
    draft = draft_for(org, make_customer, make_contract, preferred="bank_transfer", preferred_payment_method="check")
    invoice = issue(org, draft)
    assert [o.method for o in build_printable(invoice).payment_options] == ["check", "bank_transfer", "online"]


def test_a_draft_previews_the_debit_its_issue_will_state(org, debit_customer):
    draft = debit_customer(terms_days=7)
    [option] = build_printable(draft, as_of=ISSUED).payment_options
    assert (option.method, option.pay_date) == ("sepa_debit", date(2026, 4, 14))
    assert issue(org, draft).document_snapshot["payment"]["debit_date"] == "2026-04-14"
