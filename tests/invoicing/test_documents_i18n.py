"""Words, numbers and dates of printed documents in en, fr, de, ru and es (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from duly.domain.late_fees import LateFeePolicy, describe_policy
from duly.domain.payment_terms import PaymentTerms
from duly.invoicing.documents.i18n import LABELS, LANGUAGES, localizer
from duly.invoicing.documents.words import UNITS
from duly.translation import Msg, translate

EU = LateFeePolicy(kind="eu_statutory", reference_rate_percent=D("2.15"), compensation_amount=D("40.00"),
                   grace_days=3, cap_percent=D("10"), cap_amount=D("500.00"))


def test_every_language_has_every_label():
    """Each label and unit of the documents is in the invoicing catalogue of every language (an English
    label looked up in French comes back English only when the catalogue lacks it)."""
    from babel.messages.pofile import read_po

    from duly.translation import catalogue_dirs

    folder = next(d for d in catalogue_dirs() if d.parent.name == "invoicing")
    for lang in LANGUAGES[1:]:
        with (folder / lang / "LC_MESSAGES" / "django.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for key, msg in [*LABELS.items(), *UNITS.items()]:
            msgid, context = (msg.msgid, msg.context) if isinstance(msg, Msg) else (msg, None)
            entry = catalog.get((msgid, msg.plural) if isinstance(msg, Msg) and msg.plural else msgid, context=context)
            assert entry is not None and entry.string, (lang, key)
    assert translate("fr", "Invoice") == "Facture" and localizer("de_DE").t("title.standard") == "Rechnung"


@pytest.mark.parametrize("locale,quantities", [
    ("en", {("2", "DAY"): "2 days", ("1", "DAY"): "1 day", ("40", "C62"): "40 units", ("1.5", "HUR"): "1.5 hours"}),
    ("fr_FR", {("2", "DAY"): "2 jours", ("1", "DAY"): "1 jour", ("30", "C62"): "30 unités",
               ("34", "HUR"): "34 heures", ("1.5", "HUR"): "1,5 heure", ("0", "DAY"): "0 jour"}),
    ("de_DE", {("8", "DAY"): "8 Tage", ("1", "DAY"): "1 Tag", ("2", "HUR"): "2 Std.", ("3", "MON"): "3 Monate",
               ("2", "WEE"): "2 Wochen"}),
    ("es_ES", {("32", "HUR"): "32 horas", ("1", "HUR"): "1 hora", ("2", "DAY"): "2 días", ("30", "C62"): "30 unidades"}),
    # Russian invoices abbreviate most units (invariable: "5 дн.", "3,5 ч"); a year is a word with three forms.
    ("ru_RU", {("1", "ANN"): "1 год", ("2", "ANN"): "2 года", ("5", "ANN"): "5 лет", ("21", "ANN"): "21 год",
               ("11", "ANN"): "11 лет", ("1.5", "ANN"): "1,5 года", ("5", "DAY"): "5 дн.", ("3.5", "HUR"): "3,5 ч",
               ("3", "C62"): "3 шт."}),
])
def test_quantities_take_the_plural_form_of_their_number(locale, quantities):
    loc = localizer(locale)
    for (quantity, unit), expected in quantities.items():
        assert loc.quantity(D(quantity), unit).replace("\xa0", " ") == expected
    assert loc.quantity(D("3"), "XYZ") == "3 XYZ"  # an unknown code prints as it is


@pytest.mark.parametrize("terms,language,expected", [
    (PaymentTerms(kind="net", days=2), "fr_FR", "2 jours net"),
    (PaymentTerms(kind="net", days=1), "fr_FR", "1 jour net"),
    (PaymentTerms(kind="net", days=8), "de_DE", "8 Tage netto"),
    (PaymentTerms(kind="net", days=1), "es_ES", "1 día neto"),
    (PaymentTerms(kind="net", days=25), "ru_RU", "25 дней"),
])
def test_payment_terms_take_the_plural_form_of_their_days(terms, language, expected):
    assert localizer(language).terms_label(terms) == expected


def test_french_dates_say_premier_for_the_first_of_the_month():
    fr = localizer("fr_FR")
    assert fr.date(date(2026, 7, 1)) == "1er juillet 2026"
    assert fr.date(date(2026, 7, 2)) == "2 juillet 2026"
    assert fr.period(date(2026, 7, 1), date(2026, 7, 31)) == "1er juillet 2026 – 31 juillet 2026"
    assert localizer("fr_CH").date(date(2026, 8, 1)).startswith("1er ")
    assert localizer("en").date(date(2026, 7, 1)) == "1 July 2026"
    assert localizer("de_DE").date(date(2026, 7, 1)) == "1. Juli 2026"


@pytest.mark.parametrize("locale,money,jpy,day,number", [
    ("en_GB", "€1,234.50", "JP¥1,235", "30 April 2026", "1,234.5"),
    ("fr_FR", "1 234,50 €", "1 235 JPY", "30 avril 2026", "1 234,5"),
    ("de_DE", "1.234,50 €", "1.235 ¥", "30. April 2026", "1.234,5"),
    ("ru_RU", "1 234,50 €", "1 235 ¥", "30 апреля 2026 г.", "1 234,5"),
    ("es_ES", "1.234,50 €", "1.235 JPY", "30 de abril de 2026", "1.234,5"),
])
def test_numbers_currencies_and_dates_follow_the_locale(locale, money, jpy, day, number):
    loc = localizer(locale)
    squash = lambda text: " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())  # noqa: E731
    assert squash(loc.money(D("1234.50"), "EUR")) == money
    assert squash(loc.money(D("1235"), "JPY")) == jpy
    assert squash(loc.date(date(2026, 4, 30))) == day
    assert squash(loc.number(D("1234.500000"))) == number
    assert squash(loc.price(D("0.012500"), "EUR")).endswith("0125")
    assert squash(loc.amount(D("-33.25"), "EUR")).replace(",", ".") == "-33.25"


def test_unknown_languages_fall_back_to_english_words():
    loc = localizer("ja_JP")
    assert (loc.language, loc.t("title.standard"), loc.unit("HUR")) == ("en", "Invoice", "hour")
    assert localizer("not a locale").language == "en"
    assert localizer("en_US").date(date(2026, 4, 30)) == "April 30, 2026"


def test_english_late_terms_match_the_domain_wording():
    loc = localizer("en")
    policy = LateFeePolicy(kind="interest_annual", rate_percent=D("12"), fixed_fee=D("40.00"))
    domain = "Late payment: interest at 12% per year from the due date, plus a fixed fee of EUR 40.00."
    assert describe_policy(policy, "EUR") == domain
    assert loc.late_terms(policy, "EUR") == domain.replace("EUR 40.00", "€40.00")


@pytest.mark.parametrize("locale,expected", [
    ("en", "Late payment: interest at 10.15% per year (ECB reference rate 2.15% + 8 points) from the due date, "
           "plus €40.00 fixed compensation for recovery costs; charged only when payment is more than 3 days late; "
           "total late charges capped at 10% of the invoice amount or €500.00, whichever is lower."),
    ("fr_FR", "En cas de retard de paiement : intérêts au taux de 10,15 % par an (taux de refinancement de la BCE "
              "2,15 % + 8 points) à compter de la date d'échéance, plus une indemnité forfaitaire pour frais de "
              "recouvrement de 40,00 € ; appliqués seulement au-delà de 3 jours de retard ; total des pénalités "
              "plafonné à 10 % du montant de la facture ou 500,00 €, le montant le plus bas s'appliquant."),
    ("de_DE", "Bei Zahlungsverzug: Verzugszinsen von 10,15 % pro Jahr (EZB-Referenzzinssatz 2,15 % + 8 "
              "Prozentpunkte) ab dem Fälligkeitsdatum; außerdem eine Verzugspauschale von 40,00 €; "
              "berechnet erst bei mehr als 3 Tagen Verzug; Verzugskosten insgesamt höchstens 10 % des "
              "Rechnungsbetrags bzw. 500,00 €, je nachdem, welcher Betrag niedriger ist."),
    ("ru_RU", "При просрочке оплаты: проценты по ставке 10,15 % годовых (ставка ЕЦБ 2,15 % + 8 п.п.) со дня, "
              "следующего за сроком оплаты, а также компенсация расходов на взыскание 40,00 €; начисляются только при "
              "просрочке более 3 дней; общая сумма не более 10 % от суммы счёта или 500,00 €, в зависимости от того, "
              "что меньше."),
    ("es_ES", "En caso de demora en el pago: intereses del 10,15 % anual (tipo de referencia del BCE 2,15 % + 8 "
              "puntos) desde la fecha de vencimiento, más una indemnización por costes de cobro de 40,00 €; "
              "solo se aplica con más de 3 días de retraso; total de recargos limitado a 10 % del importe de la "
              "factura o 500,00 €, el menor de ambos."),
])
def test_statutory_late_terms_in_words_with_rate_fee_grace_and_cap(locale, expected):
    text = localizer(locale).late_terms(EU, "EUR")
    assert " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split()) == expected


@pytest.mark.parametrize("terms,en,ru", [
    (PaymentTerms(kind="net", days=30), "Payment due by 30 April 2026 (30 days net).", "30 дней"),
    (PaymentTerms(kind="net", days=21), "Payment due by 30 April 2026 (21 days net).", "21 день"),
    (PaymentTerms(kind="net", days=22), "Payment due by 30 April 2026 (22 days net).", "22 дня"),
    (PaymentTerms(kind="end_of_month", days=0), "Payment due by 30 April 2026 (end of month).", "конец месяца"),
    (PaymentTerms(kind="day_of_next_month", day_of_month=15), "Payment due by 30 April 2026 (day 15 of the following "
                                                                "month).", "15-е число"),
    (PaymentTerms(kind="on_receipt"), "Payment due on receipt, by 30 April 2026.", "по получении"),
])
def test_payment_terms_in_words(terms, en, ru):
    due = date(2026, 4, 30)
    assert localizer("en").payment_terms(terms, due) == en
    assert ru in localizer("ru_RU").payment_terms(terms, due)
    assert "30 апреля 2026" in localizer("ru_RU").payment_terms(terms, due).replace("\u202f", " ")
