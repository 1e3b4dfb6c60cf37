"""The words of price models (:mod:`duly.domain.pricing`): a price as it is named to a customer.

``12.00 EUR per unit``, ``1–10 at 12.00 EUR, 11+ at 9.00 EUR + 5.00 EUR flat``: used by the models' ``describe``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from .money import MONEY_CONTEXT, round_money
from .text import Percent, Price, Text, join_text, text

__all__ = ["describe_text", "money_words", "tiers_text"]


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


# --- the same words as structured text (for the customer's language) -------------------------------------
def _money(value: Decimal, currency: str) -> Price:
    return Price(value, currency, code=True)


def tiers_text(tiers: Sequence[Any], currency: str) -> Text:
    """:func:`_words_tiers` as structured text."""
    parts = []
    lower = Decimal(0)
    for tier in tiers:
        whole = lower == lower.to_integral_value()
        first = (lower + 1).normalize(MONEY_CONTEXT)
        if tier.up_to is not None:
            span = Text("{first}–{last}", (("first", first if whole else text("over {amount}", amount=lower)),
                                          ("last", tier.up_to.normalize(MONEY_CONTEXT))))
        elif whole:
            span = Text("{first}+", (("first", first),))
        else:
            span = text("over {amount}", amount=lower.normalize(MONEY_CONTEXT))
        if tier.flat_fee:
            parts.append(text("{span} at {price} + {fee} flat", span=span, price=_money(tier.unit_price, currency),
                              fee=_money(tier.flat_fee, currency)))
        else:
            parts.append(text("{span} at {price}", span=span, price=_money(tier.unit_price, currency)))
        if tier.up_to is not None:
            lower = tier.up_to
    return join_text(parts, ", ")


def describe_text(model: Any, currency: str) -> Text:
    """A price model's ``describe`` as structured text: ``12.00 EUR per unit`` (``12,00 € par unité``)."""
    code = model.code
    if code == "flat":
        return text("{amount} per period", amount=_money(model.amount, currency))
    if code == "per_unit":
        return text("{amount} per unit", amount=_money(model.unit_price, currency))
    if code == "graduated":
        return text("graduated: {tiers}", tiers=tiers_text(model.tiers, currency))
    if code == "volume":
        return text("volume: {tiers}", tiers=tiers_text(model.tiers, currency))
    if code == "package":
        size = model.package_size.normalize(MONEY_CONTEXT)
        if model.free_units:
            return text("{amount} per {n} units ({free} free)", plural="{amount} per {n} units ({free} free)", n=size,
                        amount=_money(model.amount, currency), free=model.free_units.normalize(MONEY_CONTEXT))
        return text("{amount} per {n} units", plural="{amount} per {n} units", n=size,
                    amount=_money(model.amount, currency))
    if code == "percentage":
        parts: list[Text] = [text("{rate} per transaction", rate=Percent(model.rate))]
        if model.fixed_fee:
            parts.append(Text(" + {fee}", (("fee", _money(model.fixed_fee, currency)),)))
        if model.min_per_transaction is not None:
            parts.append(text(", at least {amount}", amount=_money(model.min_per_transaction, currency)))
        if model.max_per_transaction is not None:
            parts.append(text(", at most {amount}", amount=_money(model.max_per_transaction, currency)))
        return join_text(parts, "")
    if code == "minimum_commitment":
        return text("{charge}, minimum {amount} per period", charge=describe_text(model.charge_model, currency),
                    amount=_money(model.minimum, currency))
    return Text("{words}", (("words", model.describe(currency)),))  # a model Duly has no words for: its own
