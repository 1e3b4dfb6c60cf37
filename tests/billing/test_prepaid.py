"""Deposits and retainers, end to end: invoiced before service, deducted once paid, topped up below a threshold."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import PrepaidDrawdown, PrepaidFunding
from duly.invoicing.models import Invoice

from .conftest import pay

pytestmark = pytest.mark.django_db


def _standard(customer):
    return list(Invoice.objects.filter(customer=customer, kind=Invoice.KIND_STANDARD).order_by("issue_date", "id"))


def test_a_fixed_deposit_is_invoiced_before_service_and_deducted_once_paid(org, customer, make_contract, catalog,
                                                                          bill):
    contract = make_contract(customer, deposit_kind="amount", deposit_amount="200.00", terms_kind="net",
                             terms_days=14)
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 2, 1),
                                       as_of=date(2026, 1, 20))
    deposit = Invoice.objects.get(kind=Invoice.KIND_DEPOSIT)
    assert (deposit.issue_date, deposit.due_date, deposit.total, deposit.contract) == (
        date(2026, 1, 20), date(2026, 2, 3), Decimal("200.00"), contract)
    # The customer reads French: the note and its date are French (issue 15).
    assert deposit.lines.get().tax_category == "O" and "avant le début de la prestation le 1er février 2026" in deposit.notes
    # One deposit per contract: a second subscription does not ask again.
    services.create_subscription(org, customer, [(catalog["per_unit"], 2)], start_date=date(2026, 2, 1),
                                 as_of=date(2026, 1, 21))
    assert Invoice.objects.filter(kind=Invoice.KIND_DEPOSIT).count() == 1

    # Not paid yet: nothing is deducted from the first invoice.
    bill(date(2026, 2, 1))
    february = _standard(customer)[0]
    assert (february.total, february.prepaid_minor) == (Decimal("144.00"), 0)  # (100 + 2 × 10) + 20% VAT

    pay(org, deposit, date(2026, 2, 10))
    bill(date(2026, 3, 1))
    march = _standard(customer)[1]
    # 144.00 due, the 200.00 deposit covers it all: paid on issue, 56.00 left for April.
    assert (march.total_minor, march.prepaid_minor, march.payable_minor, march.status) == (
        14400, 14400, 0, Invoice.PAID)
    assert _spaces(march.notes) == f"Acompte déduit : 144,00 € (facture d'acompte {deposit.number})."
    bill(date(2026, 4, 1))
    april = _standard(customer)[2]
    assert (april.prepaid_minor, april.payable_minor, april.status) == (5600, 8800, Invoice.ISSUED)
    bill(date(2026, 5, 1))
    assert _standard(customer)[3].prepaid_minor == 0
    assert sum(PrepaidDrawdown.objects.values_list("amount_minor", flat=True)) == 20000
    assert sub.pk


def test_a_percent_deposit_is_a_share_of_the_first_periods_charges(org, customer, make_contract, catalog):
    make_contract(customer, deposit_kind="percent", deposit_percent=Decimal("25"))
    services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 5)],
                                 start_date=date(2026, 1, 16), as_of=date(2026, 1, 10), anchor_day=1)
    deposit = Invoice.objects.get(kind=Invoice.KIND_DEPOSIT)
    # First period 16–31 January: 16/31 of 150.00 = 77.42 (flat 51.61 + seats 25.81), + 20% = 92.90; 25% = 23.23.
    assert deposit.total == Decimal("23.23")
    assert "25 % des montants de la première période (92,90 €)" in _spaces(deposit.lines.get().explanation)


def test_a_retainer_is_drawn_down_and_topped_up_below_its_threshold(org, customer, make_contract, catalog, bill):
    contract = make_contract(customer, terms_kind="net", terms_days=10)
    services.start_retainer(org, contract, topup_amount="300.00", threshold="100.00", as_of=date(2026, 1, 1))
    first = Invoice.objects.get(kind=Invoice.KIND_DEPOSIT)
    assert first.total == Decimal("300.00") and first.lines.get().description == "Provision — contrat CTR-ACME"
    assert services.retainer_balance(customer).awaiting_payment == Decimal("300.00")
    pay(org, first, date(2026, 1, 2))
    assert services.retainer_balance(customer).balance == Decimal("300.00")

    services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["graduated_api"], 1)],
                                 start_date=date(2026, 1, 1), as_of=date(2026, 1, 1), timing="arrears")
    services.record_usage(org, [{"idempotency_key": "u1", "customer": "ACME", "metric": "api_calls",
                                 "timestamp": "2026-01-10T10:00:00Z", "value": "3000"}])
    bill(date(2026, 2, 1))
    january = _standard(customer)[0]
    # (100.00 flat + 2,000 calls × 0.01) + 20% = 144.00, all drawn from the retainer: 156.00 left.
    assert (january.total_minor, january.prepaid_minor, january.status) == (14400, 14400, Invoice.PAID)
    assert _spaces(january.notes) == ("Imputation sur la provision : 144,00 €.\n"
                                      "Solde de la provision après cette facture : 156,00 €.")
    assert not Invoice.objects.filter(kind=Invoice.KIND_DEPOSIT, issue_date=date(2026, 2, 1)).exists()

    bill(date(2026, 3, 1))
    february = _standard(customer)[1]
    # 120.00 drawn: 36.00 left, below 100.00, so a 300.00 top-up is invoiced the same day.
    assert (february.prepaid_minor, february.payable_minor) == (12000, 0)
    assert "Solde de la provision après cette facture : 36,00 €." in _spaces(february.notes)
    assert "Un réapprovisionnement de la provision de 300,00 € est facturé séparément." in _spaces(february.notes)
    topup = Invoice.objects.get(kind=Invoice.KIND_DEPOSIT, issue_date=date(2026, 3, 1))
    assert (topup.total, topup.due_date) == (Decimal("300.00"), date(2026, 3, 11))
    assert "est descendu à 36,00 €, sous le seuil de 100,00 €" in _spaces(topup.lines.get().explanation)
    assert PrepaidFunding.objects.filter(kind=PrepaidFunding.RETAINER).count() == 2

    # The top-up is not paid: March draws the last 36.00, and no second top-up is invoiced.
    bill(date(2026, 4, 1))
    march = _standard(customer)[2]
    assert (march.prepaid_minor, march.payable_minor) == (3600, 8400)
    assert Invoice.objects.filter(kind=Invoice.KIND_DEPOSIT).count() == 2
    balance = services.retainer_balance(customer)
    assert (balance.funded, balance.drawn, balance.balance, balance.awaiting_payment) == (
        Decimal("300.00"), Decimal("300.00"), Decimal("0.00"), Decimal("300.00"))

    pay(org, topup, date(2026, 4, 5))
    bill(date(2026, 5, 1))
    april = _standard(customer)[3]
    assert (april.prepaid_minor, april.payable_minor) == (12000, 0)
    assert services.retainer_balance(customer).balance == Decimal("180.00")


def _spaces(text: str) -> str:
    """French money and numbers carry no-break spaces (``144,00\xa0€``): compared with plain ones."""
    return text.replace("\xa0", " ").replace("\u202f", " ")
