"""`assess_late_fees` with EU statutory interest at the recorded reference rate of each semester.

Interest = balance × (reference rate + 8) % × days / 365, per calendar month, each month at the rate in force
on the first day of its semester (1 January / 1 July). The rates are made up for the tests.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.customers.services import record_reference_rate, update_contract
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice


def overdue_invoice(org, customer, contract, issued=date(2026, 5, 1), amount="1000.00"):
    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal(1), Decimal(amount))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=issued)  # net 30: due 31 May 2026


def charged(invoice):
    return {f.level: f.amount_minor for f in LateFee.objects.filter(invoice=invoice)}


@pytest.fixture
def table_contract(customer, make_contract):
    return make_contract(customer, reference="CTR-EU-TABLE", terms_kind="net", terms_days=30,
                         late_fee_kind="eu_statutory")


@pytest.fixture
def rates(db):
    record_reference_rate(currency="EUR", valid_from=date(2025, 6, 11), rate_percent="2.15")
    record_reference_rate(currency="EUR", valid_from=date(2026, 3, 12), rate_percent="2.65")  # counts from 1 July


def test_a_fee_run_charges_each_month_at_its_semesters_rate_and_a_rerun_changes_nothing(
        org, customer, table_contract, rates):
    late = overdue_invoice(org, customer, table_contract)
    result = assess_late_fees(org, as_of=date(2026, 7, 31))
    assert result.skipped == [] and len(result.fee_invoices) == 1
    assert charged(late) == {
        "compensation": 4000,  # EUR 40.00, Directive 2011/7/EU art. 6
        "interest:2026-06": 834,  # 1,000.00 × (2.15 + 8)% × 30/365 = 8.3425 → 8.34 (1st half: rate on 1 January)
        "interest:2026-07": 905,  # 1,000.00 × (2.65 + 8)% × 31/365 = 9.0452 → 9.05 (2nd half: rate on 1 July)
    }
    july = LateFee.objects.get(invoice=late, level="interest:2026-07")
    assert july.explanation.endswith("(ECB rate 2.65% for the 2nd half of 2026 + 8 points)")
    fee_invoice = Invoice.objects.get(number=result.fee_invoices[0])
    assert fee_invoice.total_minor == 4000 + 834 + 905
    # The late-fee invoice, issued on 31 July, states the rate in force then (in the customer's language, French).
    assert ("actuellement 10,65\xa0% par an, taux de la BCE de 2,65\xa0% pour le 2e semestre 2026"
            in fee_invoice.late_terms_text)

    counts = (Invoice.objects.count(), LateFee.objects.count())
    again = assess_late_fees(org, as_of=date(2026, 7, 31))
    assert (again.fee_invoices, again.assessed, again.skipped) == ([], [], [])
    assert (Invoice.objects.count(), LateFee.objects.count()) == counts
    # A month later only August is new, at the 2nd-half rate.
    later = assess_late_fees(org, as_of=date(2026, 8, 31))
    assert [(level, amount) for _, level, amount, _ in later.assessed] == [
        ("interest:2026-08", "9.05"),  # 1,000.00 × 10.65% × 31/365 = 9.0452 → 9.05
    ]


def test_a_missing_semester_rate_skips_that_invoice_with_the_reason_and_the_others_go_on(
        org, customer, make_contract, make_customer):
    # Issued in May under an agreed 2 % reference rate; in July the contract is switched to the statutory
    # table, where nothing is recorded for the 1st half of 2026 (only a rate from 1 July).
    switched = make_contract(customer, reference="CTR-SWITCHED", terms_kind="net", terms_days=30,
                             late_fee_kind="eu_statutory", reference_rate_percent=Decimal("2"))
    waiting = overdue_invoice(org, customer, switched)
    update_contract(switched, reference_rate_percent=None)
    record_reference_rate(currency="EUR", valid_from=date(2026, 7, 1), rate_percent="2.15")
    other = make_customer("AGREED")
    agreed = make_contract(other, reference="CTR-AGREED", terms_kind="net", terms_days=30,
                           late_fee_kind="eu_statutory", reference_rate_percent=Decimal("2.15"))
    fine = overdue_invoice(org, other, agreed)
    result = assess_late_fees(org, as_of=date(2026, 7, 31))
    assert result.skipped == [(waiting.number, "No EUR reference rate is recorded for the 1st half of 2026 (the "
                                               "ECB rate in force on 1 January 2026): record it with `duly rates set "
                                               "--series EUR` before statutory interest under Directive 2011/7/EU "
                                               "can be charged or stated.")]
    assert charged(waiting) == {}
    # the agreed fixed rate: 2.15 + 8 = 10.15 % in both months
    assert charged(fine) == {"compensation": 4000,
                             "interest:2026-06": 834,  # 1,000.00 × 10.15% × 30/365 = 8.3425 → 8.34
                             "interest:2026-07": 862}  # 1,000.00 × 10.15% × 31/365 = 8.6205 → 8.62
    # Once the rate is recorded, the next run charges the waiting invoice.
    record_reference_rate(currency="EUR", valid_from=date(2025, 12, 18), rate_percent="2.4")
    result = assess_late_fees(org, as_of=date(2026, 7, 31))
    assert result.skipped == []
    assert charged(waiting) == {"compensation": 4000,
                                "interest:2026-06": 855,  # 1,000.00 × (2.4 + 8)% × 30/365 = 8.5479 → 8.55
                                "interest:2026-07": 862}  # 1,000.00 × (2.15 + 8)% × 31/365 = 8.6205 → 8.62


def test_the_rates_are_read_once_per_run(org, customer, table_contract, make_customer, make_contract, rates):
    for i in range(3):
        c = make_customer(f"LATE{i}", currency="EUR")
        overdue_invoice(org, c, make_contract(c, reference=f"CTR-T{i}", terms_kind="net", terms_days=30,
                                              late_fee_kind="eu_statutory"))
    with CaptureQueriesContext(connection) as queries:
        result = assess_late_fees(org, as_of=date(2026, 7, 31))
    assert len(result.fee_invoices) == 3 and result.skipped == []
    reads = [q["sql"] for q in queries.captured_queries if "customers_statutoryreferencerate" in q["sql"]]
    assert len(reads) == 1
