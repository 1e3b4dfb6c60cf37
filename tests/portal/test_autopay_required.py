"""A contract that requires autopay (a red-flag check's accepted recommendation, issue 17) has the customer's pay
page ask for a card or a SEPA mandate, in the customer's language, until one is set up."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from duly.messaging.links import pay_url
from duly.payments.models import SavedPaymentMethod

ASK = {
    "en": "Your contract asks you to pay by automatic payment: please save a card or sign a SEPA direct debit mandate.",
    "fr": "Votre contrat prévoit un paiement automatique : enregistrez une carte ou signez un mandat de prélèvement "
          "SEPA.",
    "de": "Ihr Vertrag sieht eine automatische Zahlung vor: Bitte hinterlegen Sie eine Karte oder unterzeichnen Sie "
          "ein SEPA-Lastschriftmandat.",
    "es": "Su contrato prevé el pago automático: guarde una tarjeta o firme una orden de domiciliación SEPA.",
    "ru": "Ваш договор предусматривает автоматическую оплату: сохраните карту или подпишите мандат на прямое "
          "дебетование SEPA.",
}


def page(client, org, customer) -> str:
    path = urlsplit(pay_url(org.pk, customer.pk, made_on=timezone.now().date())).path
    return client.get(path).content.decode()


@pytest.mark.parametrize("locale, language", [("en_GB", "en"), ("fr_FR", "fr"), ("de_DE", "de"), ("es_ES", "es"),
                                              ("ru_RU", "ru")])
def test_the_pay_page_asks_for_a_mandate_when_the_contract_requires_autopay(client, org, make_customer,
                                                                            make_contract, locale, language):
    customer = make_customer("AUTO", locale=locale)
    make_contract(customer, start_date=date(2026, 1, 1), require_autopay=True)
    html = page(client, org, customer)
    assert 'id="autopay-required"' in html and ASK[language].replace("'", "&#x27;") in html


def test_no_notice_without_the_requirement_or_once_a_method_is_saved(client, org, make_customer, make_contract):
    free = make_customer("FREE")
    make_contract(free, start_date=date(2026, 1, 1))
    assert 'id="autopay-required"' not in page(client, org, free)
    bound = make_customer("BOUND")
    make_contract(bound, start_date=date(2026, 1, 1), require_autopay=True)
    assert 'id="autopay-required"' in page(client, org, bound)
    SavedPaymentMethod.objects.create(organization=org, customer=bound, provider="stripe", customer_ref="cus_1",
                                      method_ref="pm_1", kind="card", is_default=True)
    assert 'id="autopay-required"' not in page(client, org, bound)
