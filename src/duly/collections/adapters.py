"""Adapters to the billing app, used when collections terminates or restores a customer.

Termination cancels every active subscription immediately through
:func:`duly.billing.services.cancel_subscription` (``at_period_end=False``: billing credits the
unused days of a period invoiced in advance). Billing has no service to re-activate a cancelled
subscription, so restoring a terminated customer who paid in time makes them active again and
says that their subscriptions must be restarted by hand (:func:`resume_subscriptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class AdapterResult:
    done: tuple[str, ...]
    note: str


def cancel_subscriptions(org, customer, *, on: date, reason: str) -> AdapterResult:
    """Cancel the customer's active subscriptions on ``on`` (inside the caller's transaction)."""
    from duly.billing.models import Subscription
    from duly.billing.services import cancel_subscription

    done = []
    for sub in Subscription.objects.filter(organization=org, customer=customer, status=Subscription.ACTIVE):
        cancel_subscription(org, sub, on=on, as_of=on, at_period_end=False, reason=reason)
        done.append(sub.reference or f"subscription {sub.pk}")
    note = f"subscriptions cancelled: {', '.join(done)}" if done else "no active subscription to cancel"
    return AdapterResult(tuple(done), note)


def resume_subscriptions(org, customer) -> AdapterResult:
    """Billing cannot re-activate a cancelled subscription: report the ones to restart by hand."""
    from duly.billing.models import Subscription

    cancelled = [s.reference or f"subscription {s.pk}" for s in Subscription.objects.filter(
        organization=org, customer=customer, status=Subscription.CANCELED, canceled_on__isnull=False)]
    if not cancelled:
        return AdapterResult((), "no cancelled subscription")
    return AdapterResult((), f"restart by hand (billing has no re-activation): {', '.join(cancelled)}")
