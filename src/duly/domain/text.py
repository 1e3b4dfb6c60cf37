"""Structured text: what the rules core says to a customer, before it is put in a language.

The domain cannot translate (no Django, no Babel), so a rule that writes a sentence onto a document returns a
:class:`Text`: an English message id (the msgid of the gettext catalogues) and its values, kept as values
(numbers as :class:`~decimal.Decimal`, money as :class:`~duly.domain.money.Money`, dates as :class:`~datetime.date`,
and nested :class:`Text` for a part that is itself translated). The rendering side (``duly.translation.render``)
translates the message into the customer's language and formats each value for the customer's locale.

``str(text)`` gives the English sentence with plain formats (``1570.80 EUR``, ``31 March 2026``): for logs, staff
messages and tests, never for a customer's document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from .money import Money, exponent

__all__ = ["Amount", "DateSpan", "Number", "Percent", "Price", "Text", "join_text", "labelled", "text"]


@dataclass(frozen=True, slots=True)
class Percent:
    """A rate in percent, as a value of a :class:`Text` (``20%``, ``20 %``, ``5,5 %``)."""

    value: Decimal

    def __str__(self) -> str:
        return f"{self.value.normalize():f}%"


@dataclass(frozen=True, slots=True)
class Amount:
    """A bare amount with its currency's decimals, as in worked arithmetic (``1,000.00``, ``1 000,00``)."""

    value: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.value:,.{exponent(self.currency)}f}"


@dataclass(frozen=True, slots=True)
class Number:
    """A quantity written exactly as precise as it is (``2.50``) in English; in a locale, without trailing zeros
    and grouped (``2,5``, ``1 250``)."""

    value: Decimal

    def __str__(self) -> str:
        return format(self.value, "f")


@dataclass(frozen=True, slots=True)
class Price:
    """A price in worked arithmetic: at least its currency's decimals, more when it has them (``8.00``,
    ``0.0125``). With ``code``, the price in words: ``100.00 EUR`` (``100,00 €`` in a locale)."""

    value: Decimal
    currency: str
    code: bool = False

    def __str__(self) -> str:
        from .pricing import money_text, money_words  # pricing builds on this module

        return money_words(self.value, self.currency) if self.code else money_text(self.value, self.currency)


@dataclass(frozen=True, slots=True)
class DateSpan:
    """The days from ``first`` to ``last`` inclusive: ``1–31 March 2026``, ``16 March – 15 April 2026``
    (``1er–31 mars 2026``, ``16. März – 15. April 2026`` in a locale)."""

    first: date
    last: date

    def __str__(self) -> str:
        from .usage import format_days

        return format_days(self.first, self.last)


@dataclass(frozen=True, slots=True)
class Text:
    """A message to translate: ``msgid`` with ``{name}`` placeholders filled from ``params``.

    ``plural`` (the English plural msgid) and ``n`` (the count that chooses the form) make it a plural message;
    ``context`` is the gettext msgctxt where one English phrase needs two translations.
    """

    msgid: str
    params: tuple[tuple[str, Any], ...] = ()
    plural: str | None = None
    n: int | Decimal | None = None
    context: str | None = None
    #: The hash, computed on first use: a text nests texts, and the billing run looks each line's up in caches.
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if (self.plural is None) != (self.n is None):
            raise ValueError("a plural Text needs both plural and n")

    def __hash__(self) -> int:
        cached = self._hash
        if cached is None:  # what the dataclass's own hash is: the compared fields'
            cached = hash((self.msgid, self.params, self.plural, self.n, self.context))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> tuple:
        return (self.msgid, self.params, self.plural, self.n, self.context)  # never the hash (per process)

    def __setstate__(self, state: tuple) -> None:
        for name, value in zip(("msgid", "params", "plural", "n", "context"), state):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_hash", None)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)

    def __str__(self) -> str:
        chosen = self.plural if self.plural is not None and self.n != 1 else self.msgid
        values = {key: _plain(value) for key, value in self.params}
        if self.n is not None:
            values.setdefault("n", _plain(self.n))
        return chosen.format(**values) if values else chosen


def text(msgid: str, *, plural: str | None = None, n: int | Decimal | None = None, context: str | None = None,
         **params: Any) -> Text:
    """``Text`` with keyword parameters: ``text("Deposit deducted: {amount}.", amount=Money(...))``."""
    return Text(msgid, tuple(params.items()), plural=plural, n=n, context=context)


def join_text(parts: tuple[Text | str, ...] | list[Text | str], separator: str = " ") -> Text:
    """Several texts as one (each translated on its own), e.g. the sentences of an explanation. Its msgid holds
    only placeholders and the separator, so it is not looked up in a catalogue."""
    names = [f"p{i}" for i in range(len(parts))]
    return Text(separator.join("{" + name + "}" for name in names), tuple(zip(names, parts)))


def labelled(label: Any, value: Any) -> Text:
    """``label: value``, with the language's own colon (French writes ``label : value``): one catalogue entry,
    msgctxt ``separator``."""
    return Text("{label}: {value}", (("label", label), ("value", value)), context="separator")


def _plain(value: Any) -> str:
    """English formats without Babel: ``1570.80 EUR``, ``31 March 2026``, ``12.5``."""
    from .payment_terms import format_date

    if isinstance(value, (Text, Percent, Amount, Number, Price, DateSpan)):
        return str(value)
    if isinstance(value, Money):
        quantum = Decimal(1).scaleb(-exponent(value.currency))
        return f"{value.amount.quantize(quantum)} {value.currency}"
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)
