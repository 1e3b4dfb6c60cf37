"""Reading and checking usage events and licence counts: the rules of recording them.

This module reads (usage files, the rows already recorded) and validates; it writes nothing. The
writers, ``record_usage``, ``record_usage_event`` and ``record_licence_counts``, are in
:mod:`duly.billing.usage_services` (re-exported by :mod:`duly.billing.services`); they follow the
rules below.

Usage events
    :func:`record_usage` takes any number of events (mappings, e.g. rows of a CSV or JSONL file) and
    records each valid one exactly once per idempotency key. Every row is judged on its own: a
    rejected row (unknown metric or customer, negative or non-numeric value, timestamp without a UTC
    offset...) is reported with its line number and never stops the valid ones, and a rejected row
    records nothing. A row repeating a recorded key is a *duplicate* (ignored and counted); a row
    reusing a key for a *different* event is rejected. Rows are written in chunks, each in one
    transaction. Concurrent importers of the same file are harmless and counted exactly: when a key
    was recorded by another importer between the read and the insert, the unique key refuses the
    insert (a savepoint undoes it), the keys are read again and that row counts as a duplicate (or
    is rejected if it is a different event); ``accepted`` is always the number of events this import
    inserted.

Closed periods (the rule)
    An event whose usage window was already invoiced is **recorded, flagged late, and billed on the
    customer's next invoice as a late adjustment**, on its own line that names the period and the
    invoice it corrects. The adjustment is priced as the difference the late events make to that
    period's charge (``price(billed quantity + late) − price(billed quantity)``), so tiers stay
    right. Nothing is ever added to an issued invoice.

Licence counts
    :func:`record_licence_counts` stores one active-seat count per subscription and day (upsert).
    A day whose usage window was already invoiced cannot change: it raises
    :class:`~duly.domain.errors.ClosedPeriod` (correct the invoice with a credit note instead).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from duly.customers.models import Customer, Organization
from duly.domain import usage as domain_usage
from duly.domain.bounds import EARLIEST_DATE, LATEST_DATE, DateWindow, check_date_range, check_datetime_range
from duly.domain.calendar import zone
from duly.domain.money import MONEY_CONTEXT, to_decimal
from duly.domain.errors import (
    DomainError,
    DuplicateUsageEvent,
    InvalidUsageValue,
    NotFound,
    NumberOutOfRange,
    UnknownMetric,
    ValidationError,
)

from .models import BillingRecord, LicenceSnapshot, Metric, Subscription, SubscriptionItem, UsageEvent

__all__ = [
    "Rejection",
    "UsageResult",
    "count_rows",
    "read_usage_file",
    "window_bounds",
]

CHUNK_SIZE = 2000
#: Usage values are stored with 6 decimals, below 10^18 (see :class:`~duly.billing.models.UsageValueField`).
MAX_DECIMALS = 6
_VALUE_QUANTUM = Decimal(1).scaleb(-MAX_DECIMALS)
_MAX_VALUE = Decimal(10) ** 18
FIELDS = ("idempotency_key", "customer", "metric", "timestamp", "value", "properties", "subscription")
_ALLOWED_FIELDS = frozenset(FIELDS) | {"key"}
#: A line of a usage file (a CSV record's physical lines each) is at most this long; a longer one is a rejected row.
MAX_LINE_BYTES = 64 * 1024
#: ``properties``: at most this many characters of JSON, nested at most this deep.
MAX_PROPERTIES_CHARS = 16 * 1024
MAX_PROPERTIES_DEPTH = 16
#: The largest licence count (LicenceSnapshot.active_count is a 32-bit column).
MAX_LICENCE_COUNT = 2_147_483_647
#: Longest idempotency key, customer code, metric code, subscription id and value text.
MAX_KEY_CHARS = 200
_MAX_FIELD_CHARS = 100
#: Characters no stored text may contain: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8:
#: bytes that did not decode, or a JSON escape such as \ud800).
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
#: The local dates whose instant is surely within the absolute bounds in UTC as well (an offset is under a day).
_SAFE_FIRST, _SAFE_LAST = EARLIEST_DATE + timedelta(days=2), LATEST_DATE - timedelta(days=2)
#: The most parsed value texts a chunk context remembers (a file repeats a few values many times).
_VALUE_MEMO = 10_000
_ABSENT = object()


@dataclass(frozen=True)
class Rejection:
    line: int
    key: str
    code: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "key": self.key, "code": self.code, "reason": self.reason}


@dataclass
class UsageResult:
    """What :func:`record_usage` did: counts, and the line of every duplicate and rejected row."""

    accepted: int = 0
    duplicates: int = 0
    #: Accepted events that fall in an already invoiced window (billed later as a late adjustment).
    late: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + len(self.rejected)

    def summary(self) -> str:
        text = f"{self.accepted} accepted, {self.duplicates} duplicate, {len(self.rejected)} rejected"
        if self.late:
            text += f" ({self.late} late: billed on the next invoice as a late adjustment)"
        return text

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "late": self.late,
            "rejected": len(self.rejected),
            "duplicate_lines": self.duplicate_lines,
            "rejections": [r.as_dict() for r in self.rejected],
        }


@dataclass(slots=True)
class _Row:
    line: int
    key: str
    customer_id: int
    subscription_id: int | None
    metric_id: int
    timestamp: datetime
    value: Decimal
    properties: dict
    day: date


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _parse_timestamp(value: Any, key: str) -> datetime:
    if isinstance(value, datetime):
        ts = value
    else:
        text = _field(value, "timestamp", key)
        if not text:
            raise ValidationError(f"Usage event {key!r} has no timestamp.")
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"Usage event {key!r}: {text!r} is not an ISO 8601 timestamp (e.g. 2026-03-05T10:00:00Z)."
            ) from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValidationError(
            f"Usage event {key!r}: the timestamp {ts.isoformat()} has no UTC offset; write it as e.g. "
            f"{ts.isoformat()}Z or {ts.isoformat()}+01:00."
        )
    return check_datetime_range(ts, f"Usage event {key!r}: the timestamp")


def _parse_value(value: Any, key: str) -> Decimal:
    if isinstance(value, str):
        value = _field(value, "value", key)
    if value is None or value == "":
        raise InvalidUsageValue(f"Usage event {key!r} has no value.")
    if isinstance(value, float):
        raise InvalidUsageValue(f"Usage event {key!r}: the value must be a Decimal, an integer or a numeric string, "
                                "never a float.")
    try:
        parsed = to_decimal(value)
    except NumberOutOfRange:
        raise InvalidUsageValue(f"Usage event {key!r}: the value {_shown(value)} is too large or too small (usage "
                                "values are below 10^18, with at most 6 decimals).",
                                value=str(value)[:_MAX_FIELD_CHARS]) from None
    except ValidationError:
        raise InvalidUsageValue(f"Usage event {key!r}: the value {_shown(value)} is not a number.",
                                value=str(value)[:_MAX_FIELD_CHARS]) from None
    if parsed < 0:
        raise InvalidUsageValue(f"Usage event {key!r}: the value {parsed} is negative; usage values are ≥ 0.",
                                value=str(parsed))
    if parsed >= _MAX_VALUE:
        raise InvalidUsageValue(f"Usage event {key!r}: the value {parsed} is too large (usage values are below "
                                "10^18).", value=str(parsed))
    exact = parsed.quantize(_VALUE_QUANTUM, context=MONEY_CONTEXT)
    if parsed != exact:
        raise InvalidUsageValue(f"Usage event {key!r}: the value {parsed} has more than {MAX_DECIMALS} decimals.",
                                value=str(parsed))
    return exact


def _parse_properties(value: Any, key: str) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        if len(value) > MAX_PROPERTIES_CHARS:
            raise ValidationError(f"Usage event {key!r}: properties are longer than {MAX_PROPERTIES_CHARS} "
                                  "characters.")
        try:
            value = _loads(value)
        except ValueError:
            raise ValidationError(f"Usage event {key!r}: properties must be a JSON object, got "
                                  f"{_shown(value)}.") from None
    if not isinstance(value, Mapping):
        raise ValidationError(f"Usage event {key!r}: properties must be a JSON object.")
    bound = _check_json(value, key)
    if bound is not None and bound <= MAX_PROPERTIES_CHARS:  # surely short enough, and plain JSON
        return dict(value)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(f"Usage event {key!r}: properties must hold only JSON values (text, numbers, "
                              "true/false/null, lists and objects).") from None
    if len(text) > MAX_PROPERTIES_CHARS:
        raise ValidationError(f"Usage event {key!r}: properties are longer than {MAX_PROPERTIES_CHARS} characters "
                              "of JSON.")
    return dict(value)


def _check_json(value: Any, key: str) -> int | None:
    """Properties nested at most :data:`MAX_PROPERTIES_DEPTH` deep, with text a database stores (walked without
    recursion: a deeply nested value cannot exhaust the stack). Returns a bound on the length of their JSON
    when they hold only text, true/false/null, lists and objects (None otherwise: measure it)."""
    stack = [(value, 1)]
    bound: int | None = 0
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PROPERTIES_DEPTH:
            raise ValidationError(f"Usage event {key!r}: properties are nested more than {MAX_PROPERTIES_DEPTH} "
                                  "levels deep.")
        if isinstance(item, Mapping):
            for name, child in item.items():
                if not isinstance(name, str) or _BAD_CHAR.search(name):
                    raise ValidationError(f"Usage event {key!r}: a property name is not valid text.")
                stack.append((child, depth + 1))
                if bound is not None:
                    bound += 12 * len(name) + 6  # "name": value, (a character escapes to at most two \u sequences)
            if bound is not None:
                bound += 2
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
            if bound is not None:
                bound += 2 * len(item) + 2
        elif isinstance(item, str):
            if _BAD_CHAR.search(item):
                raise ValidationError(f"Usage event {key!r}: a property holds a NUL character or text that is "
                                      "not valid UTF-8.")
            if bound is not None:
                bound += 12 * len(item) + 2
        elif item is None or item is True or item is False:
            if bound is not None:
                bound += 5
        else:
            bound = None  # a number (or something JSON cannot hold): json.dumps decides
    return bound


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str) -> Any:
    """JSON with numbers kept as text (exact), refusing NaN/Infinity; ValueError for anything that is not JSON
    (deep nesting included)."""
    try:
        return json.loads(text, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _shown(value: Any, limit: int = 40) -> str:
    """``value`` as a message shows it: quoted, escaped, and never longer than ``limit`` characters."""
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else f"{text[:limit]}…"


def _field(value: Any, name: str, key: str, limit: int = _MAX_FIELD_CHARS) -> str:
    """A text field of an event, stripped: refused when longer than ``limit`` or not storable text."""
    text = _text(value)
    if len(text) > limit:
        raise ValidationError(f"Usage event {key!r}: the {name} is longer than {limit} characters.")
    if _BAD_CHAR.search(text):
        raise ValidationError(f"Usage event {key!r}: the {name} holds a NUL character or text that is not valid "
                              "UTF-8.")
    return text


class _Context:
    """What validating a chunk needs, loaded with one query per kind."""

    def __init__(self, org: Organization, window: DateWindow | None = None) -> None:
        self.org = org
        self.window = window
        self.metrics = {m.code: m for m in Metric.objects.filter(organization=org)}
        # The codes a row may name exactly as they are (``_field`` leaves them unchanged, the snapshot's metric
        # check holds): the fast path looks them up directly.
        self.plain_metrics = {code: m for code, m in self.metrics.items() if isinstance(code, str) and code
                              and code == code.strip() and len(code) <= _MAX_FIELD_CHARS and not _BAD_CHAR.search(code)}
        self.customers: dict[str, tuple[int, str]] = {}
        self.subscriptions: dict[int, int] = {}
        #: value text (or int) → its parsed value, as ``_parse_value`` returns it (valid values only).
        self.values: dict[str | int, Decimal] = {}

    def load(self, raws: list[tuple[int, Mapping]]) -> None:
        raws = [(line, raw) for line, raw in raws if isinstance(raw, Mapping)]
        # Only codes that can be stored are looked up (anything else is no customer's code).
        codes = {code for _, raw in raws if (code := _text(raw.get("customer")))
                 and len(code) <= _MAX_FIELD_CHARS and not _BAD_CHAR.search(code)} - set(self.customers)
        if codes:
            for cid, code, tz in Customer.objects.filter(organization=self.org, code__in=codes).values_list(
                "id", "code", "timezone"
            ):
                self.customers[code] = (cid, tz)
        sub_ids = set()
        for _, raw in raws:
            text = _text(raw.get("subscription"))
            if _is_id(text):
                sub_ids.add(int(text))
        sub_ids -= set(self.subscriptions)
        if sub_ids:
            self.subscriptions.update(
                Subscription.objects.filter(organization=self.org, pk__in=sub_ids).values_list("id", "customer_id")
            )

    def fast_row(self, line: int, raw: Any) -> _Row | None:
        """The row of an ordinary event, judged by the same checks as :meth:`row` in fewer steps (its values
        are of the usual types: text, Decimal or int, aware datetime, a flat object of text properties).
        None when anything about it is unusual, valid or not: :meth:`row` then judges it, and names the
        error of an invalid one. Only rows that :meth:`row` accepts, with the same values, are returned here
        (tests/billing/test_usage_fast.py compares the two on many kinds of rows)."""
        if type(raw) is not dict or not _ALLOWED_FIELDS.issuperset(raw):
            return None
        key = raw.get("idempotency_key", _ABSENT)
        if key is _ABSENT:
            key = raw.get("key")
        metric_code, code = raw.get("metric"), raw.get("customer")
        if type(key) is not str or type(metric_code) is not str or type(code) is not str:
            return None
        metric, customer = self.plain_metrics.get(metric_code), self.customers.get(code)
        key = key.strip()
        if metric is None or customer is None or not key or len(key) > MAX_KEY_CHARS or _BAD_CHAR.search(key):
            return None
        customer_id, tz = customer
        value = raw.get("value")
        kind = type(value)
        if kind is Decimal:
            if not (value.is_finite() and 0 <= value < _MAX_VALUE):
                return None
            exact = value.quantize(_VALUE_QUANTUM, context=MONEY_CONTEXT)
            if exact != value:
                return None
            value = exact
        elif kind is str or kind is int:
            parsed = self.values.get(value)
            if parsed is None:
                try:
                    parsed = _parse_value(value, key)
                except DomainError:
                    return None
                if len(self.values) < _VALUE_MEMO:
                    self.values[value] = parsed
            value = parsed
        else:
            return None
        ts = raw.get("timestamp")
        if type(ts) is datetime:
            if ts.utcoffset() is None or not _SAFE_FIRST <= ts.date() <= _SAFE_LAST:
                return None
        elif type(ts) is str:
            try:
                ts = _parse_timestamp(ts, key)
            except DomainError:
                return None
        else:
            return None
        properties = raw.get("properties")
        if properties is None or properties == "":
            properties = {}
        elif type(properties) is dict and len(properties) <= 64:
            # A flat object of text: the bound _check_json computes, and one search for a bad character.
            size = 2
            for name, item in properties.items():
                if type(name) is not str or type(item) is not str:
                    return None
                size += 12 * (len(name) + len(item)) + 8
            if size > MAX_PROPERTIES_CHARS or _BAD_CHAR.search("".join(properties) + "".join(properties.values())):
                return None
            properties = dict(properties)
        else:
            try:
                properties = _parse_properties(properties, key)
            except DomainError:
                return None
        subscription_id = raw.get("subscription")
        if subscription_id is not None:
            if type(subscription_id) is not int or not 0 < subscription_id < 10**18 \
                    or self.subscriptions.get(subscription_id) != customer_id:
                return None
        day = ts.astimezone(zone(tz)).date()
        if self.window is not None:
            try:
                self.window.check(day, "")
            except DomainError:
                return None
        # (The domain snapshot's checks, domain_usage.UsageEvent, all hold here: a non-empty key and metric code,
        # an aware timestamp, a finite value >= 0, a dict of properties.)
        return _Row(line, key, customer_id, subscription_id, metric.pk, ts, value, properties, day)

    def row(self, line: int, raw: Mapping) -> _Row:
        if not isinstance(raw, Mapping):
            raise ValidationError(f"A usage event must be an object with {', '.join(FIELDS[:5])}.")
        if isinstance(raw, _Unparsable):
            raise ValidationError(f"Not a usage event: {raw['_unparsable']}.")
        unknown = raw.keys() - _ALLOWED_FIELDS
        if unknown:
            names = sorted(_shown(name, 30) for name in unknown)
            raise ValidationError(
                f"Unknown field(s) {', '.join(names[:5])}{'…' if len(names) > 5 else ''}; expected "
                f"{', '.join(FIELDS)}.")
        key = _safe_key(raw)
        if not key:
            raise ValidationError("A usage event needs an idempotency key.")
        if len(key) > MAX_KEY_CHARS:
            raise ValidationError(f"The idempotency key {key[:20]!r}… is longer than {MAX_KEY_CHARS} characters.")
        if _BAD_CHAR.search(key):
            raise ValidationError(f"The idempotency key {_shown(key)} holds a NUL character or text that is not "
                                  "valid UTF-8.")
        metric_code = _field(raw.get("metric"), "metric", key)
        metric = self.metrics.get(metric_code)
        if metric is None:
            known = ", ".join(sorted(self.metrics)) or "none yet"
            raise UnknownMetric(f"Usage event {key!r}: unknown metric {metric_code!r} (known metrics: {known}).",
                                metric=metric_code)
        code = _field(raw.get("customer"), "customer", key)
        if code not in self.customers:
            raise NotFound(f"Usage event {key!r}: no customer with the code {code!r}.", customer=code)
        customer_id, tz = self.customers[code]
        value = _parse_value(raw.get("value"), key)
        ts = _parse_timestamp(raw.get("timestamp"), key)
        properties = _parse_properties(raw.get("properties"), key)
        sub_text = _field(raw.get("subscription"), "subscription", key)
        subscription_id = None
        if sub_text:
            if not _is_id(sub_text) or self.subscriptions.get(int(sub_text)) != customer_id:
                raise NotFound(f"Usage event {key!r}: subscription {sub_text!r} is not a subscription of {code}.")
            subscription_id = int(sub_text)
        day = ts.astimezone(zone(tz)).date()
        if self.window is not None:
            self.window.check(day, f"Usage event {key!r}: the day")
        # The domain snapshot validates the event as the aggregation will see it.
        domain_usage.UsageEvent(key, ts, metric.code, value, properties)
        return _Row(line, key, customer_id, subscription_id, metric.pk, ts, value, properties, day)


def _is_id(text: str) -> bool:
    """A database id written in ASCII digits (``"²".isdigit()`` is true, but it is no number)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def _safe_key(raw: Mapping) -> str:
    """The row's idempotency key as text (whatever the row holds there)."""
    return _text(raw.get("idempotency_key", raw.get("key")))


def _closed_windows(org: Organization, rows: list[_Row]) -> dict[tuple[int, int], list[tuple[int, date, date]]]:
    """(customer, metric) → billed usage windows (subscription, start, end) covering the rows' days."""
    if not rows:
        return {}
    customers = {r.customer_id for r in rows}
    first, last = min(r.day for r in rows), max(r.day for r in rows)
    metered: dict[int, set[int]] = {}
    for sub_id, metric_id in SubscriptionItem.objects.filter(
        subscription__organization=org, subscription__customer_id__in=customers, price__metric__isnull=False
    ).order_by().values_list("subscription_id", "price__metric_id"):
        metered.setdefault(sub_id, set()).add(metric_id)
    windows: dict[tuple[int, int], list[tuple[int, date, date]]] = {}
    # The subscriptions are the organization's (above): filtering on them uses their index.
    for sub_id, customer_id, start, end in BillingRecord.objects.filter(
        subscription_id__in=list(metered), usage_start__isnull=False, usage_start__lte=last, usage_end__gt=first,
    ).order_by().values_list("subscription_id", "subscription__customer_id", "usage_start", "usage_end"):
        for metric_id in metered[sub_id]:
            windows.setdefault((customer_id, metric_id), []).append((sub_id, start, end))
    return windows


def _is_late(row: _Row, windows: dict[tuple[int, int], list[tuple[int, date, date]]]) -> bool:
    for sub_id, start, end in windows.get((row.customer_id, row.metric_id), ()):
        if start <= row.day < end and row.subscription_id in (None, sub_id):
            return True
    return False


def _same_event(existing: tuple, row: _Row) -> bool:
    customer_id, metric_id, ts, value = existing
    return (customer_id, metric_id, ts, Decimal(value)) == (row.customer_id, row.metric_id, row.timestamp, row.value)


def _unrecorded(ctx: _Context, rows: list[_Row], result: UsageResult, *, strict: bool) -> list[_Row]:
    """The rows whose key is not recorded yet; the others are counted as duplicates or rejected."""
    existing = {
        key: (customer_id, metric_id, ts, value)
        for key, customer_id, metric_id, ts, value in UsageEvent.objects.filter(
            organization=ctx.org, idempotency_key__in=[r.key for r in rows]
        ).order_by().values_list("idempotency_key", "customer_id", "metric_id", "timestamp", "value")
    }
    fresh = []
    for row in rows:
        if row.key not in existing:
            fresh.append(row)
        elif _same_event(existing[row.key], row):
            result.duplicates += 1
            result.duplicate_lines.append(row.line)
        else:
            exc = DuplicateUsageEvent(
                f"Usage event {row.key!r}: the key was already recorded for a different event.", key=row.key)
            if strict:
                raise exc
            result.rejected.append(Rejection(row.line, row.key, exc.code, exc.message))
    return fresh


def _validated_rows(ctx: _Context, raws: list[tuple[int, Mapping]], result: UsageResult, *,
                    strict: bool) -> list[_Row]:
    """The valid rows of a chunk, each key once: a rejected row is reported in ``result`` (raised when ``strict``),
    a row repeating an earlier row's event is counted as a duplicate. Reads the chunk's customers and
    subscriptions; writes nothing (:mod:`duly.billing.usage_services` records the rows)."""
    ctx.load(raws)
    rows: list[_Row] = []
    seen: dict[str, _Row] = {}
    fast_row = ctx.fast_row
    for line, raw in raws:
        row = fast_row(line, raw)
        if row is None:  # an unusual row: judged by every check in turn, naming the error of an invalid one
            try:
                row = ctx.row(line, raw)
            except DomainError as exc:
                if strict:
                    raise
                key = _safe_key(raw) if isinstance(raw, Mapping) else ""
                if len(key) > MAX_KEY_CHARS or _BAD_CHAR.search(key):  # the report shows it: never huge, always text
                    key = ""
                result.rejected.append(Rejection(line, key, exc.code, exc.message))
                continue
        if row.key in seen:
            if _same_event((seen[row.key].customer_id, seen[row.key].metric_id, seen[row.key].timestamp,
                            seen[row.key].value), row):
                result.duplicates += 1
                result.duplicate_lines.append(line)
            else:
                exc = DuplicateUsageEvent(f"Usage event {row.key!r}: the key is used by a different event "
                                          f"(line {seen[row.key].line}).", key=row.key)
                if strict:
                    raise exc
                result.rejected.append(Rejection(line, row.key, exc.code, exc.message))
            continue
        seen[row.key] = row
        rows.append(row)
    return rows


# --- files -------------------------------------------------------------------------------------------------
_TOO_LONG = "\ufffe"  # stands in for a line longer than MAX_LINE_BYTES (a noncharacter: never in real text)


def _physical_lines(fh, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[str, bool]]:
    """The lines of a binary file as text, each with whether it was too long (then only a marker is kept, and
    the line is read in pieces: memory stays bounded whatever the file holds). Bytes that are not UTF-8 become
    lone surrogates (``surrogateescape``), which the row checks refuse."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # skip the rest of the line
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield _TOO_LONG + "\n", True
            continue
        yield line.decode("utf-8", "surrogateescape"), False


class _Lines:
    """Physical lines for the csv module, remembering which were too long or not UTF-8."""

    def __init__(self, fh) -> None:
        self._lines = _physical_lines(fh)
        self.number = 0
        self.bad: dict[int, str] = {}

    def __iter__(self):
        return self

    def __next__(self) -> str:
        text, too_long = next(self._lines)
        self.number += 1
        if self.number == 1:
            text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark
        if too_long:
            self.bad[self.number] = f"line {self.number} is longer than {MAX_LINE_BYTES // 1024} KiB"
        elif _BAD_CHAR.search(text):
            self.bad[self.number] = f"line {self.number} is not valid UTF-8 text or holds a NUL character"
        return text

    def problem(self, first: int, last: int) -> str | None:
        """Why the physical lines ``first``..``last`` (one CSV record) cannot be read, if they cannot."""
        for n in range(first, last + 1):
            if n in self.bad:
                return self.bad[n]
        return None


def read_usage_file(path: str | Path) -> Iterator[tuple[int, Mapping | Any]]:
    """Rows of a ``.csv`` (header line: idempotency_key,customer,metric,timestamp,value[,properties][,subscription])
    or ``.jsonl`` file (one JSON object per line), each with its line number in the file.

    A line that cannot be read (not UTF-8, longer than :data:`MAX_LINE_BYTES`, not JSON, nested too
    deeply, a CSV record the csv module refuses) yields an object that :func:`record_usage` rejects with
    that line number; the rows after it are read as usual. A file whose header cannot be read is
    refused as a whole (:class:`~duly.domain.errors.ValidationError`), before any row is recorded.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("rb") as fh:
            lines = _Lines(fh)
            reader = csv.reader(lines)
            try:
                header = next(reader, None)
            except csv.Error:
                header = None
            if header is not None and lines.problem(1, reader.line_num):
                header = None
            fieldnames = [name.strip() for name in header] if header else []
            missing = {"customer", "metric", "timestamp", "value"} - set(fieldnames)
            if missing or not ({"idempotency_key", "key"} & set(fieldnames)):
                shown = ", ".join(_shown(name, 30) for name in fieldnames[:10]) or "nothing readable"
                raise ValidationError(
                    f"{_file_name(path)}: the header must name the columns idempotency_key, customer, metric, "
                    f"timestamp, value (optional: properties, subscription); got {shown}."
                )
            while True:
                first = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield first, _Unparsable(lines.problem(first, reader.line_num) or f"not a CSV record ({exc})")
                    continue
                problem = lines.problem(first, reader.line_num)
                if problem:
                    yield reader.line_num, _Unparsable(problem)
                    continue
                if not values:
                    continue  # a blank line
                if any(values[len(fieldnames):]):  # (empty values after the last column are harmless)
                    yield reader.line_num, _Unparsable(
                        f"{len(values)} values for {len(fieldnames)} columns (quote a value that holds a comma)")
                    continue
                yield reader.line_num, {k: v for k, v in zip(fieldnames, values) if v not in (None, "")}
    elif suffix in (".jsonl", ".ndjson"):
        with path.open("rb") as fh:
            for n, (text, too_long) in enumerate(_physical_lines(fh), 1):
                if too_long:
                    yield n, _Unparsable(f"the line is longer than {MAX_LINE_BYTES // 1024} KiB")
                    continue
                if n == 1:
                    text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
                if _BAD_CHAR.search(text):
                    yield n, _Unparsable("the line is not valid UTF-8 text or holds a NUL character")
                    continue
                try:
                    yield n, _loads(text)
                except json.JSONDecodeError as exc:
                    yield n, _Unparsable(f"invalid JSON ({exc.msg} at column {exc.colno})")
                except ValueError as exc:
                    yield n, _Unparsable(f"invalid JSON ({exc})")
    else:
        raise ValidationError(f"{_file_name(path)}: usage files are .csv or .jsonl.")


def _file_name(path: Path) -> str:
    """The file's name as a message shows it: undecodable bytes escaped, at most 60 characters."""
    name = path.name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name if len(name) <= 60 else f"{name[:60]}…"


class _Unparsable(dict):
    """A line that cannot be read: rejected by :func:`record_usage` with its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(_unparsable=reason)


def count_rows(path: str | Path) -> int:
    """Number of data rows in a usage file (for a progress bar): its lines, read in blocks."""
    path = Path(path)
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines


# --- licences ------------------------------------------------------------------------------------------
def _licence_rows(org: Organization, subscription: Subscription, counts: Mapping[date, int]) -> list[LicenceSnapshot]:
    """The unsaved rows of a licence-count upload, one per day in day order, once every day and count is checked
    (a day is a ``date`` within bounds, a count a whole number from 0 to :data:`MAX_LICENCE_COUNT`)."""
    rows = []
    for day in counts:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValidationError(f"Licence counts are keyed by day, got {_shown(day)}.")
        check_date_range(day, "The day of a licence count")
    for day, count in sorted(counts.items()):
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_LICENCE_COUNT:
            raise InvalidUsageValue(
                f"The licence count on {day.isoformat()} must be a whole number from 0 to {MAX_LICENCE_COUNT:,}, "
                f"got {_shown(count)}.")
        rows.append(LicenceSnapshot(organization=org, customer_id=subscription.customer_id,
                                    subscription=subscription, day=day, active_count=count))
    return rows


def window_bounds(period_start: date, period_end: date, tz: str) -> tuple[datetime, datetime]:
    """The aware datetimes of a window of days in a time zone: ``[start 00:00, end 00:00)``."""
    tzinfo = zone(tz)
    return datetime.combine(period_start, time.min, tzinfo), datetime.combine(period_end, time.min, tzinfo)
