"""The evaluation: :func:`evaluate` decides, for one customer, what Duly does now, with the
memos of the run held by an :class:`Evaluator` (never by the process)."""

from __future__ import annotations

from bisect import insort
from datetime import date, datetime
from typing import Any, Final, Sequence

from .assignment import _assign, _PolicyMemo
from .clock import _Clock, _fatigue_floor, _remember
from .policy import _ROLE_RANK, ActionKind, Channel, HolidayCheck, Policy
from .snapshot import AccountSnapshot, Action, Contact, OpenItem, _as_utc, _id_sort_key, _key


class Evaluator:
    """The memos of one collections run (or of one evaluation): create one per run and pass it to
    every :func:`evaluate` and :func:`~duly.domain.dunning.worklist_entry` of the run.

    It holds the customers' clocks (one per configuration: time zone, holiday country, window and
    preferred hour; their business days, windows and slots are then computed once per run, not once
    per invoice), what the run learned about each policy (:class:`_PolicyMemo`: the steps each
    customer's conditions allow, the step each invoice reaches on a day) and the texts of due dates.
    Every answer is a pure function of its key, so sharing an evaluator between customers never
    changes a decision; dropping it frees everything. Not thread-safe: one per thread.
    """

    __slots__ = ("_clocks", "_policies", "_due_text")

    def __init__(self) -> None:
        self._clocks: dict[tuple[Any, ...], _Clock] = {}
        #: id(policy) -> its memo (which holds the policy: the id cannot be reused meanwhile).
        self._policies: dict[int, _PolicyMemo] = {}
        #: (due date, today) -> " (due ..., N days overdue)", for plain dates only.
        self._due_text: dict[tuple[date, date], str] = {}

    def clock_for(self, snapshot: AccountSnapshot, is_holiday: HolidayCheck | None) -> _Clock:
        """The customer's clock, shared by every snapshot of the same configuration when no
        ``is_holiday`` is injected (an injected check may not be pure: it gets a clock of its own).

        The key holds everything a clock is made of. ``send_window`` holds naive times (checked by
        :class:`AccountSnapshot`), whose equality ignores ``fold`` only: the folds are in the key too.
        """
        if is_holiday is not None:
            return _Clock(snapshot, is_holiday)
        start, end = snapshot.send_window
        key = (snapshot.timezone, snapshot.country, start, start.fold, end, end.fold, snapshot.best_hour,
               snapshot.segment_default_hour)
        clock = self._clocks.get(key)
        if clock is None:
            clock = _Clock(snapshot, None)
            _remember(self._clocks, key, clock)
        return clock

    def policy_memo(self, policy: Policy) -> _PolicyMemo:
        """What this run remembers about ``policy`` (by identity: each policy object has its own)."""
        memo = self._policies.get(id(policy))
        if memo is None or memo.policy is not policy:
            memo = _PolicyMemo(policy)
            _remember(self._policies, id(policy), memo)
        return memo


def _describe_item(item: OpenItem, today: date, due_text: dict[tuple[date, date], str]) -> str:
    """``"INV-1 (due 2026-05-20, 21 days overdue)"``; the tail memoised in ``due_text`` (the
    evaluator's, see :attr:`Evaluator._due_text`) for plain dates."""
    due = item.due_date
    if type(due) is date and type(today) is date:
        key = (due, today)
        tail = due_text.get(key)
        if tail is None:
            tail = _describe_due(due, today)
            _remember(due_text, key, tail)
        return f"{item.number}{tail}"
    return f"{item.number}{_describe_due(due, today)}"


def _entry_sort_key(entry: tuple[OpenItem, str | None]) -> tuple[int, int, str]:
    return _id_sort_key(entry[0].invoice_id)


def _describe_due(due: date, today: date) -> str:
    days = (today - due).days
    if days > 0:
        when = f"{days} day{'s' if days != 1 else ''} overdue"
    elif days == 0:
        when = "due today"
    else:
        when = f"due in {-days} day{'s' if days != -1 else ''}"
    return f" (due {due.isoformat()}, {when})"


_OTHER_RANK: Final = len(_ROLE_RANK)


def _role_rank(contact: Contact) -> int:
    return _ROLE_RANK.get(contact.role, _OTHER_RANK)


def _ranked(contacts: Sequence[Contact]) -> Sequence[Contact]:
    """The contacts by role preference (a stable sort: same rank, same order as given)."""
    count = len(contacts)
    if count < 2:
        return contacts
    if count == 2:
        first, second = contacts
        return contacts if _role_rank(first) <= _role_rank(second) else [second, first]
    return sorted(contacts, key=_role_rank)


def _choose_contact(contacts: Sequence[Contact], channel: Channel) -> tuple[Channel, Any, str | None]:
    """(channel actually used, contact id, fallback reason)."""
    ranked = _ranked(contacts)
    reachable = [c for c in ranked if not c.opted_out]
    if channel == "letter":
        if reachable:
            return "letter", reachable[0].id, None
        if ranked:
            return "letter", None, "every contact opted out: letter addressed to the customer"
        return "letter", None, None
    if channel == "email":
        chosen = next((c for c in reachable if c.email), None)
        if chosen is not None:
            preferred = ranked[0]
            if preferred is chosen:
                return "email", chosen.id, None
            problem = "opted out" if preferred.opted_out else "has no email"
            return "email", chosen.id, f"contact {preferred.name} {problem}; sent to {chosen.name}"
        callee = next((c for c in reachable if c.phone), None)
        fallback = "no contact with email: phone task"
        if callee is None:
            fallback += " (no phone number either)"
        return "phone_task", callee.id if callee is not None else None, fallback
    callee = next((c for c in reachable if c.phone), None)
    if callee is not None:
        return "phone_task", callee.id, None
    return "phone_task", None, "no contact with a phone number"


def evaluate(
    snapshot: AccountSnapshot,
    policy: Policy,
    as_of: datetime,
    *,
    is_holiday: HolidayCheck | None = None,
    evaluator: Evaluator | None = None,
) -> list[Action]:
    """What to do for this customer at ``as_of`` (an aware datetime; UTC in results).

    Returns the ``send``/``defer`` actions, highest step first (the order they are spaced out in),
    then the ``skip`` actions. ``is_holiday`` replaces the public holidays of ``snapshot.country``.
    ``evaluator``: the run's :class:`Evaluator` (its memos serve every customer of the run); without
    one, this evaluation gets its own.
    """
    now = _as_utc(as_of, "as_of")
    if evaluator is None:
        evaluator = Evaluator()
    clock = evaluator.clock_for(snapshot, is_holiday)
    today = clock.today(now)
    memo = evaluator._policies.get(id(policy))
    if memo is None or memo.policy is not policy:
        memo = evaluator.policy_memo(policy)
    assignment = _assign(snapshot, memo, today, clock)
    compiled = memo.compiled
    due_text = evaluator._due_text
    steps = compiled.steps
    customer_id = snapshot.customer_id
    actions: list[Action] = []

    chase = assignment.chase
    if chase:
        reminders = snapshot.reminders
        sent = [r.sent_at for r in reminders] if reminders else []
        if snapshot.other_messages:
            sent += snapshot.other_messages
        if sent:
            sent.sort()
        recipients: dict[str, tuple[Channel, Any, str | None]] = {}
        early = assignment.early
        for pos in sorted(chase, reverse=True) if len(chase) > 1 else chase:
            step = steps[pos]
            entries = chase[pos]
            if early and not step.actions and pos in early:
                # The first overdue reminder lists every overdue invoice never chased, due for it or not yet.
                entries = entries + [(item, "overdue, listed with this reminder before its own date")
                                     for item in early[pos]]
            if len(entries) > 1:
                entries = sorted(entries, key=_entry_sort_key)
                ids = tuple(dict.fromkeys(item.invoice_id for item, _ in entries))
                described = ", ".join(
                    _describe_item(item, today, due_text) + (f"; {note}" if note else "") for item, note in entries
                )
            else:
                item, note = entries[0]
                ids = (item.invoice_id,)
                described = _describe_item(item, today, due_text) + (f"; {note}" if note else "")
            reason = f"{described} reached {compiled.descriptions[pos]}"
            step_actions = step.actions
            if "assess_late_fee" in step_actions and all(
                (i, step.code) in snapshot.fee_levels_assessed for i in ids
            ):
                step_actions = tuple(a for a in step_actions if a != "assess_late_fee")
                reason += "; late fee already assessed"
            recipient = recipients.get(step.channel)
            if recipient is None:
                recipient = recipients[step.channel] = _choose_contact(snapshot.contacts, step.channel)
            channel, contact_id, fallback = recipient
            if sent:
                floor, fatigue_why = _fatigue_floor(sent, policy)
            else:
                floor = fatigue_why = None
            slot = clock.next_slot(now, floor)
            if now >= slot:
                kind: ActionKind = "send"
                insort(sent, now)
            else:
                kind = "defer"
                insort(sent, slot)
                causes = []
                if floor is not None and floor > now:
                    causes.append(fatigue_why)
                blocked = clock.why_not_now(now)
                if blocked:
                    causes.append(blocked)
                if not causes:
                    causes.append(clock.waiting())
                reason += f"; deferred ({'; '.join(c for c in causes if c)}) to {clock.local(slot)}"
            actions.append(
                Action(
                    kind=kind,
                    customer_id=customer_id,
                    step_code=step.code,
                    channel=channel,
                    template=step.template,
                    tone=step.tone,
                    invoice_ids=ids,
                    actions=step_actions,
                    contact_id=contact_id,
                    fallback_reason=fallback,
                    scheduled_for=slot,
                    reason=reason,
                    idempotency_key=_key(customer_id, step.code, ids),
                )
            )

    for (pos, cause), items in sorted(assignment.skip.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        step = steps[pos]
        items = sorted(items, key=lambda i: _id_sort_key(i.invoice_id))
        ids = tuple(dict.fromkeys(item.invoice_id for item in items))
        described = ", ".join(_describe_item(item, today, due_text) for item in items)
        actions.append(
            Action(
                kind="skip",
                customer_id=customer_id,
                step_code=step.code,
                channel=step.channel,
                template=step.template,
                tone=step.tone,
                invoice_ids=ids,
                actions=(),
                contact_id=None,
                fallback_reason=None,
                scheduled_for=None,
                reason=f"{cause}: {described} not chased at {compiled.descriptions[pos]}",
                idempotency_key=_key(customer_id, step.code, ids),
            )
        )
    return actions
