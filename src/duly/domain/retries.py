"""Retries of failed automatic payments, as data, decided purely.

A failed charge (card) or a returned or rejected direct debit (SEPA R-transaction) carries a code.
:func:`classify` reads it as a :class:`Decline`: *hard* (the issuer or the debtor's bank will never
accept this method again: stolen card, closed account, revoked mandate) or *soft* (not now:
insufficient funds, a processing error). :func:`decide` then says, from the attempts so far, an
explicit ``as_of``, the customer's business-day calendar and their sending window, what happens
next:

- ``retry``: try again at ``retry_at`` (a business day of the customer, inside their window);
  chasing is paused meanwhile;
- ``new_method``: a hard decline the customer can fix: stop and ask them for another method;
- ``review``: a hard decline caused by the creditor's own data or files (duplicate, wrong format,
  unknown creditor): stop, tell staff, do not bother the customer;
- ``give_up``: the schedule is spent (or the next slot would fall outside it): chasing resumes;
- ``wait``: an attempt is still pending (a debit presented, a charge processing); chasing waits;
- ``none``: the last attempt succeeded.

Sources of the classification
    Cards: Stripe's table of decline codes (docs.stripe.com/declines/codes), whose "next steps" column
    says for the hard ones that the customer must use another card or call their issuer and must not
    be retried (``do_not_try_again``, ``lost_card``, ``stolen_card``, ``pickup_card``, ``fraudulent``...),
    and for the soft ones that the payment can be attempted again (``insufficient_funds``,
    ``processing_error``, ``try_again_later``, ``issuer_not_available``, ``approve_with_id``...). The card
    networks make the same split (Visa's "issuer will never approve" versus "cannot approve at this
    time" response categories). ``do_not_honor`` and ``generic_decline`` give no reason and are treated
    as soft, like an unknown card code: the schedule bounds how often they are tried.
    SEPA: the ISO 20022 external reason codes as used by the EPC's "Guidance on reason codes for SDD
    R-transactions" (EPC173-14). Only AM04 (insufficient funds) and MS03 (reason not specified, bank
    generated) may be re-presented, at most twice (the issue's rule; a re-presentation is a new
    collection that must itself be pre-notified). Every other code is hard: the debtor's account is
    wrong, closed or blocked (AC01, AC04, AC06, AC13, AG01, DNOR, RC01), there is no valid mandate or
    the debtor refused or refunded (MD01, MS02, MD06, MD07, SL01), or the creditor's file or data is
    wrong (AM05, AG02, BE05, CNOR, FF01, MD02, RR01-RR04).

Nothing here reads the clock: every rule takes ``as_of`` (an aware datetime).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Literal, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calendar import HolidayCalendar
from .errors import ValidationError

__all__ = [
    "Action",
    "Attempt",
    "CARD_DECLINES",
    "CARD_SCHEDULE",
    "Category",
    "Decline",
    "Fault",
    "Rail",
    "RetryDecision",
    "RetrySchedule",
    "SEPA_REASONS",
    "SEPA_SCHEDULE",
    "SendWindow",
    "classify",
    "decide",
]


class Rail(str, Enum):
    """How the money is taken: a card (or wallet) charge, or a SEPA direct debit."""

    CARD = "card"
    SEPA = "sepa"


class Category(str, Enum):
    HARD = "hard"
    SOFT = "soft"


class Fault(str, Enum):
    """Who can fix a hard decline: the customer (another method) or the creditor (its own data)."""

    CUSTOMER = "customer"
    CREDITOR = "creditor"
    NONE = "none"  # soft declines: nobody needs to do anything before the retry


class Action(str, Enum):
    RETRY = "retry"
    NEW_METHOD = "new_method"
    REVIEW = "review"
    GIVE_UP = "give_up"
    WAIT = "wait"
    NONE = "none"


@dataclass(frozen=True)
class Decline:
    """One decline reason: the provider's (or bank's) code, its category and who can fix it."""

    rail: Rail
    code: str
    category: Category
    fault: Fault
    #: Plain English description (the customer's language is the messaging layer's business).
    description: str

    @property
    def hard(self) -> bool:
        return self.category is Category.HARD


def _h(description: str, fault: Fault = Fault.CUSTOMER) -> tuple[Category, Fault, str]:
    return Category.HARD, fault, description


def _s(description: str) -> tuple[Category, Fault, str]:
    return Category.SOFT, Fault.NONE, description


#: Stripe decline codes (``decline_code``, or ``code`` for ``expired_card``, ``incorrect_cvc``,
#: ``processing_error``...), see the module docstring for the source.
CARD_DECLINES: Mapping[str, tuple[Category, Fault, str]] = MappingProxyType({
    # Hard: the issuer will never approve this card for this merchant.
    "stolen_card": _h("the card was reported stolen"),
    "lost_card": _h("the card was reported lost"),
    "pickup_card": _h("the issuer asked for the card to be retained"),
    "restricted_card": _h("the card cannot be used for this payment"),
    "expired_card": _h("the card has expired"),
    "incorrect_number": _h("the card number is wrong"),
    "invalid_number": _h("the card number is wrong"),
    "invalid_account": _h("the card or its account is invalid"),
    "invalid_expiry_month": _h("the expiry date is wrong"),
    "invalid_expiry_year": _h("the expiry date is wrong"),
    "incorrect_cvc": _h("the security code is wrong"),
    "invalid_cvc": _h("the security code is wrong"),
    "card_not_supported": _h("the card does not support this kind of payment"),
    "currency_not_supported": _h("the card does not support this currency"),
    "transaction_not_allowed": _h("the card does not allow this payment"),
    "not_permitted": _h("the card does not allow this payment"),
    "service_not_allowed": _h("the card does not allow this payment"),
    "do_not_try_again": _h("the issuer asked not to try again"),
    "fraudulent": _h("the issuer suspects fraud"),
    "merchant_blacklist": _h("the payment was blocked"),
    "security_violation": _h("the issuer refused the payment"),
    "stop_payment_order": _h("the cardholder stopped this payment"),
    "revocation_of_authorization": _h("the cardholder revoked the authorisation for this merchant"),
    "revocation_of_all_authorizations": _h("the cardholder revoked all authorisations"),
    "new_account_information_available": _h("the card was replaced: new card details are needed"),
    "authentication_required": _h("the bank asks the cardholder to confirm this payment"),
    "pin_try_exceeded": _h("too many wrong PIN entries"),
    "incorrect_pin": _h("the PIN is wrong"),
    "invalid_pin": _h("the PIN is wrong"),
    "offline_pin_required": _h("the card needs a PIN"),
    "online_or_offline_pin_required": _h("the card needs a PIN"),
    "testmode_decline": _h("a test card was used for a live payment", Fault.CREDITOR),
    "invalid_amount": _h("the amount was refused", Fault.CREDITOR),
    "duplicate_transaction": _h("an identical payment was just made", Fault.CREDITOR),
    # Soft: the issuer cannot approve now; a later attempt may succeed.
    "insufficient_funds": _s("the account had insufficient funds"),
    "card_velocity_exceeded": _s("the card's spending limit was reached"),
    "withdrawal_count_limit_exceeded": _s("the card's spending limit was reached"),
    "processing_error": _s("an error occurred while processing the card"),
    "try_again_later": _s("the issuer asked to try again later"),
    "issuer_not_available": _s("the issuer could not be reached"),
    "reenter_transaction": _s("the issuer could not process the payment"),
    "approve_with_id": _s("the payment could not be authorised"),
    "no_action_taken": _s("the issuer declined for an unknown reason"),
    "call_issuer": _s("the issuer declined for an unknown reason"),
    "do_not_honor": _s("the issuer declined for an unknown reason"),
    "generic_decline": _s("the issuer declined for an unknown reason"),
    "card_declined": _s("the issuer declined for an unknown reason"),
})

#: SEPA R-transaction reason codes (ISO 20022 ExternalStatusReason / ExternalReturnReason codes as the
#: EPC guidance EPC173-14 uses them).
SEPA_REASONS: Mapping[str, tuple[Category, Fault, str]] = MappingProxyType({
    "AM04": _s("insufficient funds on the debtor's account"),
    "MS03": _s("reason not specified (bank generated)"),
    "AC01": _h("the account number (IBAN) is wrong"),
    "AC04": _h("the account is closed"),
    "AC06": _h("the account is blocked"),
    "AC13": _h("the account is a consumer account, which a B2B debit cannot use"),
    "AG01": _h("direct debits are forbidden on this account"),
    "DNOR": _h("the debtor's bank does not take SEPA direct debits"),
    "RC01": _h("the bank identifier (BIC) is wrong"),
    "MD01": _h("no valid mandate: not given, or revoked"),
    "MD06": _h("the debtor asked for a refund"),
    "MD07": _h("the debtor is deceased"),
    "MS02": _h("the debtor refused the debit"),
    "SL01": _h("the debtor's bank blocks debits from this creditor"),
    "AM05": _h("duplicate collection", Fault.CREDITOR),
    "AG02": _h("wrong operation code in the file", Fault.CREDITOR),
    "BE05": _h("the creditor identifier is not recognised", Fault.CREDITOR),
    "CNOR": _h("the creditor's bank is not registered for SEPA direct debits", Fault.CREDITOR),
    "FF01": _h("the file format is invalid", Fault.CREDITOR),
    "MD02": _h("mandate data missing or wrong in the file", Fault.CREDITOR),
    "RR01": _h("debtor account or identification missing (regulatory)", Fault.CREDITOR),
    "RR02": _h("debtor name or address missing (regulatory)", Fault.CREDITOR),
    "RR03": _h("creditor name or address missing (regulatory)", Fault.CREDITOR),
    "RR04": _h("regulatory reason", Fault.CREDITOR),
})


def classify(rail: Rail | str, code: str | None) -> Decline:
    """The :class:`Decline` of a provider or bank ``code`` (case-insensitive for SEPA, lower-case for cards).

    An unknown card code is soft (Stripe: a generic decline may succeed later; the schedule bounds
    the attempts). An unknown SEPA code is hard and left to staff (``Fault.CREDITOR``): Duly
    re-presents only AM04 and MS03.
    """
    rail = Rail(rail)
    text = (code or "").strip()
    if rail is Rail.CARD:
        key = text.lower() or "generic_decline"
        category, fault, description = CARD_DECLINES.get(
            key, (Category.SOFT, Fault.NONE, "the issuer declined for an unknown reason"))
    else:
        key = text.upper()
        if not key:
            raise ValidationError("A SEPA return or rejection needs its ISO reason code (e.g. AM04, MD01).")
        category, fault, description = SEPA_REASONS.get(
            key, (Category.HARD, Fault.CREDITOR, f"unknown reason code {key}"))
    return Decline(rail, key, category, fault, description)


@dataclass(frozen=True)
class SendWindow:
    """The customer's local hours in which a payment may be attempted (their sending window)."""

    zone: str = "UTC"
    start: time = time(9)
    end: time = time(17)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValidationError(f"Unknown time zone {self.zone!r}: use an IANA name such as Europe/Paris.",
                                  zone=str(self.zone)) from None
        if not (isinstance(self.start, time) and isinstance(self.end, time)) or self.start >= self.end \
                or self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValidationError(
                f"The sending window must be two naive local times, start before end, got {self.start!r}-{self.end!r}.")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """Start and end of the window on the local ``day``, as aware datetimes in the customer's zone."""
        tz = self.tz
        return datetime.combine(day, self.start, tz), datetime.combine(day, self.end, tz)

    def contains(self, moment: datetime) -> bool:
        start, end = self.bounds(self.local_date(moment))
        return start <= moment < end


@dataclass(frozen=True)
class RetrySchedule:
    """How often and when a soft decline is tried again.

    ``max_attempts`` counts every attempt, the first one included. Retry number *n* (1-based) is
    aimed at ``retry_days[n-1]`` calendar days after the first attempt, moved to the customer's next
    business day inside their window, at least ``min_gap`` after the previous failure and never
    later than ``within`` after the first attempt (``None``: no such bound). ``retry_codes``, when
    given, limits retries to those codes (SEPA: AM04 and MS03); otherwise every soft decline is retried.
    """

    rail: Rail
    max_attempts: int
    retry_days: tuple[int, ...]
    within: timedelta | None = None
    min_gap: timedelta = timedelta(hours=24)
    retry_codes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rail", Rail(self.rail))
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool) or self.max_attempts < 1:
            raise ValidationError(f"max_attempts must be a whole number of at least 1, got {self.max_attempts!r}.")
        days = tuple(self.retry_days)
        object.__setattr__(self, "retry_days", days)
        if len(days) != self.max_attempts - 1:
            raise ValidationError(
                f"A schedule of {self.max_attempts} attempts needs {self.max_attempts - 1} retry days, got {days!r}.")
        if any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in days) \
                or any(b <= a for a, b in zip(days, days[1:])):
            raise ValidationError(f"Retry days must be increasing whole days of at least 1, got {days!r}.")
        if self.within is not None and (self.within <= timedelta(0)
                                        or (days and timedelta(days=days[-1]) > self.within)):
            raise ValidationError(f"The last retry day {days[-1] if days else 0} is beyond the schedule's span "
                                  f"{self.within}.")
        if self.min_gap < timedelta(0):
            raise ValidationError("min_gap cannot be negative.")
        if self.retry_codes is not None:
            object.__setattr__(self, "retry_codes", frozenset(c.strip().upper() if self.rail is Rail.SEPA
                                                              else c.strip().lower() for c in self.retry_codes))

    def retries(self, decline: Decline) -> bool:
        """Whether this schedule tries ``decline`` again at all (attempts left aside)."""
        if decline.hard:
            return False
        return self.retry_codes is None or decline.code in self.retry_codes


#: Cards: 4 attempts (the first and 3 retries) over 14 days, on the customer's business days.
CARD_SCHEDULE = RetrySchedule(Rail.CARD, max_attempts=4, retry_days=(3, 7, 13), within=timedelta(days=14))

#: SEPA: at most 2 re-presentations, only for AM04 (insufficient funds) and MS03 (reason not specified),
#: 14 and 28 days after the first collection. A re-presentation is a new collection that must itself be
#: pre-notified, 14 days ahead by default: 14 days is the earliest it can be collected when the debtor is told
#: at the return, and two of them 14 days apart span the debtor's monthly pay cycle (insufficient funds come
#: back with the next salary; a re-presentation before it only costs a second return fee). Its date must also
#: be a TARGET business day (``duly.domain.sepa.collection_plan`` moves it when needed; pass
#: ``duly.domain.sepa.TARGET`` as the calendar to aim at TARGET days directly). ``bench/retries.py`` compares.
SEPA_SCHEDULE = RetrySchedule(Rail.SEPA, max_attempts=3, retry_days=(14, 28), within=timedelta(days=30),
                              retry_codes=frozenset({"AM04", "MS03"}))


Outcome = Literal["succeeded", "failed", "pending"]


@dataclass(frozen=True)
class Attempt:
    """One attempt to take the money: when, how it ended and (if it failed) the provider's or bank's code."""

    at: datetime
    outcome: Outcome
    code: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.at, datetime) or self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValidationError(f"An attempt's time must be an aware datetime, got {self.at!r}.")
        if self.outcome not in ("succeeded", "failed", "pending"):
            raise ValidationError(f"An attempt's outcome is succeeded, failed or pending, got {self.outcome!r}.")


@dataclass(frozen=True)
class RetryDecision:
    action: Action
    #: When to attempt next (aware, in the customer's zone); only for ``retry``.
    retry_at: datetime | None = None
    #: Number of the next attempt (1-based, the first attempt is 1); only for ``retry``.
    attempt_number: int | None = None
    #: The last decline, when the last attempt failed.
    decline: Decline | None = None
    #: Why, in one English sentence (for staff and logs).
    reason: str = ""
    attempts_made: int = 0

    @property
    def pause_chasing(self) -> bool:
        """Reminders wait while a retry is scheduled or an attempt is pending; they resume after the last failure."""
        return self.action in (Action.RETRY, Action.WAIT)


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"{name} must be an aware datetime, got {moment!r}.")
    return moment


def _slot(earliest: datetime, aim: date, deadline: datetime | None, calendar: HolidayCalendar,
          window: SendWindow) -> datetime | None:
    """The first moment at or after ``earliest``, on or after the local day ``aim``, on a business day of
    ``calendar`` and inside ``window``; None when it would be later than ``deadline``."""
    day = max(aim, window.local_date(earliest))
    for _ in range(400):
        if deadline is not None and window.bounds(day)[0] > deadline:
            return None
        if calendar.is_business_day(day):
            start, end = window.bounds(day)
            moment = max(start, earliest.astimezone(window.tz))
            if moment < end:
                if deadline is not None and moment > deadline:
                    return None
                return moment
        day += timedelta(days=1)
    return None  # pragma: no cover - no calendar is closed for 400 days


def decide(attempts: Sequence[Attempt], *, schedule: RetrySchedule, as_of: datetime,
           calendar: HolidayCalendar, window: SendWindow) -> RetryDecision:
    """What to do after ``attempts`` (oldest first), seen at ``as_of``. See the module docstring."""
    _aware(as_of, "as_of")
    if not attempts:
        raise ValidationError("No attempt yet: there is nothing to retry.")
    ordered = list(attempts)
    for earlier, later in zip(ordered, ordered[1:]):
        if later.at < earlier.at:
            raise ValidationError("Attempts must be given oldest first.")
    if ordered[-1].at > as_of:
        raise ValidationError(f"An attempt at {ordered[-1].at.isoformat()} is after as_of {as_of.isoformat()}.")
    made = len(ordered)
    last = ordered[-1]
    if last.outcome == "succeeded":
        return RetryDecision(Action.NONE, reason="the last attempt succeeded", attempts_made=made)
    if last.outcome == "pending":
        return RetryDecision(Action.WAIT, reason="the last attempt is still pending", attempts_made=made)
    decline = classify(schedule.rail, last.code)
    if decline.hard:
        action = Action.NEW_METHOD if decline.fault is Fault.CUSTOMER else Action.REVIEW
        return RetryDecision(action, decline=decline, attempts_made=made,
                             reason=f"hard decline {decline.code}: {decline.description}; never retried")
    if not schedule.retries(decline):
        return RetryDecision(Action.GIVE_UP, decline=decline, attempts_made=made,
                             reason=f"{decline.code} is not re-presented by this schedule")
    if made >= schedule.max_attempts:
        return RetryDecision(Action.GIVE_UP, decline=decline, attempts_made=made,
                             reason=f"all {schedule.max_attempts} attempts failed")
    first = ordered[0].at
    deadline = first + schedule.within if schedule.within is not None else None
    aim = window.local_date(first) + timedelta(days=schedule.retry_days[made - 1])
    earliest = max(as_of, last.at + schedule.min_gap)
    moment = _slot(earliest, aim, deadline, calendar, window)
    if moment is None:
        limit = f"before {deadline.isoformat()}" if deadline is not None else "within 400 days"
        return RetryDecision(Action.GIVE_UP, decline=decline, attempts_made=made,
                             reason=f"no business day inside the window is left {limit}")
    return RetryDecision(Action.RETRY, retry_at=moment, attempt_number=made + 1, decline=decline,
                         attempts_made=made,
                         reason=f"soft decline {decline.code}: {decline.description}; attempt {made + 1} of "
                                f"{schedule.max_attempts}")
