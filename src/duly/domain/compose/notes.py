"""An invoice's notes as structured data (a code and its values), and their words (structured text).

The composition decides *which* notes an invoice carries (:class:`InvoiceNote`); the text is made
only when the invoice is written (:func:`render_notes`), one sentence per note, joined by new lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

from ..money import Money, from_minor
from ..payment_terms import format_date
from ..text import Text, join_text, text

__all__ = [
    "DEPOSIT_DEDUCTED",
    "DEPOSIT_HELD",
    "DEPOSIT_LEFT",
    "NOTE_CODES",
    "PRICE_CHANGE",
    "RETAINER_BALANCE",
    "RETAINER_DRAWDOWN",
    "RETAINER_TOPUP",
    "InvoiceNote",
    "change_sentence",
    "note_text",
    "notes_text",
    "render_note",
    "render_notes",
]

PRICE_CHANGE = "price_change"
DEPOSIT_HELD = "deposit_held"
DEPOSIT_DEDUCTED = "deposit_deducted"
DEPOSIT_LEFT = "deposit_left"
RETAINER_DRAWDOWN = "retainer_drawdown"
RETAINER_BALANCE = "retainer_balance"
RETAINER_TOPUP = "retainer_topup"


@dataclass(frozen=True, slots=True)
class InvoiceNote:
    """One note: ``code`` (one of :data:`NOTE_CODES`) and its values (amounts in minor units + currency)."""

    code: str
    params: tuple[tuple[str, Any], ...]
    #: Values of ``params`` as structured text, when the plain value is English words (a price change's prices):
    #: used to put the note in the customer's language; not part of what the note is (equality).
    words: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, code: str, **params: Any) -> "InvoiceNote":
        return cls(code, tuple(params.items()))

    def get(self, name: str) -> Any:
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(name)


def change_sentence(product: str, effective_date: date, new: str, previous: str, justification: str) -> str:
    """A new price, said once to a customer (in the line's explanation and in the invoice's notes)."""
    return (f"{product}: new price from {format_date(effective_date)}: {new} (previously {previous}). "
            f"Why: {justification.strip()}")


def change_text(note: InvoiceNote, *, full_stop: bool = False) -> Text:
    """:func:`change_sentence` of a price-change note as structured text (the prices from ``note.words`` when
    it has them); ``full_stop``: ending in one, as the invoice's notes write it."""
    p = {**dict(note.params), **dict(note.words)}
    why = str(p["justification"]).strip()
    values = {"product": p["product"], "date": p["effective_date"], "new": p["new"], "previous": p["previous"],
              "why": why}
    if full_stop and not why.endswith("."):
        return text("{product}: new price from {date}: {new} (previously {previous}). Why: {why}.", **values)
    return text("{product}: new price from {date}: {new} (previously {previous}). Why: {why}", **values)


def _money(p: dict) -> Money:
    return Money(from_minor(p["amount_minor"], p["currency"]), p["currency"])


def note_text(note: InvoiceNote) -> Text:
    """A note as structured text (a msgid and its values), put in the customer's language when the invoice is
    written (``duly.translation.render``)."""
    p = dict(note.params)
    code = note.code
    if code == PRICE_CHANGE:
        return change_text(note, full_stop=True)
    if code == DEPOSIT_HELD:
        return text("Deposit held until the final invoice under this contract: {amount} (deposit invoice {number}).",
                    amount=_money(p), number=p["deposit_invoice"])
    if code == DEPOSIT_DEDUCTED:
        return text("Deposit deducted: {amount} (deposit invoice {number}).", amount=_money(p),
                    number=p["deposit_invoice"])
    if code == DEPOSIT_LEFT:
        return text("Deposit left after this final invoice: {amount}, owed back to you.", amount=_money(p))
    if code == RETAINER_DRAWDOWN:
        return text("Retainer drawdown: {amount}.", amount=_money(p))
    if code == RETAINER_BALANCE:
        return text("Retainer balance after this invoice: {amount}.", amount=_money(p))
    if code == RETAINER_TOPUP:
        return text("A retainer top-up of {amount} is invoiced separately.", amount=_money(p))
    raise ValueError(f"unknown invoice note {code!r}")


def render_note(note: InvoiceNote) -> str:
    """The English sentence of a note, exactly as invoices have always said it (plain formats: ``10.00 EUR``)."""
    return str(note_text(note))


NOTE_CODES = (PRICE_CHANGE, DEPOSIT_HELD, DEPOSIT_DEDUCTED, DEPOSIT_LEFT, RETAINER_DRAWDOWN, RETAINER_BALANCE,
              RETAINER_TOPUP)


def notes_text(notes: Sequence[InvoiceNote]) -> Text:
    """An invoice's notes as structured text: one sentence a line."""
    return join_text([note_text(n) for n in notes], "\n")


def render_notes(notes: Sequence[InvoiceNote]) -> str:
    """An invoice's notes in English: one sentence a line ("" without notes)."""
    return "\n".join(render_note(n) for n in notes)
