"""Catalog writes: products, metrics and prices (their pricing models checked by the pure rules)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from django.db import transaction

from duly.customers.models import Organization
from duly.customers.services import check_model_values
from duly.domain import aggregations, invoice_math, pricing
from duly.domain import usage as domain_usage
from duly.domain.errors import InvalidPricing, ValidationError
from duly.domain.bounds import check_decimal
from duly.domain.money import check_currency, to_decimal

from ..models import Metric, Price, Product
from .common import _own


# --- catalog ------------------------------------------------------------------------------------------
#: Usage aggregations a metric may use.
AGGREGATIONS = domain_usage.AGGREGATIONS
_DISPLAY_FIELDS: dict[type, frozenset[str]] = {
    Product: frozenset({"name", "description", "active"}),
    Metric: frozenset({"name"}),
    Price: frozenset({"nickname", "active"}),
}


def check_tax(tax_category: str, tax_rate: Decimal | str | int) -> None:
    """A valid tax category and rate, judged by the invoice arithmetic itself."""
    invoice_math.compute_totals(
        [invoice_math.LineInput(Decimal(1), Decimal(0), tax_category, to_decimal(tax_rate))], "EUR")


@transaction.atomic
def update_catalog_entry(org: Organization, obj: Product | Metric | Price, **fields: Any) -> Product | Metric | Price:
    """Change the display fields of a product, metric or price (name, description, nickname, active).

    What is billed (codes, currency, price model, tax) never changes in place: create a new price, or
    schedule a price change.
    """
    _own(org, obj, type(obj).__name__)
    allowed = _DISPLAY_FIELDS[type(obj)]
    wrong = set(fields) - allowed
    if wrong:
        raise ValidationError(f"Only {', '.join(sorted(allowed))} of a {type(obj).__name__.lower()} can change; "
                              f"not {', '.join(sorted(wrong))}.")
    if "name" in fields and not fields["name"]:
        raise ValidationError("A name cannot be empty.")
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save(update_fields=list(fields) or None)
    return obj


@transaction.atomic
def create_product(org: Organization, *, code: str, name: str, unit: str = "C62", tax_category: str = "S",
                   tax_rate: Decimal | str | int = 0, tax_exemption_reason: str = "", description: str = "") -> Product:
    """A product; its tax category and rate apply to every invoice line of its prices."""
    if not code or not name:
        raise ValidationError("A product needs a code and a name.")
    rate = check_model_values(Product, {"code": code, "name": name, "unit": unit, "tax_rate": tax_rate,
                                        "tax_exemption_reason": tax_exemption_reason, "description": description},
                              f"Product {code}")["tax_rate"]
    check_tax(tax_category, rate)
    if Product.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Product code {code!r} is already used.", code="duplicate")
    return Product.objects.create(organization=org, code=code, name=name, unit=unit, tax_category=tax_category,
                                  tax_rate=rate, tax_exemption_reason=tax_exemption_reason, description=description)


@transaction.atomic
def create_metric(org: Organization, *, code: str, name: str, aggregation: str, property_name: str = "") -> Metric:
    """A usage meter, aggregated per period with one of :data:`duly.domain.usage.AGGREGATIONS`."""
    if not code or not name:
        raise ValidationError("A metric needs a code and a name.")
    agg = aggregations.aggregation(aggregation)  # UnknownAggregation, naming the registered ones
    if property_name and not agg.uses_property:
        raise ValidationError("A property name only applies to a unique_count metric.")
    if Metric.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Metric code {code!r} is already used.", code="duplicate")
    return Metric.objects.create(organization=org, code=code, name=name, aggregation=aggregation,
                                 property_name=property_name)


def validate_price_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a price model configuration; overlapping tiers and other mistakes raise.

    Raises :class:`~duly.domain.errors.OverlappingTiers` or :class:`~duly.domain.errors.InvalidPricing`
    with a message naming the tier or setting at fault.
    """
    return pricing.model_from_config(config).to_config()


def check_price(code: str, currency: str, model_config: Mapping[str, Any], quantity_source: str,
                metric: Metric | None) -> dict[str, Any]:
    """Validate a price without writing it; returns the canonical configuration."""
    check_currency(currency)
    if quantity_source not in dict(Price.SOURCE_CHOICES):
        raise ValidationError(f"Unknown quantity source {quantity_source!r}: use quantity, usage or licences.")
    if quantity_source == Price.SOURCE_USAGE and metric is None:
        raise ValidationError(f"Price {code}: a usage price needs the metric it is billed on.")
    if quantity_source != Price.SOURCE_USAGE and metric is not None:
        raise ValidationError(f"Price {code}: only a usage price has a metric.")
    config = validate_price_config(model_config)
    _check_config_numbers(config, f"Price {code}")
    model = pricing.model_from_config(config)
    if model.takes_transactions() and quantity_source != Price.SOURCE_USAGE:
        raise InvalidPricing(f"Price {code}: a percentage price is charged on transactions, so it must be a "
                             "usage price whose events are the transaction amounts.")
    return config


#: Numbers in a price configuration (amounts, unit prices, tier bounds, rates): what Duly computes with exactly.
PRICE_NUMBER = dict(max_digits=25, decimal_places=10)


def _check_config_numbers(config: Any, what: str) -> None:
    """Every number of a canonical price configuration within :data:`PRICE_NUMBER` (15 significant digits)."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, Decimal, int)) and not isinstance(item, bool):
            try:
                number = to_decimal(item)
            except ValidationError:
                continue  # text (the model's name...): the model itself judged it
            check_decimal(number, what=f"{what}: the number", **PRICE_NUMBER)


@transaction.atomic
def create_price(org: Organization, product: Product, *, code: str, currency: str, model_config: Mapping[str, Any],
                 quantity_source: str = Price.SOURCE_QUANTITY, metric: Metric | None = None,
                 nickname: str = "") -> Price:
    """A price of ``product`` in one currency. The configuration is validated and stored canonically."""
    _own(org, product, "Product")
    if metric is not None:
        _own(org, metric, "Metric")
    config = check_price(code, currency, model_config, quantity_source, metric)
    if Price.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Price code {code!r} is already used.", code="duplicate")
    return Price.objects.create(organization=org, product=product, code=code, currency=currency,
                                model_config=config, quantity_source=quantity_source, metric=metric,
                                nickname=nickname)
