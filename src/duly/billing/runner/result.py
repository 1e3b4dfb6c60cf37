"""What a billing run did (its result object; the run is :func:`duly.billing.run.run_billing`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from duly.domain.money import from_minor

__all__ = ["BillingRunResult", "merge"]


@dataclass
class BillingRunResult:
    """What a run did: invoices issued (by currency, with amounts), slots billed, customers left out."""

    as_of: date
    invoices: int = 0
    topups: int = 0
    slots: int = 0
    customers: int = 0
    batches: int = 0
    #: Processes that planned the batches (1: this one; see planning_workers).
    workers: int = 1
    #: currency → {"invoices": n, "total_minor": Σ total, "payable_minor": Σ total − prepaid}
    by_currency: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (customer code, reason) of customers that could not be billed.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    #: (customer code, why) of customers billed at a previous price: the new price's notice was not sent
    #: (at least its notice period) before the period billed. Price notices come first.
    kept_prices: list[tuple[str, str]] = field(default_factory=list)

    def add_invoice(self, currency: str, total_minor: int, payable_minor: int) -> None:
        row = self.by_currency.setdefault(currency, {"invoices": 0, "total_minor": 0, "payable_minor": 0})
        row["invoices"] += 1
        row["total_minor"] += total_minor
        row["payable_minor"] += payable_minor

    def totals(self) -> dict[str, Decimal]:
        return {cur: from_minor(row["total_minor"], cur) for cur, row in sorted(self.by_currency.items())}

    def summary(self) -> str:
        if not self.invoices:
            text = f"Nothing to bill as of {self.as_of.isoformat()}."
        else:
            amounts = ", ".join(f"{amount} {cur}" for cur, amount in self.totals().items())
            text = (f"Issued {self.invoices} invoice(s) for {self.customers} customer(s) as of "
                    f"{self.as_of.isoformat()} ({self.slots} subscription period(s)): {amounts}.")
            if self.topups:
                text += f" Including {self.topups} retainer top-up invoice(s)."
        if self.skipped:
            text += f" {len(self.skipped)} customer(s) left out (see below)."
        if self.kept_prices:
            text += (f" {len({c for c, _ in self.kept_prices})} customer(s) kept a previous price: its change was not"
                     " announced in time (see below).")
        return text

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "invoices": self.invoices,
            "topups": self.topups,
            "subscription_periods": self.slots,
            "customers": self.customers,
            "batches": self.batches,
            "planning_processes": self.workers,
            "by_currency": {
                cur: {"invoices": row["invoices"], "total": str(from_minor(row["total_minor"], cur)),
                      "payable": str(from_minor(row["payable_minor"], cur))}
                for cur, row in sorted(self.by_currency.items())
            },
            "first_number": self.numbers[0] if self.numbers else None,
            "last_number": self.numbers[-1] if self.numbers else None,
            "skipped": [{"customer": c, "reason": r} for c, r in self.skipped],
            "kept_prices": [{"customer": c, "reason": r} for c, r in self.kept_prices],
        }



def merge(result: BillingRunResult, outcome: BillingRunResult) -> None:
    """Add a batch's outcome to the run's result."""
    result.invoices += outcome.invoices
    result.topups += outcome.topups
    result.slots += outcome.slots
    result.customers += outcome.customers
    result.skipped += outcome.skipped
    result.kept_prices += outcome.kept_prices
    result.numbers += outcome.numbers
    for cur, row in outcome.by_currency.items():
        mine = result.by_currency.setdefault(cur, {"invoices": 0, "total_minor": 0, "payable_minor": 0})
        for k, v in row.items():
            mine[k] += v
