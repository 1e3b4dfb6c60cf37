"""The back office reaches everything the billing services do: subscriptions created and changed through forms
(a seat change shows its proration before it is confirmed, and books exactly that), a form per price model with
its worked example, amounts entered in major units."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from duly.billing import services
from duly.billing.models import LicenceSnapshot, PendingCharge, Price, RetainerAgreement, Subscription, SubscriptionPause
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def _errors(resp) -> str:
    return " ".join(re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', resp.content.decode(), re.S))


def _confirmed(client, url, data):
    """Post a form whose change settles money: its preview first (shown, nothing written), then the confirmation
    with the net it showed."""
    preview = client.post(url, data)
    assert preview.status_code == 200 and 'name="_confirm"' in preview.content.decode(), _errors(preview)
    net = re.search(r'name="previewed_net" value="([^"]*)"', preview.content.decode()).group(1)
    return client.post(url, {**data, "previewed_net": net, "_confirm": "1"})


def _billed_subscription(org, customer, contract, catalog, quantity=5):
    sub = services.create_subscription(org, customer, [(catalog["per_unit"], quantity)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1), contract=contract, reference="SUB-SEATS")
    services.run_billing(org, date(2026, 1, 1))  # January is invoiced in advance
    return sub


def test_a_subscription_is_created_in_the_back_office(bookkeeper, org, customer, contract, catalog):
    url = reverse("admin:billing_subscription_add")
    page = bookkeeper.get(url)
    assert page.status_code == 200 and "Items" in page.content.decode()
    data = {"customer": customer.pk, "contract": contract.pk, "start_date": "2026-02-01", "reference": "WEB-1",
            "interval": "", "anchor_day": "", "timing": "advance", "trial_end": "", "end_date": "",
            "items-TOTAL_FORMS": "3", "items-INITIAL_FORMS": "0",
            "items-0-price": catalog["flat"].pk, "items-0-quantity": "1",
            "items-1-price": catalog["per_unit"].pk, "items-1-quantity": "4",
            "items-2-price": "", "items-2-quantity": ""}
    wrong = bookkeeper.post(url, {**data, "items-1-price": catalog["usd_flat"].pk})
    assert wrong.status_code == 200 and "is in USD" in _errors(wrong)
    assert not Subscription.objects.exists()  # nothing half-written
    resp = bookkeeper.post(url, data)
    assert resp.status_code == 302
    sub = Subscription.objects.get(reference="WEB-1")
    assert (sub.customer, sub.contract, sub.start_date) == (customer, contract, date(2026, 2, 1))
    assert sorted((i.price.code, i.quantity) for i in sub.items.all()) == [("pro-flat", 1), ("seat", 4)]
    change_page = bookkeeper.get(reverse("admin:billing_subscription_change", args=[sub.pk])).content.decode()
    assert reverse("admin:billing_subscription_change_item", args=[sub.pk]) in change_page


def test_a_seat_change_shows_its_proration_and_books_exactly_that(bookkeeper, org, customer, contract, catalog):
    sub = _billed_subscription(org, customer, contract, catalog)
    item = sub.items.get()
    url = reverse("admin:billing_subscription_change_item", args=[sub.pk])
    assert bookkeeper.get(url).status_code == 200
    form = {"item": item.pk, "on": "2026-01-16", "quantity": "8", "price": ""}
    preview = bookkeeper.post(url, form)
    page = preview.content.decode()
    assert preview.status_code == 200 and 'id="duly-proration"' in page
    expected = services.preview_change(org, sub, item.pk, on=date(2026, 1, 16), quantity="8").proration
    # 16 of 31 days: the new 80.00 for the rest, less the unused part of the 50.00 invoiced
    assert (expected.charge, expected.credit, expected.net) == (Decimal("41.29"), Decimal("25.81"), Decimal("15.48"))
    for amount in ("−25.81 EUR", "41.29 EUR", "15.48 EUR"):
        assert amount in page
    assert expected.explanation in page
    assert not PendingCharge.objects.exists() and sub.items.count() == 1  # a preview writes nothing
    confirmed = bookkeeper.post(url, {**form, "previewed_net": "15.48", "_confirm": "1"})
    assert confirmed.status_code == 302
    charge = PendingCharge.objects.get(subscription=sub)
    # Booked in the customer's language (French), the preview's figures and words.
    assert charge.amount_minor == 1548 and charge.explanation == (
        "Reste du 16 janvier 2026 au 31 janvier 2026 au nouveau prix 41,29 − partie non utilisée de la période "
        "déjà facturée (INV-2026-00001) 25,81 = 15,48.")
    assert sorted((i.quantity, i.ends_on) for i in sub.items.all()) == [(5, date(2026, 1, 16)), (8, None)]


def test_a_confirmation_whose_proration_changed_since_the_preview_is_refused(bookkeeper, org, customer, contract,
                                                                            catalog):
    sub = _billed_subscription(org, customer, contract, catalog)
    item = sub.items.get()
    url = reverse("admin:billing_subscription_change_item", args=[sub.pk])
    resp = bookkeeper.post(url, {"item": item.pk, "on": "2026-01-16", "quantity": "8", "previewed_net": "1.00",
                                 "_confirm": "1"})
    assert resp.status_code == 200 and "changed since it was shown" in _errors(resp)
    assert not PendingCharge.objects.exists() and sub.items.count() == 1


def test_a_downgrade_preview_equals_the_credit_note_it_books(bookkeeper, org, customer, contract, catalog):
    sub = _billed_subscription(org, customer, contract, catalog)
    item = sub.items.get()
    url = reverse("admin:billing_subscription_change_item", args=[sub.pk])
    form = {"item": item.pk, "on": "2026-01-21", "quantity": "2"}
    page = bookkeeper.post(url, form).content.decode()
    p = services.preview_change(org, sub, item.pk, on=date(2026, 1, 21), quantity="2").proration
    assert p.net < 0 and f"{p.net} EUR" in page and "credit note" in page
    assert bookkeeper.post(url, {**form, "previewed_net": str(p.net), "_confirm": "1"}).status_code == 302
    note = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    assert note.lines.get().net_minor == -p.net * 100


def test_pause_resume_and_cancel_through_the_forms(bookkeeper, org, customer, contract, catalog):
    sub = _billed_subscription(org, customer, contract, catalog)
    pause = reverse("admin:billing_subscription_pause", args=[sub.pk])
    bad = bookkeeper.post(pause, {"starts_on": "2026-01-20", "resumes_on": "2026-01-10", "reason": ""})
    assert "resume after it starts" in _errors(bad) and not SubscriptionPause.objects.exists()
    assert bookkeeper.post(pause, {"starts_on": "2026-01-20", "resumes_on": "", "reason": "Holidays"}).status_code == 302
    assert Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).count() == 1  # the paused days of January
    resume = reverse("admin:billing_subscription_resume", args=[sub.pk])
    assert bookkeeper.post(resume, {"on": "2026-01-25"}).status_code == 302
    assert SubscriptionPause.objects.get().resumes_on == date(2026, 1, 25)
    assert PendingCharge.objects.filter(subscription=sub).exists()  # the resumed days are charged back
    cancel = reverse("admin:billing_subscription_cancel", args=[sub.pk])
    assert _confirmed(bookkeeper, cancel, {"on": "2026-01-28", "at_period_end": "on", "reason": ""}).status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.end_date) == (Subscription.CANCELED, date(2026, 2, 1))
    again = bookkeeper.post(cancel, {"on": "2026-01-28", "reason": ""})
    assert "already canceled" in _errors(again)


def test_items_and_licence_counts_through_the_forms(bookkeeper, org, customer, contract, catalog):
    sub = _billed_subscription(org, customer, contract, catalog)
    add = reverse("admin:billing_subscription_add_item", args=[sub.pk])
    assert _confirmed(bookkeeper, add, {"price": catalog["licences"].pk, "quantity": "1",
                                        "on": "2026-01-10"}).status_code == 302
    licence_item = sub.items.get(price=catalog["licences"])
    counts = reverse("admin:billing_subscription_licences", args=[sub.pk])
    assert bookkeeper.post(counts, {"day": "2026-01-12", "active_count": "7"}).status_code == 302
    assert LicenceSnapshot.objects.get(subscription=sub, day=date(2026, 1, 12)).active_count == 7
    remove = reverse("admin:billing_subscription_remove_item", args=[sub.pk])
    assert _confirmed(bookkeeper, remove, {"item": licence_item.pk, "on": "2026-01-20"}).status_code == 302
    licence_item.refresh_from_db()
    assert licence_item.ends_on == date(2026, 1, 20)
    last = sub.items.get(price=catalog["per_unit"])
    refused = bookkeeper.post(remove, {"item": last.pk, "on": "2026-01-20"})
    assert "cancel the subscription instead" in _errors(refused)


def test_a_graduated_price_is_entered_as_rows_with_its_worked_example(bookkeeper, org, catalog):
    product = catalog["flat"].product
    url = reverse("admin:billing_price_add") + "?model=graduated"
    page = bookkeeper.get(url).content.decode()
    assert 'name="tier_1_up_to"' in page and 'name="model_config"' not in page
    rows = {"product": product.pk, "code": "api-tiers", "nickname": "", "currency": "EUR",
            "quantity_source": "quantity", "metric": "", "active": "on",
            "tier_1_up_to": "100", "tier_1_unit_price": "4.00", "tier_2_up_to": "", "tier_2_unit_price": "3.20",
            "example_quantity": "150"}
    preview = bookkeeper.post(url, {**rows, "_preview": "1"})
    text = preview.content.decode()
    assert "150 units → 560.00 EUR: 100 × 4.00 + 50 × 3.20 = 560.00" in text
    assert not Price.objects.filter(code="api-tiers").exists()  # the preview saved nothing
    live = bookkeeper.post(reverse("admin:billing_price_preview") + "?model=graduated", rows).json()
    assert live["ok"] and live["text"] == "150 units → 560.00 EUR: 100 × 4.00 + 50 × 3.20 = 560.00"
    assert bookkeeper.post(url, rows).status_code == 302
    assert Price.objects.get(code="api-tiers").model_config == {
        "model": "graduated", "tiers": [{"up_to": "100", "unit_price": "4"}, {"up_to": None, "unit_price": "3.2"}]}
    saved = bookkeeper.get(reverse("admin:billing_price_change", args=[Price.objects.get(code="api-tiers").pk]))
    assert "150 units → 560.00 EUR" in saved.content.decode()


@pytest.mark.parametrize("code, fields, quantity, expected", [
    ("flat", {"amount": "100.00"}, "3", "100.00"),
    ("per_unit", {"unit_price": "0.0015"}, "1000", "1.50"),
    ("volume", {"tier_1_up_to": "10", "tier_1_unit_price": "5", "tier_2_unit_price": "4",
                "tier_2_flat_fee": "10"}, "20", "90.00"),
    ("package", {"package_size": "10", "amount": "25.00", "free_units": "5"}, "26", "75.00"),
    ("percentage", {"rate": "2.9", "fixed_fee": "0.30"}, "100", "3.20"),
])
def test_each_price_model_has_its_form_and_example(bookkeeper, org, catalog, code, fields, quantity, expected):
    url = reverse("admin:billing_price_add") + f"?model={code}"
    assert bookkeeper.get(url).status_code == 200
    live = bookkeeper.post(reverse("admin:billing_price_preview") + f"?model={code}",
                           {"currency": "EUR", "example_quantity": quantity, **fields}).json()
    assert live["ok"], live
    assert f"→ {expected} EUR" in live["text"]


def test_a_price_amount_finer_than_its_currency_is_refused(bookkeeper, org, catalog):
    resp = bookkeeper.post(reverse("admin:billing_price_preview") + "?model=flat",
                           {"currency": "JPY", "amount": "100.5", "example_quantity": "1"}).json()
    assert not resp["ok"] and "more decimals than JPY allows (0)" in " ".join(resp["errors"])


@pytest.mark.parametrize("currency, entered, minor", [("EUR", "12.34", 1234), ("JPY", "1234", 1234),
                                                      ("BHD", "1.234", 1234)])
def test_contract_amounts_are_entered_in_major_units(bookkeeper, customer, currency, entered, minor):
    from duly.customers.models import Contract
    from tests.customers.test_admin import contract_post

    url = reverse("admin:customers_contract_add")
    resp = bookkeeper.post(url, contract_post(customer, currency=currency, late_fee_kind="fixed_fee",
                                              late_fixed_fee=entered, compensation=entered))
    assert resp.status_code == 302, _errors(resp)
    contract = Contract.objects.get()
    assert (contract.late_fixed_fee_minor, contract.compensation_minor) == (minor, minor)
    page = bookkeeper.get(reverse("admin:customers_contract_change", args=[contract.pk])).content.decode()
    assert f'name="compensation" value="{entered}"' in page
    assert "compensation_minor" not in page


@pytest.mark.parametrize("currency, entered", [("EUR", "12.345"), ("JPY", "12.5"), ("BHD", "1.2345")])
def test_an_amount_with_too_many_decimals_is_a_form_error(bookkeeper, customer, currency, entered):
    from duly.customers.models import Contract
    from tests.customers.test_admin import contract_post

    resp = bookkeeper.post(reverse("admin:customers_contract_add"),
                           contract_post(customer, currency=currency, compensation=entered))
    assert resp.status_code == 200 and f"more decimals than {currency} allows" in _errors(resp)
    assert not Contract.objects.exists()


def test_the_required_invoice_fields_are_explained_where_they_are_set(bookkeeper, customer, contract):
    contract_page = bookkeeper.get(reverse("admin:customers_contract_change", args=[contract.pk])).content.decode()
    assert "EN 16931 BT-13" in contract_page
    customer_page = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    for bt in ("BT-10", "BT-19"):
        assert bt in customer_page


def test_a_retainer_is_started_and_topped_up_in_major_units(bookkeeper, org, customer, contract):
    add = reverse("admin:billing_retaineragreement_add")
    bad = bookkeeper.post(add, {"contract": contract.pk, "topup_amount": "500.001", "threshold": "100"})
    assert "more decimals than EUR allows" in _errors(bad) and not RetainerAgreement.objects.exists()
    assert bookkeeper.post(add, {"contract": contract.pk, "topup_amount": "500.00", "threshold": "100.00",
                                 "initial_amount": ""}).status_code == 302
    retainer = RetainerAgreement.objects.get()
    assert (retainer.topup_minor, retainer.threshold_minor) == (50000, 10000)
    top_up = reverse("admin:billing_retaineragreement_top_up", args=[retainer.pk])
    assert bookkeeper.post(top_up, {"amount": "250.50"}).status_code == 302
    assert sorted(Invoice.objects.filter(kind=Invoice.KIND_DEPOSIT).values_list("total_minor", flat=True)) == [
        25050, 50000]


def test_the_subscription_pages_refuse_other_organizations_and_roles_without_billing(org, other_org, customer,
                                                                                    contract, catalog):
    """Filled-in forms (not only empty ones, which the security walk posts): another organization's owner gets a
    404 and a viewer a 403, and nothing is written."""
    from django.test import Client

    from duly.customers.services import add_member

    sub = _billed_subscription(org, customer, contract, catalog)
    item = sub.items.get()
    pages = [("change_item", {"item": item.pk, "on": "2026-01-16", "quantity": "8", "previewed_net": "15.48",
                              "_confirm": "1"}),
             ("pause", {"starts_on": "2026-01-20", "resumes_on": "", "reason": ""}),
             ("cancel", {"on": "2026-01-20", "reason": ""})]
    outsider, viewer = Client(), Client()
    outsider.force_login(add_member(other_org, username="other-owner", password="x-pass-12345", role="owner"))
    viewer.force_login(add_member(org, username="just-viewer", password="x-pass-12345", role="viewer"))
    for name, data in pages:
        url = reverse(f"admin:billing_subscription_{name}", args=[sub.pk])
        assert outsider.post(url, data).status_code == 404
        assert viewer.post(url, data).status_code == 403
    assert viewer.get(reverse("admin:billing_subscription_add")).status_code == 403
    sub.refresh_from_db()
    assert (sub.status, sub.items.count(), sub.pauses.count()) == (Subscription.ACTIVE, 1, 0)
    assert not PendingCharge.objects.exists()


def test_a_price_change_is_entered_as_rows_too(bookkeeper, org, customer, contract, catalog):
    from datetime import timedelta

    from duly.billing.models import PriceChange

    services.create_subscription(org, customer, [(catalog["per_unit"], 2)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1))
    url = reverse("admin:billing_pricechange_add") + "?model=volume"
    assert 'name="tier_2_unit_price"' in bookkeeper.get(url).content.decode()
    data = {"price": catalog["per_unit"].pk, "subscription": "",
            "effective_date": (date.today() + timedelta(days=60)).isoformat(), "justification": "Volume discounts.",
            "notice_days": "30", "tier_1_up_to": "10", "tier_1_unit_price": "10.00", "tier_2_unit_price": "8.00",
            "example_quantity": "20", "notices-TOTAL_FORMS": "0", "notices-INITIAL_FORMS": "0"}
    preview = bookkeeper.post(url, {**data, "_preview": "1"})
    assert "20 units → 160.00 EUR" in preview.content.decode() and not PriceChange.objects.exists()
    assert bookkeeper.post(url, data).status_code == 302
    assert PriceChange.objects.get().new_model_config == {
        "model": "volume", "tiers": [{"up_to": "10", "unit_price": "10"}, {"up_to": None, "unit_price": "8"}]}
