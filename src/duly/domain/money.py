"""Money: Decimal amounts in an ISO 4217 currency, stored as integer minor units.

There is ONE rounding function, :func:`round_money`, and it always takes an explicit
rounding mode (default ``ROUND_HALF_UP``, the commercial rounding EN 16931 expects).
Splits (proration, instalments, allocation) go through :func:`allocate`, where the
final part absorbs the rounding remainder so the parts always add up to the whole.
Floats are refused everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Iterable, Sequence

from .bounds import MAX_MINOR, MAX_MINOR_DIGITS, check_minor
from .errors import CurrencyMismatch, NumberOutOfRange, UnknownCurrency, ValidationError

# Active ISO 4217 codes. Minor-unit exponent is 2 unless listed in _EXPONENTS.
_ACTIVE = frozenset(
    """AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG""".split()
)
_EXPONENTS = {
    **{c: 0 for c in "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()},
    **{c: 3 for c in "BHD IQD JOD KWD LYD OMR TND".split()},
    "CLF": 4,
}

#: Arithmetic context for money: wide precision, errors trap instead of silently rounding.
MONEY_CONTEXT = Context(prec=50, traps=[InvalidOperation])
ZERO = Decimal(0)


#: Per-currency constants, computed once: the minor-unit exponent and its quantum (``Decimal("0.01")``).
_EXPONENT_OF: dict[str, int] = {c: _EXPONENTS.get(c, 2) for c in _ACTIVE}
_QUANTUM_OF: dict[str, Decimal] = {c: Decimal(1).scaleb(-e) for c, e in _EXPONENT_OF.items()}


def check_currency(code: str) -> str:
    if type(code) is str and code in _ACTIVE:  # the common case: an active code, upper case
        return code
    if not isinstance(code, str) or code.upper() not in _ACTIVE or code != code.upper():
        raise UnknownCurrency(f"Unknown currency {code!r}: use an ISO 4217 code such as EUR or USD.", currency=str(code))
    return code


def exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (JPY 0, EUR 2, BHD 3)."""
    if type(currency) is str:
        places = _EXPONENT_OF.get(currency)
        if places is not None:
            return places
    return _EXPONENTS.get(check_currency(currency), 2)


def quantum(currency: str) -> Decimal:
    if type(currency) is str:
        result = _QUANTUM_OF.get(currency)
        if result is not None:
            return result
    return Decimal(1).scaleb(-exponent(currency))


def to_decimal(value) -> Decimal:
    """Accept Decimal, int or a numeric string. Floats are refused: they are not exact."""
    if type(value) is Decimal and value.is_finite():  # the common case
        return value
    if isinstance(value, bool):
        raise ValidationError(f"Not a number: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(f"Not a number: {_shown(value)}") from None
    elif isinstance(value, float):
        raise ValidationError("Money and quantities are never floats; pass a Decimal or a string.")
    else:
        raise ValidationError(f"Not a number: {_shown(value)}")
    if not result.is_finite():
        raise ValidationError(f"Not a finite number: {_shown(value)}")
    if result and not -_MAX_EXPONENT <= result.adjusted() <= _MAX_EXPONENT:
        # 1E+999999999 would overflow the arithmetic (or become a billion-digit integer): never a real amount.
        raise NumberOutOfRange(f"{_shown(value)} is out of range for any amount, quantity or rate.")
    return result


#: No amount, quantity or rate Duly handles comes near 10^±100.
_MAX_EXPONENT = 100


def _shown(value, limit: int = 40) -> str:
    """A value as an error message shows it: quoted, escaped, never longer than ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def round_money(value, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """THE rounding function: round ``value`` to the currency's minor unit with an explicit mode."""
    try:
        return to_decimal(value).quantize(quantum(currency), rounding=rounding, context=MONEY_CONTEXT)
    except InvalidOperation:  # more digits than the 50 of MONEY_CONTEXT: far beyond any amount Duly stores
        check_minor(MAX_MINOR + 1, currency=currency)
        raise  # pragma: no cover - check_minor raised


def to_minor(amount, currency: str) -> int:
    """Decimal major units -> integer minor units. The amount must already be rounded, and fit
    :data:`~duly.domain.bounds.MAX_MINOR` (else :class:`~duly.domain.errors.NumberOutOfRange`)."""
    d = to_decimal(amount)
    if d.adjusted() >= MAX_MINOR_DIGITS:  # refused before scaling: 1E+999999999 must not become an int
        check_minor(MAX_MINOR + 1, currency=currency)
    q = d.scaleb(exponent(currency), context=MONEY_CONTEXT)
    if q != q.to_integral_value():
        raise ValidationError(
            f"{d} has more decimals than {currency} allows ({exponent(currency)}).", currency=currency
        )
    return check_minor(int(q), currency=currency)


def check_amount(value, currency: str, what: str = "The amount") -> Decimal:
    """An amount someone entered, exactly as given: refused (never rounded) when it has more decimals than
    the currency's minor unit or more digits than Duly stores (:func:`to_minor`)."""
    amount = to_decimal(value)
    if amount.adjusted() < MAX_MINOR_DIGITS and round_money(amount, currency) != amount:
        raise ValidationError(f"{what} {amount} has more decimals than {currency} allows ({exponent(currency)}).",
                              currency=currency)
    to_minor(amount, currency)
    return amount


def from_minor(minor: int, currency: str) -> Decimal:
    if type(minor) is int and type(currency) is str:  # the common case, without the calls below (a run makes 100,000s)
        places = _EXPONENT_OF.get(currency)
        if places is not None:
            return Decimal(minor).scaleb(-places, context=MONEY_CONTEXT).quantize(_QUANTUM_OF[currency])
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise ValidationError(f"Minor units must be an integer, got {minor!r}")
    return Decimal(minor).scaleb(-exponent(currency), context=MONEY_CONTEXT).quantize(quantum(currency))


def allocate(total, weights: Sequence, currency: str, rounding: str = ROUND_DOWN) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights``; each part rounded, the LAST absorbs the remainder.

    sum(result) == round_money(total) always.
    """
    total = round_money(total, currency)
    ws = [to_decimal(w) for w in weights]
    if not ws:
        return []
    if any(w < 0 for w in ws):
        raise ValidationError("Allocation weights cannot be negative.")
    wsum = sum(ws, ZERO)
    if wsum == 0:
        parts = [ZERO.quantize(quantum(currency))] * (len(ws) - 1)
    else:
        parts = [round_money(total * w / wsum, currency, rounding) for w in ws[:-1]]
    parts.append(total - sum(parts, ZERO))
    return parts


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        check_currency(self.currency)
        object.__setattr__(self, "amount", to_decimal(self.amount))

    @classmethod
    def of(cls, amount, currency: str) -> "Money":
        return cls(round_money(amount, currency), currency)

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(ZERO.quantize(quantum(currency)), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> "Money":
        return cls(from_minor(minor, currency), currency)

    @property
    def minor(self) -> int:
        return to_minor(self.amount, self.currency)

    def rounded(self, rounding: str = ROUND_HALF_UP) -> "Money":
        return Money(round_money(self.amount, self.currency, rounding), self.currency)

    def _check(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency} with {other.currency}: no silent conversion.",
                expected=self.currency,
                got=other.currency,
            )

    def __add__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __mul__(self, factor) -> "Money":
        return Money(self.amount * to_decimal(factor), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return self.amount != 0

    def __str__(self) -> str:
        return f"{self.amount:.{exponent(self.currency)}f} {self.currency}"


def money_sum(items: Iterable[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for m in items:
        total = total + m
    return total
