"""The words of late-fee explanations (:mod:`duly.domain.late_fees`) as structured text (:class:`~.text.Text`).

The English of each (``str()``) is what the explanations always said; the collections app renders them in the
customer's language on the late-fee invoice (msgids in ``duly/collections/locale``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .money import quantum as quantum_of
from .text import Amount, Percent, Text, text


def period_label(first: date, last: date) -> Text:
    """The days an interest charge covers: ``1 March 2026``, ``1–31 March 2026``, ``16 March 2026 – 15 April 2026``."""
    if first == last:
        return text("{day}", day=first)
    if (first.year, first.month) == (last.year, last.month):
        return text("{first}–{last}", first=str(first.day), last=last)
    return text("{first} – {last}", first=first, last=last)


def rate_factor_text(kind: str, rate_percent: Decimal | None, rate: Decimal) -> Text:
    """The rate factor of an interest term: ``12%``, or a monthly rate ``1.5% × 12``."""
    if kind == "interest_monthly":
        return text("{rate} × 12", rate=Percent(rate_percent))
    return text("{rate}", rate=Percent(rate))


def semester_text(day: date) -> Text:
    """:func:`~duly.domain.late_fees.semester_label` as structured text."""
    if day.month <= 6:
        return text("1st half of {year}", year=str(day.year))
    return text("2nd half of {year}", year=str(day.year))


def reference_text(reference: str | None, currency: str) -> Text:
    """:meth:`~duly.domain.late_fees.StatutoryRegime.reference_name` as structured text."""
    if reference:
        return text(reference)
    if currency == "EUR":
        return text("ECB rate")
    return text("{currency} central bank rate", currency=currency)


def band_text(bands: tuple[tuple[Decimal | None, Decimal], ...], amount: Decimal, currency: str) -> Text:
    """Which band of debt a fixed sum is for: ``under 1,000.00``, ``1,000.00 to 9,999.99``, ``10,000.00 or more``."""
    low = None
    for below, sum_ in bands:
        if sum_ == amount:
            if low is None:
                return text("under {amount}", amount=Amount(below, currency)) if below is not None else text("any debt")
            if below is None:
                return text("{amount} or more", amount=Amount(low, currency))
            last = below - quantum_of(currency)
            return text("{low} to {high}", low=Amount(low, currency), high=Amount(last, currency))
        low = below
    return text("")
