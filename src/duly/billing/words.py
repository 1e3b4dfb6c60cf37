"""The billing run's words in the customer's language, at the moment its lines are written.

The rules core gives each line's description and explanation as structured text (:class:`~duly.domain.text.Text`:
a msgid and its values). A line is put in its customer's language and locale once, when the invoice is issued,
and stored as text: an issued invoice reads as it was issued, whatever the catalogues become later.

- A customer reading English gets the English the billing run has always written (``str()`` of the text: plain
  formats such as ``flat fee 100.00 = 100.00`` and ``1–31 March 2026``).
- Any other language gets the catalogue's words with the locale's formats (``forfait 100,00 = 100,00``,
  ``1er–31 mars 2026``), through :func:`duly.translation.render`.

A run writes thousands of lines with the same words (customers on one plan share their recurring line): each
(line, locale) is rendered once per process, and each message is looked up once per language.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Sequence, TypeVar

from duly.domain.text import Text
from duly.translation import language_and_locale, render

__all__ = ["for_staff", "in_customer_language", "words"]

#: The longest description an invoice line stores.
DESCRIPTION_LIMIT = 500

L = TypeVar("L")


@lru_cache(maxsize=65536)
def words(value: Text, locale: str | None) -> str:
    """``value`` for a customer with the stored ``locale``: English as it always was, another language rendered."""
    if language_and_locale(locale)[0] == "en":
        return str(value)
    return render(value, locale)


@lru_cache(maxsize=16384)
def _line(line: Any, locale: str | None) -> Any:
    description, explanation = line.description, line.explanation
    changes = {}
    if isinstance(description, Text):
        changes["description"] = words(description, locale)[:DESCRIPTION_LIMIT]
    if isinstance(explanation, Text):
        changes["explanation"] = words(explanation, locale)
    return replace(line, **changes) if changes else line


def in_customer_language(lines: Sequence[L], locale: str | None) -> list[L]:
    """``lines`` (the billing run's :class:`~duly.domain.compose.Line`, or :class:`~duly.invoicing.services.LineData`)
    with their words as text in the customer's language; a line without structured text is kept as it is."""
    return [_line(line, locale) if isinstance(line.description, Text) or isinstance(line.explanation, Text)
            else line for line in lines]


def for_staff(value: Text | str) -> str:
    """Words staff read (the back office's previews, the CLI's), in Django's active language (the staff user's);
    a customer's words are :func:`words` in the customer's language."""
    if not isinstance(value, Text):
        return value
    from django.utils.translation import get_language

    return words(value, get_language() or "en")
