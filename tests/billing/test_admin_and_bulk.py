"""The back office goes through the services; the bulk issuing path equals the one-by-one path."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from duly.billing import services
from duly.billing.models import Price, PriceChange, Product
from duly.invoicing import bulk
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def test_catalog_is_created_through_the_services_and_mistakes_show_on_the_form(bookkeeper, org, catalog):
    resp = bookkeeper.post(reverse("admin:billing_product_add"), {
        "code": "SUP", "name": "Support", "unit": "HUR", "tax_category": "S", "tax_rate": "20", "active": "on"})
    assert resp.status_code == 302
    product = Product.objects.get(code="SUP")
    assert product.organization == org
    resp = bookkeeper.post(reverse("admin:billing_price_add") + "?model=graduated", {
        "product": product.pk, "code": "sup-bad", "currency": "EUR", "quantity_source": "quantity",
        "tier_1_up_to": "5", "tier_1_unit_price": "1", "tier_2_up_to": "5", "tier_2_unit_price": "2",
        "tier_3_unit_price": "3", "active": "on"})
    assert resp.status_code == 200 and "which is not above 5" in resp.content.decode()
    assert not Price.objects.filter(code="sup-bad").exists()
    resp = bookkeeper.post(reverse("admin:billing_price_add") + "?model=per_unit", {
        "product": product.pk, "code": "sup-usage", "currency": "EUR", "quantity_source": "usage",
        "unit_price": "90", "active": "on"})
    assert resp.status_code == 200 and "needs the metric it is billed on" in resp.content.decode()
    resp = bookkeeper.post(reverse("admin:billing_price_add") + "?model=per_unit", {
        "product": product.pk, "code": "sup-hour", "currency": "EUR", "quantity_source": "quantity",
        "unit_price": "90", "active": "on"})
    assert resp.status_code == 302
    assert Price.objects.get(code="sup-hour").model_config == {"model": "per_unit", "unit_price": "90"}


def test_subscription_actions_go_through_the_services(bookkeeper, org, customer, contract, catalog):
    today = date.today()
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=today, as_of=today)
    url = reverse("admin:billing_subscription_changelist")
    resp = bookkeeper.post(url, {"action": "bill_now", "_selected_action": [sub.pk]}, follow=True)
    assert "Issued 1 invoice(s)" in resp.content.decode()
    resp = bookkeeper.post(url, {"action": "cancel_now", "_selected_action": [sub.pk]}, follow=True)
    assert resp.status_code == 200
    assert Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).count() == 1
    resp = bookkeeper.post(url, {"action": "pause_today", "_selected_action": [sub.pk]}, follow=True)
    assert "cannot be paused" in resp.content.decode()  # the service's error, shown as a message
    assert bookkeeper.get(reverse("admin:billing_subscription_change", args=[sub.pk])).status_code == 200


def test_price_change_form_refuses_short_notice(bookkeeper, org, customer, contract, catalog):
    services.create_subscription(org, customer, [(catalog["per_unit"], 2)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1))
    resp = bookkeeper.post(reverse("admin:billing_pricechange_add") + "?model=per_unit", {
        "price": catalog["per_unit"].pk, "effective_date": date.today().isoformat(),
        "unit_price": "11", "justification": "Better seats.", "notice_days": "30"})
    assert resp.status_code == 200 and "days&#x27; notice" in resp.content.decode()
    assert not PriceChange.objects.exists()


def test_bulk_issuing_writes_what_the_one_by_one_path_writes(org, make_customer, make_contract):
    customer = make_customer("BULK", name="Bulk SA", buyer_reference="BR-7", cost_centre="CC-1")
    contract = make_contract(customer, terms_kind="end_of_month", terms_days=10, po_number="PO-42",
                             late_fee_kind="interest_annual", late_rate_percent=Decimal("10"))
    lines = [
        invoicing.LineData("Consulting", Decimal("2.5"), Decimal("480.00"), unit="HUR", tax_rate=Decimal("20"),
                           period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), explanation="2.5 h"),
        invoicing.LineData("Export", Decimal("1"), Decimal("99.99"), tax_category="G",
                           tax_exemption_reason="Export outside the EU"),
        invoicing.LineData("Books", Decimal("3"), Decimal("12.345"), tax_rate=Decimal("5.5"),
                           discount_percent=Decimal("10")),
    ]
    draft = invoicing.create_draft(org, customer, lines, contract=contract,
                                   service_period=(date(2026, 3, 1), date(2026, 3, 31)))
    one = invoicing.issue_invoice(org, draft.pk, issue_date=date(2026, 4, 2))
    with transaction.atomic():
        prepared = bulk.prepare(org, bulk.BulkInvoice(customer=customer, contract=contract, lines=lines,
                                                      service_period=(date(2026, 3, 1), date(2026, 3, 31))),
                                issue_date=date(2026, 4, 2))
        (many,) = bulk.issue_prepared(org, [prepared], issue_date=date(2026, 4, 2))
    many = Invoice.objects.get(pk=many.pk)
    skip = {"id", "number", "rf_reference", "issued_at", "created_at"}
    fields = [f.attname for f in Invoice._meta.concrete_fields if f.attname not in skip]
    assert {f: getattr(many, f) for f in fields} == {f: getattr(one, f) for f in fields}
    assert (one.number, many.number) == ("INV-2026-00001", "INV-2026-00002")
    assert many.rf_reference.endswith("INV202600002")
    line_fields = [f.attname for f in one.lines.model._meta.concrete_fields if f.attname not in ("id", "invoice_id")]
    assert [[getattr(x, f) for f in line_fields] for x in many.lines.order_by("position")] == \
        [[getattr(x, f) for f in line_fields] for x in one.lines.order_by("position")]


def test_the_batch_reader_returns_exactly_the_values_the_orm_returns(org, customer, contract, catalog):
    from duly.billing.usage_services import record_usage_event
    from duly.billing.models import Subscription, SubscriptionItem, UsageEvent
    from duly.customers.models import Contract, Customer

    services.create_metric(org, code="gb", name="GB", aggregation="max")
    record_usage_event(org, idempotency_key="k1", customer=customer.code, metric="gb", value="12.5",
                       timestamp="2026-03-02T23:30:00+01:00", properties={"region": "eu", "n": [1, 2]})
    services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 3)],
                                 start_date=date(2026, 1, 31), as_of=date(2026, 1, 31))
    bulk.issue_prepared(org, [bulk.prepare(org, bulk.BulkInvoice(customer=customer, contract=contract, lines=[
        invoicing.LineData(description="Work", quantity=Decimal("1.5"), unit_price=Decimal("80"))]),
        issue_date=date(2026, 2, 1))], issue_date=date(2026, 2, 1))
    for model in (Customer, Contract, Subscription, SubscriptionItem, UsageEvent, Invoice):
        names = [f.attname for f in model._meta.concrete_fields]
        expected = list(model.objects.order_by("id").values_list(*names))
        got = bulk.fetch_rows(model.objects.order_by("id").values_list(*names))
        assert expected and got == expected, model.__name__
        assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in expected]
        assert [[getattr(v, "tzinfo", None) for v in row] for row in got] == [
            [getattr(v, "tzinfo", None) for v in row] for row in expected]
    assert bulk.fetch_rows(Customer.objects.filter(bulk.ids_in("id", [])).values_list("id")) == []
