"""/api/v1 previews of subscription changes: each `…/preview` route answers what the change would settle (from the
same service function that books it) and writes nothing; the change confirmed with `expected_net` books exactly
the previewed amounts, and a stale `expected_net` is a 409 `proration_changed` problem."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from .conftest import assert_problem, org_today

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(org, customer, contract):
    """Seats × 5 (10.00 each) and a 100.00 plan from the first of last month, that month invoiced in advance; the
    changes fall in it (`on` = its 11th)."""
    from duly.billing import services as billing

    today = org_today(org)
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    seats = billing.create_product(org, code="SEATS", name="Seats", tax_rate=Decimal("20"))
    seat = billing.create_price(org, seats, code="seat", currency="EUR",
                                model_config={"model": "per_unit", "unit_price": "10.00"})
    flat = billing.create_price(org, seats, code="plan", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    extra = billing.create_price(org, seats, code="extra", currency="EUR",
                                 model_config={"model": "flat", "amount": "31.00"})
    sub = billing.create_subscription(org, customer, [(seat, 5), (flat, 1)], start_date=start, as_of=start,
                                      contract=contract)
    billing.run_billing(org, start)
    return {"sub": sub, "seat_item": sub.items.get(price=seat).pk, "extra": extra.pk,
            "on": start.replace(day=11).isoformat()}


def _notes():
    from duly.invoicing.models import Invoice

    return Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE)


def _pending():
    from duly.billing.models import PendingCharge

    return PendingCharge.objects.all()


def test_each_preview_writes_nothing_and_the_confirmed_change_books_its_amounts(api, billed):
    sub, on = billed["sub"], billed["on"]
    base = f"/subscriptions/{sub.pk}"
    add = api.post(f"{base}/items/preview", {"price_id": billed["extra"], "on": on})
    assert add.status_code == 200, add.content
    body = add.json()
    assert body["booked"] == "charge" and body["net"]["currency"] == "EUR" and body["net"]["amount_minor"] > 0
    assert body["lines"][0]["kind"] == "charge" and body["invoice_number"]
    assert not _pending().exists() and sub.items.count() == 2
    done = api.post(f"{base}/items", {"price_id": billed["extra"], "on": on,
                                      "expected_net": body["net"]["amount_minor"]}, idem="add-1")
    assert done.status_code == 201, done.content
    assert [c.amount_minor for c in _pending()] == [body["net"]["amount_minor"]]

    item = billed["seat_item"]
    remove = api.post(f"{base}/items/{item}/remove/preview", {"on": on}).json()
    assert remove["booked"] == "credit" and remove["net"]["amount_minor"] == -remove["credit"]["amount_minor"]
    assert not _notes().exists()
    assert api.post(f"{base}/items/{item}/remove", {"on": on, "expected_net": remove["net"]["amount_minor"]},
                    idem="rm-1").status_code == 200
    note = _notes().get()
    assert sum(line.net_minor for line in note.lines.all()) == remove["credit_note"]["amount_minor"]

    cancel = api.post(f"{base}/cancel/preview", {"on": on, "at_period_end": False}).json()
    assert cancel["ends_on"] == on and cancel["booked"] == "credit"
    assert api.post(f"{base}/cancel", {"on": on, "at_period_end": False,
                                       "expected_net": cancel["net"]["amount_minor"]}, idem="c-1").status_code == 200
    latest = _notes().order_by("-pk").first()
    assert sorted(line.net_minor for line in latest.lines.all()) == sorted(
        line["amount"]["amount_minor"] for line in cancel["lines"])


def test_a_seat_change_preview_has_the_same_shape_and_is_booked(api, billed):
    sub, on, item = billed["sub"], billed["on"], billed["seat_item"]
    preview = api.post(f"/subscriptions/{sub.pk}/items/{item}/change/preview", {"quantity": "8", "on": on})
    assert preview.status_code == 200, preview.content
    p = preview.json()
    assert p["booked"] == "charge" and p["net"]["amount_minor"] == p["charge"]["amount_minor"] - p["credit"]["amount_minor"]
    assert api.post(f"/subscriptions/{sub.pk}/items/{item}/change",
                    {"quantity": "8", "on": on, "expected_net": p["net"]["amount_minor"]}).status_code == 200
    assert [c.amount_minor for c in _pending()] == [p["net"]["amount_minor"]]


def test_a_stale_confirmation_is_a_problem_and_writes_nothing(api, billed):
    sub, on, item = billed["sub"], billed["on"], billed["seat_item"]
    base = f"/subscriptions/{sub.pk}"
    stale = {"on": on, "expected_net": -1}
    assert_problem(api.post(f"{base}/items/{item}/remove", stale), 409, "proration_changed")
    assert_problem(api.post(f"{base}/cancel", {**stale, "at_period_end": False}), 409, "proration_changed")
    assert_problem(api.post(f"{base}/items", {**stale, "price_id": billed["extra"]}), 409, "proration_changed")
    assert_problem(api.post(f"{base}/items/{item}/change", {**stale, "quantity": "8"}), 409, "proration_changed")
    sub.refresh_from_db()
    assert sub.status == "active" and sub.items.count() == 2 and not _notes().exists() and not _pending().exists()


def test_previews_are_documented_and_scoped(api, make_api, other_org, billed):
    from django.test import Client

    doc = Client().get("/api/v1/openapi.json").json()
    sid = "{subscription_id}"
    for path in (f"/api/v1/subscriptions/{sid}/items/preview", f"/api/v1/subscriptions/{sid}/cancel/preview",
                 f"/api/v1/subscriptions/{sid}/items/{{item_id}}/remove/preview",
                 f"/api/v1/subscriptions/{sid}/items/{{item_id}}/change/preview"):
        assert "200" in doc["paths"][path]["post"]["responses"], path
    assert "expected_net" in doc["components"]["schemas"]["CancelIn"]["properties"]
    sub = billed["sub"]
    assert_problem(make_api(other_org, role="owner").post(f"/subscriptions/{sub.pk}/cancel/preview", {}),
                   404, "not_found")
    assert_problem(make_api(sub.organization, role="viewer").post(f"/subscriptions/{sub.pk}/cancel/preview", {}),
                   403, "insufficient_scope")
