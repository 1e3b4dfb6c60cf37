"""`duly usage import` on hostile files: every unreadable line is a rejected row, the rest is judged as usual;
usage values are stored exactly on SQLite and PostgreSQL (and the migration converts existing rows)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from django.db import connection

from duly.billing import services
from duly.billing.models import UsageEvent
from duly.cli import main

pytestmark = pytest.mark.django_db


def event(key, value="10", ts="2026-03-05T10:00:00Z", **extra):
    return {"idempotency_key": key, "customer": "ACME", "metric": "api_calls", "timestamp": ts, "value": value,
            **extra}


@pytest.fixture
def metered(org, customer, contract, catalog):
    return services.create_subscription(org, customer, [(catalog["graduated_api"], 1)], start_date=date(2026, 3, 1),
                                        as_of=date(2026, 3, 1), timing="arrears")


def run_import(path, *extra):
    out = CliRunner().invoke(main, ["usage", "import", str(path), "--org", "atelier", "--format", "json", *extra])
    assert out.exit_code in (0, 2), out.output
    assert "unexpected" not in out.output and "Traceback" not in out.output
    report = json.loads(out.output[out.output.index("{"):])
    return out.exit_code, report


def reasons(report):
    return {r["line"]: (r["code"], r["reason"]) for r in report["rejections"]}


def test_every_unreadable_json_line_is_a_rejected_row(metered, tmp_path):
    deep = {"a": None}
    for _ in range(20):
        deep = {"a": deep}
    lines = [
        json.dumps(event("ok1")).encode(),                                               # 1 accepted
        json.dumps(event("far", ts="9999-12-31T23:00:00-05:00")).encode(),              # 2 out of range
        b"[1, 2, 3]", b'"just text"', b"42", b"null",                                  # 3-6 not objects
        b"[" * 100_000,                                                                  # 7 deep (and long)
        b"[" * 5_000 + b"]" * 5_000,                                                     # 8 deep, short
        json.dumps(event("bad\xffbyte")).encode().replace(b"\\u00ff", b"\xff"),         # 9 not UTF-8
        json.dumps(event("huge", properties={"x": "y" * 100_000})).encode(),            # 10 line > 64 KiB
        b'{"idempotency_key": "nan", "customer": "ACME", "metric": "api_calls", '
        b'"timestamp": "2026-03-05T10:00:00Z", "value": NaN}',                           # 11 NaN
        json.dumps(event("nul\x00key")).encode(),                                        # 12 NUL
        json.dumps(event("surrogate\ud800")).encode(),                                   # 13 lone surrogate
        json.dumps(event("deep-props", properties=deep)).encode(),                      # 14 properties too deep
        json.dumps(event("big-props", properties={"x": "y" * 20_000})).encode(),         # 15 properties too big
        json.dumps(event("v" * 300)).encode(),                                           # 16 key too long
        json.dumps(event("ok2", "123456789012345678.123456")).encode(),                 # 17 accepted, exact
        json.dumps(event("ok1")).encode(),                                               # 18 duplicate
        json.dumps(event("future", ts="2100-01-01T00:00:00Z")).encode(),                 # 19 outside the window
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    exit_code, report = run_import(path)
    assert exit_code == 2
    assert (report["accepted"], report["duplicates"], report["duplicate_lines"]) == (2, 1, [18])
    got = reasons(report)
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19]
    assert got[2][0] == "date_out_of_range"
    assert all("must be an object" in got[n][1] for n in (3, 4, 5, 6))
    assert "longer than 64 KiB" in got[7][1] and "nested too deeply" in got[8][1]
    assert "not valid UTF-8" in got[9][1] and "longer than 64 KiB" in got[10][1]
    assert "invalid JSON" in got[11][1]
    assert "NUL character" in got[12][1] and "not valid UTF-8" in got[13][1]
    assert "nested more than 16 levels" in got[14][1] and "longer than 16384 characters" in got[15][1]
    assert "longer than 200 characters" in got[16][1]
    assert got[19][0] == "date_outside_window"
    assert all(len(reason) < 400 for _, reason in got.values())
    assert dict(UsageEvent.objects.values_list("idempotency_key", "value")) == {
        "ok1": Decimal("10"), "ok2": Decimal("123456789012345678.123456")}

    # With the flag, the day outside the window is accepted; the absolute bounds still hold.
    exit_code, report = run_import(path, "--allow-date-outside-window")
    assert report["accepted"] == 1 and UsageEvent.objects.filter(idempotency_key="future").exists()
    assert reasons(report)[2][0] == "date_out_of_range"


def test_every_unreadable_csv_record_is_a_rejected_row(metered, tmp_path):
    header = b"idempotency_key,customer,metric,timestamp,value,properties\n"
    rows = [
        b"c1,ACME,api_calls,2026-03-01T09:00:00Z,100,\n",                         # 2 accepted
        b"c2,ACME,api_calls,2026-03-01T09:00:00Z,5,\"" + b"x" * 200_000 + b"\"\n",  # 3 line > 64 KiB
        b"c3,AC\xffME,api_calls,2026-03-01T09:00:00Z,5,\n",                      # 4 not UTF-8
        b"c4,ACME,api_calls,9999-12-31T23:00:00-05:00,5,\n",                     # 5 out of range
        b"c5,ACME,api_calls,2026-03-01T09:00:00Z,5,{\"a\": 1},extra\n",          # 6 too many values
        b"c6,ACME,api_calls,2026-03-01T09:00:00Z,999999999999999999,\n",         # 7 accepted, exact
        b"c7,ACME,api_calls,2026-03-01T09:00:00Z,5,\"" + b"[" * 5000 + b"\"\n",  # 8 properties not JSON
        b"c8,ACME,api_calls,2026-03-01T09:00:00Z,1e999999999,\n",               # 9 too large
        b"c9,ACME,api_calls,2026-03-01T09:00:00Z,7,,\n",                         # 10 accepted (empty extra value)
        b"\"c10,ACME,api_calls,2026-03-01T09:00:00Z,5\n",                        # 11 unterminated quote, to the end
    ]
    path = tmp_path / "hostile.csv"
    path.write_bytes(b"\xef\xbb\xbf" + header + b"".join(rows))
    exit_code, report = run_import(path)
    assert exit_code == 2
    assert report["accepted"] == 3
    got = reasons(report)
    assert sorted(got) == [3, 4, 5, 6, 8, 9, 11]
    assert "longer than 64 KiB" in got[3][1] and "not valid UTF-8" in got[4][1]
    assert got[5][0] == "date_out_of_range" and "too many" not in got[6][1] and "7 values for 6 columns" in got[6][1]
    assert "properties must be a JSON object" in got[8][1] and "too large" in got[9][1]
    assert sorted(UsageEvent.objects.values_list("idempotency_key", "value")) == [
        ("c1", Decimal(100)), ("c6", Decimal("999999999999999999")), ("c9", Decimal(7))]


@pytest.mark.parametrize("header", [b"\xff\xfe,customer\n", b"a,b,c\n", b"", b"\"" + b"x" * 100_000 + b"\n"])
def test_a_file_whose_header_cannot_be_read_is_refused_whole(metered, tmp_path, header):
    path = tmp_path / "bad.csv"
    path.write_bytes(header + b"c1,ACME,api_calls,2026-03-01T09:00:00Z,100\n")
    out = CliRunner().invoke(main, ["usage", "import", str(path), "--org", "atelier"])
    assert out.exit_code == 2
    assert out.output.strip().splitlines()[-1].startswith("error: bad.csv: the header must name the columns")
    assert not UsageEvent.objects.exists()


def test_usage_values_are_stored_exactly(org, metered, bookkeeper):
    values = ["123456789012345678", "999999999999999999.999999", "0.000001", "12.5", "0"]
    result = services.record_usage(org, [event(f"v{n}", value) for n, value in enumerate(values)])
    assert result.accepted == len(values)
    stored = dict(UsageEvent.objects.values_list("idempotency_key", "value"))
    assert stored == {f"v{n}": Decimal(value) for n, value in enumerate(values)}
    # In SQL too: ordering, ranges and equality follow the numbers.
    assert list(UsageEvent.objects.order_by("value").values_list("idempotency_key", flat=True)) == [
        "v4", "v2", "v3", "v0", "v1"]
    assert UsageEvent.objects.filter(value__gt=Decimal("12.4")).count() == 3
    assert UsageEvent.objects.filter(value=Decimal("123456789012345678")).get().idempotency_key == "v0"
    page = bookkeeper.get("/admin/billing/usageevent/?o=5")
    assert page.status_code == 200
    page = bookkeeper.get("/admin/billing/usageevent/")
    assert page.status_code == 200 and "999" in page.content.decode()


def test_a_billing_run_aggregates_the_exact_values(org, customer, metered, bill):
    # 18 significant digits: a DecimalField on SQLite kept 15 of them.
    services.record_usage(org, [event("a", "123456789012.345678"), event("b", "0.000001")])
    bill(date(2026, 4, 1))
    from duly.invoicing.models import InvoiceLine

    api = InvoiceLine.objects.get(invoice__customer=customer, description__icontains="API")
    assert "total de 123\u202f456\u202f789\u202f012,345679 API calls" in api.description, api.description
    # 1,000 free, 9,000 at 0.01, the rest at 0.005: 90 + 123,456,779,012.345679 × 0.005 → 617,283,985.06
    assert api.net_minor == 61728398506


def test_properties_length_bound_never_admits_long_json():
    """The quick length bound of plain properties never lets through JSON longer than the limit (escapes counted)."""
    import json

    from duly.billing import ingest
    from duly.domain.errors import ValidationError

    for text in ("a" * 5000, "\U0001F600" * 1500, "\x01" * 3000, "é" * 3000):
        props = {"k": text, "n": None, "list": [True, False, text[:10]]}
        too_long = len(json.dumps(props)) > ingest.MAX_PROPERTIES_CHARS
        if too_long:
            with pytest.raises(ValidationError):
                ingest._parse_properties(props, "e1")
        else:
            assert ingest._parse_properties(props, "e1") == props
