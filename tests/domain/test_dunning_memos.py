"""Dunning memoises customer clocks and the step an invoice reaches: their keys must never collide."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from duly.domain.dunning import AccountSnapshot, Evaluator

# The clocks are the memos of one run's evaluator (shared by every test of this module).
_clock_for = Evaluator().clock_for

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
# Sunday 25 October 2026: Paris falls back from 03:00 to 02:00, so 02:30 happens twice.
FALL_BACK = date(2026, 10, 25)


def snapshot(**changes) -> AccountSnapshot:
    base = AccountSnapshot(customer_id=1, timezone="Europe/Paris", country="FR")
    return replace(base, **changes)


def test_a_clock_is_shared_by_customers_of_the_same_configuration_only():
    a = _clock_for(snapshot(), None)
    assert _clock_for(snapshot(customer_id=2), None) is a
    for other in (snapshot(timezone="Europe/Berlin"), snapshot(country="DE"), snapshot(best_hour=10),
                  snapshot(segment_default_hour=10), snapshot(send_window=(time(8), time(17))),
                  snapshot(send_window=(time(9), time(18)))):
        assert _clock_for(other, None) is not a


def test_window_times_differing_only_by_fold_get_their_own_clock():
    first = snapshot(send_window=(time(2, 30), time(17)))
    second = snapshot(send_window=(time(2, 30, fold=1), time(17)))
    assert first.send_window == second.send_window  # time equality ignores fold
    a, b = _clock_for(first, None), _clock_for(second, None)
    assert a is not b
    slot_a, slot_b = a._window(FALL_BACK)[0], b._window(FALL_BACK)[0]
    assert slot_a == datetime.combine(FALL_BACK, time(2, 30), PARIS).astimezone(UTC)
    assert slot_b == datetime.combine(FALL_BACK, time(2, 30, fold=1), PARIS).astimezone(UTC)
    assert slot_a != slot_b


def test_moments_equal_but_for_fold_are_rendered_apart():
    clock = _clock_for(snapshot(timezone="UTC", country=None), None)
    once = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    twice = once.replace(fold=1)
    assert once == twice  # same tzinfo: compared by wall time
    assert clock.local(once) == "Sun 2026-10-25 00:30 UTC"
    assert clock.local(twice) == "Sun 2026-10-25 01:30 UTC"


def test_the_free_slot_memo_gives_the_slot_of_each_moment():
    clock = _clock_for(snapshot(), None)
    wednesday = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)  # 11:30 in Paris, inside the window
    friday_evening = datetime(2026, 6, 12, 18, 0, tzinfo=UTC)  # 20:00 in Paris, window closed
    for _ in range(2):  # computed, then memoised
        assert clock.next_slot(wednesday, None) == datetime(2026, 6, 10, 7, 0, tzinfo=UTC)
        assert clock.next_slot(friday_evening, None) == datetime(2026, 6, 15, 7, 0, tzinfo=UTC)
        assert clock.next_slot(wednesday.astimezone(PARIS), None) == datetime(2026, 6, 10, 7, 0, tzinfo=UTC)


def test_an_injected_holiday_check_is_asked_every_time():
    closed: set[date] = set()
    day = date(2026, 6, 10)
    now = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
    first = _clock_for(snapshot(), closed.__contains__)
    assert first.business_day(day) and first.why_not_now(now) is None
    closed.add(day)
    second = _clock_for(snapshot(), closed.__contains__)
    assert not second.business_day(day) and not first.business_day(day)
    assert first.why_not_now(now) == "Wednesday 2026-06-10 is a public holiday"
    assert second.next_slot(now, None) > now


# --- the memo of the step an invoice reaches (per policy, day and allowed steps) -------------------


def _reached_policy():
    from duly.domain.dunning import Policy, Step, StepConditions

    return Policy(code="memo", name="Memo", steps=(
        Step(code="before_stay", order=1, offset_days=-7, anchor="service_date"),
        Step(code="overdue", order=2, offset_days=1),
        Step(code="vip_call", order=3, offset_days=10, conditions=StepConditions(segments=("vip",))),
    ))


def _codes(policy, as_of=datetime(2026, 6, 10, 9, 30, tzinfo=UTC), segment=None, reminders=(), **item):
    from decimal import Decimal

    from duly.domain.dunning import OpenItem, evaluate

    fields = dict(invoice_id=1, number="INV-1", currency="EUR", issue_date=date(2026, 4, 1),
                  due_date=date(2026, 5, 20), total=Decimal(100), open_amount=Decimal(100))
    fields.update(item)
    snap = AccountSnapshot(customer_id=1, timezone="UTC", segment=segment, open_items=(OpenItem(**fields),),
                           reminders=tuple(reminders))
    return [a.step_code for a in evaluate(snap, policy, as_of)]


def test_the_step_reached_memo_tells_apart_allowed_steps_anchors_last_step_and_day():
    from duly.domain.dunning import PastReminder

    policy = _reached_policy()
    for _ in range(2):  # computed, then memoised
        assert _codes(policy, segment="vip") == ["overdue"]
        assert _codes(policy) == ["overdue"]
        sent = PastReminder("overdue", datetime(2026, 5, 22, 9, tzinfo=UTC), (1,))
        assert _codes(policy, reminders=[sent]) == []
        assert _codes(policy, segment="vip", reminders=[sent]) == ["vip_call"]
        # The same step sent, delivered later: its wait is not over yet.
        late = PastReminder("overdue", datetime(2026, 5, 22, 9, tzinfo=UTC), (1,),
                            delivered_at=datetime(2026, 6, 3, 9, tzinfo=UTC))
        assert _codes(policy, segment="vip", reminders=[late]) == []
        # Same due date, different service dates: only the one a week away has reached before_stay.
        assert _codes(policy, due_date=date(2026, 6, 20), service_date=date(2026, 6, 15)) == ["before_stay"]
        assert _codes(policy, due_date=date(2026, 6, 20), service_date=date(2026, 6, 30)) == []
        assert _codes(policy, due_date=date(2026, 6, 20)) == []
        # Another day: the same invoice has not reached the step yet.
        assert _codes(policy, as_of=datetime(2026, 5, 20, 9, 30, tzinfo=UTC)) == []


def test_slots_after_a_fatigue_floor_are_memoised_per_floor_and_its_time_zone():
    clock = _clock_for(snapshot(), None)
    now = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # Wednesday, 08:00 in Paris, before the window
    floor = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    for _ in range(2):  # computed, then memoised
        assert clock.next_slot(now, floor) == floor
        same_instant = clock.next_slot(now, floor.astimezone(PARIS))
        assert same_instant == floor and same_instant.tzinfo is PARIS
        late = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 18:00 in Paris, window closed: next day
        assert clock.next_slot(now, late) == datetime(2026, 6, 11, 7, 0, tzinfo=UTC)


# --- the memos belong to the run's evaluator, never to the process ---------------------------------


def test_each_evaluator_has_its_own_clocks_and_policy_memos():
    from duly.domain.dunning import Evaluator

    first, second = Evaluator(), Evaluator()
    assert first.clock_for(snapshot(), None) is first.clock_for(snapshot(customer_id=2), None)
    assert first.clock_for(snapshot(), None) is not second.clock_for(snapshot(), None)
    policy = _reached_policy()
    assert first.policy_memo(policy) is first.policy_memo(policy)
    assert first.policy_memo(policy) is not second.policy_memo(policy)
    assert first.policy_memo(_reached_policy()) is not first.policy_memo(policy)  # by identity


def test_a_policy_holds_no_memo():
    from dataclasses import fields

    compiled = _reached_policy()._compiled
    assert not [f.name for f in fields(compiled) if isinstance(getattr(compiled, f.name), (dict, list, set))]


def test_the_package_keeps_no_memo_at_module_level():
    import sys

    from duly.domain.dunning import Evaluator, evaluate

    modules = [m for name, m in sys.modules.items() if name.startswith("duly.domain.dunning")]
    assert len(modules) >= 7

    def sizes():
        return {(m.__name__, k): len(v) for m in modules for k, v in vars(m).items()
                if isinstance(v, (dict, list, set)) and not k.startswith("__")}

    before = sizes()
    policy = _reached_policy()
    evaluate(snapshot(), policy, datetime(2026, 6, 10, 9, 30, tzinfo=UTC), evaluator=Evaluator())
    _codes(policy)
    assert sizes() == before


def test_one_evaluator_for_a_run_decides_as_one_per_customer():
    from datetime import timedelta
    from decimal import Decimal

    from duly.domain.dunning import Evaluator, OpenItem, PastReminder, evaluate

    policy = _reached_policy()
    as_of = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)
    snapshots = []
    for n in range(60):
        due = date(2026, 4, 1) + timedelta(days=n)
        items = (OpenItem(invoice_id=n, number=f"INV-{n}", currency="EUR", issue_date=due - timedelta(days=30),
                          due_date=due, service_date=due + timedelta(days=n % 7), total=Decimal(100),
                          open_amount=Decimal(100)),)
        reminders = ((PastReminder("overdue", datetime(2026, 5, 1, 9, tzinfo=UTC) + timedelta(days=n % 9), (n,)),)
                     if n % 3 == 0 else ())
        snapshots.append(snapshot(customer_id=n, open_items=items, reminders=reminders,
                                  segment="vip" if n % 2 else None, best_hour=(None, 10, 14)[n % 3],
                                  timezone=("Europe/Paris", "America/New_York")[n % 2],
                                  country=("FR", "US")[n % 2]))
    run = Evaluator()
    shared = [evaluate(s, policy, as_of, evaluator=run) for s in snapshots]
    assert shared == [evaluate(s, policy, as_of) for s in snapshots]
    assert any(a.kind == "send" for actions in shared for a in actions)
