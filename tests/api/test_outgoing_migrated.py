"""Invoices migrated from another system (``duly receivables import``, ``duly invoices import-ubl --as-issued``) are
receivables an integrator must learn of: each sends one ``invoice.issued`` event flagged ``"migrated": true``
(``origin`` ``migrated``), signed and delivered like any other; a refused import sends nothing, and the same
invoice never makes a second event."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

import pytest

from duly.api import outgoing_services as hooks
from duly.api.outgoing_delivery import deliver_webhooks
from duly.api.outgoing_models import WebhookEvent
from duly.domain.errors import DomainError
from duly.invoicing.migration_services import import_receivables
from duly.invoicing.models import Invoice
from duly.invoicing.signals import invoices_issued

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.webhook_receiver import receiver  # noqa: E402,F401 - a fixture

CSV = (b"customer,number,issue_date,due_date,amount,currency,paid\n"
       b"ACME,OLD-77,2026-01-06,2026-02-05,1500.00,EUR,300.00\n"
       b"ACME,OLD-78,2026-01-20,2026-02-19,80.00,EUR,0\n")


@pytest.fixture
def endpoint(org, receiver):
    new = hooks.create_endpoint(org, url=receiver.url, event_types=["invoice.issued"],
                                now=datetime(2026, 1, 1, tzinfo=dt_timezone.utc))
    receiver.secrets.append(new.secret)
    return new.endpoint


def _issued(org):
    return [e.payload for e in WebhookEvent.objects.filter(organization=org, event_type="invoice.issued")
            .order_by("pk")]


def test_each_migrated_invoice_sends_one_flagged_invoice_issued_event(org, customer, contract, endpoint, receiver):
    imported = import_receivables(org, CSV)
    assert [i.number for i in imported] == ["OLD-77", "OLD-78"]
    payloads = _issued(org)
    assert [(p["data"]["number"], p["data"]["migrated"], p["data"]["origin"]) for p in payloads] == [
        ("OLD-77", True, "migrated"), ("OLD-78", True, "migrated")]
    first = payloads[0]["data"]
    assert (first["issue_date"], first["due_date"]) == ("2026-01-06", "2026-02-05")
    assert first["total"] == {"amount_minor": 150000, "currency": "EUR"}
    # What the source says was already paid is the prepaid amount (nothing was settled in Duly).
    assert (first["prepaid"], first["paid"]) == ({"amount_minor": 30000, "currency": "EUR"},
                                                 {"amount_minor": 0, "currency": "EUR"})

    # Told again (a retried signal): still one event per invoice.
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=[i.pk for i in imported], migrated=True)
    assert len(_issued(org)) == 2

    deliver_webhooks(datetime.now(dt_timezone.utc) + timedelta(minutes=1))
    got = receiver.of_type("invoice.issued")
    assert sorted(r.payload["data"]["number"] for r in got) == ["OLD-77", "OLD-78"]
    assert all(r.verified and r.payload["data"]["migrated"] is True for r in got)


def test_a_refused_import_sends_nothing(org, customer, contract, endpoint):
    bad = CSV + b"NOPE,OLD-79,2026-01-20,2026-02-19,80.00,EUR,0\n"  # an unknown customer: all or nothing
    with pytest.raises(DomainError):
        import_receivables(org, bad)
    assert _issued(org) == [] and not Invoice.objects.filter(organization=org).exists()
    import_receivables(org, CSV)
    with pytest.raises(DomainError):  # the same receivables again: already imported
        import_receivables(org, CSV)
    assert len(_issued(org)) == 2


def test_an_invoice_issued_here_says_it_is_not_migrated(org, customer, contract, endpoint):
    from decimal import Decimal

    from duly.invoicing import services as inv

    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("10.00"))],
                             contract=contract)
    inv.issue_invoice(org, draft.pk, issue_date=datetime(2026, 3, 2).date())
    [event] = _issued(org)
    assert (event["data"]["migrated"], event["data"]["origin"]) == (False, "duly")
