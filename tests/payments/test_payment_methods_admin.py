"""The back office's payment method pages go through the services: a saved method is made default or removed by
actions, a mandate and the SEPA creditor are added with their checks shown as form errors (nothing written), a
mandate is revoked by an action, provider events are read-only. Each page shows only the user's organization."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from duly.customers.services import add_member
from duly.payments import method_services as methods
from duly.payments.models import Mandate, ProviderEvent, SavedPaymentMethod, SepaCreditor
from duly.payments.providers.base import SavedMethod


def login(org, username, role):
    add_member(org, username=username, password="ledger-pass-1", role=role)
    client = Client()
    assert client.login(username=username, password="ledger-pass-1")
    return client


@pytest.fixture
def owner(org):
    return login(org, "owner1", "owner")


def card(ref, last4, brand="visa"):
    return SavedMethod("stripe", ref, "cus_1", "card", brand=brand, last4=last4, exp_month=1, exp_year=2030)


def mandate_post(customer, **fields):
    return {"customer": customer.pk, "reference": "MDT-ADM-1", "kind": "recurrent", "signed_on": "2026-02-01",
            "signed_at": "Lyon", "debtor_name": "", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
            **fields}


def test_saved_methods_list_and_make_default_and_remove_actions(org, customer, owner):
    visa = methods.save_method(org, customer, card("pm_a", "4242"))
    amex = methods.save_method(org, customer, card("pm_b", "0005", "amex"))
    url = reverse("admin:payments_savedpaymentmethod_changelist")
    page = owner.get(url, {"customer__id__exact": customer.pk})
    assert page.status_code == 200 and "Visa •••• 4242 (01/2030)" in page.content.decode()
    owner.post(url, {"action": "make_default", "_selected_action": [amex.pk]})
    assert SavedPaymentMethod.objects.get(is_default=True).pk == amex.pk
    # two of one customer at once: refused, nothing changes
    owner.post(url, {"action": "make_default", "_selected_action": [visa.pk, amex.pk]})
    assert SavedPaymentMethod.objects.get(is_default=True).pk == amex.pk
    owner.post(url, {"action": "remove_methods", "_selected_action": [amex.pk]})  # no Stripe key: kept, not detached
    amex.refresh_from_db()
    assert amex.removed_at is not None and SavedPaymentMethod.objects.get(is_default=True).pk == visa.pk
    assert owner.get(reverse("admin:payments_savedpaymentmethod_add")).status_code == 403


def test_a_mandate_is_added_through_the_service(org, customer, owner):
    resp = owner.post(reverse("admin:payments_mandate_add"), mandate_post(customer))
    assert resp.status_code == 302, resp.content.decode()[:2000]
    mandate = Mandate.objects.get()
    assert (mandate.iban, mandate.debtor_name, mandate.signed_at) == ("DE89370400440532013000", customer.name, "Lyon")


@pytest.mark.parametrize("fields, field, text", [
    ({"iban": "DE89370400440532013001"}, "iban", "is not valid"),
    ({"bic": "NOPE"}, "bic", "is not valid"),
    ({"signed_on": ""}, "signed_on", "This field is required"),
    ({"signed_at": ""}, "signed_at", "This field is required"),
    ({"signed_on": "2099-01-01"}, "signed_on", "future"),
    ({"reference": "TAKEN"}, "reference", "already used"),
])
def test_a_bad_mandate_is_a_form_error_on_its_field_and_nothing_is_written(org, customer, owner, fields, field, text):
    methods.add_mandate(org, customer, reference="TAKEN", signed_on=date(2026, 1, 1), signed_at="Paris",
                        iban="FR1420041010050500013M02606")
    resp = owner.post(reverse("admin:payments_mandate_add"), mandate_post(customer, **fields))
    assert resp.status_code == 200
    errors = resp.context["adminform"].form.errors
    assert field in errors and text in " ".join(errors[field]), errors
    assert list(Mandate.objects.values_list("reference", flat=True)) == ["TAKEN"]


def test_a_mandate_is_revoked_by_the_action_and_its_page_is_read_only(org, customer, owner):
    mandate = methods.add_mandate(org, customer, reference="MDT-R", signed_on=date(2026, 1, 1), signed_at="Paris",
                                  iban="FR1420041010050500013M02606")
    owner.post(reverse("admin:payments_mandate_changelist"), {"action": "revoke_today",
                                                               "_selected_action": [mandate.pk]})
    assert Mandate.objects.get().revoked_at is not None
    page = owner.get(reverse("admin:payments_mandate_change", args=[mandate.pk]))
    assert page.status_code == 200 and 'name="iban"' not in page.content.decode()


def test_the_sepa_creditor_is_set_and_changed_through_the_service_with_its_checks(org, owner):
    add = reverse("admin:payments_sepacreditor_add")
    bad = owner.post(add, {"creditor_id": "DE99ZZZ09999999999", "iban": "", "bic": "", "name": "",
                           "pain_version": "pain.008.001.08"})
    assert bad.status_code == 200 and "creditor_id" in bad.context["adminform"].form.errors
    assert not SepaCreditor.objects.exists()
    ok = owner.post(add, {"creditor_id": "DE98ZZZ09999999999", "iban": "", "bic": "", "name": "Atelier Debits",
                          "pain_version": "pain.008.001.08"})
    assert ok.status_code == 302
    row = SepaCreditor.objects.get()
    assert (row.creditor_id, row.iban, row.bic, row.name) == ("DE98ZZZ09999999999", org.iban, org.bic, "Atelier Debits")
    change = reverse("admin:payments_sepacreditor_change", args=[row.pk])
    bad_iban = owner.post(change, {"creditor_id": "DE98ZZZ09999999999", "iban": "FR00 1234", "bic": "", "name": "",
                                   "pain_version": "pain.008.001.08"})
    assert bad_iban.status_code == 200 and "iban" in bad_iban.context["adminform"].form.errors
    assert SepaCreditor.objects.get().iban == org.iban
    assert owner.post(change, {"creditor_id": "DE98ZZZ09999999999", "iban": "DE89370400440532013000",
                               "bic": "COBADEFFXXX", "name": "", "pain_version": "pain.008.001.02"}).status_code == 302
    row = SepaCreditor.objects.get()
    assert (row.iban, row.bic, row.name, row.pain_version) == ("DE89370400440532013000", "COBADEFFXXX", "",
                                                               "pain.008.001.02")


def test_a_bookkeeper_cannot_set_the_creditor_and_events_are_read_only(org, customer):
    from django.utils import timezone

    bookkeeper = login(org, "bk2", "bookkeeper")
    assert bookkeeper.post(reverse("admin:payments_sepacreditor_add"), {
        "creditor_id": "DE98ZZZ09999999999", "pain_version": "pain.008.001.08"}).status_code == 403
    event = ProviderEvent.objects.create(organization=org, provider="stripe", event_id="evt_1", type="x",
                                         received_at=timezone.now(), payload={"id": "evt_1"})
    assert bookkeeper.get(reverse("admin:payments_providerevent_changelist")).status_code == 200
    page = bookkeeper.get(reverse("admin:payments_providerevent_change", args=[event.pk]))
    assert page.status_code == 200 and "evt_1" in page.content.decode() and 'name="event_id"' not in page.content.decode()


def test_another_organizations_methods_are_not_shown(org, other_org, make_customer, owner):
    foreign = make_customer("FOREIGN", organization=other_org)
    row = methods.save_method(other_org, foreign, card("pm_foreign", "1111"))
    page = owner.get(reverse("admin:payments_savedpaymentmethod_changelist"))
    assert "1111" not in page.content.decode()
    assert owner.get(reverse("admin:payments_savedpaymentmethod_change", args=[row.pk])).status_code == 302


def test_staff_save_a_card_from_the_admin_through_stripe_on_the_loopback_fake(org, customer, owner, settings):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fakes.stripe_server import StripeFake

    url = reverse("admin:payments_savedpaymentmethod_save")
    assert url in owner.get(reverse("admin:payments_savedpaymentmethod_changelist")).content.decode()
    with StripeFake("sk_test_duly") as fake:
        settings.DULY_STRIPE_SECRET_KEY, settings.DULY_STRIPE_API_BASE = "sk_test_duly", fake.url
        settings.DULY_STRIPE_MAX_NETWORK_RETRIES = 0
        assert owner.get(url).status_code == 200
        resp = owner.post(url, {"customer": customer.pk, "payment_method": "pm_card_visa"}, follow=True)
        assert "saved Visa •••• 4242 (12/2034) (the default)" in resp.content.decode()
        declined = owner.post(url, {"customer": customer.pk, "payment_method": "pm_card_chargeDeclined"})
        assert declined.status_code == 200 and "refused to save the card" in declined.content.decode()
        started = owner.post(url, {"customer": customer.pk, "payment_method": ""}, follow=True)
        assert "SetupIntent seti_" in started.content.decode() and "/p/" in started.content.decode()
    assert list(SavedPaymentMethod.objects.values_list("method_ref", "is_default")) == [("pm_card_visa", True)]
