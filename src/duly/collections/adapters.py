"""Adapters to the billing app: cancel subscriptions on termination, resume them on restoration.

Billing is built in parallel with collections; these functions find its services by name and do
nothing (saying so in their result) while it does not provide them. The contract expected from
``duly.billing.services``:

``cancel_customer_subscriptions(org, customer, *, on: date, reason: str) -> list[str]``
    Cancel every running subscription of the customer immediately on ``on``; return their references.
``resume_customer_subscriptions(org, customer, *, on: date, reason: str) -> list[str]``
    Undo that cancellation when a terminated customer pays within the restore period.

When billing offers only a per-subscription ``cancel_subscription(org, subscription_id, *, on,
immediately=True, reason)`` it is used for each running subscription instead.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from datetime import date
from types import ModuleType

log = logging.getLogger("duly.collections")


@dataclass(frozen=True)
class AdapterResult:
    done: tuple[str, ...]
    note: str


def _billing() -> ModuleType | None:
    try:
        return importlib.import_module("duly.billing.services")
    except ImportError:
        return None


def _call(fn, org, target, *, on: date, reason: str, **extra):
    """Call a billing service with the keyword arguments it accepts."""
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in {"on": on, "reason": reason, **extra}.items() if k in params}
    return fn(org, target, **kwargs)


def cancel_subscriptions(org, customer, *, on: date, reason: str) -> AdapterResult:
    billing = _billing()
    whole = getattr(billing, "cancel_customer_subscriptions", None) if billing else None
    if callable(whole):
        done = _call(whole, org, customer, on=on, reason=reason) or []
        return AdapterResult(tuple(str(x) for x in done), f"{len(done)} subscription(s) cancelled")
    single = getattr(billing, "cancel_subscription", None) if billing else None
    if callable(single):
        from duly.billing.models import Subscription

        running = Subscription.objects.filter(organization=org, customer=customer).exclude(
            status__in=("canceled", "cancelled", "ended"))
        done = []
        for sub in running:
            _call(single, org, sub.pk, on=on, reason=reason, immediately=True)
            done.append(sub.reference or str(sub.pk))
        return AdapterResult(tuple(done), f"{len(done)} subscription(s) cancelled")
    log.warning("billing provides no cancellation service; subscriptions of %s left as they are", customer)
    return AdapterResult((), "billing provides no cancellation service: subscriptions left unchanged")


def resume_subscriptions(org, customer, *, on: date, reason: str) -> AdapterResult:
    billing = _billing()
    fn = getattr(billing, "resume_customer_subscriptions", None) if billing else None
    if callable(fn):
        done = _call(fn, org, customer, on=on, reason=reason) or []
        return AdapterResult(tuple(str(x) for x in done), f"{len(done)} subscription(s) resumed")
    return AdapterResult((), "billing provides no resume service: restart the subscriptions by hand")
