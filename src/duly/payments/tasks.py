"""Thin scheduler/Celery wrappers around autopay (``duly serve`` runs :func:`scheduled_autopay` with the other
daily jobs; a Celery beat entry may call :func:`autopay_task` per organization instead)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from celery import shared_task

log = logging.getLogger(__name__)


def scheduled_autopay(now: datetime) -> dict[str, str]:
    """Every organization's autopay as of its own local date: first the recovery of interrupted charges, then the
    charges and retries due (idempotent: the scheduler may run it every few minutes; a missed day is caught up)."""
    from duly.customers.models import Organization

    done = {}
    for org in Organization.objects.all():
        try:
            done[org.slug] = autopay_organization(org, now.astimezone(ZoneInfo(org.timezone or "UTC")).date())
        except Exception as exc:  # noqa: BLE001 - one organization's failure never stops the others' autopay
            log.exception("autopay of %s failed", org.slug)
            done[org.slug] = f"failed: {type(exc).__name__}"
    return done


def autopay_organization(org, as_of: date) -> str:
    from duly.payments.autopay_services import recover_attempts, run_autopay

    recovered = recover_attempts(org, as_of)
    return f"{run_autopay(org, as_of).summary()}; {recovered.summary()}"


@shared_task(name="duly.autopay")
def autopay_task(org_id: int, as_of: str) -> str:
    from duly.customers.models import Organization

    return autopay_organization(Organization.objects.get(pk=org_id), date.fromisoformat(as_of))


@shared_task(name="duly.autopay_partition")
def autopay_partition_task(org_id: int, as_of: str, index: int, count: int) -> str:
    """One partition of an organization's autopay: recovery of its interrupted charges, then the charges due."""
    from duly.customers.models import Organization
    from duly.payments.autopay_services import recover_attempts, run_autopay

    org, day = Organization.objects.get(pk=org_id), date.fromisoformat(as_of)
    recovered = recover_attempts(org, day, partition=(index, count))
    return f"{run_autopay(org, day, partition=(index, count)).summary()}; {recovered.summary()}"


@shared_task(name="duly.reconcile")
def reconcile_task(org_id: int, as_of: str) -> dict:
    """Reconciliation of an organization's new statement lines in one task (see ``duly.reconcile_plan`` for the
    partitioned run)."""
    from dataclasses import asdict

    from duly.customers.models import Organization
    from duly.payments.reconcile_services import reconcile

    return asdict(reconcile(Organization.objects.get(pk=org_id), as_of=date.fromisoformat(as_of)))


def _policy(policy: dict | None):
    from duly.domain.matching import MatchPolicy, ShortPaymentAction
    from duly.payments.reconcile_services import DEFAULT_POLICY

    if not policy:
        return DEFAULT_POLICY
    return MatchPolicy(auto_apply_score=int(policy.get("auto_apply_score", 90)),
                       short_tolerance_minor=int(policy.get("short_tolerance_minor", 0)),
                       short_payment=ShortPaymentAction(policy.get("short_payment", "leave_open")))


@shared_task(name="duly.reconcile_plan", bind=True)
def reconcile_plan_task(self, org_id: int, as_of: str, count: int, policy: dict | None = None,
                        callback: dict | None = None):
    """A partitioned reconciliation (:mod:`duly.payments.reconcile_partition`): match every new line once here, then
    replace this task with a chord of ``count`` ``duly.reconcile_partition`` tasks applying the decisions, and
    ``callback`` (a signature, e.g. ``duly.combine``) over their results. ``policy``: ``auto_apply_score``,
    ``short_tolerance_minor``, ``short_payment``."""
    from celery import chord, group, signature

    from duly.customers.models import Organization
    from duly.payments.reconcile_partition import plan_partitions

    org = Organization.objects.get(pk=org_id)
    lists, debits = plan_partitions(org, as_of=date.fromisoformat(as_of), count=count, policy=_policy(policy))
    tasks = group(reconcile_partition_task.si(org_id, as_of, i, count, items, debits if i == 0 else 0)
                  for i, items in enumerate(lists))
    return self.replace(chord(tasks, signature(callback)) if callback else tasks)


@shared_task(name="duly.reconcile_partition")
def reconcile_partition_task(org_id: int, as_of: str, index: int, count: int, items: list[dict],
                             debits: int = 0) -> dict:
    """One partition of a reconciliation: write the decisions the plan made for its lines (idempotent: a
    redelivered partition skips the lines it applied). ``debits``: the direct-debit lines the plan settled
    (given to partition 0 only, so the combined counts are those of one process)."""
    from dataclasses import asdict

    from duly.customers.models import Organization
    from duly.payments.reconcile_partition import apply_partition

    result = apply_partition(Organization.objects.get(pk=org_id), items, as_of=date.fromisoformat(as_of))
    return {**asdict(result), "debits": debits}
