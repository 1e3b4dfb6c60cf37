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
    profile.lifted_by_payment, profile.lifted_state = None, {}
    profile.save(update_fields=["suspended_at", "status_reason", "suspension_pauses", "lifted_by_payment",
                                "lifted_state"])
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
    profile.lifted_by_payment, profile.lifted_state = None, {}
    profile.save(update_fields=["terminated_at", "restore_deadline", "status_reason", "lifted_by_payment",
                                "lifted_state"])
    return f"customer terminated; {cancelled.note}"


def restore_if_cleared(org: Organization, customer_id: int, *, on: date, cause: str, now: datetime,
                       payment_id: int | None = None) -> str | None:
    """Lift a suspension, or undo a termination within its restore deadline, once nothing is overdue.

    Called after a payment (``payment_recorded``) and, for balances cleared otherwise (a credit
    note, customer credit, a void), by every collections run (:func:`lift_cleared_suspensions`).
    A suspension lifted resumes the subscriptions it paused. A terminated customer restored in
    time is active again, and staff get a ``reinstate`` task to restart the cancelled
    subscriptions (billing cannot re-activate one); that is what the termination letter promises.
    Returns what was done, or None. ``payment_id``: the payment that cleared the balance; what it lifted is kept
    (:func:`_lifted`) so that taking the payment back puts it back (:func:`payments_taken_back`).
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
    lifted = _lifted(customer, profile) if payment_id is not None else {}
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
        lifted["task_key"] = f"reinstate:{customer.pk}:{since.isoformat()}"
        _task(org, customer.pk, "reinstate", lifted["task_key"], None, None, None,
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
    profile.lifted_by_payment, profile.lifted_state = payment_id, lifted
    profile.save(update_fields=["suspended_at", "terminated_at", "restore_deadline", "status_reason",
                                "suspension_pauses", "lifted_by_payment", "lifted_state"])
    return profile.status_reason


def _lifted(customer: Customer, profile) -> dict:
    """What a restore is about to lift, to put back if the payment that cleared the balance is taken back."""
    def iso(value):
        return value.isoformat() if value is not None else None

    return {"status": customer.status, "suspended_at": iso(profile.suspended_at),
            "terminated_at": iso(profile.terminated_at), "restore_deadline": iso(profile.restore_deadline),
            "status_reason": profile.status_reason, "suspension_pauses": list(profile.suspension_pauses)}


def payments_taken_back(org: Organization, payments: dict[int, int], *, on: date, cause: str,
                        now: datetime) -> list[str]:
    """Payments were taken back (``{payment id: customer id}``; a bank match undone, inside its transaction): the
    suspension or termination a payment lifted is put back when that payment, or one recorded before it (it helped
    clear the balance), is taken back, the customer owes something overdue again and nothing changed since (still
    active; a reinstatement task for staff not done yet). A suspension put back pauses the subscriptions again from
    ``on`` and keeps its first date (the next dunning steps follow from it, as if it had not been lifted); a
    termination put back is the one it was, with its restore deadline, and its reinstatement task is withdrawn.
    Returns what was done, per customer."""
    from ..models import CustomerProfile, Task

    first: dict[int, int] = {}
    for payment_id, customer_id in payments.items():
        first[customer_id] = min(payment_id, first.get(customer_id, payment_id))
    done = []
    for profile in (CustomerProfile.objects.select_for_update()
                    .filter(organization=org, customer_id__in=list(first), lifted_by_payment__isnull=False)
                    .order_by("customer_id")):
        if profile.lifted_by_payment < first[profile.customer_id]:
            continue  # only payments recorded after the lift were taken back
        customer = Customer.objects.select_for_update().get(pk=profile.customer_id)
        state = profile.lifted_state or {}
        overdue = (Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES,
                                          kind__in=snapshots.CHASED_KINDS, due_date__lt=on)
                   .exclude(disputes__status=Dispute.OPEN))
        task = Task.objects.filter(organization=org, key=state.get("task_key") or "").first()
        if (customer.status != Customer.STATUS_ACTIVE or not overdue.exists()
                or (task is not None and task.done_at is not None)):
            note = (f"{cause}: the {state.get('status', 'suspension')} it had lifted is not put back (the customer "
                    f"is {customer.status}{', nothing is overdue' if not overdue.exists() else ''}"
                    f"{', staff reinstated them' if task is not None and task.done_at else ''})")
            profile.status_reason = f"{profile.status_reason}\n{note}".strip()
        elif state.get("status") == Customer.STATUS_TERMINATED:
            if task is not None:
                task.delete()
            customers_services.update_customer(customer, status=Customer.STATUS_TERMINATED)
            profile.terminated_at = _when(state.get("terminated_at"))
            profile.restore_deadline = date.fromisoformat(state["restore_deadline"]) \
                if state.get("restore_deadline") else None
            profile.status_reason = f"{state.get('status_reason', '')}\ntermination put back: {cause}".strip()
        else:
            customers_services.update_customer(customer, status=Customer.STATUS_SUSPENDED)
            paused = adapters.pause_subscriptions(org, customer, on=on, reason=f"Suspended again: {cause}"[:200])
            profile.suspended_at = _when(state.get("suspended_at")) or now
            profile.suspension_pauses = list(paused.ids)
            profile.status_reason = (f"{state.get('status_reason', '')}\nsuspension put back: {cause}; "
                                     f"{paused.note}").strip()
        profile.lifted_by_payment, profile.lifted_state = None, {}
        profile.save(update_fields=["terminated_at", "restore_deadline", "suspended_at", "suspension_pauses",
                                    "status_reason", "lifted_by_payment", "lifted_state"])
        done.append(profile.status_reason.rsplit("\n", 1)[-1])
    return done


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
