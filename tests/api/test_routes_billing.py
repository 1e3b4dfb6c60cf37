"""Contacts, products and prices, subscriptions and usage batches through /api/v1: happy paths and the answers
a client relies on (scope refused, unknown fields, wrong currency, idempotent replays)."""

from __future__ import annotations

from datetime import timedelta

from .conftest import assert_problem, org_today

EUR = "EUR"


def test_contacts_crud(api, world, org):
    from duly.customers.models import Contact

    c = world["customer"]
    made = api.post(f"/customers/{c}/contacts", {"name": "Jeanne Martin", "email": "jeanne@acme.example",
                                                 "role": "accounts_payable"}, idem="contact-1")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["role"] == "accounts_payable" and body["customer_id"] == c
    again = api.post(f"/customers/{c}/contacts", {"name": "Jeanne Martin", "email": "jeanne@acme.example",
                                                  "role": "accounts_payable"}, idem="contact-1")
    assert again.content == made.content and again["Idempotent-Replayed"] == "true"
    assert_problem(api.post(f"/customers/{c}/contacts", {"name": "Other"}, idem="contact-1"),
                   422, "idempotency_conflict")
    assert [x["name"] for x in api.get(f"/customers/{c}/contacts").json()["data"]].count("Jeanne Martin") == 1
    patched = api.patch(f"/customers/{c}/contacts/{body['id']}", {"phone": "+33 1 23 45 67 89"})
    assert patched.status_code == 200 and patched.json()["phone"] == "+33 1 23 45 67 89"
    assert_problem(api.patch(f"/customers/{c}/contacts/{body['id']}", {"email": "not an address"}),
                   400, "invalid_input")
    assert_problem(api.post(f"/customers/{c}/contacts", {"name": "X", "fax": "1"}), 422, "unknown_field")
    assert_problem(api.post(f"/customers/{c}/contacts", {"name": "X", "role": "boss"}), 422, "invalid_input")
    deleted = api.client.delete(f"/api/v1/customers/{c}/contacts/{body['id']}",
                                headers={"Authorization": f"Bearer {api.secret}"})
    assert deleted.status_code == 204
    assert not Contact.objects.filter(pk=body["id"]).exists()
    assert_problem(api.get(f"/customers/{c}/contacts", starting_after=body["id"]), 400, "invalid_cursor")


def test_products_and_prices(api, world, org):
    from duly.billing.models import Price

    made = api.post("/products", {"code": "API", "name": "API calls", "tax_rate": "20"}, idem="p-1")
    assert made.status_code == 201, made.content
    product = made.json()
    assert product["tax_rate"] in ("20", "20.0000") and product["unit"] == "C62"
    assert api.post("/products", {"code": "API", "name": "API calls", "tax_rate": "20"}, idem="p-1").content == \
        made.content
    assert_problem(api.post("/products", {"code": "API", "name": "Again"}), 400, "duplicate")
    assert api.get(f"/products/{product['id']}").json()["code"] == "API"
    tiers = {"model": "graduated", "tiers": [{"up_to": "1000", "unit_price": "0"},
                                             {"up_to": "10000", "unit_price": "0.01", "flat_fee": "5"},
                                             {"up_to": None, "unit_price": "0.005"}]}
    price = api.post("/prices", {"product_id": product["id"], "code": "api-grad", "currency": "EUR",
                                 "pricing": tiers, "quantity_source": "usage", "metric": "api_calls"})
    assert price.status_code == 201, price.content
    got = api.get(f"/prices/{price.json()['id']}").json()
    assert got["pricing"]["model"] == "graduated" and got["metric"] == "api_calls"
    assert [t["up_to"] for t in got["pricing"]["tiers"]] == ["1000", "10000", None]
    assert got["pricing"]["tiers"][1]["flat_fee"] == "5"
    # the billing services judge the model: overlapping tiers, a usage price without metric, a bad currency
    bad = {"model": "graduated", "tiers": [{"up_to": "100", "unit_price": "1"}, {"up_to": "50", "unit_price": "1"}]}
    assert_problem(api.post("/prices", {"product_id": product["id"], "code": "bad", "currency": "EUR",
                                        "pricing": bad}), 400, "overlapping_tiers")
    assert_problem(api.post("/prices", {"product_id": product["id"], "code": "bad", "currency": "EUR",
                                        "pricing": {"model": "per_unit", "unit_price": "1"},
                                        "quantity_source": "usage"}), 400, "invalid_input")
    assert_problem(api.post("/prices", {"product_id": product["id"], "code": "bad", "currency": "XXQ",
                                        "pricing": {"model": "flat", "amount": "1"}}), 400, "unknown_currency")
    assert_problem(api.post("/prices", {"product_id": product["id"], "code": "bad", "currency": "EUR",
                                        "pricing": {"model": "flat", "amount": "1", "discount": "2"}}),
                   422, "unknown_field")
    assert_problem(api.post("/prices", {"product_id": product["id"], "code": "bad", "currency": "EUR",
                                        "pricing": {"model": "per_unit", "unit_price": "1"},
                                        "quantity_source": "usage", "metric": "nope"}), 404, "not_found")
    assert not Price.objects.filter(code="bad").exists()
    listed = api.get("/prices", product=product["id"]).json()["data"]
    assert [p["code"] for p in listed] == ["api-grad"]
    minimum = api.post("/prices", {"product_id": world["product"], "code": "seat-min", "currency": "EUR",
                                   "pricing": {"model": "minimum_commitment", "minimum": "50",
                                               "charge": {"model": "per_unit", "unit_price": "10"}}})
    assert minimum.status_code == 201, minimum.content
    assert minimum.json()["pricing"]["charge"] == {"model": "per_unit", "unit_price": "10"}


def test_subscription_lifecycle(api, world, org):
    from duly.billing.models import Subscription, SubscriptionItem

    today = org_today(org)
    body = {"customer_id": world["customer"], "items": [{"price_id": world["price"], "quantity": "5"}],
            "reference": "SUB-API"}
    made = api.post("/subscriptions", body, idem="s-1")
    assert made.status_code == 201, made.content
    sub = made.json()
    assert sub["status"] == "active" and [i["quantity"] for i in sub["items"]] in (["5"], ["5.000000"])
    assert api.post("/subscriptions", body, idem="s-1").content == made.content
    assert Subscription.objects.filter(reference="SUB-API").count() == 1
    assert_problem(api.post("/subscriptions", {**body, "reference": "other"}, idem="s-1"), 422,
                   "idempotency_conflict")
    sid, item = sub["id"], sub["items"][0]["id"]
    assert [s["id"] for s in api.get("/subscriptions", customer=world["customer"]).json()["data"]] == \
        [world["subscription"], sid]
    # seats: 5 -> 8 from today (prorated by the billing services), then an add-on, then its removal
    changed = api.post(f"/subscriptions/{sid}/items/{item}/change", {"quantity": "8"}, idem="s-2")
    assert changed.status_code == 200, changed.content
    live = [i for i in changed.json()["items"] if i["ends_on"] is None or i["ends_on"] > str(today)]
    assert [float(i["quantity"]) for i in live] == [8.0]
    assert api.post(f"/subscriptions/{sid}/items/{item}/change", {"quantity": "8"}, idem="s-2").content == \
        changed.content
    added = api.post(f"/subscriptions/{sid}/items", {"price_id": world["price"], "quantity": "1"})
    assert added.status_code == 201, added.content
    new_item = max(i["id"] for i in added.json()["items"])
    removed = api.post(f"/subscriptions/{sid}/items/{new_item}/remove", {"on": str(today + timedelta(days=1))})
    assert removed.status_code == 200, removed.content
    assert SubscriptionItem.objects.get(pk=new_item).ends_on == today + timedelta(days=1)
    assert_problem(api.post(f"/subscriptions/{sid}/items/999999/remove", {}), 404, "not_found")
    # pause, resume, cancel
    paused = api.post(f"/subscriptions/{sid}/pause", {"starts_on": str(today + timedelta(days=2)),
                                                      "reason": "summer"})
    assert paused.status_code == 200 and paused.json()["pauses"][0]["reason"] == "summer", paused.content
    resumed = api.post(f"/subscriptions/{sid}/resume", {"on": str(today + timedelta(days=5))})
    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["pauses"][0]["resumes_on"] == str(today + timedelta(days=5))
    canceled = api.post(f"/subscriptions/{sid}/cancel", {"at_period_end": True})
    assert canceled.status_code == 200, canceled.content
    assert canceled.json()["cancel_at_period_end"] or canceled.json()["status"] == "canceled"
    assert_problem(api.post(f"/subscriptions/{sid}/cancel", {}), 409, "invalid_state")


def test_subscription_bad_input_writes_nothing(api, world, org):
    from duly.billing.models import Subscription

    before = Subscription.objects.count()
    usd = {"customer_id": world["customer"], "items": [{"price_id": world["usd_price"], "quantity": "1"}]}
    assert_problem(api.post("/subscriptions", usd), 400, "currency_mismatch")
    assert_problem(api.post("/subscriptions", {**usd, "coupon": "X"}), 422, "unknown_field")
    assert_problem(api.post("/subscriptions", {"customer_id": world["customer"], "items": []}), 422, "invalid_input")
    assert_problem(api.post("/subscriptions", {"customer_id": world["customer"], "items": [
        {"price_id": world["price"], "quantity": "-1"}]}), 422, "invalid_input")
    assert_problem(api.post(f"/subscriptions/{world['subscription']}/items", {"price_id": world["usd_price"]}),
                   400, "currency_mismatch")
    assert Subscription.objects.count() == before


def test_scopes(make_api, org, world):
    """A viewer reads and writes nothing; a collector chases but does not bill or change the catalog."""
    viewer, collector = make_api(org, role="viewer"), make_api(org, role="collector")
    c, s = world["customer"], world["subscription"]
    writes = [
        (f"/customers/{c}/contacts", {"name": "X"}, "manage_customers"),
        ("/products", {"code": "X", "name": "X"}, "manage_catalog"),
        ("/prices", {"product_id": world["product"], "code": "x", "currency": EUR,
                     "pricing": {"model": "flat", "amount": "1"}}, "manage_catalog"),
        ("/subscriptions", {"customer_id": c, "items": [{"price_id": world["price"]}]}, "bill"),
        (f"/subscriptions/{s}/items", {"price_id": world["price"]}, "bill"),
        (f"/subscriptions/{s}/items/{world['item']}/change", {"quantity": "2"}, "bill"),
        (f"/subscriptions/{s}/items/{world['item']}/remove", {}, "bill"),
        (f"/subscriptions/{s}/pause", {}, "bill"),
        (f"/subscriptions/{s}/resume", {}, "bill"),
        (f"/subscriptions/{s}/cancel", {}, "bill"),
        ("/usage_events", {"events": [{"idempotency_key": "k", "customer": "ACME", "metric": "api_calls",
                                       "timestamp": "2026-01-01T00:00:00Z"}]}, "bill"),
        (f"/payments/{world['payment']}/allocations", {"allocations": [
            {"invoice_id": world["second"], "amount": {"amount_minor": 100, "currency": EUR}}]}, "record_payments"),
        (f"/customers/{c}/payment_methods/{world['other_method']}/default", {}, "record_payments"),
        ("/disputes", {"invoice_id": world["invoice"], "question": "?"}, "collect"),
        (f"/disputes/{world['dispute']}/resolve", {"answer": "yes"}, "collect"),
        ("/promises", {"customer_id": c, "promised_date": "2099-01-01",
                       "amount": {"amount_minor": 100, "currency": EUR}}, "collect"),
    ]
    for path, body, permission in writes:
        body_v = assert_problem(viewer.post(path, body), 403, "insufficient_scope")
        assert permission in body_v["detail"], (path, body_v)
        if permission != "collect":
            assert_problem(collector.post(path, body), 403, "insufficient_scope")
    assert_problem(viewer.client.delete(f"/api/v1/customers/{c}/payment_methods/{world['method']}",
                                        headers={"Authorization": f"Bearer {viewer.secret}"}),
                   403, "insufficient_scope")
    # crediting a customer while answering a dispute is billing work: a collector may answer, not credit
    assert_problem(collector.post(f"/disputes/{world['dispute']}/resolve", {"answer": "yes", "credit": "whole"}),
                   403, "insufficient_scope")
    for path in ("/products", "/prices", "/subscriptions", f"/customers/{c}/contacts", "/disputes", "/promises",
                 f"/customers/{c}/payment_methods", f"/customers/{c}/mandates", "/aging",
                 f"/customers/{c}/statement", f"/customers/{c}/aging"):
        assert viewer.get(path).status_code == 200, path
