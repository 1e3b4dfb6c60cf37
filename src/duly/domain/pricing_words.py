"""The words of price models (:mod:`duly.domain.pricing`): a price as it is named to a customer.

``12.00 EUR per unit``, ``1–10 at 12.00 EUR, 11+ at 9.00 EUR + 5.00 EUR flat``: used by the models' ``describe``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from .money import MONEY_CONTEXT, round_money

__all__ = ["money_words"]


def _words_number(value: Decimal) -> str:
    """A rate or a count in words: ``1.50`` → ``1.5``, ``1E+2`` → ``100``."""
    return format(value.normalize(MONEY_CONTEXT), "f")


def _words_money(value: Decimal, currency: str) -> str:
    """An amount in words: at the currency's decimals when it has no more (``100.00 EUR``), else exact."""
    rounded = round_money(value, currency)
    return f"{rounded if value == rounded else _words_number(value)} {currency}"


money_words = _words_money


def _words_tiers(tiers: Sequence[Any], currency: str) -> str:
    """``1–10 at 12.00 EUR, 11+ at 9.00 EUR + 5.00 EUR flat``."""
    parts = []
    lower = Decimal(0)
    for tier in tiers:
        whole = lower == lower.to_integral_value()
        span = _words_number(lower + 1) if whole else f"over {_words_number(lower)}"
        if tier.up_to is not None:
            span = f"{span}–{_words_number(tier.up_to)}"
        elif whole:
            span += "+"
        text = f"{span} at {_words_money(tier.unit_price, currency)}"
        if tier.flat_fee:
            text += f" + {_words_money(tier.flat_fee, currency)} flat"
        parts.append(text)
        if tier.up_to is not None:
            lower = tier.up_to
    return ", ".join(parts)
