"""The "coming due" reminder says how the invoice will actually be paid: a direct-debit or card-autopay customer is
told the amount will be debited or charged (the instruction frozen on the invoice at issue), never asked to pay
now; a transfer customer still gets the pay link. Through the real dunning run, in French and English."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from duly.collections.services import assign_policy, collect
from duly.invoicing import services as inv
from duly.messaging.models import Message
from duly.payments import method_services
from duly.payments.providers.base import SavedMethod

from ..payments.test_sepa_debits import creditor, mandate  # noqa: F401 - fixtures

PARIS = ZoneInfo("Europe/Paris")


def issue(org, customer, contract, on=date(2026, 3, 2)):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def coming_due(org, invoice):
    """Run collections each day up to the due date; the coming-due message about ``invoice``."""
    day = invoice.due_date - timedelta(days=10)
    while day < invoice.due_date:
        collect(org, as_of=datetime.combine(day, time(12), PARIS))
        day += timedelta(days=1)
    [message] = [m for m in Message.objects.filter(template="coming_due") if invoice.pk in (m.invoice_ids or [])]
    return message


def test_a_direct_debit_customer_is_told_the_debit_not_asked_to_pay_now_in_french(org, customer, contract, creditor,
                                                                                  mandate):
    assign_policy(org, customer, "neutral")  # coming due 5 days before the due date
    invoice = issue(org, customer, contract)  # due Wednesday 1 April, debited that day (pre-notified 2 March)
    assert invoice.document_snapshot["payment"]["debit_date"] == "2026-04-01"
    message = coming_due(org, invoice)
    assert message.language == "fr"
    sentence = "120,00\xa0€ seront prélevés sur votre compte par prélèvement SEPA le 1 avril 2026."
    assert sentence in message.text and sentence in message.html
    assert "Vous n'avez rien à faire" in message.text and "Vous n'avez rien à faire" in message.html
    for body in (message.text, message.html):
        assert "Consulter et payer en ligne" not in body and "Si le paiement est déjà en route" not in body


def test_a_card_autopay_customer_is_told_the_card_charge_not_asked_to_pay_now_in_english(org, make_customer,
                                                                                       make_contract):
    customer = make_customer(locale="en_GB", timezone="Europe/London", country="GB", city="London",
                             postcode="SW1A 1AA", currency="EUR", preferred_payment_method="card")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    method_services.save_method(org, customer, SavedMethod("stripe", "pm_en_visa", "cus_en", "card", brand="visa",
                                                           last4="4242", exp_month=12, exp_year=2030))
    assign_policy(org, customer, "neutral")
    invoice = issue(org, customer, contract)
    message = coming_due(org, invoice)
    assert message.language == "en"
    sentence = "€120.00 will be charged to Visa •••• 4242 on 1 April 2026."
    assert sentence in message.text and sentence in message.html
    assert "Nothing to do on your side" in message.text and "Nothing to do on your side" in message.html
    for body in (message.text, message.html):
        assert "View and pay online" not in body and "If payment is already on its way" not in body


def test_a_transfer_customer_still_gets_the_pay_link(org, customer, contract):
    assign_policy(org, customer, "neutral")
    invoice = issue(org, customer, contract)
    message = coming_due(org, invoice)
    assert "Consulter et payer en ligne" in message.text and "/p/" in message.text
    assert "Vous n'avez rien à faire" not in message.text and "seront prélevés" not in message.text


def test_a_card_that_failed_for_good_before_the_due_date_gets_the_pay_link_back(org, make_customer, make_contract):
    """Autopay 7 days before the due date on a stolen card: the coming-due reminder (5 days before) no longer
    promises the charge the invoice stated; it asks the customer to pay, with the link."""
    import sys
    from pathlib import Path

    from duly.payments.autopay_services import run_autopay
    from duly.payments.models import SavedPaymentMethod
    from duly.payments.providers.stripe import StripeProvider

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fakes.stripe_server import StripeFake

    customer = make_customer(locale="en_GB", timezone="Europe/London", country="GB", city="London",
                             postcode="SW1A 1AA", currency="EUR", preferred_payment_method="card")
    contract = make_contract(customer, terms_kind="net", terms_days=30, autopay_days_before_due=7)
    assign_policy(org, customer, "neutral")
    with StripeFake("sk_test_duly") as fake:
        provider = StripeProvider(api_key="sk_test_duly", api_base=fake.url, max_network_retries=0)
        ref = provider.client.v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
        SavedPaymentMethod.objects.create(organization=org, customer=customer, provider="stripe", customer_ref=ref,
                                          method_ref="pm_card_chargeDeclinedStolenCard", kind="card",
                                          is_default=True, brand="visa", last4="0019")
        invoice = issue(org, customer, contract)
        assert invoice.document_snapshot["payment"]["charge_date"] == "2026-03-25"
        report = run_autopay(org, date(2026, 3, 25), provider=provider)
        assert report.failed == 1
    message = coming_due(org, invoice)
    assert "View and pay online" in message.text and "will be charged" not in message.text
    assert "Nothing to do on your side" not in message.text
