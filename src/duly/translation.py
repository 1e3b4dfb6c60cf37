"""Translation and locale formats shared by every app: gettext catalogues, Babel formats, structured text.

- Catalogues: each app keeps ``src/duly/<app>/locale/<lang>/LC_MESSAGES/django.po`` (``fr``, ``de``, ``ru``, ``es``;
  the English msgids are the source). ``make messages`` compiles them with Babel; so does the test session
  (:func:`compile_catalogues`), and ``duly check`` warns about one not compiled (:func:`stale_catalogues`).
- Words: :func:`translate` and :func:`translate_plural` look a msgid up with Django's gettext under
  ``translation.override(language)``; a plural takes any count, a Decimal too (CLDR chooses the form).
- Formats: :func:`format_money`, :func:`format_number`, :func:`format_date`… for a Babel locale such as ``fr_FR``
  (French dates say ``1er juillet``).
- Structured text: :func:`render` puts a :class:`duly.domain.text.Text` (a msgid and its values, returned by the
  rules core and the billing run) into a customer's language and locale.
"""

from __future__ import annotations

import os
import re

from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.dates import format_skeleton
from babel.numbers import NumberPattern, get_decimal_quantum, get_decimal_symbol, get_group_symbol, parse_pattern

from duly.domain.money import Money, exponent
from duly.domain.text import Amount, DateSpan, Number, Percent, Price, Text

__all__ = [
    "LANGUAGES",
    "Msg",
    "catalogue_dirs",
    "compile_catalogues",
    "format_amount",
    "format_date",
    "format_days",
    "format_money_exact",
    "format_money",
    "format_number",
    "format_percent",
    "format_price",
    "language_and_locale",
    "render",
    "stale_catalogues",
    "translate",
    "translate_plural",
]

#: The languages Duly writes documents and messages in (English is the msgid language).
LANGUAGES = ("en", "fr", "de", "ru", "es")
#: The languages with a catalogue in each app's ``locale`` folder.
TRANSLATED = ("fr", "de", "ru", "es")

_DOUBLE_STOP = re.compile(r"(?<=[^.]\.)\.(?=\s|$)")
_WORD = re.compile(r"[^\W\d_]")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_QUOTED = re.compile(r"'([^']*)'")  # as Babel unquotes a formatted number


class Msg(NamedTuple):
    """A msgid with, optionally, its plural msgid and its context (msgctxt)."""

    msgid: str
    plural: str | None = None
    context: str | None = None


# --- locales ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def babel_locale(name: str) -> Locale:
    """The parsed Babel locale (parsed once per process: a document formats dozens of numbers)."""
    return Locale.parse(name)


@lru_cache(maxsize=64)
def language_and_locale(locale: str | None) -> tuple[str, str]:
    """(language of the words, Babel locale of the formats) for a stored locale such as ``fr_FR``.

    Unknown languages and bad values are English. A bare ``en`` is formatted as ``en_GB`` (``30 April 2026``,
    like Duly's English sentences); ``en_US`` gives ``April 30, 2026``."""
    normalized = (locale or "en").replace("-", "_")
    try:
        parsed = Locale.parse(normalized)
    except (UnknownLocaleError, ValueError, TypeError):
        return "en", "en"
    if parsed.language not in LANGUAGES:
        return "en", "en_GB"
    if str(parsed) == "en":
        return "en", "en_GB"
    return parsed.language, str(parsed)


# --- words -----------------------------------------------------------------------------------------------
def translate(language: str, msgid: str, context: str | None = None) -> str:
    """``msgid`` in ``language`` (the msgid itself when the catalogue lacks it, and in English)."""
    if language == "en":
        return msgid
    return _translated(language, msgid, context)


@lru_cache(maxsize=8192)
def _translated(language: str, msgid: str, context: str | None) -> str:
    """One lookup per (language, message) and process: the billing run writes the same words on thousands of
    lines, and switching Django's active language costs more than the lookup (catalogues are compiled before
    the process starts)."""
    from django.utils import translation

    with translation.override(language):
        return translation.pgettext(context, msgid) if context else translation.gettext(msgid)


def plural_count(locale: str, n: int | Decimal) -> int:
    """A whole number that gettext's plural formula puts in the same form as ``n`` does under CLDR.

    gettext formulas take whole numbers only; ``1,5 heure`` (fr), ``1,5 часа`` (ru), ``1.5 hours`` (en) follow
    the CLDR category of the decimal, matched to the first whole number of that category (a Russian fraction,
    CLDR ``other``, takes the ``few`` form: ``1,5 часа``)."""
    if isinstance(n, int) or (isinstance(n, Decimal) and n == n.to_integral_value()):
        return abs(int(n))
    rules = babel_locale(locale).plural_form
    category = rules(abs(n))
    for wanted in (category, "few", "other"):
        for whole in range(0, 200):
            if rules(whole) == wanted:
                return whole
    return 2


def translate_plural(language: str, locale: str, singular: str, plural: str, n: int | Decimal,
                     context: str | None = None) -> str:
    """The form of ``singular``/``plural`` for the count ``n`` in ``language`` (``{n}`` left to fill)."""
    count = plural_count(locale, n)
    if language == "en":
        return singular if count == 1 else plural
    return _translated_plural(language, singular, plural, count, context)


@lru_cache(maxsize=8192)
def _translated_plural(language: str, singular: str, plural: str, count: int, context: str | None) -> str:
    from django.utils import translation

    with translation.override(language):
        if context:
            return translation.npgettext(context, singular, plural, count)
        return translation.ngettext(singular, plural, count)


def fill(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``values``; a sentence ending in a value that ends in a full stop ends once."""
    if not values:
        return template
    filled = template.format(**values)
    return _DOUBLE_STOP.sub("", filled) if ".." in filled else filled  # the pattern needs two full stops


def render(value: Any, locale: str | None) -> str:
    """A value for a customer with the stored ``locale`` (``fr_FR``…): a :class:`Text` translated with its values
    formatted, :class:`Money` and dates and Decimals in the locale's formats, anything else as ``str``."""
    language, formats = language_and_locale(locale)
    return _render(value, language, formats)


@lru_cache(maxsize=8192)
def _has_words(msgid: str) -> bool:
    return bool(_WORD.search(_PLACEHOLDER.sub("", msgid)))


def _render(value: Any, language: str, locale: str) -> str:
    kind = type(value)
    if kind is str:  # most values of a text are plain words (a label) or another text: no chain of checks
        return value
    if kind is Text:
        return _render_text(value, language, locale)
    format_value = _FORMATS.get(kind)
    if format_value is not None:
        return format_value(value, locale)
    return _render_other(value, language, locale)


def _render_text(value: Text, language: str, locale: str) -> str:
    values = {key: _render(item, language, locale) for key, item in value.params}
    if not value.context and not _has_words(value.msgid):  # join_text: no words
        template = value.msgid
    elif value.plural is not None:
        template = translate_plural(language, locale, value.msgid, value.plural, value.n, value.context)
        values.setdefault("n", format_number(Decimal(value.n), locale))
    else:
        template = translate(language, value.msgid, value.context)
    return fill(template, values)


def _render_other(value: Any, language: str, locale: str) -> str:
    """:func:`_render` of a value whose exact type has no entry in :data:`_FORMATS` (a subclass, say)."""
    if isinstance(value, Text):
        return _render_text(value, language, locale)
    if isinstance(value, Money):
        return format_money(value.amount, value.currency, locale)
    if isinstance(value, Percent):
        return format_percent(value.value, locale)
    if isinstance(value, Amount):
        return format_amount(value.value, value.currency, locale)
    if isinstance(value, Price):
        if value.code:
            return format_money_exact(value.value, value.currency, locale)
        return format_price(value.value, value.currency, locale)
    if isinstance(value, Number):
        return format_exact(value.value, locale)
    if isinstance(value, DateSpan):
        return format_days(value.first, value.last, locale)
    if isinstance(value, date):
        return format_date(value, locale)
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return format_number(Decimal(value), locale)
    return "" if value is None else str(value)


def _format_price_value(value: Price, locale: str) -> str:
    if value.code:
        return format_money_exact(value.value, value.currency, locale)
    return format_price(value.value, value.currency, locale)


#: How each exact type of a text's values is formatted (what _render_other's checks choose for it).
_FORMATS: dict[type, Callable[[Any, str], str]] = {
    Money: lambda value, locale: format_money(value.amount, value.currency, locale),
    Percent: lambda value, locale: format_percent(value.value, locale),
    Amount: lambda value, locale: format_amount(value.value, value.currency, locale),
    Price: _format_price_value,
    Number: lambda value, locale: format_exact(value.value, locale),
    DateSpan: lambda value, locale: format_days(value.first, value.last, locale),
    date: lambda value, locale: format_date(value, locale),
    Decimal: lambda value, locale: format_number(value, locale),
    int: lambda value, locale: format_number(Decimal(value), locale),
    type(None): lambda value, locale: "",
}


# --- formats ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _number_pattern(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


def _apply(value: Decimal, pattern: str, locale: str) -> str:
    """``babel.numbers.format_decimal(value, format=pattern, locale=locale)``, pattern and locale parsed once."""
    fast = _plain_formatter(pattern, locale)
    if fast is not None and type(value) is Decimal and value.is_finite():
        return fast(value)
    return _number_pattern(pattern).apply(value, babel_locale(locale), decimal_quantization=True,
                                          group_separator=True, numbering_system="latn")


@lru_cache(maxsize=256)
def _plain_formatter(pattern: str, locale: str) -> Callable[[Decimal], str] | None:
    """What Babel's ``NumberPattern.apply`` does for a plain grouped pattern (``#,##0.00##``: no currency, no
    exponent, no significant digits, no scale, no quoted text), step for step, with the locale's symbols read
    once: a billing run formats tens of thousands of distinct quantities and prices, each one Babel call else.
    None for any other pattern (Babel formats it). ``tests/test_translation_formats.py`` compares the two."""
    parsed = _number_pattern(pattern)
    if (parsed.exp_prec or parsed.scale or "@" in parsed.pattern or "¤" in parsed.pattern
            or "'" in "".join(parsed.prefix + parsed.suffix)):
        return None
    where = babel_locale(locale)
    group = get_group_symbol(where, numbering_system="latn")
    point = get_decimal_symbol(where, numbering_system="latn")
    low, high = parsed.frac_prec
    quantum = get_decimal_quantum(high)
    min_int = parsed.int_prec[0]
    first, rest = parsed.grouping
    prefix, suffix = parsed.prefix, parsed.suffix

    def apply(value: Decimal) -> str:
        negative = int(value.is_signed())
        whole, _, frac = f"{abs(value).normalize().quantize(quantum):f}".partition(".")
        if len(whole) < min_int:
            whole = "0" * (min_int - len(whole)) + whole
        grouped, size = "", first
        while len(whole) > size:
            grouped = group + whole[-size:] + grouped
            whole = whole[:-size]
            size = rest
        frac = frac or "0"
        if len(frac) < low:
            frac += "0" * (low - len(frac))
        if high == 0 or (low == 0 and int(frac) == 0):
            frac = ""
        else:
            while len(frac) > low and frac[-1] == "0":
                frac = frac[:-1]
            frac = point + frac
        result = prefix[negative] + whole + grouped + frac + suffix[negative]
        return _QUOTED.sub(lambda m: m.group(1) or "'", result) if "'" in result else result

    return apply


@lru_cache(maxsize=16384)  # equal amounts print alike: a run formats the same prices again and again
def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """``1 234,50 €`` (fr), ``€1,234.50`` (en): the currency's own number of decimals."""
    parsed = babel_locale(locale)
    return parsed.currency_formats["standard"].apply(
        amount, parsed, currency=currency, currency_digits=True, decimal_quantization=True,
        group_separator=True, numbering_system="latn")


@lru_cache(maxsize=16384)  # equal amounts print alike (the value is normalized before it is formatted)
def format_money_exact(amount: Decimal, currency: str, locale: str) -> str:
    """A price with its currency sign and at least the currency's decimals, more when it has them: ``0,0125 €``."""
    parsed = babel_locale(locale)
    return parsed.currency_formats["standard"].apply(
        amount, parsed, currency=currency, currency_digits=True, decimal_quantization=False,
        group_separator=True, numbering_system="latn")


def format_amount(amount: Decimal, currency: str, locale: str) -> str:
    """A bare amount with the currency's decimals, for table columns: ``1 234,50``."""
    digits = exponent(currency)
    return _apply(amount, "#,##0" + ("." + "0" * digits if digits else ""), locale)


def _decimals(value: Decimal) -> int:
    return len(format(value.normalize(), "f").partition(".")[2]) if value else 0


@lru_cache(maxsize=16384)
def format_number(value: Decimal, locale: str) -> str:
    """A quantity or rate without trailing zeros: ``3,5``; grouped: ``1 000``."""
    decimals = _decimals(value)
    return _apply(value, "#,##0" + ("." + "#" * decimals if decimals else ""), locale)


def format_exact(value: Decimal, locale: str) -> str:
    """A quantity exactly as precise as it is (``4,0``, ``2,50``), grouped (``1 250``)."""
    return _format_exact(str(value), locale)  # 4.0 == 4: the cache is keyed by the written value


@lru_cache(maxsize=16384)
def _format_exact(written: str, locale: str) -> str:
    value = Decimal(written)
    exponent = value.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return _apply(value, "#,##0" + ("." + "0" * decimals if decimals else ""), locale)


@lru_cache(maxsize=16384)
def format_price(value: Decimal, currency: str, locale: str) -> str:
    """A unit price: at least the currency's decimals, more when the price has them (0,0125)."""
    digits = exponent(currency)
    decimals = max(digits, _decimals(value))
    return _apply(value, "#,##0" + ("." + "0" * digits + "#" * (decimals - digits) if decimals else ""), locale)


def format_percent(rate: Decimal, locale: str) -> str:
    """A rate given in percent: ``20 %`` (fr, de, ru, es), ``20%`` (en), ``5,5 %``."""
    text = format_number(rate, locale)
    return f"{text}%" if language_and_locale(locale)[0] == "en" else f"{text}\u00a0%"


@lru_cache(maxsize=4096)  # a run writes the same few dates on thousands of lines
def format_date(value: date | None, locale: str) -> str:
    """Long, unambiguous date: ``30 April 2026``, ``1er juillet 2026``, ``30. April 2026``."""
    if not value:
        return ""
    text = babel_date(value, format="long", locale=babel_locale(locale))
    if value.day == 1 and babel_locale(locale).language == "fr" and text.startswith("1 "):
        text = "1er " + text[2:]  # French writes the first of the month as an ordinal
    return text


def format_weekday_date(value: date, locale: str) -> str:
    """Long date with its weekday: ``Saturday, 4 April 2026``, ``samedi 4 avril 2026``, ``Samstag, 4. April 2026``."""
    text = babel_date(value, format="full", locale=babel_locale(locale))
    if value.day == 1 and babel_locale(locale).language == "fr":
        text = re.sub(r"(?<= )1 ", "1er ", text, count=1)  # French writes the first of the month as an ordinal
    return text


@lru_cache(maxsize=4096)
def format_days(first: date, last: date, locale: str) -> str:
    """The days from ``first`` to ``last`` inclusive, months in full: ``1–31 March 2026``, ``1er–31 mars 2026``,
    ``1.–31. März 2026``, ``16 марта – 15 апреля 2026 г.``, ``16 de marzo – 15 de abril de 2026``."""
    end = format_date(last, locale)
    if first == last:
        return end
    parsed = babel_locale(locale)
    if (first.year, first.month) == (last.year, last.month):
        day = "1er" if first.day == 1 and parsed.language == "fr" else str(first.day)
        return f"{day}.–{end}" if parsed.language == "de" else f"{day}–{end}"
    if first.year == last.year:
        start = format_skeleton("MMMMd", first, locale=parsed)
        if first.day == 1 and parsed.language == "fr" and re.match(r"1(?!\d)", start):
            start = "1er" + start[1:]  # French writes the first of the month as an ordinal
    else:
        start = format_date(first, locale)
    return f"{start} – {end}"


# --- catalogues ------------------------------------------------------------------------------------------
def catalogue_dirs() -> list[Path]:
    """Every app's ``locale`` folder."""
    return sorted(p for p in Path(__file__).resolve().parent.glob("*/locale") if p.is_dir())


def _po_files() -> list[Path]:
    return sorted(p for d in catalogue_dirs() for p in d.glob("*/LC_MESSAGES/django.po"))


def stale_catalogues() -> list[Path]:
    """The ``.po`` files whose ``.mo`` is missing or older (gettext would print English)."""
    stale = []
    for po in _po_files():
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(po)
    return stale


def compile_catalogues(only_stale: bool = True) -> list[Path]:
    """Compile the apps' ``.po`` files into ``.mo`` files with Babel (those out of date, or all); fuzzy entries
    are left out, as ``pybabel compile`` does. Returns the ``.po`` files compiled."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    done = []
    for po in stale_catalogues() if only_stale else _po_files():
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = po.with_suffix(f".mo.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        tmp.replace(po.with_suffix(".mo"))
        done.append(po)
    return done


if __name__ == "__main__":  # python -m duly.translation: compile what is out of date
    for path in compile_catalogues():
        print(f"compiled {path}")
