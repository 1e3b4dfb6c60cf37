"""The staff dashboard: the back office's home page, for one of the user's organizations at a time.

:func:`index` wraps the admin site's index view (installed by :mod:`duly.insights.admin`): a user who may view the
accounts receivable of an organization sees that organization's dashboard above the list of apps; anyone else
gets the plain index. ``?organization=<slug>`` picks one of the user's own organizations (another slug gets the
user's first organization, never the other one's figures).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.urls import reverse

from duly.customers import roles
from duly.customers.models import Organization
from duly.customers.services import local_today
from duly.customers.tenancy import user_organizations
from duly.domain import aging, kpis
from duly.domain.money import round_money

from . import charts, dashboard, risk_services


def viewable_organizations(user) -> list[Organization]:
    return [o for o in user_organizations(user).order_by("name") if roles.has_permission(user, o.pk, "view")]


def _money(value, currency):
    return round_money(value, currency)


def build(org: Organization, *, as_of: date) -> dict:
    """Everything the dashboard shows for ``org`` on ``as_of``: figures per currency and their SVG charts."""
    buckets = dashboard.aging_by_currency(org, as_of=as_of)
    months = kpis.month_periods(as_of, 12)
    month, quarter = kpis.last_month(as_of), kpis.last_quarter(as_of)
    events = dashboard.receivable_events(org, until=as_of)
    figures = dashboard.period_figures(org, [*months, month, quarter], events, current_from=len(months))
    split = len(months) * len({f.currency for f in figures})  # period by period, every currency in each
    trend = kpis.dso_trend(figures[:split])
    kpi_rows = figures[split:]
    collected = dashboard.collected(org, as_of=as_of)
    predicted = risk_services.predicted_dates(org)
    ahead = dashboard.cash_forecast(org, as_of=as_of, expected=predicted)
    # Last quarter's forecast judged as it was made: with the late-payment predictions known then (each invoice's
    # first, kept as it was), and by the rules alone for comparison.
    known = risk_services.predictions_known_on(org, dashboard.backtest_made_on(as_of))
    past, test = dashboard.forecast_backtest(org, as_of=as_of, expected=known)
    rules_test = dashboard.forecast_backtest(org, as_of=as_of)[1] if known else None
    overdue = dashboard.overdue_by_customer(org, as_of=as_of)
    currencies = sorted(set(buckets) | set(trend) | set(collected) | set(ahead.weeks) | set(test.weeks)
                        | set(overdue))
    sections = []
    for cur in currencies:
        bt = buckets.get(cur)
        amounts = [_money(bt.amounts[b], cur) if bt else _money(0, cur) for b in aging.BUCKETS]
        points = trend.get(cur, [])
        week_labels = [f"{d:%d/%m}" for d in ahead.starts]
        section = {
            "currency": cur,
            "aging": list(zip(aging.BUCKETS, amounts)),
            "aging_total": sum(amounts, _money(0, cur)),
            "aging_chart": charts.bar_chart(f"aging-{cur}", f"Aging buckets ({cur}) on {as_of.isoformat()}",
                                            list(aging.BUCKETS), [("Open", amounts)], unit=cur),
            "dso": [(p.period.label, p.dso) for p in points],
            "dso_chart": charts.line_chart(f"dso-{cur}", f"DSO trend ({cur}), last 12 months, in days",
                                           [p.period.label[2:] for p in points], [("DSO", [p.dso for p in points])],
                                           unit="days"),
            "kpis": [{"label": label, "period": f.period, "cei": kpis.cei(f),
                      "add": kpis.average_days_delinquent(f), "dso": trend_dso(f)}
                     for label, f in zip(("Last month", "Last quarter"),
                                         [f for f in kpi_rows if f.currency == cur])],
            "collected": collected.get(cur),
            "overdue": [{"name": r.name, "code": r.code, "amount": _money(r.amount, cur),
                         "url": reverse("admin:customers_customer_change", args=[r.customer_id])}
                        for r in overdue.get(cur, [])],
        }
        if cur in ahead.weeks:
            weeks = [_money(v, cur) for v in ahead.weeks[cur]]
            section["forecast"] = {"weeks": list(zip(ahead.starts, weeks)), "overdue": _money(ahead.overdue[cur], cur),
                                   "later": _money(ahead.later[cur], cur), "total": sum(weeks, _money(0, cur))}
            section["forecast_chart"] = charts.bar_chart(
                f"forecast-{cur}", f"13-week cash-in forecast ({cur}) from {as_of.isoformat()}", week_labels,
                [("Expected", weeks)], unit=cur)
        if cur in test.weeks:
            rows = test.weeks[cur]
            section["backtest"] = {
                "as_of": past.as_of, "weeks": rows, "forecast": _money(test.total_forecast(cur), cur),
                "actual": _money(test.total_actual(cur), cur), "abs_error": _money(test.absolute_error(cur), cur),
                "wape": test.wape(cur), "bias": _money(test.bias(cur), cur), "predicted": len(known)}
            if rules_test is not None and cur in rules_test.weeks:
                section["backtest"]["rules_abs_error"] = _money(rules_test.absolute_error(cur), cur)
                section["backtest"]["rules_wape"] = rules_test.wape(cur)
            section["backtest_chart"] = charts.bar_chart(
                f"backtest-{cur}", f"Last quarter's forecast ({cur}, made {past.as_of.isoformat()}) against actuals",
                [f"{w.start:%d/%m}" for w in rows],
                [("Forecast", [_money(w.forecast, cur) for w in rows]),
                 ("Received", [_money(w.actual, cur) for w in rows])], unit=cur)
        sections.append(section)
    return {"as_of": as_of, "sections": sections, "month": month, "quarter": quarter, "predicted": len(predicted),
            "backtest_start": as_of - timedelta(weeks=13)}


def trend_dso(f: kpis.PeriodFigures):
    """The period's DSO (the same formula as the trend's points)."""
    return aging.dso(f.receivables_end, max(f.credit_sales, 0), f.period.days)


def context(request) -> dict:
    """The dashboard's part of the index page's context (empty for a user who may view no organization)."""
    orgs = viewable_organizations(request.user)
    if not orgs:
        return {}
    org = next((o for o in orgs if o.slug == request.GET.get("organization")), orgs[0])
    return {"dashboard": build(org, as_of=local_today(org)), "dashboard_org": org,
            "dashboard_orgs": orgs if len(orgs) > 1 else []}
