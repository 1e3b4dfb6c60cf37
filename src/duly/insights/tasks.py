"""Scheduled retraining and scoring of the late-payment models (the scheduler of `duly serve` and Celery)."""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task


def scheduled_risk(now: datetime) -> None:
    """Check new customers and contracts for red flags, then (once a day) retrain every organization's model and
    rescore its open invoices (all idempotent: a rerun on the same data stores nothing new)."""
    from duly.customers.models import Organization
    from duly.customers.services import local_today
    from duly.insights.risk_services import score_open_invoices, train_risk_model

    from duly.insights.models import InvoiceRisk

    from duly.insights.risk_onboarding import assess_new_customers

    for org in Organization.objects.all():
        today = local_today(org, now)
        assess_new_customers(org, as_of=today)  # new customers and contracts: checked on the next pass
        if InvoiceRisk.objects.filter(organization=org, scored_on=today).exists():
            continue  # once a day per organization: the scheduler passes every few minutes
        train_risk_model(org, as_of=today)
        score_open_invoices(org, as_of=today)


@shared_task(name="duly.risk_retrain")
def risk_retrain_task(org_id: int, as_of: str) -> dict:
    from duly.customers.models import Organization
    from duly.insights.risk_services import score_open_invoices, train_risk_model

    org = Organization.objects.get(pk=org_id)
    trained = train_risk_model(org, as_of=date.fromisoformat(as_of))
    scored = score_open_invoices(org, as_of=date.fromisoformat(as_of))
    return {"train": trained.status, "source": scored.source, "scored": scored.scored}
