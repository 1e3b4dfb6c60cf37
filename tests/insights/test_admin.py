"""The accounts receivable page of the back office, and the balance on the customer page: what a bookkeeper
sees is the insights reports of their own organization, never another's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from duly.customers.services import create_customer
from duly.insights import services
from duly.invoicing import services as inv
from duly.payments.services import record_payment

pytestmark = pytest.mark.django_db

AR = "admin:insights_accountsreceivable_changelist"


def issue(org, customer, amount, on, contract=None):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


@pytest.fixture
def beta(make_customer):
    return make_customer("BETA", name="Beta SARL")


@pytest.fixture
def ledgers(org, other_org, customer, contract, beta):
    """Atelier: ACME owes 100.00 (90+ on 2026-06-30) and 300.00 (1-30) and paid one invoice 10 days late;
    BETA paid its only invoice 10 days late with 25.00 too much (credit). Northwind: its own ACME
    (Acme UK Ltd) owes 777.00 GBP."""
    issue(org, customer, "100", date(2026, 1, 1), contract)           # due 2026-01-31: 150 days on 2026-06-30
    paid = issue(org, customer, "500", date(2026, 3, 1), contract)    # due 2026-03-31, paid 2026-04-10
    record_payment(org, customer, amount="500", currency="EUR", method="bank_transfer", received_on=date(2026, 4, 10),
                   allocations={paid.pk: Decimal("500")})
    issue(org, beta, "200", date(2026, 3, 1))                        # due 2026-03-31
    record_payment(org, beta, amount="225", currency="EUR", method="bank_transfer", received_on=date(2026, 4, 10))
    issue(org, customer, "300", date(2026, 5, 20), contract)          # due 2026-06-19: 11 days on 2026-06-30
    uk = create_customer(other_org, code="ACME", name="Acme UK Ltd", country="GB", city="Leeds",
                         address_line1="1 Park Row", currency="GBP")
    issue(other_org, uk, "777", date(2026, 5, 1))
    return uk


def test_the_accounts_receivable_page_shows_the_aging_dso_and_days_late_of_the_own_organization(
        bookkeeper, org, customer, ledgers):
    resp = bookkeeper.get(reverse(AR), {"as_of": "2026-06-30"})
    assert resp.status_code == 200
    page = resp.content.decode()
    # The same figures as the insights services, for this organization only.
    report = services.aging_report(org, as_of=date(2026, 6, 30))
    [row] = report["customers"]
    assert (row["name"], row["buckets"]["90+"], row["buckets"]["1-30"], row["total_open"]) == (
        "Acme Industries SAS", "100.00", "300.00", "400.00")
    assert resp.context["rows"][0]["total_open"] == "400.00"
    assert resp.context["totals"] == [("EUR", report["totals"]["EUR"])]
    for text in ("Acme Industries SAS", "90+ days", "1-30 days", "400.00", "Total", "EUR",
                 reverse("admin:customers_customer_change", args=[customer.pk])):
        assert text in page, text
    assert dict(resp.context["dso"]) == services.dso(org, as_of=date(2026, 6, 30), days=90)
    late = dict(resp.context["days_late"])["EUR"]
    assert (late.simple, late.count) == (Decimal("10.0"), 2)
    assert "10.0" in page
    # Never the other organization's customer, invoices or currency.
    assert "Acme UK Ltd" not in page and "777" not in page and "GBP" not in page


def test_the_as_of_date_moves_the_report(bookkeeper, ledgers):
    before = bookkeeper.get(reverse(AR), {"as_of": "2026-02-15"})
    assert before.status_code == 200
    [row] = before.context["rows"]
    assert (row["total_open"], row["buckets"]["1-30"]) == ("100.00", "100.00")  # only January's, 15 days late
    assert before.context["days_late"] == []  # nothing paid yet on that date
    bad = bookkeeper.get(reverse(AR), {"as_of": "not-a-date"})
    assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()


def test_naming_another_organization_shows_the_own_one(bookkeeper, org, other_org, ledgers):
    resp = bookkeeper.get(reverse(AR), {"as_of": "2026-06-30", "organization": other_org.slug})
    page = resp.content.decode()
    assert resp.status_code == 200 and resp.context["organization"] == org
    assert "Acme UK Ltd" not in page and "777" not in page and "Northwind" not in page


def test_a_member_of_the_other_organization_sees_only_theirs(other_org, ledgers):
    from django.test import Client

    from duly.customers.services import add_member

    add_member(other_org, username="nw", password="ledger-pass-2")
    client = Client()
    assert client.login(username="nw", password="ledger-pass-2")
    page = client.get(reverse(AR), {"as_of": "2026-06-30"}).content.decode()
    assert "Acme UK Ltd" in page and "777.00" in page and "GBP" in page
    assert "Acme Industries" not in page and "EUR" not in page


def test_the_page_is_read_only_and_needs_a_login(bookkeeper, ledgers):
    from django.test import Client

    assert Client().get(reverse(AR)).status_code == 302  # to the login page
    assert bookkeeper.get(reverse("admin:index")).status_code == 200
    assert "Accounts receivable" in bookkeeper.get(reverse("admin:index")).content.decode()
    assert bookkeeper.get(reverse("admin:insights_accountsreceivable_add")).status_code == 403


def test_the_customer_page_shows_credit_and_net_balance(bookkeeper, org, customer, beta, ledgers):
    assert (services.customer_credit(customer), services.customer_balance(customer)) == ({}, {"EUR": Decimal("400")})
    page = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "Customer credit" in page and "Net balance" in page
    assert "<td>EUR</td><td style='text-align:right'>0.00</td><td style='text-align:right'>400.00</td>" in page
    # BETA owes nothing and has 25.00 on account: a net balance of −25.00.
    assert services.customer_credit(beta) == {"EUR": Decimal("25.00")}
    assert services.customer_balance(beta) == {"EUR": Decimal("-25.00")}
    page = bookkeeper.get(reverse("admin:customers_customer_change", args=[beta.pk])).content.decode()
    assert "<td>EUR</td><td style='text-align:right'>25.00</td><td style='text-align:right'>-25.00</td>" in page
    # The other organization's customer page is out of reach.
    other = bookkeeper.get(reverse("admin:customers_customer_change", args=[ledgers.pk]))
    assert other.status_code in (302, 404)
