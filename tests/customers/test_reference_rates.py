"""Statutory reference rates: recorded through one service, from the CLI or the admin, shared by organizations.

The rates here are made up for the tests (they are not historic central bank figures).
"""

from datetime import date, datetime
from decimal import Decimal as D

import pytest
from click.testing import CliRunner
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from duly.cli import main
from duly.customers import services
from duly.customers.models import StatutoryReferenceRate
from duly.domain.errors import InvalidLateFeePolicy, UnknownCurrency, ValidationError, ValueOutOfRange


def rates_table():
    return [(r.series, r.valid_from, r.rate_percent) for r in StatutoryReferenceRate.objects.order_by("id")]


# --- the service ---------------------------------------------------------------------------------------------


def test_recording_a_rate_then_the_same_again_then_a_correction(db):
    first = services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent="2.15")
    assert first.outcome == "created" and first.rate.rate_percent == D("2.15")
    assert services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1),
                                          rate_percent=D("2.1500")).outcome == "unchanged"
    fixed = services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent=D("2.40"))
    assert (fixed.outcome, fixed.previous_percent) == ("updated", D("2.15"))
    assert rates_table() == [("EUR", date(2026, 1, 1), D("2.40"))]


@pytest.mark.parametrize("rate", [D("-5"), D("30"), 0, "0.0001"])
def test_the_accepted_range_is_minus_5_to_30_percent_inclusive(db, rate):
    assert services.record_reference_rate(currency="EUR", valid_from=date(2026, 7, 1), rate_percent=rate).outcome \
        == "created"


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(currency="EUX"), UnknownCurrency, "Unknown currency 'EUX'"),
    (dict(currency="eur"), UnknownCurrency, "Unknown currency 'eur'"),
    (dict(rate_percent=2.15), ValidationError, "never floats"),
    (dict(rate_percent="two"), ValidationError, "EUR reference rate: Not a number"),
    (dict(rate_percent=D("30.01")), ValueOutOfRange, "between -5 and 30 percent, got 30.01"),
    (dict(rate_percent=D("-5.5")), ValueOutOfRange, "between -5 and 30 percent, got -5.5"),
    (dict(rate_percent=D("2.12345")), ValueOutOfRange, "at most 4 decimals"),
    (dict(valid_from=datetime(2026, 1, 1, 12)), ValidationError, "must be a date"),
    (dict(valid_from="2026-01-01"), ValidationError, "must be a date"),
])
def test_bad_rates_are_refused_and_nothing_is_written(db, kwargs, error, message):
    values = {"currency": "EUR", "valid_from": date(2026, 1, 1), "rate_percent": D("2.15"), **kwargs}
    with pytest.raises(error, match=message):
        services.record_reference_rate(**values)
    assert rates_table() == []


def test_rates_are_read_for_every_currency_in_one_query(db):
    for cur, day, rate in [("EUR", date(2026, 3, 12), "2.65"), ("EUR", date(2025, 6, 11), "2.15"),
                           ("PLN", date(2026, 1, 1), "5.75"), ("HUF", date(2026, 1, 1), "6.5")]:
        services.record_reference_rate(currency=cur, valid_from=day, rate_percent=rate)
    with CaptureQueriesContext(connection) as queries:
        rates = services.reference_rates_for(["EUR", "PLN", "EUR", "CZK"])
    assert len(queries) == 1
    assert rates == {
        "CZK": (),  # none recorded: every semester of it is missing
        "EUR": ((date(2025, 6, 11), D("2.15")), (date(2026, 3, 12), D("2.65"))),  # oldest first
        "PLN": ((date(2026, 1, 1), D("5.75")),),
    }
    with CaptureQueriesContext(connection) as queries:
        assert services.reference_rates_for([]) == {}
    assert len(queries) == 0


def test_only_contracts_following_the_table_need_the_rates(customer, make_contract, contract):
    agreed = make_contract(customer, reference="CTR-AGREED", late_fee_kind="eu_statutory",
                           reference_rate_percent=D("3"))
    with CaptureQueriesContext(connection) as queries:
        assert services.reference_rates_for_contracts([contract, agreed, None]) == {}
    assert len(queries) == 0  # interest at 12 % and an agreed fixed reference rate: no table needed
    table = make_contract(customer, reference="CTR-TABLE", late_fee_kind="eu_statutory")
    assert services.reference_rates_for_contracts([contract, table]) == {"EUR": ()}


# --- contracts -----------------------------------------------------------------------------------------------


def test_an_eu_statutory_contract_needs_no_rate_of_its_own(customer, make_contract):
    ctr = make_contract(customer, reference="CTR-EU", late_fee_kind="eu_statutory")
    assert ctr.reference_rate_percent is None and ctr.uses_reference_rates
    policy = ctr.late_fee_policy({"EUR": ((date(2026, 1, 1), D("2.15")),), "PLN": ((date(2026, 1, 1), D("5")),)})
    assert policy.reference_rates == ((date(2026, 1, 1), D("2.15")),)  # its own currency's rates only
    assert policy.annual_rate_on(date(2026, 5, 1), "EUR") == D("10.15")


def test_an_agreed_reference_rate_still_must_give_a_positive_total(customer, make_contract):
    with pytest.raises(InvalidLateFeePolicy, match="not a positive rate"):
        make_contract(customer, reference="CTR-NEG", late_fee_kind="eu_statutory", reference_rate_percent=D("-8"))
    agreed = make_contract(customer, reference="CTR-AGREED", late_fee_kind="eu_statutory",
                           reference_rate_percent=D("-7.5"))  # -7.5 + 8 = 0.5 % per year
    assert not agreed.uses_reference_rates
    assert agreed.late_fee_policy({}).annual_rate_percent == D("0.5")


# --- the CLI -------------------------------------------------------------------------------------------------


def test_cli_sets_corrects_and_lists_rates(db):
    runner = CliRunner()
    out = runner.invoke(main, ["rates", "set", "--currency", "EUR", "--from", "2026-01-01", "--rate", "2.15"])
    assert out.exit_code == 0, out.output
    assert out.output == "Recorded the EUR reference rate 2.15% from 2026-01-01.\n"
    out = runner.invoke(main, ["rates", "set", "--currency", "eur", "--from", "2026-01-01", "--rate", "2.4"])
    assert out.output == "Corrected the EUR reference rate 2.4% from 2026-01-01 (was 2.15%).\n"
    out = runner.invoke(main, ["rates", "set", "--currency", "EUR", "--from", "2026-01-01", "--rate", "2.40"])
    assert out.output == "The EUR reference rate 2.4% from 2026-01-01 was already recorded; nothing changed.\n"
    runner.invoke(main, ["rates", "set", "--currency", "PLN", "--from", "2025-10-09", "--rate", "4.5"])
    runner.invoke(main, ["rates", "set", "--currency", "EUR", "--from", "2026-07-01", "--rate", "2"])
    out = runner.invoke(main, ["rates", "list", "--format", "json"])
    import json

    ecb = "ECB main refinancing operations rate"
    assert json.loads(out.output) == [
        {"series": "EUR", "name": ecb, "valid_from": "2026-07-01", "rate_percent": "2",
         "first_semester": "2nd half of 2026"},
        {"series": "EUR", "name": ecb, "valid_from": "2026-01-01", "rate_percent": "2.4",
         "first_semester": "1st half of 2026"},
        {"series": "PLN", "name": "PLN central bank rate", "valid_from": "2025-10-09", "rate_percent": "4.5",
         "first_semester": "1st half of 2026"},
    ]
    out = runner.invoke(main, ["rates", "list", "--currency", "pln"])
    assert out.exit_code == 0 and "2025-10-09" in out.output and "4.5%" in out.output and "EUR" not in out.output
    assert "from the 1st half of 2026" in out.output


def test_the_list_says_from_which_semester_each_rate_applies(db):
    for day, rate in [(date(2025, 6, 11), "2.15"), (date(2026, 3, 12), "2.65"), (date(2026, 5, 20), "2.4"),
                      (date(2026, 7, 1), "2.2")]:
        services.record_reference_rate(currency="EUR", valid_from=day, rate_percent=rate)
    assert [(r.valid_from, first) for r, first in services.list_reference_rates("EUR")] == [
        (date(2026, 7, 1), date(2026, 7, 1)),  # on 1 July itself: that half-year
        (date(2026, 5, 20), None),  # replaced on 1 July before it could apply
        (date(2026, 3, 12), None),  # replaced on 20 May, before 1 July
        (date(2025, 6, 11), date(2025, 7, 1)),  # 11 June 2025: from the 2nd half of 2025
    ]


@pytest.mark.parametrize(("args", "message"), [
    (["--currency", "EUR", "--from", "2026-01-01", "--rate", "31"],
     "error: A EUR reference rate must be between -5 and 30 percent, got 31. [value_out_of_range]"),
    (["--currency", "XYZ", "--from", "2026-01-01", "--rate", "2"],
     "error: Unknown currency 'XYZ': use an ISO 4217 code such as EUR or USD. [unknown_currency]"),
    (["--currency", "EUR", "--from", "2026-01-01", "--rate", "2,15"],
     "error: EUR reference rate: Not a number: '2,15' [invalid_input]"),
])
def test_cli_refuses_bad_rates_with_one_line_and_exit_2(db, args, message):
    out = CliRunner().invoke(main, ["rates", "set", *args])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [message]
    assert rates_table() == []


def test_cli_lists_nothing_yet_with_a_hint(db):
    out = CliRunner().invoke(main, ["rates", "list"])
    assert out.exit_code == 0 and "duly rates set --series EUR" in out.output


# --- the admin: superusers edit, staff read ------------------------------------------------------------------


@pytest.fixture
def superuser(org):
    services.add_member(org, username="root", password="platform-pass-1", superuser=True)
    client = Client()
    assert client.login(username="root", password="platform-pass-1")
    return client


def test_staff_read_the_rates_but_cannot_change_them(bookkeeper):
    rate = services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent="2.15").rate
    resp = bookkeeper.get(reverse("admin:customers_statutoryreferencerate_changelist"))
    assert resp.status_code == 200 and "2.1500" in resp.content.decode()
    assert bookkeeper.get(reverse("admin:customers_statutoryreferencerate_add")).status_code == 403
    assert bookkeeper.post(reverse("admin:customers_statutoryreferencerate_add"),
                           {"series": "EUR", "valid_from": "2026-07-01", "rate_percent": "9"}).status_code == 403
    change = reverse("admin:customers_statutoryreferencerate_change", args=[rate.pk])
    assert bookkeeper.get(change).status_code == 200  # read-only view
    assert bookkeeper.post(change, {"rate_percent": "9"}).status_code == 403
    assert bookkeeper.post(reverse("admin:customers_statutoryreferencerate_delete", args=[rate.pk]),
                           {"post": "yes"}).status_code == 403
    assert rates_table() == [("EUR", date(2026, 1, 1), D("2.15"))]


def test_a_superuser_records_and_corrects_rates_in_the_admin(superuser):
    add = reverse("admin:customers_statutoryreferencerate_add")
    resp = superuser.post(add, {"series": "EUR", "valid_from": "2026-01-01", "rate_percent": "2.15"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    rate = StatutoryReferenceRate.objects.get()
    resp = superuser.post(reverse("admin:customers_statutoryreferencerate_change", args=[rate.pk]),
                          {"rate_percent": "2.4"})
    assert resp.status_code == 302
    assert rates_table() == [("EUR", date(2026, 1, 1), D("2.4"))]


@pytest.mark.parametrize(("data", "message"), [
    ({"series": "EUR", "valid_from": "2026-07-01", "rate_percent": "45"}, "between -5 and 30 percent"),
    ({"series": "XYZ", "valid_from": "2026-07-01", "rate_percent": "2"}, "Unknown reference-rate series"),
    ({"series": "eur", "valid_from": "2026-01-01", "rate_percent": "3"}, "already recorded"),
])
def test_admin_shows_bad_rates_as_form_errors(superuser, data, message):
    services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent="2.15")
    resp = superuser.post(reverse("admin:customers_statutoryreferencerate_add"), data)
    assert resp.status_code == 200 and message in resp.content.decode()
    assert rates_table() == [("EUR", date(2026, 1, 1), D("2.15"))]


def test_not_even_a_superuser_deletes_a_rate(superuser):
    rate = services.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent="2.15").rate
    resp = superuser.post(reverse("admin:customers_statutoryreferencerate_delete", args=[rate.pk]), {"post": "yes"})
    assert resp.status_code == 403
    assert rates_table() == [("EUR", date(2026, 1, 1), D("2.15"))]
