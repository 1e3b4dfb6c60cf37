"""The credit limit accepted on a red-flag check is enforced at issue (issue 17): an invoice that would take the
customer's open balance over it is refused with a stable code and a clear message; an owner or admin may issue it
anyway with a note, which is kept; "require autopay" marks the contract."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from duly.customers import risk_services as decisions
from duly.customers.models import Contract, Customer
from duly.customers.services import add_member, set_credit_limit
from duly.domain.errors import CreditLimitExceeded
from duly.domain.risk import OnboardingSnapshot, assess
from duly.invoicing import services as inv
from duly.invoicing.models import CreditLimitOverride, Invoice

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def draft(org, customer, contract, amount):
    return inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)


@pytest.fixture
def limited(org, make_customer, make_contract):
    customer = make_customer("RISKY", email="boss@gmail.com")
    contract = make_contract(customer, terms_kind="net", terms_days=60, preferred_payment_method="bank_transfer")
    snap = OnboardingSnapshot(customer="RISKY", country="FR", currency="EUR", email="boss@gmail.com",
                              requested_terms_days=60, usual_terms_days=30, typical_invoice_amount=Decimal("1000"))
    row = decisions.record_assessment(customer, assess(snap, as_of=date(2026, 3, 2)), contract=contract)
    assert row.recommendation["credit_limit"] == "1000.00" and row.recommendation["require_autopay"] is True
    staff = add_member(org, username="bo", password="pw-bo-1234567", role="bookkeeper")
    decisions.accept_recommendation(row, user=staff, now=NOW)
    return Customer.objects.get(pk=customer.pk), Contract.objects.get(pk=contract.pk)


def test_accepting_the_recommendation_sets_the_credit_limit_and_requires_autopay(limited):
    customer, contract = limited
    assert (customer.credit_limit_minor, customer.credit_limit_currency) == (100000, "EUR")
    assert contract.require_autopay is True


def test_an_invoice_over_the_credit_limit_is_refused_clearly_and_nothing_is_numbered(org, limited):
    customer, contract = limited
    first = inv.issue_invoice(org, draft(org, customer, contract, "600").pk, issue_date=date(2026, 3, 2))
    assert first.status == Invoice.ISSUED  # 600 of 1,000: within the limit
    second = draft(org, customer, contract, "500")
    with pytest.raises(CreditLimitExceeded) as err:
        inv.issue_invoice(org, second.pk, issue_date=date(2026, 3, 3))
    assert err.value.code == "credit_limit_exceeded" and err.value.http_status == 409
    assert err.value.message == (
        f"Issuing this invoice would take {customer.name}'s open balance to 1100.00 EUR, over its credit limit of "
        "1000.00 EUR. Ask for a payment first, or an owner or admin can issue it anyway with a note.")
    second.refresh_from_db()
    assert second.status == Invoice.DRAFT and not second.number
    # Exactly up to the limit is allowed.
    exact = inv.issue_invoice(org, draft(org, customer, contract, "400").pk, issue_date=date(2026, 3, 3))
    assert exact.status == Invoice.ISSUED


def test_once_paid_down_the_same_invoice_goes_through(org, limited):
    from duly.payments.services import record_payment

    customer, contract = limited
    inv.issue_invoice(org, draft(org, customer, contract, "900").pk, issue_date=date(2026, 3, 2))
    waiting = draft(org, customer, contract, "300")
    with pytest.raises(CreditLimitExceeded):
        inv.issue_invoice(org, waiting.pk, issue_date=date(2026, 3, 3))
    record_payment(org, customer, amount="900.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 4))
    assert inv.issue_invoice(org, waiting.pk, issue_date=date(2026, 3, 5)).status == Invoice.ISSUED


def test_an_owner_or_admin_may_issue_over_the_limit_with_a_note_which_is_kept(org, limited):
    customer, contract = limited
    inv.issue_invoice(org, draft(org, customer, contract, "800").pk, issue_date=date(2026, 3, 2))
    over = draft(org, customer, contract, "700")
    bookkeeper = add_member(org, username="bk2", password="pw-bk2-123456", role="bookkeeper")
    admin = add_member(org, username="ad", password="pw-ad-1234567", role="admin")
    with pytest.raises(CreditLimitExceeded) as err:
        inv.issue_invoice(org, over.pk, issue_date=date(2026, 3, 3), over_credit_limit_by=bookkeeper,
                          over_credit_limit_note="they always pay")
    assert err.value.code == "credit_limit_override_forbidden"
    with pytest.raises(CreditLimitExceeded) as err:
        inv.issue_invoice(org, over.pk, issue_date=date(2026, 3, 3), over_credit_limit_by=admin,
                          over_credit_limit_note="  ")
    assert err.value.code == "credit_limit_note_missing"
    assert not CreditLimitOverride.objects.exists()
    issued = inv.issue_invoice(org, over.pk, issue_date=date(2026, 3, 3), over_credit_limit_by=admin,
                               over_credit_limit_note="Signed purchase order for the year; bank guarantee")
    kept = CreditLimitOverride.objects.get(invoice=issued)
    assert (kept.decided_by, kept.note, kept.limit_minor, kept.balance_minor, kept.currency) == (
        admin, "Signed purchase order for the year; bank guarantee", 100000, 150000, "EUR")


def test_credit_notes_other_customers_and_a_lifted_limit_are_not_held(org, limited, make_customer,
                                                                                 make_contract):
    customer, contract = limited
    big = inv.issue_invoice(org, draft(org, customer, contract, "1000").pk, issue_date=date(2026, 3, 2))
    # At the limit: a credit note still goes through (it lowers the balance), and then new work fits again.
    note = inv.create_credit_note(org, big.pk, reason="returned", issue_date=date(2026, 3, 3))
    assert note.status != Invoice.DRAFT and note.number
    assert inv.issue_invoice(org, draft(org, customer, contract, "900").pk,
                             issue_date=date(2026, 3, 3)).status == Invoice.ISSUED
    other = make_customer("FREE")
    other_contract = make_contract(other, terms_kind="net", terms_days=30)
    assert inv.issue_invoice(org, draft(org, other, other_contract, "5000").pk,
                             issue_date=date(2026, 3, 3)).status == Invoice.ISSUED
    set_credit_limit(customer, None)
    assert inv.issue_invoice(org, draft(org, customer, contract, "5000").pk,
                             issue_date=date(2026, 3, 4)).status == Invoice.ISSUED


def test_an_override_without_a_limit_clears_it(org, limited):
    customer, contract = limited
    row = customer.risk_assessments.get()
    decisions.override_recommendation(row, user=add_member(org, username="ow2", password="pw-ow2-1234567",
                                                           role="owner"),
                                      now=NOW, note="Known customer", terms_days=30, credit_limit=None)
    customer.refresh_from_db()
    contract.refresh_from_db()
    assert customer.credit_limit_minor is None and contract.require_autopay is False


def test_the_customer_page_shows_the_credit_limit_in_force(bookkeeper, org, limited):
    from django.urls import reverse

    customer, _ = limited
    html = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "Credit limit: 1000.00 EUR (an invoice over it needs an owner or admin to issue it, with a note)." in html


def test_the_admin_refuses_then_an_owner_issues_over_the_limit_with_a_reason(bookkeeper, org, limited):
    from django.test import Client
    from django.urls import reverse

    customer, contract = limited
    inv.issue_invoice(org, draft(org, customer, contract, "900").pk, issue_date=date(2026, 3, 2))
    over = draft(org, customer, contract, "300")
    url = reverse("admin:invoicing_invoice_changelist")
    owner = bookkeeper  # the back-office fixture's user is the organization's owner
    page = owner.post(url, {"action": "issue_selected", "_selected_action": [over.pk]}, follow=True)
    assert "over its credit limit of 1000.00 EUR" in page.content.decode()
    # A member with the bookkeeper role cannot issue over the limit, even by posting the action.
    add_member(org, username="book", password="pw-book-1234567", role="bookkeeper")
    clerk = Client()
    assert clerk.login(username="book", password="pw-book-1234567")
    clerk.post(url, {"action": "issue_over_credit_limit", "_selected_action": [over.pk], "apply": "1",
                     "reason": "x"}, follow=True)
    assert Invoice.objects.get(pk=over.pk).status == Invoice.DRAFT and not CreditLimitOverride.objects.exists()
    owner.post(url, {"action": "issue_over_credit_limit", "_selected_action": [over.pk], "apply": "1",
                     "reason": "Year contract signed"}, follow=True)
    assert Invoice.objects.get(pk=over.pk).status == Invoice.ISSUED
    kept = CreditLimitOverride.objects.get(invoice_id=over.pk)
    assert (kept.decided_by.username, kept.note) == ("bk", "Year contract signed")
