"""Reports as of a past date show the receivables as they stood then, not today's status and balance.

A diary per invoice: issued, paid, refunded, credited, voided or written off on given days; each report
date between those days must see exactly what was open at the end of that day.
"""

from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from duly.insights import services
from duly.invoicing import services as inv
from duly.payments.services import record_payment, refund_payment

D = Decimal


def issue(org, customer, contract, amount, on):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", D(1), D(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def pay(org, customer, invoice, amount, on, ref=None):
    return record_payment(org, customer, amount=amount, currency="EUR", method="bank_transfer", received_on=on,
                          external_reference=ref or f"{invoice.number}-{on}", allocations={invoice.pk: amount})


def buckets(report, currency="EUR"):
    return report["totals"][currency]["buckets"] if currency in report["totals"] else None


def at_midday_paris(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=dt_timezone.utc)  # 11:00 or 12:00 in Paris


def test_an_invoice_paid_after_the_report_date_is_open_on_it(org, customer, contract):
    # issued 1 Mar, net 30 → due 31 Mar; paid in full 1 May
    a = issue(org, customer, contract, "500", date(2026, 3, 1))
    pay(org, customer, a, "500", date(2026, 5, 1))

    # 28 Feb: not issued yet → nothing at all
    assert services.aging_report(org, as_of=date(2026, 2, 28))["totals"] == {}
    # 15 Apr: 15 days past due, still unpaid on that day → 500.00 in 1–30
    report = services.aging_report(org, as_of=date(2026, 4, 15))
    assert buckets(report) == {"current": "0.00", "1-30": "500.00", "31-60": "0.00", "61-90": "0.00", "90+": "0.00"}
    assert report["totals"]["EUR"]["total_open"] == "500.00" and report["totals"]["EUR"]["invoices"] == 1
    assert report["customers"][0]["code"] == "ACME" and report["customers"][0]["overdue"] == "500.00"
    # 30 Apr (the day before payment): 30 days past due → still 1–30; 1 May: paid that day → nothing open
    assert buckets(services.aging_report(org, as_of=date(2026, 4, 30)))["1-30"] == "500.00"
    assert services.aging_report(org, as_of=date(2026, 5, 1))["totals"] == {}


def test_partial_payments_reduce_the_open_amount_from_their_date(org, customer, contract):
    # issued 1 Jan, due 31 Jan; 400 paid 10 Feb, 600 paid 10 Mar
    a = issue(org, customer, contract, "1000", date(2026, 1, 1))
    pay(org, customer, a, "400", date(2026, 2, 10))
    pay(org, customer, a, "600", date(2026, 3, 10))
    assert services.aging_report(org, as_of=date(2026, 1, 20))["totals"]["EUR"]["buckets"]["current"] == "1000.00"
    assert buckets(services.aging_report(org, as_of=date(2026, 2, 9)))["1-30"] == "1000.00"     # 9 days late
    assert buckets(services.aging_report(org, as_of=date(2026, 2, 10)))["1-30"] == "600.00"     # 10 days late
    assert buckets(services.aging_report(org, as_of=date(2026, 3, 9)))["31-60"] == "600.00"     # 37 days late
    assert services.aging_report(org, as_of=date(2026, 3, 10))["totals"] == {}


def test_a_refund_reopens_the_invoice_only_from_the_refund_date(org, customer, contract):
    # issued 1 Jan, due 31 Jan; paid 1000 on 10 Feb; 300 refunded on 1 Mar
    a = issue(org, customer, contract, "1000", date(2026, 1, 1))
    p = pay(org, customer, a, "1000", date(2026, 2, 10))
    refund_payment(org, p.pk, amount="300", refunded_on=date(2026, 3, 1), reason="Service credit")
    a.refresh_from_db()
    assert a.balance == D("300.00")
    assert services.aging_report(org, as_of=date(2026, 2, 20))["totals"] == {}  # fully paid on that day
    # 5 Mar: 300 open again, 33 days past due → 31–60
    assert buckets(services.aging_report(org, as_of=date(2026, 3, 5)))["31-60"] == "300.00"
    before = services.statement_of_account(customer, as_of=date(2026, 2, 5))
    assert [(l.number, l.open_amount, l.days_past_due, l.bucket) for l in before["lines"]] == [
        (a.number, D("1000.00"), 5, "1-30")]


def test_credit_notes_settle_from_their_issue_date(org, customer, contract):
    a = issue(org, customer, contract, "800", date(2026, 3, 1))
    inv.create_credit_note(org, a.pk, reason="Cancelled order", issue_date=date(2026, 3, 20))
    assert services.aging_report(org, as_of=date(2026, 3, 19))["totals"]["EUR"]["total_open"] == "800.00"
    assert services.aging_report(org, as_of=date(2026, 3, 20))["totals"] == {}


def test_void_and_write_off_close_the_invoice_from_that_day_in_the_organizations_time_zone(
        org, customer, contract, monkeypatch):
    a = issue(org, customer, contract, "100", date(2026, 3, 1))
    b = issue(org, customer, contract, "250", date(2026, 3, 2))
    # void on 10 Mar at 23:30 UTC, which is already 11 Mar (00:30) in Paris: closed from 11 Mar
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 3, 10, 23, 30, tzinfo=dt_timezone.utc))
    inv.void_invoice(org, a.pk, reason="Wrong customer")
    monkeypatch.setattr("django.utils.timezone.now", lambda: at_midday_paris(date(2026, 6, 1)))
    inv.mark_uncollectible(org, b.pk, reason="Customer insolvent")
    assert services.aging_report(org, as_of=date(2026, 3, 10))["totals"]["EUR"]["total_open"] == "350.00"
    assert services.aging_report(org, as_of=date(2026, 3, 11))["totals"]["EUR"]["total_open"] == "250.00"
    assert services.aging_report(org, as_of=date(2026, 5, 31))["totals"]["EUR"]["buckets"]["31-60"] == "250.00"
    assert services.aging_report(org, as_of=date(2026, 6, 1))["totals"] == {}


def test_statement_dso_and_days_late_as_of_a_past_date(org, customer, contract):
    a = issue(org, customer, contract, "1000", date(2026, 3, 1))   # due 31 Mar
    b = issue(org, customer, contract, "500", date(2026, 4, 1))    # due 1 May
    pay(org, customer, a, "1000", date(2026, 4, 10))               # 10 days late
    pay(org, customer, b, "500", date(2026, 5, 21))                # 20 days late
    # 5 Apr: both open (a 5 days past due, b current); later payments do not count yet
    st = services.statement_of_account(customer, as_of=date(2026, 4, 5))
    assert [(l.number, l.open_amount, l.bucket) for l in st["lines"]] == [
        (a.number, D("1000.00"), "1-30"), (b.number, D("500.00"), "current")]
    assert st["total_open"] == {"EUR": D("1500.00")}
    # DSO to 15 May over 90 days: AR 500 (b unpaid that day) / sales 1500 × 90 = 30.0 days
    assert services.dso(org, as_of=date(2026, 5, 15)) == {"EUR": D("30.0")}
    # today both are paid: AR 0
    assert services.dso(org, as_of=date(2026, 5, 30)) == {"EUR": D("0.0")}
    # days late: on 15 May only a was paid (10 days late); on 30 May both (10 and 20 → 15)
    assert services.days_late(org, as_of=date(2026, 5, 15))["EUR"].simple == D("10.0")
    late = services.days_late(org, as_of=date(2026, 5, 30))["EUR"]
    assert (late.simple, late.weighted, late.count) == (D("15.0"), D("13.3"), 2)  # (10×1000 + 20×500)/1500
    assert services.days_late(org, as_of=date(2026, 4, 1)) == {}


def test_the_current_report_equals_the_open_balances(org, customer, contract, make_customer, make_contract):
    other = make_customer("BETA")
    ctr = make_contract(other)
    a = issue(org, customer, contract, "1000", date(2026, 1, 1))
    b = issue(org, other, ctr, "300", date(2026, 2, 1))
    issue(org, other, ctr, "75.50", date(2026, 3, 1))
    pay(org, customer, a, "250", date(2026, 2, 5))
    p = pay(org, other, b, "300", date(2026, 2, 20))
    refund_payment(org, p.pk, amount="100", refunded_on=date(2026, 3, 2), reason="Goodwill")
    from duly.invoicing.models import Invoice

    expected = sum((i.balance for i in Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES)),
                   D(0))
    report = services.aging_report(org, as_of=date(2026, 6, 30))
    assert D(report["totals"]["EUR"]["total_open"]) == expected == D("925.50")
    assert sum(D(c["total_open"]) for c in report["customers"]) == expected


@pytest.mark.parametrize("n", [2, 6])
def test_reports_take_the_same_number_of_queries_for_any_number_of_invoices(org, customer, contract, n):
    """No query per invoice: the open amounts on the date come from one query."""
    for i in range(n):
        a = issue(org, customer, contract, "100", date(2026, 1, 1 + i))
        pay(org, customer, a, "40", date(2026, 2, 1))
    with CaptureQueriesContext(connection) as aging_queries:
        report = services.aging_report(org, as_of=date(2026, 1, 31))
    with CaptureQueriesContext(connection) as statement_queries:
        services.statement_of_account(customer, as_of=date(2026, 1, 31))
    assert report["totals"]["EUR"]["total_open"] == f"{100 * n}.00"
    assert len(aging_queries) == 1
    # Open items, the credit ledger, then the retainer agreements (none here: the retainer ledger is not read).
    assert len(statement_queries) == 3
