"""/api/v1/products and /api/v1/prices: list, get, create (price models validated by duly.billing.services)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Query, Router
from pydantic import Field

from duly.billing import services as billing

from . import readers
from .core import ERRORS, In, PageOf, Paging, Schema, idempotent, page_body, require

router = Router(tags=["catalog"])


class ProductOut(Schema):
    id: int
    code: str
    name: str
    description: str
    unit: str
    tax_category: str
    tax_rate: Decimal
    tax_exemption_reason: str
    active: bool
    created_at: datetime | None = None


class ProductIn(In):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    unit: str = Field("C62", min_length=1, max_length=10, description="UN/ECE Rec 20 unit code")
    tax_category: str = Field("S", min_length=1, max_length=2)
    tax_rate: Decimal = Field(Decimal(0), ge=0, le=100, description="Percent, e.g. \"20\"")
    tax_exemption_reason: str = Field("", max_length=200)


def product_body(p) -> dict:
    return {"id": p.pk, "code": p.code, "name": p.name, "description": p.description, "unit": p.unit,
            "tax_category": p.tax_category, "tax_rate": p.tax_rate, "tax_exemption_reason": p.tax_exemption_reason,
            "active": p.active, "created_at": p.created_at}


@router.get("/products", response={200: PageOf[ProductOut], **ERRORS}, summary="List products")
def list_products(request, paging: Query[Paging]):
    org = require(request, "view", Paging)
    return page_body(readers.page(readers.products(org), limit=paging.limit, starting_after=paging.starting_after),
                     product_body)


@router.get("/products/{product_id}", response={200: ProductOut, **ERRORS}, summary="Get a product")
def get_product(request, product_id: int):
    org = require(request, "view")
    return product_body(readers.product(org, product_id))


@router.post("/products", response={201: ProductOut, **ERRORS}, summary="Create a product")
def create_product(request, body: ProductIn):
    org = require(request, "manage_catalog")

    def run():
        return 201, product_body(billing.create_product(org, **body.model_dump()))
    return idempotent(request, run)


# --- prices -----------------------------------------------------------------------------------------------------
class Tier(Schema):
    up_to: Decimal | None = Field(description="Upper bound of the tier (inclusive); null for the last tier")
    unit_price: Decimal
    flat_fee: Decimal | None = None


class TierIn(In):
    up_to: Decimal | None = Field(description="Upper bound of the tier (inclusive); null for the last tier")
    unit_price: Decimal = Field(description="Major units, e.g. \"8.00\"")
    flat_fee: Decimal | None = Field(None, description="Major units, added once when the tier is reached")


MODELS = Literal["flat", "per_unit", "graduated", "volume", "package", "percentage"]
MODEL_FIELDS = ("amount", "unit_price", "tiers", "package_size", "free_units", "rate", "fixed_fee",
                "min_per_transaction", "max_per_transaction")


class ChargeIn(In):
    """One pricing model; amounts are decimal strings in major units of the price's currency."""

    model: MODELS
    amount: Decimal | None = Field(None, description="flat: the amount; package: the price of one package")
    unit_price: Decimal | None = Field(None, description="per_unit: the price of one unit")
    tiers: list[TierIn] | None = Field(None, min_length=1, max_length=100, description="graduated, volume")
    package_size: Decimal | None = Field(None, description="package: units in a package")
    free_units: Decimal | None = Field(None, description="package: units not charged")
    rate: Decimal | None = Field(None, description="percentage: percent of each transaction")
    fixed_fee: Decimal | None = Field(None, description="percentage: added to each transaction")
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None


class PricingIn(ChargeIn):
    """A pricing model, or ``minimum_commitment`` with a ``minimum`` and the ``charge`` it wraps."""

    model: MODELS | Literal["minimum_commitment"]  # type: ignore[assignment]
    minimum: Decimal | None = Field(None, description="minimum_commitment: the least charged per period")
    charge: ChargeIn | None = Field(None, description="minimum_commitment: the model charged above the minimum")


class Pricing(Schema):
    model: str
    amount: Decimal | None = None
    unit_price: Decimal | None = None
    tiers: list[Tier] | None = None
    package_size: Decimal | None = None
    free_units: Decimal | None = None
    rate: Decimal | None = None
    fixed_fee: Decimal | None = None
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None
    minimum: Decimal | None = None
    charge: dict[str, Any] | None = None


def _config(pricing: ChargeIn) -> dict:
    """The pricing model's configuration (duly.domain.pricing's shape) from the structured body."""
    config: dict[str, Any] = {"model": pricing.model}
    for name in MODEL_FIELDS:
        value = getattr(pricing, name)
        if name == "tiers" and value is not None:
            value = [{k: (None if v is None else str(v)) for k, v in t.model_dump().items()
                      if k != "flat_fee" or v is not None} for t in value]
        elif value is not None:
            value = str(value)
        if value is not None:
            config[name] = value
    if isinstance(pricing, PricingIn):
        if pricing.minimum is not None:
            config["minimum"] = str(pricing.minimum)
        if pricing.charge is not None:
            config["charge"] = _config(pricing.charge)
    return config


class PriceOut(Schema):
    id: int
    code: str
    product_id: int
    nickname: str
    currency: str
    pricing: Pricing
    quantity_source: str
    metric: str | None
    active: bool


class PriceIn(In):
    product_id: int
    code: str = Field(min_length=1, max_length=60)
    currency: str = Field(min_length=3, max_length=3)
    pricing: PricingIn
    quantity_source: Literal["quantity", "usage", "licences"] = "quantity"
    metric: str | None = Field(None, min_length=1, max_length=60, description="The metric code of a usage price")
    nickname: str = Field("", max_length=200)


def price_body(p) -> dict:
    return {"id": p.pk, "code": p.code, "product_id": p.product_id, "nickname": p.nickname, "currency": p.currency,
            "pricing": p.model_config, "quantity_source": p.quantity_source,
            "metric": p.metric.code if p.metric_id else None, "active": p.active}


class PriceFilters(Paging):
    product: int | None = Field(None, ge=1, description="A product id")


@router.get("/prices", response={200: PageOf[PriceOut], **ERRORS}, summary="List prices")
def list_prices(request, filters: Query[PriceFilters]):
    org = require(request, "view", PriceFilters)
    qs = readers.prices(org, product_id=filters.product)
    return page_body(readers.page(qs, limit=filters.limit, starting_after=filters.starting_after), price_body)


@router.get("/prices/{price_id}", response={200: PriceOut, **ERRORS}, summary="Get a price")
def get_price(request, price_id: int):
    org = require(request, "view")
    return price_body(readers.price(org, price_id))


@router.post("/prices", response={201: PriceOut, **ERRORS}, summary="Create a price")
def create_price(request, body: PriceIn):
    org = require(request, "manage_catalog")
    product = readers.product(org, body.product_id)
    metric = readers.metric_by_code(org, body.metric) if body.metric else None
    config = _config(body.pricing)

    def run():
        created = billing.create_price(org, product, code=body.code, currency=body.currency.upper(),
                                       model_config=config, quantity_source=body.quantity_source, metric=metric,
                                       nickname=body.nickname)
        return 201, price_body(readers.price(org, created.pk))
    return idempotent(request, run)
