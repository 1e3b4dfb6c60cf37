"""The back office shows what adding an item, removing one and cancelling at once settle before they are confirmed
(the figures of the service that books them), books exactly that, and refuses a confirmation whose proration
changed since it was shown."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from duly.billing import services
from duly.billing.models import PendingCharge, Subscription
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def _errors(resp) -> str:
    return " ".join(re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', resp.content.decode(), re.S))


def _billed(org, customer, contract, catalog):
    sub = services.create_subscription(org, customer, [(catalog["per_unit"], 5), (catalog["flat"], 1)],
                                       start_date=date(2026, 1, 1), as_of=date(2026, 1, 1), contract=contract)
    services.run_billing(org, date(2026, 1, 1))  # January is invoiced in advance
    return Subscription.objects.get(pk=sub.pk)


def _previewed(client, url, data) -> tuple[str, str]:
    resp = client.post(url, data)
    page = resp.content.decode()
    assert resp.status_code == 200 and 'id="duly-proration"' in page, _errors(resp)
    return page, re.search(r'name="previewed_net" value="([^"]*)"', page).group(1)


def test_adding_an_item_previews_its_charge_and_books_it(bookkeeper, org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    url = reverse("admin:billing_subscription_add_item", args=[sub.pk])
    form = {"price": catalog["flat"].pk, "quantity": "1", "on": "2026-01-16"}
    page, net = _previewed(bookkeeper, url, form)
    s = services.preview_add_item(org, sub, catalog["flat"], 1, on=date(2026, 1, 16)).settlement
    assert net == str(s.net) == "51.61" and "51.61 EUR" in page and "waits for the next invoice" in page
    assert not PendingCharge.objects.exists() and sub.items.count() == 2  # the preview wrote nothing
    assert bookkeeper.post(url, {**form, "previewed_net": net, "_confirm": "1"}).status_code == 302
    assert PendingCharge.objects.get().amount_minor == 5161 and sub.items.count() == 3


def test_removing_an_item_previews_its_credit_and_books_it(bookkeeper, org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    seats = sub.items.get(price=catalog["per_unit"])
    url = reverse("admin:billing_subscription_remove_item", args=[sub.pk])
    form = {"item": seats.pk, "on": "2026-01-21"}
    page, net = _previewed(bookkeeper, url, form)
    assert net == "-17.74" and "−17.74 EUR" in page and "credit note" in page
    assert not Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).exists()
    assert bookkeeper.post(url, {**form, "previewed_net": net, "_confirm": "1"}).status_code == 302
    note = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    assert note.lines.get().net_minor == 1774


def test_cancelling_at_once_previews_its_credit_and_end_and_books_them(bookkeeper, org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    url = reverse("admin:billing_subscription_cancel", args=[sub.pk])
    form = {"on": "2026-01-21", "reason": "Closing down"}  # "at the end of the period" unticked: at once
    page, net = _previewed(bookkeeper, url, form)
    assert net == "-53.22" and "Service ends on 2026-01-21" in page
    assert "−17.74 EUR" in page and "−35.48 EUR" in page
    sub.refresh_from_db()
    assert sub.status == Subscription.ACTIVE
    assert bookkeeper.post(url, {**form, "previewed_net": net, "_confirm": "1"}).status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.end_date) == (Subscription.CANCELED, date(2026, 1, 21))
    note = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    assert sorted(line.net_minor for line in note.lines.all()) == [1774, 3548]


@pytest.mark.parametrize("page", ["add_item", "remove_item", "cancel"])
def test_a_confirmation_whose_proration_changed_is_refused(bookkeeper, org, customer, contract, catalog, page):
    sub = _billed(org, customer, contract, catalog)
    seats = sub.items.get(price=catalog["per_unit"])
    form = {"add_item": {"price": catalog["flat"].pk, "quantity": "1", "on": "2026-01-16"},
            "remove_item": {"item": seats.pk, "on": "2026-01-21"},
            "cancel": {"on": "2026-01-21", "reason": ""}}[page]
    url = reverse(f"admin:billing_subscription_{page}", args=[sub.pk])
    resp = bookkeeper.post(url, {**form, "previewed_net": "-1.00", "_confirm": "1"})
    assert resp.status_code == 200 and "changed since it was shown" in _errors(resp)
    sub.refresh_from_db()
    assert (sub.status, sub.items.count()) == (Subscription.ACTIVE, 2)
    assert not PendingCharge.objects.exists() and not Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).exists()
