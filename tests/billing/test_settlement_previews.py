"""Adding an item, removing one and cancelling show what they settle before they are confirmed: the preview is
computed by the same service function that books the change, so the amounts booked are the amounts previewed;
a confirmation whose previewed net is no longer right is refused and writes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import PendingCharge, Subscription
from duly.domain.errors import Conflict
from duly.domain.money import to_minor
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def _billed(org, customer, contract, catalog, items=None):
    """Seats × 5 (50.00 a month) and the flat plan (100.00), January invoiced in advance."""
    items = items or [(catalog["per_unit"], 5), (catalog["flat"], 1)]
    sub = services.create_subscription(org, customer, items, start_date=date(2026, 1, 1), as_of=date(2026, 1, 1),
                                       contract=contract)
    services.run_billing(org, date(2026, 1, 1))
    return Subscription.objects.get(pk=sub.pk)


def _credit_notes():
    return list(Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE).prefetch_related("lines"))


def test_adding_an_item_books_the_charge_it_previewed(org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog, items=[(catalog["per_unit"], 5)])
    prepared = services.preview_add_item(org, sub, catalog["flat"], 1, on=date(2026, 1, 16))
    s = prepared.settlement
    # 16 of January's 31 days of the 100.00 plan wait for the next invoice.
    assert (s.charge, s.credit, s.net, s.booked) == (Decimal("51.61"), Decimal(0), Decimal("51.61"), "charge")
    assert s.invoice_number == "INV-2026-00001" and [line.kind for line in s.lines] == ["charge"]
    assert not PendingCharge.objects.exists() and sub.items.count() == 1  # a preview writes nothing
    services.add_item(org, sub, catalog["flat"], 1, on=date(2026, 1, 16), as_of=date(2026, 1, 16),
                      expected_net=s.net)
    charge = PendingCharge.objects.get(subscription=sub)
    assert charge.amount_minor == to_minor(s.net, "EUR") == 5161
    assert (charge.period_start, charge.period_end) == (s.lines[0].period.start, s.lines[0].period.last_day)


def test_removing_an_item_books_the_credit_it_previewed(org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    seats = sub.items.get(price=catalog["per_unit"])
    s = services.preview_remove_item(org, sub, seats.pk, on=date(2026, 1, 21)).settlement
    # 11 unused days of the 50.00 of seats invoiced for January.
    assert (s.credit, s.charge, s.net, s.booked) == (Decimal("17.74"), Decimal(0), Decimal("-17.74"), "credit")
    assert not _credit_notes()
    services.remove_item(org, sub, seats.pk, on=date(2026, 1, 21), as_of=date(2026, 1, 21), expected_net="-17.74")
    [note] = _credit_notes()
    assert [line.net_minor for line in note.lines.all()] == [to_minor(s.credit_note, "EUR")] == [1774]
    assert [line.description for line in note.lines.all()] != [] and note.lines.get().period_start == date(2026, 1, 21)


def test_cancelling_at_once_books_the_credit_lines_it_previewed(org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    prepared = services.preview_cancel(org, sub, on=date(2026, 1, 21), at_period_end=False)
    s = prepared.settlement
    assert prepared.ends_on == date(2026, 1, 21)
    assert [(line.kind, line.amount) for line in s.lines] == [("credit", Decimal("17.74")), ("credit", Decimal("35.48"))]
    assert s.net == Decimal("-53.22") and s.absorbed == 0
    sub = services.cancel_subscription(org, sub, on=date(2026, 1, 21), as_of=date(2026, 1, 21), at_period_end=False,
                                       expected_net=s.net)
    assert (sub.status, sub.end_date) == (Subscription.CANCELED, prepared.ends_on)
    [note] = _credit_notes()
    assert sorted(line.net_minor for line in note.lines.all()) == sorted(to_minor(line.amount, "EUR")
                                                                         for line in s.lines)


def test_cancelling_at_the_end_of_the_period_settles_nothing_and_says_when_it_ends(org, customer, contract, catalog):
    sub = _billed(org, customer, contract, catalog)
    prepared = services.preview_cancel(org, sub, on=date(2026, 1, 21), at_period_end=True)
    assert (prepared.ends_on, prepared.settlement.lines, prepared.settlement.net) == (date(2026, 2, 1), (), 0)
    sub = services.cancel_subscription(org, sub, on=date(2026, 1, 21), as_of=date(2026, 1, 21), expected_net=0)
    assert sub.end_date == prepared.ends_on and not _credit_notes() and not PendingCharge.objects.exists()


def test_a_credit_the_invoice_cannot_hold_is_previewed_as_taken_off_the_pending_charges(org, customer, contract,
                                                                                         catalog):
    """Paused (credited), resumed (charged back, pending) and cancelled at once: what the preview says the credit
    note credits and what it takes off the pending charges is what the cancellation books."""
    sub = _billed(org, customer, contract, catalog, items=[(catalog["flat"], 1)])
    services.pause_subscription(org, sub, starts_on=date(2026, 1, 10), as_of=date(2026, 1, 10))
    services.resume_subscription(org, sub, on=date(2026, 1, 20), as_of=date(2026, 1, 20))
    notes_before = {n.pk for n in _credit_notes()}
    pending_before = sum(PendingCharge.objects.filter(subscription=sub).values_list("amount_minor", flat=True))
    s = services.preview_cancel(org, sub, on=date(2026, 1, 12), at_period_end=False).settlement
    assert s.credit > 0
    services.cancel_subscription(org, sub, on=date(2026, 1, 12), as_of=date(2026, 1, 20), at_period_end=False,
                                 expected_net=s.net)
    new_notes = [n for n in _credit_notes() if n.pk not in notes_before]
    credited = sum(line.net_minor for n in new_notes for line in n.lines.all())
    pending_after = sum(PendingCharge.objects.filter(subscription=sub).values_list("amount_minor", flat=True))
    assert credited == to_minor(s.credit_note, "EUR")
    assert pending_before - pending_after == to_minor(s.absorbed, "EUR")


@pytest.mark.parametrize("act", ["add", "remove", "cancel", "change"])
def test_a_stale_confirmation_is_refused_and_writes_nothing(org, customer, contract, catalog, act):
    sub = _billed(org, customer, contract, catalog)
    seats = sub.items.get(price=catalog["per_unit"])
    on, today = date(2026, 1, 21), date(2026, 1, 21)
    calls = {
        "add": lambda net: services.add_item(org, sub, catalog["per_unit"], 2, on=on, as_of=today, expected_net=net),
        "remove": lambda net: services.remove_item(org, sub, seats.pk, on=on, as_of=today, expected_net=net),
        "cancel": lambda net: services.cancel_subscription(org, sub, on=on, as_of=today, at_period_end=False,
                                                           expected_net=net),
        "change": lambda net: services.change_item(org, sub, seats.pk, on=on, as_of=today, quantity=2,
                                                   expected_net=net),
    }
    items, notes = sub.items.count(), len(_credit_notes())
    with pytest.raises(Conflict) as refused:
        calls[act](Decimal("1.23"))  # a net that was never shown for this change
    assert refused.value.code == "proration_changed"
    sub.refresh_from_db()
    assert (sub.items.count(), len(_credit_notes()), sub.status) == (items, notes, Subscription.ACTIVE)
    assert not PendingCharge.objects.exists()
