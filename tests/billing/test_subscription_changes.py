"""Changes during an invoiced period: prorated with Decimal ratios, the parts adding up to the whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import PendingCharge, Subscription
from duly.domain.errors import InvalidState
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def advance(org, customer, contract, catalog, bill):
    """Flat 100.00 + 10 seats × 10.00 in advance from 1 April (30 days), April already invoiced."""
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 10)],
                                       start_date=date(2026, 4, 1), as_of=date(2026, 4, 1))
    bill(date(2026, 4, 1))
    return sub


def _notes(customer):
    return list(Invoice.objects.filter(customer=customer, kind=Invoice.KIND_CREDIT_NOTE).order_by("id"))


def test_a_pause_credits_the_invoiced_days_and_an_early_resume_charges_them_back(org, customer, advance, catalog,
                                                                                 bill):
    services.pause_subscription(org, advance, starts_on=date(2026, 4, 21), as_of=date(2026, 4, 20))
    note = _notes(customer)[0]
    # 21–30 April: 10 of 30 days of 100.00 and of 100.00 → 33.33 + 33.33 = 66.66, + 20% VAT.
    assert [line.net_minor for line in note.lines.order_by("position")] == [3333, 3333]
    assert (note.total_minor, note.related_invoice.issue_date) == (7999, date(2026, 4, 1))  # 66.66 + 13.33
    bill(date(2026, 5, 1))  # May, paused throughout, is billed as nothing
    assert not Invoice.objects.filter(customer=customer, issue_date=date(2026, 5, 1)).exists()
    may_record = advance.billing_records.get(period_start=date(2026, 5, 1))
    assert (may_record.invoice_id, may_record.amount_minor) == (None, 0)

    # Resumed on 11 May: the 21 remaining days of May (of 31) are charged on the next invoice.
    services.resume_subscription(org, advance, on=date(2026, 5, 11), as_of=date(2026, 5, 11))
    back = list(PendingCharge.objects.order_by("id"))
    assert [(c.amount_minor, c.period_start, c.period_end) for c in back] == [
        (6774, date(2026, 5, 11), date(2026, 5, 31)), (6774, date(2026, 5, 11), date(2026, 5, 31))]
    bill(date(2026, 5, 11), date(2026, 6, 1))
    june = Invoice.objects.get(customer=customer, issue_date=date(2026, 6, 1))
    assert june.line_total_minor == 20000 + 2 * 6774

    # A pause and a resume inside an invoiced period: credit 10–30 June, then charge back 20–30 June.
    services.pause_subscription(org, advance, starts_on=date(2026, 6, 10), as_of=date(2026, 6, 5))
    services.resume_subscription(org, advance, on=date(2026, 6, 20), as_of=date(2026, 6, 20))
    credited = _notes(customer)[1]
    assert credited.line_total_minor == 2 * 7000  # 21 of 30 days of 100.00 = 70.00, twice
    back = list(PendingCharge.objects.filter(invoice__isnull=True).order_by("id"))
    assert [(c.amount_minor, c.period_start, c.period_end) for c in back] == [
        (3667, date(2026, 6, 20), date(2026, 6, 30)), (3667, date(2026, 6, 20), date(2026, 6, 30))]
    bill(date(2026, 7, 1))
    july = Invoice.objects.get(customer=customer, issue_date=date(2026, 7, 1))
    assert july.line_total_minor == 20000 + 2 * 3667


def test_add_and_remove_items_mid_period(org, customer, advance, catalog, bill):
    services.add_item(org, advance, catalog["flat"], 1, on=date(2026, 4, 16), as_of=date(2026, 4, 16))
    added = PendingCharge.objects.get()
    # 16–30 April: 15 of 30 days of 100.00.
    assert (added.amount_minor, added.description) == (5000, "Ajout : Pro plan × 1, 16–30 avril 2026")
    item = advance.items.get(price=catalog["per_unit"])
    services.remove_item(org, advance, item.pk, on=date(2026, 4, 21), as_of=date(2026, 4, 21))
    note = _notes(customer)[0]
    assert note.lines.get().net_minor == 3333  # 10 of 30 days of 100.00: 100.00 − round(66.666…) = 33.33
    bill(date(2026, 5, 1))
    may = Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1))
    assert [line.net_minor for line in may.lines.order_by("position")] == [10000, 10000, 5000]
    with pytest.raises(InvalidState, match="last item"):
        for other in advance.items.filter(ends_on__isnull=True):
            services.remove_item(org, advance, other.pk, on=date(2026, 5, 10), as_of=date(2026, 5, 10))


def test_invoiced_periods_cannot_be_changed_retroactively(org, customer, advance, catalog, bill):
    bill(date(2026, 5, 1))
    item = advance.items.get(price=catalog["per_unit"])
    with pytest.raises(InvalidState, match="already invoiced; changes start on 2026-05-01 at the earliest"):
        services.change_item(org, advance, item.pk, quantity=20, on=date(2026, 4, 20), as_of=date(2026, 5, 2))
    assert advance.items.count() == 2 and not PendingCharge.objects.exists()


def test_in_arrears_each_item_is_billed_for_the_days_it_applied(org, customer, contract, catalog, bill):
    sub = services.create_subscription(org, customer, [(catalog["per_unit"], 10)], start_date=date(2026, 4, 1),
                                       as_of=date(2026, 4, 1), timing="arrears")
    item = sub.items.get()
    services.change_item(org, sub, item.pk, quantity=16, on=date(2026, 4, 11), as_of=date(2026, 4, 11))
    services.cancel_subscription(org, sub, on=date(2026, 4, 20), as_of=date(2026, 4, 20), at_period_end=True)
    bill(date(2026, 5, 1))
    invoice = Invoice.objects.get(customer=customer)
    lines = [(line.description, line.net_minor) for line in invoice.lines.order_by("position")]
    # 1–10 April: 10/30 of 100.00; 11–30 April: 20/30 of 160.00. No credit note: nothing was billed ahead.
    assert lines == [("Seats × 10, 1er–10 avril 2026", 3333), ("Seats × 16, 11–30 avril 2026", 10667)]
    assert not _notes(customer)
    sub.refresh_from_db()
    assert (sub.status, sub.end_date, sub.next_bill_on) == (Subscription.CANCELED, date(2026, 5, 1), None)
    assert bill(date(2026, 6, 1)).invoices == 0


def test_cancelling_immediately_credits_exactly_the_unused_part(org, customer, advance, catalog, bill):
    services.cancel_subscription(org, advance, on=date(2026, 4, 8), as_of=date(2026, 4, 8), at_period_end=False)
    note = _notes(customer)[0]
    invoice = note.related_invoice
    # Used 1–7 April: 7/30 of 100.00 = 23.33; credited 100.00 − 23.33 = 76.67 for each item.
    assert [line.net_minor for line in note.lines.order_by("position")] == [7667, 7667]
    assert invoice.line_total_minor - note.line_total_minor == 2 * 2333
    assert (note.issue_date, invoice.status, invoice.balance) == (date(2026, 4, 8), Invoice.PARTIALLY_PAID,
                                                                  Decimal("55.99"))
    with pytest.raises(InvalidState, match="already canceled"):
        services.cancel_subscription(org, advance, on=date(2026, 4, 9), as_of=date(2026, 4, 9))


# --- a pause inside the invoiced period is never taken off the rest twice (issue 11, item 8) ----------------
@pytest.fixture(params=["paused before April was invoiced", "paused after April was invoiced"])
def paused_april(request, org, customer, contract, catalog, bill):
    """Flat 100.00 + 10 seats × 10.00 in advance from 1 April (30 days), paused 6–10 April."""
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 10)],
                                       start_date=date(2026, 4, 1), as_of=date(2026, 4, 1))
    if request.param.startswith("paused before"):
        services.pause_subscription(org, sub, starts_on=date(2026, 4, 6), resumes_on=date(2026, 4, 11),
                                    as_of=date(2026, 3, 31))
        bill(date(2026, 4, 1))
        invoice = Invoice.objects.get(customer=customer, kind=Invoice.KIND_STANDARD)
        assert [line.net_minor for line in invoice.lines.order_by("position")] == [8333, 8333]  # 100 × 25/30
    else:
        bill(date(2026, 4, 1))
        services.pause_subscription(org, sub, starts_on=date(2026, 4, 6), resumes_on=date(2026, 4, 11),
                                    as_of=date(2026, 4, 5))
        assert [line.net_minor for line in _notes(customer)[0].lines.order_by("position")] == [1667, 1667]
    return sub


def _invoiced_per_item(customer) -> dict[str, int]:
    """Net minor units per product invoiced, minus credited, plus pending, for April."""
    net: dict[str, int] = {}
    for invoice in Invoice.objects.filter(customer=customer):
        sign = -1 if invoice.kind == Invoice.KIND_CREDIT_NOTE else 1
        for line in invoice.lines.all():
            key = line.description.split(",")[0].split(" × ")[0].split(": ")[-1]
            net[key] = net.get(key, 0) + sign * line.net_minor
    for pending in PendingCharge.objects.filter(customer=customer, invoice__isnull=True):
        key = pending.description.split(": ")[1].split(" × ")[0]
        net[key] = net.get(key, 0) + pending.amount_minor
    return net


def test_cancelling_after_a_pause_credits_the_days_left_at_the_undiscounted_price(org, customer, paused_april):
    services.cancel_subscription(org, paused_april, on=date(2026, 4, 16), as_of=date(2026, 4, 16),
                                 at_period_end=False)
    note = _notes(customer)[-1]
    # 16–30 April: 15 of 30 days, none paused: 100.00 × 15/30 = 50.00 per item (was 83.33 − 41.67 = 41.66).
    assert [line.net_minor for line in note.lines.order_by("position")] == [5000, 5000]
    assert "15 jours non utilisés sur 30" in note.lines.first().explanation
    # What April costs in the end: 1–5 and 11–15 April, 10 of 30 days of 100.00 per item.
    assert _invoiced_per_item(customer) == {"Pro plan": 3333, "Seats": 3333}


def test_more_seats_after_a_pause_charge_the_days_left_at_the_undiscounted_price(org, customer, catalog,
                                                                               paused_april):
    seats = paused_april.items.get(price=catalog["per_unit"])
    services.change_item(org, paused_april, seats.pk, quantity=15, on=date(2026, 4, 16), as_of=date(2026, 4, 16))
    pending = PendingCharge.objects.get()
    # 16–30 April at 15 seats instead of 10: 150.00 × 15/30 − 100.00 × 15/30 = 75.00 − 50.00 = 25.00 (was 20.84).
    assert pending.amount_minor == 2500
    assert "75,00" in pending.explanation and "50,00" in pending.explanation


def test_removing_an_item_after_a_pause_credits_the_days_left(org, customer, catalog, paused_april):
    seats = paused_april.items.get(price=catalog["per_unit"])
    services.remove_item(org, paused_april, seats.pk, on=date(2026, 4, 21), as_of=date(2026, 4, 21))
    # 21–30 April: 10 of 30 days of 100.00 = 33.33 (invoiced 83.33 − used 15 days 50.00).
    assert _notes(customer)[-1].lines.get().net_minor == 3333
