"""Exchange rates the seller enters (the only writer of :class:`~duly.invoicing.models.ExchangeRate`), and the
VAT accounting currency an invoice is frozen with at issue.

A UK VAT invoice in a foreign currency must state its total VAT in sterling (HMRC VAT Notice 700/21 §16.3;
EN 16931 BT-6 and BT-111). The rate is explicit: entered with its date and source (an HMRC monthly rate, the
bank's rate of the day...), never fetched from the network; an invoice takes the latest one on or before its
issue date and keeps it (its snapshot), so changing rates later changes no issued document.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from duly.customers.models import Organization
from duly.domain.errors import ValidationError
from duly.domain.money import check_currency

from .models import ExchangeRate

__all__ = ["VAT_ACCOUNTING_CURRENCY", "ExchangeRateMissing", "check_exchange_rate", "record_exchange_rate", "vat_accounting_currency",
           "vat_accounting_entry"]

#: Seller country -> the currency its VAT invoices state VAT in (when a VAT-registered seller invoices in another).
VAT_ACCOUNTING_CURRENCY = {"GB": "GBP"}


class ExchangeRateMissing(ValidationError):
    code = "exchange_rate_missing"


def check_exchange_rate(currency: str, accounting_currency: str, rate: Decimal | str, source: str
                        ) -> tuple[str, str, Decimal, str]:
    """The rate's currencies, value and source, cleaned; a ValidationError says what is wrong."""
    currency, accounting_currency = currency.strip().upper(), accounting_currency.strip().upper()
    check_currency(currency)
    check_currency(accounting_currency)
    if currency == accounting_currency:
        raise ValidationError(f"An exchange rate converts between two currencies, not {currency} to itself.")
    try:
        value = Decimal(str(rate).strip())
    except InvalidOperation:
        raise ValidationError(f"The exchange rate {rate!r} is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise ValidationError("An exchange rate is a positive number.")
    source = " ".join((source or "").split())
    if not source:
        raise ValidationError("Say where the exchange rate comes from (its source), e.g. HMRC monthly rate.")
    return currency, accounting_currency, value, source[:200]


@transaction.atomic
def record_exchange_rate(org: Organization, *, currency: str, accounting_currency: str, rate: Decimal | str,
                         rate_date: date, source: str) -> ExchangeRate:
    """Enter (or correct) the rate of a day: 1 ``currency`` = ``rate`` ``accounting_currency``."""
    currency, accounting_currency, value, source = check_exchange_rate(currency, accounting_currency, rate, source)
    row, _ = ExchangeRate.objects.update_or_create(
        organization=org, currency=currency, accounting_currency=accounting_currency, rate_date=rate_date,
        defaults={"rate": value, "source": source})
    return row


def vat_accounting_currency(org: Organization, currency: str) -> str:
    """The currency a VAT-registered seller's invoice in ``currency`` must also state its VAT in ("" if none)."""
    target = VAT_ACCOUNTING_CURRENCY.get(org.country, "") if org.vat_id.strip() else ""
    return "" if target == currency else target


def vat_accounting_entry(org: Organization, currency: str, on: date, tax_total_minor: int) -> dict[str, Any] | None:
    """What an invoice issued on ``on`` freezes to state its VAT in the accounting currency: ``{"currency",
    "rate", "date", "source"}``; None when it states no VAT or none is needed. Refuses (ExchangeRateMissing)
    when no rate on or before ``on`` was entered."""
    target = vat_accounting_currency(org, currency)
    if not target or not tax_total_minor:
        return None
    row = (ExchangeRate.objects.filter(organization=org, currency=currency, accounting_currency=target,
                                       rate_date__lte=on).order_by("-rate_date").first())
    if row is None:
        raise ExchangeRateMissing(
            f"A VAT invoice of a UK seller in {currency} states its VAT in {target}: enter the {currency}/{target} "
            f"exchange rate of {on.isoformat()} or before (with its source) before issuing.",
            currency=currency, accounting_currency=target)
    return {"currency": target, "rate": str(row.rate.normalize()), "date": row.rate_date.isoformat(),
            "source": row.source}
