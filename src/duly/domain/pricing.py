"""Price models: one small class per model, chosen from a registry by its code (as Lago does).

Models
    ``flat``                a fixed ``amount`` per period; the quantity is recorded but not charged.
    ``per_unit``            ``quantity × unit_price``.
    ``graduated``           each unit is priced by the tier it falls in; a tier's ``flat_fee`` is added
                            once as soon as at least part of a unit falls in that tier.
    ``volume``              every unit is priced at the tier the *total* quantity falls in, plus that
                            tier's ``flat_fee``. A quantity of 0 costs nothing (no tier is reached).
    ``package``             ``quantity − free_units`` is billed in whole packages of ``package_size``
                            units (rounded up), each package costing ``amount``.
    ``percentage``          ``rate`` percent of each transaction amount plus ``fixed_fee`` per
                            transaction, each transaction's fee clamped to
                            ``[min_per_transaction, max_per_transaction]``.
    ``minimum_commitment``  wraps another model: when the period charge is below ``minimum``, a
                            true-up line brings it up to the minimum.

Tiers
    A tier covers the quantities above the previous tier's ``up_to`` (0 for the first) up to and
    including its own ``up_to``. The last tier is open: ``up_to=None``. There are no sentinel numbers.
    With tiers up to 10 and up to 50, quantity 10 lies wholly in the first tier and 10.5 puts 0.5
    unit in the second. Tiers are validated when the model is built: strictly increasing, only the
    last one open (so there is neither a gap nor an overlap), no negative price.

Arithmetic
    Quantities are Decimals and may be fractional. Floats are refused. Everything is computed at
    full precision in :data:`~duly.domain.money.MONEY_CONTEXT` (50 digits: 10**12 units are exact)
    and rounded to the currency's minor unit ONCE, at the end, with
    :func:`~duly.domain.money.round_money` (half up). Breakdown amounts are the exact, unrounded
    contributions, so they add up to the unrounded total.

Configuration
    Every model is built from, and turns back into, a plain JSON-storable dict
    (:func:`model_from_config` / ``to_config()``): decimals are strings, the open bound is ``null``::

        {"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "10.00"},
                                          {"up_to": null, "unit_price": "8"}]}

Every charge carries its worked arithmetic in plain English (``explanation``), e.g.
``10 × 10.00 + 40 × 8.00 = 420.00``, and as structured text (``text``): both built on first use.

The registry
    Each model class owns everything Duly asks of a price; no other code tests a model's class or code.
    Its parts (:data:`REQUIRED_PARTS`, abstract in :class:`BasePriceModel`, documented there): its
    configuration (``from_config``/``to_config``), its charge (``_price``), its words (``describe``, asked
    by :func:`duly.domain.billing_plan.describe_model`), whether it takes transactions
    (``takes_transactions``), its share of a partial period (``share``, asked by
    :func:`duly.domain.billing_plan.commitment_share`), its minimum commitment (``minimum_per_period``) and
    how an invoice line shows it (``line_unit_price``, ``prices_quantity``). :func:`registered` refuses
    any object whose class is not the one registered under its code: never a guess.

Adding a price model
    1. In this module, write a frozen dataclass subclassing :class:`BasePriceModel` with its own
       ``code: ClassVar[str]`` and every part above, and decorate it with ``@register`` (above
       ``@dataclass``). A class that leaves a part out (or inherits it from another model) is refused
       with a ``TypeError`` when the module is imported, so no part can be forgotten silently.
    2. Add its vectors: an entry in ``MODEL_VECTORS`` of ``tests/domain/test_pricing_registry.py`` (the
       registry test fails until every registered model has every answer) and, for its arithmetic,
       hand-computed charges in ``tests/domain/data/pricing_vectors.json``.
    Nothing else changes: configurations are read by :func:`model_from_config`, prices are validated,
    described, prorated and put on invoice lines through the parts above.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import AbstractSet, Any, ClassVar, Mapping, Sequence

from .charge import Charge
from .errors import InvalidPricing, NegativeQuantity, OverlappingTiers, ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, exponent, round_money, to_decimal
from .schedules import prorate_days
from .text import Number, Percent, Price, Text, join_text, text
from .pricing_words import describe_text, money_words

__all__ = [
    "BasePriceModel",
    "Charge",
    "FlatPricing",
    "GraduatedPricing",
    "MinimumCommitment",
    "PackagePricing",
    "PercentagePricing",
    "PercentageTerm",
    "PerUnitPricing",
    "PriceModel",
    "REGISTRY",
    "REQUIRED_PARTS",
    "Tier",
    "TierBreakdown",
    "VolumePricing",
    "model_from_config",
    "price_model",
    "register",
    "registered",
]

#: Above this many transactions a percentage explanation is summarised instead of listed.
_LISTED_TRANSACTIONS = 10


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TierBreakdown:
    """One line of a charge: ``units × unit_price + flat_fee = amount`` (amount unrounded).

    ``label`` names the tier or the part of the charge (``"11–50"``, ``"packages of 100"``);
    :meth:`describe` gives the whole line, e.g. ``11–50: 40 × 8.00``.
    """

    label: str
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal

    def describe(self, currency: str) -> str:
        """The line with prices shown to the currency's decimals: ``11–50: 40 × 8.00``."""
        text = f"{self.label}: {_plain(self.units)} × {_money_text(self.unit_price, currency)}"
        if self.flat_fee:
            text += f" + {_money_text(self.flat_fee, currency)} flat"
        return text

    def __str__(self) -> str:
        text = f"{self.label}: {_plain(self.units)} × {_plain(self.unit_price)}"
        if self.flat_fee:
            text += f" + {_plain(self.flat_fee)} flat"
        return text


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Priced:
    """Unrounded result of a model, before the single rounding in :meth:`BasePriceModel.charge`."""

    amount: Decimal
    breakdown: tuple[TierBreakdown, ...]
    #: Left-hand side of the explanation; the charge appends ``= total``.
    expression: Text


def _plain(value: Decimal) -> str:
    """A decimal without exponent notation, exactly as precise as it is: ``1E+12`` → ``1000000000000``."""
    return format(value, "f")


def _trimmed(value: Decimal) -> str:
    """A decimal without trailing zeros: ``10.0`` → ``10``, ``2.50`` → ``2.5``."""
    return _plain(value.normalize(context=MONEY_CONTEXT))


def _words(template: str, **params: Any) -> Text:
    """Structured text of placeholders and symbols only (``{quantity} × {price}``): nothing to translate."""
    return Text(template, tuple(params.items()))


def _money_text(value: Decimal, currency: str) -> str:
    """An amount with at least the currency's decimals and no fewer than it needs: 8 EUR → ``8.00``."""
    if not value and value.is_signed():
        return _money_text_of(value, currency)  # -0: equal to 0, but written "-0.00"
    return _remembered_money_text(value, currency)


@lru_cache(maxsize=65536)
def _remembered_money_text(value: Decimal, currency: str) -> str:
    # The text depends on the amount only, not on how many zeros its Decimal carries (8, 8.0 and 8.00
    # are equal keys and give "8.00" alike): amounts repeat across a run's invoices.
    return _money_text_of(value, currency)


def _money_text_of(value: Decimal, currency: str) -> str:
    sign, digits, places = value.as_tuple()
    if type(places) is int and places == -exponent(currency) and len(digits) <= MONEY_CONTEXT.prec:
        return format(value, "f")  # already exactly at the currency's decimals: quantizing changes nothing
    decimals = max(exponent(currency), -min(value.normalize(context=MONEY_CONTEXT).as_tuple().exponent, 0))
    return format(value.quantize(Decimal(1).scaleb(-decimals), context=MONEY_CONTEXT), "f")


money_text = _money_text


def _is_integral(value: Decimal) -> bool:
    return value == value.to_integral_value()


def _decimal(value: Any, what: str, model: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValidationError as exc:
        raise InvalidPricing(f"{model} pricing: {what} — {exc.message}", model=model, field=what) from None


def _non_negative(value: Any, what: str, model: str) -> Decimal:
    result = _decimal(value, what, model)
    if result < 0:
        raise InvalidPricing(f"{model} pricing: {what} cannot be negative (got {_plain(result)}).",
                             model=model, field=what)
    return result


def _optional(value: Any, what: str, model: str) -> Decimal | None:
    return None if value is None else _non_negative(value, what, model)


def _config_text(value: Decimal | None) -> str | None:
    return None if value is None else _plain(value)


def _check_keys(
    config: Mapping[str, Any], model: str, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> None:
    if not isinstance(config, Mapping):
        raise InvalidPricing(f"{model} pricing: the configuration must be a mapping, got {type(config).__name__}.")
    unknown = set(config) - required - optional
    if unknown:
        raise InvalidPricing(
            f"{model} pricing: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected {', '.join(sorted(required | optional))}.",
            model=model,
        )
    missing = required - set(config)
    if missing:
        raise InvalidPricing(f"{model} pricing: missing setting(s) {', '.join(sorted(missing))}.", model=model)


def _quantity(value: Any) -> Decimal:
    try:
        quantity = to_decimal(value)
    except ValidationError as exc:
        raise ValidationError(f"Quantity: {exc.message}") from None
    if quantity < 0:
        raise NegativeQuantity(f"Quantity cannot be negative (got {_plain(quantity)}).", quantity=_plain(quantity))
    return quantity


class BasePriceModel(ABC):
    """The base of every price model: the shared :meth:`charge` (validate input, price at full precision,
    round once, explain) and the parts each model must define itself (see "Adding a price model" in the
    module notes). :func:`register` refuses a class that leaves one of :data:`REQUIRED_PARTS` to its bases.
    """

    code: ClassVar[str]

    def charge(self, quantity: Decimal, currency: str, *, transactions: Sequence[Decimal] = ()) -> Charge:
        check_currency(currency)
        q = _quantity(quantity)
        txs = tuple(_transaction(t) for t in transactions)
        if txs and not self.takes_transactions():
            raise InvalidPricing(f"{self.code} pricing does not take transactions; only percentage does.")
        with localcontext(MONEY_CONTEXT):
            priced = self._price(q, txs, currency)
        amount = round_money(priced.amount, currency)

        def words() -> Text:  # the explanation, built when a line's words are written or asked for
            raw, total = Price(priced.amount, currency), Price(amount, currency)
            if _money_text(priced.amount, currency) != _money_text(amount, currency):
                return text("{expression} = {raw}, rounded to {total}", expression=priced.expression, raw=raw,
                            total=total)
            return _words("{expression} = {raw}", expression=priced.expression, raw=raw)

        return Charge(amount, currency, q, priced.breakdown, words=words)

    # --- the parts every model defines (REQUIRED_PARTS) ---------------------------------------------------
    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any]) -> PriceModel:
        """Build the model from its configuration (without the ``model`` key)."""

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """The JSON-storable dict :func:`model_from_config` turns back into an equal model."""

    @abstractmethod
    def describe(self, currency: str) -> str:
        """The price in words, e.g. ``12.00 EUR per unit`` (price-change notices and invoice notes)."""

    @abstractmethod
    def takes_transactions(self) -> bool:
        """Whether the model prices the individual transactions (the usage events' values) of a window.

        When it does, the billing run passes the window's values as ``transactions`` and their sum as the
        quantity; otherwise passing transactions to :meth:`charge` is refused.
        """

    @abstractmethod
    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        """The model for a usage window covering ``days`` of its cycle's ``whole`` days (``days < whole``).

        Returns the model to price that window with and the words saying why it differs from this one,
        ending in ``"; "`` (``""`` and the model itself when a part of a period is priced as it is).
        """

    def share_text(self, currency: str, days: int, whole: int) -> tuple[PriceModel, Text | str]:
        """:meth:`share` with the words as structured text, for the customer's language (a model whose share
        says something overrides it; by default the English words of :meth:`share`)."""
        return self.share(currency, days, whole)

    @abstractmethod
    def minimum_per_period(self) -> Decimal | None:
        """The minimum charge agreed per period (which :meth:`share` prorates), or None without one."""

    @abstractmethod
    def line_unit_price(self) -> Decimal | None:
        """The unit price an unprorated invoice line may show as ``quantity × unit price`` (None: the line
        shows ``1 × amount``). Only a price whose charge is exactly quantity × this price may return one."""

    @abstractmethod
    def prices_quantity(self) -> bool:
        """Whether a recurring line names its quantity in its label (``Seats × 5``)."""

    @abstractmethod
    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        """The unrounded charge (the validated ``quantity`` and ``transactions``, in MONEY_CONTEXT)."""


#: What every price model offers: the base every model subclasses (implementations are frozen dataclasses).
PriceModel = BasePriceModel


def _transaction(value: Any) -> Decimal:
    try:
        amount = to_decimal(value)
    except ValidationError as exc:
        raise ValidationError(f"Transaction amount: {exc.message}") from None
    if amount < 0:
        raise NegativeQuantity(f"Transaction amounts cannot be negative (got {_plain(amount)}).")
    return amount


# --------------------------------------------------------------------------- tiers


@dataclass(frozen=True)
class Tier:
    """Quantities above the previous tier's bound up to and including ``up_to`` (None: no upper bound)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.up_to is not None:
            up_to = _decimal(self.up_to, "tier up_to", "tiered")
            if up_to <= 0:
                raise InvalidPricing(f"A tier must end above 0 (got up_to {_plain(up_to)}).")
            object.__setattr__(self, "up_to", up_to)
        object.__setattr__(self, "unit_price", _non_negative(self.unit_price, "tier unit_price", "tiered"))
        object.__setattr__(self, "flat_fee", _non_negative(self.flat_fee, "tier flat_fee", "tiered"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Tier":
        _check_keys(config, "tier", {"up_to", "unit_price"}, {"flat_fee"})
        return cls(config["up_to"], config["unit_price"], config.get("flat_fee", ZERO))

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"up_to": _config_text(self.up_to), "unit_price": _plain(self.unit_price)}
        if self.flat_fee:
            config["flat_fee"] = _plain(self.flat_fee)
        return config


def _validate_tiers(tiers: Any, model: str) -> tuple[Tier, ...]:
    if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Sequence) or not tiers:
        raise InvalidPricing(f"{model} pricing needs a non-empty list of tiers.", model=model)
    result = tuple(t if isinstance(t, Tier) else Tier.from_config(t) for t in tiers)
    previous = ZERO
    for index, tier in enumerate(result, start=1):
        last = index == len(result)
        if tier.up_to is None:
            if not last:
                raise OverlappingTiers(
                    f"{model} pricing: tier {index} of {len(result)} is open (up_to null) and would overlap "
                    f"the tiers after it; only the last tier may be open.",
                    model=model, tier=index,
                )
            continue
        if tier.up_to <= previous:
            raise OverlappingTiers(
                f"{model} pricing: tier {index} ends at {_plain(tier.up_to)}, which is not above "
                f"{_plain(previous)} where the previous tier ends; tiers must be strictly increasing.",
                model=model, tier=index,
            )
        if last:
            raise InvalidPricing(
                f"{model} pricing: the last tier ends at {_plain(tier.up_to)}, so larger quantities would have "
                f"no price; make the last tier open (up_to null).",
                model=model, tier=index,
            )
        previous = tier.up_to
    return result


@lru_cache(maxsize=1024)
def _tier_label(lower: Decimal, upper: Decimal | None) -> str:
    """``1–10``, ``11–50``, ``51+`` for whole bounds; ``over 2.5 up to 7.5`` otherwise."""
    if _is_integral(lower) and (upper is None or _is_integral(upper)):
        first = _trimmed(lower + 1)
        if upper is None:
            return f"{first}+"
        return first if lower + 1 == upper else f"{first}–{_trimmed(upper)}"
    if upper is None:
        return f"over {_trimmed(lower)}"
    if lower == 0:
        return f"up to {_trimmed(upper)}"
    return f"over {_trimmed(lower)} up to {_trimmed(upper)}"


def _tier_term(units: Decimal, tier: Tier, currency: str) -> Text:
    if tier.flat_fee:
        return text("{units} × {price} + {fee} flat", units=Number(units), price=Price(tier.unit_price, currency),
                    fee=Price(tier.flat_fee, currency))
    return _words("{units} × {price}", units=Number(units), price=Price(tier.unit_price, currency))


# --------------------------------------------------------------------------- registry

#: Price model classes by their code, filled by :func:`register` (in the order the models are defined).
REGISTRY: dict[str, type[PriceModel]] = {}

#: The parts every registered model class defines itself (none may be inherited from another model).
REQUIRED_PARTS = ("from_config", "to_config", "describe", "takes_transactions", "share", "minimum_per_period",
                  "line_unit_price", "prices_quantity", "_price")


def register(cls: type) -> type:
    """Class decorator: add a price model to :data:`REGISTRY` under its ``code``.

    Refuses (``TypeError``, at import) a class that is not a :class:`BasePriceModel`, has no ``code`` of
    its own, reuses another model's code, or does not define every part of :data:`REQUIRED_PARTS` itself.
    """
    if not isinstance(cls, type) or not issubclass(cls, BasePriceModel):
        raise TypeError(f"{cls!r} is not a price model: subclass duly.domain.pricing.BasePriceModel.")
    code = cls.__dict__.get("code")
    if not isinstance(code, str) or not code:
        raise TypeError(f"Price model {cls.__name__} needs its own code (code: ClassVar[str] = \"...\").")
    missing = [part for part in REQUIRED_PARTS if part not in cls.__dict__]
    if missing or inspect.isabstract(cls):
        missing = missing or sorted(getattr(cls, "__abstractmethods__", ()))
        raise TypeError(f"Price model {code!r} ({cls.__name__}) does not define {', '.join(missing)}; "
                        f"every model defines {', '.join(REQUIRED_PARTS)}.")
    known = REGISTRY.get(code)
    if known is not None and known is not cls:
        raise TypeError(f"Price model code {code!r} is already registered by {known.__name__}.")
    REGISTRY[code] = cls
    return cls


def registered(model: object) -> PriceModel:
    """``model`` itself when its class is the one registered under its code; else :class:`InvalidPricing`.

    Every question asked of a price (its words, its transactions, its share of a period) goes through a
    registered model: an object of any other class is an error, never described by a guess.
    """
    cls = type(model)
    code = getattr(cls, "code", None)
    if not isinstance(code, str) or REGISTRY.get(code) is not cls:
        raise InvalidPricing(
            f"{cls.__name__} is not a registered price model: use one of {', '.join(sorted(REGISTRY))}.",
            model=str(code))
    return model  # type: ignore[return-value]


# --------------------------------------------------------------------------- models


@register
@dataclass(frozen=True)
class FlatPricing(BasePriceModel):
    """A fixed amount per period, whatever the quantity (0 included)."""

    code: ClassVar[str] = "flat"
    amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _non_negative(self.amount, "amount", self.code))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "FlatPricing":
        _check_keys(config, cls.code, {"amount"})
        return cls(config["amount"])

    def to_config(self) -> dict[str, Any]:
        return {"model": self.code, "amount": _plain(self.amount)}

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return False

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None

    def line_unit_price(self) -> Decimal | None:
        return None

    def prices_quantity(self) -> bool:
        return False

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        line = TierBreakdown("flat fee", Decimal(1), self.amount, ZERO, self.amount)
        return _Priced(self.amount, (line,), text("flat fee {amount}", amount=Price(self.amount, currency)))


@register
@dataclass(frozen=True)
class PerUnitPricing(BasePriceModel):
    """``quantity × unit_price``."""

    code: ClassVar[str] = "per_unit"
    unit_price: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_price", _non_negative(self.unit_price, "unit_price", self.code))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PerUnitPricing":
        _check_keys(config, cls.code, {"unit_price"})
        return cls(config["unit_price"])

    def to_config(self) -> dict[str, Any]:
        return {"model": self.code, "unit_price": _plain(self.unit_price)}

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return False

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None

    def line_unit_price(self) -> Decimal | None:
        return self.unit_price

    def prices_quantity(self) -> bool:
        return True

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        amount = quantity * self.unit_price
        line = TierBreakdown("units", quantity, self.unit_price, ZERO, amount)
        return _Priced(amount, (line,), _words("{quantity} × {price}", quantity=Number(quantity),
                                               price=Price(self.unit_price, currency)))


@register
@dataclass(frozen=True)
class GraduatedPricing(BasePriceModel):
    """Each unit at the price of the tier it falls in; a tier's flat fee once the tier is entered."""

    code: ClassVar[str] = "graduated"
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _validate_tiers(self.tiers, self.code))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "GraduatedPricing":
        _check_keys(config, cls.code, {"tiers"})
        return cls(config["tiers"])

    def to_config(self) -> dict[str, Any]:
        return {"model": self.code, "tiers": [t.to_config() for t in self.tiers]}

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return False

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None

    def line_unit_price(self) -> Decimal | None:
        return None

    def prices_quantity(self) -> bool:
        return True

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        lines: list[TierBreakdown] = []
        terms: list[Text] = []
        lower = ZERO
        for tier in self.tiers:
            if quantity <= lower:
                break
            top = quantity if tier.up_to is None else min(quantity, tier.up_to)
            units = top - lower
            amount = units * tier.unit_price + tier.flat_fee
            lines.append(TierBreakdown(_tier_label(lower, tier.up_to), units, tier.unit_price, tier.flat_fee, amount))
            terms.append(_tier_term(units, tier, currency))
            if tier.up_to is None:
                break
            lower = tier.up_to
        total = sum((line.amount for line in lines), ZERO)
        return _Priced(total, tuple(lines), join_text(terms, " + ") if terms else text("no units"))


@register
@dataclass(frozen=True)
class VolumePricing(BasePriceModel):
    """All units at the price of the tier the total quantity falls in, plus that tier's flat fee."""

    code: ClassVar[str] = "volume"
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _validate_tiers(self.tiers, self.code))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "VolumePricing":
        _check_keys(config, cls.code, {"tiers"})
        return cls(config["tiers"])

    def to_config(self) -> dict[str, Any]:
        return {"model": self.code, "tiers": [t.to_config() for t in self.tiers]}

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return False

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None

    def line_unit_price(self) -> Decimal | None:
        return None

    def prices_quantity(self) -> bool:
        return True

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        if quantity == 0:
            return _Priced(ZERO, (), text("no units"))
        lower = ZERO
        for tier in self.tiers:
            if tier.up_to is None or quantity <= tier.up_to:
                break
            lower = tier.up_to
        amount = quantity * tier.unit_price + tier.flat_fee
        line = TierBreakdown(_tier_label(lower, tier.up_to), quantity, tier.unit_price, tier.flat_fee, amount)
        return _Priced(amount, (line,), _tier_term(quantity, tier, currency))


@register
@dataclass(frozen=True)
class PackagePricing(BasePriceModel):
    """``ceil((quantity − free_units) / package_size)`` packages at ``amount`` each."""

    code: ClassVar[str] = "package"
    package_size: Decimal
    amount: Decimal
    free_units: Decimal = ZERO

    def __post_init__(self) -> None:
        size = _decimal(self.package_size, "package_size", self.code)
        if size <= 0:
            raise InvalidPricing(f"package pricing: package_size must be above 0 (got {_plain(size)}).")
        object.__setattr__(self, "package_size", size)
        object.__setattr__(self, "amount", _non_negative(self.amount, "amount", self.code))
        object.__setattr__(self, "free_units", _non_negative(self.free_units, "free_units", self.code))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PackagePricing":
        _check_keys(config, cls.code, {"package_size", "amount"}, {"free_units"})
        return cls(config["package_size"], config["amount"], config.get("free_units", ZERO))

    def to_config(self) -> dict[str, Any]:
        config = {"model": self.code, "package_size": _plain(self.package_size), "amount": _plain(self.amount)}
        if self.free_units:
            config["free_units"] = _plain(self.free_units)
        return config

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return False

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None

    def line_unit_price(self) -> Decimal | None:
        return None

    def prices_quantity(self) -> bool:
        return True

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        lines: list[TierBreakdown] = []
        free = min(quantity, self.free_units)
        if free:
            lines.append(TierBreakdown("free units", free, ZERO, ZERO, ZERO))
        billable = quantity - free
        whole, rest = divmod(billable, self.package_size)
        packages = whole + (1 if rest else 0)
        amount = packages * self.amount
        size = _trimmed(self.package_size)
        if packages:
            lines.append(TierBreakdown(f"packages of {size}", packages, self.amount, ZERO, amount))
        values = {"quantity": Number(quantity), "free": self.free_units.normalize(MONEY_CONTEXT),
                  "size": self.package_size.normalize(MONEY_CONTEXT), "price": Price(self.amount, currency)}
        if self.free_units and not billable:
            return _Priced(ZERO, tuple(lines), text("{quantity} units within {free} free",
                                                    plural="{quantity} units within {free} free", n=quantity,
                                                    quantity=values["quantity"], free=values["free"]))
        if self.free_units:
            counted = text("ceil(({quantity} − {free} free) / {size}) = {n} package × {price}",
                           plural="ceil(({quantity} − {free} free) / {size}) = {n} packages × {price}", n=packages,
                           **values)
        else:
            counted = text("ceil({quantity} / {size}) = {n} package × {price}",
                           plural="ceil({quantity} / {size}) = {n} packages × {price}", n=packages,
                           quantity=values["quantity"], size=values["size"], price=values["price"])
        return _Priced(amount, tuple(lines), counted)


@dataclass(frozen=True)
class PercentageTerm:
    """The fee on one transaction (unrounded) and how the per-transaction limits changed it."""

    transaction: Decimal
    fee: Decimal
    #: The fee before the min/max clamp.
    computed: Decimal


@register
@dataclass(frozen=True)
class PercentagePricing(BasePriceModel):
    """``rate`` % of each transaction + ``fixed_fee`` per transaction, clamped per transaction.

    The transactions come from ``charge(..., transactions=[...])``; ``quantity`` must then be their
    sum (it is the charged base). Without transactions, ``quantity`` is priced as ONE transaction,
    and a quantity of 0 as none.
    """

    code: ClassVar[str] = "percentage"
    rate: Decimal
    fixed_fee: Decimal = ZERO
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None

    def __post_init__(self) -> None:
        rate = _non_negative(self.rate, "rate", self.code)
        if rate > 100:
            raise InvalidPricing(
                f"percentage pricing: rate is in percent and cannot exceed 100 (got {_plain(rate)}).")
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "fixed_fee", _non_negative(self.fixed_fee, "fixed_fee", self.code))
        low = _optional(self.min_per_transaction, "min_per_transaction", self.code)
        high = _optional(self.max_per_transaction, "max_per_transaction", self.code)
        if low is not None and high is not None and low > high:
            raise InvalidPricing(
                f"percentage pricing: min_per_transaction {_plain(low)} is above max_per_transaction {_plain(high)}.")
        object.__setattr__(self, "min_per_transaction", low)
        object.__setattr__(self, "max_per_transaction", high)


    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PercentagePricing":
        _check_keys(config, cls.code, {"rate"}, {"fixed_fee", "min_per_transaction", "max_per_transaction"})
        return cls(config["rate"], config.get("fixed_fee", ZERO), config.get("min_per_transaction"),
                   config.get("max_per_transaction"))

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"model": self.code, "rate": _plain(self.rate)}
        if self.fixed_fee:
            config["fixed_fee"] = _plain(self.fixed_fee)
        if self.min_per_transaction is not None:
            config["min_per_transaction"] = _plain(self.min_per_transaction)
        if self.max_per_transaction is not None:
            config["max_per_transaction"] = _plain(self.max_per_transaction)
        return config

    def fee(self, transaction: Decimal) -> PercentageTerm:
        """The unrounded fee on one transaction."""
        with localcontext(MONEY_CONTEXT):
            computed = transaction * self.rate / 100 + self.fixed_fee
            fee = computed
            if self.min_per_transaction is not None:
                fee = max(fee, self.min_per_transaction)
            if self.max_per_transaction is not None:
                fee = min(fee, self.max_per_transaction)
        return PercentageTerm(transaction, fee, computed)

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return True

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        return self, ""

    def minimum_per_period(self) -> Decimal | None:
        return None  # the per-transaction minimum is part of the charge, not a commitment per period

    def line_unit_price(self) -> Decimal | None:
        return None

    def prices_quantity(self) -> bool:
        return True

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        if transactions:
            if sum(transactions, ZERO) != quantity:
                raise InvalidPricing(
                    f"percentage pricing: the quantity {_plain(quantity)} must be the sum of the transactions "
                    f"({_plain(sum(transactions, ZERO))}).")
        elif quantity:
            transactions = (quantity,)
        if not transactions:
            return _Priced(ZERO, (), text("no transactions"))
        terms = [self.fee(t) for t in transactions]
        rate = _trimmed(self.rate)
        base = sum(transactions, ZERO)
        percent_part = base * self.rate / 100
        fixed_part = self.fixed_fee * len(terms)
        raised = sum((t.fee - t.computed for t in terms if t.fee > t.computed), ZERO)
        capped = sum((t.computed - t.fee for t in terms if t.fee < t.computed), ZERO)
        count = Decimal(len(terms))
        lines = [TierBreakdown(f"{rate}% of transactions", base, self.rate / 100, ZERO, percent_part)]
        if self.fixed_fee:
            lines.append(TierBreakdown("fixed fee per transaction", count, self.fixed_fee, ZERO, fixed_part))
        if raised:
            n = Decimal(sum(1 for t in terms if t.fee > t.computed))
            lines.append(TierBreakdown("raised to the minimum per transaction", n, ZERO, raised, raised))
        if capped:
            n = Decimal(sum(1 for t in terms if t.fee < t.computed))
            lines.append(TierBreakdown("capped at the maximum per transaction", n, ZERO, -capped, -capped))
        total = sum((t.fee for t in terms), ZERO)
        if len(terms) <= _LISTED_TRANSACTIONS:
            texts = [self._term_text(t, currency, alone=len(terms) == 1) for t in terms]
            return _Priced(total, tuple(lines), join_text(texts, " + "))
        n = len(terms)
        parts = [text("{rate} × {base} ({n} transaction)", plural="{rate} × {base} ({n} transactions)", n=n,
                      rate=Percent(self.rate), base=Price(base, currency))]
        if self.fixed_fee:
            parts.append(text("+ {count} × {fee} fixed", count=n, fee=Price(self.fixed_fee, currency)))
        if raised:
            parts.append(text("+ {amount} raised to the minimum", amount=Price(raised, currency)))
        if capped:
            parts.append(text("− {amount} capped at the maximum", amount=Price(capped, currency)))
        return _Priced(total, tuple(lines), join_text(parts))

    def _term_text(self, term: PercentageTerm, currency: str, *, alone: bool) -> Text:
        values = {"rate": Percent(self.rate), "amount": Price(term.transaction, currency)}
        if self.fixed_fee:
            words = _words("{rate} × {amount} + {fee}", fee=Price(self.fixed_fee, currency), **values)
        else:
            words = _words("{rate} × {amount}", **values)
        if term.fee != term.computed:
            computed, fee = Price(term.computed, currency), Price(term.fee, currency)
            if term.fee > term.computed:
                return text("({term} = {computed} → minimum {fee})", term=words, computed=computed, fee=fee)
            return text("({term} = {computed} → maximum {fee})", term=words, computed=computed, fee=fee)
        return words if alone or not self.fixed_fee else _words("({term})", term=words)


@register
@dataclass(frozen=True)
class MinimumCommitment(BasePriceModel):
    """Another model's charge, raised to ``minimum`` by a true-up line when it falls short.

    Configured as ``{"model": "minimum_commitment", "minimum": "100.00", "charge": {...the wrapped model...}}``.
    """

    code: ClassVar[str] = "minimum_commitment"
    minimum: Decimal
    charge_model: PriceModel

    def __post_init__(self) -> None:
        object.__setattr__(self, "minimum", _non_negative(self.minimum, "minimum", self.code))
        if not isinstance(self.charge_model, BasePriceModel):
            raise InvalidPricing("minimum_commitment pricing: the wrapped charge must be a price model.")


    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MinimumCommitment":
        _check_keys(config, cls.code, {"minimum", "charge"})
        return cls(config["minimum"], model_from_config(config["charge"]))

    def to_config(self) -> dict[str, Any]:
        return {"model": self.code, "minimum": _plain(self.minimum), "charge": self.charge_model.to_config()}

    def describe(self, currency: str) -> str:
        return str(describe_text(self, currency))

    def takes_transactions(self) -> bool:
        return self.charge_model.takes_transactions()

    def share(self, currency: str, days: int, whole: int) -> tuple[PriceModel, str]:
        shared, why = self.share_text(currency, days, whole)
        return shared, str(why)

    def share_text(self, currency: str, days: int, whole: int) -> tuple[PriceModel, Text | str]:
        """The minimum is agreed per period: a window covering part of its cycle (a stub, a last period cut
        by the end date, an item added or removed mid-period) commits to ``minimum × days / whole``, rounded
        half up once (:func:`~duly.domain.schedules.prorate_days`); the wrapped charge is kept as it is."""
        minimum = prorate_days(self.minimum, currency, days, whole)
        why = text("minimum commitment for {days} of {whole} day: {minimum} × {days}/{whole} = {prorated}; ",
                   plural="minimum commitment for {days} of {whole} days: {minimum} × {days}/{whole} = {prorated}; ",
                   n=whole, days=days, whole=whole, minimum=Price(self.minimum, currency, code=True),
                   prorated=Price(minimum, currency, code=True))
        return MinimumCommitment(minimum, self.charge_model), why

    def minimum_per_period(self) -> Decimal | None:
        return self.minimum

    def line_unit_price(self) -> Decimal | None:
        return None  # the charge may include a true-up: shown as 1 × amount

    def prices_quantity(self) -> bool:
        return True  # a recurring line names the quantity whatever the wrapped model

    def _price(self, quantity: Decimal, transactions: tuple[Decimal, ...], currency: str) -> _Priced:
        inner = self.charge_model._price(quantity, transactions, currency)  # type: ignore[attr-defined]
        minimum = Price(self.minimum, currency)
        if inner.amount >= self.minimum:
            return _Priced(inner.amount, inner.breakdown, text("{expression} (minimum commitment {minimum} met)",
                                                               expression=inner.expression, minimum=minimum))
        true_up = self.minimum - inner.amount
        line = TierBreakdown("minimum commitment true-up", Decimal(1), true_up, ZERO, true_up)
        return _Priced(self.minimum, (*inner.breakdown, line), text(
            "{expression} + true-up {amount} (minimum commitment {minimum})", expression=inner.expression,
            amount=Price(true_up, currency), minimum=minimum))


# --------------------------------------------------------------------------- building a model from its code


def price_model(code: str, **config: Any) -> PriceModel:
    """The model registered under ``code``, built from plain (JSON-storable) settings."""
    cls = REGISTRY.get(code) if isinstance(code, str) else None
    if cls is None:
        raise InvalidPricing(
            f"Unknown price model {code!r}: use one of {', '.join(sorted(REGISTRY))}.", model=str(code))
    return cls.from_config(config)


def model_from_config(config: Mapping[str, Any]) -> PriceModel:
    """Build a model from ``{"model": code, ...settings}`` (the shape ``to_config()`` returns)."""
    if not isinstance(config, Mapping) or "model" not in config:
        raise InvalidPricing('A price configuration is a mapping with a "model" key, e.g. {"model": "per_unit", ...}.')
    settings = {k: v for k, v in config.items() if k != "model"}
    return price_model(config["model"], **settings)
