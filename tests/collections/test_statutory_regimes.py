"""Statutory interest by jurisdiction through the whole stack (issue 11, item 10): each regime reads its own
series of reference rates (``duly rates set --series ...``), charges its own margin and fixed sum, and states
them on the invoice. The rates are examples for the arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from duly.cli import main
from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.customers.services import list_reference_rates, record_reference_rate
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def _issue(org, customer, contract, issued: date, amount: str):
    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal(1), Decimal(amount),
                                                          tax_category="E", tax_exemption_reason="Test")],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=issued)


def charged(invoice) -> dict[str, int]:
    return {f.level: f.amount_minor for f in LateFee.objects.filter(invoice=invoice)}


def test_series_are_recorded_and_listed_with_the_half_year_each_applies_to():
    runner = CliRunner()
    for args in (["--series", "de-basis", "--from", "2025-07-01", "--rate", "1.27"],
                 ["--series", "BOE", "--from", "2025-12-18", "--rate", "3.75"],
                 ["--series", "GBP", "--from", "2026-07-01", "--rate", "3.5"],
                 ["--currency", "EUR", "--from", "2025-06-11", "--rate", "2.15"]):
        out = runner.invoke(main, ["rates", "set", *args])
        assert out.exit_code == 0, out.output
    assert out.output == "Recorded the EUR reference rate 2.15% from 2025-06-11.\n"  # --currency still works
    listed = {(r.series, r.valid_from): first for r, first in list_reference_rates()}
    assert listed == {
        ("DE-BASIS", date(2025, 7, 1)): date(2025, 7, 1),
        ("EUR", date(2025, 6, 11)): date(2025, 7, 1),
        # The UK takes the rate in force on 31 December / 30 June: 18 December → 1st half of 2026, and a rate
        # from 1 July waits for the 1st half of 2027.
        ("GBP", date(2025, 12, 18)): date(2026, 1, 1),
        ("GBP", date(2026, 7, 1)): date(2027, 1, 1),
    }
    out = runner.invoke(main, ["rates", "list", "--series", "gbp"])
    assert "Bank of England base rate" in out.output and "1st half of 2027" in out.output
    bad = runner.invoke(main, ["rates", "set", "--series", "XYZ1", "--from", "2026-01-01", "--rate", "1"])
    assert bad.exit_code == 2 and bad.output.startswith("error: Unknown reference-rate series 'XYZ1'")
    both = runner.invoke(main, ["rates", "set", "--series", "EUR", "--currency", "EUR", "--from", "2026-01-01",
                                "--rate", "1"])
    assert both.exit_code == 2 and "Give the series" in both.output


def test_a_german_b2b_contract_reads_the_base_rate_and_charges_the_pauschale(org, make_customer, make_contract):
    record_reference_rate(series="DE-BASIS", valid_from=date(2025, 7, 1), rate_percent="1.27")
    record_reference_rate(currency="EUR", valid_from=date(2025, 6, 11), rate_percent="2.15")  # not read by §288
    berlin = make_customer(country="DE", timezone="Europe/Berlin", locale="de_DE")
    contract = make_contract(berlin, terms_kind="net", terms_days=30, late_fee_kind="de_statutory_b2b")
    late = _issue(org, berlin, contract, date(2025, 12, 16), "5000.00")  # due 15 January 2026
    from duly.invoicing.documents.i18n import localizer  # frozen at issue in the customer's language (German)

    german = localizer("de_DE").late_terms(contract.late_fee_policy({"DE-BASIS": ((date(2025, 7, 1), Decimal(
        "1.27")),)}), "EUR", date(2025, 12, 16))
    assert late.late_terms_text == german
    assert ("(derzeit 10,27\xa0% pro Jahr, Basiszinssatz 1,27\xa0% für das 2. Halbjahr 2025) ab dem "
            "Fälligkeitsdatum") in late.late_terms_text
    assert "gesetzliche Verzugszinsen (§ 288 Abs. 2 BGB) von 9 Prozentpunkten über dem Basiszinssatz" in german
    assert "Verzugspauschale von 40,00" in german
    result = assess_late_fees(org, as_of=date(2026, 2, 28))
    assert result.skipped == []
    assert charged(late) == {
        "compensation": 4000,        # §288(5) BGB: EUR 40 Pauschale
        "interest:2026-01": 2251,    # 5,000.00 × (1.27 + 9)% × 16/365 = 22.509… (16–31 January)
        "interest:2026-02": 3939,    # 5,000.00 × 10.27% × 28/365 = 39.391…
    }
    assert LateFee.objects.get(invoice=late, level="interest:2026-02").explanation.endswith(
        "(base rate 1.27% for the 1st half of 2026 + 9 points, §288(2) BGB)")


def test_a_uk_contract_charges_the_fixed_sum_for_the_size_of_the_debt(org, make_customer, make_contract):
    record_reference_rate(series="GBP", valid_from=date(2025, 12, 18), rate_percent="3.75")
    london = make_customer(country="GB", currency="GBP", timezone="Europe/London", locale="en_GB")
    contract = make_contract(london, terms_kind="net", terms_days=30, late_fee_kind="uk_statutory", currency="GBP")
    small = _issue(org, london, contract, date(2026, 1, 1), "999.99")    # due 31 January 2026
    large = _issue(org, london, contract, date(2026, 1, 1), "12000.00")
    assert ("GBP 40.00 (under 1,000.00), GBP 70.00 (1,000.00 to 9,999.99) or GBP 100.00 (10,000.00 or more) fixed "
            "compensation by size of debt") in small.late_terms_text
    from duly.invoicing.documents.i18n import localizer  # the document, in the customer's language

    english = localizer("en_GB").late_terms(contract.late_fee_policy({"GBP": ((date(2025, 12, 18), Decimal(
        "3.75")),)}), "GBP", date(2026, 1, 1))
    assert english == (
        "Late payment: statutory interest under the Late Payment of Commercial Debts (Interest) Act 1998 at the Bank "
        "of England base rate + 8 points (currently 11.75% per year, Bank of England base rate 3.75% for the 1st "
        "half of 2026) from the due date, plus a fixed compensation for recovery costs of £40.00 (debt under "
        "£1,000.00), £70.00 (£1,000.00 to £9,999.99) or £100.00 (£10,000.00 or more) by size of debt.")
    assess_late_fees(org, as_of=date(2026, 2, 28))
    assert charged(small) == {"compensation": 4000,       # under GBP 1,000: GBP 40
                              "interest:2026-02": 901}     # 999.99 × 11.75% × 28/365 = 9.013…
    assert charged(large) == {"compensation": 10000,      # GBP 10,000 or more: GBP 100
                              "interest:2026-02": 10816}   # 12,000.00 × 11.75% × 28/365 = 108.164…


def test_a_statutory_contract_without_its_series_recorded_is_skipped_with_the_series_named(
        org, make_customer, make_contract):
    record_reference_rate(currency="EUR", valid_from=date(2025, 6, 11), rate_percent="2.15")
    berlin = make_customer(country="DE")
    consumer = make_contract(berlin, terms_kind="net", terms_days=30, late_fee_kind="de_statutory_b2c")
    with pytest.raises(Exception, match="No DE-BASIS reference rate"):
        _issue(org, berlin, consumer, date(2026, 1, 1), "100.00")  # the invoice must state the rate: refused
    assert not Invoice.objects.filter(customer=berlin).exclude(status=Invoice.DRAFT).exists()


@pytest.mark.parametrize(("locale", "kind", "currency", "words"), [
    ("fr_FR", "fr_statutory", "EUR", "intérêts au taux de 12,15\u00a0% par an (taux de refinancement de la BCE "
                                     "2,15\u00a0% + 10 points, art. L441-10 du Code de commerce)"),
    ("es_ES", "de_statutory_b2c", "EUR", "intereses del 6,27\u00a0% anual (tipo básico alemán 1,27\u00a0% + 5 "
                                         "puntos, §288(1) BGB)"),
    ("en", "eu_statutory", "EUR", "interest at 10.15% per year (ECB reference rate 2.15% + 8 points)"),
])
def test_an_agreed_fixed_reference_rate_is_stated_with_the_law_in_the_customers_language(locale, kind, currency,
                                                                                        words):
    from duly.domain.late_fees import LateFeePolicy
    from duly.invoicing.documents.i18n import localizer

    rate = {"fr_statutory": "2.15", "de_statutory_b2c": "1.27", "eu_statutory": "2.15"}[kind]
    text = localizer(locale).late_terms(LateFeePolicy(kind, reference_rate_percent=Decimal(rate)), currency,
                                        date(2026, 3, 1))
    assert words in text
