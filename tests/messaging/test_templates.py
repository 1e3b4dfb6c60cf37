"""Message templates: every shipped one is personal and strict; broken or generic ones are refused at save."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError

from duly.domain.errors import PayLinkRefused, TemplateError
from duly.messaging.formatting import LANGUAGES, Formatter, late_fee_terms
from duly.messaging.links import make_token, pay_url, read_token
from duly.messaging.models import MessageTemplate
from duly.messaging.rendering import (
    TEMPLATE_DIR,
    TEMPLATE_KINDS,
    Renderer,
    sample_context,
    template_path,
    validate_template,
)
from duly.messaging.services import save_template

BROKEN = """{% block subject %}Reminder for {{ customer.name }}{% endblock %}
{% block text %}Dear {{ contact.name }},
you owe {{ invoice.amount_due }}.
{% endblock %}
{% block html %}<p>Dear {{ contact.name }}</p>{% endblock %}
"""

GENERIC = """{% block subject %}Friendly reminder{% endblock %}
{% block text %}Dear customer, please pay your invoices: {{ pay_link }}{% endblock %}
{% block html %}<p>Dear customer, please pay your invoices.</p>{% endblock %}
"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_shipped_template_is_strict_and_personal(language):
    for name in TEMPLATE_KINDS:
        source = (TEMPLATE_DIR / template_path(name, language)).read_text(encoding="utf-8")
        validate_template(name, language, source)  # raises when not
        rendered = Renderer().render(name, language, sample_context(TEMPLATE_KINDS[name], language))
        assert rendered.subject and "Ysolde Marchetti-Sample" in rendered.text and "<html" in rendered.html


def test_an_undefined_variable_is_refused_at_save_with_the_template_name_and_line(org):
    with pytest.raises(TemplateError) as err:
        save_template(org, name="reminder_firm", language="fr", source=BROKEN)
    assert err.value.message == "Template fr/reminder_firm.j2, line 3: 'invoice' is undefined"
    assert not MessageTemplate.objects.exists()
    row = MessageTemplate(organization=org, name="reminder_firm", language="fr", category="dunning", source=BROKEN)
    with pytest.raises(DjangoValidationError) as form_err:
        row.full_clean()
    assert "fr/reminder_firm.j2, line 3: 'invoice' is undefined" in str(form_err.value)


def test_a_template_without_personal_fields_is_refused(org):
    with pytest.raises(TemplateError) as err:
        save_template(org, name="reminder_gentle", language="en", source=GENERIC)
    assert "en/reminder_gentle.j2 is not personal" in err.value.message and "contact.name" in err.value.message


def test_a_syntax_error_names_the_line(org):
    source = "{% block subject %}Hi{% endblock %}\n{% block text %}\n{{ contact.name }\n{% endblock %}"
    with pytest.raises(TemplateError) as err:
        save_template(org, name="thank_you", language="de", source=source)
    assert err.value.message.startswith("Template de/thank_you.j2, line 3:")


def test_a_variable_of_another_kind_of_message_is_refused(org):
    shipped = (TEMPLATE_DIR / template_path("greeting_birthday", "en")).read_text(encoding="utf-8")
    source = shipped.replace("{{ customer.name }} place in us.", "{{ customer.name }} place in us ({{ total_due }}).")
    with pytest.raises(TemplateError, match="'total_due' is undefined"):
        save_template(org, name="greeting_birthday", language="en", source=source)


def test_the_organizations_own_template_is_used(org):
    shipped = (TEMPLATE_DIR / template_path("reminder_neutral", "en")).read_text(encoding="utf-8")
    mine = shipped.replace("Payment reminder:", "Atelier reminder:")
    save_template(org, name="reminder_neutral", language="en", source=mine)
    from duly.messaging.services import renderer_for

    rendered = renderer_for(org).render("reminder_neutral", "en", sample_context("dunning", "en"))
    assert rendered.subject.startswith("Atelier reminder:")
    with pytest.raises(TemplateError, match="not a shipped template: give its category"):
        save_template(org, name="my_own", language="en", source=mine)
    save_template(org, name="my_own", language="en", source=mine, category="dunning")


def test_a_language_without_its_file_falls_back_to_english():
    rendered = Renderer().render("thank_you", "it", sample_context("payment", "it"))
    assert rendered.subject.startswith("Thank you for your payment")


@pytest.mark.parametrize("locale, money, day", [
    ("en_GB", "€1,234.56", "1 April 2026"),
    ("fr_FR", "1\u202f234,56\xa0€", "1 avril 2026"),
    ("de_DE", "1.234,56\xa0€", "1. April 2026"),
    ("ru_RU", "1\xa0234,56\xa0€", "1 апреля 2026\u202fг."),
    ("es_ES", "1.234,56\xa0€", "1 de abril de 2026"),
])
def test_money_and_dates_follow_the_locale(locale, money, day):
    fmt = Formatter.for_locale(locale)
    assert fmt.money(123456, "EUR") == money
    assert fmt.money(Decimal("1234.56"), "EUR") == money
    assert fmt.date(date(2026, 4, 1)) == day


def test_late_fee_terms_in_words_per_language():
    from duly.domain.late_fees import LateFeePolicy

    policy = LateFeePolicy(kind="eu_statutory", reference_rate_percent=Decimal("2.15"))
    assert late_fee_terms(policy, "EUR", Formatter.for_locale("de_DE")) == (
        "Zahlungsverzug: Verzugszinsen von 10,15\xa0% pro Jahr ab Fälligkeit, zuzüglich eine Pauschale von "
        "40,00\xa0€ für Beitreibungskosten.")
    assert late_fee_terms(None, "EUR", Formatter.for_locale("es")) == "No se aplican recargos por demora."


def test_pay_links_are_stable_signed_and_refuse_forgeries(settings):
    settings.DULY_PUBLIC_URL = "https://pay.atelier.example"
    url = pay_url(1, 42, 7, version=3)
    assert url == pay_url(1, 42, 7, version=3) and url.startswith("https://pay.atelier.example/p/")
    target = read_token(url.rsplit("/", 1)[1])
    assert (target.organization_id, target.customer_id, target.invoice_id, target.version) == (1, 42, 7, 3)
    token = make_token(1, 42, 7)
    forged = token.replace("eyJvIjoxLCJjIjo0MiwidiI6MSwiaSI6N30", "eyJvIjoxLCJjIjo0MywidiI6MSwiaSI6N30")
    assert forged != token  # customer 43, same signature
    with pytest.raises(PayLinkRefused):
        read_token(forged)
