"""Gapless numbering under 16 concurrent issuers on PostgreSQL, including issuers that roll back."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from duly.invoicing import services
from duly.invoicing.models import Invoice


class Abort(Exception):
    pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_issue_gapless_numbers(org, customer, contract):
    drafts = [
        services.create_draft(org, customer, [services.LineData("Work", Decimal(1), Decimal(100))], contract=contract).pk
        for _ in range(32)
    ]
    barrier = threading.Barrier(16)
    errors = []

    def worker(ids):
        try:
            barrier.wait()
            for n, pk in enumerate(ids):
                if n % 2:  # every other issue rolls back after taking its number: the number must be reused
                    try:
                        with transaction.atomic():
                            services.issue_invoice(org, pk, issue_date=date(2026, 5, 4))
                            raise Abort
                    except Abort:
                        pass
                else:
                    services.issue_invoice(org, pk, issue_date=date(2026, 5, 4))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(drafts[i * 2:(i + 1) * 2],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    numbers = sorted(Invoice.objects.filter(status=Invoice.ISSUED).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:05}" for n in range(1, 17)]
    assert Invoice.objects.filter(status=Invoice.DRAFT).count() == 16
