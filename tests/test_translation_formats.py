"""The number formats customers read are Babel's, to the character: the fast path of ``duly.translation`` (the locale's
symbols read once, see ``_plain_formatter``) gives what ``babel.numbers.NumberPattern.apply`` gives."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from duly import translation

LOCALES = ["fr_FR", "de_DE", "ru_RU", "es_ES", "en_GB", "en_US", "de_CH", "fr_CH", "en", "fr"]
PATTERNS = ["#,##0", "#,##0.00", "#,##0.###", "#,##0.00##", "#,##0.0", "#,##0.000000", "#,##0.00######"]


def _values() -> list[Decimal]:
    rng = random.Random(18)
    fixed = ["0", "-0", "0.5", "-0.5", "1", "-1", "0.005", "0.0049", "0.0125", "999.995", "1000", "-1000", "1234.5",
             "12345678.901", "100.00", "4.0", "1E+3", "1.50E+2", "123456789012345678.5", "0.000001", "2.675",
             "0.125", "-12345.5"]
    drawn = [Decimal(rng.randint(-10**9, 10**9)).scaleb(-rng.randint(0, 8)) for _ in range(300)]
    return [Decimal(v) for v in fixed] + drawn


@pytest.mark.parametrize("locale", LOCALES)
def test_plain_patterns_format_as_babel_does(locale):
    where = translation.babel_locale(translation.language_and_locale(locale)[1])
    for pattern in PATTERNS:
        babel = translation._number_pattern(pattern)
        fast = translation._plain_formatter(pattern, str(where))
        assert fast is not None
        for value in _values():
            expected = babel.apply(value, where, decimal_quantization=True, group_separator=True,
                                   numbering_system="latn")
            assert fast(value) == expected, (pattern, locale, value)


def test_the_billing_formats_go_through_it_unchanged():
    assert translation.format_price(Decimal("0.0125"), "EUR", "fr_FR") == "0,0125"
    assert translation.format_exact(Decimal("1250.50"), "de_DE") == "1.250,50"
    assert translation.format_number(Decimal("1000"), "ru_RU") == "1\xa0000"
    assert translation.format_amount(Decimal("-1234.5"), "EUR", "en_GB") == "-1,234.50"
