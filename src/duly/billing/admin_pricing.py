"""Price forms of the back office: one form per price model, its numbers as fields (tiers as rows), never JSON.

Each model's fields are a small form (:data:`PRICING_FORMS`) that builds the configuration
:func:`duly.domain.pricing.model_from_config` reads, and computes a worked example for an example
quantity with the domain's own pricing (:func:`duly.billing.services.price_example`): "150 units →
560.00 EUR: 100 × 4.00 + 50 × 3.20 = 560.00". The price admin and the price change admin mix it into
their forms; the preview view answers the page's live example.

Amounts charged as such (a flat amount, a package, a tier's flat fee, a fixed fee, a minimum) are checked
against the currency's decimals (JPY 0, EUR 2, BHD 3); unit prices may be finer (0.0015 per call): the
charge is rounded once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from duly.domain.errors import DomainError
from duly.domain.money import check_amount, check_currency

from . import services

#: The price models a form offers, in the order shown (``minimum_commitment`` is the "minimum per period"
#: field of each).
MODEL_LABELS = {
    "flat": _("Flat amount per period"),
    "per_unit": _("Per unit"),
    "graduated": _("Graduated tiers (each unit at its tier's price)"),
    "volume": _("Volume tiers (every unit at the tier the total reaches)"),
    "package": _("Packages of units"),
    "percentage": _("Percentage of transactions"),
}
#: Tier rows a graduated or volume form shows (blank rows are ignored).
TIER_ROWS = 6


def _number(**kwargs) -> forms.DecimalField:
    kwargs.setdefault("required", False)
    field = forms.DecimalField(max_digits=25, decimal_places=10, **kwargs)
    field.widget.attrs["step"] = "any"
    return field


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class PricingFields(forms.Form):
    """The fields of one price model; ``model`` is its code. Mixed into the price and price change forms."""

    model = ""
    #: Fields holding an amount charged as such (checked against the currency's decimals).
    money_fields: tuple[str, ...] = ()

    minimum = _number(label=_("Minimum per period"), min_value=0,
                      help_text=_("Optional: when a period's charge is below this, a true-up line brings it up to it "
                                "(a minimum commitment). Blank: none."))
    example_quantity = _number(label=_("Example quantity"), min_value=0, initial=Decimal(100),
                               help_text=_("Not saved: the worked example below is computed for this quantity."))

    #: Each model's form defines ``settings(data) -> dict``: the model's own keys of the price configuration.
    settings: Callable[[dict], dict[str, Any]]

    def pricing_config(self, data: dict, currency: str) -> dict[str, Any]:
        """The configuration of the entered numbers (a DomainError or ValidationError says what is wrong)."""
        for name in (*self.money_fields, "minimum"):
            if data.get(name) is not None:
                check_amount(data[name], currency, str(self.fields[name].label))
        config = {"model": self.model, **self.settings(data)}
        if data.get("minimum") is not None:
            config = {"model": "minimum_commitment", "minimum": _plain(data["minimum"]), "charge": config}
        return services.validate_price_config(config)

    def pricing_example(self, data: dict, config: dict, currency: str):
        quantity = data.get("example_quantity")
        return services.price_example(config, currency, Decimal(100) if quantity is None else quantity)

    def clean_pricing(self, data: dict, currency: str) -> dict[str, Any] | None:
        """Build the configuration and its worked example (``self.example``); errors become form errors."""
        self.example = None
        try:
            check_currency(currency)
            config = self.pricing_config(data, currency)
            self.example = self.pricing_example(data, config, currency)
        except DomainError as exc:
            self.add_error(None, exc.message)
            return None
        return config


class FlatFields(PricingFields):
    model = "flat"
    money_fields = ("amount",)
    amount = _number(label=_("Amount per period"), min_value=0, required=True)

    def settings(self, data):
        return {"amount": _plain(data["amount"])}


class PerUnitFields(PricingFields):
    model = "per_unit"
    unit_price = _number(label=_("Unit price"), min_value=0, required=True,
                         help_text=_("May be finer than the currency (0.0015 per call): the charge is rounded once."))

    def settings(self, data):
        return {"unit_price": _plain(data["unit_price"])}


class _TierFields(PricingFields):
    tier_help = ""

    @classmethod
    def tier_names(cls) -> list[tuple[str, str, str]]:
        return [(f"tier_{i}_up_to", f"tier_{i}_unit_price", f"tier_{i}_flat_fee") for i in range(1, TIER_ROWS + 1)]

    def clean(self):
        data = super().clean()
        for up_to, unit, flat in self.tier_names():
            if data.get(unit) is None and (data.get(up_to) is not None or data.get(flat) is not None):
                self.add_error(unit, _("A tier needs its unit price (0 for none)."))
        return data

    def tiers(self, data) -> list[dict[str, Any]]:
        rows = []
        for up_to, unit, flat in self.tier_names():
            if data.get(unit) is None:
                continue
            row = {"up_to": None if data.get(up_to) is None else _plain(data[up_to]),
                   "unit_price": _plain(data[unit])}
            if data.get(flat):
                row["flat_fee"] = _plain(data[flat])
            rows.append(row)
        return rows

    def pricing_config(self, data, currency):
        for _, _, flat in self.tier_names():
            if data.get(flat) is not None:
                check_amount(data[flat], currency, str(self.fields[flat].label))
        return super().pricing_config(data, currency)

    def settings(self, data):
        return {"tiers": self.tiers(data)}


def _tier_attrs(help_text: str) -> dict[str, forms.Field]:
    attrs: dict[str, forms.Field] = {}
    for i in range(1, TIER_ROWS + 1):
        attrs[f"tier_{i}_up_to"] = _number(label=format_lazy(_("Tier {i}: up to"), i=i), min_value=0, help_text=(
            _("Units up to and including this number; blank on the last tier: and above.") if i == 1 else ""))
        attrs[f"tier_{i}_unit_price"] = _number(label=_("unit price"), min_value=0)
        attrs[f"tier_{i}_flat_fee"] = _number(label=_("flat fee"), min_value=0,
                                              help_text=help_text if i == 1 else "")
    return attrs


GraduatedFields = forms.forms.DeclarativeFieldsMetaclass("GraduatedFields", (_TierFields,), {
    "__module__": __name__, "model": "graduated",
    "__doc__": "Each unit at the price of the tier it falls in; a tier's flat fee once it is reached.",
    **_tier_attrs(_("Added once as soon as part of a unit falls in this tier (blank: none).")),
})
VolumeFields = forms.forms.DeclarativeFieldsMetaclass("VolumeFields", (_TierFields,), {
    "__module__": __name__, "model": "volume",
    "__doc__": "Every unit at the price of the tier the total quantity reaches, plus that tier's flat fee.",
    **_tier_attrs(_("Added once when the total falls in this tier (blank: none).")),
})


class PackageFields(PricingFields):
    model = "package"
    money_fields = ("amount",)
    package_size = _number(label=_("Package size (units)"), min_value=0, required=True)
    amount = _number(label=_("Price of a package"), min_value=0, required=True)
    free_units = _number(label=_("Free units"), min_value=0, help_text=_("Units free before packages count (blank: 0)."))

    def settings(self, data):
        out = {"package_size": _plain(data["package_size"]), "amount": _plain(data["amount"])}
        if data.get("free_units"):
            out["free_units"] = _plain(data["free_units"])
        return out


class PercentageFields(PricingFields):
    model = "percentage"
    money_fields = ("fixed_fee", "min_per_transaction", "max_per_transaction")
    rate = _number(label=_("Rate (%)"), min_value=0, required=True, help_text=_("Percent of each transaction, e.g. 2.9"))
    fixed_fee = _number(label=_("Fixed fee per transaction"), min_value=0)
    min_per_transaction = _number(label=_("Minimum fee per transaction"), min_value=0)
    max_per_transaction = _number(label=_("Maximum fee per transaction"), min_value=0)

    example_quantity = _number(label=_("Example transaction amount"), min_value=0, initial=Decimal(100),
                               help_text=_("Not saved: the worked example below is the fee on one transaction of "
                                         "this amount."))

    def settings(self, data):
        out = {"rate": _plain(data["rate"])}
        for name in ("fixed_fee", "min_per_transaction", "max_per_transaction"):
            if data.get(name) is not None:
                out[name] = _plain(data[name])
        return out


#: The fields of each price model, by its code.
PRICING_FORMS: dict[str, type[PricingFields]] = {
    "flat": FlatFields, "per_unit": PerUnitFields, "graduated": GraduatedFields, "volume": VolumeFields,
    "package": PackageFields, "percentage": PercentageFields,
}


def pricing_code(value: str | None) -> str:
    """The model a form is for (``?model=graduated``); per unit when none or an unknown one is asked."""
    return value if value in PRICING_FORMS else "per_unit"


def pricing_fieldsets(code: str) -> list[tuple[str, dict[str, Any]]]:
    """The admin fieldsets of a model's fields: tiers one row each, then the minimum and the example."""
    form = PRICING_FORMS[code]
    names = [n for n in form.base_fields if n not in ("minimum", "example_quantity")]
    if issubclass(form, _TierFields):
        rows: list[Any] = list(form.tier_names())
        description = (_("One row per tier, in increasing order; leave \"up to\" blank on the last tier (and above). "
                       "Blank rows are ignored."))
    else:
        rows, description = names, ""
    return [(_("Pricing: {value}").format(value=MODEL_LABELS[code]), {"fields": rows, "description": description}),
            (_("Minimum and worked example"), {"fields": ["minimum", "example_quantity"]})]


def initial_from_config(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model code and the form's initial values of a stored configuration (to edit a copy of it)."""
    initial: dict[str, Any] = {}
    if config.get("model") == "minimum_commitment":
        initial["minimum"] = config.get("minimum")
        config = config.get("charge") or {}
    code = pricing_code(config.get("model"))
    for key, value in config.items():
        if key == "tiers":
            for i, tier in enumerate(value[:TIER_ROWS], start=1):
                initial[f"tier_{i}_up_to"] = tier.get("up_to")
                initial[f"tier_{i}_unit_price"] = tier.get("unit_price")
                initial[f"tier_{i}_flat_fee"] = tier.get("flat_fee")
        elif key != "model":
            initial[key] = value
    return code, initial


def preview(data, code: str) -> dict[str, Any]:
    """The live worked example of entered numbers: ``{"ok": True, "text": ...}`` or ``{"ok": False, "errors": [...]}``."""
    currency = str(data.get("currency") or "").strip().upper()
    form = PRICING_FORMS[pricing_code(code)](data)
    if not form.is_valid():
        return {"ok": False, "errors": [f"{name}: {' '.join(errs)}" if name != "__all__" else " ".join(errs)
                                        for name, errs in form.errors.items()]}
    config = form.clean_pricing(form.cleaned_data, currency)
    if config is None:
        return {"ok": False, "errors": list(form.non_field_errors())}
    return {"ok": True, "text": str(form.example), "description": form.example.description, "config": config}
