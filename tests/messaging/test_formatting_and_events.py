"""The fast money formatter agrees with Babel; provider events (django-anymail) reach the outbox."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency

from duly.domain.money import exponent
from duly.messaging.formatting import Formatter
from duly.messaging.models import Message

from .conftest import NOW


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "en_IN", "fr_FR", "fr_CH", "de_DE", "de_CH", "es_ES", "ru_RU",
                                    "ja_JP", "pt_BR", "ar_EG", "hi_IN"])
def test_money_formatting_matches_babel(locale):
    rng = random.Random(locale)
    fmt = Formatter(locale)
    for currency in ("EUR", "USD", "JPY", "BHD", "GBP", "CHF", "INR"):
        for _ in range(200):
            value = Decimal(rng.randint(-10**11, 10**11)).scaleb(-exponent(currency))
            assert fmt.money(value, currency) == format_currency(value, currency, locale=locale), (currency, value)


def test_provider_bounces_and_opens_are_recorded(org, queue, settings):
    from anymail.signals import AnymailTrackingEvent, tracking
    from django.core import mail

    from duly.messaging.delivery import deliver_outbox

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.DULY_OUTBOX_JOURNAL_FSYNC = False
    mail.outbox = []
    first, second = queue(2)
    deliver_outbox(NOW)
    first.refresh_from_db()
    second.refresh_from_db()
    opened = AnymailTrackingEvent(event_type="opened", message_id=first.provider_message_id,
                                  timestamp=NOW + timedelta(hours=2))
    bounced = AnymailTrackingEvent(event_type="bounced", message_id=second.provider_message_id,
                                   timestamp=NOW + timedelta(minutes=5), mta_response="550 5.1.1 unknown user")
    unknown = AnymailTrackingEvent(event_type="bounced", message_id="not-ours")
    for event in (opened, bounced, unknown):
        tracking.send(sender=object, event=event, esp_name="Test")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.opened_at == NOW + timedelta(hours=2)
    assert second.status == Message.BOUNCED and second.bounce_reason == "Test: 550 5.1.1 unknown user"
