"""Within a number series, a later number never carries an earlier issue date: single issue, bulk issue,
billing run and fee run (French and German law require continuous, chronological numbering)."""

import importlib
import threading
from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, transaction

from duly.billing.services import create_subscription, run_billing
from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.domain.errors import IssueDateBeforeLastIssued
from duly.invoicing import bulk, services
from duly.invoicing.models import Invoice, SeriesCounter

L = services.LineData


def draft(org, customer, contract, amount="100.00"):
    return services.create_draft(org, customer, [L("Consulting", Decimal(1), Decimal(amount))], contract=contract)


def issue(org, customer, contract, on, amount="100.00"):
    return services.issue_invoice(org, draft(org, customer, contract, amount).pk, issue_date=on)


def dated_numbers(org):
    return list(Invoice.objects.filter(organization=org, number__isnull=False).order_by("number")
                .values_list("number", "issue_date"))


def test_issuing_before_the_last_issued_invoice_of_the_series_is_refused(org, customer, contract):
    issue(org, customer, contract, date(2026, 12, 20))
    early = draft(org, customer, contract)
    with pytest.raises(IssueDateBeforeLastIssued) as err:
        services.issue_invoice(org, early.pk, issue_date=date(2026, 6, 1))
    assert err.value.code == "issue_date_before_last_issued"
    assert err.value.message == (
        "Cannot issue an invoice dated 2026-06-01: the last invoice INV-2026-00001 is dated 2026-12-20, and a later "
        "number never carries an earlier date. Issue it dated 2026-12-20 or later.")
    early.refresh_from_db()
    assert early.status == Invoice.DRAFT and early.number is None
    # The same day is fine, and the refused issue took no number.
    assert services.issue_invoice(org, early.pk, issue_date=date(2026, 12, 20)).number == "INV-2026-00002"
    # Each year is a series of its own (INV-2027-…): the last days of 2026 can still be invoiced in January.
    assert issue(org, customer, contract, date(2027, 1, 4)).number == "INV-2027-00001"
    assert issue(org, customer, contract, date(2026, 12, 31)).number == "INV-2026-00003"
    assert dated_numbers(org) == [("INV-2026-00001", date(2026, 12, 20)), ("INV-2026-00002", date(2026, 12, 20)),
                                  ("INV-2026-00003", date(2026, 12, 31)), ("INV-2027-00001", date(2027, 1, 4))]


def test_a_number_pattern_without_the_year_is_refused(org):
    from duly.domain.errors import ValidationError

    with pytest.raises(ValidationError, match="must contain {year}"):
        services.set_number_pattern(org, "invoice", "INV-{seq:05}")
    assert services.set_number_pattern(org, "invoice", "F{year}/{seq:06}").pattern == "F{year}/{seq:06}"


def test_credit_notes_are_a_series_of_their_own(org, customer, contract):
    a = issue(org, customer, contract, date(2026, 3, 2), "500")
    issue(org, customer, contract, date(2026, 3, 20))
    note = services.create_credit_note(org, a.pk, reason="Less work", issue_date=date(2026, 3, 10),
                                       lines=[L("Less work", Decimal(1), Decimal("100"))])
    assert note.number == "CN-2026-00001"  # before the last invoice, after the last credit note: fine
    with pytest.raises(IssueDateBeforeLastIssued, match="the last credit note CN-2026-00001 is dated 2026-03-10"):
        services.create_credit_note(org, a.pk, reason="Less work", issue_date=date(2026, 3, 9),
                                    lines=[L("Less work", Decimal(1), Decimal("100"))])
    assert Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).count() == 1  # the refused note left no draft


def test_issuing_several_drafts_at_once_is_refused_whole(org, customer, contract):
    issue(org, customer, contract, date(2026, 5, 4))
    ids = [draft(org, customer, contract).pk for _ in range(3)]
    with pytest.raises(IssueDateBeforeLastIssued, match="Nothing was issued"):
        services.issue_invoices(org, ids, issue_date=date(2026, 5, 3))
    assert Invoice.objects.filter(pk__in=ids, status=Invoice.DRAFT).count() == 3


def test_the_bulk_path_refuses_an_earlier_date_and_writes_nothing(org, customer, contract):
    issue(org, customer, contract, date(2026, 5, 4))
    item = bulk.BulkInvoice(customer=customer, contract=contract, lines=[L("Seats", Decimal(3), Decimal("10"))])
    with pytest.raises(IssueDateBeforeLastIssued):
        with transaction.atomic():
            bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=date(2026, 5, 1))], issue_date=date(2026, 5, 1))
    assert Invoice.objects.count() == 1
    with transaction.atomic():
        [later] = bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=date(2026, 5, 4))],
                                      issue_date=date(2026, 5, 4))
    assert later.number == "INV-2026-00002"
    assert SeriesCounter.objects.get().last_issue_date == date(2026, 5, 4)


@pytest.fixture
def subscribed(org, customer, contract):
    """A monthly subscription billed in advance from 1 January, and an invoice overdue since 31 January."""
    from duly.billing import services as billing

    product = billing.create_product(org, code="PRO", name="Pro plan", tax_category="S", tax_rate=Decimal("20"))
    price = billing.create_price(org, product, code="pro", currency="EUR",
                                 model_config={"model": "flat", "amount": "100.00"})
    create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1),
                        anchor_day=1)
    run_billing(org, date(2026, 1, 1))  # January, due 31 January, never paid
    return customer


def test_a_billing_run_dated_before_the_last_fee_invoice_is_refused_and_bills_nothing(org, subscribed):
    fees = assess_late_fees(org, as_of=date(2026, 3, 5))
    assert fees.fee_invoices == ["INV-2026-00002"]
    before = dated_numbers(org)
    with pytest.raises(IssueDateBeforeLastIssued) as err:
        run_billing(org, date(2026, 3, 1))
    assert "Run billing as of 2026-03-05 or later: it bills every period due by then" in err.value.message
    assert dated_numbers(org) == before
    # Billing as of 5 March bills February and March, dated 5 March, their service periods unchanged.
    result = run_billing(org, date(2026, 3, 5))
    assert result.numbers == ["INV-2026-00003", "INV-2026-00004"]
    billed = Invoice.objects.filter(number__in=result.numbers).order_by("number")
    assert [(i.issue_date, i.service_period_start) for i in billed] == [
        (date(2026, 3, 5), date(2026, 2, 1)), (date(2026, 3, 5), date(2026, 3, 1))]
    assert [d for _, d in dated_numbers(org)] == sorted(d for _, d in dated_numbers(org))


def test_a_fee_run_dated_before_the_last_invoice_is_refused_and_charges_nothing(org, subscribed):
    run_billing(org, date(2026, 3, 5))
    with pytest.raises(IssueDateBeforeLastIssued, match="Assess late fees as of 2026-03-05 or later"):
        assess_late_fees(org, as_of=date(2026, 3, 1))
    assert not LateFee.objects.exists()
    assert assess_late_fees(org, as_of=date(2026, 3, 5)).fee_invoices
    assert [d for _, d in dated_numbers(org)] == sorted(d for _, d in dated_numbers(org))


def test_existing_counters_learn_the_date_of_their_last_number(org, customer, contract):
    issue(org, customer, contract, date(2026, 4, 1))
    issue(org, customer, contract, date(2026, 4, 9))
    issue(org, customer, contract, date(2027, 1, 2))
    SeriesCounter.objects.update(last_issue_date=None)  # as before the migration
    migration = importlib.import_module("duly.invoicing.migrations.0005_cor_books_series_issue_date")
    migration.last_issue_dates(apps, connection.schema_editor())
    assert dict(SeriesCounter.objects.values_list("year", "last_issue_date")) == {
        2026: date(2026, 4, 9), 2027: date(2027, 1, 2)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_with_different_dates_never_number_out_of_order(org, customer, contract):
    days = [date(2026, 7, d) for d in (1, 9, 3, 7, 2, 8, 4, 6)] * 2
    drafts = [draft(org, customer, contract).pk for _ in days]
    barrier = threading.Barrier(len(days))
    outcomes = []

    def issuer(pk, day):
        try:
            barrier.wait()
            services.issue_invoice(org, pk, issue_date=day)
            outcomes.append("issued")
        except IssueDateBeforeLastIssued:
            outcomes.append("refused")
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=issuer, args=args) for args in zip(drafts, days)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"issued", "refused"} and "issued" in outcomes, outcomes
    numbered = dated_numbers(org)
    assert len(numbered) == outcomes.count("issued")
    assert [d for _, d in numbered] == sorted(d for _, d in numbered)  # gapless and chronological
    assert [n for n, _ in numbered] == [f"INV-2026-{i:05}" for i in range(1, len(numbered) + 1)]
