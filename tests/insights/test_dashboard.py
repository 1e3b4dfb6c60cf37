"""The staff dashboard on the back office's home page: the figures of the user's own organization only, read in
bulk and agreeing with the as-of reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.test import Client

from duly.customers.services import add_member, create_customer
from duly.domain import kpis
from duly.insights import dashboard, services
from duly.invoicing import services as inv
from duly.payments.services import record_payment

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)


@pytest.fixture
def clock(monkeypatch):
    """The back office's today is 2026-06-30 (noon UTC)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 6, 30, 12, tzinfo=timezone.utc))


def issue(org, customer, amount, on, contract=None):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


@pytest.fixture
def ledgers(org, other_org, customer, contract, make_customer, make_contract):
    """Atelier (EUR): ACME owes 100.00 due 2026-01-31 and 300.00 due 2026-06-19, paid 500.00 on its due date and
    60.00 of 200.00 in June; BETA owes 50.00 not yet due. Northwind (GBP): its own client owes 777.00."""
    issue(org, customer, "100", date(2026, 1, 1), contract)
    paid = issue(org, customer, "500", date(2026, 3, 1), contract)          # due 2026-03-31
    record_payment(org, customer, amount="500", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 31), allocations={paid.pk: Decimal("500")})
    issue(org, customer, "300", date(2026, 5, 20), contract)                # due 2026-06-19
    part = issue(org, customer, "200", date(2026, 5, 25), contract)         # due 2026-06-24
    record_payment(org, customer, amount="60", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 6, 10), allocations={part.pk: Decimal("60")})
    beta = make_customer("BETA", name="Beta SARL")
    issue(org, beta, "50", date(2026, 6, 20), make_contract(beta, terms_kind="net", terms_days=30))
    uk = create_customer(other_org, code="NW1", name="Northwind Client Ltd", country="GB", city="Leeds",
                         address_line1="1 Park Row", currency="GBP")
    issue(other_org, uk, "777", date(2026, 5, 1))
    return uk


def test_the_home_page_shows_the_dashboard_of_the_own_organization(bookkeeper, org, ledgers, clock):
    resp = bookkeeper.get("/admin/")
    assert resp.status_code == 200
    [eur] = resp.context["dashboard"]["sections"]
    assert eur["currency"] == "EUR"
    assert dict(eur["aging"]) == {"current": Decimal("50.00"), "1-30": Decimal("440.00"), "31-60": Decimal("0.00"),
                                  "61-90": Decimal("0.00"), "90+": Decimal("100.00")}
    [acme] = eur["overdue"]
    assert (acme["name"], acme["amount"]) == ("Acme Industries SAS", Decimal("540.00"))
    assert eur["collected"] == (Decimal("60"), Decimal("0"), Decimal("0"))
    page = resp.content.decode()
    assert f'href="{acme["url"]}"' in page
    for chart in ("aging-EUR", "dso-EUR", "forecast-EUR", "backtest-EUR"):
        assert f'<svg class="duly-chart" id="{chart}" role="img"' in page
    assert "Northwind" not in page and "777" not in page and "GBP" not in page


def test_another_organizations_staff_see_none_of_its_figures(org, other_org, ledgers, clock):
    user = add_member(other_org, username="nw-bk", password="ledger-pass-2")
    client = Client()
    client.force_login(user)
    for query in ({}, {"organization": org.slug}):  # naming the other organization gets one's own
        resp = client.get("/admin/", query)
        assert resp.status_code == 200
        assert resp.context["dashboard_org"] == other_org
        [gbp] = resp.context["dashboard"]["sections"]
        assert gbp["currency"] == "GBP" and dict(gbp["aging"])["1-30"] == Decimal("777.00")
        page = resp.content.decode()
        assert "Acme" not in page and "Beta SARL" not in page and "EUR" not in page and "540.00" not in page


def test_a_user_without_an_organization_gets_the_plain_index(db, clock):
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("loner", password="x-pass-123", is_staff=True))
    resp = client.get("/admin/")
    assert resp.status_code == 200 and "dashboard" not in resp.context


def test_balances_through_time_agree_with_the_as_of_report(org, ledgers, clock):
    """The grouped events give, on every day, what open_items_at finds invoice by invoice."""
    events = dashboard.receivable_events(org, until=TODAY)
    days = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 30), date(2026, 3, 31), date(2026, 6, 9),
            date(2026, 6, 10), TODAY]
    balances = kpis.balances_at(events, days)["EUR"]
    for day in days:
        expected = sum((i.open_at_minor for i in services.open_items_at(org, as_of=day)), 0)
        assert balances[day] == Decimal(expected) / 100, day


def test_the_forecast_uses_promises_known_then_and_backtests_against_receipts(org, customer, ledgers, clock):
    from duly.collections.services.promises import record_promise

    record_promise(org, customer, promised_date=date(2026, 7, 15), amount="100", now=datetime(
        2026, 6, 25, 9, tzinfo=timezone.utc))
    now = dashboard.cash_forecast(org, as_of=TODAY)
    week = (date(2026, 7, 15) - TODAY).days // 7
    # the promise covers ACME's three overdue invoices (540.00); BETA's 50.00 is due 20 July, the same week
    assert week == 2 and now.weeks["EUR"][week] == Decimal("590.00")
    assert now.overdue["EUR"] == 0 and sum(now.weeks["EUR"]) == Decimal("590.00")
    before = dashboard.cash_forecast(org, as_of=date(2026, 6, 1))  # the promise was not made yet
    assert before.weeks["EUR"][(date(2026, 6, 19) - date(2026, 6, 1)).days // 7] == Decimal("300.00")
    past, test = dashboard.forecast_backtest(org, as_of=TODAY)
    assert past.as_of == TODAY - timedelta(weeks=13)
    assert past.as_of == date(2026, 3, 31)
    # week 0: the 500.00 due and paid on 31 March, forecast from what was open the evening before
    assert (past.weeks["EUR"][0], test.weeks["EUR"][0].actual) == (Decimal("500.00"), Decimal("500.00"))
    assert test.total_actual("EUR") == Decimal("560.00")  # with June's 60.00
    assert test.total_forecast("EUR") == sum(past.weeks["EUR"]) == Decimal("500.00")  # the rest was issued later
    assert test.bias("EUR") == Decimal("60.00")


def test_expected_dates_per_invoice_replace_the_rules(org, customer, ledgers, clock):
    """A risk model's dates (invoice id -> expected day) move exactly those invoices."""
    from duly.invoicing.models import Invoice

    january = Invoice.objects.get(organization=org, issue_date=date(2026, 1, 1))
    out = dashboard.cash_forecast(org, as_of=TODAY, expected={january.pk: date(2026, 9, 1)})
    assert out.weeks["EUR"][(date(2026, 9, 1) - TODAY).days // 7] == Decimal("100.00")
    assert out.overdue["EUR"] == Decimal("440.00")  # the June invoices, past due and promised nothing


def test_current_receivables_agree_with_the_as_of_report(org, ledgers, clock):
    for day in (date(2026, 3, 30), date(2026, 5, 31), date(2026, 6, 19), date(2026, 6, 20), TODAY):
        expected = sum((i.open_at_minor for i in services.open_items_at(org, as_of=day)
                        if i.due_date is None or i.due_date >= day), 0)
        assert dashboard.current_receivables(org, day).get("EUR", Decimal(0)) == Decimal(expected) / 100, day
