"""Receivables reports: balance, statement with aging buckets, DSO and days late, per currency."""

from datetime import date
from decimal import Decimal

from duly.insights import services
from duly.invoicing import services as inv
from duly.payments.services import record_payment


def issue(org, customer, contract, amount, on):
    d = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, d.pk, issue_date=on)


def test_statement_buckets_and_balance(org, customer, contract):
    # net 30: due dates 2026-01-31, 2026-03-03, 2026-05-01, 2026-06-30
    issue(org, customer, contract, "100", date(2026, 1, 1))    # 120 days past due on 2026-05-31 → 90+
    issue(org, customer, contract, "200", date(2026, 2, 1))    # 89 days → 61-90
    issue(org, customer, contract, "300", date(2026, 4, 1))    # 30 days → 1-30
    issue(org, customer, contract, "400", date(2026, 5, 31))   # not yet due → current
    record_payment(org, customer, amount="50", currency="EUR", method="card", received_on=date(2026, 5, 2))
    st = services.statement_of_account(customer, as_of=date(2026, 5, 31))
    assert [l.bucket for l in st["lines"]] == ["90+", "61-90", "1-30", "current"]
    assert st["buckets"]["EUR"] == {"current": Decimal("400.00"), "1-30": Decimal("300.00"), "31-60": Decimal("0.00"),
                                    "61-90": Decimal("200.00"), "90+": Decimal("50.00")}
    assert st["total_open"]["EUR"] == Decimal("950.00")
    assert services.customer_balance(customer) == {"EUR": Decimal("950.00")}


def test_aging_report_never_mixes_currencies(org, customer, contract, make_customer, make_contract):
    gb = make_customer("GB1", country="GB", currency="GBP", locale="en_GB", timezone="Europe/London")
    issue(org, customer, contract, "100", date(2026, 1, 1))
    issue(org, gb, make_contract(gb, currency="GBP"), "70", date(2026, 1, 1))
    report = services.aging_report(org, as_of=date(2026, 3, 1))
    assert report["totals"]["EUR"]["total_open"] == "100.00"
    assert report["totals"]["GBP"]["total_open"] == "70.00"
    assert report["totals"]["EUR"]["buckets"]["1-30"] == "100.00"


def test_dso_and_days_late(org, customer, contract):
    a = issue(org, customer, contract, "1000", date(2026, 3, 1))   # due 2026-03-31
    issue(org, customer, contract, "500", date(2026, 4, 1))        # due 2026-05-01, open
    record_payment(org, customer, amount="1000", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 10))                  # 10 days late
    # DSO over 90 days to 2026-05-15: AR 500 / sales 1500 × 90 = 30.0 days
    assert services.dso(org, as_of=date(2026, 5, 15), days=90) == {"EUR": Decimal("30.0")}
    late = services.days_late(org, as_of=date(2026, 5, 15))["EUR"]
    assert (late.simple, late.weighted, late.count) == (Decimal("10.0"), Decimal("10.0"), 1)
