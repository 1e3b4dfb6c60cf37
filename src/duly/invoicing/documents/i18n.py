"""Words and number/date formats of printed documents, in English, French, German, Russian and Spanish.

Templates ask for a label by key (``t("vat_id")``); :mod:`~duly.invoicing.documents.words` gives each key its
English msgid, and the app's gettext catalogues (``src/duly/invoicing/locale/<lang>/LC_MESSAGES/django.po``)
translate it; a missing translation prints English, so a new label never breaks a language. Numbers, currencies
and dates are formatted by Babel for the document's full locale (``fr_FR``, ``de_CH``…), so separators follow
the country (see :mod:`duly.translation`).

Dates are always printed in Babel's *long* form (``30 avril 2026``, ``30. April 2026``): a month
name can never be misread, unlike ``04/05/2026``. A bare ``en`` locale is formatted as ``en_GB``
(``30 April 2026``, like the English terms frozen at issue); ``en_US`` gives ``April 30, 2026``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from decimal import Decimal
from typing import Any

from duly import translation as tr
from duly.domain.late_fees import LateFeePolicy, describe_policy
from duly.domain.payment_terms import PaymentTerms, summarize
from duly.translation import LANGUAGES, Msg

from .words import LABELS, UNITS

__all__ = ["LABELS", "LANGUAGES", "Localizer", "late_terms_in", "localizer", "terms_due"]


@dataclass(frozen=True)
class Localizer:
    """Labels and formats of one document language. Instances are cheap and immutable."""

    #: Language of the labels: one of :data:`LANGUAGES`.
    language: str
    #: Babel locale for numbers and dates, e.g. ``fr_FR``.
    locale: str

    # --- words -----------------------------------------------------------------------------
    def t(self, key: str, **values: object) -> str:
        """The label ``key`` in this language (English when missing), with ``values`` filled in."""
        msg = LABELS[key]
        if isinstance(msg, Msg):
            return tr.fill(tr.translate(self.language, msg.msgid, msg.context), values)
        return tr.fill(tr.translate(self.language, msg), values)

    @property
    def colon(self) -> str:
        """The colon after a label, as the language writes it: ``:`` (``Période :`` in French). From the one
        catalogue entry of ``label: value`` (msgctxt ``separator``) the billing run's lines use too."""
        return _colon(self.language)

    def plural(self, key: str, n: int, **values: object) -> str:
        """The label ``key`` in the plural form of ``n`` (``{n}`` filled in)."""
        msg = LABELS[key]
        assert isinstance(msg, Msg) and msg.plural is not None, key
        template = tr.translate_plural(self.language, self.locale, msg.msgid, msg.plural, n, msg.context)
        return template.format(n=n, **values)

    def unit(self, code: str, n: int | Decimal = 1) -> str:
        """The unit's name for ``n`` of it (``jour``, ``jours``; ``день``, ``дня``, ``дней``); other codes as they are."""
        msg = UNITS.get(code)
        if msg is None:
            return code
        return tr.translate_plural(self.language, self.locale, msg.msgid, msg.plural, n, msg.context)

    def quantity(self, value: Decimal, code: str) -> str:
        """A quantity and its unit in the right plural form: ``2 jours``, ``1,5 heure``, ``32 horas``."""
        return f"{self.number(value)} {self.unit(code, value)}".rstrip()

    def country(self, code: str) -> str:
        """The country's name in this language (``FR`` → ``France``, ``Frankreich``…)."""
        return tr.babel_locale(self.locale).territories.get(code, code) if code else ""

    def has(self, key: str) -> bool:
        """Whether ``key`` is a known label."""
        return key in LABELS

    def category(self, code: str) -> str:
        return self.t(f"category.{code}") if f"category.{code}" in LABELS else code

    def text(self, value: Any) -> str:
        """Structured text (:class:`duly.domain.text.Text`), money, a date or a number in this language."""
        return tr.render(value, self.locale)

    # --- formats ---------------------------------------------------------------------------
    def money(self, amount: Decimal, currency: str) -> str:
        """``1 234,50 €`` (fr), ``€1,234.50`` (en): the currency's own number of decimals."""
        return tr.format_money(amount, currency, self.locale)

    def amount(self, amount: Decimal, currency: str) -> str:
        """A bare amount with the currency's decimals, for table columns: ``1 234,50``."""
        return tr.format_amount(amount, currency, self.locale)

    def number(self, value: Decimal) -> str:
        """A quantity or rate without trailing zeros: ``3,5``; grouped: ``1 000``."""
        return tr.format_number(value, self.locale)

    def price(self, value: Decimal, currency: str) -> str:
        """A unit price: at least the currency's decimals, more when the price has them (0,0125)."""
        return tr.format_price(value, currency, self.locale)

    def percent(self, rate: Decimal) -> str:
        """A rate given in percent: ``20 %`` (fr), ``20%`` (en), ``5,5 %``."""
        return tr.format_percent(rate, self.locale)

    def date(self, value: date | None) -> str:
        """Long, unambiguous date: ``30 April 2026``, ``30 avril 2026``, ``1er juillet 2026``."""
        return tr.format_date(value, self.locale)

    def period(self, start: date | None, end: date | None) -> str:
        if start and end:
            return f"{self.date(start)} – {self.date(end)}"
        return self.date(start or end)

    # --- sentences -------------------------------------------------------------------------
    def terms_label(self, terms: PaymentTerms) -> str:
        if terms.kind == "net":
            return self.t("terms.net_zero") if terms.days == 0 else self.plural("terms.net", terms.days)
        if terms.kind == "end_of_month":
            return self.t("terms.eom") if terms.days == 0 else self.plural("terms.eom_plus", terms.days)
        return self.t("terms.day_of_next_month", n=terms.day_of_month)

    def payment_terms(self, terms: PaymentTerms | None, due: date) -> str:
        """``Payment due by 30 April 2026 (30 days net).`` in this language."""
        if terms is None or terms.kind == "on_receipt":
            return self.t("terms.on_receipt", date=self.date(due))
        return self.t("terms.due_by", date=self.date(due), terms=self.terms_label(terms))

    def weekday_date(self, value: date) -> str:
        """Long date with its weekday: ``samedi 4 avril 2026``."""
        return tr.format_weekday_date(value, self.locale)

    def due_terms(self, terms: PaymentTerms, issue_date: date) -> tuple[date, str]:
        """(due date, payment terms in words) of an invoice issued on ``issue_date``, in this language:
        ``Paiement au plus tard le 6 avril 2026 (30 jours net).``, followed, when a weekend or public holiday moved the
        due date, by the sentence saying from which day and in which direction."""
        summary = summarize(terms, issue_date)
        text = self.payment_terms(terms, summary.due_date)
        if summary.adjusted:
            key = "terms.moved_" + ("next" if summary.due_date > summary.unadjusted_due_date else "previous")
            if summary.holiday_name:
                key += "_holiday"
            text += " " + self.t(key, date=self.weekday_date(summary.unadjusted_due_date),
                                 country=self.country(summary.country or ""))
        return summary.due_date, text

    def _reference_name(self, regime, currency: str) -> str:
        if regime.reference is not None:
            return self.t(f"late.reference.{regime.kind}")
        return (self.t("late.reference_ecb") if currency == "EUR"
                else self.t("late.reference_central_bank", currency=currency))

    def _semester(self, day: date) -> str:
        return self.t(f"late.semester_{1 if day.month <= 6 else 2}", year=day.year)

    def compensation_bands(self, bands, currency: str) -> str:
        """``£40.00 (debt under £1,000.00), £70.00 (£1,000.00 to £9,999.99) or £100.00 (£10,000.00 or more)``."""
        from duly.domain.money import quantum

        parts, low = [], None
        for below, amount in bands:
            money = self.money(amount, currency)
            if low is None:
                parts.append(self.t("late.band_under", amount=money, limit=self.money(below, currency)))
            elif below is None:
                parts.append(self.t("late.band_over", amount=money, low=self.money(low, currency)))
            else:
                parts.append(self.t("late.band_between", amount=money, low=self.money(low, currency),
                                    high=self.money(below - quantum(currency), currency)))
            low = below
        return ", ".join(parts[:-1]) + self.t("late.band_or") + parts[-1]

    def late_terms(self, policy: LateFeePolicy | None, currency: str, as_of: date | None = None) -> str:
        """The late-payment terms in words, with the actual rate and amounts (mirrors
        :func:`duly.domain.late_fees.describe_policy`, in this language): a statutory rate following
        the recorded reference rates is stated for the semester of ``as_of`` (the issue date)."""
        if policy is None or policy.kind == "none":
            return self.t("late.none")
        parts: list[str] = []
        if policy.charges_interest:
            rate = policy.annual_rate_on(as_of, currency)
            if rate is None:  # an interest policy always has a rate; keep the sentence honest anyway
                return self.t("late.none")
            if policy.kind == "interest_monthly":
                text = self.t("late.interest_monthly", rate=self.percent(policy.rate_percent),
                              annual=self.percent(rate))
            elif policy.regime is not None:
                # The regime's own words: a national law names itself and its reference rate ("late.law.<kind>",
                # "late.reference.<kind>"); the EU rule names the ECB or the currency's central bank.
                regime = policy.regime
                reference = policy.reference_rate_percent if policy.reference_rate_percent is not None else (
                    rate - regime.margin)
                words = dict(rate=self.percent(rate), reference=self.percent(reference),
                             margin=self.number(regime.margin), reference_name=self._reference_name(regime, currency),
                             law=self.t(f"late.law.{regime.kind}") if regime.names_law else "")
                key = "late.statutory" if regime.names_law else "late.eu_statutory"
                if policy.uses_reference_rates:
                    assert as_of is not None  # annual_rate_on refused a missing date
                    text = self.t(f"{key}_current", **words, semester=self._semester(as_of))
                else:
                    text = self.t(key, **words)
            else:
                text = self.t("late.interest_annual", rate=self.percent(rate))
            if policy.interest_from_due_date or policy.grace_days == 0:
                text += self.t("late.from_due")
            else:
                text += self.plural("late.from_grace", policy.grace_days)
            parts.append(text)
        fixed = policy.fixed_fee_for(currency)
        if fixed > 0:
            parts.append(self.t("late.fixed_fee", amount=self.money(fixed, currency)))
        bands = policy.compensation_bands(currency)
        if len(bands) == 1:
            parts.append(self.t("late.compensation", amount=self.money(bands[0][1], currency)))
        elif bands:
            parts.append(self.t("late.compensation_bands", amounts=self.compensation_bands(bands, currency)))
        if not parts:
            return self.t("late.none")
        body = self.t("late.join").join(parts)
        if policy.grace_days:
            body += self.plural("late.grace", policy.grace_days)
        caps = []
        if policy.cap_percent is not None:
            caps.append(self.t("late.cap_percent", rate=self.percent(policy.cap_percent)))
        if policy.cap_amount is not None:
            caps.append(self.money(policy.cap_amount, currency))
        if caps:
            body += self.t("late.cap", cap=self.t("late.cap_or").join(caps))
            if len(caps) == 2:
                body += self.t("late.cap_lower")
        return self.t("late.intro", parts=body)


def localizer(locale: str) -> Localizer:
    """The :class:`Localizer` for a stored locale (``fr_FR``, ``de``…); unknown languages use English."""
    language, babel_locale = tr.language_and_locale(locale)
    return Localizer(language=language, locale=babel_locale)


@lru_cache(maxsize=4096)
def terms_due(terms: PaymentTerms, issue_date: date, locale: str | None) -> tuple[date, str]:
    """(due date, payment terms in words) an invoice issued on ``issue_date`` freezes, in the language of the
    customer's ``locale``: Duly's English sentence for English (``Payment due by 30 April 2026 (30 days net)``,
    unchanged), else :meth:`Localizer.due_terms` (``Paiement au plus tard le 30 avril 2026 (30 jours net).``, with the
    business-day move in words). Remembered: a billing run's invoices share their terms and issue date."""
    loc = localizer(locale or "en")
    if loc.language == "en":
        summary = summarize(terms, issue_date)
        return summary.due_date, summary.text  # = describe(terms, issue_date)
    return loc.due_terms(terms, issue_date)


@lru_cache(maxsize=4096)
def late_terms_in(policy: LateFeePolicy, currency: str, issue_date: date | None, locale: str | None) -> str:
    """The late-payment terms an invoice issued on ``issue_date`` freezes, in the language and formats of the
    customer's ``locale``: Duly's English sentence for English (:func:`~duly.domain.late_fees.describe_policy`:
    ``Late payment: interest at 12% per year from the due date, plus a fixed fee of EUR 40.00.``, unchanged), else
    :meth:`Localizer.late_terms` (``Pénalités de retard : …``), with the rate in force on ``issue_date``.
    Remembered: a billing run's contracts share a few policies."""
    loc = localizer(locale or "en")
    if loc.language == "en":
        return describe_policy(policy, currency, as_of=issue_date)
    return loc.late_terms(policy, currency, as_of=issue_date)


@lru_cache(maxsize=16)
def _colon(language: str) -> str:
    return tr.translate(language, "{label}: {value}", "separator").replace("{label}", "").replace("{value}", "").rstrip()
