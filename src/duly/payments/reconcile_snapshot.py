"""What matching sees: the organization's invoices as :class:`~duly.domain.matching.OpenItem`, the payer IBANs
learned from earlier matches and SEPA mandates, and statement lines as the domain's dataclasses. Readers only.

Also :func:`awaiting_reconciliation`, the money in review that collections must not chase for.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Iterator

from django.db.models import Q, Sum

from duly.customers.models import Organization
from duly.domain.matching import FxDetails, ItemStatus, OpenItem
from duly.domain.matching import StatementLine as Line
from duly.invoicing.models import Invoice

from .bank_models import StatementLine
from .models import Allocation, Mandate
from .reconcile_models import BankMatch, ReviewEntry

CHUNK = 5_000


def open_items(org: Organization) -> Iterator[OpenItem]:
    """Every issued invoice of ``org`` (credit notes aside): open ones to match, closed ones so a reference to them
    is recognised (and never applied automatically)."""
    hand = _hand_allocated(org)
    credited = _fully_credited(org)
    rows = (Invoice.objects.filter(organization=org).exclude(status=Invoice.DRAFT)
            .exclude(kind=Invoice.KIND_CREDIT_NOTE).exclude(number__isnull=True)
            .values_list("id", "number", "customer_id", "customer__name", "currency", "total_minor", "prepaid_minor",
                         "rounding_minor", "paid_minor", "due_date", "status", "rf_reference")
            .order_by("id"))
    for (iid, number, cid, name, currency, total, prepaid, rounding, paid, due, status, rf) in rows.iterator(
            chunk_size=CHUNK):
        if status in Invoice.OPEN_STATUSES:
            state = ItemStatus.OPEN
        elif status == Invoice.VOID:
            state = ItemStatus.VOID
        elif status == Invoice.UNCOLLECTIBLE:
            state = ItemStatus.WRITTEN_OFF
        else:
            state = ItemStatus.CREDITED if iid in credited else ItemStatus.PAID
        open_minor = max(total - prepaid + rounding - paid, 0) if state is ItemStatus.OPEN else 0
        yield OpenItem(iid, number or "", cid, name, currency, open_minor, due, state, rf or "", hand.get(iid, 0))


def _hand_allocated(org: Organization) -> dict[int, int]:
    """Minor units allocated to open invoices by payments a person recorded (not by a bank match)."""
    rows = (Allocation.objects.filter(invoice__organization=org, invoice__status=Invoice.PARTIALLY_PAID,
                                      payment__isnull=False, payment__bank_matches__isnull=True)
            .values("invoice_id").annotate(total=Sum("amount_minor")).values_list("invoice_id", "total"))
    return dict(rows)


def _fully_credited(org: Organization) -> set[int]:
    rows = (Allocation.objects.filter(invoice__organization=org, invoice__status=Invoice.PAID,
                                      credit_note__isnull=False)
            .values("invoice_id", "invoice__total_minor").annotate(total=Sum("amount_minor")))
    return {r["invoice_id"] for r in rows if r["total"] >= r["invoice__total_minor"]}


def learned_ibans(org: Organization) -> dict[str, list[int]]:
    """Payer IBAN -> customers: from the lines of earlier (not undone) matches and from SEPA mandates."""
    learned: dict[str, set[int]] = defaultdict(set)
    for iban, cid in (BankMatch.objects.filter(organization=org, undone_at__isnull=True, customer__isnull=False)
                      .exclude(line__counterparty_iban="").values_list("line__counterparty_iban", "customer_id")):
        learned["".join(iban.split()).upper()].add(cid)
    for iban, cid in Mandate.objects.filter(organization=org, revoked_at__isnull=True).values_list("iban",
                                                                                                  "customer_id"):
        learned["".join(iban.split()).upper()].add(cid)
    return {iban: sorted(cids) for iban, cids in learned.items()}


def as_line(row: StatementLine) -> Line:
    fx = None
    if row.original_currency and row.original_amount_minor and row.original_currency != row.currency:
        fx = FxDetails(row.original_currency, abs(row.original_amount_minor), row.exchange_rate)
    return Line(line_id=row.pk, amount_minor=row.amount_minor, currency=row.currency, booked_on=row.booking_date,
                structured_reference=row.remittance_structured, remittance=row.remittance_unstructured,
                payer_name=row.counterparty_name, payer_iban=row.counterparty_iban,
                end_to_end_id=row.end_to_end_id if row.end_to_end_id.upper() != "NOTPROVIDED" else "", fx=fx)


def lines_to_match(org: Organization, ids: Iterable[int] | None = None) -> list[StatementLine]:
    rows = StatementLine.objects.filter(organization=org, status=StatementLine.NEW)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return list(rows.order_by("booking_date", "id"))


def awaiting_reconciliation(org: Organization, **customers: Any) -> dict[int, dict[str, int]]:
    """``{customer id: {currency: minor units}}`` received on the bank account and waiting in review, attributed
    to the customer of the line's best proposal (``customer_id__in=[...]`` or a range selects the customers)."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (ReviewEntry.objects.filter(Q(organization=org), customer__isnull=False, line__amount_minor__gt=0,
                                       line__status=StatementLine.REVIEW, **customers)
            .values("customer_id", "line__currency").annotate(total=Sum("line__amount_minor"))
            .values_list("customer_id", "line__currency", "total"))
    for cid, currency, total in rows:
        out[cid][currency] = out[cid].get(currency, 0) + int(total)
    return dict(out)
