"""Deposits and retainers deducted from a batch's invoices (EN 16931 BT-113), and retainer top-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

from .inputs import DEPOSIT, DEPOSIT_FINAL_INVOICE, RETAINER, ContractInput, PrepaidBalances, RetainerInput
from .notes import (
    DEPOSIT_DEDUCTED,
    DEPOSIT_HELD,
    DEPOSIT_LEFT,
    RETAINER_BALANCE,
    RETAINER_DRAWDOWN,
    RETAINER_TOPUP,
    InvoiceNote,
)

__all__ = ["PrepaidApplication", "PrepaidInvoice", "apply_prepaid"]


class PrepaidInvoice(NamedTuple):
    """An invoice of the batch, in the order they are issued: its contract, total and whether it is the
    contract's final invoice (no subscription left to bill)."""

    contract_id: int
    currency: str
    total_minor: int
    final: bool


@dataclass
class PrepaidApplication:
    """What prepaid funds do to one invoice: the amount deducted, the drawdowns, the notes, a top-up to issue."""

    prepaid_minor: int = 0
    #: (kind, minor units): deposit first, then retainer.
    drawdowns: list[tuple[str, int]] = field(default_factory=list)
    notes: list[InvoiceNote] = field(default_factory=list)
    #: A retainer that fell below its threshold: (its terms, the balance after this invoice).
    topup: tuple[RetainerInput, int] | None = None


def apply_prepaid(invoices: Sequence[PrepaidInvoice], balances: PrepaidBalances,
                  contracts: Mapping[int, ContractInput]) -> list[PrepaidApplication]:
    """Deduct available deposits, then retainers; plan a top-up for a retainer that fell below its threshold.

    A paid deposit is deducted as the contract says (``deposit_deduction``): from the next invoices
    until used up (the default), or held until the contract's final invoice, whose notes then show
    what is left to pay back. Balances carry from one invoice to the next (``balances`` is not changed).
    """
    available = dict(balances.available)
    open_topups = set(balances.open_topups)
    result = []
    for invoice in invoices:
        contract_id, currency = invoice.contract_id, invoice.currency
        remaining = invoice.total_minor
        app = PrepaidApplication()
        notes = app.notes
        key = (contract_id, DEPOSIT)
        left = max(available.get(key, 0), 0)
        at_end = contracts[contract_id].deposit_deduction == DEPOSIT_FINAL_INVOICE
        deposit_invoice = balances.deposit_invoices.get(contract_id, "")
        if left and at_end and not invoice.final:
            notes.append(InvoiceNote.of(DEPOSIT_HELD, amount_minor=left, currency=currency,
                                        deposit_invoice=deposit_invoice))
            left = 0
        deposit = min(left, remaining)
        if deposit:
            available[key] = available.get(key, 0) - deposit
            remaining -= deposit
            app.drawdowns.append((DEPOSIT, deposit))
            notes.append(InvoiceNote.of(DEPOSIT_DEDUCTED, amount_minor=deposit, currency=currency,
                                        deposit_invoice=deposit_invoice))
        if at_end and left > deposit:
            notes.append(InvoiceNote.of(DEPOSIT_LEFT, amount_minor=left - deposit, currency=currency))
        retainer = balances.retainers.get(contract_id)
        if retainer is not None:
            key = (contract_id, RETAINER)
            drawn = min(max(available.get(key, 0), 0), remaining)
            if drawn:
                available[key] = available.get(key, 0) - drawn
                remaining -= drawn
                app.drawdowns.append((RETAINER, drawn))
                notes.append(InvoiceNote.of(RETAINER_DRAWDOWN, amount_minor=drawn, currency=currency))
            balance = available.get(key, 0)
            notes.append(InvoiceNote.of(RETAINER_BALANCE, amount_minor=balance, currency=currency))
            if balance < retainer.threshold_minor and contract_id not in open_topups:
                app.topup = (retainer, balance)
                open_topups.add(contract_id)
                notes.append(InvoiceNote.of(RETAINER_TOPUP, amount_minor=retainer.topup_minor,
                                            currency=retainer.currency))
        app.prepaid_minor = invoice.total_minor - remaining
        result.append(app)
    return result
