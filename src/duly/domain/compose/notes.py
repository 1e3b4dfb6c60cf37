"""An invoice's notes as structured data (a code and its values), and their English wording.

The composition decides *which* notes an invoice carries (:class:`InvoiceNote`); the text is made
only when the invoice is written (:func:`render_notes`), one sentence per note, joined by new lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from ..money import from_minor
from ..payment_terms import format_date

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


def _amount(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


def render_note(note: InvoiceNote) -> str:
    """The English sentence of a note, exactly as invoices have always said it."""
    p = dict(note.params)
    code = note.code
    if code == PRICE_CHANGE:
        text = change_sentence(p["product"], p["effective_date"], p["new"], p["previous"], p["justification"])
        return text + "." if not text.endswith(".") else text
    if code == DEPOSIT_HELD:
        return (f"Deposit held until the final invoice under this contract: "
                f"{_amount(p['amount_minor'], p['currency'])} (deposit invoice {p['deposit_invoice']}).")
    if code == DEPOSIT_DEDUCTED:
        return (f"Deposit deducted: {_amount(p['amount_minor'], p['currency'])} "
                f"(deposit invoice {p['deposit_invoice']}).")
    if code == DEPOSIT_LEFT:
        return f"Deposit left after this final invoice: {_amount(p['amount_minor'], p['currency'])}, owed back to you."
    if code == RETAINER_DRAWDOWN:
        return f"Retainer drawdown: {_amount(p['amount_minor'], p['currency'])}."
    if code == RETAINER_BALANCE:
        return f"Retainer balance after this invoice: {_amount(p['amount_minor'], p['currency'])}."
    if code == RETAINER_TOPUP:
        return f"A retainer top-up of {_amount(p['amount_minor'], p['currency'])} is invoiced separately."
    raise ValueError(f"unknown invoice note {code!r}")


NOTE_CODES = (PRICE_CHANGE, DEPOSIT_HELD, DEPOSIT_DEDUCTED, DEPOSIT_LEFT, RETAINER_DRAWDOWN, RETAINER_BALANCE,
              RETAINER_TOPUP)


def render_notes(notes: Sequence[InvoiceNote]) -> str:
    """An invoice's notes text: one sentence a line ("" without notes)."""
    return "\n".join(render_note(n) for n in notes)
