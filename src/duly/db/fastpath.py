"""The generic ORM fast path: bulk reads and inserts that skip Django's per-value and per-row machinery.

:func:`fetch_rows`
    ``list(queryset)`` of a ``values_list`` of plain columns, converting SQLite's dates, datetimes and
    JSON with the standard library's C parsers (the same values Django's converters give).
:func:`ids_in`
    A ``<column> IN (ids)`` filter for integer ids, without the ORM's per-value preparation.
:func:`insert_rows` (and :func:`adapt_rows`)
    Multi-row ``INSERT … RETURNING id`` statements whose values are adapted once per column kind.

These rely on Django internals (``Query.get_compiler``, ``SQLCompiler.select``/``get_converters``,
``Col.target``, ``QuerySet._fields``, ``DatabaseOperations.adapt_*_value``, the SQLite cursor wrapper's
``cursor`` attribute, ``connection.wrap_database_errors``...): ``tests/db/test_fastpath_contract.py``
pins each of them against the installed Django, so an upgrade that breaks one fails there first.

:func:`insert_rows` skips ``Model.save()`` and therefore its signals: it refuses a model that has
``pre_save`` or ``post_save`` receivers (:class:`SaveReceiversConnected`), which would silently miss
the rows it writes.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from datetime import date, datetime as _datetime
from functools import lru_cache
from typing import Any, Callable, Sequence

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import F, Lookup
from django.db.models.signals import post_save, pre_save

__all__ = ["SaveReceiversConnected", "adapt_rows", "fetch_rows", "ids_in", "insert_objects", "insert_rows"]


class SaveReceiversConnected(TypeError):
    """:func:`insert_rows` was given a model with ``pre_save``/``post_save`` receivers: it never sends them."""


def _refuse_save_receivers(model: type[models.Model]) -> None:
    if pre_save.has_listeners(model) or post_save.has_listeners(model):
        raise SaveReceiversConnected(
            f"insert_rows cannot write {model._meta.label} rows: it has pre_save/post_save receivers, and "
            "insert_rows never calls save() nor sends those signals. Write these rows with save() or "
            "bulk_create(), or move the receivers' work into the service that inserts the rows.")


def _adapter(model_field: models.Field) -> Callable[[Any], Any] | None:
    """How a Python value of a column is handed to the database driver (None: as it is)."""
    ops = connection.ops
    kind = model_field.get_internal_type()
    if kind == "DateField":
        return ops.adapt_datefield_value
    if kind == "DateTimeField":
        return ops.adapt_datetimefield_value
    if kind == "TimeField":
        return ops.adapt_timefield_value
    if kind == "DecimalField":
        if type(ops).adapt_decimalfield_value is BaseDatabaseOperations.adapt_decimalfield_value:
            return None  # the backend takes a Decimal as it is (SQLite, PostgreSQL): nothing to call per value
        digits, places = model_field.max_digits, model_field.decimal_places
        return lambda value: ops.adapt_decimalfield_value(value, digits, places)
    if kind == "JSONField":
        encoder = model_field.encoder
        empty: dict[type, Any] = {}

        def adapt_json(value: Any) -> Any:
            kind = type(value)
            if (kind is dict or kind is list) and not value:  # most are an empty default: adapted once
                result = empty.get(kind)
                if result is None:
                    result = empty[kind] = ops.adapt_json_value(value, encoder)
                return result
            return ops.adapt_json_value(value, encoder)

        return adapt_json
    return None


def _memo(adapt: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def adapted(value: Any) -> Any:
        result = seen.get(value)
        if result is None:
            result = seen[value] = adapt(value)
        return result

    return adapted


def _row_adapters(model: type[models.Model], columns: Sequence[str],
                  skip: frozenset[str] = frozenset()) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, adapter) of each column of ``columns`` whose values the driver needs adapted (see _adapter)."""
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    adapters = []
    for i, name in enumerate(columns):
        if name in skip:
            continue
        f = by_attname[name]
        adapt = _adapter(f)
        if adapt is not None and f.get_internal_type() in ("DateField", "DateTimeField", "TimeField"):
            adapt = _memo(adapt)  # a block repeats the same few dates: adapt each once
        if adapt is not None:
            adapters.append((i, adapt))
    return adapters


def adapt_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[list[Any]]) -> frozenset[str]:
    """Adapt the values of ``rows`` (lists, in ``columns`` order) for the driver in place, as :func:`insert_rows`
    would; returns the names of the columns adapted, for ``insert_rows(…, adapted=…)``.

    JSON columns are adapted to text on SQLite only (PostgreSQL's adapter is a driver wrapper object,
    left to the writing process). Lets a planning process do this work for the process that writes."""
    skip = frozenset() if connection.vendor == "sqlite" else frozenset(
        f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField")
    adapters = _row_adapters(model, columns, skip)
    if connection.vendor == "sqlite":
        # Decimals as text, as the sqlite3 adapter Django registers makes them (a str pickles and binds faster).
        decimal_columns = {f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "DecimalField"}
        adapters += [(i, str) for i, name in enumerate(columns) if name in decimal_columns]
    for values in rows:
        for i, adapt in adapters:
            if values[i] is not None:
                values[i] = adapt(values[i])
    return frozenset(columns) - skip


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                adapted: frozenset[str] = frozenset()) -> list[int]:
    """Insert rows (values in ``columns`` order: attribute names) in bulk; returns their new ids, in order.

    Values are adapted once per column kind, exactly as the ORM adapts them for saving (dates,
    datetimes, decimals, JSON); every other column is passed as it is, and so are the columns named in
    ``adapted`` (already adapted by :func:`adapt_rows`). Multi-row ``INSERT … RETURNING id`` statements
    keep the number of round trips small. Refuses (:class:`SaveReceiversConnected`) a model with
    ``pre_save``/``post_save`` receivers: no ``save()`` runs, so they would never hear of these rows.
    """
    _refuse_save_receivers(model)
    if not rows:
        return []
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[c] for c in columns]
    adapters = _row_adapters(model, columns, adapted)
    quote = connection.ops.quote_name
    limit = connection.features.max_query_params
    if connection.vendor == "sqlite":
        limit = _sqlite_variable_limit()
    per_statement = max(1, min(1000, (limit or 65535) // len(columns)))
    head = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES ")
    tail = f" RETURNING {quote(model._meta.pk.column)}"
    ids: list[int] = []
    if len(rows) >= COPY_MIN_ROWS and _copy_possible():
        return _copy_rows(model, fields, rows, adapters)
    with connection.cursor() as cursor:
        native = _native_sqlite_cursor(cursor)
        group = "(" + ", ".join(["?" if native is not None else "%s"] * len(columns)) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start:start + per_statement]
            params: list[Any] = []
            if adapters:
                for row in chunk:
                    values = list(row)
                    for i, adapt in adapters:
                        if values[i] is not None:
                            values[i] = adapt(values[i])
                    params.extend(values)
            else:
                for row in chunk:
                    params.extend(row)
            sql = head + ", ".join([group] * len(chunk)) + tail
            if native is not None:
                connection.validate_no_broken_transaction()  # as Django's cursor does before each statement
                with connection.wrap_database_errors:  # IntegrityError etc. exactly as Django raises them
                    ids.extend(r[0] for r in sqlite3.Cursor.execute(native, sql, params).fetchall())
            else:
                cursor.execute(sql, params)
                ids.extend(r[0] for r in cursor.fetchall())
    return ids


def insert_objects(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert unsaved instances of ``model`` with :func:`insert_rows` (their concrete fields' values, the primary key
    left to the database) and set each one's primary key: ``bulk_create`` without the ORM's per-value preparation.
    Foreign keys are read from their ``*_id`` attributes (assign a related object once it is saved)."""
    if not objs:
        return
    pk = model._meta.pk.attname
    columns = [f.attname for f in model._meta.concrete_fields if f.attname != pk]
    ids = insert_rows(model, columns, [[getattr(obj, c) for c in columns] for obj in objs])
    for obj, pk_value in zip(objs, ids):
        setattr(obj, pk, pk_value)
        obj._state.adding = False
        obj._state.db = connection.alias


#: From this many rows on, :func:`insert_rows` writes with ``COPY`` on PostgreSQL (see :func:`_copy_rows`).
COPY_MIN_ROWS = 50


def _copy_possible() -> bool:
    """PostgreSQL through psycopg 3, and nothing that watches statements go through Django's cursor."""
    return (connection.vendor == "postgresql" and not connection.queries_logged
            and not connection.execute_wrappers)


def _copy_rows(model: type[models.Model], fields: Sequence[models.Field], rows: Sequence[Sequence[Any]],
               adapters: list[tuple[int, Callable[[Any], Any]]]) -> list[int]:
    """Insert rows with PostgreSQL's ``COPY … FROM STDIN`` (psycopg 3 ``cursor.copy``); returns their ids, in order.

    ``COPY`` returns nothing, so the ids are drawn first from the table's own identity sequence (one
    ``nextval`` per row, in one statement, ascending) and written with the rows: the same ids an
    ``INSERT … RETURNING`` would have given, and a rollback gives nothing back but sequence values (as an
    ``INSERT`` does). Constraints hold as for ``INSERT``: a duplicate raises Django's ``IntegrityError`` and
    the transaction is rolled back by the caller; foreign keys stay deferred to the commit.
    """
    quote = connection.ops.quote_name
    table, pk = model._meta.db_table, model._meta.pk.column
    connection.validate_no_broken_transaction()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor  # the psycopg cursor under Django's
        raw.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) AS id FROM generate_series(1, %s) ORDER BY id",
                    [quote(table), pk, len(rows)])
        ids = [r[0] for r in raw.fetchall()]
        columns = ", ".join([quote(pk), *(quote(f.column) for f in fields)])
        with raw.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            if adapters:
                for pk_value, row in zip(ids, rows):
                    values = [pk_value, *row]
                    for i, adapt in adapters:
                        if values[i + 1] is not None:
                            values[i + 1] = adapt(values[i + 1])
                    write(values)
            else:
                for pk_value, row in zip(ids, rows):
                    write((pk_value, *row))
    return ids


def _native_sqlite_cursor(cursor) -> "sqlite3.Cursor | None":
    """The sqlite3 cursor under Django's, when a statement may run on it directly: SQLite, and nothing
    that watches statements go through Django's cursor (no query logging, no execute wrapper).

    Django's SQLite cursor rewrites each ``%s`` of a statement to ``?`` with a regular expression; on a
    multi-row INSERT of tens of thousands of placeholders that is a good part of the insert's cost. Such
    a statement is written with ``?`` and run on the sqlite3 cursor itself, in the same transaction.
    """
    if connection.vendor != "sqlite" or connection.queries_logged or connection.execute_wrappers:
        return None
    native = getattr(cursor, "cursor", None)
    return native if isinstance(native, sqlite3.Cursor) else None


@lru_cache(maxsize=1)
def _sqlite_variable_limit() -> int:
    try:
        return sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # pragma: no cover - Python < 3.11
        return 999


class _IdsIn(Lookup):
    """``column IN (ids)`` for a list of integer ids: the same SQL as ``__in``, without the ORM's
    per-value preparation (a batch filters on thousands of ids, each prepared three times)."""

    lookup_name = "ids_in"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(dict.fromkeys(map(operator.index, self.rhs)))  # ints only, each once

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet  # as ``__in=[]``: no row, no query
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*lhs_params, *self.rhs]


def ids_in(field: str, ids) -> Lookup:
    """A filter ``<field> IN (ids)`` for integer ids (``queryset.filter(ids_in("customer_id", ids))``)."""
    return _IdsIn(F(field), list(ids))


def _sqlite_datetime(tz) -> Callable[[Any], Any]:
    """What Django's SQLite converter makes of a stored datetime (``USE_TZ``: aware, in the connection's
    time zone when stored naive), parsed in C."""
    def convert(value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, _datetime):  # the driver parsed it (declared type "datetime"): naive, in UTC
            return value if value.tzinfo is not None else value.replace(tzinfo=tz)
        parsed = _datetime.fromisoformat(value)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)

    return convert


def _sqlite_date(value: Any) -> Any:
    return date.fromisoformat(value) if value is not None and not isinstance(value, date) else value


def _sqlite_json(value: Any) -> Any:
    if value is None:
        return value
    if value == "[]":  # most JSON columns hold an empty default: a new empty value, not parsed
        return []
    if value == "{}":
        return {}
    try:
        return json.loads(value)
    except json.JSONDecodeError:  # as JSONField.from_db_value
        return value


def _as_read(value: Any) -> Any:  # pragma: no cover - a marker, never called
    return value


def _fast_converter(field: models.Field, conn) -> Callable[[Any], Any] | None:
    """A converter doing what Django's does for a plain SQLite column of ``field``, parsing in C (None: Django's;
    :func:`_as_read`: nothing to do)."""
    kind = type(field)
    if kind is models.DateTimeField and settings.USE_TZ:
        return _sqlite_datetime(conn.timezone)
    if kind is models.DateField:
        # A column declared ``date`` is parsed by the converter Django registers with the sqlite3 driver
        # (``PARSE_DECLTYPES``): the value read is a date already, as Django's own converter then finds it.
        declared = conn.settings_dict["OPTIONS"].get("detect_types", sqlite3.PARSE_DECLTYPES) & sqlite3.PARSE_DECLTYPES
        return _as_read if declared and field.db_type(conn) == "date" else _sqlite_date
    if kind is models.JSONField and field.decoder is None:
        return _sqlite_json
    return None


def fetch_rows(queryset: models.QuerySet) -> list[tuple]:
    """``list(queryset)`` of a ``values_list`` of plain columns, with the same values, converted faster on SQLite.

    Django converts each value of each row through generic converter chains in Python; a batch reads
    tens of thousands of rows. On SQLite, dates, datetimes and JSON are parsed here by the standard
    library's C parsers (exactly the values Django's converters give); other columns keep Django's
    converters. On other databases, or for anything but a plain column, this is ``list(queryset)``."""
    from django.db.models.expressions import Col

    db = queryset.db
    # An alias (an annotation used only to filter, never selected) is fine: every selected column is
    # checked to be a plain column below.
    if connections[db].vendor != "sqlite" or queryset._fields is None or queryset.query.annotation_select:
        return list(queryset)
    compiler = queryset.query.get_compiler(using=db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return []
    plan: list[tuple[int, Callable[[Any], Any] | None, list, Any]] = []
    for i, (expression, _, _) in enumerate(compiler.select):
        if not isinstance(expression, Col):
            return list(queryset)
        fast = _fast_converter(expression.target, connections[db])
        if fast is _as_read:
            continue
        if fast is not None:
            plan.append((i, fast, [], expression))
        else:
            found = compiler.get_converters([expression]).get(0)
            if found:
                plan.append((i, None, found[0], expression))
    conn = connections[db]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not plan:
        return rows if all(type(r) is tuple for r in rows[:1]) else [tuple(r) for r in rows]
    if not rows:
        return []
    # Column by column: each converted column is one ``map`` over its values (no per-row list, no per-value
    # indexing), then the rows are zipped back together.
    columns: list = list(zip(*rows))
    for i, fast, chain, expression in plan:
        if fast is not None:
            columns[i] = map(fast, columns[i])
        elif isinstance(expression.target, models.DecimalField):
            # A column repeats a few amounts (rates, quantities): each distinct one converted once (a Decimal is
            # immutable, so rows may share it; equal numbers stored as 1 or 1.0 convert to the same Decimal).
            converted = {value: _chained(value, chain, expression, conn) for value in set(columns[i])}
            columns[i] = map(converted.__getitem__, columns[i])
        elif len(chain) == 1:
            convert = chain[0]
            columns[i] = [convert(value, expression, conn) for value in columns[i]]
        else:
            columns[i] = [_chained(value, chain, expression, conn) for value in columns[i]]
    return list(zip(*columns))


def _chained(value: Any, chain: list, expression: Any, conn: Any) -> Any:
    for convert in chain:
        value = convert(value, expression, conn)
    return value

