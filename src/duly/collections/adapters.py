"""Adapters to the billing app, used when collections suspends, terminates or restores a customer.

Suspension pauses every active subscription from the suspension day through
:func:`duly.billing.services.pause_subscription` (billing credits paused days already invoiced);
lifting it resumes exactly the pauses collections made (:func:`resume_paused`), never one staff
set. Termination cancels every active subscription immediately through
:func:`duly.billing.services.cancel_subscription` (``at_period_end=False``: billing credits the
unused days of a period invoiced in advance). Billing has no service to re-activate a cancelled
subscription, so restoring a terminated customer who paid in time reopens the account and
leaves a staff task to restart the subscriptions (:func:`cancelled_subscriptions` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q

from duly.billing.models import Subscription, SubscriptionPause
from duly.billing.services import cancel_subscription, pause_subscription, resume_subscription
from duly.domain.errors import DomainError


@dataclass(frozen=True)
class AdapterResult:
    done: tuple[str, ...]
    note: str
    #: Ids of what was created (the pauses collections made), to undo exactly those later.
    ids: tuple[int, ...] = ()


def _name(sub) -> str:
    return sub.reference or f"subscription {sub.pk}"


def pause_subscriptions(org, customer, *, on: date, reason: str) -> AdapterResult:
    """Pause the customer's active subscriptions from ``on`` (inside the caller's transaction).

    A subscription billing refuses to pause (already paused, not started) is listed in the note."""
    done, ids, refused = [], [], []
    for sub in Subscription.objects.filter(organization=org, customer=customer, status=Subscription.ACTIVE):
        try:
            pause = pause_subscription(org, sub, starts_on=on, as_of=on, reason=reason[:200])
        except DomainError as exc:
            refused.append(f"{_name(sub)} ({exc.message})")
            continue
        done.append(_name(sub))
        ids.append(pause.pk)
    note = f"subscriptions paused: {', '.join(done)}" if done else "no active subscription to pause"
    if refused:
        note += f"; not paused: {', '.join(refused)}"
    return AdapterResult(tuple(done), note, tuple(ids))


def resume_paused(org, pause_ids, *, on: date) -> AdapterResult:
    """Resume the pauses collections made (by id) on ``on``; a pause already ended is left alone.

    Billing resumes the day after a pause starts at the earliest, so a suspension lifted on its
    own first day resumes the next day."""
    done = []
    for pause in SubscriptionPause.objects.filter(Q(resumes_on__isnull=True) | Q(resumes_on__gt=on),
                                                  organization=org, pk__in=list(pause_ids)).select_related(
            "subscription"):
        day = max(on, pause.starts_on + timedelta(days=1))
        resume_subscription(org, pause.subscription, on=day, as_of=on)
        done.append(_name(pause.subscription))
    return AdapterResult(tuple(done), f"subscriptions resumed: {', '.join(done)}" if done
                         else "no paused subscription to resume")


def cancel_subscriptions(org, customer, *, on: date, reason: str) -> AdapterResult:
    """Cancel the customer's active subscriptions on ``on`` (inside the caller's transaction)."""
    done = []
    for sub in Subscription.objects.filter(organization=org, customer=customer, status=Subscription.ACTIVE):
        cancel_subscription(org, sub, on=on, as_of=on, at_period_end=False, reason=reason)
        done.append(_name(sub))
    note = f"subscriptions cancelled: {', '.join(done)}" if done else "no active subscription to cancel"
    return AdapterResult(tuple(done), note)


def cancelled_subscriptions(org, customer, *, since: date) -> AdapterResult:
    """The subscriptions cancelled on or after ``since`` (by the termination): to restart by hand."""
    cancelled = [_name(s) for s in Subscription.objects.filter(
        organization=org, customer=customer, status=Subscription.CANCELED, canceled_on__gte=since)]
    if not cancelled:
        return AdapterResult((), "no cancelled subscription")
    return AdapterResult(tuple(cancelled), f"to restart by hand (billing has no re-activation): "
                                           f"{', '.join(cancelled)}")
