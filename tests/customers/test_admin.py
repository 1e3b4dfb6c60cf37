"""The back office: every page a bookkeeper opens renders, and the actions go through the services."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice


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


def org_post(org, **fields):
    data = {"name": org.name, "slug": org.slug, "trading_name": "", "address_line1": org.address_line1,
            "address_line2": "", "postcode": org.postcode, "city": org.city, "country": org.country,
            "vat_id": org.vat_id, "registration_id": "", "iban": org.iban, "bic": org.bic, "bank_name": "",
            "email": org.email, "phone": "", "website": "", "brand_color": org.brand_color,
            "default_currency": org.default_currency, "locale": org.locale, "timezone": org.timezone}
    data.update(fields)
    return data


def test_organization_changes_go_through_the_service(bookkeeper, org):
    url = reverse("admin:customers_organization_change", args=[org.pk])
    bad = bookkeeper.post(url, org_post(org, brand_color="blue"))
    assert bad.status_code == 200 and b"Brand colour must look like #1F4E79" in bad.content
    org.refresh_from_db()
    assert org.brand_color == "#1F4E79"

    resp = bookkeeper.post(url, org_post(org, city="Lyon", brand_color="#AA3300", slug="renamed",
                                         iban="fr14 2004 1010 0505 0001 3m02 606"), follow=True)
    assert "changed successfully" in resp.content.decode()
    org.refresh_from_db()
    # the IBAN is stored as the service cleans it; the slug names the seller in URLs and stays
    assert (org.city, org.brand_color, org.iban, org.slug) == ("Lyon", "#AA3300", "FR1420041010050500013M02606",
                                                                "atelier")


def test_a_seller_created_in_the_back_office_can_issue_and_is_its_creators(bookkeeper, org):
    from duly.customers.models import Membership, Organization
    from duly.invoicing.models import NumberSeries

    resp = bookkeeper.post(reverse("admin:customers_organization_add"),
                           org_post(org, name="Second Studio GmbH", slug="second", country="DE", city="Berlin",
                                    vat_id="", iban="", bic="", locale="de_DE", timezone="Europe/Berlin"),
                           follow=True)
    assert "added successfully" in resp.content.decode()
    new = Organization.objects.get(slug="second")
    assert set(NumberSeries.objects.filter(organization=new).values_list("kind", flat=True)) == {
        "invoice", "credit_note"}
    assert Membership.objects.get(organization=new, user__username="bk").role == "owner"
    assert b"Second Studio GmbH" in bookkeeper.get(reverse("admin:customers_organization_changelist")).content


def test_member_roles_change_through_the_service(bookkeeper, org):
    from duly.customers.models import Membership
    from duly.customers.services import add_member

    membership = Membership.objects.get(organization=org, user__username="bk")
    url = reverse("admin:customers_membership_change", args=[membership.pk])
    resp = bookkeeper.post(url, {"role": "viewer"}, follow=True)  # bk is the only owner: refused, a form error
    assert "is the last owner of Atelier Lumière SARL: make another member owner first." in resp.content.decode()
    membership.refresh_from_db()
    assert membership.role == "owner"
    add_member(org, username="second-owner", password="another-owner-pass-1", role="owner")
    resp = bookkeeper.post(url, {"role": "viewer"}, follow=True)
    assert "changed successfully" in resp.content.decode()
    membership.refresh_from_db()
    assert membership.role == "viewer" and membership.organization == org


def contacts_formset(rows=(), initial=0):
    data = {"contacts-TOTAL_FORMS": str(len(rows)), "contacts-INITIAL_FORMS": str(initial),
            "contacts-MIN_NUM_FORMS": "0", "contacts-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        data.update({f"contacts-{i}-{k}": v for k, v in row.items()})
    return data


def customer_post(**fields):
    data = {"code": "INI", "name": "Initech SA", "address_line1": "1 rue A", "address_line2": "", "postcode": "69002",
            "city": "Lyon", "country": "FR", "tax_id": "", "locale": "fr_FR", "timezone": "Europe/Paris",
            "currency": "EUR", "segment": "software", "preferred_payment_method": "sepa_debit",
            "tags": '["vip", " vip ", "late"]', "status": "active", "credit_allowed": "on",
            "custom_required_fields": "[]", "buyer_reference": "", "cost_centre": "", "ap_contact": "",
            "invoice_address": "", "email": ""}
    data.update(fields)
    return data


def test_customers_are_created_through_the_service_with_their_contacts(bookkeeper, org):
    from duly.customers.models import Contact, Customer

    contact = {"name": "Ann Lee", "email": "ann@initech.example", "phone": "", "role": "accounts_payable",
               "birthday": "", "locale": "", "opted_out": ""}
    resp = bookkeeper.post(reverse("admin:customers_customer_add"),
                           {**customer_post(), **contacts_formset([contact])}, follow=True)
    assert "added successfully" in resp.content.decode()
    customer = Customer.objects.get(code="INI")
    assert customer.organization == org and customer.tags == ["vip", "late"]  # cleaned by the service
    assert list(Contact.objects.values_list("name", "organization_id", "role")) == [
        ("Ann Lee", org.pk, "accounts_payable")]

    again = bookkeeper.post(reverse("admin:customers_customer_add"), {**customer_post(), **contacts_formset()})
    assert again.status_code == 200 and b"already used" in again.content
    long_tag = bookkeeper.post(reverse("admin:customers_customer_add"),
                               {**customer_post(code="INI2", tags=f'["{"x" * 61}"]'), **contacts_formset()})
    assert b"longer than 60 characters" in long_tag.content
    bad_email = bookkeeper.post(reverse("admin:customers_customer_add"), {
        **customer_post(code="INI3"), **contacts_formset([dict(contact, email="ann-at-initech")])})
    assert bad_email.status_code == 200
    assert Customer.objects.count() == 1 and Contact.objects.count() == 1


def test_a_contact_removed_in_the_customer_form_is_gone_and_only_that_one(bookkeeper, org):
    from duly.customers import services
    from duly.customers.models import Contact

    customer = services.create_customer(org, code="INI", name="Initech SA", country="FR", address_line1="1 rue A",
                                        postcode="69002", city="Lyon", contacts=[
                                            {"name": "Ann Lee", "email": "ann@initech.example"},
                                            {"name": "Bob Roy", "email": "bob@initech.example"}])
    ann, bob = customer.contacts.order_by("name")
    rows = [{"id": str(c.pk), "customer": str(customer.pk), "name": c.name, "email": c.email, "phone": "",
             "role": c.role, "birthday": "", "locale": "", "opted_out": ""} for c in (ann, bob)]
    rows[0]["DELETE"] = "on"
    resp = bookkeeper.post(reverse("admin:customers_customer_change", args=[customer.pk]),
                           {**customer_post(tags="[]"), **contacts_formset(rows, initial=2)}, follow=True)
    assert "changed successfully" in resp.content.decode()
    assert list(Contact.objects.values_list("name", flat=True)) == ["Bob Roy"]


def contract_post(customer, **fields):
    data = {"customer": str(customer.pk), "reference": "CTR-9", "currency": "EUR", "terms_kind": "net",
            "terms_days": "30", "terms_day_of_month": "", "business_day_adjustment": "",
            "business_day_calendar": "customer", "late_fee_kind": "none",
            "late_fixed_fee": "0", "late_rate_percent": "0", "reference_rate_percent": "",
            "late_grace_days": "0", "late_cap_percent": "", "late_cap": "", "compensation": "",
            "deposit_kind": "none", "deposit_amount": "0", "deposit_percent": "0",
            "billing_frequency": "monthly", "billing_anchor_day": "", "deposit_deduction": "next_invoices",
            "preferred_payment_method": "", "autopay_days_before_due": "0", "sepa_prenotification_days": "14",
            "po_number": "", "start_date": "2026-01-01", "end_date": ""}
    data.update(fields)
    return data


def test_contract_form_refuses_an_end_before_the_start_and_bad_deposits(bookkeeper, customer):
    from duly.customers.models import Contract

    url = reverse("admin:customers_contract_add")
    resp = bookkeeper.post(url, contract_post(customer, end_date="2025-12-31"))
    assert resp.status_code == 200 and b"is before the start date" in resp.content
    resp = bookkeeper.post(url, contract_post(customer, deposit_kind="amount", deposit_amount="0"))
    assert resp.status_code == 200 and b"a fixed deposit needs an amount above 0" in resp.content
    assert not Contract.objects.exists()
    resp = bookkeeper.post(url, contract_post(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00"),
                           follow=True)
    assert "added successfully" in resp.content.decode()
    ctr = Contract.objects.get()
    assert (ctr.organization, ctr.late_fixed_fee_minor) == (customer.organization, 4000)
    change = reverse("admin:customers_contract_change", args=[ctr.pk])
    data = contract_post(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00", end_date="2025-06-30")
    data.pop("customer")
    assert b"is before the start date" in bookkeeper.post(change, data).content
    ctr.refresh_from_db()
    assert ctr.end_date is None


def test_the_customer_form_checks_the_peppol_address_by_its_scheme(bookkeeper, org):
    from duly.customers.models import Customer

    bad = bookkeeper.post(reverse("admin:customers_customer_add"), {
        **customer_post(electronic_address_scheme="0002", electronic_address="303265046"), **contacts_formset()})
    assert bad.status_code == 200
    assert "&#x27;303265046&#x27; is not a valid SIREN (France)" in bad.content.decode()
    assert not Customer.objects.exists()
    good = bookkeeper.post(reverse("admin:customers_customer_add"), {
        **customer_post(electronic_address_scheme="0002", electronic_address="303 265 045"), **contacts_formset()},
        follow=True)
    assert "added successfully" in good.content.decode()
    assert Customer.objects.values_list("electronic_address_scheme", "electronic_address").get() == (
        "0002", "303265045")


def test_the_share_capital_is_entered_and_shown_in_major_units(bookkeeper, org):
    url = reverse("admin:customers_organization_change", args=[org.pk])
    resp = bookkeeper.post(url, org_post(org, share_capital="10000.00", legal_form="SARL"), follow=True)
    assert "changed successfully" in resp.content.decode()
    org.refresh_from_db()
    assert org.share_capital_minor == 1_000_000  # stored in cents of the default currency (EUR)
    page = bookkeeper.get(url).content.decode()
    assert 'name="share_capital"' in page and 'value="10000.00"' in page
    assert 'name="share_capital_minor"' not in page

    bad = bookkeeper.post(url, org_post(org, share_capital="10.001"))  # EUR has 2 decimals
    assert bad.status_code == 200 and "share capital" in bad.content.decode().lower()
    org.refresh_from_db()
    assert org.share_capital_minor == 1_000_000
    bookkeeper.post(url, org_post(org, share_capital=""), follow=True)
    org.refresh_from_db()
    assert org.share_capital_minor is None  # blank: no share capital mentioned
