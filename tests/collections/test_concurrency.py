"""Two at once, on PostgreSQL: the database constraints keep every side effect single."""

from __future__ import annotations

import threading
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.db import connection

from duly.collections.models import Dispute, LateFee
from duly.collections.services import assess_late_fees, open_dispute
from duly.domain.errors import DisputeAlreadyOpen

from .conftest import PARIS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def twice(fn):
    """Run ``fn`` in two threads released together; returns (results, errors)."""
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_two_staff_opening_a_query_on_the_same_invoice_at_once_open_one(org, customer, contract, make_invoice):
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))
    now = datetime.combine(date(2026, 4, 2), time(10), PARIS)
    results, errors = twice(lambda: open_dispute(org, invoice.pk, question="Montant ?", now=now))
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], DisputeAlreadyOpen)
    assert Dispute.objects.filter(invoice=invoice, status=Dispute.OPEN).count() == 1


def test_two_fee_runs_at_once_charge_a_late_paid_invoice_once(org, customer, make_contract, make_invoice, pay):
    ctr = make_contract(customer, reference="CTR-25", terms_kind="net", terms_days=30, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00")
    invoice = make_invoice(customer, ctr, issued=date(2026, 1, 1))  # due 31 January
    pay(customer, "1000.00", date(2026, 2, 20))
    results, errors = twice(lambda: assess_late_fees(org, as_of=date(2026, 2, 25)))
    assert not errors
    assert sum(len(r.assessed) for r in results) == 1
    assert [(f.level, f.amount_minor) for f in LateFee.objects.filter(invoice=invoice)] == [("fixed", 2500)]
    assert Decimal(sum(f.amount_minor for f in LateFee.objects.all())) == 2500
