"""Dunning rules at the pure level: one snapshot, one policy, one instant, what Duly decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from duly.domain.dunning import (
    AccountSnapshot,
    Contact,
    CustomerProfile,
    FatigueLimits,
    InvoiceRecord,
    OpenItem,
    PastReminder,
    Policy,
    Promise,
    Step,
    StepConditions,
    ToneThresholds,
    choose_policy,
    evaluate,
    is_business_day,
    learn_best_hour,
    policy_from_dict,
    policy_to_dict,
    reminder_key,
    tone_for_history,
    worklist_entry,
)
from duly.domain.errors import InvalidDunningPolicy, UnknownHolidayCountry, ValidationError

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
BERLIN = ZoneInfo("Europe/Berlin")

POLICY = Policy(
    "neutral",
    "Standard",
    (
        Step("coming-due", 0, -3, tone="gentle"),
        Step("reminder-1", 1, 3),
        Step("reminder-2", 2, 10, tone="firm", actions=("assess_late_fee",)),
        Step("final-notice", 3, 20, channel="letter", tone="firm", actions=("final_notice",)),
        Step("phone-call", 4, 25, channel="phone_task", tone="firm"),
    ),
)

ANA = Contact(1, "Ana", "ana@client.example", "+33 1 00 00 00 01", "accounts_payable")
BOB = Contact(2, "Bob", "bob@client.example", "+33 1 00 00 00 02", "billing")
OWEN = Contact(3, "Owen", "owen@client.example", None, "owner")


def item(invoice_id=1, due="2026-03-02", *, amount="100.00", currency="EUR", status="issued", **extra) -> OpenItem:
    due_date = date.fromisoformat(due)
    fields = dict(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id}",
        currency=currency,
        issue_date=due_date - timedelta(days=30),
        due_date=due_date,
        total=Decimal(amount),
        open_amount=Decimal(amount) if status in ("issued", "partially_paid") else Decimal(0),
        status=status,
    )
    fields.update(extra)
    return OpenItem(**fields)


def snapshot(*items: OpenItem, **fields) -> AccountSnapshot:
    fields.setdefault("timezone", "Europe/Paris")
    fields.setdefault("country", "FR")
    fields.setdefault("contacts", (ANA, BOB))
    return AccountSnapshot(customer_id="C-1", open_items=items, **fields)


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


def kinds(actions) -> list[tuple[str, str, tuple]]:
    return [(a.kind, a.step_code, a.invoice_ids) for a in actions]


# --- which step, which invoices -----------------------------------------------------------------------


def test_nothing_before_the_first_step():
    assert evaluate(snapshot(item(due="2026-03-02")), POLICY, paris("2026-02-26 10:00")) == []


def test_two_overdue_invoices_give_one_message():
    actions = evaluate(snapshot(item(10, "2026-03-02"), item(2, "2026-03-03")), POLICY, paris("2026-03-06 10:00"))

    (message,) = actions
    assert (message.kind, message.step_code, message.invoice_ids) == ("send", "reminder-1", (2, 10))
    assert message.idempotency_key == "C-1:reminder-1:2,10"  # sorted numerically, stable
    assert "INV-2" in message.reason and "INV-10" in message.reason


def test_reminder_key_sorts_the_invoice_ids():
    assert reminder_key("C-1", "final", ["b", "a"]) == reminder_key("C-1", "final", ("a", "b")) == "C-1:final:a,b"
    assert reminder_key(7, "s", [10, 9]) == "7:s:9,10"


def test_a_missed_run_sends_only_the_next_step_never_a_jump_or_a_burst():
    # Nothing was sent; by the 24th the dates of every step up to the final notice have passed.
    # Escalation goes one step at a time: the first overdue reminder (the coming-due note is too late now).
    actions = evaluate(snapshot(item(due="2026-03-02")), POLICY, paris("2026-03-24 10:00"))
    assert kinds(actions) == [("send", "reminder-1", (1,))]
    assert actions[0].actions == () and actions[0].channel == "email"

    # Each later step waits its own time (the gap between the two steps' dates) after the one before
    # reached the customer: reminder-2 7 days after reminder-1, the final notice 10 days after that.
    first = PastReminder("reminder-1", paris("2026-03-24 10:00"), (1,))
    assert evaluate(snapshot(item(), reminders=(first,)), POLICY, paris("2026-03-30 10:00")) == []
    assert kinds(evaluate(snapshot(item(), reminders=(first,)), POLICY, paris("2026-03-31 10:00"))) == [
        ("send", "reminder-2", (1,))]
    second = PastReminder("reminder-2", paris("2026-03-31 10:00"), (1,))
    assert evaluate(snapshot(item(), reminders=(first, second)), POLICY, paris("2026-04-09 10:00")) == []
    final = evaluate(snapshot(item(), reminders=(first, second)), POLICY, paris("2026-04-10 10:00"))
    assert kinds(final) == [("send", "final-notice", (1,))] and final[0].channel == "letter"


def test_only_steps_after_the_last_one_sent():
    reminders = (PastReminder("reminder-2", paris("2026-03-12 10:00"), (1,)),)
    # reminder-1 was never sent, but it comes before the last step sent: it is not sent now.
    assert evaluate(snapshot(item(), reminders=reminders), POLICY, paris("2026-03-16 10:00")) == []


@pytest.mark.parametrize("status", ["paid", "void", "credited", "uncollectible"])
def test_closed_invoices_are_never_reminded(status):
    assert evaluate(snapshot(item(status=status)), POLICY, paris("2026-03-06 10:00")) == []


def test_an_invoice_with_nothing_left_open_is_not_reminded():
    settled = item(status="partially_paid", open_amount=Decimal("0.00"))
    assert evaluate(snapshot(settled), POLICY, paris("2026-03-06 10:00")) == []


def test_a_step_anchored_on_a_missing_date_does_not_apply():
    policy = Policy("p", "P", (Step("start", 0, 30, anchor="contract_start"),))
    assert evaluate(snapshot(item()), policy, paris("2026-06-01 10:00")) == []
    started = item(contract_start=date(2026, 4, 6))
    assert kinds(evaluate(snapshot(started), policy, paris("2026-05-06 10:00"))) == [("send", "start", (1,))]


# --- disputes, promises, payments received ------------------------------------------------------------


def test_a_disputed_invoice_is_skipped_and_the_others_still_go():
    actions = evaluate(snapshot(item(1), item(2), disputes={2}), POLICY, paris("2026-03-06 10:00"))

    assert kinds(actions) == [("send", "reminder-1", (1,)), ("skip", "reminder-1", (2,))]
    assert actions[1].reason.startswith("under dispute: INV-2")
    assert actions[1].scheduled_for is None and actions[1].actions == ()


def test_an_invoice_whose_automatic_payment_is_retried_waits_and_is_chased_after_the_last_failure():
    retrying = evaluate(snapshot(item(1), item(2), payment_retries={2}), POLICY, paris("2026-03-06 10:00"))
    assert kinds(retrying) == [("send", "reminder-1", (1,)), ("skip", "reminder-1", (2,))]
    assert retrying[1].reason.startswith("automatic payment under way")
    after = evaluate(snapshot(item(1), item(2)), POLICY, paris("2026-03-06 10:00"))  # the retry is over
    assert kinds(after) == [("send", "reminder-1", (1, 2))]


def test_a_promise_pauses_until_its_day_included():
    promise = Promise((1,), date(2026, 3, 9), Decimal("100.00"), paris("2026-03-04 15:00"))
    snap = snapshot(item(), promises=(promise,))

    for moment in ("2026-03-06 10:00", "2026-03-09 10:00"):
        (paused,) = evaluate(snap, POLICY, paris(moment))
        assert paused.kind == "skip" and paused.reason.startswith("promise to pay by 2026-03-09")


def test_a_broken_promise_brings_the_next_step_forward():
    reminders = (PastReminder("reminder-1", paris("2026-03-05 10:00"), (1,)),)
    promise = Promise((1,), date(2026, 3, 9), Decimal("100.00"), paris("2026-03-06 15:00"))
    snap = snapshot(item(), reminders=reminders, promises=(promise,))

    (action,) = evaluate(snap, POLICY, paris("2026-03-10 10:00"))  # reminder-2's own date is the 12th

    assert (action.kind, action.step_code) == ("send", "reminder-2")
    assert "promise to pay by 2026-03-09 broken" in action.reason
    # Once a reminder followed the broken promise, the usual calendar applies again.
    later = replace(snap, reminders=reminders + (PastReminder("reminder-2", paris("2026-03-10 10:00"), (1,)),))
    assert evaluate(later, POLICY, paris("2026-03-13 10:00")) == []


def test_the_latest_promise_counts():
    old = Promise((1,), date(2026, 3, 5), Decimal("100.00"), paris("2026-03-01 09:00"))
    new = Promise((1,), date(2026, 3, 20), Decimal("100.00"), paris("2026-03-06 09:00"))
    (action,) = evaluate(snapshot(item(), promises=(new, old)), POLICY, paris("2026-03-12 10:00"))
    assert action.kind == "skip" and "2026-03-20" in action.reason


def test_unreconciled_credits_covering_the_overdue_amount_stop_the_chase():
    snap = snapshot(item(1, amount="60.00"), item(2, amount="40.00"), unreconciled_credits={"EUR": Decimal("100.00")})

    (action,) = evaluate(snap, POLICY, paris("2026-03-06 10:00"))

    assert (action.kind, action.invoice_ids) == ("skip", (1, 2))
    assert action.reason.startswith("payment received, awaiting reconciliation")


def test_credits_that_do_not_cover_the_overdue_amount_do_not_stop_the_chase():
    snap = snapshot(item(1, amount="60.00"), item(2, amount="40.00"), unreconciled_credits={"EUR": Decimal("99.99")})
    assert kinds(evaluate(snap, POLICY, paris("2026-03-06 10:00"))) == [("send", "reminder-1", (1, 2))]


def test_credits_count_only_in_their_currency():
    snap = snapshot(item(1, currency="USD"), unreconciled_credits={"EUR": Decimal("1000")})
    assert kinds(evaluate(snap, POLICY, paris("2026-03-06 10:00"))) == [("send", "reminder-1", (1,))]


def test_credits_cover_an_invoice_coming_due_only_after_the_overdue_ones():
    overdue, coming = item(1, "2026-02-20", amount="50.00"), item(2, "2026-03-09", amount="50.00")
    reminders = (PastReminder("reminder-1", paris("2026-02-23 10:00"), (1,)),)
    at = paris("2026-03-06 10:00")  # INV-1 waits for reminder-2, INV-2 reaches coming-due

    only_overdue = snapshot(overdue, coming, reminders=reminders, unreconciled_credits={"EUR": Decimal("50.00")})
    assert kinds(evaluate(only_overdue, POLICY, at)) == [("send", "coming-due", (2,)), ("skip", "reminder-2", (1,))]
    both = replace(only_overdue, unreconciled_credits={"EUR": Decimal("100.00")})
    assert kinds(evaluate(both, POLICY, at)) == [("skip", "coming-due", (2,)), ("skip", "reminder-2", (1,))]


# --- step conditions ---------------------------------------------------------------------------------


def conditional(**conditions) -> Policy:
    special = Step("special", 1, 5, conditions=StepConditions(**conditions))
    return Policy("c", "Conditional", (Step("plain", 0, 3), special))


def after_plain(*items: OpenItem, **fields) -> AccountSnapshot:
    """The items, each sent the ``plain`` step of :func:`conditional` on its date (due + 3, 5 March)."""
    sent = (PastReminder("plain", paris("2026-03-05 10:00"), tuple(i.invoice_id for i in items)),)
    return snapshot(*items, reminders=sent, **fields)


def test_customer_conditions_filter_steps():
    at = paris("2026-03-09 10:00")
    policy = conditional(segments=("enterprise",), risk_levels=("high",), payment_methods=("bank_transfer",))
    matching = after_plain(item(), segment="enterprise", risk_level="high", payment_method="bank_transfer")
    assert kinds(evaluate(matching, policy, at)) == [("send", "special", (1,))]
    for other in ({"segment": "smb"}, {"risk_level": "low"}, {"payment_method": "direct_debit"}):
        assert evaluate(replace(matching, **other), policy, at) == []
    # Nothing sent yet: the plain step comes first, for every customer.
    assert evaluate(replace(matching, reminders=()), policy, at)[0].step_code == "plain"


def test_min_balance_per_currency():
    policy = conditional(min_balance={"EUR": "150", "USD": Decimal("500")})
    at = paris("2026-03-09 10:00")

    assert evaluate(after_plain(item(1, amount="100")), policy, at) == []
    # Two invoices reaching the step together pass the threshold.
    both = evaluate(after_plain(item(1, amount="100"), item(2, amount="50")), policy, at)
    assert kinds(both) == [("send", "special", (1, 2))]
    # 200 USD is under the USD threshold; a currency the mapping does not list never reaches the step.
    assert evaluate(after_plain(item(1, amount="200", currency="USD")), policy, at) == []
    assert evaluate(after_plain(item(1, amount="9999", currency="GBP")), policy, at) == []


def test_min_balance_as_one_amount_applies_to_each_currency_alone():
    policy = conditional(min_balance=Decimal("150"))
    snap = snapshot(item(1, amount="100", currency="EUR"), item(2, amount="100", currency="USD"))
    (plain,) = evaluate(snap, policy, paris("2026-03-09 10:00"))  # 100 + 100 in two currencies: not 200
    assert (plain.step_code, plain.invoice_ids) == ("plain", (1, 2))


def test_a_late_fee_already_assessed_is_not_asked_for_again():
    at = paris("2026-03-12 10:00")
    sent = (PastReminder("reminder-1", paris("2026-03-05 10:00"), (1,)),)
    (fresh,) = evaluate(snapshot(item(), reminders=sent), POLICY, at)
    assert fresh.actions == ("assess_late_fee",)
    (again,) = evaluate(snapshot(item(), reminders=sent, fee_levels_assessed={(1, "reminder-2")}), POLICY, at)
    assert again.actions == () and "late fee already assessed" in again.reason


# --- business days, sending window, time zones --------------------------------------------------------


def test_no_message_on_a_weekend():
    (action,) = evaluate(snapshot(item()), POLICY, paris("2026-03-07 10:00"))  # Saturday
    assert action.kind == "defer"
    assert action.scheduled_for == paris("2026-03-09 09:00")
    assert "Saturday 2026-03-07 is a weekend day" in action.reason


@pytest.mark.parametrize(
    ("country", "zone", "holiday", "next_slot"),
    [
        ("FR", "Europe/Paris", "2026-07-14 10:00", datetime(2026, 7, 15, 7, 0, tzinfo=UTC)),  # Fête nationale
        # Tag der Deutschen Einheit, a Friday in 2025
        ("DE", "Europe/Berlin", "2025-10-03 10:00", datetime(2025, 10, 6, 7, 0, tzinfo=UTC)),
    ],
)
def test_no_message_on_a_public_holiday(country, zone, holiday, next_slot):
    moment = datetime.fromisoformat(holiday).replace(tzinfo=ZoneInfo(zone))
    due = (moment.date() - timedelta(days=3)).isoformat()
    (action,) = evaluate(snapshot(item(due=due), country=country, timezone=zone), POLICY, moment)
    assert action.kind == "defer" and action.scheduled_for == next_slot
    assert f"is a public holiday in {country}" in action.reason


def test_a_friday_saturday_weekend_defers_to_sunday_in_riyadh():
    riyadh = ZoneInfo("Asia/Riyadh")
    account = snapshot(item(due="2026-03-01"), country="SA", timezone="Asia/Riyadh")
    (friday,) = evaluate(account, POLICY, datetime(2026, 3, 6, 10, 0, tzinfo=riyadh))
    assert friday.kind == "defer" and "Friday 2026-03-06 is a weekend day" in friday.reason
    assert friday.scheduled_for == datetime(2026, 3, 8, 9, 0, tzinfo=riyadh)  # Sunday: a working day
    (sunday,) = evaluate(account, POLICY, datetime(2026, 3, 8, 10, 0, tzinfo=riyadh))
    assert sunday.kind == "send"


def test_a_regional_holiday_defers_in_that_region_only():
    # 6 January (Epiphany) is a public holiday in Bavaria, not in Berlin.
    moment = datetime(2026, 1, 6, 10, 0, tzinfo=BERLIN)
    (bavaria,) = evaluate(snapshot(item(due="2026-01-02"), country="DE-BY", timezone="Europe/Berlin"), POLICY, moment)
    assert bavaria.kind == "defer" and "is a public holiday in DE-BY" in bavaria.reason
    (berlin,) = evaluate(snapshot(item(due="2026-01-02"), country="DE-BE", timezone="Europe/Berlin"), POLICY, moment)
    assert berlin.kind == "send"


def test_the_same_day_is_a_business_day_elsewhere():
    moment = datetime(2026, 7, 14, 10, 0, tzinfo=BERLIN)
    (action,) = evaluate(snapshot(item(due="2026-07-11"), country="DE", timezone="Europe/Berlin"), POLICY, moment)
    assert action.kind == "send"


def test_an_injected_holiday_check_replaces_the_country_calendar():
    closed = {date(2026, 3, 6)}
    (action,) = evaluate(snapshot(item()), POLICY, paris("2026-03-06 10:00"), is_holiday=closed.__contains__)
    assert action.kind == "defer" and action.scheduled_for == paris("2026-03-09 09:00")
    assert is_business_day(date(2026, 7, 14), "FR", is_holiday=lambda day: False)
    assert not is_business_day(date(2026, 7, 14), "FR")
    assert is_business_day(date(2026, 7, 14), None)


def test_before_the_window_defers_to_nine_today():
    (action,) = evaluate(snapshot(item()), POLICY, paris("2026-03-06 07:15"))
    assert action.kind == "defer" and action.scheduled_for == paris("2026-03-06 09:00")
    assert "outside the sending window 09:00-17:00 Europe/Paris" in action.reason


def test_after_the_window_defers_to_the_next_business_morning_across_a_dst_change():
    # Friday evening; the clocks go forward on Sunday 29 March: Monday 09:00 is 07:00 UTC.
    (action,) = evaluate(snapshot(item(due="2026-03-24")), POLICY, paris("2026-03-27 18:00"))
    assert action.kind == "defer"
    assert action.scheduled_for == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert action.reason.endswith("to Mon 2026-03-30 09:00 Europe/Paris")


def test_the_window_is_in_the_customers_time_zone():
    tokyo = snapshot(item(), timezone="Asia/Tokyo", country="JP")
    # 10:00 in Paris is 18:00 in Tokyo: too late there, next morning 09:00 JST.
    (action,) = evaluate(tokyo, POLICY, paris("2026-03-06 10:00"))
    assert action.kind == "defer" and action.scheduled_for == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert evaluate(tokyo, POLICY, datetime(2026, 3, 9, 0, 0, tzinfo=UTC))[0].kind == "send"


def test_a_custom_sending_window():
    snap = snapshot(item(), send_window=(time(8, 30), time(12)))
    assert evaluate(snap, POLICY, paris("2026-03-06 08:45"))[0].kind == "send"
    assert evaluate(snap, POLICY, paris("2026-03-06 12:00"))[0].scheduled_for == paris("2026-03-09 08:30")


# --- best hour ---------------------------------------------------------------------------------------


def test_best_hour_later_today():
    (action,) = evaluate(snapshot(item(), best_hour=14), POLICY, paris("2026-03-06 10:00"))
    assert action.kind == "defer" and action.scheduled_for == paris("2026-03-06 14:00")
    assert "waiting for the learned best hour 14:00" in action.reason


def test_best_hour_reached_sends_at_once():
    (action,) = evaluate(snapshot(item(), best_hour=14), POLICY, paris("2026-03-06 14:00"))
    assert action.kind == "send" and action.scheduled_for == paris("2026-03-06 14:00")
    (late,) = evaluate(snapshot(item(), best_hour=14), POLICY, paris("2026-03-06 15:20"))
    assert late.kind == "send"  # the slot passed but today's window is still open


def test_best_hour_after_the_window_closed_is_tomorrows_slot():
    (action,) = evaluate(snapshot(item(), best_hour=14), POLICY, paris("2026-03-05 17:30"))
    assert action.kind == "defer" and action.scheduled_for == paris("2026-03-06 14:00")


def test_segment_default_hour_when_nothing_was_learned():
    snap = snapshot(item(), segment_default_hour=11)
    assert evaluate(snap, POLICY, paris("2026-03-06 10:00"))[0].scheduled_for == paris("2026-03-06 11:00")
    learned = replace(snap, best_hour=15)
    assert evaluate(learned, POLICY, paris("2026-03-06 10:00"))[0].scheduled_for == paris("2026-03-06 15:00")


@pytest.mark.parametrize(("hour", "slot"), [(6, "09:00"), (20, "16:00"), (16, "16:00"), (9, "09:00")])
def test_an_hour_outside_the_window_is_clamped_into_it(hour, slot):
    (action,) = evaluate(snapshot(item(), best_hour=hour), POLICY, paris("2026-03-06 06:00"))
    assert action.scheduled_for == paris(f"2026-03-06 {slot}")


def test_learn_best_hour():
    def at(*hours):
        return [datetime(2026, 3, n + 1, h, 5, tzinfo=PARIS) for n, h in enumerate(hours)]

    assert learn_best_hour(at(10, 14), "Europe/Paris") is None
    assert learn_best_hour(at(10, 14, 14), "Europe/Paris") == 14
    assert learn_best_hour(at(15, 10, 15, 10), "Europe/Paris") == 10  # tie: the earliest hour
    utc_events = [datetime(2026, 3, 2, 13, tzinfo=UTC)] * 3  # 14:00 in Paris in winter, 08:00 in New York
    assert learn_best_hour(utc_events, "Europe/Paris") == 14
    assert learn_best_hour(utc_events, "America/New_York") == 8
    with pytest.raises(ValidationError):
        learn_best_hour([datetime(2026, 3, 2, 13)] * 3, "Europe/Paris")


# --- contact fatigue ---------------------------------------------------------------------------------


def test_a_third_reminder_in_seven_days_is_deferred_to_the_earliest_allowed_time():
    reminders = (
        PastReminder("reminder-1", paris("2026-03-02 11:00"), (9,)),
        PastReminder("reminder-1", paris("2026-03-04 11:00"), (8,)),
    )
    (action,) = evaluate(snapshot(item(), reminders=reminders), POLICY, paris("2026-03-06 11:00"))
    assert action.kind == "defer"
    assert action.scheduled_for == paris("2026-03-09 11:00")  # 7 days after the 2nd
    assert "contact fatigue: at most 2 reminders in any 7 days" in action.reason


def test_the_minimum_gap_between_two_reminders():
    reminders = (PastReminder("reminder-1", paris("2026-03-05 15:30"), (9,)),)
    (action,) = evaluate(snapshot(item(), reminders=reminders), POLICY, paris("2026-03-06 10:00"))
    assert action.kind == "defer" and action.scheduled_for == paris("2026-03-09 09:00")  # Sat 15:30 is a weekend
    relaxed = replace(POLICY, fatigue=FatigueLimits(min_gap_hours=12))
    assert evaluate(snapshot(item(), reminders=reminders), relaxed, paris("2026-03-06 10:00"))[0].kind == "send"


def test_no_fatigue_limits():
    unlimited = replace(POLICY, fatigue=FatigueLimits(max_per_window=None, min_gap_hours=None))
    reminders = tuple(PastReminder("reminder-1", paris(f"2026-03-0{n} 11:00"), (9,)) for n in range(2, 6))
    assert evaluate(snapshot(item(), reminders=reminders), unlimited, paris("2026-03-06 10:00"))[0].kind == "send"


def test_two_steps_due_at_once_are_spaced_out():
    first = PastReminder("reminder-1", paris("2026-02-23 10:00"), (1,))
    snap = snapshot(item(1, "2026-02-20"), item(2, "2026-03-02"), reminders=(first,))
    actions = evaluate(snap, POLICY, paris("2026-03-06 10:00"))

    assert kinds(actions) == [("send", "reminder-2", (1,)), ("defer", "reminder-1", (2,))]
    assert actions[1].scheduled_for == paris("2026-03-09 09:00")  # 48 h later is Sunday: Monday morning


# --- contacts ----------------------------------------------------------------------------------------


def test_contact_preference_by_role():
    (action,) = evaluate(snapshot(item(), contacts=(OWEN, BOB, ANA)), POLICY, paris("2026-03-06 10:00"))
    assert action.contact_id == ANA.id and action.fallback_reason is None and action.channel == "email"


def test_contact_without_email_falls_back_to_the_next():
    ana = replace(ANA, email=None)
    (action,) = evaluate(snapshot(item(), contacts=(ana, BOB)), POLICY, paris("2026-03-06 10:00"))
    assert action.contact_id == BOB.id and action.fallback_reason == "contact Ana has no email; sent to Bob"


def test_an_opted_out_contact_is_never_written_to():
    ana = replace(ANA, opted_out=True)
    (action,) = evaluate(snapshot(item(), contacts=(ana, OWEN)), POLICY, paris("2026-03-06 10:00"))
    assert action.contact_id == OWEN.id and action.fallback_reason == "contact Ana opted out; sent to Owen"


def test_any_other_contact_with_an_email():
    clerk = Contact(4, "Chloé", "chloe@client.example", None, "clerk")
    contacts = (replace(ANA, email=None), clerk)
    (action,) = evaluate(snapshot(item(), contacts=contacts), POLICY, paris("2026-03-06 10:00"))
    assert action.contact_id == clerk.id and action.channel == "email"


def test_no_email_at_all_becomes_a_phone_task():
    contacts = (replace(ANA, email=None), replace(BOB, email=None))
    (action,) = evaluate(snapshot(item(), contacts=contacts), POLICY, paris("2026-03-06 10:00"))
    assert action.channel == "phone_task" and action.contact_id == ANA.id
    assert action.fallback_reason == "no contact with email: phone task"
    (nobody,) = evaluate(snapshot(item(), contacts=()), POLICY, paris("2026-03-06 10:00"))
    assert nobody.channel == "phone_task" and nobody.contact_id is None


def test_letters_need_no_email():
    contacts = (replace(ANA, email=None), BOB)
    sent = (PastReminder("reminder-1", paris("2026-03-05 10:00"), (1,)),
            PastReminder("reminder-2", paris("2026-03-12 10:00"), (1,)))
    (letter,) = evaluate(snapshot(item(), contacts=contacts, reminders=sent), POLICY, paris("2026-03-23 10:00"))
    assert (letter.step_code, letter.channel, letter.contact_id, letter.fallback_reason) == (
        "final-notice",
        "letter",
        ANA.id,
        None,
    )


def test_a_phone_step_goes_to_a_contact_with_a_phone():
    contacts = (replace(ANA, phone=None), BOB)
    reminders = (PastReminder("final-notice", paris("2026-03-23 10:00"), (1,)),)
    # Five days after the final notice (Saturday 28th): Monday.
    (call,) = evaluate(snapshot(item(), contacts=contacts, reminders=reminders), POLICY, paris("2026-03-30 10:00"))
    assert (call.step_code, call.channel, call.contact_id) == ("phone-call", "phone_task", BOB.id)


# --- policies as data --------------------------------------------------------------------------------


RICH = Policy(
    "rich",
    "Everything set",
    (
        Step(
            "hotel",
            0,
            -7,
            anchor="service_date",
            channel="email",
            template="hotel/before",
            tone="gentle",
            conditions=StepConditions(segments=("hotel",)),
        ),
        Step(
            "handover",
            5,
            60,
            channel="letter",
            tone="firm",
            actions=("final_notice", "handover"),
            conditions=StepConditions(
                min_balance={"EUR": Decimal("50.00"), "JPY": Decimal("8000")},
                risk_levels=("high", "medium"),
                payment_methods=("bank_transfer",),
            ),
        ),
        Step("flat", 3, 30, conditions=StepConditions(min_balance=Decimal("25.50"))),
    ),
    FatigueLimits(max_per_window=3, window_days=10, min_gap_hours=24),
)


def test_policy_dict_round_trip():
    data = policy_to_dict(RICH)
    assert data["steps"][2]["conditions"]["min_balance"] == {"EUR": "50.00", "JPY": "8000"}
    assert data["steps"][1]["conditions"]["min_balance"] == "25.50"
    assert [s["code"] for s in data["steps"]] == ["hotel", "flat", "handover"]  # sorted by order
    assert policy_from_dict(data) == RICH


def test_policy_yaml_round_trip():
    text = yaml.safe_dump(policy_to_dict(RICH), sort_keys=False)
    assert policy_from_dict(yaml.safe_load(text)) == RICH


def test_policy_from_hand_written_yaml_uses_defaults():
    policy = policy_from_dict(
        yaml.safe_load(
            """
            code: basic
            name: Basic
            steps:
              - {code: first, order: 1, offset_days: 3}
              - code: last
                order: 2
                offset_days: 14
                tone: firm
                actions: [assess_late_fee]
                conditions: {min_balance: "10"}
            """
        )
    )
    first = policy.step("first")
    assert (first.anchor, first.channel, first.template, first.tone) == ("due_date", "email", "first", "neutral")
    assert first.actions == ()
    assert policy.fatigue == FatigueLimits()
    assert policy.step("last").conditions.min_balance == Decimal("10")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"channel": "sms"}, "unknown channel 'sms'; expected one of email, letter, phone_task"),
        ({"actions": ["assess_late_fee", "shout"]}, "unknown action 'shout'"),
        ({"tone": "angry"}, "unknown tone 'angry'"),
        ({"anchor": "delivery_date"}, "unknown anchor 'delivery_date'"),
        ({"offset_days": "3"}, "offset_days must be an integer"),
        ({"order": 1.5}, "order must be an integer"),
        ({"colour": "red"}, "unknown field(s) colour"),
        ({"conditions": {"min_balance": 1.5}}, "never floats"),
        ({"conditions": {"min_balance": {"EUR": "-1"}}}, "negative"),
        ({"conditions": {"min_balance": {"EURO": "1"}}}, "Unknown currency 'EURO'"),
        ({"conditions": {"segments": "smb"}}, "segments must be a list of strings"),
        ({"conditions": {"segments": []}}, "segments is empty"),
        ({"conditions": {"minimum": 1}}, "unknown field(s) minimum"),
        ({"actions": "suspend"}, "actions must be a list"),
        ({"code": "a:b"}, "without ':' or ','"),
    ],
)
def test_bad_step_data_is_refused_with_a_clear_message(patch, message):
    data = policy_to_dict(POLICY)
    data["steps"][1].update(patch)
    with pytest.raises(InvalidDunningPolicy) as err:
        policy_from_dict(data)
    assert message in err.value.message
    assert err.value.code == "invalid_dunning_policy"


def test_duplicate_step_codes_and_orders_are_refused():
    data = policy_to_dict(POLICY)
    data["steps"][1]["code"] = "coming-due"
    with pytest.raises(InvalidDunningPolicy, match="duplicate step code 'coming-due'"):
        policy_from_dict(data)
    data = policy_to_dict(POLICY)
    data["steps"][1]["order"] = 0
    with pytest.raises(InvalidDunningPolicy, match="same order 0"):
        policy_from_dict(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"code": "x", "name": "X"}, "missing field(s) steps"),
        ({"code": "x", "name": "X", "steps": "first"}, "steps must be a list"),
        ({"code": "x", "name": "X", "steps": [{"code": "a", "order": 1}]}, "missing field(s) offset_days"),
        (
            {"code": "x", "name": "X", "steps": [], "fatigue": {"max_per_window": 0}},
            "max_per_window must be an integer of at least 1",
        ),
        ({"code": "x", "name": "X", "steps": [], "fatigue": {"per_day": 1}}, "unknown field(s) per_day"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_policy_data_is_refused(data, message):
    with pytest.raises(InvalidDunningPolicy) as err:
        policy_from_dict(data)
    assert message in err.value.message


def test_steps_built_in_code_are_validated_too():
    with pytest.raises(InvalidDunningPolicy, match="unknown channel 'fax'"):
        Step("s", 1, 3, channel="fax")
    with pytest.raises(InvalidDunningPolicy, match="listed twice"):
        Step("s", 1, 3, actions=("suspend", "suspend"))
    with pytest.raises(InvalidDunningPolicy, match="no step 'nope'"):
        POLICY.step("nope")


def test_a_policy_with_no_steps_never_chases():
    assert evaluate(snapshot(item()), Policy("none", "Never", ()), paris("2026-06-01 10:00")) == []


# --- tone rule and policy choice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late", "total", "tone"),
    [
        (0, 10, "gentle"),
        (2, 10, "gentle"),
        (24, 100, "gentle"),
        (1, 4, "neutral"),  # exactly 25 %
        (5, 10, "neutral"),  # exactly 50 %
        (51, 100, "firm"),
        (10, 10, "firm"),
        (0, 0, "neutral"),  # no history: neither reliable nor late yet
    ],
)
def test_tone_rule_boundaries(late, total, tone):
    assert tone_for_history(late, total) == tone


def test_tone_rule_custom_thresholds():
    strict = ToneThresholds(gentle_below=10, firm_above=30)
    assert tone_for_history(1, 10, strict) == "neutral"
    assert tone_for_history(4, 10, strict) == "firm"
    assert tone_for_history(0, 10, strict) == "gentle"
    assert tone_for_history(1, 3, ToneThresholds(gentle_below=Decimal("33.4"), firm_above=50)) == "gentle"


def test_bad_tone_inputs():
    with pytest.raises(ValidationError):
        ToneThresholds(gentle_below=60, firm_above=50)
    with pytest.raises(ValidationError):
        tone_for_history(3, 2)
    with pytest.raises(ValidationError):
        tone_for_history(-1, 2)


GENTLE = Policy("gentle", "Gentle", (Step("nudge", 0, 3, tone="gentle"),))
NEUTRAL = Policy("neutral", "Neutral", (Step("reminder", 0, 3),))
FIRM = Policy("firm", "Firm", (Step("demand", 0, 1, tone="firm"),))
VIP = Policy("vip", "Key accounts", (Step("call", 0, 5, channel="phone_task"),))
ALL = [GENTLE, NEUTRAL, FIRM, VIP]


def history(late: int, on_time: int, start: date = date(2025, 6, 1)) -> list[InvoiceRecord]:
    records = []
    for n in range(late + on_time):
        issued = start + timedelta(days=20 * n)
        due = issued + timedelta(days=30)
        paid = due + timedelta(days=9) if n < late else due - timedelta(days=2)
        records.append(InvoiceRecord(n, issued, due, paid))
    return records


def test_explicit_policy_wins():
    choice = choose_policy(
        CustomerProfile("C-1", segment="enterprise", policy_code="vip"), ALL, history(9, 1), date(2026, 3, 1),
        segment_policies={"enterprise": "gentle"},
    )
    assert choice.policy is VIP and choice.reason == "policy 'vip' set on the customer" and choice.tone is None


def test_segment_mapping_comes_next():
    choice = choose_policy(
        CustomerProfile("C-1", segment="enterprise"), ALL, history(9, 1), date(2026, 3, 1),
        segment_policies={"enterprise": "gentle"},
    )
    assert choice.policy is GENTLE and "segment 'enterprise'" in choice.reason


@pytest.mark.parametrize(("late", "on_time", "expected"), [(1, 9, GENTLE), (3, 7, NEUTRAL), (6, 4, FIRM)])
def test_tone_rule_over_the_last_twelve_months(late, on_time, expected):
    choice = choose_policy(CustomerProfile("C-1", segment="smb"), ALL, history(late, on_time), date(2026, 5, 1))
    assert choice.policy is expected and choice.tone == expected.code
    assert f"{late} of {late + on_time} invoices" in choice.reason


def test_tone_rule_ignores_old_invoices_and_counts_unpaid_overdue_as_late():
    old_late = history(5, 0, start=date(2024, 1, 1))
    recent = [
        InvoiceRecord("a", date(2026, 1, 5), date(2026, 2, 4), date(2026, 2, 1)),
        InvoiceRecord("b", date(2026, 2, 5), date(2026, 3, 7), None),  # unpaid, overdue on 1 April: late
        InvoiceRecord("c", date(2026, 3, 20), date(2026, 4, 19), None),  # not due yet: not judged
    ]
    choice = choose_policy(CustomerProfile("C-1"), ALL, old_late + recent, date(2026, 4, 1))
    assert choice.tone == "neutral" and "1 of 2 invoices" in choice.reason


def test_thresholds_and_tone_policies_are_configurable():
    choice = choose_policy(
        CustomerProfile("C-1"), {p.code: p for p in ALL}, history(3, 7), date(2026, 5, 1),
        ToneThresholds(gentle_below=10, firm_above=20),
        tone_policies={"gentle": "gentle", "neutral": "neutral", "firm": "vip"},
    )
    assert choice.policy is VIP and choice.tone == "firm"


def test_a_reference_to_an_unknown_policy_is_an_error():
    with pytest.raises(InvalidDunningPolicy, match="unknown dunning policy 'platinum'"):
        choose_policy(CustomerProfile("C-1", policy_code="platinum"), ALL, [], date(2026, 3, 1))
    with pytest.raises(InvalidDunningPolicy, match="unknown dunning policy 'smb-policy'"):
        choose_policy(
            CustomerProfile("C-1", segment="smb"), ALL, [], date(2026, 3, 1), segment_policies={"smb": "smb-policy"}
        )


# --- worklist ----------------------------------------------------------------------------------------


def test_worklist_entry_summarises_the_customer():
    promise = Promise((3,), date(2026, 3, 20), Decimal("70.00"), paris("2026-03-10 09:00"))
    snap = snapshot(
        item(1, "2026-02-10", amount="100.00"),
        item(2, "2026-03-01", amount="30.00", currency="USD"),
        item(3, "2026-02-25", amount="70.00"),
        item(4, "2026-04-01", amount="500.00"),
        item(5, "2026-01-01", status="paid"),
        reminders=(
            PastReminder("final-notice", paris("2026-03-02 10:00"), (1,)),
            PastReminder("reminder-2", paris("2026-03-11 10:00"), (2,)),
        ),
        disputes={2, 99},
        promises=(promise,),
    )

    entry = worklist_entry(snap, POLICY, paris("2026-03-12 10:00"))

    assert dict(entry.overdue) == {"EUR": Decimal("170.00"), "USD": Decimal("30.00")}
    assert entry.oldest_days_overdue == 30
    assert entry.last_contact == paris("2026-03-11 10:00")
    assert entry.open_disputes == (2,)
    assert entry.promises == (promise,)
    # INV-1 reached the phone step on 7 March; the 48 h gap after the 11th holds it until Friday 13th, 10:00.
    assert (entry.next_step, entry.next_step_at) == ("phone-call", paris("2026-03-13 10:00"))


def test_worklist_projects_the_next_future_step():
    snap = snapshot(item(1, "2026-03-31"))
    entry = worklist_entry(snap, POLICY, paris("2026-03-12 10:00"))
    # coming-due on Saturday 28 March: first slot Monday 30th, 09:00.
    assert (entry.next_step, entry.next_step_at) == ("coming-due", paris("2026-03-30 09:00"))
    assert entry.oldest_days_overdue is None and dict(entry.overdue) == {}
    assert worklist_entry(snapshot(), POLICY, paris("2026-03-12 10:00")).next_step is None


# --- input validation --------------------------------------------------------------------------------


def test_as_of_must_be_aware():
    with pytest.raises(ValidationError, match="timezone-aware"):
        evaluate(snapshot(item()), POLICY, datetime(2026, 3, 6, 10))


def test_reminder_times_must_be_aware():
    with pytest.raises(ValidationError, match="timezone-aware"):
        PastReminder("reminder-1", datetime(2026, 3, 6, 10), (1,))


def test_unknown_time_zone_and_country():
    with pytest.raises(ValidationError, match="Unknown time zone 'Mars/Olympus'"):
        evaluate(snapshot(item(), timezone="Mars/Olympus"), POLICY, paris("2026-03-06 10:00"))
    with pytest.raises(UnknownHolidayCountry):
        evaluate(snapshot(item(), country="XX"), POLICY, paris("2026-03-06 10:00"))


def test_bad_snapshot_values():
    with pytest.raises(ValidationError, match="sending window"):
        snapshot(send_window=(time(17), time(9)))
    with pytest.raises(ValidationError, match="best_hour must be an hour 0-23"):
        snapshot(best_hour=24)
    with pytest.raises(ValidationError, match="unknown status"):
        item(status="draft")
    with pytest.raises(ValidationError, match="never floats"):
        item(total=1.5)


def test_the_rules_do_not_depend_on_the_offset_of_as_of():
    snap = snapshot(item(1), item(2, "2026-02-20"))
    at = paris("2026-03-06 10:00")
    assert evaluate(snap, POLICY, at) == evaluate(snap, POLICY, at.astimezone(ZoneInfo("America/Los_Angeles")))
