"""The back office: every page a bookkeeper opens renders, and the actions go through the services."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from duly.customers.services import add_member
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice


@pytest.fixture
def bookkeeper(org):
    add_member(org, username="bk", password="ledger-pass-1")
    client = Client()
    assert client.login(username="bk", password="ledger-pass-1")
    return client


def test_every_changelist_and_add_page_renders(bookkeeper, contract):
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in ("auth",):
            continue
        info = (model._meta.app_label, model._meta.model_name)
        resp = bookkeeper.get(reverse("admin:%s_%s_changelist" % info) + "?q=acme")
        assert resp.status_code in (200, 403), (info, resp.status_code)
        if model_admin.has_add_permission(type("R", (), {"user": resp.wsgi_request.user})()):
            assert bookkeeper.get(reverse("admin:%s_%s_add" % info)).status_code in (200, 403), info


def test_issue_action_and_record_payment_page(bookkeeper, org, customer, contract):
    draft = inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(2), Decimal("500"), tax_rate=Decimal(20))],
                             contract=contract)
    resp = bookkeeper.post(reverse("admin:invoicing_invoice_changelist"),
                           {"action": "issue_selected", "_selected_action": [draft.pk]}, follow=True)
    draft.refresh_from_db()
    assert draft.status == Invoice.ISSUED and draft.number in resp.content.decode()
    url = reverse("admin:invoicing_invoice_record_payment", args=[draft.pk])
    resp = bookkeeper.post(url, {"amount": "1200.00", "method": "bank_transfer",
                                 "received_on": date.today().isoformat(), "external_reference": "TRX-1"}, follow=True)
    draft.refresh_from_db()
    assert draft.status == Invoice.PAID


def test_service_errors_show_as_messages_not_tracebacks(bookkeeper, org, make_customer, make_contract):
    cust = make_customer("POREQ", name="Initech SA", required_fields=["po_number"])
    draft = inv.create_draft(org, cust, [inv.LineData("Audit", Decimal(1), Decimal("10"))], contract=make_contract(cust))
    resp = bookkeeper.post(reverse("admin:invoicing_invoice_changelist"),
                           {"action": "issue_selected", "_selected_action": [draft.pk]}, follow=True)
    assert resp.status_code == 200
    assert "PO number" in resp.content.decode() and "Initech SA" in resp.content.decode()
    draft.refresh_from_db()
    assert draft.status == Invoice.DRAFT


def test_void_action_asks_for_a_reason(bookkeeper, org, customer, contract):
    issued = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("X", Decimal(1), Decimal(5))],
                                                     contract=contract).pk, issue_date=date(2026, 3, 1))
    url = reverse("admin:invoicing_invoice_changelist")
    form = bookkeeper.post(url, {"action": "void_selected", "_selected_action": [issued.pk]})
    assert b"reason" in form.content
    bookkeeper.post(url, {"action": "void_selected", "_selected_action": [issued.pk], "apply": "1",
                          "reason": "Wrong customer"})
    issued.refresh_from_db()
    assert issued.status == Invoice.VOID and issued.void_reason == "Wrong customer"


def test_invalid_iban_is_a_form_error(bookkeeper, org):
    resp = bookkeeper.post(reverse("admin:customers_organization_change", args=[org.pk]), {
        "name": org.name, "slug": org.slug, "address_line1": "x", "postcode": "1", "city": "Paris", "country": "FR",
        "iban": "FR00 0000", "brand_color": "#112233", "default_currency": "EUR", "locale": "fr", "timezone": "UTC",
    })
    assert resp.status_code == 200 and b"Invalid IBAN" in resp.content
