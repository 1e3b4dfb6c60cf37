"""The result of pricing a quantity (:meth:`duly.domain.pricing.BasePriceModel.charge`), its words built lazily."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .pricing import TierBreakdown
    from .text import Text

__all__ = ["Charge"]


class Charge:
    """The priced quantity: ``amount`` is rounded to the currency once; ``breakdown`` is exact.

    Its words are built only when asked for: ``text`` (the worked arithmetic as structured text, put in the
    customer's language on an invoice line) and ``explanation`` (the same in plain English, e.g.
    ``10 × 10.00 + 40 × 8.00 = 420.00``). A billing run prices thousands of quantities whose words are read in
    one language only, or not at all (a late-usage re-pricing needs the amount); each is built once per charge.

    Immutable; equal when the amounts, quantity, breakdown and English explanation are.
    """

    __slots__ = ("amount", "currency", "quantity", "breakdown", "_words", "_text", "_explanation")

    amount: Decimal
    currency: str
    quantity: Decimal
    breakdown: tuple[TierBreakdown, ...]

    def __init__(self, amount: Decimal, currency: str, quantity: Decimal, breakdown: tuple[TierBreakdown, ...],
                 explanation: str | None = None, text: Text | None = None, *,
                 words: Callable[[], Text] | None = None) -> None:
        put = object.__setattr__
        put(self, "amount", amount)
        put(self, "currency", currency)
        put(self, "quantity", quantity)
        put(self, "breakdown", breakdown)
        put(self, "_words", words)
        put(self, "_text", text)
        put(self, "_explanation", explanation)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def text(self) -> Text | None:
        """The worked arithmetic as structured text (built on first use)."""
        if self._text is None and self._words is not None:
            object.__setattr__(self, "_text", self._words())
            object.__setattr__(self, "_words", None)
        return self._text

    @property
    def explanation(self) -> str:
        """The worked arithmetic in plain English, e.g. ``10 × 10.00 + 40 × 8.00 = 420.00`` (built on first use)."""
        if self._explanation is None:
            words = self.text
            object.__setattr__(self, "_explanation", "" if words is None else str(words))
        return self._explanation  # type: ignore[return-value]

    def _key(self) -> tuple:
        return (self.amount, self.currency, self.quantity, self.breakdown)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Charge:
            return NotImplemented
        return self._key() == other._key() and self.explanation == other.explanation  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Charge(amount={self.amount!r}, currency={self.currency!r}, quantity={self.quantity!r}, "
                f"breakdown={self.breakdown!r}, explanation={self.explanation!r})")
