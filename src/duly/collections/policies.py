"""Dunning policies: the shipped defaults, loading an organization's policies, YAML form.

Three tone policies ship with Duly (``gentle``, ``neutral``, ``firm``) and a ``hotel`` policy that
reminds guests before the stay date. The tone rule picks one of the three from the customer's
payment history (see :func:`duly.domain.dunning.choose_policy`). An organization edits them in
admin, or exports them to YAML, edits the file and imports it back; the YAML is validated by
:func:`duly.domain.dunning.policy_from_dict` before anything is written.

YAML format (one file, any number of policies)::

    policies:
      - code: firm
        name: Firm
        fatigue: {max_per_window: 2, window_days: 7, min_gap_hours: 48}
        restore_days: 14
        steps:
          - {code: overdue, order: 1, offset_days: 1, tone: firm, template: reminder_firm}
          - {code: fee, order: 2, offset_days: 7, tone: firm, template: reminder_firm,
             actions: [assess_late_fee]}

Escalation goes one step at a time: a step comes on its own date, and after an earlier chasing step
only once that step reached the customer and the time between the two steps' dates has passed
since. A step that suspends or terminates needs a final notice (a step with the ``final_notice``
action) before it, or the policy is refused. A step may ask to come on its own date whatever was
sent before (``whatever_sent: true``, e.g. "hand over after 90 days"); no shipped policy does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from duly.domain import dunning
from duly.domain.errors import InvalidDunningPolicy

DEFAULT_RESTORE_DAYS = 14


def _step(code: str, order: int, offset: int, template: str, tone: str, *, actions: tuple[str, ...] = (),
          channel: str = "email", anchor: str = "due_date") -> dict[str, Any]:
    return {"code": code, "order": order, "offset_days": offset, "anchor": anchor, "channel": channel,
            "template": template, "tone": tone, "actions": list(actions)}


#: The shipped policies, in :func:`duly.domain.dunning.policy_to_dict` form (+ ``restore_days``).
DEFAULT_POLICIES: tuple[dict[str, Any], ...] = (
    {
        "code": "gentle", "name": "Gentle (reliable payers)", "restore_days": DEFAULT_RESTORE_DAYS,
        "fatigue": {"max_per_window": 2, "window_days": 7, "min_gap_hours": 48},
        "steps": [
            _step("coming_due", 1, -3, "coming_due", "gentle"),
            _step("overdue", 2, 3, "reminder_gentle", "gentle"),
            _step("reminder", 3, 14, "reminder_neutral", "neutral"),
            _step("firm", 4, 30, "reminder_firm", "firm", actions=("assess_late_fee",)),
            _step("final_notice", 5, 45, "final_notice", "firm", actions=("final_notice",)),
            _step("call", 6, 52, "final_notice", "firm", channel="phone_task"),
        ],
    },
    {
        "code": "neutral", "name": "Neutral", "restore_days": DEFAULT_RESTORE_DAYS,
        "fatigue": {"max_per_window": 2, "window_days": 7, "min_gap_hours": 48},
        "steps": [
            _step("coming_due", 1, -3, "coming_due", "gentle"),
            _step("overdue", 2, 1, "reminder_neutral", "neutral"),
            _step("reminder", 3, 10, "reminder_neutral", "neutral"),
            _step("fee", 4, 21, "reminder_firm", "firm", actions=("assess_late_fee",)),
            _step("final_notice", 5, 30, "final_notice", "firm", actions=("final_notice",)),
            _step("suspend", 6, 40, "suspension_notice", "firm", actions=("suspend",)),
            _step("terminate", 7, 60, "termination_letter", "firm", actions=("terminate",)),
        ],
    },
    {
        "code": "firm", "name": "Firm (chronic late payers)", "restore_days": DEFAULT_RESTORE_DAYS,
        "fatigue": {"max_per_window": 2, "window_days": 7, "min_gap_hours": 48},
        "steps": [
            _step("coming_due", 1, -5, "coming_due", "neutral"),
            _step("overdue", 2, 1, "reminder_firm", "firm"),
            _step("fee", 3, 7, "reminder_firm", "firm", actions=("assess_late_fee",)),
            _step("final_notice", 4, 14, "final_notice", "firm", actions=("final_notice",)),
            _step("suspend", 5, 21, "suspension_notice", "firm", actions=("suspend",)),
            _step("terminate", 6, 35, "termination_letter", "firm", actions=("terminate",)),
        ],
    },
    {
        "code": "hotel", "name": "Hotel guests (before the stay)", "restore_days": DEFAULT_RESTORE_DAYS,
        "fatigue": {"max_per_window": 2, "window_days": 7, "min_gap_hours": 48},
        "steps": [
            _step("before_stay", 1, -7, "service_date_reminder", "gentle", anchor="service_date"),
            _step("overdue", 2, 1, "reminder_neutral", "neutral"),
            _step("final_notice", 3, 14, "final_notice", "firm", actions=("final_notice",)),
        ],
    },
)
TONE_CODES = ("gentle", "neutral", "firm")


@dataclass(frozen=True)
class PolicySpec:
    """A validated policy from YAML or admin: the pure policy plus Duly's own extra field."""

    policy: dunning.Policy
    restore_days: int = DEFAULT_RESTORE_DAYS

    def as_dict(self) -> dict[str, Any]:
        data = dunning.policy_to_dict(self.policy)
        data["restore_days"] = self.restore_days
        return data


def spec_from_dict(data: Mapping[str, Any]) -> PolicySpec:
    """Validate one policy mapping (``restore_days`` is Duly's; the rest goes to the domain)."""
    if not isinstance(data, Mapping):
        raise InvalidDunningPolicy(f"Each policy must be a mapping, got {type(data).__name__}.")
    body = dict(data)
    restore = body.pop("restore_days", DEFAULT_RESTORE_DAYS)
    if not isinstance(restore, int) or isinstance(restore, bool) or restore < 0:
        raise InvalidDunningPolicy(f"Policy {body.get('code')!r}: restore_days must be a whole number of days.")
    return PolicySpec(policy=dunning.policy_from_dict(body), restore_days=restore)


def default_specs() -> dict[str, PolicySpec]:
    return {p["code"]: spec_from_dict(p) for p in DEFAULT_POLICIES}


def parse_yaml(text: str) -> list[PolicySpec]:
    """Policies from a YAML document (``policies: [...]``, or a bare list, or one policy)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidDunningPolicy(f"The policy file is not valid YAML{where}: {problem}") from None
    if isinstance(data, Mapping) and "policies" in data:
        data = data["policies"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InvalidDunningPolicy("The policy file must contain a list of policies under 'policies:'.")
    specs = [spec_from_dict(item) for item in data]
    codes = [s.policy.code for s in specs]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise InvalidDunningPolicy(f"The policy file defines {', '.join(duplicates)} more than once.")
    return specs


def dump_yaml(specs: list[PolicySpec]) -> str:
    return yaml.safe_dump({"policies": [s.as_dict() for s in specs]}, sort_keys=False, allow_unicode=True)
