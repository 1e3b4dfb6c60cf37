"""What the contract agrees drives billing: the frequency, the client's billing day, how the deposit is deducted."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError as FieldError

from duly.billing import services
from duly.billing.models import PrepaidDrawdown, Subscription
from duly.customers.models import validate_billing_day
from duly.domain.errors import BillingFrequencyMismatch, InvalidSchedule
from duly.invoicing.models import Invoice

from .conftest import pay

pytestmark = pytest.mark.django_db


def _invoices(customer):
    return list(Invoice.objects.filter(customer=customer, kind=Invoice.KIND_STANDARD).order_by("issue_date", "id"))


# --- frequency --------------------------------------------------------------------------------------------
def test_a_subscription_is_billed_at_the_contracts_frequency_by_default(org, customer, make_contract, catalog,
                                                                         bill):
    make_contract(customer, billing_frequency="quarterly")
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1))
    assert (sub.interval, sub.anchor_day) == ("quarterly", "1")
    bill(date(2026, 1, 1), date(2026, 7, 1))
    assert [(i.issue_date, i.service_period_end) for i in _invoices(customer)] == [
        (date(2026, 1, 1), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 9, 30))]


def test_another_frequency_than_the_agreed_one_is_refused_and_nothing_is_written(org, customer, make_contract,
                                                                                  catalog, make_customer):
    make_contract(customer, deposit_kind="amount", deposit_amount="100.00")  # monthly, the default
    start = date(2026, 1, 1)
    with pytest.raises(BillingFrequencyMismatch,
                       match="Contract CTR-ACME agrees monthly billing; a weekly subscription does not match it") as e:
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     interval="weekly")
    assert e.value.code == "billing_frequency_mismatch"
    with pytest.raises(BillingFrequencyMismatch, match="a quarterly subscription"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     interval="quarterly")
    # A custom rule must bill as often as agreed: every 2 weeks is not monthly, twice a month neither.
    for rule in ("FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY;BYMONTHDAY=1,15"):
        with pytest.raises(BillingFrequencyMismatch, match="agrees monthly billing"):
            services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                         interval="custom", rrule=rule)
    assert not Subscription.objects.exists() and not Invoice.objects.exists()  # not even the deposit

    one_off = make_customer("ONCE")
    make_contract(one_off, billing_frequency="one_off")
    with pytest.raises(BillingFrequencyMismatch, match="CTR-ONCE is agreed as one-off billing"):
        services.create_subscription(org, one_off, [(catalog["flat"], 1)], start_date=start, as_of=start)
    assert not Subscription.objects.exists()


# --- the client's billing day -----------------------------------------------------------------------------
def test_the_contracts_billing_day_puts_a_clients_subscriptions_on_one_invoice_per_date(
        org, customer, make_contract, catalog, bill):
    make_contract(customer, billing_anchor_day="1")
    plan = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                        as_of=date(2026, 1, 1))
    seats = services.create_subscription(org, customer, [(catalog["per_unit"], 3)], start_date=date(2026, 1, 10),
                                         as_of=date(2026, 1, 10))
    assert (plan.anchor_day, seats.anchor_day) == ("1", "1")
    bill(date(2026, 1, 1), date(2026, 3, 1))
    invoices = _invoices(customer)
    assert [(i.issue_date, [line.description for line in i.lines.order_by("position")]) for i in invoices] == [
        (date(2026, 1, 1), ["Pro plan, 1er–31 janvier 2026"]),
        (date(2026, 1, 10), ["Seats × 3, 10–31 janvier 2026"]),  # the stub up to the client's billing day
        (date(2026, 2, 1), ["Pro plan, 1er–28 février 2026", "Seats × 3, 1er–28 février 2026"]),
        (date(2026, 3, 1), ["Pro plan, 1er–31 mars 2026", "Seats × 3, 1er–31 mars 2026"]),
    ]
    assert invoices[1].line_total_minor == 2129  # 30.00 × 22/31


def test_without_a_contract_billing_day_a_new_subscription_joins_the_running_ones(org, customer, make_contract,
                                                                                   catalog, bill):
    make_contract(customer)
    first = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 15),
                                         as_of=date(2026, 1, 15))
    second = services.create_subscription(org, customer, [(catalog["per_unit"], 2)], start_date=date(2026, 2, 3),
                                          as_of=date(2026, 2, 3))
    assert (first.anchor_day, second.anchor_day) == ("15", "15")
    bill(date(2026, 1, 15), date(2026, 3, 15))
    assert [(i.issue_date, i.lines.count()) for i in _invoices(customer)] == [
        (date(2026, 1, 15), 1), (date(2026, 2, 3), 1), (date(2026, 2, 15), 2), (date(2026, 3, 15), 2)]
    # A subscription given its own billing day keeps it.
    own = services.create_subscription(org, customer, [(catalog["per_unit"], 1)], start_date=date(2026, 3, 20),
                                       as_of=date(2026, 3, 20), anchor_day="last")
    assert own.anchor_day == "last"


def test_a_contract_billing_day_that_does_not_suit_the_frequency_is_refused_clearly(org, customer, make_contract,
                                                                                     catalog):
    make_contract(customer, billing_frequency="weekly", billing_anchor_day="15")
    with pytest.raises(InvalidSchedule, match="weekday name.*the billing day '15' is the billing day of contract "
                                              "CTR-ACME"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    assert not Subscription.objects.exists()
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1), anchor_day="friday")
    assert (sub.interval, sub.anchor_day, sub.next_bill_on) == ("weekly", "friday", date(2026, 1, 1))


def test_the_contract_billing_day_field_accepts_only_billing_days():
    for good in ("", "1", "31", "last", "Monday", "sunday"):
        validate_billing_day(good)
    for bad in ("0", "32", "15th", "lundi"):
        with pytest.raises(FieldError, match="is not a billing day"):
            validate_billing_day(bad)


# --- deposit held until the final invoice ---------------------------------------------------------------------
def test_a_deposit_held_until_the_final_invoice_is_deducted_there_and_the_rest_is_owed_back(
        org, customer, make_contract, catalog, bill):
    make_contract(customer, deposit_kind="amount", deposit_amount="200.00", deposit_deduction="final_invoice")
    services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 2, 1),
                                 end_date=date(2026, 5, 1), as_of=date(2026, 1, 20))
    services.create_subscription(org, customer, [(catalog["per_unit"], 2)], start_date=date(2026, 2, 1),
                                 end_date=date(2026, 6, 1), as_of=date(2026, 1, 20))
    deposit = Invoice.objects.get(kind=Invoice.KIND_DEPOSIT)
    assert "conservé jusqu'à votre facture finale au titre de ce contrat et déduit de celle-ci" in deposit.notes
    bill(date(2026, 2, 1))
    pay(org, deposit, date(2026, 2, 10))
    bill(date(2026, 2, 2), date(2026, 6, 1))
    feb, mar, apr, may = _invoices(customer)
    held = f"Acompte conservé jusqu'à la facture finale de ce contrat : 200,00 € (facture d'acompte {deposit.number})."
    assert (feb.prepaid_minor, feb.notes) == (0, "")  # not paid yet
    # March, and April (the plan's last period: the seats still run), keep the deposit.
    assert [(i.total_minor, i.prepaid_minor, _spaces(i.notes)) for i in (mar, apr)] == [(14400, 0, held),
                                                                                         (14400, 0, held)]
    # May bills the last period of the last subscription: the contract's final invoice.
    assert (may.total_minor, may.prepaid_minor, may.payable_minor, may.status) == (2400, 2400, 0, Invoice.PAID)
    assert _spaces(may.notes) == (f"Acompte déduit : 24,00 € (facture d'acompte {deposit.number}).\n"
                                  "Solde d'acompte restant après cette facture finale : 176,00 €, qui vous sera remboursé.")
    assert list(PrepaidDrawdown.objects.values_list("invoice", "amount_minor")) == [(may.pk, 2400)]


def _spaces(text: str) -> str:
    """French money carries no-break spaces (``200,00\xa0€``): compared with plain ones."""
    return text.replace("\xa0", " ").replace("\u202f", " ")
