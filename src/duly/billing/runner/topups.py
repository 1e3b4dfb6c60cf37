"""Retainer top-up invoices, and how an advance payment (a deposit or a retainer) is taxed."""

from __future__ import annotations

from decimal import Decimal

from duly.customers.models import Contract, Customer
from duly.domain.compose.inputs import RetainerInput
from duly.domain.money import Money, from_minor
from duly.domain.text import text
from duly.invoicing.bulk import BulkInvoice
from duly.invoicing.models import Invoice
from duly.invoicing.services import LineData

from ..models import RetainerAgreement

__all__ = ["PREPAID_TAX_CATEGORY", "PREPAID_TAX_REASON", "topup_invoice"]

PREPAID_TAX_CATEGORY = "O"
PREPAID_TAX_REASON = text("Advance payment: VAT is charged on the invoices it is deducted from")
RETAINER_NOTE = text("Retainer: once paid, this amount is drawn down by your recurring and usage charges.")


def topup_invoice(customer: Customer, contract: Contract, retainer: RetainerAgreement | RetainerInput,
                  balance_minor: int | None = None) -> BulkInvoice:
    """A retainer (top-up) invoice: an advance payment, not subject to VAT itself (see PREPAID_TAX_REASON)."""
    why = ""
    currency = retainer.currency
    if balance_minor is not None:
        why = text("The retainer balance fell to {balance}, below the threshold of {threshold}.",
                   balance=Money(from_minor(balance_minor, currency), currency),
                   threshold=Money(from_minor(retainer.threshold_minor, currency), currency))
    return BulkInvoice(
        customer=customer, contract=contract, kind=Invoice.KIND_DEPOSIT,
        lines=[LineData(
            description=text("Retainer top-up — contract {contract}", contract=contract.reference), quantity=Decimal(1),
            unit_price=from_minor(retainer.topup_minor, retainer.currency), tax_category=PREPAID_TAX_CATEGORY,
            tax_exemption_reason=PREPAID_TAX_REASON, explanation=why,
        )],
        notes=RETAINER_NOTE,
    )
