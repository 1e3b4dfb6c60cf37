"""SEPA Core direct debit rules: mandates, sequence types, pre-notification, collection dates, creditor ids.

Rulebook followed
    The EPC SEPA Core Direct Debit Scheme Rulebook as changed by version 9.0/9.2 (effective 20 November
    2016) and kept by every later edition:

    - the sequence type "first" (FRST) is *optional*: the first collection of a recurrent mandate may be
      presented as FRST or as RCUR (Duly presents FRST by default, which every bank still accepts, and
      RCUR when ``first_as_rcur`` is set); later collections are RCUR, the last one may be FNAL; a
      one-off mandate is used once, as OOFF;
    - every collection, whatever its sequence type, reaches the debtor's bank by D-1 inter-bank
      business day (no longer D-5 for FRST/OOFF and D-2 for RCUR/FNAL); inter-bank business days are
      the TARGET2 days: every day but Saturday, Sunday, New Year's Day, Good Friday, Easter Monday,
      1 May, 25 and 26 December (the ``holidays`` package's ECB financial calendar, market ``XECB``);
    - the debtor is pre-notified at least 14 calendar days before the collection unless the creditor
      and the debtor agreed otherwise (the contract's shorter period);
    - a mandate on which no collection was presented for 36 months expires (counted from the last
      collection presented, even if it was rejected, returned or refunded; from the signature when none
      was ever presented);
    - the mandate reference is at most 35 characters of the SEPA character set.

Creditor identifier
    ISO 7064 MOD 97-10 check digits computed, as the EPC's "Creditor Identifier Overview" (EPC262-08)
    describes, on the national identifier (positions 8 to 35, letters and digits only; the creditor
    business code at positions 5-7 is left out) followed by the country code and "00", letters
    converted A=10 ... Z=35: check digits = 98 - (that number mod 97).

Pure: no clock, no I/O. Every rule takes an explicit ``as_of`` date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

import holidays

from .calendar import SATURDAY_SUNDAY, HolidayCalendar, _Year, add_months
from .errors import InvalidCreditorId, InvalidMandate, ValidationError

__all__ = [
    "DEFAULT_NOTICE_DAYS",
    "MANDATE_EXPIRY_MONTHS",
    "Mandate",
    "SequenceType",
    "TargetCalendar",
    "TARGET",
    "check_mandate",
    "collection_plan",
    "is_final_collection",
    "creditor_id_check_digits",
    "earliest_collection_date",
    "make_creditor_id",
    "mandate_expires_on",
    "next_sequence_type",
    "pre_notification_date",
    "validate_creditor_id",
    "validate_mandate_reference",
]

DEFAULT_NOTICE_DAYS = 14
MANDATE_EXPIRY_MONTHS = 36


class SequenceType(str, Enum):
    FRST = "FRST"
    RCUR = "RCUR"
    FNAL = "FNAL"
    OOFF = "OOFF"


MandateKind = Literal["recurrent", "one_off"]


class TargetCalendar(HolidayCalendar):
    """TARGET2 (T2) business days: the inter-bank days of SEPA, from the ECB calendar of ``holidays``."""

    __slots__ = ()

    def __init__(self) -> None:  # noqa: D107 - nothing to check
        self.country = "XECB"
        self.subdivision = None

    def __repr__(self) -> str:
        return "TargetCalendar()"

    def _year(self, year: int) -> _Year:
        return _target_year(year)


@lru_cache(maxsize=256)
def _target_year(year: int) -> _Year:
    table = holidays.financial_holidays("XECB", years=year)
    return _Year(MappingProxyType({d: name for d, name in table.items() if d.year == year}),
                 frozenset(getattr(table, "weekend", SATURDAY_SUNDAY)), frozenset())


#: The one TARGET calendar (calendars are immutable values).
TARGET = TargetCalendar()


# --- mandates ---------------------------------------------------------------------------------

_SEPA_REFERENCE = re.compile(r"[A-Za-z0-9/\-?:().,'+]{1,35}")


def validate_mandate_reference(reference: str) -> str:
    """The mandate reference, stripped; refuses one over 35 characters, outside the SEPA character set
    (letters, digits and ``/ - ? : ( ) . , ' +``; Duly also refuses spaces), or starting or ending with
    ``/`` or holding ``//`` (the EPC rule for references and identifiers)."""
    text = reference.strip() if isinstance(reference, str) else ""
    if not text:
        raise InvalidMandate("A mandate needs a unique mandate reference.", code="mandate_reference_missing")
    if not _SEPA_REFERENCE.fullmatch(text) or text.startswith("/") or text.endswith("/") or "//" in text:
        raise InvalidMandate(
            f"Mandate reference {text!r} must be 1 to 35 letters, digits or / - ? : ( ) . , ' + (no spaces), "
            "neither starting nor ending with '/' nor holding '//'.", code="mandate_reference_invalid",
            reference=text[:40])
    return text


@dataclass(frozen=True)
class Mandate:
    """What Duly knows of one SEPA mandate (a snapshot: the database row lives in payments)."""

    reference: str
    signed_on: date | None
    kind: MandateKind = "recurrent"
    signed_at: str = ""  # place of signature
    revoked_on: date | None = None
    #: Collections presented on this mandate so far (rejected, returned or refunded ones included).
    presented: int = 0
    #: Collections that settled or are still in flight (used for the sequence type).
    collected: int = 0
    last_presented_on: date | None = None
    #: A recurrent mandate whose last collection (FNAL) was presented.
    final_presented: bool = False
    #: The reason code of a hard R-transaction (MD01, AC04, AC06...) after which the mandate is not used again.
    blocked_reason: str = ""


def mandate_expires_on(mandate: Mandate) -> date | None:
    """The day a mandate expires for lack of use: 36 months after its last presented collection, or
    after its signature when none was presented."""
    start = mandate.last_presented_on or mandate.signed_on
    return add_months(start, MANDATE_EXPIRY_MONTHS) if start else None


def check_mandate(mandate: Mandate, as_of: date) -> Mandate:
    """Refuse a mandate that cannot be debited on ``as_of``; return it unchanged otherwise."""
    validate_mandate_reference(mandate.reference)
    if mandate.kind not in ("recurrent", "one_off"):
        raise InvalidMandate(f"A mandate is recurrent or one_off, got {mandate.kind!r}.", code="mandate_invalid")
    if mandate.signed_on is None:
        raise InvalidMandate(f"Mandate {mandate.reference} has no signature date.", code="mandate_unsigned",
                           reference=mandate.reference)
    if mandate.signed_on > as_of:
        raise InvalidMandate(f"Mandate {mandate.reference} is signed on {mandate.signed_on.isoformat()}, after "
                           f"{as_of.isoformat()}: a signature date cannot be in the future.",
                           code="mandate_signed_in_future", reference=mandate.reference)
    if mandate.revoked_on is not None and mandate.revoked_on <= as_of:
        raise InvalidMandate(f"Mandate {mandate.reference} was revoked on {mandate.revoked_on.isoformat()}.",
                           code="mandate_revoked", reference=mandate.reference)
    if mandate.blocked_reason:
        raise InvalidMandate(
            f"Mandate {mandate.reference} is blocked after a debit was returned with {mandate.blocked_reason}: the "
            "customer must give a new mandate or another method.", code="mandate_blocked",
            reference=mandate.reference, reason=mandate.blocked_reason)
    expires = mandate_expires_on(mandate)
    if expires is not None and expires <= as_of:
        raise InvalidMandate(
            f"Mandate {mandate.reference} expired on {expires.isoformat()}: no collection was presented for "
            f"{MANDATE_EXPIRY_MONTHS} months. A new mandate must be signed.", code="mandate_expired",
            reference=mandate.reference)
    if mandate.kind == "one_off" and mandate.collected >= 1:
        raise InvalidMandate(f"One-off mandate {mandate.reference} was already used.", code="mandate_used",
                           reference=mandate.reference)
    if mandate.final_presented:
        raise InvalidMandate(f"Mandate {mandate.reference} had its final collection (FNAL).", code="mandate_used",
                           reference=mandate.reference)
    return mandate


def next_sequence_type(mandate: Mandate, *, final: bool = False, first_as_rcur: bool = False) -> SequenceType:
    """Sequence type of the next collection on ``mandate``.

    One-off mandate: OOFF (once). Recurrent: FRST for the first collection (RCUR with
    ``first_as_rcur``, which the rulebook allows since November 2016), RCUR after it, FNAL for the
    last one when ``final``. Only collections that were not rejected count (``collected``): after a
    rejected FRST the next one is FRST again. A first collection cannot also be the final one.
    """
    if mandate.kind == "one_off":
        if mandate.collected >= 1:
            raise InvalidMandate(f"One-off mandate {mandate.reference} was already used.", code="mandate_used",
                               reference=mandate.reference)
        return SequenceType.OOFF
    if mandate.final_presented:
        raise InvalidMandate(f"Mandate {mandate.reference} had its final collection (FNAL).", code="mandate_used",
                           reference=mandate.reference)
    if mandate.collected == 0:
        if final:
            raise InvalidMandate(
                f"The first collection on recurrent mandate {mandate.reference} cannot be its last: use a one-off "
                "mandate for a single debit.", code="mandate_sequence_invalid", reference=mandate.reference)
        return SequenceType.RCUR if first_as_rcur else SequenceType.FRST
    return SequenceType.FNAL if final else SequenceType.RCUR


def is_final_collection(mandate: Mandate, collection_date: date, *, contract_ends_on: date | None = None,
                        later_planned: bool = False) -> bool:
    """Whether a collection on ``collection_date`` goes out as the last one of a recurrent mandate (FNAL).

    The mandate's end must be known: a revocation already recorded for a later day (nothing can be
    collected from that day on), or the contract the invoice belongs to ending on or before the collection
    date (it bills nothing more). The collection is then final when no later collection is planned on the
    mandate. A one-off mandate is never FNAL (it goes out as OOFF), and neither is the first collection of a
    recurrent one (the rulebook has no first-and-last sequence: it goes out as FRST; a revoked mandate is
    not used again anyway).
    """
    if mandate.kind == "one_off" or mandate.collected == 0 or later_planned:
        return False
    revoked_later = mandate.revoked_on is not None and mandate.revoked_on > collection_date
    contract_over = contract_ends_on is not None and contract_ends_on <= collection_date
    return revoked_later or contract_over


# --- dates ------------------------------------------------------------------------------------

def pre_notification_date(collection_date: date, notice_days: int | None = None) -> date:
    """The last day the debtor can be told of the debit: ``notice_days`` calendar days before it
    (14 unless the contract agreed a shorter period)."""
    days = DEFAULT_NOTICE_DAYS if notice_days is None else notice_days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= DEFAULT_NOTICE_DAYS:
        raise InvalidMandate(
            f"The pre-notification period is 1 to {DEFAULT_NOTICE_DAYS} calendar days (14 unless the contract says "
            f"shorter), got {notice_days!r}.", code="invalid_pre_notification")
    return collection_date - timedelta(days=days)


def earliest_collection_date(as_of: date, *, submission_days: int = 1, calendar: HolidayCalendar = TARGET) -> date:
    """The earliest collection (due) date of a file sent on ``as_of``: ``submission_days`` TARGET
    business days later (the rulebook's D-1; a creditor's bank may ask for more before its cut-off)."""
    if not isinstance(submission_days, int) or isinstance(submission_days, bool) or submission_days < 1:
        raise ValidationError(f"submission_days is a whole number of at least 1, got {submission_days!r}.")
    return calendar.add_business_days(as_of, submission_days)


@dataclass(frozen=True)
class CollectionPlan:
    collection_date: date
    notify_by: date
    sequence_type: SequenceType
    #: Why the date moved from the one asked for, or "".
    moved: str = ""


def collection_plan(mandate: Mandate, due_date: date, as_of: date, *, notice_days: int | None = None,
                    submission_days: int = 1, final: bool = False, first_as_rcur: bool = False,
                    notified_on: date | None = None) -> CollectionPlan:
    """When to debit an invoice due on ``due_date`` and when the debtor must be told.

    The collection date is the due date, moved to the next TARGET business day, and never earlier than
    the earliest collection date of a file sent on ``as_of``, nor than ``notice_days`` after the
    pre-notification (already sent on ``notified_on``, else sent on ``as_of`` at the earliest).
    """
    check_mandate(mandate, as_of)
    sequence = next_sequence_type(mandate, final=final, first_as_rcur=first_as_rcur)
    days = DEFAULT_NOTICE_DAYS if notice_days is None else notice_days
    pre_notification_date(due_date, days)  # validates the period
    wanted = TARGET.adjust(due_date, "following")
    floor = earliest_collection_date(as_of, submission_days=submission_days)
    told = notified_on if notified_on is not None and notified_on <= as_of else as_of
    floor = max(floor, TARGET.adjust(told + timedelta(days=days), "following"))
    moved = ""
    if wanted < floor:
        moved = (f"moved from {due_date.isoformat()} to {floor.isoformat()}: the debtor must be told {days} days "
                 "before and the file must reach the banks one TARGET day before")
        wanted = floor
    elif wanted != due_date:
        moved = f"moved from {due_date.isoformat()} to the next TARGET business day"
    return CollectionPlan(wanted, wanted - timedelta(days=days), sequence, moved)


# --- creditor identifier ----------------------------------------------------------------------

_CI = re.compile(r"([A-Z]{2})([0-9]{2})([A-Z0-9]{3})([A-Z0-9]{1,28})")


def _digits(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text))


def creditor_id_check_digits(country: str, national_id: str) -> str:
    """The two ISO 7064 MOD 97-10 check digits of a creditor identifier (EPC262-08)."""
    code = (country or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise InvalidCreditorId(f"A creditor identifier starts with an ISO country code, got {country!r}.",
                              code="invalid_creditor_id")
    national = "".join(ch for ch in (national_id or "").upper() if ch.isascii() and ch.isalnum())
    if not national:
        raise InvalidCreditorId("A creditor identifier needs its national identifier.", code="invalid_creditor_id")
    return f"{98 - _digits(national + code + '00') % 97:02d}"


def make_creditor_id(country: str, national_id: str, business_code: str = "ZZZ") -> str:
    """A creditor identifier with its check digits (business code ZZZ when none is used)."""
    national = "".join(ch for ch in national_id.upper() if ch.isascii() and ch.isalnum())
    return validate_creditor_id(
        f"{country.strip().upper()}{creditor_id_check_digits(country, national)}{business_code.upper()}{national}")


def validate_creditor_id(value: str) -> str:
    """The creditor identifier normalised (upper case, no spaces), or :class:`ValidationError`
    (code ``invalid_creditor_id``) for a wrong layout or wrong check digits."""
    text = "".join((value or "").split()).upper() if isinstance(value, str) else ""
    match = _CI.fullmatch(text)
    if not match or len(text) > 35:
        raise InvalidCreditorId(
            f"Creditor identifier {value!r} must be a country code, 2 check digits, a 3-character business code "
            "(ZZZ when unused) and the national identifier, 8 to 35 characters (e.g. DE98ZZZ09999999999).",
            code="invalid_creditor_id")
    country, check, _business, national = match.groups()
    expected = creditor_id_check_digits(country, national)
    if check != expected:
        raise InvalidCreditorId(
            f"Creditor identifier {text} has check digits {check}; its national part gives {expected}: "
            "check for a typing error.", code="invalid_creditor_id")
    return text
