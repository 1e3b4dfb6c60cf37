"""Promises to pay through the Django layer: the promised amount decides whether a promise was kept."""

from __future__ import annotations

from datetime import date

import pytest

from duly.collections.models import PromiseToPay, Reminder
from duly.collections.services import assign_policy, promise_state, record_promise
from duly.domain.errors import ValidationError


@pytest.fixture
def promised(org, customer, make_contract, make_invoice, walk, smtp):
    """Firm policy, 1,000.00 due 1 April: "overdue" on 2 April and "fee" on 8 April are sent; on
    9 April the customer promises 400.00 by Monday 13 April."""
    assign_policy(org, customer, "firm")
    make_invoice(customer, make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="none"),
                 issued=date(2026, 3, 2))
    walk.run(date(2026, 4, 2))
    walk.run(date(2026, 4, 8))
    return record_promise(org, customer, promised_date=date(2026, 4, 13), amount="400.00",
                          now=walk.at(date(2026, 4, 9)))


def steps(customer):
    return [(r.sent_at.date(), r.step_code) for r in Reminder.objects.filter(customer=customer).order_by("sent_at")]


def test_paying_exactly_the_promised_part_keeps_the_promise(org, customer, promised, pay, walk):
    walk.run(date(2026, 4, 10))
    pay(customer, "400.00", date(2026, 4, 13))
    assert promise_state(promised, date(2026, 4, 14)) == "kept"
    walk.days(date(2026, 4, 13), date(2026, 4, 15))
    # No escalation on the 14th: the final notice waits for its own date (due + 14 = 15 April).
    assert steps(customer)[2:] == [(date(2026, 4, 15), "final_notice")]
    assert "broken" not in Reminder.objects.get(customer=customer, step_code="final_notice").reason


def test_paying_less_than_promised_breaks_the_promise(org, customer, promised, pay, walk):
    pay(customer, "300.00", date(2026, 4, 13))
    assert promise_state(promised, date(2026, 4, 13)) == "running"
    assert promise_state(promised, date(2026, 4, 14)) == "broken"
    walk.days(date(2026, 4, 13), date(2026, 4, 14))
    assert steps(customer)[2:] == [(date(2026, 4, 14), "final_notice")]
    assert "promise to pay by 2026-04-13 broken" in Reminder.objects.get(step_code="final_notice").reason


def test_a_promise_is_dated_in_the_customers_local_day(org, customer, promised):
    from datetime import datetime, timezone

    # 23:30 UTC on 13 April is already 14 April in Paris: a promise "by 13 April" is in the past there.
    with pytest.raises(ValidationError):
        record_promise(org, customer, promised_date=date(2026, 4, 13), amount="10.00",
                       now=datetime(2026, 4, 13, 23, 30, tzinfo=timezone.utc))
    assert PromiseToPay.objects.count() == 1
