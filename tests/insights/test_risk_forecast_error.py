"""The cash-in forecast's error against actuals judged on the predictions as they were (issue 17 part 4): each
invoice keeps its first expected payment date through rescorings, and last quarter's forecast is rebuilt with the
predictions known the day it was made, not today's, nor the rules alone."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from duly.insights import dashboard, risk_model, risk_services
from duly.insights.models import InvoiceRisk
from duly.invoicing import services as inv
from duly.payments.services import record_payment

ISSUED = date(2026, 1, 5)  # net 30: due 4 February
AS_OF = date(2026, 4, 20)  # last quarter's forecast was made on 18 January, its first week from 19 January


@pytest.fixture
def rescored(org, make_customer, make_contract, monkeypatch):
    customer = make_customer("SLOW", email="ap@slow.fr")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("1000"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=ISSUED)
    days = {"n": 56.0}  # first prediction: paid 56 days after issue, on 2 March (late)

    def prior(X):
        return [risk_model.Prediction(probability=0.8, days_to_settle=days["n"], reasons=[]) for _ in X]

    monkeypatch.setattr(risk_model, "prior_predict", prior)
    risk_services.score_open_invoices(org, as_of=ISSUED + timedelta(days=1))
    days["n"] = 36.0  # rescored a week later: 10 February now
    risk_services.score_open_invoices(org, as_of=ISSUED + timedelta(days=8))
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 2))
    return invoice


def test_a_rescoring_updates_the_prediction_but_keeps_the_first(org, rescored):
    risk = InvoiceRisk.objects.get(invoice=rescored)
    assert (risk.expected_payment_date, risk.scored_on) == (date(2026, 2, 10), date(2026, 1, 13))
    assert (risk.first_expected_payment_date, risk.first_scored_on) == (date(2026, 3, 2), date(2026, 1, 6))
    assert risk_services.predictions_known_on(org, date(2026, 1, 18)) == {rescored.pk: date(2026, 3, 2)}
    assert risk_services.predictions_known_on(org, date(2026, 1, 5)) == {}  # not scored yet that day


def test_last_quarters_forecast_error_uses_the_predictions_as_they_were(org, other_org, rescored):
    made_on = dashboard.backtest_made_on(AS_OF)
    assert made_on == date(2026, 1, 18)
    known = risk_services.predictions_known_on(org, made_on)
    past, test = dashboard.forecast_backtest(org, as_of=AS_OF, expected=known)
    # The payment came on 2 March, as first predicted: week 7 (from 2 March) forecast 1,000 and received 1,000.
    assert [(w.start, w.forecast, w.actual) for w in test.weeks["EUR"] if w.forecast or w.actual] == [
        (date(2026, 3, 2), Decimal("1000.00"), Decimal("1000.00"))]
    assert test.absolute_error("EUR") == 0
    # By the rules alone it was expected on its due date (4 February): 2,000 off.
    rules = dashboard.forecast_backtest(org, as_of=AS_OF)[1]
    assert rules.absolute_error("EUR") == Decimal("2000.00")
    # With today's (rescored) prediction, 10 February, it would be as wrong: the first one is what counts.
    latest = {rescored.pk: InvoiceRisk.objects.get(invoice=rescored).expected_payment_date}
    assert dashboard.forecast_backtest(org, as_of=AS_OF, expected=latest)[1].absolute_error("EUR") == 2000
    # Another organization's predictions are not this one's.
    assert risk_services.predictions_known_on(other_org, made_on) == {}


def test_the_dashboard_reports_the_error_with_the_predictions_and_by_the_rules(org, rescored):
    from duly.insights.dashboard_view import build

    section = build(org, as_of=AS_OF)["sections"][0]
    backtest = section["backtest"]
    assert (backtest["abs_error"], backtest["rules_abs_error"], backtest["predicted"]) == (
        Decimal("0.00"), Decimal("2000.00"), 1)
