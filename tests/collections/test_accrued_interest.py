"""Interest accrued to today, shown separately from what has been invoiced (issue 11, item 10).

The contract charges 12% a year (simple, actual/365) and a 40.00 fixed fee. Invoice 1,000.00 issued on
2 March 2026, net 30: due 1 April. Interest is invoiced per complete month; in between, reminders, the
statement and the pay page show what has accrued day by day, beside the balance and never added to it.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from duly.cli import main
from duly.collections.interest import accrued_interest
from duly.collections.services import assess_late_fees, assign_policy, collect
from duly.insights.services import statement_of_account
from duly.messaging.links import pay_url
from duly.messaging.models import Message

PARIS = ZoneInfo("Europe/Paris")
D = __import__("decimal").Decimal


@pytest.fixture
def late(org, customer, contract, make_invoice):
    assign_policy(org, customer, "neutral")
    return make_invoice(customer, contract, issued=date(2026, 3, 2))  # 1,000.00 due 1 April 2026


def test_a_reminder_shows_the_interest_accrued_to_today_beside_the_balance(org, late):
    collect(org, as_of=datetime.combine(date(2026, 4, 10), time(10), PARIS))
    message = Message.objects.get(customer=late.customer)
    # 2–10 April: 1,000.00 × 12% × 9/365 = 2.958… → 2.96, not invoiced: shown, not added to the total due.
    assert "Intérêts de retard courus à ce jour, non encore facturés\u00a0: 2,96\u00a0€" in message.text
    assert "Intérêts de retard courus à ce jour, non encore facturés" in message.html and "2,96\u00a0€" in message.html
    assert "1\u202f000,00\u00a0€" in message.text and "1\u202f002,96" not in message.text


def test_the_statement_and_the_pay_page_leave_out_the_months_already_invoiced(org, late, client, monkeypatch):
    fees = assess_late_fees(org, as_of=date(2026, 4, 30))  # April: 1,000.00 × 12% × 29/365 = 9.534… → 9.53 + 40.00
    assert [(level, amount) for _, level, amount, _ in fees.assessed] == [
        ("fixed", "40.00"), ("interest:2026-04", "9.53")]
    # On 5 May only 1–5 May has accrued and is not invoiced: 1,000.00 × 12% × 5/365 = 1.643… → 1.64.
    [accrued] = accrued_interest(org.pk, [late.pk], date(2026, 5, 5)).values()
    assert (accrued.amount, accrued.days, accrued.first_day) == (D("1.64"), 5, date(2026, 5, 1))
    assert accrued.explanation == "Interest 1–5 May 2026: 1,000.00 × 12% × 5/365 = 1.64"

    statement = statement_of_account(late.customer, as_of=date(2026, 5, 5))
    assert statement["interest"] == {"EUR": D("1.64")}
    by_number = {line.number: line for line in statement["lines"]}
    assert by_number[late.number].interest == D("1.64") and by_number[late.number].open_amount == D("1000.00")
    fee_invoice = next(n for n in by_number if n != late.number)  # the April interest and the fee: invoiced
    assert (by_number[fee_invoice].open_amount, by_number[fee_invoice].interest) == (D("49.53"), D("0.00"))
    # A statement as of 20 April sees April's interest as not invoiced yet (the fee run came later).
    assert statement_of_account(late.customer, as_of=date(2026, 4, 20))["interest"] == {"EUR": D("6.25")}
    # 2–20 April: 1,000.00 × 12% × 19/365 = 6.246… → 6.25

    out = CliRunner().invoke(main, ["report", "statement", late.customer.code, "--as-of", "2026-05-05",
                                    "--format", "json"])
    assert json.loads(out.output)["interest_accrued"] == {"EUR": "1.64"}

    from pypdf import PdfReader

    from duly.insights.documents import render_statement

    pdf = PdfReader(io.BytesIO(render_statement(late.customer, as_of=date(2026, 5, 5))))
    text = " ".join((page.extract_text() or "") for page in pdf.pages)
    assert "Intérêts de retard courus à cette date, non encore facturés" in " ".join(text.split())
    assert "1,64\u00a0€" in text

    monkeypatch.setattr("duly.portal.views.timezone.now", lambda: datetime.combine(date(2026, 5, 5), time(12), PARIS))
    page = client.get("/" + pay_url(org.pk, late.customer.pk, made_on=date(2026, 5, 5)).split("/", 3)[3]).content.decode()
    assert "Intérêts de retard courus au 5 mai 2026, non encore facturés\u00a0: 1,64\u00a0€" in page
    assert "Intérêts courus, non encore facturés" in page
    assert "1\u202f049,53\u00a0€" in page  # the total due: the invoices, the interest invoiced included; not 1.64


def test_no_interest_policy_no_interest_shown_and_no_query(org, customer, make_contract, make_invoice,
                                                           django_assert_num_queries):
    plain = make_contract(customer, "CTR-PLAIN", terms_kind="net", terms_days=30)
    invoice = make_invoice(customer, plain, issued=date(2026, 3, 2))
    assert accrued_interest(org.pk, [invoice.pk], date(2026, 5, 5)) == {}
    with django_assert_num_queries(0):
        assert accrued_interest(org.pk, [], date(2026, 5, 5)) == {}
