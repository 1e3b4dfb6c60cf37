"""Retries as data: classification, schedules, the decision, and its properties."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duly.domain.calendar import HolidayCalendar
from duly.domain.errors import ValidationError
from duly.domain.retries import (
    CARD_DECLINES,
    CARD_SCHEDULE,
    SEPA_REASONS,
    SEPA_SCHEDULE,
    Action,
    Attempt,
    Category,
    Fault,
    Rail,
    RetrySchedule,
    SendWindow,
    classify,
    decide,
)

PARIS = ZoneInfo("Europe/Paris")
FR = HolidayCalendar("FR")
WINDOW = SendWindow("Europe/Paris", time(9), time(17))


def at(y, m, d, h=10, mi=0, tz=PARIS):
    return datetime(y, m, d, h, mi, tzinfo=tz)


# --- classification ---------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["stolen_card", "lost_card", "pickup_card", "expired_card", "fraudulent",
                                  "do_not_try_again", "incorrect_number", "revocation_of_authorization"])
def test_card_hard_declines(code):
    decline = classify("card", code)
    assert decline.category is Category.HARD and decline.fault is Fault.CUSTOMER and decline.code == code


@pytest.mark.parametrize("code", ["insufficient_funds", "do_not_honor", "processing_error", "generic_decline",
                                  "try_again_later", "issuer_not_available", "approve_with_id"])
def test_card_soft_declines(code):
    assert classify(Rail.CARD, code).category is Category.SOFT


def test_unknown_card_code_is_soft_and_unknown_sepa_code_is_left_to_staff():
    assert classify("card", "something_new").category is Category.SOFT
    assert classify("card", None).code == "generic_decline"
    unknown = classify("sepa", "zz99")
    assert unknown.code == "ZZ99" and unknown.hard and unknown.fault is Fault.CREDITOR


@pytest.mark.parametrize("code,category,fault", [
    ("AM04", Category.SOFT, Fault.NONE), ("ms03", Category.SOFT, Fault.NONE),
    ("MD01", Category.HARD, Fault.CUSTOMER), ("AC04", Category.HARD, Fault.CUSTOMER),
    ("AC06", Category.HARD, Fault.CUSTOMER), ("MD06", Category.HARD, Fault.CUSTOMER),
    ("MS02", Category.HARD, Fault.CUSTOMER), ("AC01", Category.HARD, Fault.CUSTOMER),
    ("SL01", Category.HARD, Fault.CUSTOMER), ("AM05", Category.HARD, Fault.CREDITOR),
    ("FF01", Category.HARD, Fault.CREDITOR),
])
def test_sepa_reason_codes(code, category, fault):
    decline = classify("sepa", code)
    assert (decline.code, decline.category, decline.fault) == (code.upper(), category, fault)


def test_sepa_return_needs_a_reason_code():
    with pytest.raises(ValidationError):
        classify("sepa", " ")


def test_only_am04_and_ms03_are_soft_sepa_codes():
    assert {c for c, (cat, _, _) in SEPA_REASONS.items() if cat is Category.SOFT} == {"AM04", "MS03"}
    assert all(code == code.lower() for code in CARD_DECLINES)


# --- schedules --------------------------------------------------------------------------------

def test_default_schedules():
    assert CARD_SCHEDULE.max_attempts == 4 and CARD_SCHEDULE.within == timedelta(days=14)
    assert SEPA_SCHEDULE.max_attempts == 3 and SEPA_SCHEDULE.retry_codes == {"AM04", "MS03"}


@pytest.mark.parametrize("kwargs", [
    dict(max_attempts=0, retry_days=()),
    dict(max_attempts=3, retry_days=(3,)),
    dict(max_attempts=3, retry_days=(5, 5)),
    dict(max_attempts=3, retry_days=(0, 5)),
    dict(max_attempts=3, retry_days=(3, 20), within=timedelta(days=14)),
])
def test_schedule_refuses_nonsense(kwargs):
    with pytest.raises(ValidationError):
        RetrySchedule(Rail.CARD, **kwargs)


def test_window_refuses_bad_zone_and_inverted_hours():
    with pytest.raises(ValidationError):
        SendWindow("Mars/Olympus")
    with pytest.raises(ValidationError):
        SendWindow("UTC", time(17), time(9))


# --- the decision, as a diary -----------------------------------------------------------------

def test_card_diary_insufficient_funds_three_retries_then_give_up():
    # Thursday 2 July 2026, 10:00 in Paris: the autopay charge fails for insufficient funds.
    attempts = [Attempt(at(2026, 7, 2), "failed", "insufficient_funds")]
    first = decide(attempts, schedule=CARD_SCHEDULE, as_of=at(2026, 7, 2, 10, 1), calendar=FR, window=WINDOW)
    assert first.action is Action.RETRY and first.pause_chasing
    # day +3 is Sunday 5 July: moved to Monday 6 July at the start of the window
    assert first.retry_at == at(2026, 7, 6, 9) and first.attempt_number == 2
    attempts.append(Attempt(first.retry_at, "failed", "insufficient_funds"))
    second = decide(attempts, schedule=CARD_SCHEDULE, as_of=first.retry_at, calendar=FR, window=WINDOW)
    # day +7 is Thursday 9 July
    assert second.retry_at == at(2026, 7, 9, 9) and second.attempt_number == 3
    attempts.append(Attempt(second.retry_at, "failed", "do_not_honor"))
    third = decide(attempts, schedule=CARD_SCHEDULE, as_of=second.retry_at, calendar=FR, window=WINDOW)
    # day +13 is Wednesday 15 July; Tuesday 14 July (Bastille Day) is not in the way, but shows the calendar
    assert third.retry_at == at(2026, 7, 15, 9) and third.attempt_number == 4
    attempts.append(Attempt(third.retry_at, "failed", "insufficient_funds"))
    last = decide(attempts, schedule=CARD_SCHEDULE, as_of=third.retry_at, calendar=FR, window=WINDOW)
    assert last.action is Action.GIVE_UP and not last.pause_chasing
    assert last.decline.code == "insufficient_funds"


def test_retry_skips_a_public_holiday():
    # Failure on Saturday 11 July 2026; the retry aimed at day +3 (Tuesday 14 July, Bastille Day) moves to the 15th.
    attempts = [Attempt(at(2026, 7, 11), "failed", "insufficient_funds")]
    decision = decide(attempts, schedule=CARD_SCHEDULE, as_of=at(2026, 7, 11, 11), calendar=FR, window=WINDOW)
    assert decision.retry_at == at(2026, 7, 15, 9)


def test_late_decision_takes_the_next_slot_after_as_of_but_not_past_the_span():
    attempts = [Attempt(at(2026, 7, 2), "failed", "processing_error")]
    late = decide(attempts, schedule=CARD_SCHEDULE, as_of=at(2026, 7, 8, 18), calendar=FR, window=WINDOW)
    assert late.retry_at == at(2026, 7, 9, 9)  # after the window closed on the 8th: next morning
    inside = decide(attempts, schedule=CARD_SCHEDULE, as_of=at(2026, 7, 8, 11, 30), calendar=FR, window=WINDOW)
    assert inside.retry_at == at(2026, 7, 8, 11, 30)
    too_late = decide(attempts, schedule=CARD_SCHEDULE, as_of=at(2026, 7, 16, 18), calendar=FR, window=WINDOW)
    assert too_late.action is Action.GIVE_UP and "no business day" in too_late.reason


@pytest.mark.parametrize("code", ["stolen_card", "lost_card", "expired_card"])
def test_hard_card_decline_asks_for_a_new_method(code):
    decision = decide([Attempt(at(2026, 7, 2), "failed", code)], schedule=CARD_SCHEDULE,
                      as_of=at(2026, 7, 2, 11), calendar=FR, window=WINDOW)
    assert decision.action is Action.NEW_METHOD and decision.retry_at is None and not decision.pause_chasing


def test_creditor_side_decline_goes_to_staff():
    decision = decide([Attempt(at(2026, 7, 2), "failed", "AM05")], schedule=SEPA_SCHEDULE,
                      as_of=at(2026, 7, 3), calendar=FR, window=WINDOW)
    assert decision.action is Action.REVIEW and not decision.pause_chasing


def test_sepa_represents_am04_twice_and_no_more():
    attempts = [Attempt(at(2026, 3, 2), "failed", "AM04")]
    first = decide(attempts, schedule=SEPA_SCHEDULE, as_of=at(2026, 3, 4), calendar=FR, window=WINDOW)
    # 14 days after the first collection (the default pre-notification period), then 28 days after it
    assert first.action is Action.RETRY and first.retry_at == at(2026, 3, 16, 9)
    attempts.append(Attempt(first.retry_at, "failed", "MS03"))
    second = decide(attempts, schedule=SEPA_SCHEDULE, as_of=at(2026, 3, 18), calendar=FR, window=WINDOW)
    assert second.action is Action.RETRY and second.retry_at == at(2026, 3, 30, 9)
    attempts.append(Attempt(second.retry_at, "failed", "AM04"))
    third = decide(attempts, schedule=SEPA_SCHEDULE, as_of=at(2026, 4, 1), calendar=FR, window=WINDOW)
    assert third.action is Action.GIVE_UP


@pytest.mark.parametrize("code,action", [("MD01", Action.NEW_METHOD), ("AC04", Action.NEW_METHOD),
                                         ("AC06", Action.NEW_METHOD), ("MS02", Action.NEW_METHOD)])
def test_sepa_hard_codes_are_never_represented(code, action):
    decision = decide([Attempt(at(2026, 3, 2), "failed", code)], schedule=SEPA_SCHEDULE,
                      as_of=at(2026, 3, 4), calendar=FR, window=WINDOW)
    assert decision.action is action


def test_a_soft_code_outside_the_schedules_codes_is_not_retried():
    schedule = RetrySchedule(Rail.CARD, 3, (2, 5), retry_codes=frozenset({"insufficient_funds"}))
    decision = decide([Attempt(at(2026, 3, 2), "failed", "processing_error")], schedule=schedule,
                      as_of=at(2026, 3, 2, 12), calendar=FR, window=WINDOW)
    assert decision.action is Action.GIVE_UP


def test_success_and_pending():
    ok = decide([Attempt(at(2026, 3, 2), "failed", "insufficient_funds"), Attempt(at(2026, 3, 5), "succeeded")],
                schedule=CARD_SCHEDULE, as_of=at(2026, 3, 6), calendar=FR, window=WINDOW)
    assert ok.action is Action.NONE and not ok.pause_chasing
    pending = decide([Attempt(at(2026, 3, 2), "pending")], schedule=SEPA_SCHEDULE, as_of=at(2026, 3, 3),
                     calendar=FR, window=WINDOW)
    assert pending.action is Action.WAIT and pending.pause_chasing


def test_bad_input():
    with pytest.raises(ValidationError):
        decide([], schedule=CARD_SCHEDULE, as_of=at(2026, 3, 2), calendar=FR, window=WINDOW)
    with pytest.raises(ValidationError):
        decide([Attempt(at(2026, 3, 2), "failed")], schedule=CARD_SCHEDULE, as_of=datetime(2026, 3, 3),
               calendar=FR, window=WINDOW)
    with pytest.raises(ValidationError):
        decide([Attempt(at(2026, 3, 5), "failed")], schedule=CARD_SCHEDULE, as_of=at(2026, 3, 3),
               calendar=FR, window=WINDOW)
    with pytest.raises(ValidationError):
        decide([Attempt(at(2026, 3, 5), "failed"), Attempt(at(2026, 3, 2), "failed")], schedule=CARD_SCHEDULE,
               as_of=at(2026, 3, 6), calendar=FR, window=WINDOW)
    with pytest.raises(ValidationError):
        Attempt(datetime(2026, 3, 2), "failed")
    with pytest.raises(ValidationError):
        Attempt(at(2026, 3, 2), "lost")


# --- properties -------------------------------------------------------------------------------

CALENDARS = [HolidayCalendar("FR"), HolidayCalendar("DE", "BY"), HolidayCalendar("US"), HolidayCalendar("AE")]
ZONES = ["Europe/Paris", "Europe/Berlin", "America/New_York", "Asia/Dubai", "Pacific/Auckland"]
CARD_CODES = sorted(CARD_DECLINES) + ["unknown_code"]
SEPA_CODES = sorted(SEPA_REASONS)

windows = st.builds(
    lambda zone, start, length: SendWindow(zone, time(start), time(min(start + length, 23), 59)),
    st.sampled_from(ZONES), st.integers(0, 20), st.integers(1, 12))
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                       timezones=st.just(timezone.utc))


def _walk(schedule, codes, first_at, calendar, window, delays):
    """Fail every attempt with the next code and follow every decision; return the attempts and decisions."""
    attempts = [Attempt(first_at, "failed", codes[0])]
    decisions = []
    as_of = first_at + timedelta(minutes=delays[0])
    for i in range(12):
        decision = decide(attempts, schedule=schedule, as_of=as_of, calendar=calendar, window=window)
        decisions.append((decision, as_of))
        if decision.action is not Action.RETRY:
            break
        attempts.append(Attempt(decision.retry_at, "failed", codes[(i + 1) % len(codes)]))
        as_of = decision.retry_at + timedelta(minutes=delays[(i + 1) % len(delays)])
    return attempts, decisions


@settings(max_examples=150, deadline=None)
@given(first_at=moments, calendar=st.sampled_from(CALENDARS), window=windows,
       codes=st.lists(st.sampled_from(CARD_CODES), min_size=1, max_size=5),
       delays=st.lists(st.integers(0, 3 * 24 * 60), min_size=1, max_size=4))
def test_card_walk_properties(first_at, calendar, window, codes, delays):
    attempts, decisions = _walk(CARD_SCHEDULE, codes, first_at, calendar, window, delays)
    assert len(attempts) <= CARD_SCHEDULE.max_attempts
    for decision, as_of in decisions:
        if decision.action is Action.RETRY:
            moment = decision.retry_at
            assert not decision.decline.hard
            assert moment >= as_of
            assert calendar.is_business_day(window.local_date(moment))
            assert window.contains(moment)
            assert moment - first_at <= timedelta(days=14)
            assert decision.attempt_number <= CARD_SCHEDULE.max_attempts
            assert decision.pause_chasing
        else:
            assert not decision.pause_chasing
        if decision.decline is not None and decision.decline.hard:
            assert decision.action in (Action.NEW_METHOD, Action.REVIEW)
    # every attempt after a hard decline would be a retry of a hard decline: none exists
    for earlier in attempts[:-1]:
        assert not classify("card", earlier.code).hard


@settings(max_examples=100, deadline=None)
@given(first_at=moments, calendar=st.sampled_from(CALENDARS), window=windows,
       codes=st.lists(st.sampled_from(SEPA_CODES), min_size=1, max_size=4),
       delays=st.lists(st.integers(0, 5 * 24 * 60), min_size=1, max_size=4))
def test_sepa_walk_properties(first_at, calendar, window, codes, delays):
    attempts, decisions = _walk(SEPA_SCHEDULE, codes, first_at, calendar, window, delays)
    assert len(attempts) <= 3  # the first presentation and at most 2 re-presentations
    for earlier in attempts[:-1]:
        assert earlier.code in ("AM04", "MS03")
    for decision, as_of in decisions:
        if decision.action is Action.RETRY:
            assert decision.retry_at >= as_of and window.contains(decision.retry_at)
            assert calendar.is_business_day(window.local_date(decision.retry_at))


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from(CARD_CODES), rail_codes=st.sampled_from(SEPA_CODES), n=st.integers(1, 6),
       first_at=moments)
def test_never_retries_a_hard_decline_nor_beyond_the_schedule(code, rail_codes, n, first_at):
    for schedule, last_code in ((CARD_SCHEDULE, code), (SEPA_SCHEDULE, rail_codes)):
        attempts = [Attempt(first_at + timedelta(days=i), "failed", "insufficient_funds" if schedule is CARD_SCHEDULE
                            else "AM04") for i in range(n - 1)]
        attempts.append(Attempt(first_at + timedelta(days=n - 1), "failed", last_code))
        decision = decide(attempts, schedule=schedule, as_of=attempts[-1].at, calendar=FR, window=WINDOW)
        if classify(schedule.rail, last_code).hard or n >= schedule.max_attempts:
            assert decision.action is not Action.RETRY


def test_window_bounds_follow_daylight_saving():
    window = SendWindow("Europe/Paris", time(9), time(17))
    start, _ = window.bounds(date(2026, 3, 30))  # the day after the clocks went forward
    assert start.utcoffset() == timedelta(hours=2)


def test_schedule_without_a_span_retries_on_the_aimed_day():
    schedule = RetrySchedule(Rail.CARD, 2, (30,))
    decision = decide([Attempt(at(2026, 7, 2), "failed", "insufficient_funds")], schedule=schedule,
                      as_of=at(2026, 7, 2, 11), calendar=FR, window=WINDOW)
    assert decision.retry_at == at(2026, 8, 3, 9)  # 1 August 2026 is a Saturday
