"""Locale-aware formatting of money, dates and late-fee terms for messages (Babel).

A :class:`Formatter` is made once per locale and cached: Babel's ``Locale`` parsing is the
expensive part, so rendering thousands of messages reuses the same objects. Amounts arrive as
integer minor units (the database form) or Decimals; floats never enter.

Examples (Babel 2.18 / CLDR 47, note the no-break spaces)::

    Formatter.for_locale("fr_FR").money(123456, "EUR")   # '1\u202f234,56\xa0€'
    Formatter.for_locale("de_DE").money(123456, "EUR")   # '1.234,56\xa0€'
    Formatter.for_locale("de_DE").date(date(2026, 3, 12))  # '12. März 2026'
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)
from django.utils.translation import gettext, ngettext, override, pgettext

from duly.domain.money import exponent, from_minor

#: Languages Duly ships message templates for. Any other locale falls back to English texts
#: (numbers and dates still follow the customer's own locale).
LANGUAGES = ("en", "fr", "de", "ru", "es")
DEFAULT_LANGUAGE = "en"


def language_of(locale: str | None) -> str:
    """``fr_FR`` → ``fr``; an unsupported or empty locale → ``en``."""
    lang = (locale or "").replace("-", "_").split("_")[0].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _babel_locale(locale: str | None) -> Locale:
    try:
        return Locale.parse((locale or DEFAULT_LANGUAGE).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LANGUAGE)


class _Money:
    """Babel's ``format_currency`` for one (locale, currency), precomputed.

    The locale's currency pattern, symbol, separators and grouping are read once; formatting is
    then string work on the exact Decimal. When built, the result is compared with Babel itself on
    probe amounts (grouping edges, negatives, fractions); if any differs (an unusual pattern or
    CLDR digits other than the ISO exponent) every amount goes through Babel instead.
    """

    PROBES = ("0", "0.5", "7.25", "999.99", "1000", "1234.56", "12345.6", "123456.78", "1234567.89", "-1234.56")
    __slots__ = ("_locale", "currency", "digits", "quantum", "prefix", "suffix", "group", "decimal", "primary",
                 "secondary", "exact")

    def __init__(self, loc: Locale, currency: str) -> None:
        self._locale, self.currency = loc, currency
        self.digits = exponent(currency)
        self.quantum = Decimal(1).scaleb(-self.digits)
        pattern = loc.currency_formats["standard"]
        symbol = get_currency_symbol(currency, loc)
        self.prefix = tuple(p.replace("¤", symbol) for p in pattern.prefix)
        self.suffix = tuple(p.replace("¤", symbol) for p in pattern.suffix)
        self.group, self.decimal = get_group_symbol(loc), get_decimal_symbol(loc)
        self.primary, self.secondary = pattern.grouping
        self.exact = all(self._format(Decimal(p)) == format_currency(Decimal(p), currency, locale=loc)
                         for p in self.PROBES)

    def _format(self, value: Decimal) -> str:
        negative = value < 0
        text = f"{abs(value).quantize(self.quantum):f}"
        whole, _, fraction = text.partition(".")
        if len(whole) > self.primary:
            parts = [whole[-self.primary:]]
            rest = whole[:-self.primary]
            while rest:
                parts.append(rest[-self.secondary:])
                rest = rest[:-self.secondary]
            whole = self.group.join(reversed(parts))
        number = f"{whole}{self.decimal}{fraction}" if fraction else whole
        i = 1 if negative else 0
        return f"{self.prefix[i]}{number}{self.suffix[i]}"

    def __call__(self, value: Decimal) -> str:
        if self.exact:
            return self._format(value)
        return format_currency(value, self.currency, locale=self._locale)


class Formatter:
    """Formats money, dates and numbers for one locale (cached per locale; results cached too)."""

    __slots__ = ("locale", "language", "_babel", "_money", "_dates")

    def __init__(self, locale: str | None) -> None:
        self._babel = _babel_locale(locale)
        self.locale = str(self._babel)
        self.language = language_of(locale)
        self._money: dict[str, _Money] = {}
        self._dates: dict[tuple[date, str], str] = {}

    @staticmethod
    @lru_cache(maxsize=256)
    def for_locale(locale: str | None) -> "Formatter":
        return Formatter(locale)

    def money(self, amount: int | Decimal, currency: str) -> str:
        """Format an amount: ``int`` is minor units, ``Decimal`` major units."""
        value = from_minor(amount, currency) if isinstance(amount, int) else amount
        fmt = self._money.get(currency)
        if fmt is None:
            fmt = self._money[currency] = _Money(self._babel, currency)
        return fmt(value)

    def date(self, d: date | None, fmt: str = "long") -> str:
        if d is None:
            return ""
        key = (d, fmt)
        text = self._dates.get(key)
        if text is None:
            if len(self._dates) > 4096:
                self._dates.clear()
            text = self._dates[key] = format_date(d, format=fmt, locale=self._babel)
        return text

    def datetime(self, dt: datetime, fmt: str = "long", tzinfo=None) -> str:
        return format_datetime(dt, format=fmt, tzinfo=tzinfo, locale=self._babel)

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self._babel)

    def percent(self, value: Decimal) -> str:
        """A rate given in percent (``Decimal("10.15")``) → ``10,15 %`` in French."""
        return format_decimal(value.normalize(), locale=self._babel) + (
            "\u00a0%" if self.language in ("fr", "de", "ru", "es") else "%"
        )


# --- late-fee terms in words, in the reader's language (gettext: duly/messaging/locale) ---------


def late_fee_terms(policy, currency: str, fmt: Formatter, as_of: date | None = None) -> str:
    """The contract's late-payment terms in the reader's language, with the actual rate and amounts.

    ``policy`` is a :class:`duly.domain.late_fees.LateFeePolicy` (or None: no contract). A statutory
    rate following the recorded reference rates is the one of the semester of ``as_of`` (the message date).
    """
    with override(fmt.language):
        return _terms_text(policy, currency, fmt, as_of)


def _terms_text(policy, currency: str, fmt: Formatter, as_of: date | None) -> str:
    none = gettext("No late-payment charges apply.")
    if policy is None or policy.kind == "none":
        return none
    parts = []
    rate = policy.annual_rate_on(as_of, currency)
    if rate is not None:
        parts.append(gettext("interest at {rate} per year from the due date").format(rate=fmt.percent(rate)))
    fixed = policy.fixed_fee_for(currency)
    if fixed > 0:
        parts.append(gettext("a fixed fee of {amount}").format(amount=fmt.money(fixed, currency)))
    bands = policy.compensation_bands(currency)
    if len(bands) == 1:
        parts.append(gettext("{amount} fixed compensation for recovery costs").format(
            amount=fmt.money(bands[0][1], currency)))
    elif bands:  # by size of debt (UK): "£40.00 for a debt of up to £999.99, £70.00 ..., £100.00 above"
        from duly.domain.money import quantum

        sums = [gettext("{amount} for a debt of up to {limit}").format(
                    amount=fmt.money(amount, currency), limit=fmt.money(below - quantum(currency), currency))
                if below is not None else gettext("{amount} above").format(amount=fmt.money(amount, currency))
                for below, amount in bands]
        parts.append(gettext("fixed compensation for recovery costs of {amounts}").format(amounts=", ".join(sums)))
    if not parts:
        return none
    text = gettext("Late payment: {terms}").format(terms=pgettext("late-fee terms", ", plus ").join(parts))
    if policy.grace_days:
        text += " " + ngettext("(charged only when payment is more than {days} day late)",
                               "(charged only when payment is more than {days} days late)",
                               policy.grace_days).format(days=policy.grace_days)
    return text + "."
