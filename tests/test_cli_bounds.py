"""Bounded input at the command line: business dates within the organization's window, amounts that fit.

Each refusal is one line (``error: ...`` with a stable code), exit status 2, and writes nothing. The
organization here issued its first invoice on 2026-03-31, so its window opens on 2025-03-31 and closes
31 days after today (read from the clock by the CLI).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from duly.cli import main
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice
from duly.payments.models import Payment, Refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(org, customer, contract):
    draft = invoicing.create_draft(org, customer, [invoicing.LineData("Design", Decimal(1), Decimal("100.00"))],
                                   contract=contract)
    return invoicing.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 31))


def cli(*args):
    out = CliRunner().invoke(main, [*args, "--org", "atelier"])
    return out.exit_code, out.output.strip()


def refused(args, code):
    exit_code, output = cli(*args)
    assert exit_code == 2, output
    lines = output.splitlines()
    assert lines[-1].startswith("error: ") and f"[{code}]" in lines[-1] and "Traceback" not in output, output
    assert not any(line.startswith("error: ") for line in lines[:-1])
    return lines[-1]


def counts():
    return (Invoice.objects.count(), Invoice.objects.exclude(number=None).count(), Payment.objects.count(),
            Refund.objects.count())


def test_dates_beyond_the_absolute_bounds_are_refused_by_every_command(issued):
    before = counts()
    for args in (["bill", "--as-of", "9999-12-31"], ["fees", "assess", "--as-of", "9999-12-31"],
                 ["collect", "--as-of", "9999-12-31T23:00-05:00"], ["invoices", "issue", "1", "--date", "1900-01-01"],
                 ["report", "aging", "--as-of", "9999-12-31"], ["collections", "worklist", "--as-of", "2200-01-01"],
                 ["bill", "--as-of", "9999-12-31", "--allow-date-outside-window"]):
        line = refused(args, "date_out_of_range")
        assert "Duly accepts dates from 2000-01-01 to 2199-12-31" in line
    assert counts() == before


def test_business_dates_outside_the_window_need_the_flag(issued, customer):
    draft = invoicing.create_draft(issued.organization, customer,
                                   [invoicing.LineData("More", Decimal(1), Decimal("5.00"))], contract=issued.contract)
    before = counts()
    line = refused(["bill", "--as-of", "2100-01-01"], "date_outside_window")
    assert "The billing date 2100-01-01 is more than 31 days after today" in line
    assert "--allow-date-outside-window" in line
    assert "from 2025-03-31 to " in line
    refused(["fees", "assess", "--as-of", "2100-01-01"], "date_outside_window")
    refused(["collect", "--as-of", "2100-01-01T09:00"], "date_outside_window")
    line = refused(["payments", "record", "--customer", "ACME", "--amount", "10", "--currency", "EUR",
                    "--method", "card", "--date", "2024-12-31"], "date_outside_window")
    assert "more than 365 days before the first invoice (2026-03-31)" in line
    refused(["invoices", "issue", str(draft.pk), "--date", "2001-01-01"], "date_outside_window")
    assert counts() == before

    # The flag lets a date outside the window through (and only the absolute bounds hold).
    exit_code, output = cli("invoices", "issue", str(draft.pk), "--date", "2100-01-01", "--allow-date-outside-window")
    assert exit_code == 0, output
    assert Invoice.objects.get(pk=draft.pk).issue_date == date(2100, 1, 1)


def test_amounts_too_large_to_store_are_refused(issued):
    before = counts()
    for amount in ("1e30", "100000000000000", "1E+999999999"):
        line = refused(["payments", "record", "--customer", "ACME", "--amount", amount, "--currency", "EUR",
                        "--method", "card", "--date", "2026-04-02"], "number_out_of_range")
        assert ("Duly stores amounts up to 99,999,999,999,999.99 EUR" in line
                or "'1E+999999999' is out of range for any amount" in line)
    refused(["payments", "record", "--customer", "ACME", "--amount", "5", "--currency", "EUR", "--method", "card",
             "--date", "2026-04-02", "--invoice", f"{issued.number}=1E+999999999"], "number_out_of_range")
    assert counts() == before
    exit_code, output = cli("payments", "record", "--customer", "ACME", "--amount", "120.00", "--currency", "EUR",
                            "--method", "card", "--date", "2026-04-02")
    assert exit_code == 0, output
    payment = Payment.objects.get()
    refused(["payments", "refund", str(payment.pk), "--amount", "1e30", "--date", "2026-04-03", "--reason", "x"],
            "number_out_of_range")
    refused(["payments", "refund", str(payment.pk), "--amount", "1", "--date", "2100-04-03", "--reason", "x"],
            "date_outside_window")
    assert Refund.objects.count() == before[3]


def test_reference_rates_are_bounded_too(db):
    out = CliRunner().invoke(main, ["rates", "set", "--currency", "EUR", "--from", "2100-01-01", "--rate", "2"])
    assert out.exit_code == 2 and "[date_outside_window]" in out.output
    out = CliRunner().invoke(main, ["rates", "set", "--currency", "EUR", "--from", "9999-01-01", "--rate", "2"])
    assert out.exit_code == 2 and "[date_out_of_range]" in out.output
    out = CliRunner().invoke(main, ["rates", "set", "--currency", "EUR", "--from", "2026-01-01", "--rate", "1e30"])
    assert out.exit_code == 2 and "[value_out_of_range]" in out.output


def test_a_bad_option_value_is_one_line_naming_the_help(issued):
    out = CliRunner().invoke(main, ["bill", "--as-of", "31/01/2026", "--org", "atelier"], prog_name="duly")
    exit_code, output = out.exit_code, out.output.strip()
    assert exit_code == 2
    assert output.splitlines() == ["error: Invalid value for '--as-of': '31/01/2026' is not a date (use YYYY-MM-DD) "
                                   "(see `duly bill -h`)"]
