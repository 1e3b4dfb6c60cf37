"""A year of billing, walked day by day: five clients on different intervals and anchors.

Every day of 2026 the scheduler's service runs (``run_billing(org, day)``); on some days a
bookkeeper changes something first. The diary:

- W, weekly on Mondays, in advance (25.00 + 20% VAT = 30.00), net 14: paused 2–15 March (two
  weeks skipped), cancelled on 25 November at the end of that week.
- B, every 2 weeks on Fridays, in arrears (3 seats × 10.00 = 30.00 → 36.00), terms "end of month":
  starts Wednesday 7 January with a trial until Friday 23 January, so its first invoice is 6 February.
- M, monthly on the 31st, in advance (100.00 plan + 10 seats × 10.00), net 30: Jan 31 → Feb 28 →
  Mar 31 → Apr 30... An upgrade to 15 seats on 15 April (prorated charge on the next invoice), a
  downgrade to 5 seats on 10 August (prorated credit note), a price increase of the plan to 120.00
  from 1 October, announced on 1 September (first billed on the period starting 31 October, with the
  explanation).
- Q, quarterly on the 1st, in advance (300.00 → 360.00), due the 10th of the following month:
  cancelled immediately on 16 November, with a prorated credit note for 46 of the 92 days.
- A, annual on the 15th from 15 March (1,200.00 → 1,440.00), net 20 moved to the next French
  business day: 4 April is a Saturday and 6 April 2026 Easter Monday, so it is due 7 April.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import BillingRecord, PriceChangeNotice, Subscription
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db

D = Decimal


def _price(org, code, model_config):
    product = services.create_product(org, code=code.upper(), name=f"Product {code}", tax_rate=D("20"))
    return services.create_price(org, product, code=code, currency="EUR", model_config=model_config)


def _invoices(customer, kind=Invoice.KIND_STANDARD):
    return [(inv.issue_date, inv.due_date, inv.total)
            for inv in Invoice.objects.filter(customer=customer, kind=kind).order_by("issue_date", "id")]


def _every(first: date, last: date, step: int, skip=()) -> list[date]:
    days, day = [], first
    while day <= last:
        if day not in skip:
            days.append(day)
        day += timedelta(days=step)
    return days


def _end_of_month(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def walk_the_year(org, make_customer, make_contract):
    jan1 = date(2026, 1, 1)
    clients = {}
    for code, terms in [
        ("W", dict(terms_kind="net", terms_days=14, billing_frequency="weekly")),
        ("B", dict(terms_kind="end_of_month", terms_days=0, billing_frequency="biweekly")),
        ("M", dict(terms_kind="net", terms_days=30)),
        ("Q", dict(terms_kind="day_of_next_month", terms_day_of_month=10, billing_frequency="quarterly")),
        ("A", dict(terms_kind="net", terms_days=20, business_day_adjustment="following", billing_frequency="annual")),
    ]:
        customer = make_customer(code, name=f"Client {code}")
        clients[code] = (customer, make_contract(customer, **terms))
    prices = {
        "w": _price(org, "w-flat", {"model": "flat", "amount": "25.00"}),
        "b": _price(org, "b-seat", {"model": "per_unit", "unit_price": "10.00"}),
        "m-pro": _price(org, "m-pro", {"model": "flat", "amount": "100.00"}),
        "m-seat": _price(org, "m-seat", {"model": "per_unit", "unit_price": "10.00"}),
        "q": _price(org, "q-flat", {"model": "flat", "amount": "300.00"}),
        "a": _price(org, "a-flat", {"model": "flat", "amount": "1200.00"}),
    }
    subs = {
        "W": services.create_subscription(org, clients["W"][0], [(prices["w"], 1)], start_date=date(2026, 1, 5),
                                          as_of=jan1, interval="weekly", anchor_day="monday"),
        "B": services.create_subscription(org, clients["B"][0], [(prices["b"], 3)], start_date=date(2026, 1, 7),
                                          as_of=jan1, interval="biweekly", anchor_day="friday", timing="arrears",
                                          trial_end=date(2026, 1, 23)),
        "M": services.create_subscription(org, clients["M"][0], [(prices["m-pro"], 1), (prices["m-seat"], 10)],
                                          start_date=date(2026, 1, 31), as_of=jan1, anchor_day=31),
        "Q": services.create_subscription(org, clients["Q"][0], [(prices["q"], 1)], start_date=jan1, as_of=jan1,
                                          interval="quarterly", anchor_day=1),
        "A": services.create_subscription(org, clients["A"][0], [(prices["a"], 1)], start_date=date(2026, 3, 15),
                                          as_of=jan1, interval="annual", anchor_day=15),
    }

    def seats(on: date, quantity: int) -> None:
        item = subs["M"].items.get(price=prices["m-seat"], ends_on=None)
        services.change_item(org, subs["M"], item.pk, quantity=quantity, on=on, as_of=on)

    diary = {
        date(2026, 2, 20): lambda d: services.pause_subscription(org, subs["W"], starts_on=date(2026, 3, 2),
                                                                 resumes_on=date(2026, 3, 16), as_of=d),
        date(2026, 4, 15): lambda d: seats(d, 15),
        date(2026, 8, 10): lambda d: seats(d, 5),
        date(2026, 8, 15): lambda d: services.schedule_price_change(
            org, prices["m-pro"], effective_date=date(2026, 10, 1), as_of=d,
            new_model_config={"model": "flat", "amount": "120.00"},
            justification="The plan now includes single sign-on and 24/7 phone support."),
        # The notice goes out on its day (collections sends it; here only its sending is recorded): a new
        # price is billed only once its notice was sent the full notice period before.
        date(2026, 9, 1): lambda d: [services.mark_price_notice_sent(org, n.pk, sent_at=_noon(d))
                                     for n in PriceChangeNotice.objects.filter(send_on=d)],
        date(2026, 11, 16): lambda d: services.cancel_subscription(org, subs["Q"], on=d, as_of=d,
                                                                   at_period_end=False),
        date(2026, 11, 25): lambda d: services.cancel_subscription(org, subs["W"], on=d, as_of=d,
                                                                   at_period_end=True),
    }
    day = jan1
    runs = []
    while day <= date(2026, 12, 31):
        if day in diary:
            diary[day](day)
        runs.append(services.run_billing(org, day))
        day += timedelta(days=1)
    return {code: c for code, (c, _) in clients.items()}, subs, runs


def _noon(day: date):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(12), ZoneInfo("Europe/Paris"))


def test_a_year_of_billing(org, make_customer, make_contract):
    """One walk (365 runs), checked client by client below."""
    year = walk_the_year(org, make_customer, make_contract)
    check_weekly_client_is_billed_every_monday_except_while_paused_until_cancelled(year)
    check_biweekly_client_in_arrears_starts_billing_after_the_trial(year)
    check_monthly_client_on_the_31st_with_plan_changes_and_a_price_increase(year)
    check_quarterly_client_cancelled_immediately_gets_a_prorated_credit_note(year)
    check_annual_client_is_due_on_the_next_french_business_day(year)
    check_the_year_is_numbered_without_a_gap_and_no_period_is_billed_twice(year)


def check_weekly_client_is_billed_every_monday_except_while_paused_until_cancelled(year):
    clients, subs, _ = year
    mondays = _every(date(2026, 1, 5), date(2026, 11, 23), 7, skip={date(2026, 3, 2), date(2026, 3, 9)})
    assert len(mondays) == 45
    assert _invoices(clients["W"]) == [(d, d + timedelta(days=14), D("30.00")) for d in mondays]
    # The two paused weeks are billed once all the same: with nothing to charge, no invoice.
    paused = BillingRecord.objects.filter(subscription=subs["W"], period_start__in=[date(2026, 3, 2),
                                                                                  date(2026, 3, 9)])
    assert [(r.invoice_id, r.amount_minor) for r in paused] == [(None, 0), (None, 0)]
    subs["W"].refresh_from_db()
    assert (subs["W"].status, subs["W"].end_date, subs["W"].next_bill_on) == (
        Subscription.CANCELED, date(2026, 11, 30), None)


def check_biweekly_client_in_arrears_starts_billing_after_the_trial(year):
    clients, _, _ = year
    fridays = _every(date(2026, 2, 6), date(2026, 12, 31), 14)
    assert len(fridays) == 24 and fridays[-1] == date(2026, 12, 25)
    assert _invoices(clients["B"]) == [(d, _end_of_month(d), D("36.00")) for d in fridays]
    first = Invoice.objects.filter(customer=clients["B"]).order_by("issue_date").first()
    assert (first.service_period_start, first.service_period_end) == (date(2026, 1, 23), date(2026, 2, 5))


def check_monthly_client_on_the_31st_with_plan_changes_and_a_price_increase(year):
    clients, subs, _ = year
    billing_days = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31),
                    date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30), date(2026, 10, 31),
                    date(2026, 11, 30), date(2026, 12, 31)]
    totals = [
        "240.00", "240.00", "240.00",   # 100.00 + 10 × 10.00, + 20% VAT
        "330.00",                       # + 15 seats, + the upgrade's prorated 25.00 (see below)
        "300.00", "300.00", "300.00",   # 100.00 + 15 × 10.00
        "180.00", "180.00",             # 100.00 + 5 × 10.00 after the downgrade
        "204.00", "204.00", "204.00",   # 120.00 + 5 × 10.00 from the period starting 31 October
    ]
    assert _invoices(clients["M"]) == [(d, d + timedelta(days=30), D(t)) for d, t in zip(billing_days, totals)]

    april = Invoice.objects.get(customer=clients["M"], issue_date=date(2026, 4, 30))
    change = april.lines.get(description__startswith="Change")
    # Period 31 March – 29 April (30 days), upgrade on 15 April: 15 days left.
    # New 150.00 − 15/30 used = 75.00; old 100.00 − 15/30 used = 50.00; 75.00 − 50.00 = 25.00.
    assert change.net_minor == 2500
    assert "75,00" in change.explanation and "50,00" in change.explanation and "= 25,00" in change.explanation

    # Downgrade on 10 August in the period 31 July – 30 August (31 days, 10 used):
    # old 150.00 − round(150 × 10/31 = 48.387) = 101.61; new 50.00 − round(50 × 10/31 = 16.129) = 33.87.
    note = Invoice.objects.get(customer=clients["M"], kind=Invoice.KIND_CREDIT_NOTE)
    assert (note.issue_date, note.line_total_minor, note.total_minor) == (date(2026, 8, 10), 6774, 8129)
    assert note.related_invoice.issue_date == date(2026, 7, 31)

    september, october = (Invoice.objects.get(customer=clients["M"], issue_date=d)
                          for d in (date(2026, 9, 30), date(2026, 10, 31)))
    assert "nouveau prix" not in september.notes.lower()
    plan = october.lines.get(description__startswith="Product m-pro")
    assert plan.net_minor == 12000
    for text in (plan.explanation, october.notes):
        assert ("nouveau prix à partir du 1er octobre 2026 : 120,00\u00a0€ par période "
                "(auparavant 100,00\u00a0€ par période)") in text
        assert "single sign-on and 24/7 phone support" in text
    november = Invoice.objects.get(customer=clients["M"], issue_date=date(2026, 11, 30))
    assert "new price" not in november.notes.lower()
    notice = PriceChangeNotice.objects.get(customer=clients["M"])
    assert (notice.send_on, notice.first_invoice) == (date(2026, 9, 1), october)


def check_quarterly_client_cancelled_immediately_gets_a_prorated_credit_note(year):
    clients, subs, _ = year
    assert _invoices(clients["Q"]) == [
        (date(2026, 1, 1), date(2026, 2, 10), D("360.00")),
        (date(2026, 4, 1), date(2026, 5, 10), D("360.00")),
        (date(2026, 7, 1), date(2026, 8, 10), D("360.00")),
        (date(2026, 10, 1), date(2026, 11, 10), D("360.00")),
    ]
    # 1 October – 31 December is 92 days; cancelled on 16 November: 46 unused days = 150.00 + VAT.
    assert _invoices(clients["Q"], Invoice.KIND_CREDIT_NOTE) == [(date(2026, 11, 16), None, D("180.00"))]
    subs["Q"].refresh_from_db()
    assert (subs["Q"].status, subs["Q"].end_date, subs["Q"].next_bill_on) == (
        Subscription.CANCELED, date(2026, 11, 16), None)


def check_annual_client_is_due_on_the_next_french_business_day(year):
    clients, _, _ = year
    assert _invoices(clients["A"]) == [(date(2026, 3, 15), date(2026, 4, 7), D("1440.00"))]
    inv = Invoice.objects.get(customer=clients["A"])
    assert inv.payment_terms_text == ("Paiement au plus tard le 7 avril 2026 (20 jours net). L'échéance a été "
                                      "reportée du samedi 4 avril 2026 au jour ouvré suivant.")  # a French client


def check_the_year_is_numbered_without_a_gap_and_no_period_is_billed_twice(year):
    _, _, runs = year
    numbers = list(Invoice.objects.filter(kind=Invoice.KIND_STANDARD).order_by("number")
                   .values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:05}" for n in range(1, len(numbers) + 1)]
    assert len(numbers) == 45 + 24 + 12 + 4 + 1
    assert sum(r.invoices for r in runs) == len(numbers)
    # The issue order follows the calendar.
    issued = list(Invoice.objects.filter(kind=Invoice.KIND_STANDARD).order_by("number")
                  .values_list("issue_date", flat=True))
    assert issued == sorted(issued)
