"""Late fees and interest, assessed under each invoice's contract.

``assess_late_fees`` is idempotent: each fee is charged at most once per (invoice, level) — a unique
constraint, not luck — so running it twice, or two runs at once, changes nothing the second time.
Each overdue invoice is handled in its own transaction: a failure on one never half-writes another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Prefetch

from duly.customers.models import Customer, Organization
from duly.domain import late_fees
from duly.domain.errors import DomainError
from duly.domain.money import from_minor, to_minor
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

from .models import LateFee

FEE_TAX_CATEGORY = "O"
FEE_TAX_REASON = "Late-payment interest and compensation are not subject to VAT"


@dataclass
class FeeRunResult:
    as_of: date
    assessed: list[tuple[str, str, str, str]] = field(default_factory=list)  # (invoice, level, amount, currency)
    fee_invoices: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (invoice, reason)

    def summary(self) -> str:
        if not self.assessed:
            return f"No new late fees as of {self.as_of.isoformat()}."
        return (f"Assessed {len(self.assessed)} fee(s) on {len(self.fee_invoices)} late-fee invoice(s) as of "
                f"{self.as_of.isoformat()}: " + ", ".join(self.fee_invoices))

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "assessed": [dict(zip(("invoice", "level", "amount", "currency"), row)) for row in self.assessed],
            "fee_invoices": self.fee_invoices,
            "skipped": [dict(zip(("invoice", "reason"), row)) for row in self.skipped],
        }


def open_item_for(invoice: Invoice, assessed_levels: set[str]) -> late_fees.OpenItem:
    payments = sorted(
        (a.applied_on, from_minor(a.amount_minor, invoice.currency)) for a in invoice.allocations.all()
    )
    return late_fees.OpenItem(
        invoice_id=invoice.pk,
        currency=invoice.currency,
        due_date=invoice.due_date,
        unpaid_principal=from_minor(invoice.payable_minor, invoice.currency) - sum(
            (amt for _, amt in payments), from_minor(0, invoice.currency)),
        principal=from_minor(invoice.payable_minor, invoice.currency),
        payments=tuple(payments),
        assessed_levels=frozenset(assessed_levels),
    )


def assess_late_fees(org: Organization, *, as_of: date, invoice_ids: list[int] | None = None) -> FeeRunResult:
    """Assess fees and interest for every overdue invoice of ``org`` as of ``as_of``."""
    result = FeeRunResult(as_of=as_of)
    qs = (
        Invoice.objects.filter(
            organization=org, status__in=Invoice.OPEN_STATUSES, due_date__lt=as_of,
            kind__in=[Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT], contract__isnull=False,
        )
        .exclude(contract__late_fee_kind="none")
        .select_related("contract", "customer", "organization")
        .prefetch_related("allocations", Prefetch("late_fees", queryset=LateFee.objects.only("invoice_id", "level")))
        .order_by("due_date", "id")
    )
    if invoice_ids is not None:
        qs = qs.filter(pk__in=invoice_ids)
    for invoice in qs:
        policy = invoice.contract.late_fee_policy()
        item = open_item_for(invoice, {f.level for f in invoice.late_fees.all()})
        fees = late_fees.assess(item, policy, as_of)
        if not fees:
            continue
        if invoice.customer.status == Customer.STATUS_TERMINATED:
            result.skipped.append((invoice.number, "customer terminated: fees are claimed with the final statement"))
            continue
        try:
            fee_invoice = _charge(org, invoice, fees, as_of)
        except IntegrityError:
            result.skipped.append((invoice.number, "already assessed by a concurrent run"))
            continue
        except DomainError as exc:
            result.skipped.append((invoice.number, exc.message))
            continue
        result.fee_invoices.append(fee_invoice.number)
        result.assessed += [(invoice.number, f.level, str(f.amount), f.currency) for f in fees]
    return result


@transaction.atomic
def _charge(org: Organization, invoice: Invoice, fees: list, as_of: date) -> Invoice:
    """Record the fees (unique per level) and issue one late-fee invoice referencing the overdue one."""
    LateFee.objects.bulk_create([
        LateFee(organization=org, invoice=invoice, level=f.level, kind=f.kind,
                amount_minor=to_minor(f.amount, invoice.currency), currency=invoice.currency,
                days_late=f.days_late, explanation=f.explanation, assessed_on=as_of)
        for f in fees
    ])
    lines = [
        invoicing.LineData(
            description=f"{_fee_title(f.kind)} — invoice {invoice.number} due {invoice.due_date.isoformat()}",
            quantity=1, unit_price=f.amount, tax_category=FEE_TAX_CATEGORY, tax_rate=0,
            tax_exemption_reason=FEE_TAX_REASON, explanation=f.explanation,
        )
        for f in fees
    ]
    draft = invoicing.create_draft(
        org, invoice.customer, lines, kind=Invoice.KIND_LATE_FEE, contract=invoice.contract,
        currency=invoice.currency, related_invoice=invoice,
        notes=f"Late-payment charges on invoice {invoice.number} (due {invoice.due_date.isoformat()}).",
        po_number=invoice.po_number, buyer_reference=invoice.buyer_reference, cost_centre=invoice.cost_centre,
        ap_contact=invoice.ap_contact, billing_address=invoice.billing_address,
        custom_fields=invoice.custom_fields,
    )
    fee_invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of)
    LateFee.objects.filter(invoice=invoice, level__in=[f.level for f in fees]).update(fee_invoice=fee_invoice)
    return fee_invoice


def _fee_title(kind: str) -> str:
    return {
        "fixed_fee": "Late-payment fee",
        "compensation": "Fixed compensation for recovery costs",
        "interest": "Late-payment interest",
    }.get(kind, "Late-payment charge")
