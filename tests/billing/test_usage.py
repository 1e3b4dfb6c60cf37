"""Usage events and licence counts: recording, bad input, the closed-period rule, seats on the invoice."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner

from duly.billing import services
from duly.billing.models import LicenceSnapshot, UsageEvent
from duly.domain.errors import ClosedPeriod, DuplicateUsageEvent, InvalidUsageValue, NotFound, UnknownMetric
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def event(key, value="10", metric="api_calls", customer="ACME", ts="2026-03-05T10:00:00Z", **extra):
    return {"idempotency_key": key, "customer": customer, "metric": metric, "timestamp": ts, "value": value, **extra}


@pytest.fixture
def metered(org, customer, contract, catalog):
    """ACME on API calls (graduated), payments (percentage) and seats (licence snapshots), billed in arrears."""
    return services.create_subscription(
        org, customer, [(catalog["graduated_api"], 1), (catalog["percentage"], 1), (catalog["licences"], 1)],
        start_date=date(2026, 3, 1), as_of=date(2026, 3, 1), timing="arrears")


def test_each_row_is_judged_on_its_own(org, metered):
    result = services.record_usage(org, [
        event("e1"),
        event("e2", "2.5"),
        event("e1"),                                   # the same event again: a duplicate
        event("e3", metric="gb_stored"),               # unknown metric
        event("e4", "-3"),                             # negative
        event("e5", "ten"),                            # not a number
        event("e6", customer="NOPE"),                  # unknown customer
        event("e7", ts="2026-03-05T10:00:00"),         # no UTC offset
        event("e2", "99"),                             # the key of a different event
        event("e8", "0.0000001"),                      # more decimals than stored
        event("e9", properties='{"region": "eu"}'),
    ])
    assert (result.accepted, result.duplicates, result.late) == (3, 1, 0)
    assert result.duplicate_lines == [3]
    assert [(r.line, r.key, r.code) for r in result.rejected] == [
        (4, "e3", "unknown_metric"),
        (5, "e4", "invalid_usage_value"),
        (6, "e5", "invalid_usage_value"),
        (7, "e6", "not_found"),
        (8, "e7", "invalid_input"),
        (9, "e2", "duplicate_usage_event"),
        (10, "e8", "invalid_usage_value"),
    ]
    reasons = {r.key: r.reason for r in result.rejected}
    assert "unknown metric 'gb_stored'" in reasons["e3"] and "api_calls" in reasons["e3"]
    assert "negative" in reasons["e4"]
    assert "'ten' is not a number" in reasons["e5"]
    assert "no customer with the code 'NOPE'" in reasons["e6"]
    assert "no UTC offset" in reasons["e7"]
    assert "more than 6 decimals" in reasons["e8"]
    # Nothing partial: exactly the accepted events exist.
    assert sorted(UsageEvent.objects.values_list("idempotency_key", "value")) == [
        ("e1", Decimal("10")), ("e2", Decimal("2.5")), ("e9", Decimal("10"))]
    assert UsageEvent.objects.get(idempotency_key="e9").properties == {"region": "eu"}

    again = services.record_usage(org, [event("e1"), event("e2", "2.5")])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, [])


def test_one_event_raises_the_clear_error_and_records_nothing(org, metered):
    cases = [
        (dict(metric="nope"), UnknownMetric, "unknown metric 'nope'"),
        (dict(value="-1"), InvalidUsageValue, "negative"),
        (dict(value="abc"), InvalidUsageValue, "not a number"),
        (dict(customer="NOBODY"), NotFound, "NOBODY"),
    ]
    for fields, error, text in cases:
        values = {"idempotency_key": "single", "customer": "ACME", "metric": "api_calls",
                  "timestamp": "2026-03-05T10:00:00+01:00", "value": "1", **fields}
        with pytest.raises(error, match=text):
            services.record_usage_event(org, **values)
    assert not UsageEvent.objects.exists()
    services.record_usage_event(org, idempotency_key="single", customer="ACME", metric="api_calls",
                                timestamp=datetime(2026, 3, 5, 9, tzinfo=timezone.utc), value=Decimal("1"))
    with pytest.raises(DuplicateUsageEvent):
        services.record_usage_event(org, idempotency_key="single", customer="ACME", metric="api_calls",
                                    timestamp=datetime(2026, 3, 5, 9, tzinfo=timezone.utc), value=Decimal("2"))
    assert UsageEvent.objects.count() == 1


def test_seat_count_from_daily_snapshots_is_explained_on_the_invoice(org, customer, metered, bill):
    # 10 days at 40, 10 at 41, then 43 until the 30th and 40 on the 31st: 1,280 seat-days / 31 days.
    services.record_licence_counts(org, metered, {date(2026, 3, 1): 40, date(2026, 3, 11): 41,
                                                  date(2026, 3, 21): 43, date(2026, 3, 31): 40})
    bill(date(2026, 4, 1))
    line = Invoice.objects.get(customer=customer).lines.get(description__startswith="Seats")
    assert line.description == "Seats\u00a0: moyenne de 41,3 postes actifs, 1er–31 mars 2026"
    # 1280 / 31 = 41.2903225…, billed as 41.290323 seats × 10.00 = 412.90323 → 412.90.
    assert (line.quantity, line.unit_price, line.net_minor) == (Decimal("41.290323"), Decimal("10"), 41290)
    assert line.explanation.startswith("moyenne de 41,3 postes actifs, 1er–31 mars 2026\u00a0: 41,290323 × 10,00")
    # April carries the last count (40) forward: 40 seats.
    bill(date(2026, 5, 1))
    april = Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1)).lines.get(
        description__startswith="Seats")
    assert (april.description, april.net_minor) == ("Seats\u00a0: moyenne de 40,0 postes actifs, 1er–30 avril 2026", 40000)
    # An invoiced day cannot change any more.
    with pytest.raises(ClosedPeriod, match="already invoiced"):
        services.record_licence_counts(org, metered, {date(2026, 3, 15): 99})
    assert LicenceSnapshot.objects.filter(day=date(2026, 3, 15)).count() == 0


def test_percentage_pricing_on_each_payment(org, customer, metered, bill):
    services.record_usage(org, [event("p1", "100.00", metric="payment_volume"),
                                event("p2", "50.00", metric="payment_volume"),
                                event("p3", "10.00", metric="payment_volume")])
    bill(date(2026, 4, 1))
    line = Invoice.objects.get(customer=customer).lines.get(description__startswith="Payment processing")
    # 1.5% + 0.25 per payment: 1.75 + 1.00 + 0.40.
    assert line.net_minor == 315
    assert line.explanation.startswith("total de 160 payments, 1er–31 mars 2026\u00a0: ")


def test_a_late_event_is_billed_on_the_next_invoice_as_a_late_adjustment(org, customer, metered, bill):
    services.record_usage(org, [event(f"m{i}", "3000", ts=f"2026-03-{i + 1:02}T12:00:00Z") for i in range(3)])
    bill(date(2026, 4, 1))
    march = Invoice.objects.get(customer=customer)
    api = march.lines.get(description__startswith="API calls")
    # 9,000 calls: 1,000 free, 8,000 × 0.01.
    assert api.net_minor == 8000 and "total de 9\u202f000 API calls, 1er–31 mars 2026" in api.description

    late = services.record_usage(org, [event("late-1", "2000", ts="2026-03-31T21:30:00Z"),  # 31 March, 23:30 Paris
                                       event("april-1", "500", ts="2026-04-02T08:00:00Z")])
    assert (late.accepted, late.late) == (2, 1)
    assert UsageEvent.objects.get(idempotency_key="late-1").late
    bill(date(2026, 5, 1))
    april = Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1))
    adjustment = april.lines.get(description__startswith="Régularisation d'utilisation tardive")
    # 9,000 → 11,000 calls: 1,000 free + 9,000 × 0.01 + 1,000 × 0.005 = 95.00, billed 80.00 before: 15.00.
    assert adjustment.net_minor == 1500
    assert adjustment.description == "Régularisation d'utilisation tardive — API calls, 1er–31 mars 2026"
    assert f"est arrivé après la facturation de cette période (facture {march.number})" in adjustment.explanation
    assert "Facturé : 9\u202f000 → désormais 11\u202f000 : 95,00 − 80,00 = 15,00." in adjustment.explanation
    assert april.lines.get(description__startswith="API calls").net_minor == 0  # 500 calls in April: free
    event_row = UsageEvent.objects.get(idempotency_key="late-1")
    assert (event_row.late_billed_on, event_row.adjusted_on) == (date(2026, 5, 1), april)

    # A second late event waits for the next invoice and is priced from the corrected quantity.
    services.record_usage(org, [event("late-2", "1000", ts="2026-03-15T10:00:00Z")])
    assert bill(date(2026, 5, 1)).invoices == 0
    bill(date(2026, 6, 1))
    june = Invoice.objects.get(customer=customer, issue_date=date(2026, 6, 1))
    assert june.lines.get(description__startswith="Régularisation").net_minor == 500  # 11,000 → 12,000: 1,000 × 0.005
    assert bill(date(2026, 6, 1)).invoices == 0


def test_usage_import_cli_on_csv_and_jsonl(org, metered, tmp_path):
    from duly.cli import main

    csv_file = tmp_path / "usage.csv"
    csv_file.write_text(
        "idempotency_key,customer,metric,timestamp,value,properties\n"
        "c1,ACME,api_calls,2026-03-01T09:00:00Z,100,\n"
        "c2,ACME,api_calls,2026-03-02T09:00:00Z,-5,\n"
        "c3,ACME,bogus,2026-03-03T09:00:00Z,7,\n"
        "c1,ACME,api_calls,2026-03-01T09:00:00Z,100,\n"
        'c4,ACME,api_calls,2026-03-04T09:00:00Z,250,"{""region"": ""eu""}"\n',
        encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(main, ["usage", "import", str(csv_file), "--org", "atelier"])
    assert out.exit_code == 2, out.output
    assert "2 accepted, 1 duplicate, 2 rejected" in out.output
    assert "duplicate lines (already recorded, ignored): 5" in out.output
    assert "line 3: rejected [invalid_usage_value]" in out.output
    assert "line 4: rejected [unknown_metric]" in out.output

    jsonl = tmp_path / "usage.jsonl"
    jsonl.write_text("\n".join([
        json.dumps(event("j1", 12.5)),
        "{not json",
        json.dumps(event("j2", "1e3")),
        json.dumps(event("c1", "100", ts="2026-03-01T09:00:00Z")),
        json.dumps(event("j3", "5", metric="api_calls", customer="ACME", ts="2026-03-06T00:00:00+01:00")),
    ]) + "\n", encoding="utf-8")
    out = runner.invoke(main, ["usage", "import", str(jsonl), "--org", "atelier", "--format", "json"])
    report = json.loads(out.output[out.output.index("{"):])
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (3, 1, 1)
    assert report["duplicate_lines"] == [4]
    assert report["rejections"][0]["line"] == 2 and "invalid JSON" in report["rejections"][0]["reason"]
    assert UsageEvent.objects.get(idempotency_key="j1").value == Decimal("12.5")
    assert UsageEvent.objects.get(idempotency_key="j2").value == Decimal("1000")

    clean = tmp_path / "clean.csv"
    clean.write_text("idempotency_key,customer,metric,timestamp,value\nk9,ACME,api_calls,2026-03-09T00:00:00Z,1\n")
    out = runner.invoke(main, ["usage", "import", str(clean), "--org", "atelier"])
    assert out.exit_code == 0 and "1 accepted, 0 duplicate, 0 rejected" in out.output

    bad = tmp_path / "usage.txt"
    bad.write_text("x")
    out = runner.invoke(main, ["usage", "import", str(bad), "--org", "atelier"])
    assert out.exit_code == 2 and ".csv or .jsonl" in out.output


def test_late_usage_after_the_last_invoice_gets_its_own_invoice(org, customer, metered, bill):
    services.cancel_subscription(org, metered, on=date(2026, 3, 20), as_of=date(2026, 3, 20))  # ends 1 April
    services.record_usage(org, [event("m1", "500", ts="2026-03-10T10:00:00Z")])
    bill(date(2026, 4, 1))
    assert Invoice.objects.filter(customer=customer).count() == 1
    # A late event that changes nothing (still within the 1,000 free calls) is settled without a line.
    services.record_usage(org, [event("free", "100", ts="2026-03-12T10:00:00Z")])
    assert bill(date(2026, 4, 10)).invoices == 0
    assert UsageEvent.objects.get(idempotency_key="free").late_billed_on == date(2026, 4, 10)
    # One that does is billed on its own invoice: the subscription has ended, no other invoice will come.
    services.record_usage(org, [event("pay", "1.00", metric="payment_volume", ts="2026-03-11T10:00:00Z")])
    result = bill(date(2026, 4, 15))
    assert (result.invoices, result.customers) == (1, 1)
    last = Invoice.objects.filter(customer=customer).order_by("-id").first()
    # The 1.00 payment: 1.5% + 0.25 = 0.265, rounded half up to 0.27.
    assert [(line.description, line.net_minor) for line in last.lines.all()] == [
        ("Régularisation d'utilisation tardive — Payment processing, 1er–31 mars 2026", 27)]
    assert (last.issue_date, last.service_period_start, last.service_period_end) == (
        date(2026, 4, 15), date(2026, 3, 1), date(2026, 3, 31))
    assert bill(date(2026, 4, 16)).invoices == 0
    assert not UsageEvent.objects.filter(late=True, late_billed_on__isnull=True).exists()


def test_events_recorded_by_a_concurrent_import_meanwhile_are_counted_as_duplicates_not_accepted(
        org, metered, monkeypatch):
    from duly.billing import ingest

    real = ingest._closed_windows

    def meanwhile(*rows):
        """Between an import's read of the known keys and its insert, another importer records ``rows``."""
        done = []

        def closed_windows(organization, fresh):
            if not done:
                done.append(True)
                done.append(services.record_usage(org, list(rows)))
            return real(organization, fresh)

        monkeypatch.setattr(ingest, "_closed_windows", closed_windows)
        return done

    # The other importer records e2 (the same event) and e3 (a different event under the same key).
    other = meanwhile(event("e2", "5"), event("e3", "99"))
    result = services.record_usage(org, [event("e1"), event("e2", "5"), event("e3", "7"), event("e4")])
    assert other[1].accepted == 2
    assert (result.accepted, result.duplicates, result.duplicate_lines) == (2, 1, [2])
    assert [(r.line, r.key, r.code) for r in result.rejected] == [(3, "e3", "duplicate_usage_event")]
    assert sorted(UsageEvent.objects.values_list("idempotency_key", "value")) == [
        ("e1", Decimal("10")), ("e2", Decimal("5")), ("e3", Decimal("99")), ("e4", Decimal("10"))]

    # One event on its own raises the clear error, and records nothing.
    meanwhile(event("e5", "1"))
    with pytest.raises(DuplicateUsageEvent, match="already recorded for a different event"):
        services.record_usage_event(org, **event("e5", "2"))
    assert not UsageEvent.objects.filter(idempotency_key="e5", value=Decimal("2")).exists()
