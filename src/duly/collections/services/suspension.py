"""Suspension and termination for non-payment, and restoring a customer once nothing is overdue.

A dunning step carrying ``suspend`` suspends the customer and pauses their subscriptions through
billing; ``terminate`` cancels them (billing credits what was billed in advance). Both are undone by
:func:`restore_if_cleared` when the overdue balance is cleared: after a payment
(:func:`.thanks.payment_recorded`) or, for balances cleared otherwise, by every run
(:func:`lift_cleared_suspensions`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from duly.customers import services as customers_services
from duly.customers.models import Customer, Organization
from duly.domain.calendar import calendar_for
from duly.invoicing.models import Invoice

from .. import adapters, snapshots
from ..models import Dispute
from .common import _local_date, _profile, _task

REINSTATE_BUSINESS_DAYS = 2


def _suspend(org, customer_id: int, now: datetime, local_today: date, reason: str) -> str:
    """Suspend the customer and pause their subscriptions through billing (no new charges)."""
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if customer.status != Customer.STATUS_ACTIVE:
        return f"not suspended: the customer is already {customer.status}"
    customers_services.update_customer(customer, status=Customer.STATUS_SUSPENDED)
    paused = adapters.pause_subscriptions(org, customer, on=local_today, reason=f"Suspended: {reason}")
    profile = _profile(org, customer_id)
    profile.suspended_at = now
    profile.status_reason = f"{reason}; {paused.note}"
    profile.suspension_pauses = list(paused.ids)
    profile.save(update_fields=["suspended_at", "status_reason", "suspension_pauses"])
    return f"customer suspended ({reason}); {paused.note}"


def _terminate(org, account, action, now: datetime, local_today: date) -> str:
    """Cancel subscriptions (billing credits what was billed in advance) and mark the customer
    terminated; the final statement follows once the run's figures are read."""
    customer = Customer.objects.select_for_update().get(pk=account.customer.id)
    cancelled = adapters.cancel_subscriptions(org, customer, on=local_today,
                                              reason=f"terminated for non-payment (step {action.step_code})")
    if customer.status != Customer.STATUS_TERMINATED:
        customers_services.update_customer(customer, status=Customer.STATUS_TERMINATED)
    profile = _profile(org, customer.pk)
    profile.terminated_at = now
    profile.restore_deadline = local_today + timedelta(days=account.spec.restore_days)
    profile.status_reason = f"terminated by step {action.step_code}: {action.reason}"
    profile.save(update_fields=["terminated_at", "restore_deadline", "status_reason"])
    return f"customer terminated; {cancelled.note}"


def restore_if_cleared(org: Organization, customer_id: int, *, on: date, cause: str, now: datetime) -> str | None:
    """Lift a suspension, or undo a termination within its restore deadline, once nothing is overdue.

    Called after a payment (``payment_recorded``) and, for balances cleared otherwise (a credit
    note, customer credit, a void), by every collections run (:func:`lift_cleared_suspensions`).
    A suspension lifted resumes the subscriptions it paused. A terminated customer restored in
    time is active again, and staff get a ``reinstate`` task to restart the cancelled
    subscriptions (billing cannot re-activate one); that is what the termination letter promises.
    Returns what was done, or None.
    """
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if customer.status == Customer.STATUS_ACTIVE:
        return None
    overdue = (Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES,
                                      kind__in=snapshots.CHASED_KINDS, due_date__lt=on)
               .exclude(disputes__status=Dispute.OPEN))
    if overdue.exists():
        return None
    profile = _profile(org, customer.pk)
    if customer.status == Customer.STATUS_TERMINATED:
        if profile.restore_deadline is None or on > profile.restore_deadline:
            note = (f"{cause}: received after the restore deadline"
                    f" {profile.restore_deadline.isoformat() if profile.restore_deadline else '(none)'};"
                    " the termination stands")
            if note not in profile.status_reason:
                profile.status_reason = f"{profile.status_reason}\n{note}".strip()
                profile.save(update_fields=["status_reason"])
            return None
        since = _local_date(profile.terminated_at, customer.timezone) if profile.terminated_at else on
        cancelled = adapters.cancelled_subscriptions(org, customer, since=since)
        due = calendar_for(org.holiday_region).add_business_days(on, REINSTATE_BUSINESS_DAYS)
        _task(org, customer.pk, "reinstate", f"reinstate:{customer.pk}:{since.isoformat()}", None, None, None,
              datetime.combine(due, time(12), ZoneInfo(org.timezone or "UTC")),
              f"{customer.name} paid everything overdue by the restore deadline ({cause}): contact them and "
              f"restart their service; {cancelled.note}.")
        profile.status_reason = f"restored after {cause}; reinstatement task for staff ({cancelled.note})"
    else:
        resumed = adapters.resume_paused(org, profile.suspension_pauses, on=on)
        profile.status_reason = f"suspension lifted after {cause}; {resumed.note}"
    customers_services.update_customer(customer, status=Customer.STATUS_ACTIVE)
    profile.suspended_at = None
    profile.terminated_at = None
    profile.restore_deadline = None
    profile.suspension_pauses = []
    profile.save(update_fields=["suspended_at", "terminated_at", "restore_deadline", "status_reason",
                                "suspension_pauses"])
    return profile.status_reason


def lift_cleared_suspensions(org: Organization, *, now: datetime) -> list[str]:
    """Restore the suspended (or recently terminated) customers whose overdue balance was cleared
    by something other than a payment: a credit note, customer credit, a void. One query finds
    the candidates; each restore is its own transaction."""
    candidates = list(Customer.objects.filter(organization=org).filter(
        Q(status=Customer.STATUS_SUSPENDED)
        | Q(status=Customer.STATUS_TERMINATED, collections_profile__restore_deadline__isnull=False))
        .values_list("pk", "timezone", "collections_profile__restore_deadline"))
    if not candidates:
        return []
    earliest = min(_local_date(now, tz) for _, tz, _ in candidates)
    still_overdue = set(Invoice.objects.filter(
        organization=org, customer_id__in=[c[0] for c in candidates], status__in=Invoice.OPEN_STATUSES,
        kind__in=snapshots.CHASED_KINDS, due_date__lt=earliest).exclude(disputes__status=Dispute.OPEN)
        .values_list("customer_id", flat=True))
    done = []
    for pk, tz, deadline in candidates:
        today = _local_date(now, tz)
        if pk in still_overdue or (deadline is not None and today > deadline):
            continue
        with transaction.atomic():
            outcome = restore_if_cleared(org, pk, on=today, cause="the overdue balance was cleared", now=now)
        if outcome:
            done.append(outcome)
    return done
