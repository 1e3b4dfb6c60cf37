"""The invoice e-mail says how the invoice will actually be paid, as its PDF does: the SEPA pre-notification for a
direct-debit customer (no bank details to transfer to), the card and the charge date for card autopay, the bank
details and RF reference for a transfer. Sent through the real outbox to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from duly.collections.services import send_issued_invoices
from duly.invoicing import services as inv
from duly.messaging.delivery import deliver_outbox
from duly.payments import sepa_services as sepa
from duly.payments.models import SavedPaymentMethod

PARIS = ZoneInfo("Europe/Paris")
DELIVERY = datetime.combine(date(2027, 1, 12), time(10), PARIS)
ISSUED = date(2026, 11, 30)  # net 30: due Wednesday 30 December 2026


def issue(org, customer, contract):
    draft = inv.create_draft(org, customer, [inv.LineData("Conseil stratégique", Decimal(2), Decimal("1000.00"))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=ISSUED)


def received(org, smtp):
    send_issued_invoices(org, now=timezone.now())
    deliver_outbox(DELIVERY)
    [message] = smtp.to("ap1@client.example")
    return smtp.text_of(message), message


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_a_direct_debit_invoice_email_is_the_pre_notification_without_bank_details(org, customer, contract, smtp):
    sepa.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2026, 1, 10),
                        debtor_name="Acme Industries SAS", iban="DE89370400440532013000")
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    invoice = issue(org, customer, contract)
    text, message = received(org, smtp)
    assert "2\u202f000,00\xa0€ seront prélevés sur votre compte par prélèvement SEPA le 30 décembre 2026." in text
    assert "Référence unique du mandat\xa0: ACME-MANDATE-1" in text
    assert "Identifiant créancier SEPA\xa0: DE98ZZZ09999999999" in text
    assert "Compte débité\xa0: DE89 •••• 3000" in text and "Date du prélèvement\xa0: 30 décembre 2026" in text
    assert "Cette facture vaut pré-notification du prélèvement SEPA de Atelier Lumière SARL" in text
    assert "Virement bancaire" not in text  # nothing to transfer (the IBAN is only in the sender's footer)
    html = html_of(message)
    assert "ACME-MANDATE-1" in html and "DE98ZZZ09999999999" in html and "Virement bancaire" not in html
    assert invoice.document_snapshot["payment"]["debit_date"] == "2026-12-30"


def test_a_card_autopay_invoice_email_names_the_card_and_the_day_it_is_charged(org, customer, contract, smtp):
    # The provider is not configured here: the card is named without its digits (Stripe ids only are stored).
    customer.preferred_payment_method = "card"
    customer.save()
    contract.autopay_days_before_due = 2
    contract.save()
    SavedPaymentMethod.objects.create(organization=org, customer=customer, provider="stripe", customer_ref="cus_1",
                                      method_ref="pm_1", kind="card", is_default=True)
    issue(org, customer, contract)
    text, message = received(org, smtp)
    assert "2\u202f000,00\xa0€ seront débités sur votre carte enregistrée le 28 décembre 2026." in text
    assert "la carte enregistrée chez nous est débitée automatiquement" in text
    assert "Virement bancaire" not in text and "Virement bancaire" not in html_of(message)


def test_a_transfer_invoice_email_keeps_the_bank_details_and_the_rf_reference(org, customer, contract, smtp):
    invoice = issue(org, customer, contract)
    text, _ = received(org, smtp)
    rf = invoice.rf_reference
    assert "Virement bancaire\xa0: IBAN FR1420041010050500013M02606" in text
    assert " ".join(rf[i:i + 4] for i in range(0, len(rf), 4)) in text
    assert "prélev" not in text and "débités sur votre carte" not in text
