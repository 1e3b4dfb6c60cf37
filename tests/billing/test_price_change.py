"""Price changes: a notice per affected customer, queued ahead; the first invoice at the new price explains it."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from duly.billing import services
from duly.billing.models import PriceChange, PriceChangeNotice
from duly.domain.errors import InvalidPricing, NoticePeriodTooShort, ValidationError
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db

NEW_SEAT_PRICE = {"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "12.00"},
                                                  {"up_to": None, "unit_price": "9.00"}]}
WHY = "Seats now include audit logs and SAML single sign-on; prices had not changed since 2023."


@pytest.fixture
def seat_customers(org, customer, make_customer, make_contract, contract, catalog):
    other = make_customer("BETA", name="Beta Logistique SARL")
    make_contract(other)
    subs = [
        services.create_subscription(org, customer, [(catalog["per_unit"], 12)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1)),
        services.create_subscription(org, customer, [(catalog["per_unit"], 1)], start_date=date(2026, 1, 15),
                                     as_of=date(2026, 1, 1), reference="second", anchor_day=1),
        services.create_subscription(org, other, [(catalog["per_unit"], 3)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1)),
    ]
    return customer, other, subs


def test_every_affected_customer_gets_one_notice_queued_30_days_ahead(org, seat_customers, catalog):
    customer, other, _ = seat_customers
    change = services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                            new_model_config=NEW_SEAT_PRICE, justification=WHY,
                                            as_of=date(2026, 3, 10))
    notices = list(PriceChangeNotice.objects.order_by("customer__code"))
    assert [(n.customer, n.send_on, n.status) for n in notices] == [
        (customer, date(2026, 4, 1), "queued"), (other, date(2026, 4, 1), "queued")]
    notice = notices[0]
    # Written in the customer's language (French), as the message that sends it
    assert notice.subject == "Changement de prix de Seats à partir du 1er mai 2026"
    assert ("le prix de Seats passe de 10,00\xa0€ par unité à par paliers : 1–10 à 12,00\xa0€, 11+ à 9,00\xa0€"
            in notice.body)
    assert "Votre première période au nouveau prix : 1er–31 mai 2026." in notice.body
    assert WHY in notice.body
    assert services.pending_price_notices(org, date(2026, 3, 31)) == []
    due = services.pending_price_notices(org, date(2026, 4, 1))
    assert {n.pk for n in due} == {n.pk for n in notices}
    sent = services.mark_price_notice_sent(org, notice.pk, sent_at=datetime(2026, 4, 1, 8, tzinfo=timezone.utc))
    assert sent.status == "sent" and len(services.pending_price_notices(org, date(2026, 4, 2))) == 1
    assert change.notice_days == 30


def test_too_little_notice_or_a_bad_price_is_refused_and_nothing_is_queued(org, seat_customers, catalog):
    with pytest.raises(NoticePeriodTooShort, match="needs 30 days' notice, so it must be scheduled by 2026-04-01"):
        services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                       new_model_config=NEW_SEAT_PRICE, justification=WHY, as_of=date(2026, 4, 2))
    with pytest.raises(InvalidPricing):
        services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                       new_model_config={"model": "volume", "tiers": []}, justification=WHY,
                                       as_of=date(2026, 3, 1))
    with pytest.raises(ValidationError, match="justification"):
        services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                       new_model_config=NEW_SEAT_PRICE, justification="  ", as_of=date(2026, 3, 1))
    assert not PriceChange.objects.exists() and not PriceChangeNotice.objects.exists()
    # A shorter notice period can be agreed explicitly.
    services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                   new_model_config=NEW_SEAT_PRICE, justification=WHY, as_of=date(2026, 4, 20),
                                   notice_days=7)
    assert PriceChangeNotice.objects.filter(send_on=date(2026, 4, 24)).count() == 2


def test_the_first_invoice_at_the_new_price_shows_old_new_and_why(org, seat_customers, catalog, bill):
    customer, other, subs = seat_customers
    services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                   new_model_config=NEW_SEAT_PRICE, justification=WHY, as_of=date(2026, 3, 10))
    bill(date(2026, 1, 1), date(2026, 4, 1))
    april = Invoice.objects.filter(customer=customer, issue_date=date(2026, 4, 1)).order_by("id").first()
    assert "nouveau prix" not in april.notes
    bill(date(2026, 4, 2), date(2026, 5, 1))
    may = Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1))
    lines = list(may.lines.order_by("position"))
    # 12 seats: 10 × 12.00 + 2 × 9.00 = 138.00; the second subscription's seat: 12.00.
    assert [line.net_minor for line in lines] == [13800, 1200]
    expected = ("Seats : nouveau prix à partir du 1er mai 2026 : par paliers : 1–10 à 12,00\u00a0€, 11+ à 9,00\u00a0€ "
                "(auparavant 10,00\u00a0€ par unité). Motif : " + WHY)
    assert lines[0].explanation.startswith(expected) and "10 × 12,00 + 2 × 9,00 = 138,00" in lines[0].explanation
    assert may.notes.startswith(expected)
    assert "nouveau prix" not in lines[1].explanation  # explained once per invoice
    notice = PriceChangeNotice.objects.get(customer=customer)
    assert notice.first_invoice == may
    bill(date(2026, 5, 2), date(2026, 6, 1))
    june = Invoice.objects.get(customer=customer, issue_date=date(2026, 6, 1))
    assert "nouveau prix" not in june.notes and june.lines.first().net_minor == 13800


def test_a_change_for_one_subscription_leaves_the_others_alone(org, seat_customers, catalog, bill):
    customer, other, subs = seat_customers
    services.schedule_price_change(org, catalog["per_unit"], subscription=subs[2], effective_date=date(2026, 3, 1),
                                   new_model_config={"model": "per_unit", "unit_price": "8.00"},
                                   justification="Loyalty discount agreed at the annual review.",
                                   as_of=date(2026, 1, 20))
    assert list(PriceChangeNotice.objects.values_list("customer", flat=True)) == [other.pk]
    bill(date(2026, 1, 1), date(2026, 3, 1))
    assert Invoice.objects.get(customer=other, issue_date=date(2026, 3, 1)).line_total_minor == 2400  # 3 × 8.00
    assert Invoice.objects.get(customer=customer, issue_date=date(2026, 3, 1)).line_total_minor == 13000


def test_customers_who_take_the_price_after_the_change_is_scheduled_get_the_notice_too(
        org, seat_customers, catalog, make_customer, make_contract, bill):
    services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 5, 1),
                                   new_model_config=NEW_SEAT_PRICE, justification=WHY, as_of=date(2026, 3, 10))
    joiners = {}
    for code in ("GAMMA", "DELTA", "EPS", "ADD", "SWITCH"):
        joiners[code] = make_customer(code, name=f"{code.title()} SAS")
        make_contract(joiners[code])
    # A new subscriber on 20 March (billed at the old price in April), and one inside the notice period.
    services.create_subscription(org, joiners["GAMMA"], [(catalog["per_unit"], 4)], start_date=date(2026, 3, 20),
                                 as_of=date(2026, 3, 20), anchor_day=1)
    services.create_subscription(org, joiners["DELTA"], [(catalog["per_unit"], 2)], start_date=date(2026, 4, 20),
                                 as_of=date(2026, 4, 20), anchor_day=1)
    # One who starts once the new price is in force only ever pays it: nothing to announce.
    services.create_subscription(org, joiners["EPS"], [(catalog["per_unit"], 2)], start_date=date(2026, 5, 10),
                                 as_of=date(2026, 4, 25))
    # Seats added to a plan, and a plan switched to seats, before the change.
    plan = services.create_subscription(org, joiners["ADD"], [(catalog["flat"], 1)], start_date=date(2026, 4, 1),
                                        as_of=date(2026, 4, 1))
    services.add_item(org, plan, catalog["per_unit"], 3, on=date(2026, 4, 10), as_of=date(2026, 4, 10))
    other = services.create_subscription(org, joiners["SWITCH"], [(catalog["flat"], 1)],
                                         start_date=date(2026, 4, 1), as_of=date(2026, 4, 1))
    services.change_item(org, other, other.items.get().pk, price=catalog["per_unit"], quantity=5,
                         on=date(2026, 4, 15), as_of=date(2026, 4, 15))

    notices = {n.customer.code: n for n in PriceChangeNotice.objects.select_related("customer")}
    assert sorted(notices) == ["ACME", "ADD", "BETA", "DELTA", "GAMMA", "SWITCH"]
    assert {code: n.send_on for code, n in notices.items() if code not in ("ACME", "BETA")} == {
        "GAMMA": date(2026, 4, 1), "DELTA": date(2026, 4, 20), "ADD": date(2026, 4, 10),
        "SWITCH": date(2026, 4, 15)}
    gamma = notices["GAMMA"]
    assert gamma.subject == "Changement de prix de Seats à partir du 1er mai 2026"
    assert ("le prix de Seats passe de 10,00\xa0€ par unité à par paliers : 1–10 à 12,00\xa0€, 11+ à 9,00\xa0€. "
            "Votre première période au nouveau prix : 1er–31 mai 2026.") in gamma.body and WHY in gamma.body

    runs = bill(date(2026, 3, 20), date(2026, 5, 1))
    expected = ("Seats : nouveau prix à partir du 1er mai 2026 : par paliers : 1–10 à 12,00\u00a0€, 11+ à 9,00\u00a0€ "
                "(auparavant 10,00\u00a0€ par unité). Motif : " + WHY)
    april = Invoice.objects.get(customer=joiners["GAMMA"], issue_date=date(2026, 4, 1))
    assert april.lines.get().net_minor == 4000 and "nouveau prix" not in april.notes  # still the old price
    may = Invoice.objects.get(customer=joiners["GAMMA"], issue_date=date(2026, 5, 1))
    line = may.lines.get(description__startswith="Seats")
    assert line.net_minor == 4 * 1200 and line.explanation.startswith(expected) and expected in may.notes
    assert PriceChangeNotice.objects.get(customer=joiners["GAMMA"]).first_invoice == may
    # Told inside the notice period (10, 15 and 20 April): May is still billed at the old price, and the run
    # says why; the new price applies from the first period starting 30 days after their notice: June.
    kept = dict(runs[-1].kept_prices)
    for code, seats, told in (("DELTA", 2, "2026-04-20"), ("ADD", 3, "2026-04-10"), ("SWITCH", 5, "2026-04-15")):
        may = Invoice.objects.get(customer=joiners[code], issue_date=date(2026, 5, 1))
        assert may.lines.get(description__startswith="Seats").net_minor == seats * 1000, code
        assert "nouveau prix" not in may.notes
        assert kept[code] == (f"Seats: kept the previous price for the period from 2026-05-01, not the new price "
                              f"from 2026-05-01: its notice went out on {told}, less than 30 days before")
    june = bill(date(2026, 5, 2), date(2026, 6, 1))[-1]
    assert june.kept_prices == []
    for code, seats in (("DELTA", 2), ("ADD", 3), ("SWITCH", 5)):
        invoice = Invoice.objects.get(customer=joiners[code], issue_date=date(2026, 6, 1))
        line = invoice.lines.get(description__startswith="Seats")
        assert line.net_minor == seats * 1200 and line.explanation.startswith(expected), code
        assert PriceChangeNotice.objects.get(customer=joiners[code]).first_invoice == invoice
    eps = Invoice.objects.filter(customer=joiners["EPS"]).order_by("issue_date").first()
    assert eps.issue_date == date(2026, 5, 10) and "previously" not in eps.lines.get().explanation
