"""Dunning, walked through the calendar: a date, the events, what Duly does.

Each walk runs the pure evaluation the way the scheduler would (daily, or several times a day),
and feeds every ``send`` back into the snapshot as a :class:`PastReminder`, as the collections
service does. The assertions read like a diary of the customer's mailbox.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable
from zoneinfo import ZoneInfo

from duly.domain.dunning import (
    AccountSnapshot,
    Action,
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
    choose_policy,
    evaluate,
)

UTC = timezone.utc

STANDARD = Policy(
    "neutral",
    "Standard reminders",
    (
        Step("coming-due", 0, -3, tone="gentle", template="dunning/coming_due"),
        Step("reminder-1", 1, 3, tone="neutral"),
        Step("reminder-2", 2, 10, tone="firm", actions=("assess_late_fee",)),
        Step("final-notice", 3, 20, channel="letter", tone="firm", actions=("final_notice",)),
        Step(
            "handover",
            4,
            35,
            channel="letter",
            tone="firm",
            actions=("handover",),
            conditions=StepConditions(min_balance={"EUR": Decimal("50")}),
        ),
    ),
)

FIRM = Policy(
    "firm",
    "Chronic late payers",
    (
        Step("firm-reminder", 1, 1, tone="firm"),
        Step("late-fee", 2, 8, tone="firm", actions=("assess_late_fee",)),
        Step("final-notice", 3, 15, channel="letter", tone="firm", actions=("final_notice",)),
        Step("suspension", 4, 22, tone="firm", actions=("suspend",)),
        Step("termination", 5, 30, channel="letter", tone="firm", actions=("terminate", "handover")),
    ),
)

GENTLE = Policy(
    "gentle", "Reliable payers", (Step("coming-due", 0, -3, tone="gentle"), Step("nudge", 1, 7, tone="gentle"))
)

HOTEL = Policy(
    "hotel",
    "Hotel stays",
    (
        Step("before-arrival", 0, -7, anchor="service_date", tone="gentle", template="hotel/balance_before_arrival"),
        Step("after-departure", 1, 5, tone="neutral"),
    ),
)

CONTACTS = (
    Contact(1, "Ana", "ana@client.example", "+33 1 23 45 67 89", "accounts_payable"),
    Contact(2, "Bob", "bob@client.example", None, "owner"),
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def invoice(invoice_id: int, due: str, *, amount: str = "240.00", service: str | None = None) -> OpenItem:
    due_date = d(due)
    return OpenItem(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id:04d}",
        currency="EUR",
        issue_date=due_date - timedelta(days=30),
        due_date=due_date,
        service_date=d(service) if service else None,
        total=Decimal(amount),
        open_amount=Decimal(amount),
    )


class Walk:
    """One customer's mailbox, evaluated on the days we choose; sends are fed back as reminders."""

    def __init__(self, policy: Policy, items: list[OpenItem], **snapshot_fields) -> None:
        self.policy = policy
        self.items = {item.invoice_id: item for item in items}
        self.reminders: list[PastReminder] = []
        self.disputes: set[int] = set()
        self.promises: list[Promise] = []
        self.fields = {"timezone": "Europe/Paris", "country": "FR", "contacts": CONTACTS, **snapshot_fields}
        self.log: list[tuple[datetime, Action]] = []

    def snapshot(self) -> AccountSnapshot:
        return AccountSnapshot(
            customer_id="C-42",
            open_items=tuple(self.items.values()),
            reminders=tuple(self.reminders),
            disputes=frozenset(self.disputes),
            promises=tuple(self.promises),
            **self.fields,
        )

    def at(self, day: date, local: str = "10:00") -> datetime:
        return datetime.combine(day, time.fromisoformat(local), ZoneInfo(self.fields["timezone"])).astimezone(UTC)

    def run(self, day: date | str, local: str = "10:00") -> list[Action]:
        when = self.at(d(day) if isinstance(day, str) else day, local)
        actions = evaluate(self.snapshot(), self.policy, when)
        for action in actions:
            self.log.append((when, action))
            if action.kind == "send":
                self.reminders.append(PastReminder(action.step_code, when, action.invoice_ids))
        return actions

    def daily(
        self, start: str, end: str, events: dict[str, Callable[[], None]] | None = None, local: str = "10:00"
    ) -> dict[date, list[tuple[str, tuple[int, ...], tuple[str, ...]]]]:
        """Run every day from ``start`` to ``end``; ``events[day]`` happens just before that day's run.

        Returns the diary: ``{day: [(step, invoice ids, actions), ...]}`` for the days something was sent.
        """
        diary = {}
        day = d(start)
        while day <= d(end):
            if events and day.isoformat() in events:
                events[day.isoformat()]()
            sent = [(a.step_code, a.invoice_ids, a.actions) for a in self.run(day, local) if a.kind == "send"]
            if sent:
                diary[day] = sent
            day += timedelta(days=1)
        return diary

    def pay(self, invoice_id: int) -> None:
        item = self.items[invoice_id]
        self.items[invoice_id] = replace(item, status="paid", open_amount=Decimal("0.00"))

    def actions_on(self, day: str, kind: str) -> list[Action]:
        zone = ZoneInfo(self.fields["timezone"])
        return [a for when, a in self.log if when.astimezone(zone).date() == d(day) and a.kind == kind]


# --- the reliable payer ------------------------------------------------------------------------------


def test_a_reliable_payer_gets_one_gentle_pre_due_note_and_nothing_else():
    walk = Walk(STANDARD, [invoice(1, "2026-04-17")])

    diary = walk.daily("2026-03-18", "2026-06-30", events={"2026-04-16": lambda: walk.pay(1)})

    # Tue 14 April, three days before the due date: one gentle note. Paid on the 16th: silence.
    assert diary == {d("2026-04-14"): [("coming-due", (1,), ())]}
    (note,) = walk.actions_on("2026-04-14", "send")
    assert note.tone == "gentle" and note.template == "dunning/coming_due" and note.contact_id == 1
    assert [a for _, a in walk.log if a.kind != "send"] == []


# --- the chronic late payer --------------------------------------------------------------------------


def test_a_chronic_late_payer_climbs_the_firm_steps_to_termination():
    # Seven of the last ten invoices were paid late: the tone rule picks the firm policy.
    history = [
        InvoiceRecord(n, d("2025-04-01") + timedelta(days=30 * n), d("2025-05-01") + timedelta(days=30 * n),
                      d("2025-05-01") + timedelta(days=30 * n + (12 if n < 7 else -1)))
        for n in range(10)
    ]
    choice = choose_policy(CustomerProfile("C-42"), [GENTLE, STANDARD, FIRM], history, d("2026-03-01"))
    assert choice.policy is FIRM and choice.tone == "firm"
    assert "7 of 10" in choice.reason

    walk = Walk(choice.policy, [invoice(1, "2026-03-02")])
    diary = walk.daily("2026-03-01", "2026-05-31")

    assert diary == {
        d("2026-03-03"): [("firm-reminder", (1,), ())],  # Tue, due + 1
        d("2026-03-10"): [("late-fee", (1,), ("assess_late_fee",))],  # due + 8
        d("2026-03-17"): [("final-notice", (1,), ("final_notice",))],  # due + 15, by letter
        d("2026-03-24"): [("suspension", (1,), ("suspend",))],  # due + 22
        d("2026-04-01"): [("termination", (1,), ("terminate", "handover"))],  # due + 30
    }
    letters = [a.channel for _, a in walk.log if a.kind == "send"]
    assert letters == ["email", "email", "letter", "email", "letter"]


# --- disputes and promises ---------------------------------------------------------------------------


def test_a_dispute_pauses_a_promise_pauses_and_a_broken_promise_moves_on_to_the_next_step():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")])

    def promise():
        walk.promises.append(Promise((1,), d("2026-03-19"), Decimal("240.00"), walk.at(d("2026-03-17"), "11:30")))

    diary = walk.daily(
        "2026-02-20",
        "2026-04-30",
        events={
            "2026-03-09": lambda: walk.disputes.add(1),  # the customer disputes the invoice
            "2026-03-16": lambda: walk.disputes.discard(1),  # dispute settled in our favour
            "2026-03-17": promise,  # "we pay on Thursday 19th"
        },
    )

    assert diary == {
        d("2026-02-27"): [("coming-due", (1,), ())],
        d("2026-03-05"): [("reminder-1", (1,), ())],
        # 12 March: reminder-2 is due but the invoice is disputed: paused until the dispute is settled.
        d("2026-03-16"): [("reminder-2", (1,), ("assess_late_fee",))],
        # 20 March: the promise of the 19th is broken: the next step goes out at once
        # (its own date, 22 March, is not reached yet).
        d("2026-03-20"): [("final-notice", (1,), ("final_notice",))],
        # 6 April (due + 35) is Easter Monday in France: the handover letter waits for Tuesday.
        d("2026-04-07"): [("handover", (1,), ("handover",))],
    }
    dispute_skips = walk.actions_on("2026-03-12", "skip")
    assert [(a.step_code, a.invoice_ids) for a in dispute_skips] == [("reminder-2", (1,))]
    assert dispute_skips[0].reason.startswith("under dispute: INV-0001")
    assert all(walk.actions_on(day, "skip") for day in ("2026-03-13", "2026-03-14", "2026-03-15"))
    assert walk.actions_on("2026-03-16", "skip") == []

    # While the promise runs no step falls due: nothing happens, not even a skip.
    assert [a for when, a in walk.log if d("2026-03-17") <= when.date() <= d("2026-03-19")] == []
    (final,) = walk.actions_on("2026-03-20", "send")
    assert "promise to pay by 2026-03-19 broken" in final.reason
    assert walk.actions_on("2026-04-06", "defer")[0].reason.endswith("to Tue 2026-04-07 09:00 Europe/Paris")


def test_a_promise_kept_ends_the_reminders():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")])

    def promise():
        walk.promises.append(Promise((1,), d("2026-03-16"), Decimal("240.00"), walk.at(d("2026-03-06"))))

    diary = walk.daily(
        "2026-02-20", "2026-05-31", events={"2026-03-06": promise, "2026-03-16": lambda: walk.pay(1)}
    )

    assert diary == {d("2026-02-27"): [("coming-due", (1,), ())], d("2026-03-05"): [("reminder-1", (1,), ())]}
    # 12 March: reminder-2 falls due while the promise (pay by Monday 16th) runs.
    for day in ("2026-03-12", "2026-03-13", "2026-03-15"):
        (paused,) = walk.actions_on(day, "skip")
        assert paused.step_code == "reminder-2"
        assert paused.reason.startswith("promise to pay by 2026-03-16: INV-0001")


# --- one message per customer and step --------------------------------------------------------------


def test_two_overdue_invoices_give_one_message_per_step():
    walk = Walk(STANDARD, [invoice(7, "2026-03-02", amount="90.00"), invoice(3, "2026-03-02", amount="150.00")])

    diary = walk.daily("2026-02-20", "2026-04-10")

    assert diary == {
        d("2026-02-27"): [("coming-due", (3, 7), ())],
        d("2026-03-05"): [("reminder-1", (3, 7), ())],
        d("2026-03-12"): [("reminder-2", (3, 7), ("assess_late_fee",))],
        d("2026-03-23"): [("final-notice", (3, 7), ("final_notice",))],  # the 22nd is a Sunday
        d("2026-04-07"): [("handover", (3, 7), ("handover",))],  # the 6th is Easter Monday
    }
    keys = [a.idempotency_key for _, a in walk.log if a.kind == "send"]
    assert keys[0] == "C-42:coming-due:3,7"


def test_invoices_at_different_steps_get_separate_messages_spaced_by_the_fatigue_limits():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02"), invoice(2, "2026-03-09")])

    diary = walk.daily("2026-02-20", "2026-03-31")

    assert diary == {
        d("2026-02-27"): [("coming-due", (1,), ())],
        d("2026-03-05"): [("reminder-1", (1,), ())],
        # Fri 6th: INV-2 is coming due, but INV-1 was reminded yesterday (48 h), then the weekend.
        d("2026-03-09"): [("coming-due", (2,), ())],
        d("2026-03-12"): [("reminder-2", (1,), ("assess_late_fee",))],
        # INV-2 reached reminder-1 on the 12th too: two reminders since the 5th already (2 per 7 days).
        d("2026-03-16"): [("reminder-1", (2,), ())],
        d("2026-03-23"): [("final-notice", (1,), ("final_notice",))],
        # INV-2's reminder-2 waits 7 days after its reminder-1 reached the customer (16th, not the 12th it
        # was due on), then the 48 h after the final notice of INV-1: Wednesday 25th.
        d("2026-03-25"): [("reminder-2", (2,), ("assess_late_fee",))],
    }
    (deferred,) = walk.actions_on("2026-03-12", "defer")
    assert deferred.step_code == "reminder-1" and deferred.invoice_ids == (2,)
    assert "contact fatigue: at most 2 reminders in any 7 days" in deferred.reason
    # Planned after the reminders of the 9th and 12th (10:00): 7 days after the 9th, Mon 16th 10:00 Paris.
    assert deferred.scheduled_for == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


# --- contact fatigue ---------------------------------------------------------------------------------


def test_fatigue_limits_hold_over_sixty_days_of_runs():
    # A busy account: a new invoice every two days, a dense policy, runs twice a day, seven days a week.
    dense = Policy(
        "dense",
        "Dense",
        tuple(Step(f"s{n}", n, offset, tone="firm") for n, offset in enumerate((-3, 1, 3, 5, 8, 12, 20))),
    )
    items = [invoice(n, (d("2026-02-01") + timedelta(days=2 * n)).isoformat()) for n in range(1, 31)]
    walk = Walk(dense, items, country="DE", timezone="Europe/Berlin")

    day = d("2026-02-01")
    for _ in range(60):
        for local in ("08:30", "10:00", "16:45", "19:00"):
            walk.run(day, local)
        day += timedelta(days=1)

    sent = sorted(r.sent_at for r in walk.reminders)
    assert len(sent) >= 15  # it did keep chasing...
    for earlier, later in zip(sent, sent[1:]):
        assert later - earlier >= timedelta(hours=48)
    for first, third in zip(sent, sent[2:]):
        assert third - first >= timedelta(days=7)  # never three in any rolling 7 days
    for moment in sent:
        local = moment.astimezone(ZoneInfo("Europe/Berlin"))
        assert local.weekday() < 5 and time(9) <= local.time() < time(17)
    assert any("contact fatigue" in a.reason for _, a in walk.log if a.kind == "defer")
    # Steps never go backwards and never repeat for an invoice.
    seen: dict[int, list[int]] = {}
    for reminder in walk.reminders:
        for invoice_id in reminder.invoice_ids:
            seen.setdefault(invoice_id, []).append(dense.step(reminder.step_code).order)
    assert all(orders == sorted(set(orders)) for orders in seen.values())


def test_a_custom_fatigue_limit_of_one_a_week():
    weekly = replace(FIRM, fatigue=FatigueLimits(max_per_window=1, window_days=7, min_gap_hours=None))
    walk = Walk(weekly, [invoice(1, "2026-03-02"), invoice(2, "2026-03-04")])

    diary = walk.daily("2026-03-01", "2026-04-30")

    days = sorted(diary)
    assert all(later - earlier >= timedelta(days=7) for earlier, later in zip(days, days[1:]))


# --- the hotel guest ---------------------------------------------------------------------------------


def test_a_hotel_guest_is_reminded_seven_days_before_the_stay():
    booking = invoice(55, "2026-07-20", service="2026-07-20")  # balance due on arrival, Monday 20 July
    walk = Walk(HOTEL, [booking], country="FR")

    diary = walk.daily("2026-05-01", "2026-07-19")

    assert diary == {d("2026-07-13"): [("before-arrival", (55,), ())]}
    (note,) = walk.actions_on("2026-07-13", "send")
    assert note.template == "hotel/balance_before_arrival" and note.tone == "gentle"


def test_a_hotel_stay_reminder_waits_for_the_next_business_day():
    # Arrival Tuesday 21 July: seven days before is Tuesday 14 July, Fête nationale.
    walk = Walk(HOTEL, [invoice(56, "2026-07-21", service="2026-07-21")], country="FR")

    diary = walk.daily("2026-07-01", "2026-07-20")

    assert diary == {d("2026-07-15"): [("before-arrival", (56,), ())]}


# --- the best hour -----------------------------------------------------------------------------------


def test_hourly_runs_send_at_the_customers_best_hour():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")], best_hour=14)

    sends = []
    for hour in range(7, 20):
        for action in walk.run("2026-03-05", f"{hour:02d}:00"):
            sends.append((hour, action.kind))

    assert sends[:7] == [(h, "defer") for h in range(7, 14)]
    assert sends[7] == (14, "send")
    assert len(sends) == 8  # once sent, nothing more that day
    deferrals = walk.actions_on("2026-03-05", "defer")
    assert {a.scheduled_for for a in deferrals} == {datetime(2026, 3, 5, 13, 0, tzinfo=UTC)}  # 14:00 Paris


# --- the promised amount decides, not the invoice balance ------------------------------------------------


def _promise_walk(paid: str):
    """Invoice of 240.00 due 2 March; on Friday 13 March (after reminder-2) the customer promises 100.00
    by Tuesday 17 March, and on the 17th pays ``paid`` of it."""
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")])

    def promise():
        walk.promises.append(Promise((1,), d("2026-03-17"), Decimal("100.00"), walk.at(d("2026-03-13"))))

    def payment():
        walk.items[1] = replace(walk.items[1], status="partially_paid", open_amount=Decimal("240.00") - Decimal(paid))
        walk.promises[0] = replace(walk.promises[0], paid_since=Decimal(paid))

    diary = walk.daily("2026-02-20", "2026-03-31", events={"2026-03-13": promise, "2026-03-17": payment})
    return walk, diary


def test_a_customer_who_pays_exactly_the_promised_part_is_not_escalated():
    walk, diary = _promise_walk("100.00")
    assert diary == {
        d("2026-02-27"): [("coming-due", (1,), ())],
        d("2026-03-05"): [("reminder-1", (1,), ())],
        d("2026-03-12"): [("reminder-2", (1,), ("assess_late_fee",))],
        # Promise kept: the remaining 140.00 follows the policy again; the final notice waits for its own
        # date (due + 20 = Sunday 22 March -> Monday 23 March).
        d("2026-03-23"): [("final-notice", (1,), ("final_notice",))],
    }
    (final,) = walk.actions_on("2026-03-23", "send")
    assert "broken" not in final.reason


def test_a_customer_who_pays_less_than_promised_has_broken_the_promise():
    walk, diary = _promise_walk("60.00")
    # 18 March: 60.00 of the 100.00 promised by the 17th: broken, the next step goes out at once.
    assert diary[d("2026-03-18")] == [("final-notice", (1,), ("final_notice",))]
    (final,) = walk.actions_on("2026-03-18", "send")
    assert "promise to pay by 2026-03-17 broken" in final.reason


def test_promise_outcome_reads_the_amount_paid_since_the_promise():
    from duly.domain.dunning import promise_outcome

    promise = Promise((1,), d("2026-03-17"), Decimal("100.00"), datetime(2026, 3, 13, 9, tzinfo=UTC))
    assert promise_outcome(promise, Decimal("99.99"), d("2026-03-17")) == "running"
    assert promise_outcome(promise, Decimal("99.99"), d("2026-03-18")) == "broken"
    assert promise_outcome(promise, Decimal("100.00"), d("2026-03-18")) == "kept"
    assert promise_outcome(promise, Decimal("150.00"), d("2026-03-15")) == "kept"


# --- one step at a time: first adoption, migrated receivables, outages, delivery ----------------------


def test_on_first_adoption_the_first_message_is_the_first_overdue_reminder_covering_every_overdue_invoice():
    # Receivables brought over from another system: 90, 45 and 2 days overdue, nothing ever sent by Duly.
    walk = Walk(FIRM, [invoice(1, "2026-01-15"), invoice(2, "2026-03-01"), invoice(3, "2026-04-13")])

    diary = walk.daily("2026-04-15", "2026-06-30")

    assert diary == {
        d("2026-04-15"): [("firm-reminder", (1, 2, 3), ())],  # Wednesday: one reminder, every overdue invoice
        d("2026-04-22"): [("late-fee", (1, 2, 3), ("assess_late_fee",))],  # its wait (7 days) after the first
        d("2026-04-29"): [("final-notice", (1, 2, 3), ("final_notice",))],
        d("2026-05-06"): [("suspension", (1, 2, 3), ("suspend",))],
        # 8 days after the suspension: Thursday 14 May is Ascension Day, so Friday 15th.
        d("2026-05-15"): [("termination", (1, 2, 3), ("terminate", "handover"))],
    }
    # The first day held no final notice, suspension or termination, and nothing came in a burst.
    assert [a.step_code for a in walk.actions_on("2026-04-15", "send")] == ["firm-reminder"]
    assert walk.actions_on("2026-04-15", "defer") == []


def test_a_never_chased_invoice_one_day_late_joins_the_first_reminder_before_its_own_date():
    # STANDARD's first overdue reminder comes 3 days after the due date; INV-2 is 1 day late on adoption.
    walk = Walk(STANDARD, [invoice(1, "2026-03-02"), invoice(2, "2026-03-11")])

    (first,) = walk.run("2026-03-12")

    assert (first.kind, first.step_code, first.invoice_ids) == ("send", "reminder-1", (1, 2))
    assert "INV-0002 (due 2026-03-11, 1 day overdue); overdue, listed with this reminder" in first.reason
    # From then on each follows its own steps: reminder-2 7 days after this reminder for INV-1, and on its own
    # date (21 March, a Saturday) for INV-2.
    assert walk.daily("2026-03-13", "2026-03-25") == {d("2026-03-19"): [("reminder-2", (1,), ("assess_late_fee",))],
                                                      d("2026-03-23"): [("reminder-2", (2,), ("assess_late_fee",))]}


def test_after_a_thirty_day_outage_only_the_next_step_goes_out():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")])
    before = walk.daily("2026-02-20", "2026-03-06")
    assert before == {d("2026-02-27"): [("coming-due", (1,), ())], d("2026-03-05"): [("reminder-1", (1,), ())]}

    # The scheduler is down from 7 March to 5 April: the dates of reminder-2 (12 March), the final notice
    # (22 March) and almost the hand-over (6 April) pass unseen.
    after = walk.daily("2026-04-06", "2026-05-31")

    assert after == {
        d("2026-04-07"): [("reminder-2", (1,), ("assess_late_fee",))],  # the 6th is Easter Monday
        d("2026-04-17"): [("final-notice", (1,), ("final_notice",))],  # its 10 days' wait
        d("2026-05-04"): [("handover", (1,), ("handover",))],  # 15 days: Saturday 2 May, so Monday
    }


def test_the_next_step_waits_for_the_last_one_to_reach_the_customer():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")])
    walk.daily("2026-03-05", "2026-03-05")
    # reminder-1 bounced; nobody has phoned the customer yet.
    walk.reminders[-1] = replace(walk.reminders[-1], undelivered="bounced: phone task open")

    diary = walk.daily("2026-03-06", "2026-03-20")

    assert diary == {}
    (held,) = walk.actions_on("2026-03-12", "skip")
    assert held.step_code == "reminder-2"
    assert held.reason.startswith("waiting until step 'reminder-1' reaches the customer (bounced: phone task open)")
    assert walk.actions_on("2026-03-11", "skip") == []  # before reminder-2's own date: nothing to say

    # Staff phoned on Friday 20th: the call counts as the delivery, and reminder-2 follows its 7 days' wait.
    walk.reminders[-1] = replace(walk.reminders[-1], undelivered=None, delivered_at=walk.at(d("2026-03-20"), "15:00"))
    assert walk.daily("2026-03-21", "2026-03-31") == {d("2026-03-27"): [("reminder-2", (1,), ("assess_late_fee",))]}


def test_suspension_never_comes_before_the_date_the_final_notice_named():
    from duly.domain.dunning import next_consequence

    walk = Walk(FIRM, [invoice(1, "2026-03-02")])
    walk.daily("2026-03-01", "2026-03-17")
    (final,) = walk.actions_on("2026-03-17", "send")
    assert final.step_code == "final-notice"
    named = next_consequence(walk.snapshot(), FIRM, "final-notice", (1,), d("2026-03-17"))
    assert named == ("suspend", d("2026-03-24"))

    # A promise to pay by the 19th, broken: the next step is brought forward, but not a suspension.
    walk.promises.append(Promise((1,), d("2026-03-19"), Decimal("240.00"), walk.at(d("2026-03-18"))))
    diary = walk.daily("2026-03-18", "2026-03-31")
    assert min(diary) == d("2026-03-24") and diary[d("2026-03-24")] == [("suspension", (1,), ("suspend",))]


def test_a_final_notice_delivered_late_moves_the_suspension_date_it_names():
    from duly.domain.dunning import next_consequence

    walk = Walk(FIRM, [invoice(1, "2026-03-02")])
    walk.daily("2026-03-01", "2026-03-17")
    # The letter was posted on Friday 20th, not the 17th: the suspension waits its 7 days from then.
    walk.reminders[-1] = replace(walk.reminders[-1], delivered_at=walk.at(d("2026-03-20"), "16:00"))
    assert next_consequence(walk.snapshot(), FIRM, "final-notice", (1,), d("2026-03-20"))[1] == d("2026-03-27")
    assert min(walk.daily("2026-03-18", "2026-04-30")) == d("2026-03-27")


def test_a_policy_may_ask_explicitly_for_a_step_whatever_was_sent():
    agency = Policy("agency", "Agency after 90 days", (
        Step("reminder", 1, 3),
        Step("final", 2, 30, actions=("final_notice",)),
        Step("handover", 3, 90, channel="letter", actions=("handover",), whatever_sent=True),
    ))
    # Adopted 100 days after the due date: the policy asked for the hand-over after 90 days, whatever was sent.
    walk = Walk(agency, [invoice(1, "2026-01-02")])
    (first,) = walk.run("2026-04-13")
    assert (first.kind, first.step_code) == ("send", "handover")

    # Without the explicit option the same policy starts at the beginning.
    plain = replace(agency, steps=tuple(replace(s, whatever_sent=False) for s in agency.steps))
    assert [a.step_code for a in Walk(plain, [invoice(1, "2026-01-02")]).run("2026-04-13")] == ["reminder"]


def test_no_shipped_or_custom_policy_may_suspend_or_terminate_without_a_final_notice_first():
    import pytest

    from duly.domain.errors import InvalidDunningPolicy

    with pytest.raises(InvalidDunningPolicy, match="'cut' does suspend without a final notice before it"):
        Policy("p", "P", (Step("reminder", 1, 3), Step("cut", 2, 20, actions=("suspend",))))
    with pytest.raises(InvalidDunningPolicy, match="terminate without a final notice"):
        Policy("p", "P", (Step("end", 1, 30, actions=("final_notice", "terminate")),))
    Policy("p", "P", (Step("final", 1, 20, actions=("final_notice",)), Step("cut", 2, 30, actions=("suspend",))))


def test_greetings_and_notices_wait_while_the_customer_is_disputing_suspended_terminated_or_at_a_final_step():
    from duly.domain.dunning import contact_hold

    walk = Walk(FIRM, [invoice(1, "2026-03-02"), invoice(2, "2026-04-20")])
    assert contact_hold(walk.snapshot(), FIRM) is None
    walk.daily("2026-03-01", "2026-03-10")  # the reminder and the late fee: not final steps
    assert contact_hold(walk.snapshot(), FIRM) is None
    walk.disputes.add(2)
    assert contact_hold(walk.snapshot(), FIRM) == "a query is open on INV-0002"
    walk.disputes.clear()
    walk.daily("2026-03-11", "2026-03-17")  # the final notice
    assert contact_hold(walk.snapshot(), FIRM) == "at the final step 'final-notice' for INV-0001"
    walk.pay(1)
    assert contact_hold(walk.snapshot(), FIRM) is None
    walk.fields["status"] = "suspended"
    assert contact_hold(walk.snapshot(), FIRM) == "the customer is suspended"


def test_invoice_emails_notices_and_greetings_count_toward_the_same_fatigue_limits():
    walk = Walk(STANDARD, [invoice(1, "2026-03-02")], other_messages=(
        datetime(2026, 3, 4, 9, tzinfo=UTC),  # an invoice e-mail on Wednesday
    ))
    (deferred,) = walk.run("2026-03-05")
    assert deferred.kind == "defer" and "at least 48 h between two" in deferred.reason
    assert deferred.scheduled_for == datetime(2026, 3, 6, 9, tzinfo=UTC)
