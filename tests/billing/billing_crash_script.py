"""Helper run in subprocesses by test_run.py (not a test): seed a database, bill it, report what is there.

Usage: ``python billing_crash_script.py seed N | bill AS_OF BATCH_SIZE [KILL_IN_BATCH]`` with ``DATABASE_URL``
pointing at a throw-away SQLite file. With ``KILL_IN_BATCH`` = k, the process SIGKILLs itself inside
batch k (counted from 0), after that batch's writes and before its commit, through the run's
``checkpoint`` callback.
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


def seed(n: int) -> None:
    from django.core.management import call_command

    from duly.billing import services
    from duly.customers.services import create_contract, create_customer, create_organization

    call_command("migrate", verbosity=0)
    org = create_organization(name="Crash Test SAS", slug="crash", country="FR", default_currency="EUR",
                              address_line1="1 rue A", postcode="75001", city="Paris")
    product = services.create_product(org, code="PRO", name="Pro plan", tax_rate=20)
    price = services.create_price(org, product, code="pro", currency="EUR",
                                  model_config={"model": "flat", "amount": "10.00"})
    for i in range(n):
        customer = create_customer(org, code=f"C{i:03}", name=f"Customer {i}", country="FR", city="Lyon",
                                   address_line1="2 rue B")
        create_contract(org, customer, reference=f"CT{i:03}", start_date=date(2026, 1, 1))
        services.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))


def bill(as_of: str, batch_size: int, kill_in_batch: int | None = None) -> None:
    """Report what is there, bill, report again (one JSON line)."""
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    def checkpoint(batch: int) -> None:
        if batch == kill_in_batch:
            os.kill(os.getpid(), signal.SIGKILL)  # die with this batch written but not committed

    before = report()
    result = run_billing(Organization.objects.get(slug="crash"), date.fromisoformat(as_of), batch_size=batch_size,
                         checkpoint=checkpoint)
    print(json.dumps({"before": before, "result": result.as_dict(), "after": report()}))


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


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seed": lambda: seed(int(args[0])),
     "bill": lambda: bill(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None)}[command]()
