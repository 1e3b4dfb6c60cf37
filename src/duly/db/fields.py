"""Model fields for values a database column must keep exactly.

:class:`DecimalTextField`
    A non-negative decimal with a fixed number of decimals, stored as fixed-width text
    (``000000000000000012.500000``). A ``DecimalField`` is exact on PostgreSQL but not on SQLite,
    which keeps 15 significant digits (``123456789012345678`` came back as ``123456789012346000``,
    and a value of 18 nines made the admin list fail). Fixed-width text of a non-negative number
    sorts like the number, so ordering, equality and range lookups stay right in SQL on every
    database; sums are made in Python, in Decimal.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core import checks
from django.db import models

__all__ = ["DecimalTextField"]


class DecimalTextField(models.CharField):
    """A Decimal ``0 <= value < 10**integer_digits`` with ``decimal_places`` decimals, kept exactly as text."""

    description = "Non-negative decimal stored exactly as fixed-width text"

    def __init__(self, *args, integer_digits: int = 18, decimal_places: int = 6, **kwargs):
        self.integer_digits, self.decimal_places = integer_digits, decimal_places
        kwargs["max_length"] = integer_digits + (decimal_places + 1 if decimal_places else 0)
        super().__init__(*args, **kwargs)
        self._quantum = Decimal(1).scaleb(-decimal_places)
        self._limit = Decimal(10) ** integer_digits

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        kwargs["integer_digits"], kwargs["decimal_places"] = self.integer_digits, self.decimal_places
        return name, path, args, kwargs

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.integer_digits < 1 or self.decimal_places < 0:
            errors.append(checks.Error("integer_digits must be >= 1 and decimal_places >= 0", obj=self))
        return errors

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            from django.core.exceptions import ValidationError

            raise ValidationError(f"{value!r} is not a number.", code="invalid") from None

    def from_db_value(self, value, expression, connection):
        return None if value is None else Decimal(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        number = self.to_python(value)
        exact = number.quantize(self._quantum) if number.is_finite() and number < self._limit else None
        if exact is None or exact != number or number < 0:
            raise ValueError(f"{number} cannot be stored exactly: 0 <= value < 10^{self.integer_digits} "
                             f"with at most {self.decimal_places} decimals.")
        width = self.max_length
        return f"{exact:0{width}.{self.decimal_places}f}"

    def formfield(self, **kwargs):
        defaults = {"form_class": forms.DecimalField, "max_digits": self.integer_digits + self.decimal_places,
                    "decimal_places": self.decimal_places, "min_value": 0}
        return models.Field.formfield(self, **{**defaults, **kwargs})  # (not CharField's: no max_length)
