"""The ORM fast path's contract with the pinned Django (``duly.db.fastpath``).

``fetch_rows``, ``ids_in`` and ``insert_rows`` skip Django's per-value machinery by calling its internals
directly. Each internal they rely on is pinned here, by name and by behaviour, against the Django this
project installs: a Django upgrade that renames, moves or changes one of them fails this file (and says
which), not a billing run in production. Runs on SQLite, and on PostgreSQL with ``DATABASE_URL``.
"""

from __future__ import annotations

import inspect
import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, connection, models, transaction
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Lookup
from django.db.models.expressions import Col
from django.db.models.signals import post_save, pre_save

from duly.db import fastpath
from duly.db.fastpath import SaveReceiversConnected, adapt_rows, fetch_rows, ids_in, insert_rows

pytestmark = pytest.mark.django_db


# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture
def invoice(org, customer, contract):
    from duly.invoicing import bulk
    from duly.invoicing.services import LineData

    prepared = bulk.prepare(org, bulk.BulkInvoice(customer=customer, contract=contract, lines=[
        LineData(description="Work", quantity=Decimal("1.5"), unit_price=Decimal("80"),
                 period_start=date(2026, 1, 1), period_end=date(2026, 1, 31))]), issue_date=date(2026, 2, 1))
    return bulk.issue_prepared(org, [prepared], issue_date=date(2026, 2, 1))[0]


@pytest.fixture
def metric(org):
    from duly.billing import services

    return services.create_metric(org, code="gb", name="GB", aggregation="max")


def _line_columns():
    from duly.invoicing.models import InvoiceLine

    return tuple(f.attname for f in InvoiceLine._meta.concrete_fields if not f.primary_key)


def _line_row(invoice, position: int, **values) -> list:
    base = {
        "invoice_id": invoice.pk, "position": position, "description": f"Line {position}",
        "quantity": Decimal("2.125"), "unit": "HUR", "unit_price": Decimal("12345.123456"),
        "discount_percent": None, "tax_category": "S", "tax_rate": Decimal("20"), "tax_exemption_reason": "",
        "period_start": date(2026, 1, 1), "period_end": date(2026, 1, 31), "explanation": "é ✓",
        "net_minor": 262, "discount_minor": 0, "base_quantity": Decimal(1), "discount_amount": None,
        "allowances_charges": [{"reason": "x", "amount": "1.50"}],
    }
    base.update(values)
    from duly.invoicing.models import InvoiceLine

    names = _line_columns()
    defaults = {f.attname: f.get_default() for f in InvoiceLine._meta.concrete_fields}
    return [base[n] if n in base else defaults[n] for n in names]


# --- the internals, by name -------------------------------------------------------------------------------
def test_the_queryset_and_compiler_internals_fetch_rows_reads_exist():
    from duly.customers.models import Customer

    qs = Customer.objects.filter(pk__gt=0).values_list("id", "code", "created_at")
    assert qs._fields == ("id", "code", "created_at")  # a values_list's column names
    assert Customer.objects.all()._fields is None  # ... and None for model instances
    assert qs.query.annotations == {}
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    assert isinstance(sql, str) and isinstance(params, tuple)
    assert len(compiler.select) == 3
    for (expression, _sql, _alias), name in zip(compiler.select, ["id", "code", "created_at"]):
        assert isinstance(expression, Col)  # a plain column ...
        assert expression.target is Customer._meta.get_field(name)  # ... and the model field it reads
    converters = compiler.get_converters([compiler.select[2][0]])
    assert isinstance(converters, dict)
    if converters:  # {position: ([converter(value, expression, connection)], expression)}
        chain, expression = converters[0]
        assert isinstance(chain, list) and expression is compiler.select[2][0]
        for convert in chain:
            assert list(inspect.signature(convert).parameters)[:3] == ["value", "expression", "connection"]
    assert Customer.objects.filter(pk__gt=0).annotate(n=models.Count("id")).values_list("id").query.annotations


def test_an_empty_in_makes_the_compiler_raise_empty_result_set():
    from duly.customers.models import Customer

    compiler = Customer.objects.filter(pk__in=[]).values_list("id").query.get_compiler(using="default")
    with pytest.raises(EmptyResultSet):
        compiler.as_sql()
    compiler = Customer.objects.filter(ids_in("id", [])).values_list("id").query.get_compiler(using="default")
    with pytest.raises(EmptyResultSet):
        compiler.as_sql()


def test_the_lookup_api_ids_in_builds_on():
    assert issubclass(fastpath._IdsIn, Lookup)
    for name in ("process_lhs", "get_prep_lookup", "as_sql"):
        assert callable(getattr(Lookup, name)), name
    assert "prepare_rhs" in vars(Lookup) and "lookup_name" in vars(Lookup)


def test_the_connection_and_operations_internals_insert_rows_uses_exist():
    from duly.invoicing.models import InvoiceLine

    ops = connection.ops
    for name in ("adapt_datefield_value", "adapt_datetimefield_value", "adapt_decimalfield_value",
                 "adapt_json_value", "quote_name"):
        assert callable(getattr(ops, name)), name
    assert list(inspect.signature(ops.adapt_json_value).parameters) == ["value", "encoder"]
    assert list(inspect.signature(ops.adapt_decimalfield_value).parameters)[:3] == [
        "value", "max_digits", "decimal_places"]
    assert hasattr(connection.features, "max_query_params")
    assert connection.features.can_return_rows_from_bulk_insert  # INSERT … RETURNING
    assert isinstance(connection.queries_logged, bool)
    assert isinstance(connection.execute_wrappers, list)
    assert callable(connection.validate_no_broken_transaction)
    assert hasattr(connection, "wrap_database_errors")
    assert callable(getattr(BaseDatabaseOperations, "adapt_decimalfield_value"))
    for f in InvoiceLine._meta.concrete_fields:  # what _row_adapters reads of each field
        assert isinstance(f.attname, str) and isinstance(f.column, str) and f.get_internal_type()
    assert InvoiceLine._meta.pk.column == "id" and InvoiceLine._meta.db_table == "invoicing_invoiceline"


# --- the internals, by behaviour ----------------------------------------------------------------------------
def test_the_backend_takes_decimals_as_they_are():
    """insert_rows leaves Decimals to the driver when the backend does not override the base adapter."""
    from duly.invoicing.models import InvoiceLine

    adapt = fastpath._adapter(InvoiceLine._meta.get_field("unit_price"))
    assert adapt is None
    assert type(connection.ops).adapt_decimalfield_value is BaseDatabaseOperations.adapt_decimalfield_value


def test_date_datetime_and_json_adapters_give_what_the_orm_saves():
    from duly.billing.models import UsageEvent
    from duly.invoicing.models import InvoiceLine

    ops = connection.ops
    day = date(2026, 3, 2)
    moment = datetime(2026, 3, 2, 22, 30, 5, 123456, tzinfo=timezone.utc)
    assert fastpath._adapter(InvoiceLine._meta.get_field("period_start"))(day) == ops.adapt_datefield_value(day)
    field = UsageEvent._meta.get_field("timestamp")
    assert fastpath._adapter(field)(moment) == field.get_db_prep_value(moment, connection)
    field = InvoiceLine._meta.get_field("allowances_charges")
    value = [{"a": "1.50"}]
    assert str(fastpath._adapter(field)(value)) == str(field.get_db_prep_value(value, connection))
    assert str(fastpath._adapter(field)([])) == str(field.get_db_prep_value([], connection))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
def test_django_sqlite_cursor_wraps_a_sqlite3_cursor_and_wraps_its_errors():
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, sqlite3.Cursor)  # CursorWrapper.cursor → SQLiteCursorWrapper (sqlite3)
        assert fastpath._native_sqlite_cursor(cursor) is cursor.cursor
    with pytest.raises(IntegrityError):  # sqlite3.IntegrityError, raised as Django's
        with connection.wrap_database_errors:
            raise sqlite3.IntegrityError("UNIQUE constraint failed")
    assert fastpath._sqlite_variable_limit() >= 999


def test_the_native_cursor_is_not_used_while_statements_are_watched():
    calls = []

    def watch(execute, sql, params, many, context):
        calls.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch), connection.cursor() as cursor:
        assert fastpath._native_sqlite_cursor(cursor) is None


def test_fetch_rows_returns_exactly_what_the_orm_returns(org, customer, invoice, metric):
    from duly.billing.usage_services import record_usage_event
    from duly.billing.models import UsageEvent
    from duly.invoicing.models import Invoice, InvoiceLine

    record_usage_event(org, idempotency_key="k1", customer=customer.code, metric="gb", value="12.5",
                       timestamp="2026-03-02T23:30:00.250+01:00", properties={"region": "eu", "n": [1, 2]})
    for model in (UsageEvent, Invoice, InvoiceLine):
        names = [f.attname for f in model._meta.concrete_fields]
        expected = list(model.objects.order_by("id").values_list(*names))
        got = fetch_rows(model.objects.order_by("id").values_list(*names))
        assert expected and got == expected, model.__name__
        assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in expected]
        assert [[getattr(v, "tzinfo", None) for v in row] for row in got] == [
            [getattr(v, "tzinfo", None) for v in row] for row in expected]
    assert settings.USE_TZ  # the SQLite datetime converter gives aware values only then
    # Not a plain column (an annotation, an expression): the ORM's own list.
    annotated = Invoice.objects.annotate(n=models.Count("lines")).values_list("id", "n")
    assert fetch_rows(annotated) == list(annotated)
    # An alias only filters (never selected): the plain columns are read by the fast path, with the same values.
    aliased = Invoice.objects.alias(_org=models.F("organization_id") + 0).filter(_org=org.pk).order_by(
        "id").values_list("id", "issue_date", "due_date", "contract__start_date", "paid_on")
    assert aliased.query.annotations and not aliased.query.annotation_select
    expected = list(aliased)
    assert expected and fetch_rows(aliased) == expected
    assert [[type(v) for v in row] for row in fetch_rows(aliased)] == [[type(v) for v in row] for row in expected]


def test_ids_in_is_the_sql_of_in(customer, make_customer):
    from duly.customers.models import Customer

    other = make_customer("BOB", name="Bob")
    ids = [other.pk, customer.pk, other.pk]
    mine = Customer.objects.filter(ids_in("id", ids)).order_by("id")
    theirs = Customer.objects.filter(id__in=ids).order_by("id")
    assert str(mine.query) == str(theirs.query)
    assert list(mine) == list(theirs) == sorted([customer, other], key=lambda c: c.pk)
    assert list(Customer.objects.filter(ids_in("id", iter([customer.pk])))) == [customer]
    with pytest.raises(TypeError):
        list(Customer.objects.filter(ids_in("id", ["1; DROP TABLE x"])))  # integers only


def test_insert_rows_returns_the_new_ids_in_order_and_writes_what_the_orm_reads_back(invoice):
    from duly.invoicing.models import InvoiceLine

    columns = _line_columns()
    rows = [_line_row(invoice, p) for p in range(2, 6)]
    ids = insert_rows(InvoiceLine, columns, rows)
    assert len(ids) == 4 and all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids) and ids[0] > invoice.lines.get(position=1).pk
    stored = {line.pk: line for line in InvoiceLine.objects.filter(pk__in=ids)}
    for pk, row in zip(ids, rows):
        line = stored[pk]
        assert [getattr(line, name) for name in columns] == row
        assert type(line.unit_price) is Decimal and type(line.period_start) is date
    assert insert_rows(InvoiceLine, columns, []) == []


def test_insert_rows_splits_into_statements_the_backend_accepts(invoice):
    from duly.invoicing.models import InvoiceLine

    columns = _line_columns()
    rows = [_line_row(invoice, p) for p in range(2, 2 + 1500)]  # more than 1000 rows a statement
    ids = insert_rows(InvoiceLine, columns, rows)
    assert len(ids) == 1500 and len(set(ids)) == 1500
    assert list(InvoiceLine.objects.filter(pk__in=ids).order_by("id").values_list("position", flat=True)) == list(
        range(2, 1502))


def test_insert_rows_takes_rows_adapted_beforehand(invoice):
    from duly.invoicing.models import InvoiceLine

    columns = _line_columns()
    rows = [_line_row(invoice, p) for p in (2, 3)]
    adapted = adapt_rows(InvoiceLine, columns, rows)
    assert "period_start" in adapted
    ids = insert_rows(InvoiceLine, columns, rows, adapted=adapted)
    assert [line.period_start for line in InvoiceLine.objects.filter(pk__in=ids)] == [date(2026, 1, 1)] * 2
    assert [line.unit_price for line in InvoiceLine.objects.filter(pk__in=ids)] == [
        Decimal("12345.123456")] * 2


def test_insert_rows_writes_datetimes_as_the_orm_does(org, customer, metric):
    from duly.billing.models import UsageEvent

    moment = datetime(2026, 3, 2, 22, 30, 5, 250000, tzinfo=timezone.utc)
    value = UsageEvent._meta.get_field("value").get_prep_value(Decimal("2.5"))
    columns = ("organization_id", "customer_id", "metric_id", "idempotency_key", "timestamp", "value",
               "properties", "recorded_at", "late")
    ids = insert_rows(UsageEvent, columns, [[org.pk, customer.pk, metric.pk, "k", moment, value, {"a": [1]},
                                             moment, False]])
    event = UsageEvent.objects.get(pk=ids[0])
    assert (event.timestamp, event.value, event.properties) == (moment, Decimal("2.5"), {"a": [1]})


def test_insert_rows_raises_django_integrity_error_and_the_transaction_rolls_back(org, customer, metric):
    from duly.billing.models import UsageEvent

    moment = datetime(2026, 3, 2, tzinfo=timezone.utc)
    value = UsageEvent._meta.get_field("value").get_prep_value(Decimal("1"))
    columns = ("organization_id", "customer_id", "metric_id", "idempotency_key", "timestamp", "value",
               "properties", "recorded_at", "late")
    row = [org.pk, customer.pk, metric.pk, "same", moment, value, {}, moment, False]
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            insert_rows(UsageEvent, columns, [row, list(row)])
    assert not UsageEvent.objects.filter(idempotency_key="same").exists()


# --- save receivers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("signal", [pre_save, post_save], ids=["pre_save", "post_save"])
def test_insert_rows_refuses_a_model_with_save_receivers(invoice, signal):
    from duly.invoicing.models import InvoiceLine

    def receiver(sender, **kwargs):  # pragma: no cover - never called: the insert is refused
        raise AssertionError("called")

    signal.connect(receiver, sender=InvoiceLine, weak=False)
    try:
        with pytest.raises(SaveReceiversConnected, match="InvoiceLine.*pre_save/post_save receivers"):
            insert_rows(InvoiceLine, _line_columns(), [_line_row(invoice, 2)])
        with pytest.raises(SaveReceiversConnected):
            insert_rows(InvoiceLine, _line_columns(), [])  # refused even with nothing to write
    finally:
        signal.disconnect(receiver, sender=InvoiceLine)
    assert InvoiceLine.objects.filter(position=2).count() == 0
    assert insert_rows(InvoiceLine, _line_columns(), [_line_row(invoice, 2)])  # disconnected: written


def test_a_receiver_for_another_model_does_not_refuse(invoice):
    from duly.invoicing.models import Invoice, InvoiceLine

    def receiver(sender, **kwargs):  # pragma: no cover
        pass

    post_save.connect(receiver, sender=Invoice, weak=False)
    try:
        assert insert_rows(InvoiceLine, _line_columns(), [_line_row(invoice, 2)])
    finally:
        post_save.disconnect(receiver, sender=Invoice)


def test_the_models_the_billing_run_inserts_have_no_save_receivers():
    from duly.billing.models import BillingRecord
    from duly.invoicing.models import Invoice, InvoiceLine

    for model in (Invoice, InvoiceLine, BillingRecord):
        assert not (pre_save.has_listeners(model) or post_save.has_listeners(model)), model.__name__


def test_the_old_import_path_still_gives_the_fast_path():
    from duly.invoicing import bulk

    assert (bulk.fetch_rows, bulk.ids_in, bulk.insert_rows, bulk.adapt_rows) == (
        fetch_rows, ids_in, insert_rows, adapt_rows)


def test_fetch_rows_gives_repeated_decimals_and_empty_json_exactly_as_the_orm(customer, make_customer, make_contract):
    """A batch's contracts repeat a few rates (converted once each) and its customers' JSON columns are mostly
    empty (not parsed): the values are still the ORM's, and an empty list or dict is each row's own."""
    from duly.customers.models import Contract, Customer

    others = [make_customer(f"FR-{i}") for i in range(4)]
    for c, rate in zip([customer, *others], ["12", "12.50", "12", None, "8"]):
        make_contract(c, terms_kind="net", terms_days=30, late_fee_kind="interest_annual" if rate else "none",
                      **({"late_rate_percent": Decimal(rate)} if rate else {}))
    for model in (Contract, Customer):
        names = [f.attname for f in model._meta.concrete_fields]
        expected = list(model.objects.order_by("id").values_list(*names))
        got = fetch_rows(model.objects.order_by("id").values_list(*names))
        assert len(got) == 5 and got == expected, model.__name__
        assert [[(type(v), str(v)) for v in row] for row in got] == [
            [(type(v), str(v)) for v in row] for row in expected]
    names = [f.attname for f in Customer._meta.concrete_fields]
    rows, tags = fetch_rows(Customer.objects.order_by("id").values_list(*names)), names.index("tags")
    assert rows[0][tags] == [] and rows[0][tags] is not rows[1][tags]  # not one shared empty list
