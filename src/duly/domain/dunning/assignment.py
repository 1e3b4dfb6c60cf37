"""Which invoices go into which step's message now, and which are held back and why.

Escalation goes one step at a time (:func:`_plan_item`); :func:`_assign` groups a customer's
invoices by the step they are due for. Also the rules that look ahead along a policy's steps:
:func:`next_consequence` (the date a final notice names) and :func:`contact_hold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Final, Iterable, Literal, Mapping, Sequence

from ..money import ZERO
from .clock import _Clock, _remember
from .policy import (
    _NO_FINAL_NOTICE,
    _OPEN_STATUSES,
    _PAYMENT_RECEIVED,
    CONSEQUENCES,
    InvoiceId,
    Policy,
    Step,
    StepAction,
    _CompiledPolicy,
)
from .snapshot import AccountSnapshot, OpenItem, PastReminder, Promise, _sorted_ids


class _PolicyMemo:
    """What one run remembers about one policy (:meth:`duly.domain.dunning.Evaluator.policy_memo`):
    the steps each customer's conditions allow, the cutoff dates of a day, and the step each
    invoice reaches on a day. Held by the run's evaluator, so nothing outlives the run."""

    __slots__ = ("policy", "compiled", "allowed_cache", "cutoffs_cache", "plan_cache", "reached_cache")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.compiled: _CompiledPolicy = policy._compiled
        #: (segment, risk level, payment method) -> per step, whether its customer conditions hold.
        self.allowed_cache: dict[tuple[str | None, str | None, str | None], tuple[bool, ...]] = {}
        #: today -> per step, the latest anchor date that has reached it (today - offset).
        self.cutoffs_cache: dict[date, tuple[date, ...]] = {}
        #: (today, segment, risk level, payment method) -> :meth:`plan`.
        self.plan_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        #: (today, allowed) -> {(what was sent, due date, anchor dates...) -> plan}, see :meth:`reached`.
        self.reached_cache: dict[tuple[date, tuple[bool, ...]], dict[tuple[Any, ...], Any]] = {}

    def allowed(self, segment: str | None, risk_level: str | None, payment_method: str | None) -> tuple[bool, ...]:
        key = (segment, risk_level, payment_method)
        allowed = self.allowed_cache.get(key)
        if allowed is None:
            allowed = self.compiled.allowed(*key)
            if len(self.allowed_cache) < 4096:
                self.allowed_cache[key] = allowed
        return allowed

    def cutoffs(self, today: date) -> tuple[date, ...]:
        cutoffs = self.cutoffs_cache.get(today)
        if cutoffs is None:
            cutoffs = tuple(today - delta for delta in self.compiled.deltas)
            _remember(self.cutoffs_cache, today, cutoffs)
        return cutoffs

    def plan(self, today: date, segment: str | None, risk_level: str | None, payment_method: str | None
             ) -> tuple[tuple[bool, ...], tuple[date, ...], dict[tuple[Any, ...], Any] | None]:
        """(:meth:`allowed`, :meth:`cutoffs`, :meth:`reached` or ``None`` with balance conditions)."""
        key = (today, segment, risk_level, payment_method)
        plan = self.plan_cache.get(key)
        if plan is None:
            allowed = self.allowed(segment, risk_level, payment_method)
            plan = (allowed, self.cutoffs(today),
                    None if self.compiled.has_balance_conditions else self.reached(today, allowed))
            _remember(self.plan_cache, key, plan)
        return plan

    def reached(self, today: date, allowed: tuple[bool, ...]) -> dict[tuple[Any, ...], Any]:
        """The memo of an invoice's plan (:func:`_plan_item`) on ``today`` with these ``allowed``
        steps, keyed by (what was sent for it (:data:`_Sent`), its due date, then its dates for
        :attr:`_CompiledPolicy.anchor_names`).

        Only for a policy without balance conditions, and no broken promise: the plan then depends
        on nothing else.
        """
        key = (today, allowed)
        table = self.reached_cache.get(key)
        if table is None:
            table = {}
            _remember(self.reached_cache, key, table)
        return table


@dataclass(slots=True)
class _Assignment:
    """Which invoices go into which step's message, and which are held back and why."""

    #: step position -> [(item, note)] to chase.
    chase: dict[int, list[tuple[OpenItem, str | None]]]
    #: (step position, cause) -> items held back.
    skip: dict[tuple[int, str], list[OpenItem]]
    #: step position -> overdue items that were never chased and whose first overdue step it is,
    #: not due for them yet: a reminder of that step going out anyway lists them too.
    early: dict[int, list[OpenItem]] = field(default_factory=dict)


#: Per invoice, what was sent: (position of the last step sent, the local date it was delivered,
#: ``None`` while it was not, position and local delivery date of the last final notice delivered,
#: ``-1`` and ``None`` without one).
_Sent = tuple[int, date | None, int, date | None]
_NO_TIME: Final = timedelta(0)


def _sent_index(
    reminders: Sequence[PastReminder], position: Mapping[str, int], final_flags: Sequence[bool],
    clock: _Clock, assume_delivered: bool = False,
) -> tuple[dict[InvoiceId, _Sent], dict[InvoiceId, str]]:
    """Per invoice :data:`_Sent`, and why its last step has not reached the customer (when it has not).

    Every recorded reminder counts as sent, whatever its ``sent_at``. Two reminders of the same
    step for one invoice (recorded before that was impossible) count as one, delivered when the
    first of them was. ``assume_delivered`` (for projections): a reminder on its way counts as
    delivered when it was sent.
    """
    sent: dict[InvoiceId, _Sent] = {}
    waiting: dict[InvoiceId, str] = {}
    # Local dates of UTC moments, memoised on the clock (an aware moment of any zone finds its UTC twin).
    days = clock._utc_days
    for reminder in reminders:
        pos = position.get(reminder.step_code, -1)
        if pos < 0:
            continue
        why = reminder.undelivered
        if why is None or assume_delivered:
            moment = reminder.delivered_at or reminder.sent_at
            day = days.get(moment)
            if day is None:
                day = clock.day_of(moment)
        else:
            day = None
        final = day is not None and final_flags[pos]
        for invoice_id in reminder.invoice_ids:
            entry = sent.get(invoice_id)
            if entry is None:
                sent[invoice_id] = (pos, day, pos, day) if final else (pos, day, -1, None)
                if day is None:
                    waiting[invoice_id] = why or "not delivered yet"
                continue
            last, delivered, final_pos, final_day = entry
            if pos > last:
                last, delivered = pos, day
                if day is None:
                    waiting[invoice_id] = why or "not delivered yet"
                else:
                    waiting.pop(invoice_id, None)
            elif pos == last and day is not None and (delivered is None or day < delivered):
                delivered = day
                waiting.pop(invoice_id, None)
            if final and (pos > final_pos or (pos == final_pos and day > final_day)):
                final_pos, final_day = pos, day
            sent[invoice_id] = (last, delivered, final_pos, final_day)
    return sent, waiting


def _last_sent_days(reminders: Sequence[PastReminder], local_day: Callable[[datetime], date]
                    ) -> dict[InvoiceId, date]:
    """Per invoice, the local date of the last reminder that named it (delivered or not)."""
    last: dict[InvoiceId, date] = {}
    for reminder in reminders:
        day = local_day(reminder.sent_at)
        for invoice_id in reminder.invoice_ids:
            previous = last.get(invoice_id)
            if previous is None or day > previous:
                last[invoice_id] = day
    return last


def _latest_promises(promises: Sequence[Promise]) -> dict[InvoiceId, Promise]:
    latest: dict[InvoiceId, Promise] = {}
    for promise in promises:
        for invoice_id in promise.invoice_ids:
            current = latest.get(invoice_id)
            if current is None or promise.created_at > current.created_at:
                latest[invoice_id] = promise
    return latest


def _gap(item: OpenItem, compiled: _CompiledPolicy, earlier: int, later: int) -> timedelta:
    """The wait of step ``later`` after step ``earlier`` for this invoice: the time between their
    dates (never negative)."""
    anchors, deltas = compiled.anchors, compiled.deltas
    if anchors[earlier] == anchors[later]:
        gap = deltas[later] - deltas[earlier]
    else:
        first, second = getattr(item, anchors[earlier]), getattr(item, anchors[later])
        if first is None or second is None:
            return _NO_TIME
        gap = (second + deltas[later]) - (first + deltas[earlier])
    return gap if gap > _NO_TIME else _NO_TIME


def _final_delivered(sent: _Sent | None, pos: int) -> bool:
    """A final notice step before step ``pos`` reached the customer for this invoice."""
    return sent is not None and sent[3] is not None and sent[2] < pos


def _final_ok(item: OpenItem, compiled: _CompiledPolicy, sent: _Sent | None, pos: int, today: date) -> bool:
    """:func:`_final_delivered`, and the step's wait has passed since (for a step that does not
    follow the others one at a time, so it keeps the date the final notice named)."""
    if not _final_delivered(sent, pos):
        return False
    assert sent is not None
    return sent[3] + _gap(item, compiled, sent[2], pos) <= today


#: What :func:`_plan_item` finds for an invoice: (position of the step to carry out now or None,
#: position of its next step or None, the day that next step is ready, None while the last step
#: sent has not reached the customer, the next step's own date, and why the next step is not
#: carried out today when that is worth saying: :data:`_BLOCKED`, :data:`_NO_FINAL` or :data:`_EARLY`).
_Plan = tuple[int | None, int | None, date | None, date | None, str | None]
#: The last step sent has not reached the customer and the next one's date has come: a skip says why.
_BLOCKED: Final = "blocked"
#: The next step suspends or terminates and no final notice reached the customer: a skip says so.
_NO_FINAL: Final = "no final notice"
#: Overdue and never chased, the next step not due yet: listed early by a reminder of that step.
_EARLY: Final = "early"


def _plan_item(item: OpenItem, sent: _Sent | None, allowed: Sequence[bool], compiled: _CompiledPolicy, today: date,
               accept: Callable[[int], bool] | None = None, broken: bool = False) -> _Plan:
    """The step this invoice is due for on ``today``: escalation goes one step at a time.

    The next step is the first one after the last step sent that the customer's conditions allow,
    whose anchor date the invoice has and (with balance conditions) that ``accept`` takes; a step
    meant for on or before the due date (a "coming due" note) is passed over once the invoice is
    overdue. It is due once its own date has come and, after a chasing step already sent (not such
    a courtesy note), once that step reached the customer and the next step's own wait (the time
    between the two steps' dates) has passed since. A broken promise brings it forward to today, except a step that suspends,
    terminates or hands over: that keeps the date its final notice named. Suspension and
    termination need a final notice delivered before, and their wait since it. A ``whatever_sent``
    step comes on its own date, whatever was sent before it.
    """
    anchors, deltas = compiled.anchors, compiled.deltas
    if sent is None:
        last, delivered = -1, None
    else:
        last, delivered = sent[0], sent[1]
    due = item.due_date
    overdue = due < today
    nxt = on = None
    for pos in range(last + 1, len(anchors)):
        if not allowed[pos]:
            continue
        anchor = getattr(item, anchors[pos])
        if anchor is None:
            continue
        day = anchor + deltas[pos]
        if overdue and day <= due:
            continue
        if accept is not None and not accept(pos):
            continue
        nxt, on = pos, day
        break
    chosen = ready = None
    if nxt is not None:
        if last < 0 or _pre_due(item, compiled, last):
            ready = on  # the first chasing step comes on its own date, whenever a courtesy note went
        elif delivered is not None:
            ready = delivered + _gap(item, compiled, last, nxt)
            if ready < on:
                ready = on
        if ready is not None:
            if broken and ready > today and not compiled.consequence[nxt]:
                ready = today
            if ready <= today and (not compiled.needs_final[nxt] or _final_delivered(sent, nxt)):
                chosen = nxt
    for pos in compiled.explicit:
        if pos <= last or (chosen is not None and pos <= chosen):
            break
        if not allowed[pos]:
            continue
        anchor = getattr(item, anchors[pos])
        if anchor is None or anchor + deltas[pos] > today:
            continue
        if compiled.needs_final[pos] and not _final_ok(item, compiled, sent, pos, today):
            continue
        if accept is not None and not accept(pos):
            continue
        chosen = pos
        break
    why = None
    if chosen is None and nxt is not None:
        if ready is None:
            why = _BLOCKED if sent is not None and on <= today else None
        elif ready <= today:
            why = _NO_FINAL
        elif overdue and _first_chase(item, compiled, sent):
            why = _EARLY
    return chosen, nxt, ready, on, why


def _pre_due(item: OpenItem, compiled: _CompiledPolicy, pos: int) -> bool:
    """Step ``pos`` is a courtesy note for on or before the invoice's due date, not a chasing step."""
    anchor = getattr(item, compiled.anchors[pos])
    return anchor is not None and anchor + compiled.deltas[pos] <= item.due_date


def _first_chase(item: OpenItem, compiled: _CompiledPolicy, sent: _Sent | None) -> bool:
    """Nothing but notes for before the due date was sent for this invoice."""
    return sent is None or _pre_due(item, compiled, sent[0])


def _waiting_cause(steps: Sequence[Step], sent: _Sent, why: str) -> str:
    return f"waiting until step {steps[sent[0]].code!r} reaches the customer ({why})"


def _assign(snapshot: AccountSnapshot, memo: _PolicyMemo, today: date, clock: _Clock) -> _Assignment:
    compiled = memo.compiled
    steps = compiled.steps
    count = len(steps)
    assignment = _Assignment(chase={}, skip={})
    items = [i for i in snapshot.open_items if i.status in _OPEN_STATUSES and i.open_amount > ZERO]
    if not count or not items:
        return assignment
    promises = _latest_promises(snapshot.promises) if snapshot.promises else {}
    if snapshot.reminders:
        sent, waiting = _sent_index(snapshot.reminders, compiled.position, compiled.final_flags, clock)
    else:
        sent, waiting = {}, {}
    disputes = snapshot.disputes
    retries = snapshot.payment_retries
    # Which steps the customer's conditions allow; per step, the latest anchor date that has
    # reached it (today - offset); the memo of each invoice's plan (None with balance conditions).
    allowed, cutoffs, reached = memo.plan(today, snapshot.segment, snapshot.risk_level, snapshot.payment_method)
    anchor_names = compiled.anchor_names
    by_due = anchor_names == ("due_date",)
    skip = assignment.skip
    if reached is not None and not promises and not disputes and not retries and not snapshot.unreconciled_credits:
        # The common case: every item can be chased, no balance condition, no credit to weigh.
        chase = assignment.chase
        per_item = compiled.has_invoice_conditions
        for item in items:
            state = sent.get(item.invoice_id)
            memo_key = ((state, item.due_date) if by_due
                        else (state, item.due_date, *[getattr(item, name) for name in anchor_names]))
            item_allowed, table = allowed, reached
            if per_item:
                item_allowed = compiled.item_allowed(allowed, item.late_probability)
                if item_allowed != allowed:
                    table = memo.reached(today, item_allowed)
            plan = table.get(memo_key)
            if plan is None:
                plan = _plan_item(item, state, item_allowed, compiled, today)
                _remember_reached(table, memo_key, plan)
            chosen = plan[0]
            if chosen is not None:
                entries = chase.get(chosen)
                if entries is None:
                    chase[chosen] = [(item, None)]
                else:
                    entries.append((item, None))
            elif plan[4] is not None:
                _not_due(assignment, item, state, plan, waiting, steps)
        return assignment

    # Per item: is it chaseable, and is a broken promise pushing it on?
    states: list[tuple[OpenItem, str | None, Promise | None]]
    if not promises and not disputes and not retries:
        states = [(item, None, None) for item in items]
    else:
        last_day = _last_sent_days(snapshot.reminders, clock.day_of) if promises and snapshot.reminders else {}
        states = []
        for item in items:
            invoice_id = item.invoice_id
            promise = promises.get(invoice_id)
            if invoice_id in disputes:
                states.append((item, "under dispute", None))
            elif invoice_id in retries:
                states.append((item, "automatic payment under way (a retry is scheduled)", None))
            elif promise is not None and promise.promised_date >= today:
                states.append((item, f"promise to pay by {promise.promised_date.isoformat()}", None))
            elif (promise is not None and promise.paid_since < promise.amount
                  and last_day.get(invoice_id, date.min) <= promise.promised_date):
                # Broken: less than the promised amount paid by the date (a kept promise just ends).
                states.append((item, None, promise))
            else:
                states.append((item, None, None))

    anchors = compiled.anchors
    balances: dict[tuple[int, str], Decimal] = {}
    has_balance_conditions = compiled.has_balance_conditions
    if has_balance_conditions:
        for item, held, _ in states:
            if held is not None:
                continue
            for pos, step in enumerate(steps):
                if step.conditions.min_balance is None:
                    continue
                anchor = getattr(item, anchors[pos])
                if anchor is not None and anchor <= cutoffs[pos]:
                    key = (pos, item.currency)
                    balances[key] = balances.get(key, ZERO) + item.open_amount

    def balance_ok(pos: int, item: OpenItem, chaseable: bool) -> bool:
        """The step's minimum balance is met, this invoice counted once (whether it reached the step or not)."""
        threshold = steps[pos].conditions.threshold(item.currency)
        if threshold is None:
            return False
        if not threshold:
            return True
        balance = balances.get((pos, item.currency), ZERO)
        anchor = getattr(item, anchors[pos])
        counted = chaseable and anchor is not None and anchor <= cutoffs[pos]
        return (balance if counted else balance + item.open_amount) >= threshold

    credits = snapshot.unreconciled_credits
    overdue: dict[str, Decimal] = {}
    candidates: list[tuple[int, OpenItem, str | None]] = []
    for item, held, broken in states:
        state = sent.get(item.invoice_id)
        item_allowed = compiled.item_allowed(allowed, item.late_probability)
        if reached is not None and broken is None:
            memo_key = ((state, item.due_date) if by_due
                        else (state, item.due_date, *[getattr(item, name) for name in anchor_names]))
            table = reached if item_allowed == allowed else memo.reached(today, item_allowed)
            plan = table.get(memo_key)
            if plan is None:
                plan = _plan_item(item, state, item_allowed, compiled, today)
                _remember_reached(table, memo_key, plan)
        else:
            accept = ((lambda pos, item=item, chaseable=held is None: balance_ok(pos, item, chaseable))
                      if has_balance_conditions else None)
            plan = _plan_item(item, state, item_allowed, compiled, today, accept, broken is not None)
        chosen = plan[0]
        note = f"promise to pay by {broken.promised_date.isoformat()} broken" if broken is not None else None
        if held is None and item.due_date < today:
            overdue[item.currency] = overdue.get(item.currency, ZERO) + item.open_amount
        if chosen is None:
            if held is None and plan[4] is not None and not credits.get(item.currency):
                _not_due(assignment, item, state, plan, waiting, steps)
            continue
        if held is not None:
            skip.setdefault((chosen, held), []).append(item)
        else:
            candidates.append((chosen, item, note))

    if not credits:
        chase = assignment.chase
        for pos, item, note in candidates:
            entries = chase.get(pos)
            if entries is None:
                chase[pos] = [(item, note)]
            else:
                entries.append((item, note))
        return assignment
    coming_due: dict[str, Decimal] = {}
    for _, item, _ in candidates:
        if item.due_date >= today:
            coming_due[item.currency] = coming_due.get(item.currency, ZERO) + item.open_amount
    for pos, item, note in candidates:
        credit = credits.get(item.currency)
        if credit is not None and credit > 0:
            due = overdue.get(item.currency, ZERO)
            needed = due if item.due_date < today else due + coming_due.get(item.currency, ZERO)
            if credit >= needed:
                skip.setdefault((pos, _PAYMENT_RECEIVED), []).append(item)
                continue
        assignment.chase.setdefault(pos, []).append((item, note))
    return assignment


def _not_due(assignment: _Assignment, item: OpenItem, state: _Sent | None, plan: _Plan,
             waiting: Mapping[InvoiceId, str], steps: Sequence[Step]) -> None:
    """An invoice whose next step is not carried out today, for a reason worth acting on (``plan[4]``):
    held up by the delivery of the last step or by a missing final notice (a skip says so), or,
    overdue and never chased, a candidate to be listed early by a reminder of its first overdue
    step going out anyway."""
    why, nxt = plan[4], plan[1]
    if why is _EARLY:
        assignment.early.setdefault(nxt, []).append(item)
    elif why is _NO_FINAL:
        assignment.skip.setdefault((nxt, _NO_FINAL_NOTICE), []).append(item)
    elif state is not None:
        cause = _waiting_cause(steps, state, waiting.get(item.invoice_id, "not delivered yet"))
        assignment.skip.setdefault((nxt, cause), []).append(item)


def _remember_reached(table: dict, key: tuple[Any, ...], plan: _Plan) -> None:
    if len(table) >= 65536:
        table.clear()
    table[key] = plan


# --- what a message announces, and when other messages must wait -----------------------------------------


def next_consequence(
    snapshot: AccountSnapshot, policy: Policy, step_code: str, invoice_ids: Iterable[InvoiceId], today: date
) -> tuple[StepAction | None, date | None]:
    """The next later step that does something (:data:`CONSEQUENCES`: suspend, terminate, hand over,
    charge a late fee) to these invoices, and the earliest date it can come when step
    ``step_code`` reaches the customer on ``today``: the later steps are walked one at a time,
    each after its own wait, as :func:`evaluate` will. This is the date a final notice names;
    the step never comes before it. ``(None, None)`` when no later step does anything."""
    compiled = policy._compiled
    start = compiled.position.get(step_code)
    if start is None:
        policy.step(step_code)  # raises: no such step
    steps, anchors, deltas = compiled.steps, compiled.anchors, compiled.deltas
    allowed = compiled.allowed(snapshot.segment, snapshot.risk_level, snapshot.payment_method)
    wanted = set(invoice_ids)
    best: tuple[date, StepAction] | None = None
    for item in snapshot.open_items:
        if item.invoice_id not in wanted:
            continue
        ready, previous = today, start
        item_allowed = compiled.item_allowed(allowed, item.late_probability)
        for pos in range(start + 1, len(steps)):
            anchor = getattr(item, anchors[pos])
            if not item_allowed[pos] or anchor is None:
                continue
            on = anchor + deltas[pos]
            if on <= item.due_date < ready:
                continue
            ready = max(on, ready + _gap(item, compiled, previous, pos))
            previous = pos
            found = next((a for a in CONSEQUENCES if a in steps[pos].actions), None)
            if found is not None:
                if best is None or ready < best[0]:
                    best = (ready, found)
                break
    return (best[1], best[0]) if best is not None else (None, None)


def contact_hold(snapshot: AccountSnapshot, policy: Policy) -> str | None:
    """Why greetings and price notices must wait now, or ``None`` when they may go out: the customer
    is suspended or terminated, a query is open on one of its invoices, or an open invoice is at a
    final step (a final notice, suspension, termination or hand-over was sent for it, or the
    policy's last step)."""
    if snapshot.status != "active":
        return f"the customer is {snapshot.status}"
    open_items = {i.invoice_id: i for i in snapshot.open_items if i.status in _OPEN_STATUSES and i.open_amount > 0}
    disputed = [open_items[i].number for i in _sorted_ids(i for i in snapshot.disputes if i in open_items)]
    if disputed:
        return f"a query is open on {', '.join(disputed)}"
    compiled = policy._compiled
    last = len(compiled.steps) - 1
    for reminder in sorted(snapshot.reminders, key=lambda r: r.sent_at, reverse=True):
        pos = compiled.position.get(reminder.step_code)
        if pos is None or not (compiled.final_flags[pos] or compiled.consequence[pos] or pos == last):
            continue
        numbers = [open_items[i].number for i in reminder.invoice_ids if i in open_items]
        if numbers:
            return f"at the final step {reminder.step_code!r} for {', '.join(numbers)}"
    return None


def promise_outcome(promise: Promise, paid_since: Decimal, today: date) -> Literal["kept", "running", "broken"]:
    """``kept`` once ``paid_since`` (paid on its invoices since the promise) reaches the promised
    amount; else ``running`` until the promised date (inclusive), then ``broken``."""
    if paid_since >= promise.amount:
        return "kept"
    return "running" if promise.promised_date >= today else "broken"
