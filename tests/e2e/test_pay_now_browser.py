"""Paying now from the personal link, in a real browser (Debian's chromium through Playwright), against the live
server and the loopback Stripe fake (its Stripe.js stand-in confirms the PaymentIntent from the page, as Stripe.js
does, with the publishable key and the client secret)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.links import pay_url
from duly.payments.models import Checkout, Mandate, Payment

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def invoices(org, customer, contract):
    """Three open invoices, oldest due first: 100.00, 250.00, 40.00 (EUR)."""
    out = []
    for amount, day in (("100.00", date(2026, 9, 1)), ("250.00", date(2026, 10, 1)), ("40.00", date(2026, 11, 2))):
        draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))],
                                 contract=contract)
        out.append(inv.issue_invoice(org, draft.pk, issue_date=day))
    return out


@pytest.fixture
def account(live_server, org, customer):
    return live_server.url + urlsplit(pay_url(org.pk, customer.pk, made_on=date.today())).path


def balances(invoices) -> list[int]:
    return [Invoice.objects.get(pk=i.pk).balance_minor for i in invoices]


def pay_by_card(page, number="4242 4242 4242 4242"):
    page.fill("input[name=cardnumber]", number)
    page.click("#pay")


def test_pay_one_invoice_by_card_from_its_invoice_link(page, live_server, org, customer, invoices, stripe_settings):
    second = invoices[1]
    page.goto(live_server.url + urlsplit(pay_url(org.pk, customer.pk, second.pk)).path)
    page.click("#pay-now")
    assert page.locator("input[name=invoice]").count() == 1  # an invoice link pays that invoice only
    assert page.input_value("#amount") == "250.00"
    page.check("input[name=method][value=card]")
    page.click("#continue")
    pay_by_card(page)
    page.wait_for_selector("#status[data-status=paid]")
    assert page.is_visible("#receipt")
    assert balances(invoices) == [10000, 0, 4000]
    payment = Payment.objects.get()
    assert (payment.amount_minor, payment.method) == (25000, "card")
    # the receipt is the payment's PDF
    answer = page.request.get(live_server.url + page.get_attribute("#receipt", "href"))
    assert answer.ok and answer.body().startswith(b"%PDF")


def test_a_declined_card_says_why_and_another_card_then_pays(page, account, invoices, stripe_settings):
    page.goto(account + "/pay")
    page.check("input[name=method][value=card]")
    page.click("#continue")
    pay_by_card(page, "4000 0000 0000 0002")
    page.wait_for_selector("#card-error:not([hidden])")
    assert "declined" in page.text_content("#card-error")
    assert not Payment.objects.exists()
    pay_by_card(page)
    page.wait_for_selector("#status[data-status=paid]")
    assert balances(invoices) == [0, 0, 0] and Payment.objects.count() == 1


def test_pay_two_of_three_invoices(page, account, invoices, stripe_settings):
    page.goto(account + "/pay")
    page.uncheck(f"input[name=invoice][value='{invoices[1].pk}']")
    assert page.input_value("#amount") == "140.00"  # the page adds up what is ticked
    page.check("input[name=method][value=card]")
    page.click("#continue")
    pay_by_card(page)
    page.wait_for_selector("#status[data-status=paid]")
    assert balances(invoices) == [0, 25000, 0]
    assert Payment.objects.get().amount_minor == 14000


def test_a_partial_amount_is_applied_oldest_first(page, account, invoices, stripe_settings):
    page.goto(account + "/pay")
    page.fill("#amount", "150,00")
    page.check("input[name=method][value=card]")
    page.click("#continue")
    pay_by_card(page)
    page.wait_for_selector("#status[data-status=paid]")
    assert balances(invoices) == [0, 20000, 4000]


def test_an_amount_above_what_is_open_is_refused_and_nothing_is_written(page, account, invoices, stripe_settings,
                                                                       customer):
    customer.credit_allowed = False
    customer.save(update_fields=["credit_allowed"])
    page.goto(account + "/pay")
    page.fill("#amount", "1000.00")
    page.check("input[name=method][value=card]")
    page.click("#continue")
    page.wait_for_selector("#error")
    assert "dépasse ce qui reste dû" in page.text_content("#error")
    assert not Checkout.objects.exists() and not Payment.objects.exists()


def test_the_mandate_form_refuses_a_bad_iban_and_signs_with_a_good_one(page, account, invoices, stripe_settings,
                                                                       org, customer):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    page.goto(account + "/pay")
    page.check("input[name=method][value=sepa_mandate]")
    page.check("#save_for_future")
    page.click("#continue")
    assert "DE98ZZZ09999999999" in page.text_content("#mandate")
    assert "8 semaines" in page.text_content("#consent-text")
    page.fill("#iban", "DE89 3704 0044 0532 0130 01")  # wrong check digits
    page.check("#consent")
    page.click("#sign")
    page.wait_for_selector("#error")
    assert "IBAN n'est pas valide" in page.text_content("#error") and not Mandate.objects.exists()
    page.fill("#iban", "DE89 3704 0044 0532 0130 00")
    page.check("#consent")
    page.click("#sign")
    page.wait_for_selector("#mandate-signed")
    mandate = Mandate.objects.get()
    assert (mandate.iban, mandate.kind, mandate.signed_at, mandate.customer_id) == (
        "DE89370400440532013000", Mandate.RECURRENT, "Lyon", customer.pk)
    assert mandate.reference in page.text_content("#mandate-reference")
    assert page.get_attribute("#status", "data-status") == "processing"


def test_bank_transfer_details_show_the_rf_reference_and_a_qr_code(page, account, invoices, stripe_settings):
    page.goto(account + "/pay")
    page.uncheck(f"input[name=invoice][value='{invoices[0].pk}']")
    page.uncheck(f"input[name=invoice][value='{invoices[2].pk}']")
    page.check("input[name=method][value=bank_transfer]")
    page.click("#continue")
    rf = invoices[1].rf_reference
    assert page.text_content(".rf") == " ".join(rf[i:i + 4] for i in range(0, len(rf), 4))
    assert "FR1420041010050500013M02606" in page.text_content("#transfer-iban")
    assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0  # the QR code is drawn


def test_the_status_page_survives_a_reload(page, account, invoices, stripe_settings, stripe_fake):
    page.goto(account + "/pay")
    page.check("input[name=method][value=card]")
    page.click("#continue")
    status_url = page.url
    page.reload()  # before paying: the same PaymentIntent, not a second one
    checkout = Checkout.objects.get()
    assert page.get_attribute("#status", "data-status") == "open"
    intents = [pi for pi in stripe_fake.objects("pi_")
               if pi["metadata"].get("duly_checkout") == checkout.public_id]
    assert len(intents) == 1
    pay_by_card(page)
    page.wait_for_selector("#status[data-status=paid]")
    page.reload()
    assert page.get_attribute("#status", "data-status") == "paid"
    page.goto(status_url)  # opened again later, from the same address
    assert page.get_attribute("#status", "data-status") == "paid" and page.is_visible("#receipt")
    assert Payment.objects.count() == 1


def test_a_card_is_saved_for_future_invoices_from_the_account_link(page, account, stripe_settings, customer):
    from duly.payments.models import SavedPaymentMethod

    page.goto(account)
    page.click("#methods")
    page.click("#save-card")
    page.fill("input[name=cardnumber]", "5555 5555 5555 4444")
    page.click("#save")
    page.wait_for_selector("#saved")
    assert "Mastercard •••• 4444" in page.text_content("#saved")
    page.reload()
    assert page.is_visible("#saved")
    saved = SavedPaymentMethod.objects.get()
    assert (saved.customer_id, saved.is_default) == (customer.pk, True)
