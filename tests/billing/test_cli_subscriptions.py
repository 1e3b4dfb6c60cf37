"""`duly subscriptions`, `duly retainers` and `duly usage record`: each a call into the billing services; bad input
is `error: ... [code]`, exit 2, and nothing written; `change --dry-run` shows the proration and changes nothing."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from duly.billing import services
from duly.billing.models import (
    PendingCharge, PrepaidFunding, RetainerAgreement, Subscription, SubscriptionPause, UsageEvent,
)
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def duly(*args):
    from duly.cli import main

    return CliRunner().invoke(main, [*args, "--org", "atelier"])


def refused(result, text: str, code: str) -> None:
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and text in line and line.endswith(f"[{code}]"), line


def _created(customer, contract, catalog, quantity="5"):
    out = duly("subscriptions", "create", "--customer", "ACME", "--item", f"seat:{quantity}", "--start", "2026-01-01",
               "--reference", "CLI-1", "--as-of", "2026-01-01", "--format", "json")
    assert out.exit_code == 0, out.output
    return Subscription.objects.get(pk=json.loads(out.output)["id"])


def test_create_and_list(org, customer, contract, catalog):
    sub = _created(customer, contract, catalog)
    assert (sub.contract, [(i.price.code, i.quantity) for i in sub.items.all()]) == (contract, [("seat", 5)])
    listed = duly("subscriptions", "list", "--format", "json")
    assert listed.exit_code == 0
    [row] = json.loads(listed.output)
    assert (row["reference"], row["customer"], row["items"][0]["quantity"]) == ("CLI-1", "ACME", "5")
    text = duly("subscriptions", "list")
    assert "CLI-1\tACME\tactive" in text.output and "seat × 5" in text.output


def test_create_refuses_bad_input_and_writes_nothing(org, customer, contract, catalog):
    refused(duly("subscriptions", "create", "--customer", "ACME", "--item", "pro-usd", "--start", "2026-01-01"),
            "is in USD", "currency_mismatch")
    refused(duly("subscriptions", "create", "--customer", "NOPE", "--item", "seat", "--start", "2026-01-01"),
            "No customer with the code 'NOPE'", "not_found")
    refused(duly("subscriptions", "create", "--customer", "ACME", "--item", "seat:-2", "--start", "2026-01-01"),
            "cannot be negative", "invalid_input")
    assert not Subscription.objects.exists()


def test_change_dry_run_shows_the_proration_the_change_then_books(org, customer, contract, catalog):
    sub = _created(customer, contract, catalog)
    services.run_billing(org, date(2026, 1, 1))
    args = ("subscriptions", "change", "CLI-1", "--item", "seat", "--on", "2026-01-16", "--quantity", "8",
            "--as-of", "2026-01-16")
    dry = duly(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing changed" in dry.output
    assert "-25.81 EUR" in dry.output and "41.29 EUR" in dry.output and "net     15.48 EUR" in dry.output
    assert not PendingCharge.objects.exists() and sub.items.count() == 1
    preview = json.loads(duly(*args, "--dry-run", "--format", "json").output)["proration"]
    assert (preview["net"], preview["booked"]) == ("15.48", "charge")
    done = duly(*args)
    assert done.exit_code == 0 and "changed:" in done.output
    charge = PendingCharge.objects.get()
    # Booked in the customer's language (French), the preview's figures and words.
    assert charge.amount_minor == 1548 and charge.explanation == (
        "Reste du 16 janvier 2026 au 31 janvier 2026 au nouveau prix 41,29 − partie non utilisée de la période "
        "déjà facturée (INV-2026-00001) 25,81 = 15,48.")
    new_item = sub.items.get(ends_on__isnull=True)
    refused(duly("subscriptions", "change", "CLI-1", "--item", str(new_item.pk), "--on", "2026-01-10", "--quantity",
                 "2"), "it cannot change before", "invalid_schedule")
    assert PendingCharge.objects.count() == 1 and sub.items.count() == 2


def test_pause_resume_cancel(org, customer, contract, catalog):
    sub = _created(customer, contract, catalog)
    assert duly("subscriptions", "pause", "CLI-1", "--from", "2026-02-10", "--as-of", "2026-01-05").exit_code == 0
    refused(duly("subscriptions", "pause", "CLI-1", "--from", "2026-02-12"), "already paused", "invalid_state")
    assert duly("subscriptions", "resume", str(sub.pk), "--on", "2026-02-20", "--as-of", "2026-01-05").exit_code == 0
    assert SubscriptionPause.objects.get().resumes_on == date(2026, 2, 20)
    refused(duly("subscriptions", "resume", "CLI-1", "--on", "2026-03-01"), "is not paused", "invalid_state")
    out = duly("subscriptions", "cancel", "CLI-1", "--on", "2026-03-10", "--as-of", "2026-01-05")
    assert out.exit_code == 0 and "service ends on 2026-04-01" in out.output
    sub.refresh_from_db()
    assert sub.status == Subscription.CANCELED
    refused(duly("subscriptions", "cancel", "CLI-1", "--on", "2026-03-10"), "already canceled", "invalid_state")
    refused(duly("subscriptions", "pause", "NOPE", "--from", "2026-02-10"), "No subscription", "not_found")


def test_add_and_remove_items(org, customer, contract, catalog):
    sub = _created(customer, contract, catalog)
    assert duly("subscriptions", "add-item", "CLI-1", "--price", "pro-flat", "--on", "2026-02-01",
                "--as-of", "2026-01-05").exit_code == 0
    assert duly("subscriptions", "remove-item", "CLI-1", "--item", "pro-flat", "--on", "2026-03-01",
                "--as-of", "2026-01-05").exit_code == 0
    assert sub.items.get(price__code="pro-flat").ends_on == date(2026, 3, 1)


def test_retainers_start_and_top_up(org, customer, contract):
    refused(duly("retainers", "start", contract.reference, "--top-up", "500.001", "--threshold", "100"),
            "more decimals than EUR allows", "invalid_input")
    assert not RetainerAgreement.objects.exists() and not Invoice.objects.exists()
    out = duly("retainers", "start", contract.reference, "--top-up", "500", "--threshold", "100",
               "--as-of", "2026-01-02")
    assert out.exit_code == 0, out.output
    refused(duly("retainers", "start", contract.reference, "--top-up", "500", "--threshold", "100"),
            "already has a retainer", "invalid_state")
    out = duly("retainers", "top-up", contract.reference, "--amount", "120.50", "--as-of", "2026-01-05")
    assert out.exit_code == 0 and "120.50 EUR" in out.output
    assert sorted(PrepaidFunding.objects.values_list("amount_minor", flat=True)) == [12050, 50000]
    refused(duly("retainers", "top-up", "NOPE"), "No contract", "not_found")


def test_usage_record(org, customer, contract, catalog):
    services.create_subscription(org, customer, [(catalog["graduated_api"], 1)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1))
    args = ("usage", "record", "--customer", "ACME", "--metric", "api_calls", "--timestamp", "2026-01-15T10:00:00Z",
            "--key", "evt-1")
    assert duly(*args, "--value", "12").exit_code == 0
    again = duly(*args, "--value", "12")
    assert again.exit_code == 0 and "duplicate" in again.output
    assert UsageEvent.objects.get().value == Decimal(12)
    refused(duly("usage", "record", "--customer", "ACME", "--metric", "nope", "--timestamp", "2026-01-15T10:00:00Z",
                 "--key", "evt-2", "--value", "1"), "nope", "unknown_metric")
    assert UsageEvent.objects.count() == 1


def test_usage_licences(org, customer, contract, catalog):
    from duly.billing.models import LicenceSnapshot

    services.create_subscription(org, customer, [(catalog["licences"], 1)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1), reference="LIC-1")
    assert duly("usage", "licences", "LIC-1", "--day", "2026-01-05", "--count", "7").exit_code == 0
    assert duly("usage", "licences", "LIC-1", "--day", "2026-01-05", "--count", "9").exit_code == 0
    assert LicenceSnapshot.objects.get().active_count == 9
    services.run_billing(org, date(2026, 2, 1))
    refused(duly("usage", "licences", "LIC-1", "--day", "2026-01-06", "--count", "3"), "already invoiced",
            "closed_period")
    assert LicenceSnapshot.objects.count() == 1
