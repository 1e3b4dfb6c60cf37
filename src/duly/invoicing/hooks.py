"""What invoicing asks of the apps above it, without importing them.

Invoicing sits below payments and billing (``domain <- customers <- invoicing <- billing | payments``):
issuing an invoice applies the customer's credit (a payments concern) and states their retainer
balance (a billing concern), but invoicing may not import either. Those apps fill this registry in
their ``AppConfig.ready()`` (:func:`register`); invoicing calls the functions below. With nothing
registered (an app not installed) an invoice gets no credit and states no retainer.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable, Iterable

__all__ = ["apply_credit_note", "apply_customer_credit", "credit_balances", "register", "retainer_entry"]

_PROVIDERS: dict[str, Callable[..., Any]] = {}
_NAMES = ("apply_customer_credit", "apply_credit_note", "credit_balances", "retainer_entry")


def register(**providers: Callable[..., Any]) -> None:
    """Provide hooks by name (``apply_customer_credit``, ``apply_credit_note``, ``credit_balances``,
    ``retainer_entry``); called once from the providing app's ``ready()``."""
    unknown = set(providers) - set(_NAMES)
    if unknown:
        raise TypeError(f"unknown invoicing hook(s): {sorted(unknown)}")
    _PROVIDERS.update(providers)


def apply_customer_credit(invoice, *, on: date) -> int:
    """Apply the customer's available credit to a freshly issued invoice; the minor units applied (payments)."""
    provider = _PROVIDERS.get("apply_customer_credit")
    return provider(invoice, on=on) if provider is not None else 0


def apply_credit_note(note) -> None:
    """Settle what an issued credit note corrects, and give back what was paid as credit (payments)."""
    provider = _PROVIDERS.get("apply_credit_note")
    if provider is not None:
        provider(note)


def credit_balances(customer_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(customer id, currency) pairs with a positive credit balance among ``customer_ids`` (payments)."""
    provider = _PROVIDERS.get("credit_balances")
    return provider(set(customer_ids)) if provider is not None else set()


def retainer_entry(customer, currency: str, as_of: date) -> dict[str, Any] | None:
    """The retainer balance an invoice of ``customer`` in ``currency`` issued on ``as_of`` states (billing);
    None: no retainer in that currency."""
    provider = _PROVIDERS.get("retainer_entry")
    return provider(customer, currency, as_of) if provider is not None else None
