"""Amounts in the back office: entered and shown in major units (``12.34`` EUR), stored in minor units.

A form field is a :class:`AmountField` (a Decimal in major units); :class:`MajorAmountsMixin` turns each one
into the model's ``*_minor`` integer with :func:`duly.domain.money.to_minor`, refusing (as a form error on the
field) an amount with more decimals than the currency has (JPY 0, EUR 2, BHD 3), and fills the field from
the stored minor units when a row is edited.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms

from duly.domain.errors import DomainError
from duly.domain.money import check_amount, exponent, from_minor, to_minor


class AmountField(forms.DecimalField):
    """An amount in major units of the form's currency (the currency's own decimals: checked by the form)."""

    def __init__(self, *, label=None, help_text="", required=False, **kwargs):
        kwargs.setdefault("max_digits", 22)
        kwargs.setdefault("decimal_places", None)  # the currency's own decimals: checked by the form
        super().__init__(label=label, help_text=help_text, required=required, **kwargs)
        self.widget.attrs.setdefault("step", "any")


def shown(minor: int | None, currency: str) -> str:
    """``1234, EUR`` → ``12.34 EUR`` (empty for None): how a list or a read-only page shows a stored amount."""
    return "" if minor is None else f"{from_minor(int(minor), currency)} {currency}"


def minor_of(value: Decimal | None, currency: str, what: str) -> int | None:
    """An entered major-unit amount in minor units (None stays None); a DomainError names what is wrong."""
    if value is None:
        return None
    return to_minor(check_amount(value, currency, what), currency)


class MajorAmountsMixin:
    """For a ModelForm: ``amounts = {form field: model field in minor units}``, each form field an
    :class:`AmountField`. ``currency_field`` names the form field (or the instance attribute) giving the currency.
    Call :meth:`convert_amounts` in ``clean`` before the checks that read the minor values."""

    amounts: dict[str, str] = {}
    currency_field = "currency"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        currency = getattr(instance, self.currency_field, "") if instance is not None else ""
        for field, minor_name in self.amounts.items():
            minor = getattr(instance, minor_name, None) if instance is not None and instance.pk else None
            if minor is not None and currency and field not in self.initial:
                self.initial[field] = from_minor(int(minor), currency)

    def amount_currency(self, data) -> str:
        currency = data.get(self.currency_field) or getattr(getattr(self, "instance", None), self.currency_field, "")
        return (currency or "").upper()

    def convert_amounts(self, data) -> bool:
        """Put each amount in minor units into ``data``; False (with a form error on the field) when one is refused."""
        currency = self.amount_currency(data)
        ok = True
        for field, minor_name in self.amounts.items():
            if field not in self.fields:
                continue
            value = data.get(field)
            label = self.fields[field].label or field.replace("_", " ").capitalize()
            try:
                exponent(currency)
                minor = minor_of(value, currency, label)
            except DomainError as exc:
                self.add_error(field, exc.message)
                ok = False
                continue
            model_field = self._meta.model._meta.get_field(minor_name)
            data[minor_name] = minor if minor is not None or model_field.null else 0
        return ok


def amount_column(field: str = "amount_minor", description: str = "amount", currency: str = "currency"):
    """A list or read-only column showing a stored amount in major units with its currency (``12.34 EUR``);
    ``currency`` is the attribute (dotted: ``payment.currency``) holding the currency."""
    from operator import attrgetter

    read_currency = attrgetter(currency)

    def column(obj) -> str:
        return shown(getattr(obj, field), read_currency(obj))

    column.short_description = description  # type: ignore[attr-defined]
    column.admin_order_field = field  # type: ignore[attr-defined]
    column.__name__ = f"{field.removesuffix('_minor')}_shown"
    return column
