"""Dunning: which reminder goes to which customer, when, and why, evaluated purely.

As in Kill Bill's overdue engine, a calculator (in the ``collections`` app) gathers the state of
one customer into an :class:`AccountSnapshot`; :func:`evaluate` then decides, against that
snapshot, a :class:`Policy` and an explicit ``as_of`` instant, what Duly does now. Nothing here
reads the clock, touches the database or sends anything: the result is a list of
:class:`Action` records that a service carries out idempotently (``Action.idempotency_key``).

Policies
    A :class:`Policy` is data: ordered :class:`Step` records, each ``offset_days`` from an anchor
    date of the invoice (``due_date``, ``service_date``, ``issue_date`` or ``contract_start``;
    a negative offset is *before* the anchor: a gentle "coming due" note at -3 days, or a hotel
    reminder 7 days before arrival with ``anchor="service_date", offset_days=-7``).
    :func:`policy_to_dict` / :func:`policy_from_dict` give a JSON/YAML-safe form.

The current step of an invoice: one step at a time
    Escalation never jumps. The step due for an invoice is the next one after the last step sent
    for it (steps the customer's conditions exclude, or anchored on a date the invoice lacks, are
    passed over; so are notes meant for on or before the due date once the invoice is overdue).
    It is due once its own date (anchor + offset) has come and, after an earlier chasing step (not
    a courtesy note for before the due date), once that step reached the customer (:attr:`PastReminder.delivered_at`; one that could not be delivered
    counts once staff handled it) and the step's own wait (the time between the two steps' dates)
    has passed since. So on first adoption, on receivables brought over from another system and
    after an outage, the first message is the first overdue reminder, and each later step follows
    after its wait: never a termination out of the blue, never a burst. Suspension and termination
    need a final notice delivered before them (a policy without one is refused), and come no
    earlier than the date it named (:func:`next_consequence`). A step marked ``whatever_sent`` is
    the explicit exception a policy may ask for ("hand over after 90 days, whatever was sent"):
    it comes on its own date. A broken promise to pay (promised date passed, less than the promised
    amount paid by then, no reminder since) brings the next step forward to today, except a step
    that suspends, terminates or hands over. A kept promise (the promised amount paid, even if part
    of the invoice is still open) just ends: the invoice follows its steps again.

One message per customer and step
    All invoices of the customer whose current step is the same step go into ONE message
    (statement style). A plain reminder (a step without actions) going out also lists the overdue
    invoices never chased whose first overdue step it is, even before that step's own date. Different
    steps give different messages; the contact-fatigue limits then space them out.

Never chased
    Paid, void, credited and uncollectible invoices (or a zero open amount). Invoices under
    dispute, and invoices with a promise to pay that has not expired (promised date on or after
    the local date), are reported as ``skip`` actions with the reason. When the customer's
    unreconciled credits in a currency (payments received but not applied yet) cover the overdue
    amount in that currency, the overdue invoices of that currency are skipped with the reason
    ``payment received, awaiting reconciliation``; invoices not overdue yet are skipped too when
    the credits cover them as well.

When a message goes out
    Only on the customer's business days (outside the weekend of ``AccountSnapshot.country`` —
    Friday-Saturday in KW, BH, SA, IL... — and not a public holiday there, or an injected
    ``is_holiday``; see :func:`business_calendar`), inside the sending window in the
    customer's IANA time zone, and at its preferred local hour: the learned ``best_hour``, else
    ``segment_default_hour``, else the start of the window (an hour outside the window is clamped
    into it). Today's slot is used while today's window is open, otherwise the slot of the next
    business day. Contact fatigue (:class:`FatigueLimits`, default at most 2 messages in any
    rolling 7 days and at least 48 h between two) pushes the slot later; it counts every message
    to the customer: reminders, and the invoice e-mails, notices and greetings in
    ``AccountSnapshot.other_messages`` (one contact budget). A ``send`` is emitted
    when ``as_of`` has reached the slot, otherwise a ``defer`` with ``scheduled_for`` set to the
    slot and the reason.

Contacts
    An e-mail goes to the first contact, by role ``accounts_payable``, ``billing``, ``owner``, then
    any other, that has an e-mail address and has not opted out. With no such contact the
    message becomes a ``phone_task``. Letters need no e-mail address.

Every recorded :class:`PastReminder` counts as sent, whatever its ``sent_at``: a reminder is never
sent twice because clocks disagree.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Final, Iterable, Literal, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from .calendar import HolidayCalendar, WeekdayCalendar
from .errors import InvalidDunningPolicy, ValidationError
from .money import ZERO, check_currency, to_decimal

__all__ = [
    "ACTION_KINDS",
    "ANCHORS",
    "CHANNELS",
    "CONTACT_ROLE_PREFERENCE",
    "ITEM_STATUSES",
    "STEP_ACTIONS",
    "TONES",
    "AccountSnapshot",
    "Action",
    "Contact",
    "CustomerProfile",
    "FatigueLimits",
    "InvoiceRecord",
    "OpenItem",
    "PastReminder",
    "Policy",
    "PolicyChoice",
    "Promise",
    "Step",
    "StepConditions",
    "ToneThresholds",
    "WorklistEntry",
    "CONSEQUENCES",
    "choose_policy",
    "contact_hold",
    "evaluate",
    "fatigue_allows",
    "greeting_day",
    "business_calendar",
    "is_business_day",
    "learn_best_hour",
    "next_consequence",
    "next_send_time",
    "policy_from_dict",
    "policy_to_dict",
    "promise_outcome",
    "step_from_dict",
    "reminder_key",
    "sla_missed",
    "tone_for_history",
    "worklist_entry",
    "yearly_occurrence",
]

InvoiceId = str | int
CustomerId = str | int
Anchor = Literal["due_date", "service_date", "issue_date", "contract_start"]
Channel = Literal["email", "letter", "phone_task"]
Tone = Literal["gentle", "neutral", "firm"]
StepAction = Literal["assess_late_fee", "final_notice", "suspend", "terminate", "handover"]
ActionKind = Literal["send", "defer", "skip"]
ItemStatus = Literal["issued", "partially_paid", "paid", "void", "credited", "uncollectible"]
#: ``is_holiday(day)``: replaces the country's public holidays when given.
HolidayCheck = Callable[[date], bool]

ANCHORS: Final = ("due_date", "service_date", "issue_date", "contract_start")
CHANNELS: Final = ("email", "letter", "phone_task")
TONES: Final = ("gentle", "neutral", "firm")
STEP_ACTIONS: Final = ("assess_late_fee", "final_notice", "suspend", "terminate", "handover")
ACTION_KINDS: Final = ("send", "defer", "skip")
ITEM_STATUSES: Final = ("issued", "partially_paid", "paid", "void", "credited", "uncollectible")
#: Contact roles in order of preference; any other role comes after these.
CONTACT_ROLE_PREFERENCE: Final = ("accounts_payable", "billing", "owner")

_OPEN_STATUSES = frozenset({"issued", "partially_paid"})
_ROLE_RANK = {role: rank for rank, role in enumerate(CONTACT_ROLE_PREFERENCE)}
_ANCHOR_LABELS = {
    "due_date": "due date",
    "service_date": "service date",
    "issue_date": "issue date",
    "contract_start": "contract start",
}
_UTC = timezone.utc
_ONE_DAY = timedelta(days=1)
#: Longest run of closed days the slot search accepts before declaring the calendar broken.
_MAX_CLOSED_RUN = 366
_PAYMENT_RECEIVED = "payment received, awaiting reconciliation"
_NO_FINAL_NOTICE = "no final notice has reached the customer yet (a suspension or termination needs one first)"
#: Step actions a final notice must announce first (with their date), and those it announces.
_NEEDS_FINAL: Final = frozenset({"suspend", "terminate"})
_ANNOUNCED: Final = frozenset({"suspend", "terminate", "handover"})
#: What a message says will happen next, in order of preference when one step does several.
CONSEQUENCES: Final = ("suspend", "terminate", "handover", "assess_late_fee")


# --- small helpers ------------------------------------------------------------------------------------


def _policy_error(message: str, **context: Any) -> InvalidDunningPolicy:
    return InvalidDunningPolicy(message, **context)


def _as_utc(value: datetime, what: str) -> datetime:
    if type(value) is datetime and value.tzinfo is _UTC:
        return value
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}.")
    return value.astimezone(_UTC)


def _check_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}.")


def _str_tuple(value: Iterable[str] | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise _policy_error(f"{what} must be a list of strings, got {value!r}.")
    result = tuple(value)
    if not result:
        raise _policy_error(f"{what} is empty: use None (omit it) to allow any value.")
    return result


def _id_sort_key(invoice_id: InvoiceId) -> tuple[int, int, str]:
    """Integers sort numerically and before strings; mixed id types never compare directly."""
    if isinstance(invoice_id, int):
        return (0, invoice_id, "")
    return (1, 0, str(invoice_id))


def _sorted_ids(ids: Iterable[InvoiceId]) -> tuple[InvoiceId, ...]:
    return tuple(sorted(set(ids), key=_id_sort_key))


def reminder_key(customer_id: CustomerId, step_code: str, invoice_ids: Iterable[InvoiceId]) -> str:
    """The natural key of one reminder: ``"<customer>:<step>:<id,id,...>"`` with the ids sorted."""
    return _key(customer_id, step_code, _sorted_ids(invoice_ids))


def _key(customer_id: CustomerId, step_code: str, sorted_ids: tuple[InvoiceId, ...]) -> str:
    return f"{customer_id}:{step_code}:{','.join(map(str, sorted_ids))}"


@lru_cache(maxsize=None)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris.", timezone=str(name)
        ) from None


@lru_cache(maxsize=None)
def business_calendar(country: str | None) -> HolidayCalendar:
    """THE business-day calendar (:class:`duly.domain.calendar.HolidayCalendar`) of ``country``
    (``"FR"``, or ``"US-CA"`` for a subdivision): the country's own weekend and public holidays.
    ``None``: Monday to Friday."""
    if country is None:
        return WeekdayCalendar()
    code, _, subdivision = country.partition("-")
    return HolidayCalendar(code, subdivision or None)


def is_business_day(day: date, country: str | None, is_holiday: HolidayCheck | None = None) -> bool:
    """Outside the country's weekend and not a holiday (``is_holiday`` if given, else the country's
    public holidays), as :func:`business_calendar` says."""
    calendar = business_calendar(country)
    if is_holiday is not None:
        return not calendar.is_weekend(day) and not is_holiday(day)
    return calendar.is_business_day(day)


# --- policies -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepConditions:
    """When a step applies; ``None`` means "any".

    ``min_balance`` is either one amount, compared with the balance of each currency on its own,
    or a mapping ``currency -> amount``; with a mapping, a currency it does not list never reaches
    the step. The balance compared is the open amount, in that currency, of the customer's
    invoices that can be chased (not disputed, no running promise) and have reached the step.
    """

    min_balance: Decimal | Mapping[str, Decimal] | None = None
    segments: tuple[str, ...] | None = None
    risk_levels: tuple[str, ...] | None = None
    payment_methods: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        raw = self.min_balance
        if raw is not None:
            if isinstance(raw, Mapping):
                try:
                    table = {check_currency(c): _non_negative(v) for c, v in raw.items()}
                except ValidationError as err:
                    raise _policy_error(f"min_balance: {err.message}") from None
                value: Decimal | Mapping[str, Decimal] = MappingProxyType(dict(sorted(table.items())))
            else:
                try:
                    value = _non_negative(raw)
                except ValidationError as err:
                    raise _policy_error(f"min_balance: {err.message}") from None
            object.__setattr__(self, "min_balance", value)
        for name in ("segments", "risk_levels", "payment_methods"):
            object.__setattr__(self, name, _str_tuple(getattr(self, name), name))

    def __hash__(self) -> int:
        balance = self.min_balance
        if isinstance(balance, Mapping):
            balance = tuple(balance.items())
        return hash((balance, self.segments, self.risk_levels, self.payment_methods))

    def threshold(self, currency: str) -> Decimal | None:
        """The minimum balance for ``currency``; ``ZERO`` when there is none, ``None`` when excluded."""
        balance = self.min_balance
        if balance is None:
            return ZERO
        if isinstance(balance, Mapping):
            return balance.get(currency)
        return balance

    def matches_customer(self, segment: str | None, risk_level: str | None, payment_method: str | None) -> bool:
        """The customer-level conditions: segment, risk level, payment method."""
        return (
            (self.segments is None or segment in self.segments)
            and (self.risk_levels is None or risk_level in self.risk_levels)
            and (self.payment_methods is None or payment_method in self.payment_methods)
        )


def _non_negative(value: Any) -> Decimal:
    amount = to_decimal(value)
    if amount < 0:
        raise ValidationError(f"{amount} is negative.")
    return amount


@dataclass(frozen=True)
class Step:
    """One reminder of a policy: ``offset_days`` from ``anchor`` (negative = before it)."""

    code: str
    order: int
    offset_days: int
    anchor: Anchor = "due_date"
    channel: Channel = "email"
    #: Message template name; defaults to the step code.
    template: str = ""
    tone: Tone = "neutral"
    actions: tuple[StepAction, ...] = ()
    conditions: StepConditions = StepConditions()
    #: Reached on its own date whatever was sent before (e.g. "hand over after 90 days"), instead of
    #: only after the previous step was delivered and its own wait has passed. No shipped policy
    #: uses it; suspension and termination still need a final notice delivered first.
    whatever_sent: bool = False

    def __post_init__(self) -> None:
        code = self.code
        if not isinstance(code, str) or not code.strip() or any(c in code for c in ":,") or code != code.strip():
            raise _policy_error(
                f"Step code {code!r} must be a non-empty string without ':' or ',' (it is part of reminder keys)."
            )
        where = f"Step {code!r}"
        for name in ("order", "offset_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise _policy_error(f"{where}: {name} must be an integer, got {value!r}.", step=code)
        _check_choice(where, "anchor", self.anchor, ANCHORS, code)
        _check_choice(where, "channel", self.channel, CHANNELS, code)
        _check_choice(where, "tone", self.tone, TONES, code)
        if not isinstance(self.template, str):
            raise _policy_error(f"{where}: template must be a string, got {self.template!r}.", step=code)
        if not self.template:
            object.__setattr__(self, "template", code)
        if isinstance(self.actions, str):
            raise _policy_error(f"{where}: actions must be a list, got the string {self.actions!r}.", step=code)
        actions = tuple(self.actions)
        for action in actions:
            _check_choice(where, "action", action, STEP_ACTIONS, code)
        if len(set(actions)) != len(actions):
            raise _policy_error(f"{where}: an action is listed twice in {list(actions)}.", step=code)
        object.__setattr__(self, "actions", actions)
        if not isinstance(self.conditions, StepConditions):
            raise _policy_error(f"{where}: conditions must be StepConditions, got {self.conditions!r}.", step=code)
        if not isinstance(self.whatever_sent, bool):
            raise _policy_error(f"{where}: whatever_sent must be true or false, got {self.whatever_sent!r}.",
                                step=code)


def _check_choice(where: str, name: str, value: Any, allowed: tuple[str, ...], step: str) -> None:
    if value not in allowed:
        raise _policy_error(
            f"{where}: unknown {name} {value!r}; expected one of {', '.join(allowed)}.", step=step, field=name
        )


@dataclass(frozen=True)
class FatigueLimits:
    """At most ``max_per_window`` reminders in any rolling ``window_days`` days, and at least
    ``min_gap_hours`` between two reminders to the same customer. ``None`` lifts a limit."""

    max_per_window: int | None = 2
    window_days: int = 7
    min_gap_hours: int | None = 48

    def __post_init__(self) -> None:
        for name, low in (("max_per_window", 1), ("window_days", 1), ("min_gap_hours", 0)):
            value = getattr(self, name)
            if value is None and name != "window_days":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise _policy_error(f"Fatigue limit {name} must be an integer of at least {low}, got {value!r}.")


@dataclass(frozen=True, slots=True)
class _CompiledPolicy:
    """Per-policy precomputation reused by every evaluation (steps ascending by order)."""

    steps: tuple[Step, ...]
    anchors: tuple[str, ...]
    deltas: tuple[timedelta, ...]
    position: Mapping[str, int]
    has_balance_conditions: bool
    #: Fatigue limits as timedeltas (``None``: no limit).
    min_gap: timedelta | None
    window: timedelta
    #: (segment, risk level, payment method) -> per step, whether its customer conditions hold.
    allowed_cache: dict[tuple[str | None, str | None, str | None], tuple[bool, ...]]
    #: The anchors the steps use, each once, in step order.
    anchor_names: tuple[str, ...] = ()
    #: Per step, its description in reasons (:func:`_describe_step`).
    descriptions: tuple[str, ...] = ()
    #: The reasons :func:`_floor_for` gives for the policy's two fatigue limits.
    gap_why: str | None = None
    window_why: str | None = None
    #: Positions of the ``whatever_sent`` steps, highest first.
    explicit: tuple[int, ...] = ()
    #: Per step: it carries ``final_notice``; it suspends or terminates (needs a final notice
    #: delivered first); it does something the final notice announces (suspend, terminate, hand over).
    final_flags: tuple[bool, ...] = ()
    needs_final: tuple[bool, ...] = ()
    consequence: tuple[bool, ...] = ()
    #: today -> per step, the latest anchor date that has reached it (today - offset).
    cutoffs_cache: dict[date, tuple[date, ...]] = field(default_factory=dict)
    #: (today, segment, risk level, payment method) -> :meth:`plan`.
    plan_cache: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    #: (today, allowed) -> {(what was sent, due date, anchor dates...) -> plan}, see :meth:`reached`.
    reached_cache: dict[tuple[date, tuple[bool, ...]], dict[tuple[Any, ...], Any]] = field(
        default_factory=dict
    )

    def allowed(self, segment: str | None, risk_level: str | None, payment_method: str | None) -> tuple[bool, ...]:
        key = (segment, risk_level, payment_method)
        allowed = self.allowed_cache.get(key)
        if allowed is None:
            allowed = tuple(s.conditions.matches_customer(*key) for s in self.steps)
            if len(self.allowed_cache) < 4096:
                self.allowed_cache[key] = allowed
        return allowed

    def cutoffs(self, today: date) -> tuple[date, ...]:
        cutoffs = self.cutoffs_cache.get(today)
        if cutoffs is None:
            cutoffs = tuple(today - delta for delta in self.deltas)
            _remember(self.cutoffs_cache, today, cutoffs)
        return cutoffs

    def plan(self, today: date, segment: str | None, risk_level: str | None, payment_method: str | None
             ) -> tuple[tuple[bool, ...], tuple[date, ...], dict[tuple[Any, ...], Any] | None]:
        """(:meth:`allowed`, :meth:`cutoffs`, :meth:`reached` or ``None`` with balance conditions)."""
        key = (today, segment, risk_level, payment_method)
        plan = self.plan_cache.get(key)
        if plan is None:
            allowed = self.allowed(segment, risk_level, payment_method)
            plan = (allowed, self.cutoffs(today), None if self.has_balance_conditions else self.reached(today, allowed))
            _remember(self.plan_cache, key, plan)
        return plan

    def reached(self, today: date, allowed: tuple[bool, ...]) -> dict[tuple[Any, ...], Any]:
        """The memo of an invoice's plan (:func:`_plan_item`) on ``today`` with these ``allowed``
        steps, keyed by (what was sent for it (:data:`_Sent`), its due date, then its dates for
        :attr:`anchor_names`).

        Only for a policy without balance conditions, and no broken promise: the plan then depends
        on nothing else.
        """
        key = (today, allowed)
        table = self.reached_cache.get(key)
        if table is None:
            table = {}
            _remember(self.reached_cache, key, table)
        return table


@dataclass(frozen=True)
class Policy:
    """A dunning policy: its steps (kept sorted by ``order``) and its contact-fatigue limits."""

    code: str
    name: str
    steps: tuple[Step, ...]
    fatigue: FatigueLimits = FatigueLimits()
    _compiled: _CompiledPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code.strip():
            raise _policy_error(f"Policy code must be a non-empty string, got {self.code!r}.")
        if not isinstance(self.name, str):
            raise _policy_error(f"Policy {self.code!r}: name must be a string, got {self.name!r}.")
        if not isinstance(self.fatigue, FatigueLimits):
            raise _policy_error(f"Policy {self.code!r}: fatigue must be FatigueLimits, got {self.fatigue!r}.")
        steps = tuple(self.steps)
        codes: set[str] = set()
        orders: dict[int, str] = {}
        for step in steps:
            if not isinstance(step, Step):
                raise _policy_error(f"Policy {self.code!r}: steps must be Step records, got {step!r}.")
            if step.code in codes:
                raise _policy_error(f"Policy {self.code!r}: duplicate step code {step.code!r}.", step=step.code)
            if step.order in orders:
                raise _policy_error(
                    f"Policy {self.code!r}: steps {orders[step.order]!r} and {step.code!r}"
                    f" have the same order {step.order}.",
                    step=step.code,
                )
            codes.add(step.code)
            orders[step.order] = step.code
        steps = tuple(sorted(steps, key=lambda s: s.order))
        object.__setattr__(self, "steps", steps)
        noticed = False
        for step in steps:
            drastic = sorted(_NEEDS_FINAL.intersection(step.actions))
            if drastic and not noticed:
                raise _policy_error(
                    f"Policy {self.code!r}: step {step.code!r} does {' and '.join(drastic)} without a final notice"
                    " before it: add a step with the final_notice action and a lower order.",
                    step=step.code,
                )
            noticed = noticed or "final_notice" in step.actions
        compiled = _CompiledPolicy(
            steps=steps,
            anchors=tuple(s.anchor for s in steps),
            deltas=tuple(timedelta(days=s.offset_days) for s in steps),
            position=MappingProxyType({s.code: i for i, s in enumerate(steps)}),
            has_balance_conditions=any(s.conditions.min_balance is not None for s in steps),
            min_gap=timedelta(hours=self.fatigue.min_gap_hours) if self.fatigue.min_gap_hours is not None else None,
            window=timedelta(days=self.fatigue.window_days),
            allowed_cache={},
            anchor_names=tuple(dict.fromkeys(s.anchor for s in steps)),
            descriptions=tuple(_describe_step(s) for s in steps),
            gap_why=f"contact fatigue: at least {self.fatigue.min_gap_hours} h between two reminders",
            window_why=(f"contact fatigue: at most {self.fatigue.max_per_window} reminders in any"
                        f" {self.fatigue.window_days} days"),
            explicit=tuple(i for i in range(len(steps) - 1, -1, -1) if steps[i].whatever_sent),
            final_flags=tuple("final_notice" in s.actions for s in steps),
            needs_final=tuple(bool(_NEEDS_FINAL.intersection(s.actions)) for s in steps),
            consequence=tuple(bool(_ANNOUNCED.intersection(s.actions)) for s in steps),
        )
        object.__setattr__(self, "_compiled", compiled)

    def step(self, code: str) -> Step:
        """The step with this code."""
        position = self._compiled.position.get(code)
        if position is None:
            raise _policy_error(f"Policy {self.code!r} has no step {code!r}.", step=code)
        return self.steps[position]


_POLICY_KEYS = frozenset({"code", "name", "steps", "fatigue"})
_STEP_KEYS = frozenset(
    {"code", "order", "offset_days", "anchor", "channel", "template", "tone", "actions", "conditions",
     "whatever_sent"}
)
_CONDITION_KEYS = ("min_balance", "segments", "risk_levels", "payment_methods")
_FATIGUE_KEYS = ("max_per_window", "window_days", "min_gap_hours")


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """A JSON/YAML-safe dict (strings, integers, lists, dicts; amounts as strings)."""
    steps = []
    for step in policy.steps:
        conditions: dict[str, Any] = {}
        c = step.conditions
        if isinstance(c.min_balance, Mapping):
            conditions["min_balance"] = {cur: str(v) for cur, v in c.min_balance.items()}
        elif c.min_balance is not None:
            conditions["min_balance"] = str(c.min_balance)
        for name in ("segments", "risk_levels", "payment_methods"):
            value = getattr(c, name)
            if value is not None:
                conditions[name] = list(value)
        entry: dict[str, Any] = {
            "code": step.code,
            "order": step.order,
            "offset_days": step.offset_days,
            "anchor": step.anchor,
            "channel": step.channel,
            "template": step.template,
            "tone": step.tone,
            "actions": list(step.actions),
        }
        if conditions:
            entry["conditions"] = conditions
        if step.whatever_sent:
            entry["whatever_sent"] = True
        steps.append(entry)
    return {
        "code": policy.code,
        "name": policy.name,
        "fatigue": {name: getattr(policy.fatigue, name) for name in _FATIGUE_KEYS},
        "steps": steps,
    }


def _require_mapping(value: Any, where: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _policy_error(f"{where} must be a mapping, got {type(value).__name__}.")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise _policy_error(f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}.")
    return value


def step_from_dict(raw: Mapping[str, Any], where: str = "Step") -> Step:
    """One :class:`Step` from its :func:`policy_to_dict` form, validated on its own (the rules that
    tie steps together are the policy's)."""
    raw = _require_mapping(raw, where, _STEP_KEYS)
    missing = [k for k in ("code", "order", "offset_days") if k not in raw]
    if missing:
        raise _policy_error(f"{where}: missing field(s) {', '.join(missing)}.")
    raw_conditions = _require_mapping(raw.get("conditions") or {}, f"{where}: conditions", _CONDITION_KEYS)
    actions = raw.get("actions") or ()
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        raise _policy_error(f"{where}: actions must be a list, got {actions!r}.")
    return Step(
        code=raw["code"],
        order=raw["order"],
        offset_days=raw["offset_days"],
        anchor=raw.get("anchor", "due_date"),
        channel=raw.get("channel", "email"),
        template=raw.get("template") or "",
        tone=raw.get("tone", "neutral"),
        actions=tuple(actions),
        conditions=StepConditions(**{k: raw_conditions.get(k) for k in _CONDITION_KEYS}),
        whatever_sent=raw.get("whatever_sent", False),
    )


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build and validate a :class:`Policy` from :func:`policy_to_dict`'s form (e.g. loaded from YAML).

    Raises :class:`~duly.domain.errors.InvalidDunningPolicy` with a message naming the step and field.
    """
    data = _require_mapping(data, "Dunning policy", _POLICY_KEYS)
    missing = [k for k in ("code", "name", "steps") if k not in data]
    if missing:
        raise _policy_error(f"Dunning policy: missing field(s) {', '.join(missing)}.")
    code = data["code"]
    raw_steps = data["steps"]
    if isinstance(raw_steps, (str, Mapping)) or not isinstance(raw_steps, Sequence):
        raise _policy_error(f"Policy {code!r}: steps must be a list.")
    steps = [step_from_dict(raw, f"Policy {code!r}, step {number}") for number, raw in enumerate(raw_steps, start=1)]
    fatigue_raw = _require_mapping(data.get("fatigue") or {}, f"Policy {code!r}: fatigue", _FATIGUE_KEYS)
    defaults = FatigueLimits()
    fatigue = FatigueLimits(**{k: fatigue_raw.get(k, getattr(defaults, k)) for k in _FATIGUE_KEYS})
    return Policy(code=code, name=data["name"], steps=tuple(steps), fatigue=fatigue)


# --- the account snapshot -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenItem:
    """An invoice of the customer as the calculator saw it."""

    invoice_id: InvoiceId
    number: str
    currency: str
    issue_date: date
    due_date: date
    service_date: date | None = None
    total: Decimal
    open_amount: Decimal
    status: ItemStatus = "issued"
    #: Start of the contract the invoice belongs to (anchor ``contract_start``).
    contract_start: date | None = None

    def __post_init__(self) -> None:
        if self.status not in ITEM_STATUSES:
            raise ValidationError(
                f"Invoice {self.number}: unknown status {self.status!r}; expected one of {', '.join(ITEM_STATUSES)}."
            )
        check_currency(self.currency)
        if type(self.total) is not Decimal:
            object.__setattr__(self, "total", to_decimal(self.total))
        if type(self.open_amount) is not Decimal:
            object.__setattr__(self, "open_amount", to_decimal(self.open_amount))


@dataclass(frozen=True, slots=True)
class PastReminder:
    """A reminder already sent (or handed over as a task) to the customer.

    ``delivered_at``: when it reached the customer, or, when it could not be delivered, when staff
    handled that (the phone call made, the letter posted); ``None`` means at ``sent_at``.
    ``undelivered``: set while it has not reached the customer and nobody has handled that yet
    (why, e.g. ``"queued"`` or ``"bounced: phone task open"``); the next step waits for it.
    """

    step_code: str
    sent_at: datetime
    invoice_ids: tuple[InvoiceId, ...]
    delivered_at: datetime | None = None
    undelivered: str | None = None

    def __post_init__(self) -> None:
        _check_aware(self.sent_at, "PastReminder.sent_at")
        if self.delivered_at is not None:
            _check_aware(self.delivered_at, "PastReminder.delivered_at")
        object.__setattr__(self, "invoice_ids", tuple(self.invoice_ids))


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay ``amount`` on ``promised_date`` for these invoices.

    ``paid_since``: what was paid on these invoices from the day the promise was made up to the
    promised date. The promise is kept once it reaches ``amount`` (see :func:`promise_outcome`).
    """

    invoice_ids: tuple[InvoiceId, ...]
    promised_date: date
    amount: Decimal
    created_at: datetime
    paid_since: Decimal = ZERO

    def __post_init__(self) -> None:
        _check_aware(self.created_at, "Promise.created_at")
        object.__setattr__(self, "invoice_ids", tuple(self.invoice_ids))
        if type(self.amount) is not Decimal:
            object.__setattr__(self, "amount", to_decimal(self.amount))
        if type(self.paid_since) is not Decimal:
            object.__setattr__(self, "paid_since", to_decimal(self.paid_since))


@dataclass(frozen=True, slots=True)
class Contact:
    id: Any
    name: str
    email: str | None = None
    phone: str | None = None
    role: str = "other"
    opted_out: bool = False


@dataclass(frozen=True, kw_only=True)
class AccountSnapshot:
    """Everything the rules need to know about one customer, gathered at one moment."""

    customer_id: CustomerId
    segment: str | None = None
    risk_level: str | None = None
    payment_method: str | None = None
    #: IANA time zone of the customer (sending window and local dates).
    timezone: str = "UTC"
    #: Holiday country (``"FR"``, or ``"US-CA"`` with a subdivision); ``None``: weekends only.
    country: str | None = None
    send_window: tuple[time, time] = (time(9), time(17))
    open_items: tuple[OpenItem, ...] = ()
    reminders: tuple[PastReminder, ...] = ()
    #: Invoice ids with an open dispute.
    disputes: frozenset[InvoiceId] = frozenset()
    promises: tuple[Promise, ...] = ()
    #: Payments received but not applied yet (unreconciled bank lines included), per currency.
    unreconciled_credits: Mapping[str, Decimal] = field(default_factory=dict)
    contacts: tuple[Contact, ...] = ()
    #: Local hour (0-23) learned from past payments and opens, see :func:`learn_best_hour`.
    best_hour: int | None = None
    segment_default_hour: int | None = None
    #: ``(invoice_id, step_code)`` pairs whose late fee was already assessed.
    fee_levels_assessed: frozenset[tuple[InvoiceId, str]] = frozenset()
    #: When the other messages that count toward the contact-fatigue limits went out: invoice
    #: e-mails, notices, greetings (the one contact budget; reminders are in ``reminders``).
    other_messages: tuple[datetime, ...] = ()
    #: ``active``, ``suspended`` or ``terminated``: greetings and notices wait while not active.
    status: str = "active"

    def __post_init__(self) -> None:
        start, end = self.send_window
        if not (isinstance(start, time) and isinstance(end, time)) or start.tzinfo or end.tzinfo or not start < end:
            raise ValidationError(
                f"Customer {self.customer_id}: the sending window must be two local times, start before end,"
                f" got {self.send_window!r}."
            )
        for name in ("best_hour", "segment_default_hour"):
            hour = getattr(self, name)
            if hour is not None and (not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23):
                raise ValidationError(f"Customer {self.customer_id}: {name} must be an hour 0-23, got {hour!r}.")
        for name in ("open_items", "reminders", "promises", "contacts", "other_messages"):
            value = getattr(self, name)
            if type(value) is not tuple:
                object.__setattr__(self, name, tuple(value))
        if type(self.disputes) is not frozenset:
            object.__setattr__(self, "disputes", frozenset(self.disputes))
        if type(self.fee_levels_assessed) is not frozenset:
            object.__setattr__(self, "fee_levels_assessed", frozenset(self.fee_levels_assessed))
        credits = self.unreconciled_credits
        if credits and any(type(v) is not Decimal for v in credits.values()):
            normalised = {check_currency(c): to_decimal(v) for c, v in credits.items()}
            object.__setattr__(self, "unreconciled_credits", normalised)


# --- the decision -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """What Duly does for one customer and one step now: ``send``, ``defer`` or ``skip``."""

    kind: ActionKind
    customer_id: CustomerId
    step_code: str
    channel: Channel
    template: str
    tone: Tone
    invoice_ids: tuple[InvoiceId, ...]
    #: The step's side effects (``assess_late_fee``, ``suspend``...); empty for skips.
    actions: tuple[StepAction, ...]
    contact_id: Any
    fallback_reason: str | None
    #: When to send (UTC): the slot it is planned for; for a ``send`` that slot is ``as_of`` or
    #: earlier (today's window is still open). ``None`` for a skip.
    scheduled_for: datetime | None
    reason: str
    idempotency_key: str


class _Clock:
    """The customer's local calendar: time zone, business days, sending window and preferred slot.

    A clock is fixed configuration (time zone, holiday country, window, preferred slot), so its
    answers are memoised on it: the UTC instants of a local day's slot and window end, the local
    date and rendering of a moment and, only without an injected ``is_holiday`` (which may not
    be pure), the business days, why ``now`` is no sending time and the first free slot per
    ``now`` and fatigue floor. Clocks without ``is_holiday`` are shared by every customer of the
    same configuration (:func:`_clock_for`): these answers are computed once per process, not
    once per invoice.
    """

    __slots__ = ("zone", "zone_name", "start", "end", "slot", "slot_source", "country", "is_holiday",
                 "_days", "_business", "_free", "_floored", "_why", "_local", "_today", "_utc_days")

    def __init__(self, snapshot: AccountSnapshot, is_holiday: HolidayCheck | None) -> None:
        self.zone = _zone(snapshot.timezone)
        self.zone_name = snapshot.timezone
        self.start, self.end = snapshot.send_window
        self.slot, self.slot_source = _preferred_slot(snapshot)
        self.country = snapshot.country
        self.is_holiday = is_holiday
        #: local date -> (slot, end of the window), both UTC.
        self._days: dict[date, tuple[datetime, datetime]] = {}
        #: local date -> business day? (only when ``is_holiday`` is None).
        self._business: dict[date, bool] = {}
        #: Keys of the per-moment memos: (moment, its tzinfo, its fold), see :func:`_moment_key`.
        self._free: dict[tuple[datetime, Any, int], datetime] = {}
        self._floored: dict[tuple[Any, ...], datetime] = {}
        self._why: dict[tuple[datetime, Any, int], str | None] = {}
        self._local: dict[tuple[datetime, Any, int], str] = {}
        self._today: dict[tuple[datetime, Any, int], date] = {}
        #: UTC moment -> local date (UTC has no fold: the moment alone is the key).
        self._utc_days: dict[datetime, date] = {}

    def business_day(self, day: date) -> bool:
        if self.is_holiday is not None:
            return is_business_day(day, self.country, self.is_holiday)
        answer = self._business.get(day)
        if answer is None:
            answer = is_business_day(day, self.country, None)
            _remember(self._business, day, answer)
        return answer

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """(preferred slot, end of the window) of the local ``day``, in UTC."""
        window = self._days.get(day)
        if window is None:
            zone = self.zone
            window = (
                datetime.combine(day, self.slot, zone).astimezone(_UTC),
                datetime.combine(day, self.end, zone).astimezone(_UTC),
            )
            _remember(self._days, day, window)
        return window

    def next_slot(self, now: datetime, not_before: datetime | None) -> datetime:
        """The first preferred slot (UTC) on a business day, not before ``not_before``.

        Today's slot counts while today's window is still open, even when the slot hour has passed:
        the message then goes out at once.
        """
        floor = not_before if not_before is not None and not_before > now else None
        if self.is_holiday is not None:
            return self._next_slot(now, floor)
        if floor is None:
            key: tuple[Any, ...] = (now, now.tzinfo, now.fold)
            memo = self._free
        else:
            # The slot may be ``floor`` itself: equal floors of the same tzinfo and fold are the
            # same wall time, so the memoised one is indistinguishable from this one.
            key = (now, now.tzinfo, now.fold, floor, floor.tzinfo, floor.fold)
            memo = self._floored
        slot = memo.get(key)
        if slot is None:
            slot = self._next_slot(now, floor)
            _remember(memo, key, slot)
        return slot

    def _next_slot(self, now: datetime, floor: datetime | None) -> datetime:
        first = day = (floor or now).astimezone(self.zone).date()
        for _ in range(_MAX_CLOSED_RUN):
            if self.business_day(day):
                slot, end = self._window(day)
                if floor is not None and floor > slot:
                    slot = floor
                if slot < end and now < end:
                    return slot
            day += _ONE_DAY
        raise ValidationError(
            f"No business day in the {_MAX_CLOSED_RUN} days from {first.isoformat()}: check the holiday calendar."
        )

    def today(self, now: datetime) -> date:
        """The local date at ``now``."""
        key = (now, now.tzinfo, now.fold)
        day = self._today.get(key)
        if day is None:
            day = now.astimezone(self.zone).date()
            _remember(self._today, key, day)
        return day

    def day_of(self, moment: datetime) -> date:
        """The local date at ``moment``: :meth:`today`, faster for the UTC moments snapshots hold."""
        if moment.tzinfo is not _UTC:
            return self.today(moment)
        day = self._utc_days.get(moment)
        if day is None:
            day = moment.astimezone(self.zone).date()
            _remember(self._utc_days, moment, day)
        return day

    def waiting(self) -> str:
        return f"waiting for the {self.slot_source} {self.slot:%H:%M} {self.zone_name}"

    def local(self, moment: datetime) -> str:
        key = (moment, moment.tzinfo, moment.fold)
        text = self._local.get(key)
        if text is None:
            text = f"{moment.astimezone(self.zone):%a %Y-%m-%d %H:%M} {self.zone_name}"
            _remember(self._local, key, text)
        return text

    def why_not_now(self, now: datetime) -> str | None:
        """Why ``now`` itself is not a sending time, or ``None`` when it is."""
        if self.is_holiday is not None:
            return self._why_not_now(now)
        key = (now, now.tzinfo, now.fold)
        try:
            return self._why[key]
        except KeyError:
            answer = self._why_not_now(now)
            _remember(self._why, key, answer)
            return answer

    def _why_not_now(self, now: datetime) -> str | None:
        local = now.astimezone(self.zone)
        today = local.date()
        if not self.business_day(today):
            if business_calendar(self.country).is_weekend(today):
                return f"{today:%A %Y-%m-%d} is a weekend day"
            where = f" in {self.country}" if self.is_holiday is None and self.country else ""
            return f"{today:%A %Y-%m-%d} is a public holiday{where}"
        if not self.start <= local.time() < self.end:
            return f"outside the sending window {self.start:%H:%M}-{self.end:%H:%M} {self.zone_name}"
        return None


#: Entries kept per memo of a clock, and clocks kept by :func:`_clock_for`; a full memo is emptied.
_MEMO_SIZE = 4096


def _remember(memo: dict, key: Any, value: Any) -> None:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value


_CLOCKS: dict[tuple[Any, ...], _Clock] = {}


def _clock_for(snapshot: AccountSnapshot, is_holiday: HolidayCheck | None) -> _Clock:
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
    clock = _CLOCKS.get(key)
    if clock is None:
        clock = _Clock(snapshot, None)
        _remember(_CLOCKS, key, clock)
    return clock


def _preferred_slot(snapshot: AccountSnapshot) -> tuple[time, str]:
    start, end = snapshot.send_window
    choices = ((snapshot.best_hour, "learned best hour"), (snapshot.segment_default_hour, "segment default hour"))
    for hour, source in choices:
        if hour is None:
            continue
        slot = time(hour)
        if slot < start:
            return start, source
        if slot >= end:
            last_whole_hour = time((end.hour * 60 + end.minute - 1) // 60)
            return max(start, last_whole_hour), source
        return slot, source
    return start, "start of the sending window"


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


def _assign(snapshot: AccountSnapshot, policy: Policy, today: date, clock: _Clock) -> _Assignment:
    compiled = policy._compiled
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
    # Which steps the customer's conditions allow; per step, the latest anchor date that has
    # reached it (today - offset); the memo of each invoice's plan (None with balance conditions).
    allowed, cutoffs, reached = compiled.plan(today, snapshot.segment, snapshot.risk_level, snapshot.payment_method)
    anchor_names = compiled.anchor_names
    by_due = anchor_names == ("due_date",)
    skip = assignment.skip
    if reached is not None and not promises and not disputes and not snapshot.unreconciled_credits:
        # The common case: every item can be chased, no balance condition, no credit to weigh.
        chase = assignment.chase
        for item in items:
            state = sent.get(item.invoice_id)
            memo_key = ((state, item.due_date) if by_due
                        else (state, item.due_date, *[getattr(item, name) for name in anchor_names]))
            plan = reached.get(memo_key)
            if plan is None:
                plan = _plan_item(item, state, allowed, compiled, today)
                _remember_reached(reached, memo_key, plan)
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
    if not promises and not disputes:
        states = [(item, None, None) for item in items]
    else:
        last_day = _last_sent_days(snapshot.reminders, clock.day_of) if promises and snapshot.reminders else {}
        states = []
        for item in items:
            invoice_id = item.invoice_id
            promise = promises.get(invoice_id)
            if invoice_id in disputes:
                states.append((item, "under dispute", None))
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
        if reached is not None and broken is None:
            memo_key = ((state, item.due_date) if by_due
                        else (state, item.due_date, *[getattr(item, name) for name in anchor_names]))
            plan = reached.get(memo_key)
            if plan is None:
                plan = _plan_item(item, state, allowed, compiled, today)
                _remember_reached(reached, memo_key, plan)
        else:
            accept = ((lambda pos, item=item, chaseable=held is None: balance_ok(pos, item, chaseable))
                      if has_balance_conditions else None)
            plan = _plan_item(item, state, allowed, compiled, today, accept, broken is not None)
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


def _describe_item(item: OpenItem, today: date) -> str:
    due = item.due_date
    if type(due) is date and type(today) is date:
        key = (due, today)
        tail = _DUE_TEXT.get(key)
        if tail is None:
            tail = _describe_due(due, today)
            _remember(_DUE_TEXT, key, tail)
        return f"{item.number}{tail}"
    return f"{item.number}{_describe_due(due, today)}"


#: (due date, today) -> " (due ..., N days overdue)", for plain dates only.
_DUE_TEXT: dict[tuple[date, date], str] = {}


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


def _describe_step(step: Step) -> str:
    return f"step {step.code!r} ({_ANCHOR_LABELS[step.anchor]} {step.offset_days:+d} days)"


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


def _fatigue_floor(sent: Sequence[datetime], policy: Policy) -> tuple[datetime | None, str | None]:
    """Earliest next reminder allowed by the policy's fatigue limits, given the sorted send times:
    :func:`_floor_for` with the policy's limits precomputed."""
    if not sent:
        return None, None
    compiled = policy._compiled
    limits = policy.fatigue
    floor: datetime | None = None
    why: str | None = None
    if compiled.min_gap is not None:
        floor = sent[-1] + compiled.min_gap
        why = compiled.gap_why
    most = limits.max_per_window
    if most is not None and len(sent) >= most:
        window_end = sent[-most] + compiled.window
        if floor is None or window_end > floor:
            floor = window_end
            why = compiled.window_why
    return floor, why


def fatigue_allows(sent: Iterable[datetime], limits: FatigueLimits, now: datetime) -> bool:
    """Whether one more message at ``now`` keeps within the contact-fatigue ``limits``, given the
    times of the messages already sent (later ones are ignored): the rule greetings follow too."""
    moment = _as_utc(now, "now")
    past = sorted(s for s in sent if s <= moment)
    gap = timedelta(hours=limits.min_gap_hours) if limits.min_gap_hours is not None else None
    floor, _ = _floor_for(past, limits, gap, timedelta(days=limits.window_days))
    return floor is None or moment >= floor


def _floor_for(sent: Sequence[datetime], limits: FatigueLimits, min_gap: timedelta | None,
               window: timedelta) -> tuple[datetime | None, str | None]:
    if not sent:
        return None, None
    floor: datetime | None = None
    why: str | None = None
    if min_gap is not None:
        floor = sent[-1] + min_gap
        why = f"contact fatigue: at least {limits.min_gap_hours} h between two reminders"
    if limits.max_per_window is not None and len(sent) >= limits.max_per_window:
        window_end = sent[-limits.max_per_window] + window
        if floor is None or window_end > floor:
            floor = window_end
            why = (
                f"contact fatigue: at most {limits.max_per_window} reminders in any {limits.window_days} days"
            )
    return floor, why


def evaluate(
    snapshot: AccountSnapshot,
    policy: Policy,
    as_of: datetime,
    *,
    is_holiday: HolidayCheck | None = None,
) -> list[Action]:
    """What to do for this customer at ``as_of`` (an aware datetime; UTC in results).

    Returns the ``send``/``defer`` actions, highest step first (the order they are spaced out in),
    then the ``skip`` actions. ``is_holiday`` replaces the public holidays of ``snapshot.country``.
    """
    now = _as_utc(as_of, "as_of")
    clock = _clock_for(snapshot, is_holiday)
    today = clock.today(now)
    assignment = _assign(snapshot, policy, today, clock)
    compiled = policy._compiled
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
                    _describe_item(item, today) + (f"; {note}" if note else "") for item, note in entries
                )
            else:
                item, note = entries[0]
                ids = (item.invoice_id,)
                described = _describe_item(item, today) + (f"; {note}" if note else "")
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
        described = ", ".join(_describe_item(item, today) for item in items)
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
        for pos in range(start + 1, len(steps)):
            anchor = getattr(item, anchors[pos])
            if not allowed[pos] or anchor is None:
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


# --- when any message may go out -----------------------------------------------------------------------


def next_send_time(
    moment: datetime,
    timezone: str,
    window: tuple[time, time] = (time(9), time(17)),
    country: str | None = None,
    *,
    is_holiday: HolidayCheck | None = None,
) -> datetime:
    """``moment`` (UTC) when it is inside the sending ``window`` of a business day in the IANA
    ``timezone``, else the opening of the next such window: the rule every message follows
    (reminders, thank-yous, greetings, notices, answers), also when a retry comes late."""
    now = _as_utc(moment, "moment")
    zone = _zone(timezone)
    start, end = window
    if not (isinstance(start, time) and isinstance(end, time)) or not start < end:
        raise ValidationError(f"The sending window must be two local times, start before end, got {window!r}.")
    day = now.astimezone(zone).date()
    for _ in range(_MAX_CLOSED_RUN):
        if is_business_day(day, country, is_holiday):
            closes = datetime.combine(day, end, zone).astimezone(_UTC)
            if now < closes:
                return max(now, datetime.combine(day, start, zone).astimezone(_UTC))
        day += _ONE_DAY
    raise ValidationError(f"No business day in the {_MAX_CLOSED_RUN} days from {now.date().isoformat()}.")


def yearly_occurrence(year: int, month: int, day: int) -> date:
    """The date of a yearly occasion in ``year`` (29 February is the 28th in other years)."""
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, 28)


def greeting_day(month: int, day: int, today: date, grace_days: int = 3) -> date | None:
    """The occurrence of a yearly occasion (birthday, anniversary, special date) that ``today``
    (the customer's local date) may still greet: on the day or within ``grace_days`` after it
    (when the day itself was a weekend, a holiday or outside the window). ``None`` otherwise."""
    for year in (today.year, today.year - 1):
        on = yearly_occurrence(year, month, day)
        if on <= today <= on + timedelta(days=grace_days):
            return on
    return None


def sla_missed(sla_due_on: date, answered_on: date | None, today: date) -> bool:
    """A query's answer is late when given after the SLA day, or still missing after it. Both
    dates are local dates of the organization (the SLA day is one)."""
    if answered_on is not None:
        return answered_on > sla_due_on
    return today > sla_due_on


def promise_outcome(promise: Promise, paid_since: Decimal, today: date) -> Literal["kept", "running", "broken"]:
    """``kept`` once ``paid_since`` (paid on its invoices since the promise) reaches the promised
    amount; else ``running`` until the promised date (inclusive), then ``broken``."""
    if paid_since >= promise.amount:
        return "kept"
    return "running" if promise.promised_date >= today else "broken"


# --- learning the best hour ---------------------------------------------------------------------------


def learn_best_hour(events: Sequence[datetime], timezone: str) -> int | None:
    """The most frequent local hour of ``events`` (payments or opens after reminders); ties go to
    the earliest hour. ``None`` with fewer than 3 events."""
    zone = _zone(timezone)
    for event in events:
        _check_aware(event, "event")
    if len(events) < 3:
        return None
    counts = Counter(event.astimezone(zone).hour for event in events)
    return min(counts, key=lambda hour: (-counts[hour], hour))


# --- choosing the policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToneThresholds:
    """Share of late invoices, in percent: below ``gentle_below`` gentle, above ``firm_above`` firm,
    neutral in between (both bounds included)."""

    gentle_below: Decimal | int = 25
    firm_above: Decimal | int = 50

    def __post_init__(self) -> None:
        low, high = to_decimal(self.gentle_below), to_decimal(self.firm_above)
        if not ZERO <= low <= high <= 100:
            raise ValidationError(
                f"Tone thresholds must satisfy 0 <= gentle_below <= firm_above <= 100, got {low} and {high}."
            )
        object.__setattr__(self, "gentle_below", low)
        object.__setattr__(self, "firm_above", high)


@dataclass(frozen=True)
class CustomerProfile:
    """What policy choice needs to know about a customer."""

    customer_id: CustomerId
    segment: str | None = None
    #: A policy set explicitly on the customer: it always wins.
    policy_code: str | None = None


@dataclass(frozen=True)
class InvoiceRecord:
    """One past invoice of the customer, for the tone rule."""

    invoice_id: InvoiceId
    issue_date: date
    due_date: date
    #: When it was paid in full; ``None`` while unpaid.
    paid_date: date | None = None


@dataclass(frozen=True)
class PolicyChoice:
    policy: Policy
    reason: str
    #: The tone the history gave, when the tone rule decided.
    tone: Tone | None = None


def tone_for_history(late_count: int, total_count: int, thresholds: ToneThresholds = ToneThresholds()) -> Tone:
    """gentle / neutral / firm from the share of late invoices; ``neutral`` without history."""
    for name, value in (("late_count", late_count), ("total_count", total_count)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(f"{name} must be a non-negative integer, got {value!r}.")
    if late_count > total_count:
        raise ValidationError(f"late_count {late_count} exceeds total_count {total_count}.")
    if total_count == 0:
        return "neutral"
    late_percent_times_total = late_count * 100
    if late_percent_times_total < thresholds.gentle_below * total_count:
        return "gentle"
    if late_percent_times_total > thresholds.firm_above * total_count:
        return "firm"
    return "neutral"


_DEFAULT_TONE_POLICIES: Mapping[str, str] = MappingProxyType({"gentle": "gentle", "neutral": "neutral", "firm": "firm"})


def choose_policy(
    customer: CustomerProfile,
    policies: Sequence[Policy] | Mapping[str, Policy],
    history: Sequence[InvoiceRecord],
    as_of: date,
    thresholds: ToneThresholds = ToneThresholds(),
    *,
    segment_policies: Mapping[str, str] | None = None,
    tone_policies: Mapping[str, str] = _DEFAULT_TONE_POLICIES,
) -> PolicyChoice:
    """The customer's explicit policy; else the one mapped to its segment (``segment_policies``);
    else the tone rule over the invoices issued in the 12 months up to ``as_of``, the tone naming
    a policy through ``tone_policies`` (by default a policy whose code is the tone).

    An invoice counts as late when paid after its due date, or unpaid past its due date; unpaid
    invoices not due yet are not counted. A reference to an unknown policy is an error.
    """
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    by_code = dict(policies) if isinstance(policies, Mapping) else {p.code: p for p in policies}

    def pick(code: str, source: str) -> Policy:
        policy = by_code.get(code)
        if policy is None:
            raise InvalidDunningPolicy(
                f"Customer {customer.customer_id}: {source} names unknown dunning policy {code!r}.", policy=code
            )
        return policy

    if customer.policy_code:
        code = customer.policy_code
        return PolicyChoice(pick(code, "its explicit policy"), f"policy {code!r} set on the customer")
    if segment_policies and customer.segment in segment_policies:
        code = segment_policies[customer.segment]
        segment = customer.segment
        return PolicyChoice(pick(code, f"segment {segment!r}"), f"policy {code!r} of segment {segment!r}")
    since = as_of - relativedelta(months=12)
    late = total = 0
    for record in history:
        if not since < record.issue_date <= as_of:
            continue
        if record.paid_date is not None:
            total += 1
            late += record.paid_date > record.due_date
        elif record.due_date < as_of:
            total += 1
            late += 1
    tone = tone_for_history(late, total, thresholds)
    code = tone_policies.get(tone)
    if code is None:
        raise InvalidDunningPolicy(f"No dunning policy configured for tone {tone!r}.", tone=tone)
    if total:
        share = (Decimal(late * 100) / total).quantize(Decimal("0.1"))
        reason = f"tone rule: {late} of {total} invoices of the last 12 months paid late ({share}%) -> {tone}"
    else:
        reason = f"tone rule: no invoices to judge in the last 12 months -> {tone}"
    return PolicyChoice(pick(code, f"tone {tone!r}"), reason, tone)


# --- the collector's worklist -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WorklistEntry:
    """One customer on the collector's worklist."""

    customer_id: CustomerId
    #: Open amount past due, per currency (never summed across currencies).
    overdue: Mapping[str, Decimal]
    oldest_days_overdue: int | None
    last_contact: datetime | None
    next_step: str | None
    #: When the next step is planned (UTC): now or a deferred slot, or a future step's first slot.
    next_step_at: datetime | None
    open_disputes: tuple[InvoiceId, ...]
    #: Promises to pay still running.
    promises: tuple[Promise, ...]


def worklist_entry(
    snapshot: AccountSnapshot, policy: Policy, as_of: datetime, *, is_holiday: HolidayCheck | None = None
) -> WorklistEntry:
    """Per-customer summary: overdue totals, oldest days overdue, last contact, next planned step,
    open disputes and running promises."""
    now = _as_utc(as_of, "as_of")
    clock = _clock_for(snapshot, is_holiday)
    today = now.astimezone(clock.zone).date()
    open_items = [i for i in snapshot.open_items if i.status in _OPEN_STATUSES and i.open_amount > 0]

    overdue: dict[str, Decimal] = {}
    oldest: int | None = None
    for item in open_items:
        days = (today - item.due_date).days
        if days > 0:
            overdue[item.currency] = overdue.get(item.currency, ZERO) + item.open_amount
            oldest = days if oldest is None else max(oldest, days)
    last_contact = max((r.sent_at for r in snapshot.reminders), default=None)

    next_step: str | None = None
    next_at: datetime | None = None
    planned = [a for a in evaluate(snapshot, policy, now, is_holiday=is_holiday) if a.kind != "skip"]
    if planned:
        first = min(planned, key=lambda a: a.scheduled_for)
        next_step, next_at = first.step_code, first.scheduled_for
    else:
        next_step, next_at = _project_next_step(snapshot, policy, now, today, clock)

    running = tuple(
        sorted(
            (p for p in snapshot.promises if p.promised_date >= today), key=lambda p: (p.promised_date, p.created_at)
        )
    )
    open_ids = {i.invoice_id for i in open_items}
    return WorklistEntry(
        customer_id=snapshot.customer_id,
        overdue=MappingProxyType(dict(sorted(overdue.items()))),
        oldest_days_overdue=oldest,
        last_contact=last_contact.astimezone(_UTC) if last_contact else None,
        next_step=next_step,
        next_step_at=next_at,
        open_disputes=_sorted_ids(i for i in snapshot.disputes if i in open_ids),
        promises=running,
    )


def _project_next_step(
    snapshot: AccountSnapshot, policy: Policy, now: datetime, today: date, clock: _Clock
) -> tuple[str | None, datetime | None]:
    """The first future step of a chaseable invoice and its first sending slot.

    A projection: each invoice's next step, on the day it is ready (its own date, and its wait
    after the delivery of the step before it, a reminder still on its way counted as delivered
    when sent); a step's minimum balance is checked against the customer's whole chaseable
    balance in the currency, and invoices under dispute or promise are left out.
    """
    compiled = policy._compiled
    steps = compiled.steps
    sent, _ = _sent_index(snapshot.reminders, compiled.position, compiled.final_flags, clock,
                          assume_delivered=True)
    promises = _latest_promises(snapshot.promises)
    chaseable = [
        i
        for i in snapshot.open_items
        if i.status in _OPEN_STATUSES
        and i.open_amount > 0
        and i.invoice_id not in snapshot.disputes
        and not (i.invoice_id in promises and promises[i.invoice_id].promised_date >= today)
    ]
    balance: dict[str, Decimal] = {}
    for item in chaseable:
        balance[item.currency] = balance.get(item.currency, ZERO) + item.open_amount
    allowed = compiled.allowed(snapshot.segment, snapshot.risk_level, snapshot.payment_method)
    best: tuple[date, int] | None = None
    for item in chaseable:

        def accept(pos: int, currency: str = item.currency) -> bool:
            threshold = steps[pos].conditions.threshold(currency)
            return threshold is not None and balance[currency] >= threshold

        _, nxt, ready, _, _ = _plan_item(item, sent.get(item.invoice_id), allowed, compiled, today, accept)
        if nxt is not None and ready is not None and ready > today:
            if best is None or (ready, -nxt) < (best[0], -best[1]):
                best = (ready, nxt)
    if best is None:
        return None, None
    on, pos = best
    start_of_day = datetime.combine(on, time(0), clock.zone).astimezone(_UTC)
    floor, _ = _fatigue_floor(sorted([r.sent_at for r in snapshot.reminders] + list(snapshot.other_messages)), policy)
    return steps[pos].code, clock.next_slot(max(now, start_of_day), floor)
