"""`duly subscriptions add-item|remove-item|cancel --preview` show what the command would settle and change nothing;
run without it (with `--expect-net` the net previewed), the command books exactly the previewed amounts, and a
stale `--expect-net` is refused (`proration_changed`) with nothing written."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from duly.billing import services
from duly.billing.models import PendingCharge, Subscription
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def duly(*args):
    from duly.cli import main

    return CliRunner().invoke(main, [*args, "--org", "atelier"])


@pytest.fixture
def sub(org, customer, contract, catalog):
    made = services.create_subscription(org, customer, [(catalog["per_unit"], 5), (catalog["flat"], 1)],
                                        start_date=date(2026, 1, 1), as_of=date(2026, 1, 1), contract=contract,
                                        reference="CLI-P")
    services.run_billing(org, date(2026, 1, 1))  # January invoiced in advance
    return made


def _notes():
    return Invoice.objects.filter(kind=Invoice.KIND_CREDIT_NOTE)


def test_add_item_preview_then_booked(sub):
    args = ("subscriptions", "add-item", "CLI-P", "--price", "seat", "--quantity", "2", "--on", "2026-01-16",
            "--as-of", "2026-01-16")
    dry = duly(*args, "--preview")
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing changed" in dry.output and "net     10.32 EUR" in dry.output
    assert not PendingCharge.objects.exists() and sub.items.count() == 2
    preview = json.loads(duly(*args, "--preview", "--format", "json").output)["proration"]
    assert (preview["net"], preview["booked"], preview["charge"]) == ("10.32", "charge", "10.32")
    done = duly(*args, "--expect-net", preview["net"])
    assert done.exit_code == 0 and "added item" in done.output, done.output
    assert PendingCharge.objects.get().amount_minor == 1032 and sub.items.count() == 3


def test_remove_item_preview_then_booked(sub):
    args = ("subscriptions", "remove-item", "CLI-P", "--item", "seat", "--on", "2026-01-21", "--as-of", "2026-01-21")
    preview = json.loads(duly(*args, "--preview", "--format", "json").output)["proration"]
    assert (preview["net"], preview["booked"], preview["credit_note"]) == ("-17.74", "credit", "17.74")
    assert not _notes().exists()
    done = duly(*args, "--expect-net", "-17.74")
    assert done.exit_code == 0 and "credit  Retrait : Seats" in done.output, done.output
    assert _notes().get().lines.get().net_minor == 1774


def test_cancel_preview_then_booked_and_a_stale_confirmation_refused(sub):
    args = ("subscriptions", "cancel", "CLI-P", "--on", "2026-01-21", "--now", "--as-of", "2026-01-21")
    dry = duly(*args, "--preview")
    assert dry.exit_code == 0 and "service ends on 2026-01-21" in dry.output and "-53.22 EUR" in dry.output
    sub.refresh_from_db()
    assert sub.status == Subscription.ACTIVE and not _notes().exists()
    stale = duly(*args, "--expect-net", "-50.00")
    assert stale.exit_code == 2 and stale.output.strip().endswith("[proration_changed]"), stale.output
    sub.refresh_from_db()
    assert sub.status == Subscription.ACTIVE and not _notes().exists()
    done = duly(*args, "--expect-net", "-53.22", "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["proration"]["net"] == "-53.22"
    assert sorted(line.net_minor for line in _notes().get().lines.all()) == [1774, 3548]
