"""The late-payment predictions where they matter (issue 17 part 4): handed down to collections for the dunning
step condition and the worklist's expected loss, the invoice's admin page, the dashboard's cash-in forecast, and
the scheduled retrain as a Celery task."""

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from duly.collections.models import LatePaymentScore
from duly.insights import dashboard, risk_services
from duly.insights.models import InvoiceRisk

from .test_risk import AS_OF, _history


@pytest.fixture
def scored(org, make_customer, make_contract, monkeypatch):
    monkeypatch.setattr(risk_services, "MIN_SETTLED_INVOICES", 12)
    monkeypatch.setattr(risk_services, "MIN_CUSTOMERS", 3)
    _history(org, make_customer, make_contract)
    assert risk_services.train_risk_model(org, as_of=AS_OF).status == "trained"
    assert risk_services.score_open_invoices(org, as_of=AS_OF).scored == 4
    return {r.invoice.customer.code: r for r in InvoiceRisk.objects.select_related("invoice__customer")}


def test_scores_are_handed_down_to_collections_and_read_into_the_dunning_snapshot(org, scored):
    from duly.collections import snapshots

    published = {s.invoice_id: s for s in LatePaymentScore.objects.all()}
    assert {pk: (s.probability, s.expected_days_late) for pk, s in published.items()} == {
        r.invoice_id: (r.probability, r.expected_days_late) for r in scored.values()}
    risk_services.score_open_invoices(org, as_of=AS_OF)  # a rerun: same rows, no duplicate
    assert LatePaymentScore.objects.count() == 4
    rc = snapshots.RunContext.load(org)
    as_of = datetime.combine(AS_OF, time(10), timezone.utc)
    items = {i.invoice_id: i for a in snapshots.gather(rc, snapshots.customer_ids(org), as_of)
             for i in a.snapshot.open_items}
    for r in scored.values():
        assert items[r.invoice_id].late_probability == r.probability
        assert items[r.invoice_id].expected_days_late == r.expected_days_late


def test_the_worklist_puts_the_largest_expected_loss_first(org, scored):
    from duly.collections.worklist import worklist

    as_of = datetime.combine(AS_OF + timedelta(days=60), time(10), timezone.utc)  # every open invoice overdue
    rows = worklist(org, as_of=as_of)
    losses = [max(r.entry.expected_loss.values()) for r in rows]
    assert len(rows) == 4 and losses == sorted(losses, reverse=True) and losses[0] > losses[-1]
    top = scored[rows[0].code]
    open_amount = Decimal(top.invoice.total_minor - top.invoice.paid_minor) / 100
    assert losses[0] == open_amount * top.probability * max(1, top.expected_days_late)
    assert rows[0].as_dict()["expected_loss"]["EUR"] == str(losses[0].quantize(Decimal("0.01")))


def test_the_worklist_page_shows_the_expected_loss_and_the_red_flags(bookkeeper, org, scored):
    from django.urls import reverse

    from duly.collections.worklist import worklist
    from duly.insights.risk_onboarding import assess_customer

    check = assess_customer(scored["R1"].invoice.customer, as_of=AS_OF)
    as_of = datetime.combine(AS_OF + timedelta(days=60), time(10), timezone.utc)
    row = next(r for r in worklist(org, as_of=as_of) if r.code == "R1")
    assert row.red_flags == f"{check.level} ({check.score}), pending" and row.as_dict()["red_flags"] == row.red_flags
    html = bookkeeper.get(reverse("admin:collections_worklist")).content.decode()
    assert "Expected loss" in html and "EUR·days" in html and row.red_flags in html


def test_publishing_ignores_another_organizations_invoices(org, other_org, scored):
    from duly.collections.services import PublishedScore, publish_late_payment_scores

    foreign = next(iter(scored.values())).invoice_id
    assert publish_late_payment_scores(other_org, [PublishedScore(foreign, Decimal("0.99"), 40)],
                                       scored_on=AS_OF) == 0
    assert LatePaymentScore.objects.get(invoice_id=foreign).organization_id == org.pk


def test_the_invoice_page_shows_the_prediction_and_its_reasons(bookkeeper, scored):
    from django.urls import reverse

    risk = max(scored.values(), key=lambda r: r.probability)
    page = bookkeeper.get(reverse("admin:invoicing_invoice_change", args=[risk.invoice_id]))
    html = page.content.decode()
    assert page.status_code == 200 and "late-payment prediction" in html.lower()
    assert f"{risk.probability * 100:.0f} % likely to be paid late" in html
    assert risk.expected_payment_date.isoformat() in html
    assert risk.reasons[0]["text"].split(":")[0] in html


def test_the_cash_in_forecast_uses_the_predicted_payment_dates(org, scored, monkeypatch):
    from duly.insights.dashboard_view import build

    predicted = risk_services.predicted_dates(org)
    assert predicted == {r.invoice_id: r.expected_payment_date for r in scored.values()}
    # Move one prediction far out: its money leaves the weeks of its due date for "later".
    late = scored["R1"]
    InvoiceRisk.objects.filter(pk=late.pk).update(expected_payment_date=AS_OF + timedelta(days=200))
    by_rules = dashboard.cash_forecast(org, as_of=AS_OF)
    by_model = dashboard.cash_forecast(org, as_of=AS_OF, expected=risk_services.predicted_dates(org))
    amount = Decimal(late.invoice.total_minor - late.invoice.paid_minor) / 100
    assert by_model.later["EUR"] - by_rules.later["EUR"] == amount
    assert sum(by_model.weeks["EUR"]) + by_model.overdue["EUR"] + by_model.later["EUR"] == \
        sum(by_rules.weeks["EUR"]) + by_rules.overdue["EUR"] + by_rules.later["EUR"]
    assert build(org, as_of=AS_OF)["predicted"] == 4
    monkeypatch.setattr(dashboard, "INDIVIDUAL_LIMIT", 2)  # many predictions: every invoice on its own, same sums
    every = dashboard.cash_forecast(org, as_of=AS_OF, expected=risk_services.predicted_dates(org))
    assert (every.weeks, every.overdue, every.later) == (by_model.weeks, by_model.overdue, by_model.later)


def test_the_scheduled_retrain_runs_as_a_celery_task_in_eager_mode(org, make_customer, make_contract, celery_eager):
    import duly.insights.tasks  # noqa: F401  (registers the task)

    risk_retrain_task = celery_eager.tasks["duly.risk_retrain"]  # the app a worker runs (`duly worker`)

    _history(org, make_customer, make_contract, customers=2, per_customer=3)
    result = risk_retrain_task.delay(org.pk, AS_OF.isoformat())
    assert result.successful()
    assert result.get() == {"train": "prior", "source": "prior", "scored": 2}
    assert risk_retrain_task.delay(org.pk, AS_OF.isoformat()).get()["scored"] == 2  # a rerun: same rows
    assert InvoiceRisk.objects.filter(organization=org).count() == 2
    assert LatePaymentScore.objects.filter(organization=org).count() == 2
