"""ISO 11649 structured creditor references ("RF references").

An RF reference is ``RF`` + two check digits + a base of 1 to 21 letters and digits, e.g.
``RF18 5390 0754 7034``. The check digits make the ISO 7064 MOD 97-10 remainder of the
rearranged reference equal 1 (the same scheme as IBAN): move ``RF`` and the check digits to the
end, turn letters into numbers (A = 10 … Z = 35) and compute modulo 97.

Electronic form is compact and upper case (``RF18539007547034``); the printed form groups it by
four (:func:`format_rf`). Every function accepts either form; only whitespace separates groups.
"""

from __future__ import annotations

import re

from .errors import InvalidReference

__all__ = [
    "MAX_BASE_LENGTH", "RfFound", "compact_rf", "find_rf", "format_rf", "is_valid_rf", "make_rf", "rf_base",
    "rf_for_invoice",
]

MAX_BASE_LENGTH = 21
_BASE = re.compile(r"[A-Z0-9]{1,21}")
_REFERENCE = re.compile(r"RF[0-9]{2}[A-Z0-9]{1,21}")
_NON_ALNUM = re.compile(r"[^A-Z0-9]")


_DIGITS = {ord(ch): str(int(ch, 36)) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


def _to_digits(text: str) -> int:
    """Letters → two-digit numbers (A = 10 … Z = 35), digits unchanged, read as one integer."""
    digits = text.translate(_DIGITS)
    if digits.isascii() and digits.isdigit():
        return int(digits)
    return int("".join(str(int(ch, 36)) for ch in text))  # raises as before on anything else


def _check_digits(base: str) -> str:
    return f"{98 - _to_digits(base + 'RF00') % 97:02d}"


def compact_rf(ref: str) -> str:
    """Remove spaces and upper-case: ``"rf18 5390 0754 7034"`` → ``"RF18539007547034"``."""
    if not isinstance(ref, str):
        raise InvalidReference(f"A creditor reference must be text, got {type(ref).__name__}.")
    return "".join(ref.split()).upper()


def make_rf(base: str) -> str:
    """The compact RF reference for ``base`` (1-21 letters/digits; spaces ignored, case-insensitive)."""
    cleaned = compact_rf(base)
    if not _BASE.fullmatch(cleaned):
        raise InvalidReference(
            f"An RF reference base must be 1 to {MAX_BASE_LENGTH} letters or digits, got {base!r}.",
            base=str(base),
        )
    return f"RF{_check_digits(cleaned)}{cleaned}"


def is_valid_rf(ref: str) -> bool:
    """True when ``ref`` (compact or grouped, any case) is a well-formed RF reference with correct check digits."""
    if not isinstance(ref, str):
        return False
    compact = compact_rf(ref)
    if not _REFERENCE.fullmatch(compact):
        return False
    return _to_digits(compact[4:] + compact[:4]) % 97 == 1


def format_rf(ref: str) -> str:
    """Printed form in groups of four: ``RF18 5390 0754 7034``. Invalid references are refused."""
    compact = compact_rf(ref)
    if not is_valid_rf(compact):
        raise InvalidReference(f"{ref!r} is not a valid ISO 11649 creditor reference.", reference=str(ref))
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def rf_for_invoice(org_prefix: str, invoice_number: str) -> str:
    """Deterministic compact RF reference for an invoice of an organization.

    The base is the letters and digits of ``org_prefix`` followed by those of ``invoice_number``
    (upper case; everything else dropped): ``("atelier", "INV-2026-00001")`` → base
    ``ATELIERINV202600001``. The invoice number is kept whole; the prefix is shortened from the right
    when both do not fit in 21 characters. An invoice number with more than 21 letters and digits is
    refused rather than truncated, since truncation could give two invoices the same reference.
    """
    prefix = _NON_ALNUM.sub("", compact_rf(org_prefix))
    number = _NON_ALNUM.sub("", compact_rf(invoice_number))
    if not number:
        raise InvalidReference(
            f"Invoice number {invoice_number!r} has no letters or digits to build a reference from.",
            invoice_number=str(invoice_number),
        )
    if len(number) > MAX_BASE_LENGTH:
        raise InvalidReference(
            f"Invoice number {invoice_number!r} has more than {MAX_BASE_LENGTH} letters and digits: "
            "too long for an RF creditor reference.",
            invoice_number=str(invoice_number),
        )
    return make_rf(prefix[: MAX_BASE_LENGTH - len(number)] + number)


def rf_base(ref: str) -> str:
    """The base of a valid RF reference (what follows ``RF`` and the check digits); invalid ones are refused."""
    compact = compact_rf(ref)
    if not is_valid_rf(compact):
        raise InvalidReference(f"{ref!r} is not a valid ISO 11649 creditor reference.", reference=str(ref))
    return compact[4:]


#: ``RF``, two check digits, then letters and digits with single spaces between groups (printed or compact).
_RF_IN_TEXT = re.compile(r"(?<![A-Z0-9])RF ?([0-9]{2})((?: ?[A-Z0-9]){1,21})")


class RfFound(tuple):
    """What :func:`find_rf` reads in a text: ``valid`` references (compact, each a candidate reading) and
    ``invalid`` ones (``RF`` + digits whose check digits fail: a typing error, compact)."""

    __slots__ = ()

    def __new__(cls, valid: tuple[str, ...], invalid: tuple[str, ...]):
        return super().__new__(cls, (valid, invalid))

    @property
    def valid(self) -> tuple[str, ...]:
        return self[0]

    @property
    def invalid(self) -> tuple[str, ...]:
        return self[1]


def find_rf(text: str) -> RfFound:
    """The RF references written in free text (a remittance line), in order of appearance.

    A reference may be compact (``RF18539007547034``) or printed in groups of four (``RF18 5390 0754 7034``);
    case is ignored. What follows it on the line may run on (``RF18 5390 0754 7034 THANKS``), so every cut at a
    space or at the end of the run is a candidate and each whose check digits hold is returned (longest first):
    the caller looks them up. A reference with no valid cut is returned in ``invalid`` (its longest reading) so a
    caller can still search its base for an invoice number.
    """
    if not isinstance(text, str) or "RF" not in text.upper():
        return RfFound((), ())
    valid: list[str] = []
    invalid: list[str] = []
    for match in _RF_IN_TEXT.finditer(text.upper()):
        check, tail = match.group(1), match.group(2)
        cuts = [i for i, ch in enumerate(tail) if ch == " "] + [len(tail)]
        found = False
        for cut in reversed(cuts):
            base = tail[:cut].replace(" ", "")
            if not base:
                continue
            candidate = f"RF{check}{base}"
            if is_valid_rf(candidate):
                valid.append(candidate)
                found = True
        if not found:
            invalid.append(f"RF{check}{tail.replace(' ', '')}")
    return RfFound(tuple(valid), tuple(invalid))
