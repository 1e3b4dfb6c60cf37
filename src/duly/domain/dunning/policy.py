"""Dunning policies as data: steps, their conditions, contact-fatigue limits, and their dict form.

A :class:`Policy` is ordered :class:`Step` records, each ``offset_days`` from an anchor date of the
invoice; :func:`policy_to_dict` / :func:`policy_from_dict` give a JSON/YAML-safe form. The names
shared by every module of the package (literal types and constants) are defined here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Callable, Final, Iterable, Literal, Mapping, Sequence

from ..errors import InvalidDunningPolicy, ValidationError
from ..money import ZERO, check_currency, to_decimal

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


def _str_tuple(value: Iterable[str] | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise _policy_error(f"{what} must be a list of strings, got {value!r}.")
    result = tuple(value)
    if not result:
        raise _policy_error(f"{what} is empty: use None (omit it) to allow any value.")
    return result


# --- policies -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepConditions:
    """When a step applies; ``None`` means "any".

    ``min_balance`` is either one amount, compared with the balance of each currency on its own,
    or a mapping ``currency -> amount``; with a mapping, a currency it does not list never reaches
    the step. The balance compared is the open amount, in that currency, of the customer's
    invoices that can be chased (not disputed, no running promise) and have reached the step.

    ``min_late_probability`` (0-1) is a condition on each invoice: the step applies only to the invoices whose
    predicted probability of being paid late (``OpenItem.late_probability``, from the late-payment model) is at
    least this; an invoice without a prediction does not meet it. E.g. an earlier "coming due" note for the
    invoices likely to be paid late.
    """

    min_balance: Decimal | Mapping[str, Decimal] | None = None
    segments: tuple[str, ...] | None = None
    risk_levels: tuple[str, ...] | None = None
    payment_methods: tuple[str, ...] | None = None
    min_late_probability: Decimal | None = None

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
        if self.min_late_probability is not None:
            try:
                probability = to_decimal(self.min_late_probability)
            except ValidationError as err:
                raise _policy_error(f"min_late_probability: {err.message}") from None
            if not ZERO <= probability <= 1:
                raise _policy_error(f"min_late_probability must be between 0 and 1, got {probability}.")
            object.__setattr__(self, "min_late_probability", probability)

    def __hash__(self) -> int:
        balance = self.min_balance
        if isinstance(balance, Mapping):
            balance = tuple(balance.items())
        return hash((balance, self.segments, self.risk_levels, self.payment_methods, self.min_late_probability))

    def matches_invoice(self, late_probability: Decimal | None) -> bool:
        """The invoice-level condition: the predicted probability of paying late reaches ``min_late_probability``."""
        threshold = self.min_late_probability
        return threshold is None or (late_probability is not None and late_probability >= threshold)

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
    """Per-policy precomputation, made once with the policy (steps ascending by order).

    Immutable: what evaluations remember about a policy (allowed steps per customer, cutoffs and
    step-reached memos per day) lives in the run's :class:`~duly.domain.dunning.Evaluator`.
    """

    steps: tuple[Step, ...]
    anchors: tuple[str, ...]
    deltas: tuple[timedelta, ...]
    position: Mapping[str, int]
    has_balance_conditions: bool
    #: Fatigue limits as timedeltas (``None``: no limit).
    min_gap: timedelta | None
    window: timedelta
    #: The anchors the steps use, each once, in step order.
    anchor_names: tuple[str, ...] = ()
    #: Per step, its description in reasons (:func:`_describe_step`).
    descriptions: tuple[str, ...] = ()
    #: The reasons :func:`~duly.domain.dunning.clock._floor_for` gives for the policy's two fatigue limits.
    gap_why: str | None = None
    window_why: str | None = None
    #: Positions of the ``whatever_sent`` steps, highest first.
    explicit: tuple[int, ...] = ()
    #: Per step: it carries ``final_notice``; it suspends or terminates (needs a final notice
    #: delivered first); it does something the final notice announces (suspend, terminate, hand over).
    final_flags: tuple[bool, ...] = ()
    needs_final: tuple[bool, ...] = ()
    consequence: tuple[bool, ...] = ()
    #: Some step has an invoice-level condition (``min_late_probability``): see :meth:`item_allowed`.
    has_invoice_conditions: bool = False

    def allowed(self, segment: str | None, risk_level: str | None, payment_method: str | None) -> tuple[bool, ...]:
        """Per step, whether its customer conditions hold for this segment, risk level and payment method."""
        return tuple(s.conditions.matches_customer(segment, risk_level, payment_method) for s in self.steps)

    def item_allowed(self, allowed: tuple[bool, ...], late_probability: Decimal | None) -> tuple[bool, ...]:
        """``allowed`` (the customer's) less the steps whose invoice-level condition this invoice does not meet."""
        if not self.has_invoice_conditions:
            return allowed
        return tuple(a and s.conditions.matches_invoice(late_probability) for a, s in zip(allowed, self.steps))


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
            anchor_names=tuple(dict.fromkeys(s.anchor for s in steps)),
            descriptions=tuple(_describe_step(s) for s in steps),
            gap_why=f"contact fatigue: at least {self.fatigue.min_gap_hours} h between two reminders",
            window_why=(f"contact fatigue: at most {self.fatigue.max_per_window} reminders in any"
                        f" {self.fatigue.window_days} days"),
            explicit=tuple(i for i in range(len(steps) - 1, -1, -1) if steps[i].whatever_sent),
            final_flags=tuple("final_notice" in s.actions for s in steps),
            needs_final=tuple(bool(_NEEDS_FINAL.intersection(s.actions)) for s in steps),
            consequence=tuple(bool(_ANNOUNCED.intersection(s.actions)) for s in steps),
            has_invoice_conditions=any(s.conditions.min_late_probability is not None for s in steps),
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
_CONDITION_KEYS = ("min_balance", "segments", "risk_levels", "payment_methods", "min_late_probability")
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
        if c.min_late_probability is not None:
            conditions["min_late_probability"] = str(c.min_late_probability)
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


def _describe_step(step: Step) -> str:
    return f"step {step.code!r} ({_ANCHOR_LABELS[step.anchor]} {step.offset_days:+d} days)"
