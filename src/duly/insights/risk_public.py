"""The IBM accounts-receivable sample (tests/data/ar-payments) as Duly's risk features: one row per invoice.

Each row's features come from the customer's history as it stood on that invoice's issue date
(``duly.domain.risk_features``); the current invoice's ``Disputed``, ``DaysToSettle``, ``SettledDate`` and
``DaysLate`` are never features, only the label (late or not) and the target (days to settle).
Used by ``bench/risk_eval.py`` and the tests; no Django.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from duly.domain.risk_features import NewInvoice, PastInvoice, feature_vector, invoice_features

#: Columns that describe the outcome of the invoice itself: never read as features.
LEAKY_COLUMNS = ("Disputed", "DaysToSettle", "SettledDate", "DaysLate")


def _date(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


@dataclass(frozen=True)
class PublicInvoice:
    number: str
    customer: str
    invoice: NewInvoice
    past: PastInvoice  # the same invoice with its outcome, as later invoices see it
    late: bool
    days_to_settle: int


def read_invoices(path: Path) -> list[PublicInvoice]:
    rows = []
    with open(path, newline="", encoding="ascii") as fh:
        for rec in csv.DictReader(fh):
            issued, due, settled = _date(rec["InvoiceDate"]), _date(rec["DueDate"]), _date(rec["SettledDate"])
            amount = Decimal(rec["InvoiceAmount"])
            paperless = rec["PaperlessBill"] == "Electronic"
            rows.append(PublicInvoice(
                number=rec["invoiceNumber"], customer=rec["customerID"],
                invoice=NewInvoice(issued=issued, due=due, amount=amount, paperless=paperless),
                past=PastInvoice(issued=issued, due=due, amount=amount, settled=settled,
                                 disputed=rec["Disputed"] == "Yes", paperless=paperless),
                late=int(rec["DaysLate"]) > 0, days_to_settle=int(rec["DaysToSettle"])))
    rows.sort(key=lambda r: (r.invoice.issued, r.number))
    return rows


def feature_rows(rows: list[PublicInvoice]) -> list[list[float]]:
    """Feature vectors, one per row (same order), each from the customer's other invoices."""
    by_customer: dict[str, list[PastInvoice]] = defaultdict(list)
    for r in rows:
        by_customer[r.customer].append(r.past)
    out = []
    for r in rows:
        history = [p for p in by_customer[r.customer] if p is not r.past]
        out.append(feature_vector(invoice_features(r.invoice, history)))
    return out
