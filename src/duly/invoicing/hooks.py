"""What invoicing asks of the apps above it, without importing them (docs/conventions.md, "Layers").

Invoicing sits below payments and billing (``domain <- customers <- invoicing <- billing | payments``):
issuing an invoice applies the customer's credit (a payments concern) and states their retainer balance
(a billing concern), but invoicing may not import either. Each question is a :class:`Hook`: the app that
knows the answer gives its function in its ``AppConfig.ready()`` (``hook.provide(fn)`` or
:func:`register`), and invoicing calls the hook. A question nobody answers is a configuration error,
said by name (never a silent default: an invoice issued without asking payments would skip the
customer's credit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

__all__ = ["Hook", "InstructionRequest", "apply_credit_note", "apply_customer_credit", "credit_balances",
           "late_payment_prediction", "payment_instructions", "register", "retainer_entry", "scheduled_collections", "settled_by_issue_minor"]


@dataclass(frozen=True)
class InstructionRequest:
    """One invoice whose payment method is asked (:data:`payment_instructions`): the loaded customer and contract
    (the contract may be None), and the invoice's kind, currency, issue and due dates."""

    customer: Any
    contract: Any
    kind: str
    currency: str
    issue_date: date
    due_date: date | None


class Hook:
    """One question invoicing asks, answered by the function an app above it provides."""

    def __init__(self, name: str, answered_by: str) -> None:
        self.name = name
        self.answered_by = answered_by
        self._fn: Callable[..., Any] | None = None

    def provide(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    @property
    def provided(self) -> bool:
        return self._fn is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._fn is None:
            raise RuntimeError(f"nothing provides invoicing's {self.name!r}: the {self.answered_by} app does, "
                               "in its AppConfig.ready() (is it in INSTALLED_APPS?)")
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name} ({'provided' if self._fn else 'not provided'})>"


#: ``fn(invoice, *, on) -> int``: apply the customer's available credit to a freshly issued invoice; the minor
#: units applied.
apply_customer_credit = Hook("apply_customer_credit", "payments")
#: ``fn(note) -> None``: settle what an issued credit note corrects, and give back what was paid as credit.
apply_credit_note = Hook("apply_credit_note", "payments")
#: ``fn(customer_ids: set[int]) -> set[(customer id, currency)]``: the pairs with a positive credit balance.
credit_balances = Hook("credit_balances", "payments")
#: ``fn(invoice) -> int``: the minor units the payments applied up to ``invoice``'s issue date settled on it,
#: for an invoice issued before its document snapshot froze that amount (documents.adapter).
settled_by_issue_minor = Hook("settled_by_issue_minor", "payments")
#: ``fn(requests: Sequence[InstructionRequest]) -> list[dict | None]``: how each invoice will actually be paid (card
#: autopay, SEPA direct debit or bank transfer), as the JSON of a
#: :class:`duly.domain.payment_instructions.PaymentInstruction`, frozen in its document snapshot at issue; None for
#: a document nothing is paid on (a credit note). A few queries for the whole list, whatever its length.
payment_instructions = Hook("payment_instructions", "payments")
#: ``fn(invoices, as_of) -> dict[int, dict]``: of open ``invoices``, those an automatic collection will still pay on
#: or after ``as_of`` (their SEPA debit planned or pre-notified, their card charge or its retry scheduled), each with
#: the PaymentInstruction JSON of that collection and its date; the others are the customer's to transfer.
scheduled_collections = Hook("scheduled_collections", "payments")
#: ``fn(customer, currency, as_of) -> dict | None``: the retainer balance an invoice of ``customer`` in
#: ``currency`` issued on ``as_of`` states; None: no retainer in that currency.
retainer_entry = Hook("retainer_entry", "billing")

#: ``fn(invoice) -> str | None``: the late-payment prediction of an open invoice in words (probability, expected
#: payment date, top reasons) for its admin page; None: not scored.
late_payment_prediction = Hook("late_payment_prediction", "insights")


def register(**providers: Callable[..., Any]) -> None:
    """Provide hooks by name; called once from the providing app's ``ready()``."""
    hooks = {name: value for name, value in globals().items() if isinstance(value, Hook)}
    unknown = set(providers) - set(hooks)
    if unknown:
        raise TypeError(f"unknown invoicing hook(s): {sorted(unknown)}")
    for name, fn in providers.items():
        hooks[name].provide(fn)
