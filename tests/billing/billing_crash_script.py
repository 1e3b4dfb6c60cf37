"""Helper run in subprocesses by test_run.py (not a test): seed a database, bill it, report what is there.

Usage: ``python billing_crash_script.py seed N [mixed] | bill AS_OF BATCH_SIZE [KILL_IN_BATCH [WORKERS]] | dump``
with ``DATABASE_URL`` pointing at a throw-away database. With ``KILL_IN_BATCH`` = k (-1: none), the process
SIGKILLs itself inside batch k (counted from 0), after that batch's writes and before its commit, through
the run's ``checkpoint`` callback. ``WORKERS``: the run's planning processes (default: the run decides).
``seed N mixed`` gives the customers seats, metered API usage in arrears and a pending charge too;
``dump`` prints every invoice, line, billing record and subscription cursor (no timestamps) as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import date

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

import django  # noqa: E402

django.setup()


def seed(n: int, mixed: bool = False) -> None:
    from django.core.management import call_command

    from duly.billing import services
    from duly.customers.services import create_contract, create_customer, create_organization

    call_command("migrate", verbosity=0)
    org = create_organization(name="Crash Test SAS", slug="crash", country="FR", default_currency="EUR",
                              address_line1="1 rue A", postcode="75001", city="Paris")
    product = services.create_product(org, code="PRO", name="Pro plan", tax_rate=20)
    price = services.create_price(org, product, code="pro", currency="EUR",
                                  model_config={"model": "flat", "amount": "10.00"})
    prices = [(price, 1)]
    if mixed:
        seat = services.create_price(org, product, code="seat", currency="EUR",
                                     model_config={"model": "per_unit", "unit_price": "4.50"})
        api = services.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
        calls = services.create_price(org, product, code="api", currency="EUR", quantity_source="usage", metric=api,
                                      model_config={"model": "graduated", "tiers": [
                                          {"up_to": "100", "unit_price": "0"}, {"up_to": None, "unit_price": "0.01"}]})
    for i in range(n):
        customer = create_customer(org, code=f"C{i:03}", name=f"Customer {i}", country="FR", city="Lyon",
                                   address_line1="2 rue B")
        create_contract(org, customer, reference=f"CT{i:03}", start_date=date(2026, 1, 1))
        if mixed:
            prices = [(price, 1), (seat, i % 7 + 1)] + ([(calls, 1)] if i % 3 == 0 else [])
        sub = services.create_subscription(org, customer, prices, start_date=date(2026, 1, 1),
                                           as_of=date(2026, 1, 1))
        if mixed and i % 3 == 0:
            from duly.billing.usage_services import record_usage_event
            for k in range(3):
                record_usage_event(org, idempotency_key=f"u{i}-{k}", customer=customer.code, metric="api_calls",
                                   timestamp=f"2026-01-{10 + k}T12:00:00+00:00", value=40 * (i + k))
        if mixed and i % 5 == 0:
            services.add_item(org, sub, seat, 1, on=date(2026, 1, 16), as_of=date(2026, 1, 16))


def bill(as_of: str, batch_size: int, kill_in_batch: int | None = None, workers: int | None = None) -> None:
    """Report what is there, bill, report again (one JSON line)."""
    from duly.billing.runner import execute as run
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    if os.environ.get("WINDOW_BATCHES"):  # batches per transaction of a parallel run
        run.WINDOW_BATCHES = int(os.environ["WINDOW_BATCHES"])
    if os.environ.get("COPY_MIN_ROWS"):  # from how many rows PostgreSQL inserts are written with COPY
        from duly.db import fastpath

        fastpath.COPY_MIN_ROWS = int(os.environ["COPY_MIN_ROWS"])
    id_range = None
    if os.environ.get("ID_RANGE"):  # "first:end" (end empty: no bound): bill that partition of the customers
        first, _, end = os.environ["ID_RANGE"].partition(":")
        id_range = (int(first), int(end) if end else None)
    if os.environ.get("PLANNER_DIES"):  # the first planning process to plan a batch dies (as if killed)
        _PLAN.append(run._plan_in_worker)
        run._plan_in_worker = _dying_planner

    def checkpoint(batch: int) -> None:
        if batch == kill_in_batch:
            os.kill(os.getpid(), signal.SIGKILL)  # die with this batch written but not committed

    before = report()
    result = run_billing(Organization.objects.get(slug="crash"), date.fromisoformat(as_of), batch_size=batch_size,
                         checkpoint=checkpoint, workers=workers, id_range=id_range)
    print(json.dumps({"before": before, "result": result.as_dict(), "after": report()}))


_PLAN: list = []


def _dying_planner(chunk):
    try:
        os.close(os.open(os.environ["PLANNER_DIES"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return _PLAN[0](chunk)
    os._exit(1)


def report() -> dict:
    from django.db.models import Count

    from duly.billing.models import BillingRecord
    from duly.invoicing.models import Invoice

    return {
        "numbers": sorted(Invoice.objects.values_list("number", flat=True)),
        "records_per_period": sorted(
            BillingRecord.objects.values("subscription_id", "period_start").annotate(n=Count("id"))
            .values_list("n", flat=True)),
        "records": BillingRecord.objects.count(),
        "invoiced_records": BillingRecord.objects.filter(invoice__isnull=False).count(),
    }


def dump() -> None:
    from duly.billing.models import BillingRecord, PendingCharge, Subscription
    from duly.invoicing.models import Invoice, InvoiceLine

    def rows(qs, exclude=("id", "issued_at", "created_at", "updated_at")):
        names = [f.attname for f in qs.model._meta.concrete_fields if f.attname not in exclude]
        return [[str(v) for v in row] for row in qs.order_by("pk").values_list(*names)]

    print(json.dumps({
        "invoices": rows(Invoice.objects.all()),
        "lines": rows(InvoiceLine.objects.all(), ("id", "invoice_id", "created_at")),
        "line_invoices": list(InvoiceLine.objects.order_by("pk").values_list("invoice__number", flat=True)),
        "records": rows(BillingRecord.objects.all(), ("id", "invoice_id", "created_at")),
        "record_invoices": list(BillingRecord.objects.order_by("pk").values_list("invoice__number", flat=True)),
        "cursors": rows(Subscription.objects.all()),
        "pending": list(PendingCharge.objects.order_by("pk").values_list("invoice__number", flat=True)),
    }))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    kill = int(args[2]) if len(args) > 2 and int(args[2]) >= 0 else None
    {"seed": lambda: seed(int(args[0]), mixed=len(args) > 1 and args[1] == "mixed"),
     "bill": lambda: bill(args[0], int(args[1]), kill, int(args[3]) if len(args) > 3 else None),
     "dump": dump}[command]()
