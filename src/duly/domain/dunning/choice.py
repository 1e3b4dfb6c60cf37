"""Choosing a customer's dunning policy: explicit, by segment, or by the tone of its payment history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence  # isinstance against typing.Mapping is slow (a run asks per customer)
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType

from dateutil.relativedelta import relativedelta

from ..errors import InvalidDunningPolicy, ValidationError
from ..money import ZERO, to_decimal
from .policy import CustomerId, InvoiceId, Policy, Tone


# --- choosing the policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToneThresholds:
    """Share of late invoices, in percent: below ``gentle_below`` gentle, above ``firm_above`` firm,
    neutral in between (both bounds included).

    ``firm_from_probability`` (0-1, ``None``: off): a customer with an open invoice predicted at least this
    likely to be paid late (the late-payment prediction, issue 17) is firm whatever its history says."""

    gentle_below: Decimal | int = 25
    firm_above: Decimal | int = 50
    firm_from_probability: Decimal | None = None

    def __post_init__(self) -> None:
        low, high = to_decimal(self.gentle_below), to_decimal(self.firm_above)
        if not ZERO <= low <= high <= 100:
            raise ValidationError(
                f"Tone thresholds must satisfy 0 <= gentle_below <= firm_above <= 100, got {low} and {high}."
            )
        object.__setattr__(self, "gentle_below", low)
        object.__setattr__(self, "firm_above", high)
        if self.firm_from_probability is not None:
            p = to_decimal(self.firm_from_probability)
            if not ZERO < p <= 1:
                raise ValidationError(f"A late-payment probability threshold is above 0 and at most 1, got {p}.")
            object.__setattr__(self, "firm_from_probability", p)


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


def _percent(p: Decimal) -> str:
    return f'{(to_decimal(p) * 100).quantize(Decimal("0.1")).normalize():f}'


@lru_cache(maxsize=256)
def _year_before(day: date) -> date:
    """``day`` minus 12 calendar months (a run asks for the same few days for every customer)."""
    return day - relativedelta(months=12)


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
    late_probability: Decimal | None = None,
) -> PolicyChoice:
    """The customer's explicit policy; else the one mapped to its segment (``segment_policies``);
    else the tone rule over the invoices issued in the 12 months up to ``as_of``, the tone naming
    a policy through ``tone_policies`` (by default a policy whose code is the tone).

    An invoice counts as late when paid after its due date, or unpaid past its due date; unpaid
    invoices not due yet are not counted. A reference to an unknown policy is an error.

    ``late_probability``: the highest predicted probability that one of the customer's open invoices is paid
    late (``None``: none scored). From ``thresholds.firm_from_probability`` on, the tone rule says firm.
    """
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    by_code = policies if type(policies) is dict else dict(policies) if isinstance(policies, Mapping) else {
        p.code: p for p in policies}  # a dict is only read here: no copy

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
    since = _year_before(as_of)
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
    tone = history_tone = tone_for_history(late, total, thresholds)
    predicted = ""
    limit = thresholds.firm_from_probability
    if limit is not None and late_probability is not None and late_probability >= limit and tone != "firm":
        tone = "firm"
        predicted = (f"; but an open invoice is predicted {_percent(late_probability)}% likely to be paid late "
                     f"(firm from {_percent(limit)}%) -> firm")
    code = tone_policies.get(tone)
    if code is None:
        raise InvalidDunningPolicy(f"No dunning policy configured for tone {tone!r}.", tone=tone)
    if total:
        share = (Decimal(late * 100) / total).quantize(Decimal("0.1"))
        reason = f"tone rule: {late} of {total} invoices of the last 12 months paid late ({share}%)"
    else:
        reason = "tone rule: no invoices to judge in the last 12 months"
    reason += f" -> {history_tone}{predicted}"
    return PolicyChoice(pick(code, f"tone {tone!r}"), reason, tone)
