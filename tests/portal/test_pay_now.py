"""Paying now from the personal link, over HTTP (the browser flows are in tests/e2e/test_pay_now_browser.py).

The Stripe fake runs on the loopback; the card is confirmed with the SDK as Stripe.js would from the page.
"""

from __future__ import annotations

import html
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.links import pay_url
from duly.payments.models import Checkout, Mandate, Payment, SavedPaymentMethod
from duly.payments.providers.stripe import StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY, PUBLISHABLE, SECRET = "sk_test_duly", "pk_test_duly", "whsec_test_duly"


@pytest.fixture(scope="module")
def fake():
    with StripeFake(KEY, publishable_key=PUBLISHABLE) as server:
        yield server


@pytest.fixture
def stripe_on(fake, settings):
    fake.point_settings(settings, webhook_secret=SECRET)
    return StripeProvider()


@pytest.fixture
def invoices(org, customer, contract):
    """Three open invoices, oldest due first: 100.00, 250.00, 40.00."""
    out = []
    for amount, day in (("100.00", date(2026, 9, 1)), ("250.00", date(2026, 10, 1)), ("40.00", date(2026, 11, 2))):
        draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))],
                                 contract=contract)
        out.append(inv.issue_invoice(org, draft.pk, issue_date=day))
    return out


@pytest.fixture
def link(org, customer):
    return urlsplit(pay_url(org.pk, customer.pk, made_on=date.today())).path


def _start(client, link, **form):
    return client.post(f"{link}/pay", form)


def _totals(*invoices) -> list[int]:
    return [Invoice.objects.get(pk=i.pk).balance_minor for i in invoices]


def test_the_account_page_links_to_pay_now_and_the_form_lists_the_open_invoices(client, link, invoices, stripe_on):
    page = client.get(link).content.decode()
    assert f'href="{link}/pay"' in page
    form = client.get(f"{link}/pay")
    assert form.status_code == 200 and form["Cache-Control"] == "private, no-store"
    text = form.content.decode()
    assert all(i.number in text for i in invoices) and "csrfmiddlewaretoken" in text
    assert 'value="card"' in text and 'value="bank_transfer"' in text
    assert 'value="sepa_mandate"' not in text  # no SEPA creditor configured: no mandate offered


def test_a_card_payment_of_two_invoices_is_recorded_once_with_their_allocation(client, link, invoices, stripe_on,
                                                                              fake, customer):
    first, second, third = invoices
    resp = _start(client, link, invoice=[str(first.pk), str(third.pk)], amount="140.00", method="card",
                  save_for_future="on")
    assert resp.status_code == 302
    checkout = Checkout.objects.get()
    assert (checkout.amount_minor, checkout.plan) == (14000, {str(first.pk): 10000, str(third.pk): 4000})
    page = client.get(resp["Location"]).content.decode()
    checkout.refresh_from_db()
    assert checkout.client_secret and checkout.client_secret in page and f"{fake.url}/v3/" in page
    # the customer confirms in the browser (Stripe.js): here the SDK does the same call
    stripe_on.client.v1.payment_intents.confirm(checkout.provider_ref, params={"payment_method": "pm_card_visa"})
    page = client.get(resp["Location"]).content.decode()
    checkout.refresh_from_db()
    assert checkout.status == Checkout.PAID and 'id="receipt"' in page
    assert _totals(first, second, third) == [0, 25000, 0]
    # the webhook of the same success records nothing more
    event = next(e for e in fake.events if e["type"] == "payment_intent.succeeded"
                 and e["data"]["object"]["id"] == checkout.provider_ref)
    payload, header = fake.event_payload(event, SECRET)
    answer = client.post("/webhooks/stripe/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert answer.status_code == 200
    assert Payment.objects.count() == 1 and Payment.objects.get().external_reference == checkout.provider_ref
    # kept for future invoices: the saved card is the customer's default for autopay
    saved = SavedPaymentMethod.objects.get(customer=customer)
    assert saved.is_default and saved.kind == "card"
    receipt = client.get(f"{resp['Location']}/receipt")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")


def test_the_webhook_alone_records_the_payment_and_the_status_page_then_shows_it_paid(client, link, invoices,
                                                                                    stripe_on, fake):
    resp = _start(client, link, invoice=[str(invoices[1].pk)], amount="", method="card")
    checkout = Checkout.objects.get()
    stripe_on.client.v1.payment_intents.confirm(checkout.provider_ref, params={"payment_method": "pm_card_visa"})
    event = next(e for e in fake.events if e["type"] == "payment_intent.succeeded"
                 and e["data"]["object"]["id"] == checkout.provider_ref)
    payload, header = fake.event_payload(event, SECRET)
    assert client.post("/webhooks/stripe/", payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=header).json()["status"] == "processed"
    assert _totals(*invoices) == [10000, 0, 4000]
    assert 'data-status="paid"' in client.get(resp["Location"]).content.decode()
    assert Payment.objects.count() == 1


def test_a_partial_amount_goes_to_the_oldest_invoice_first(client, link, invoices, stripe_on):
    _start(client, link, invoice=[str(i.pk) for i in invoices], amount="150,00", method="bank_transfer")
    checkout = Checkout.objects.get()
    assert checkout.plan == {str(invoices[0].pk): 10000, str(invoices[1].pk): 5000}


@pytest.mark.parametrize("form,message", [
    ({"amount": "999.00"}, "dépasse ce qui reste dû sur les factures choisies (390,00\xa0€)"),
    ({"amount": "-5"}, "supérieur à zéro"),
    ({"amount": "abc"}, "en chiffres"),
    ({"amount": "1.001"}, "plus de décimales"),
    ({"invoice": ["999999"]}, "plus à payer"),
    ({"method": "paypal"}, "Choisissez un moyen de paiement"),
])
def test_bad_input_is_refused_clearly_and_writes_nothing(client, link, invoices, stripe_on, customer, form,
                                                          message):
    customer.credit_allowed = False
    customer.save(update_fields=["credit_allowed"])
    data = {"invoice": [str(i.pk) for i in invoices], "method": "bank_transfer", **form}
    resp = _start(client, link, **data)
    text = html.unescape(resp.content.decode())
    assert resp.status_code == 400 and message in text
    assert "Traceback" not in text and "sk_test" not in text
    assert not Checkout.objects.exists() and not Payment.objects.exists()


def test_with_the_overpayment_policy_more_than_is_open_is_accepted(client, link, invoices, stripe_on):
    assert _start(client, link, invoice=[str(invoices[0].pk)], amount="120.00",
                  method="bank_transfer").status_code == 302
    assert Checkout.objects.get().amount_minor == 12000


def test_another_customers_checkout_and_a_forged_link_open_nothing(client, link, invoices, stripe_on, org,
                                                                  make_customer):
    _start(client, link, method="bank_transfer")
    checkout = Checkout.objects.get()
    other = make_customer("OTHER")
    other_link = urlsplit(pay_url(org.pk, other.pk, made_on=date.today())).path
    assert client.get(f"{other_link}/pay/{checkout.public_id}").status_code == 404
    assert client.get(f"{other_link}/pay/{checkout.public_id}/receipt").status_code == 404
    assert client.get(f"/p/forged/pay").status_code == 404
    assert client.post(f"/p/forged/pay", {"method": "bank_transfer"}).status_code == 404
    assert Checkout.objects.count() == 1


def test_csrf_is_enforced_on_the_pay_now_form(link, invoices, stripe_on):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"{link}/pay", {"method": "bank_transfer"}).status_code == 403
    assert not Checkout.objects.exists()


def test_transfer_details_show_the_rf_reference_and_a_qr_code(client, link, invoices, stripe_on, customer):
    resp = _start(client, link, invoice=[str(invoices[1].pk)], method="bank_transfer", save_for_future="on")
    page = client.get(resp["Location"]).content.decode()
    rf = invoices[1].rf_reference
    assert " ".join(rf[i:i + 4] for i in range(0, len(rf), 4)) in page
    assert "FR1420041010050500013M02606" in page and 'class="qr" src="data:image/svg+xml' in page
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "bank_transfer"


def test_a_mandate_is_signed_on_the_page(client, link, invoices, stripe_on, org, customer):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    resp = _start(client, link, invoice=[str(invoices[0].pk)], method="sepa_mandate", save_for_future="on")
    page = client.get(resp["Location"]).content.decode()
    assert "DE98ZZZ09999999999" in page and "8 semaines" in page  # the rulebook's consent text, in French
    bad = client.post(resp["Location"], {"holder": "Acme", "iban": "DE00 1234", "consent": "on"})
    shown = html.unescape(bad.content.decode().split('id="error"')[1].split("</p>")[0])
    assert bad.status_code == 400 and "Cet IBAN n'est pas valide" in shown and "length" not in shown
    assert not Mandate.objects.exists()
    unticked = client.post(resp["Location"], {"holder": "Acme", "iban": "DE89370400440532013000"})
    assert unticked.status_code == 400 and not Mandate.objects.exists()
    ok = client.post(resp["Location"], {"holder": "Acme Industries SAS", "iban": "DE89 3704 0044 0532 0130 00",
                                        "consent": "on"})
    assert ok.status_code == 302
    mandate = Mandate.objects.get()
    assert (mandate.customer_id, mandate.iban, mandate.kind, mandate.signed_at) == (
        customer.pk, "DE89370400440532013000", Mandate.RECURRENT, "Lyon")
    assert 'data-status="processing"' in client.get(resp["Location"]).content.decode()
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "sepa_debit"


def test_a_provider_outage_charges_nothing_and_a_reload_gets_the_same_payment_going(client, link, invoices,
                                                                                   stripe_on, fake):
    fake.fail_next(2)  # creating the PaymentIntent fails on the POST and on the first load of the status page
    resp = _start(client, link, invoice=[str(invoices[0].pk)], method="card")
    assert resp.status_code == 302
    page = client.get(resp["Location"]).content.decode()
    assert "momentanément indisponible" in page and "api_error" not in page and "sk_test" not in page
    checkout = Checkout.objects.get()
    assert checkout.provider_ref == "" and checkout.status == Checkout.OPEN
    page = client.get(resp["Location"]).content.decode()  # the customer reloads: the intent is made now
    checkout.refresh_from_db()
    assert checkout.client_secret in page
    client.get(resp["Location"])
    assert len([pi for pi in fake.objects("pi_") if pi["metadata"].get("duly_checkout") == checkout.public_id]) == 1
    assert not Payment.objects.exists() and _totals(*invoices) == [10000, 25000, 4000]


# --- the customer sets up how future invoices are paid -------------------------------------------------------


def test_a_customer_saves_a_card_for_future_invoices_from_the_account_link(client, link, stripe_on, customer, fake):
    page = client.get(f"{link}/methods")
    assert page.status_code == 200 and "Actuellement : virement bancaire" in html.unescape(page.content.decode())
    resp = client.post(f"{link}/methods", {"action": "card"})
    assert resp.status_code == 302
    setup_ref = resp["Location"].rsplit("/", 1)[1]
    assert setup_ref.startswith("seti_") and not SavedPaymentMethod.objects.exists()
    secret = fake.objects("seti_")[-1]["client_secret"]
    assert secret in client.get(resp["Location"]).content.decode()  # the element, to confirm in the browser
    stripe_on.client.v1.setup_intents.confirm(setup_ref, params={"payment_method": "pm_card_visa"})
    done = html.unescape(client.get(resp["Location"]).content.decode())
    assert "Enregistrée : Visa •••• 4242" in done
    client.get(resp["Location"])  # a reload saves nothing more
    saved = SavedPaymentMethod.objects.get()
    assert (saved.customer_id, saved.is_default, saved.kind) == (customer.pk, True, "card")
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "card"
    assert "Actuellement : Visa •••• 4242" in html.unescape(client.get(f"{link}/methods").content.decode())


def test_another_customers_setup_and_an_invoice_link_open_nothing(client, link, stripe_on, org, make_customer,
                                                                  invoices, customer):
    resp = client.post(f"{link}/methods", {"action": "card"})
    setup_ref = resp["Location"].rsplit("/", 1)[1]
    other = make_customer("OTHER")
    other_link = urlsplit(pay_url(org.pk, other.pk, made_on=date.today())).path
    assert client.get(f"{other_link}/methods/{setup_ref}").status_code == 404
    invoice_link = urlsplit(pay_url(org.pk, customer.pk, invoices[0].pk)).path
    assert client.get(f"{invoice_link}/methods").status_code == 404


def test_a_standing_mandate_is_signed_from_the_account_link(client, link, stripe_on, org, customer):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    form = {"action": "mandate", "holder": "Acme Industries SAS", "iban": "DE89370400440532013001", "consent": "on"}
    assert client.post(f"{link}/methods", form).status_code == 400 and not Mandate.objects.exists()
    signed = client.post(f"{link}/methods", {**form, "iban": "DE89370400440532013000"})
    assert signed.status_code == 200
    mandate = Mandate.objects.get()
    assert mandate.kind == Mandate.RECURRENT and mandate.reference in signed.content.decode()
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "sepa_debit"


# --- review: flaws found and fixed ----------------------------------------------------------------------------


@pytest.mark.parametrize("chosen", ["²", "1²", "٣x"])
def test_an_invoice_id_of_unicode_digits_is_refused_clearly(client, link, invoices, stripe_on, chosen):
    resp = _start(client, link, invoice=[chosen], method="bank_transfer")
    assert resp.status_code == 400 and "plus à payer" in html.unescape(resp.content.decode())
    assert not Checkout.objects.exists()


def _webhook(client, fake, kind, pi_id):
    event = next(e for e in fake.events if e["type"] == kind and e["data"]["object"]["id"] == pi_id)
    payload, header = fake.event_payload(event, SECRET)
    return client.post("/webhooks/stripe/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def test_a_sepa_debit_paid_in_stripes_element_is_recorded_and_saved_as_sepa_debit_by_the_webhook(
        client, link, invoices, stripe_on, fake, customer):
    _start(client, link, invoice=[str(invoices[0].pk)], method="card", save_for_future="on")
    checkout = Checkout.objects.get()
    pm = stripe_on.client.v1.payment_methods.create(params={
        "type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"},
        "billing_details": {"name": "Acme", "email": "ap@acme.example"}})
    stripe_on.client.v1.payment_intents.confirm(checkout.provider_ref, params={"payment_method": pm.id})
    fake.settle(checkout.provider_ref)
    assert _webhook(client, fake, "payment_intent.succeeded", checkout.provider_ref).json()["status"] == "processed"
    payment = Payment.objects.get()
    assert payment.method == "sepa_debit"
    saved = SavedPaymentMethod.objects.get(customer=customer)
    assert (saved.kind, saved.is_default) == ("sepa_debit", True)
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "sepa_debit"


def test_a_checkout_whose_invoices_were_paid_meanwhile_no_longer_offers_to_pay(client, link, invoices, stripe_on):
    first_tab = _start(client, link, invoice=[str(invoices[0].pk)], method="card")["Location"]
    second_tab = _start(client, link, invoice=[str(invoices[0].pk)], method="card")["Location"]
    paid, stale = Checkout.objects.order_by("pk")
    stripe_on.client.v1.payment_intents.confirm(paid.provider_ref, params={"payment_method": "pm_card_visa"})
    assert 'data-status="paid"' in client.get(first_tab).content.decode()
    page = html.unescape(client.get(second_tab).content.decode())
    stale.refresh_from_db()
    assert stale.client_secret not in page and 'id="payment-form"' not in page
    assert "ont changé" in page and f'href="{link}/pay"' in page
    assert Payment.objects.count() == 1 and _totals(*invoices) == [0, 25000, 4000]


def test_signing_the_standing_mandate_twice_keeps_one_mandate(client, link, stripe_on, org, customer):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    form = {"action": "mandate", "holder": "Acme Industries SAS", "iban": "DE89370400440532013000", "consent": "on"}
    first = client.post(f"{link}/methods", form)
    again = client.post(f"{link}/methods", {**form, "iban": "DE89 3704 0044 0532 0130 00"})  # a double click
    assert first.status_code == again.status_code == 200
    mandate = Mandate.objects.get()
    assert mandate.reference in again.content.decode()


def test_a_one_off_mandate_signed_for_one_invoice_debits_that_invoice_and_the_amount_chosen(
        client, link, invoices, stripe_on, org, customer):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    standing = sepa_services.create_mandate(org, customer, reference="STANDING-1", signed_on=date(2026, 8, 1),
                                            debtor_name="Acme", iban="DE89370400440532013000")
    resp = _start(client, link, invoice=[str(invoices[2].pk)], amount="30.00", method="sepa_mandate")
    assert client.post(resp["Location"], {"holder": "Acme", "iban": "DE89370400440532013000",
                                          "consent": "on"}).status_code == 302
    one_off = Mandate.objects.get(kind=Mandate.ONE_OFF)
    debits = {d.invoice_id: (d.mandate_id, d.amount_minor)
              for d in sepa_services.plan_debits(org, date(2027, 1, 15))}
    # the invoice the customer chose, for the amount they chose, on the mandate they signed for it; the others
    # stated a transfer when they were issued (no pre-notified debit), so the standing mandate takes none of them
    assert debits == {invoices[2].pk: (one_off.pk, 3000)}
    assert not standing.debits.exists()


def test_a_one_off_direct_debit_of_several_invoices_is_refused_clearly(client, link, invoices, stripe_on, org):
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    resp = _start(client, link, invoice=[str(invoices[0].pk), str(invoices[1].pk)], method="sepa_mandate")
    assert resp.status_code == 400 and "une seule facture" in html.unescape(resp.content.decode())
    assert not Checkout.objects.exists()
    kept = _start(client, link, invoice=[str(invoices[0].pk), str(invoices[1].pk)], method="sepa_mandate",
                  save_for_future="on")
    assert kept.status_code == 302
    partial = _start(client, link, invoice=[str(invoices[0].pk)], amount="50.00", method="sepa_mandate",
                     save_for_future="on")  # a standing mandate debits each invoice's balance, not 50.00
    assert partial.status_code == 400 and "laissez le montant" in html.unescape(partial.content.decode())
    assert Checkout.objects.count() == 1


def test_an_invoice_link_opens_only_the_payments_of_its_invoice(client, link, invoices, stripe_on, org, customer):
    account = _start(client, link, invoice=[str(invoices[1].pk)], method="bank_transfer")["Location"]
    public_id = account.rsplit("/", 1)[1]
    invoice_link = urlsplit(pay_url(org.pk, customer.pk, invoices[0].pk)).path
    assert client.get(f"{invoice_link}/pay/{public_id}").status_code == 404
    assert client.get(f"{invoice_link}/pay/{public_id}/receipt").status_code == 404
    own = _start(client, invoice_link, method="bank_transfer")["Location"]
    assert client.get(own).status_code == 200 and client.get(account).status_code == 200


@pytest.mark.parametrize("typed", ["1.200", "1,200", "2 500,000"])
def test_a_thousands_separator_is_never_read_as_decimals(client, link, invoices, stripe_on, typed):
    # "1.200" or "1,200" meant 1200: silently charging 1.20 would be wrong; the currency has two decimals only
    resp = _start(client, link, invoice=[str(invoices[1].pk)], amount=typed, method="bank_transfer")
    assert resp.status_code == 400 and "plus de décimales" in html.unescape(resp.content.decode())
    assert not Checkout.objects.exists()


def test_a_second_tab_paid_after_the_first_is_not_offered_again_and_waits_for_staff(client, link, invoices,
                                                                                    stripe_on, customer):
    customer.credit_allowed = False  # the second payment cannot be applied: staff refund or apply it
    customer.save(update_fields=["credit_allowed"])
    everything = [str(i.pk) for i in invoices]
    first_tab = _start(client, link, invoice=everything, method="card")["Location"]
    second_tab = _start(client, link, invoice=everything, method="card")["Location"]
    paid, again = Checkout.objects.order_by("pk")
    stripe_on.client.v1.payment_intents.confirm(paid.provider_ref, params={"payment_method": "pm_card_visa"})
    assert 'data-status="paid"' in client.get(first_tab).content.decode()
    # the second tab had Stripe's element loaded already: the customer pays there too
    stripe_on.client.v1.payment_intents.confirm(again.provider_ref, params={"payment_method": "pm_card_visa"})
    page = html.unescape(client.get(second_tab).content.decode())
    again.refresh_from_db()
    assert again.status == Checkout.PROCESSING and 'data-status="processing"' in page
    assert "Votre paiement a bien été reçu" in page
    assert 'id="restart"' not in page and 'id="payment-form"' not in page and "Saisissez au plus" not in page
    assert Payment.objects.count() == 1


def test_paying_one_tab_cancels_the_intent_of_another_tab_for_the_same_invoices(
        client, link, invoices, stripe_on, django_capture_on_commit_callbacks):
    import stripe as stripe_sdk

    first_tab = _start(client, link, invoice=[str(invoices[0].pk)], method="card")["Location"]
    second_tab = _start(client, link, invoice=[str(invoices[0].pk)], method="card")["Location"]
    elsewhere = _start(client, link, invoice=[str(invoices[1].pk)], method="card")["Location"]
    paid, stale, other = Checkout.objects.order_by("pk")
    stripe_on.client.v1.payment_intents.confirm(paid.provider_ref, params={"payment_method": "pm_card_visa"})
    with django_capture_on_commit_callbacks(execute=True):
        assert 'data-status="paid"' in client.get(first_tab).content.decode()
    # the second tab's element was loaded already: Stripe now refuses to take the money twice
    with pytest.raises(stripe_sdk.InvalidRequestError):
        stripe_on.client.v1.payment_intents.confirm(stale.provider_ref, params={"payment_method": "pm_card_visa"})
    page = html.unescape(client.get(second_tab).content.decode())
    assert 'id="restart"' in page and 'id="payment-form"' not in page
    # a payment of other invoices is left alone
    assert other.client_secret in client.get(elsewhere).content.decode()
    stripe_on.client.v1.payment_intents.confirm(other.provider_ref, params={"payment_method": "pm_card_visa"})
    assert Payment.objects.count() == 1 and _totals(*invoices) == [0, 25000, 4000]


# --- the language chosen for the session -----------------------------------------------------------------------


def _words(language: str) -> dict[str, str]:
    from duly.portal.paynow import words_for

    return {key: html.escape(value, quote=False) for key, value in words_for(language).items()}


def test_pay_now_payment_and_methods_pages_follow_the_language_chosen_for_the_session(client, link, invoices,
                                                                                       stripe_on, org, customer):
    """The customer reads French (their locale) until they choose German on the self-service pages: from then on
    the pay-now form, the payment's own page, its errors and the methods page read German, as the account
    page does; the customer's stored locale (their documents' language) is not changed."""
    from duly.payments import sepa_services

    sepa_services.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    fr, de = _words("fr"), _words("de")
    assert fr["pay_title"] != de["pay_title"]
    page = client.get(f"{link}/pay").content.decode()
    assert '<html lang="fr">' in page and fr["pay_title"] in page
    assert client.post(f"{link}/language", {"language": "de", "next": link}).status_code == 302

    page = client.get(f"{link}/pay").content.decode()
    assert '<html lang="de">' in page and de["pay_title"] in page and de["bank_transfer"] in page
    assert fr["pay_title"] not in page
    refused = client.post(f"{link}/pay", {"invoice": [str(invoices[0].pk)], "method": "nothing"})
    assert refused.status_code == 400 and '<html lang="de">' in refused.content.decode()

    resp = _start(client, link, invoice=[str(invoices[0].pk)], method="sepa_mandate")
    status = client.get(resp["Location"]).content.decode()
    assert '<html lang="de">' in status and de["status_open"] in status and de["sign"] in status
    assert "8 semaines" not in status and "acht Wochen" in status  # the rulebook's consent text, in German
    bad = client.post(resp["Location"], {"holder": "Acme", "iban": "DE00 1234", "consent": "on"})
    shown = html.unescape(bad.content.decode().split('id="error"')[1].split("</p>")[0])
    assert bad.status_code == 400 and "IBAN" in shown and "Cet IBAN" not in shown

    methods = client.get(f"{link}/methods").content.decode()
    assert '<html lang="de">' in methods and de["back"] in methods and fr["back"] not in methods
    unsigned = client.post(f"{link}/methods", {"action": "mandate", "holder": "Acme", "iban": "DE00 1234"})
    assert unsigned.status_code == 400 and '<html lang="de">' in unsigned.content.decode()
    customer.refresh_from_db()
    assert customer.locale == "fr_FR"
