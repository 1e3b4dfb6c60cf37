"""The fast path of usage validation (ingest._Context.fast_row) judges every row exactly as the full checks do:
the same rows accepted with the same values, the same rows rejected with the same codes and reasons."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from duly.billing import ingest, services
from duly.domain import usage as domain_usage
from duly.domain.bounds import DateWindow

pytestmark = pytest.mark.django_db

UTC = timezone.utc
PLUS1 = timezone(timedelta(hours=1))


@pytest.fixture
def setting(org, customer, make_customer, make_contract, contract, catalog):
    other = make_customer("OTHER", timezone="America/New_York")
    make_contract(other)
    sub = services.create_subscription(org, customer, [(catalog["graduated_api"], 1)], start_date=date(2026, 3, 1),
                                       as_of=date(2026, 3, 1), timing="arrears")
    other_sub = services.create_subscription(org, other, [(catalog["graduated_api"], 1)],
                                             start_date=date(2026, 3, 1), as_of=date(2026, 3, 1), timing="arrears")
    return sub, other_sub


def _variants(sub, other_sub):
    """Rows varying one field at a time over usual, unusual and invalid values of many types."""
    base = {"idempotency_key": "k", "customer": "ACME", "metric": "api_calls",
            "timestamp": datetime(2026, 3, 5, 10, 0, tzinfo=PLUS1), "value": Decimal("3"),
            "properties": {"region": "eu"}}
    choices = {
        "idempotency_key": ["k", " k ", "", "x" * 200, "x" * 201, "nul\x00", "sur\ud800", 7, None, ["k"]],
        "customer": ["ACME", "OTHER", " ACME", "acme", "NOPE", "", None, 12, "A\x00", ["ACME"]],
        "metric": ["api_calls", "payment_volume", "api_calls ", "nope", "", None, 3, {"m": 1}],
        "timestamp": [datetime(2026, 3, 5, 10, 0, tzinfo=PLUS1), datetime(2026, 3, 5, 23, 30, tzinfo=UTC),
                      datetime(2026, 3, 5, 10, 0), "2026-03-05T10:00:00Z", "2026-03-05T10:00:00",
                      " 2026-03-05T23:59:00-05:00 ", "yesterday", "", None, 5, date(2026, 3, 5),
                      datetime(2199, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
                      datetime(1900, 1, 1, 0, 30, tzinfo=PLUS1), "9999-12-31T23:00:00-05:00"],
        "value": [Decimal("3"), Decimal("0"), Decimal("-0"), Decimal("1.0000001"), Decimal("1.123456"),
                  Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+18"), Decimal("999999999999999999"),
                  Decimal("1E-200"), Decimal("0E-200"), "3", " 3 ", "3.5", "-2", "abc", "", "1e400", "NaN", 3, -3,
                  10**18, True, 1.5, None, "\x00"],
        "properties": [{"region": "eu"}, {}, None, "", '{"a": 1}', "[1]", "not json", {"a": 1}, {"a": {"b": "c"}},
                       {"a": "x\x00"}, {"\ud800": "x"}, {1: "x"}, {"a": "y" * 2000}, {"a": ["b"]},
                       {f"k{i}": "v" for i in range(70)}, [("a", "b")]],
        "subscription": [None, sub.pk, str(sub.pk), other_sub.pk, 0, -1, 10**19, "x", "", True, sub.pk + 1000],
    }
    rows = [dict(base)]
    for name, values in choices.items():
        for value in values:
            rows.append({**base, name: value})
    rows += [{**base, "key": "alias"} | {"idempotency_key": None}, {k: v for k, v in base.items() if k != "value"},
             {"key": "only-alias", **{k: v for k, v in base.items() if k != "idempotency_key"}},
             {**base, "extra": 1}, ingest._Unparsable("bad line"), ["not", "a", "mapping"], None]
    # Pairs of fields varied together (types that interact: a timestamp's day in the customer's zone...).
    for customer, ts in itertools.product(choices["customer"][:3], choices["timestamp"][:4]):
        rows.append({**base, "customer": customer, "timestamp": ts})
    return rows


def _same(a: ingest._Row, b: ingest._Row) -> bool:
    fields = ("line", "key", "customer_id", "subscription_id", "metric_id", "timestamp", "properties", "day")
    return (all(getattr(a, f) == getattr(b, f) for f in fields) and str(a.value) == str(b.value)
            and a.timestamp.utcoffset() == b.timestamp.utcoffset())


@pytest.mark.parametrize("window", [None, DateWindow(today=date(2026, 3, 10), first_invoice_date=date(2026, 3, 6))])
def test_fast_path_accepts_and_rejects_exactly_as_the_full_checks(org, setting, window):
    sub, other_sub = setting
    raws = list(enumerate(_variants(sub, other_sub), 1))
    ctx = ingest._Context(org, window)
    ctx.load(raws)
    fast_accepted = 0
    for line, raw in raws:
        fast = ctx.fast_row(line, raw)
        try:
            full = ctx.row(line, raw)
        except ingest.DomainError:
            assert fast is None, (raw, fast)
            continue
        if fast is not None:
            fast_accepted += 1
            assert _same(fast, full), (raw, fast, full)
            # What the aggregation sees: every accepted row makes a valid domain event.
            domain_usage.UsageEvent(fast.key, fast.timestamp, "api_calls", fast.value, fast.properties)
    assert fast_accepted > 20  # the fast path does serve the usual rows

    # A whole chunk (keys made distinct per row): the same rows and the same rejections, line by line.
    distinct = [(line, {**raw, "idempotency_key": f"{raw['idempotency_key']}-{line}"}
                 if type(raw) is dict and type(raw.get("idempotency_key")) is str and raw["idempotency_key"] else raw)
                for line, raw in raws]
    distinct += [(900, distinct[0][1]), (901, {**distinct[0][1], "value": Decimal("4")})]  # a repeat, a clash
    got = ingest.UsageResult()
    rows = ingest._validated_rows(ingest._Context(org, window), distinct, got, strict=False)
    reference_ctx = ingest._Context(org, window)
    reference_ctx.fast_row = lambda line, raw: None
    expected = ingest.UsageResult()
    reference = ingest._validated_rows(reference_ctx, distinct, expected, strict=False)
    assert len(rows) == len(reference) and all(_same(a, b) for a, b in zip(rows, reference))
    assert got.rejected == expected.rejected and got.rejected
    assert (got.duplicates, got.duplicate_lines) == (expected.duplicates, expected.duplicate_lines) == (1, [900])
