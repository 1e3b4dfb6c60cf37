"""The red-flag check runs when a customer is created or a contract is made (issue 17 part 1), through the
customers services' signals once the creation has committed; it never makes the creation fail, and a customer with
nothing to check is refused once per set of facts, not on every scheduler pass."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone

import pytest
from django.urls import reverse

from duly.customers.models import Customer, RiskAssessment, RiskCheckRefusal
from duly.insights import risk_onboarding as onboarding

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
AS_OF = date(2026, 3, 2)


def test_creating_a_customer_through_the_services_checks_it_once_committed(
        org, make_customer, make_contract, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as pending:
        customer = make_customer("NEWCO", email="boss@gmail.com", tax_id="DE136695976", country="FR")
        assert not RiskAssessment.objects.exists()  # nothing is checked inside the creation's transaction
    assert len(pending) == 1
    with django_capture_on_commit_callbacks(execute=True):
        customer = make_customer("NEWCO2", email="boss@gmail.com", tax_id="DE136695976", country="FR")
    row = RiskAssessment.objects.get(customer=customer)
    assert row.contract is None and "free_mail_domain" in [f["code"] for f in row.flags]
    assert "vat_country_mismatch" in [f["code"] for f in row.flags]
    with django_capture_on_commit_callbacks(execute=True):
        contract = make_contract(customer, reference="CTR-NEWCO2", terms_kind="net", terms_days=60)
    with_contract = RiskAssessment.objects.get(customer=customer, contract=contract)
    assert with_contract.pk != row.pk
    # The same facts again (the scheduler's pass, or a second signal): no new row.
    onboarding.check_on_creation(contract=contract)
    assert RiskAssessment.objects.filter(customer=customer).count() == 2


def test_a_customer_created_in_the_admin_is_checked_and_its_page_shows_it(
        bookkeeper, org, django_capture_on_commit_callbacks):
    from tests.customers.test_admin import contacts_formset, customer_post

    contact = {"name": "Ann Lee", "email": "ann@yahoo.fr", "phone": "", "role": "accounts_payable",
               "birthday": "", "locale": "", "opted_out": ""}
    with django_capture_on_commit_callbacks(execute=True):
        resp = bookkeeper.post(reverse("admin:customers_customer_add"),
                               {**customer_post(tax_id="FR40303265045"), **contacts_formset([contact])}, follow=True)
    assert "added successfully" in resp.content.decode()
    customer = Customer.objects.get(code="INI")
    row = RiskAssessment.objects.get(customer=customer)  # its contact's e-mail was there: added in the same commit
    assert [f["code"] for f in row.flags] == ["free_mail_domain"]
    html = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "free-mail provider (yahoo.fr)" in html and f"low risk (score {row.score})" in html


def test_a_check_that_breaks_never_makes_the_creation_fail(org, make_customer, monkeypatch, caplog,
                                                           django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(onboarding, "snapshot_of", broken)
    with caplog.at_level(logging.ERROR, logger="duly.insights.risk_onboarding"):
        with django_capture_on_commit_callbacks(execute=True):
            customer = make_customer("KEPT", email="ap@kept.fr")
    assert Customer.objects.filter(pk=customer.pk).exists()  # created and kept
    assert not RiskAssessment.objects.exists() and not RiskCheckRefusal.objects.exists()
    assert "red-flag check of new customer" in caplog.text and "scheduler's pass retries it" in caplog.text
    monkeypatch.undo()
    assert onboarding.assess_new_customers(org, as_of=AS_OF)["checked"] == 1  # the next pass checks it


def test_nothing_to_check_is_remembered_per_facts_and_retried_only_when_they_change(
        org, bookkeeper, make_customer, django_capture_on_commit_callbacks, caplog):
    from duly.customers.services import update_customer
    from duly.insights.tasks import scheduled_risk

    with django_capture_on_commit_callbacks(execute=True):
        bare = make_customer("BARE", contacts=[])
    refusal = RiskCheckRefusal.objects.get(customer=bare)  # refused at creation, the customer kept
    assert refusal.code == "risk_no_identifiers" and "nothing to check" in refusal.message
    html = bookkeeper.get(reverse("admin:customers_customer_change", args=[bare.pk])).content.decode()
    assert "Could not be checked" in html and "risk_no_identifiers" in html
    with caplog.at_level(logging.INFO, logger="duly.insights.risk_onboarding"):
        caplog.clear()
        scheduled_risk(NOW)
        scheduled_risk(NOW)
        assert "BARE refused" not in caplog.text  # not tried again on the same facts
    assert onboarding.assess_new_customers(org, as_of=AS_OF) == {"checked": 0, "refused": 0, "unchanged": 1}
    assert RiskCheckRefusal.objects.count() == 1
    update_customer(bare, email="ap@bare-industries.fr")  # a fact changed: checked on the next pass
    assert onboarding.assess_new_customers(org, as_of=AS_OF) == {"checked": 1, "refused": 0, "unchanged": 0}
    assert RiskAssessment.objects.get(customer=bare).flags[0]["code"] == "identifiers_missing"


def test_another_organizations_refusal_does_not_hold_back_this_ones_check(org, other_org, make_customer):
    bare_here = make_customer("BARE", contacts=[])
    bare_there = make_customer("BARE", organization=other_org, contacts=[])
    assert onboarding.assess_new_customers(other_org, as_of=AS_OF)["refused"] == 1
    assert RiskCheckRefusal.objects.get().customer == bare_there
    assert onboarding.assess_new_customers(org, as_of=AS_OF) == {"checked": 0, "refused": 1, "unchanged": 0}
    assert RiskCheckRefusal.objects.filter(customer=bare_here).count() == 1
