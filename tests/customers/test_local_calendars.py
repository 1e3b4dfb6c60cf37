"""Local calendars (issue 11, item 9): each country's weekend, regional public holidays through an optional
ISO 3166-2 subdivision, and a contract setting that says whose calendar moves a due date."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from duly.customers import services
from duly.domain.errors import UnknownSubdivision
from duly.invoicing import services as invoicing

pytestmark = pytest.mark.django_db


def _issue(org, customer, contract, issued: date):
    draft = invoicing.create_draft(org, customer, [invoicing.LineData("Consulting", Decimal(1), Decimal("100.00"))],
                                   contract=contract)
    return invoicing.issue_invoice(org, draft.pk, issue_date=issued)


def test_a_due_date_on_a_friday_moves_to_sunday_in_a_friday_saturday_country(org, make_customer, make_contract):
    riyadh = make_customer(country="SA", timezone="Asia/Riyadh", currency="EUR")
    contract = make_contract(riyadh, terms_kind="net", terms_days=30, business_day_adjustment="following")
    # Issued Wednesday 4 February 2026 + 30 days = Friday 6 March: the Saudi weekend, so Sunday 8 March.
    invoice = _issue(org, riyadh, contract, date(2026, 2, 4))
    assert invoice.due_date == date(2026, 3, 8)


@pytest.mark.parametrize(("subdivision", "issued", "unadjusted", "due"), [
    ("DE-BY", date(2025, 12, 7), date(2026, 1, 6), date(2026, 1, 7)),  # Epiphany in Bavaria
    ("ES-CT", date(2026, 8, 12), date(2026, 9, 11), date(2026, 9, 14)),  # Diada (Friday) in Catalonia
    ("US-NY", date(2026, 1, 13), date(2026, 2, 12), date(2026, 2, 13)),  # Lincoln's Birthday in New York
])
def test_regional_holidays_move_due_dates_for_customers_of_that_region(org, make_customer, make_contract,
                                                                      subdivision, issued, unadjusted, due):
    country = subdivision[:2]
    regional = make_customer(country=country, subdivision=subdivision.lower().split("-")[1])
    national = make_customer(country=country)
    assert regional.subdivision == subdivision and national.subdivision == ""
    terms = dict(terms_kind="net", terms_days=30, business_day_adjustment="following")
    assert _issue(org, regional, make_contract(regional, **terms), issued).due_date == due
    assert _issue(org, national, make_contract(national, **terms), issued).due_date == unadjusted


def test_whose_calendar_moves_the_due_date_is_a_contract_setting(org, make_customer, make_contract):
    services.update_organization(org, subdivision="FR-974")  # La Réunion: 20 December, abolition of slavery
    bavarian = make_customer(country="DE", subdivision="DE-BY")
    terms = dict(terms_kind="net", terms_days=30, business_day_adjustment="following")
    theirs = make_contract(bavarian, "THEIRS", **terms)
    ours = make_contract(bavarian, "OURS", business_day_calendar="seller", **terms)
    # 6 January 2026: Epiphany in Bavaria, a working day in France.
    assert _issue(org, bavarian, theirs, date(2025, 12, 7)).due_date == date(2026, 1, 7)
    assert _issue(org, bavarian, ours, date(2025, 12, 7)).due_date == date(2026, 1, 6)
    # 14 July 2026 (Tuesday): a public holiday in France, not in Bavaria.
    assert _issue(org, bavarian, theirs, date(2026, 6, 14)).due_date == date(2026, 7, 14)
    assert _issue(org, bavarian, ours, date(2026, 6, 14)).due_date == date(2026, 7, 15)
    # Monday 20 December 2027: Abolition of Slavery in La Réunion (the seller's region) only.
    assert _issue(org, bavarian, theirs, date(2027, 11, 20)).due_date == date(2027, 12, 20)
    assert _issue(org, bavarian, ours, date(2027, 11, 20)).due_date == date(2027, 12, 21)
    ours.refresh_from_db()
    assert ours.payment_terms().calendar().region == "FR-974"
    assert theirs.payment_terms().calendar().region == "DE-BY"


def test_subdivisions_are_validated_against_the_holiday_data(org, make_customer, customer):
    with pytest.raises(UnknownSubdivision, match="No public-holiday calendar for subdivision 'XX' of FR") as bad:
        make_customer(country="FR", subdivision="XX")
    assert bad.value.code == "unknown_subdivision"
    with pytest.raises(UnknownSubdivision, match="not in FR"):
        services.update_customer(customer, subdivision="DE-BY")
    with pytest.raises(UnknownSubdivision, match="not in DE"):
        services.update_customer(customer, country="DE", subdivision="ES-CT")
    customer.refresh_from_db()
    assert (customer.country, customer.subdivision) == ("FR", "")  # nothing half-written
    moved = services.update_customer(customer, country="DE", subdivision="by")
    assert (moved.country, moved.subdivision, moved.holiday_region) == ("DE", "DE-BY", "DE-BY")
    with pytest.raises(UnknownSubdivision):
        services.update_organization(org, subdivision="US-NY")
    assert services.update_organization(org, subdivision="").subdivision == ""


def test_sending_windows_follow_the_customers_weekend_and_region(org, make_customer):
    from duly.collections.services import customer_window

    kuwait = make_customer(country="KW", timezone="Asia/Kuwait")
    thursday_evening = datetime(2026, 3, 5, 18, 0, tzinfo=ZoneInfo("Asia/Kuwait"))
    assert customer_window(org, kuwait).next_slot(thursday_evening) == datetime(
        2026, 3, 8, 9, 0, tzinfo=ZoneInfo("Asia/Kuwait"))  # Sunday: not Saturday, not Friday
    barcelona = make_customer(country="ES", subdivision="ES-CT", timezone="Europe/Madrid")
    madrid = make_customer(country="ES", subdivision="ES-MD", timezone="Europe/Madrid")
    diada = datetime.combine(date(2026, 9, 11), time(10), ZoneInfo("Europe/Madrid"))
    assert customer_window(org, barcelona).next_slot(diada) == datetime.combine(
        date(2026, 9, 14), time(9), ZoneInfo("Europe/Madrid"))
    assert customer_window(org, madrid).next_slot(diada) == diada
