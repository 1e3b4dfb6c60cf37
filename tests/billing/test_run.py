"""The billing run: one invoice per customer and billing date, idempotent under reruns, crashes and concurrency."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection

from duly.billing import services
from duly.billing.models import BillingRecord, PendingCharge, Subscription
from duly.billing.tasks import scheduled_billing
from duly.invoicing.models import Invoice

SCRIPT = Path(__file__).with_name("billing_crash_script.py")


@pytest.mark.django_db
def test_one_invoice_per_customer_and_billing_date_with_the_contracts_due_date(org, customer, make_customer,
                                                                               make_contract, catalog, bill):
    make_contract(customer, terms_kind="end_of_month", terms_days=15)
    services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1))
    services.create_subscription(org, customer, [(catalog["per_unit"], 4), (catalog["graduated_api"], 1)],
                                 start_date=date(2026, 1, 1), as_of=date(2026, 1, 1), timing="arrears")
    services.record_usage(org, [{"idempotency_key": "a", "customer": "ACME", "metric": "api_calls",
                                 "timestamp": "2026-01-20T10:00:00Z", "value": "1500"}])
    other = make_customer("ZETA", name="Zeta SA")
    make_contract(other, terms_kind="net", terms_days=45)
    services.create_subscription(org, other, [(catalog["flat"], 1)], start_date=date(2026, 1, 10),
                                 as_of=date(2026, 1, 1), anchor_day=1)

    first = bill(date(2026, 1, 1))
    assert (first.invoices, first.customers) == (1, 1)
    result = bill(date(2026, 2, 1))
    # ACME: February in advance + January in arrears (4 seats and 1,500 calls) on ONE invoice. Zeta was due on
    # 10 January (its stub) and on 1 February: a late run issues one invoice per billing date.
    assert (result.invoices, result.customers, result.slots) == (3, 2, 4)
    acme = Invoice.objects.get(customer=customer, issue_date=date(2026, 2, 1))
    assert [line.description for line in acme.lines.order_by("position")] == [
        "Pro plan, 1er–28 février 2026",
        "Seats × 4, 1er–31 janvier 2026",
        "API calls\u00a0: total de 1\u202f500 API calls, 1er–31 janvier 2026",
    ]
    # 100.00 + 40.00 + 500 × 0.01 = 145.00 + 20% = 174.00; due at the end of February + 15 days.
    assert (acme.total, acme.due_date, acme.service_period_start, acme.service_period_end) == (
        Decimal("174.00"), date(2026, 3, 15), date(2026, 1, 1), date(2026, 2, 28))
    assert acme.payment_terms_text.startswith("Paiement au plus tard le 15 mars 2026")  # in the customer's words
    assert acme.rf_reference.startswith("RF") and acme.number == "INV-2026-00002"
    zeta = list(Invoice.objects.filter(customer=other).order_by("number"))
    assert [(z.issue_date, z.due_date, z.service_period_start, z.service_period_end, z.total) for z in zeta] == [
        # 22/31 × 100.00 = 70.97, + 20%:
        (date(2026, 2, 1), date(2026, 3, 18), date(2026, 1, 10), date(2026, 1, 31), Decimal("85.16")),
        (date(2026, 2, 1), date(2026, 3, 18), date(2026, 2, 1), date(2026, 2, 28), Decimal("120.00")),
    ]
    assert result.by_currency == {"EUR": {"invoices": 3, "total_minor": 17400 + 8516 + 12000,
                                          "payable_minor": 37916}}
    assert "Issued 3 invoice(s) for 2 customer(s)" in result.summary() and "379.16 EUR" in result.summary()

    again = bill(date(2026, 2, 1))
    assert (again.invoices, again.slots) == (0, 0) and again.summary() == "Nothing to bill as of 2026-02-01."


@pytest.mark.django_db
def test_a_customer_that_cannot_be_invoiced_is_left_out_and_the_others_are_billed(org, make_customer, make_contract,
                                                                                 catalog, bill):
    from duly.customers.services import update_customer

    strict = make_customer("PO", name="Initech SA", required_fields=["po_number"])
    make_contract(strict)
    easy = make_customer("EASY", name="Easy SARL")
    make_contract(easy)
    for c in (strict, easy):
        services.create_subscription(org, c, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    result = bill(date(2026, 1, 1))
    assert result.invoices == 1
    assert result.skipped == [("PO", "Initech SA requires the field 'PO number' on every invoice; it is missing. "
                                     "To fix it: set the PO number on contract CTR-PO (back office: Customers › "
                                     "Contracts); then bill again.")]
    assert Subscription.objects.get(customer=strict).next_bill_on == date(2026, 1, 1)  # still due
    assert not BillingRecord.objects.filter(subscription__customer=strict).exists()

    update_customer(strict, required_fields=[])
    assert bill(date(2026, 1, 2)).invoices == 1
    assert Invoice.objects.get(customer=strict).service_period_start == date(2026, 1, 1)


@pytest.mark.django_db
def test_duly_bill_exits_3_when_it_leaves_customers_out_and_says_what_to_fix_where(org, make_customer, make_contract,
                                                                                   catalog):
    from duly.cli import main

    strict = make_customer("PO", name="Initech SA", required_fields=["po_number", "cost_centre"])
    make_contract(strict, reference="CTR-2026-017")
    custom = make_customer("PRJ", name="Globex SA", custom_required_fields=["Project code"])
    make_contract(custom, reference="CTR-2026-018")
    easy = make_customer("EASY", name="Easy SARL")
    make_contract(easy)
    for c in (strict, custom, easy):
        services.create_subscription(org, c, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    out = CliRunner().invoke(main, ["bill", "--as-of", "2026-01-01", "--org", "atelier"])
    assert out.exit_code == 3, out.output
    assert "Issued 1 invoice(s) for 1 customer(s)" in out.output and "2 customer(s) left out" in out.output
    assert ("  left out PO: Initech SA requires the field 'PO number' on every invoice; it is missing (also missing: "
            "cost centre). To fix it: set the PO number on contract CTR-2026-017 (back office: Customers › Contracts); "
            "set the cost centre on customer PO (back office: Customers › Customers), which every invoice of theirs "
            "copies; then bill again.") in out.output
    assert ("  left out PRJ: Globex SA requires the field 'Project code' on every invoice; it is missing. To fix it: "
            "invoice contract CTR-2026-018 by hand with the custom field 'Project code' (a billing run fills no custom "
            "field), or no longer require it on customer PRJ; then bill again.") in out.output
    out = CliRunner().invoke(main, ["bill", "--as-of", "2026-01-01", "--org", "atelier", "--format", "json"])
    assert out.exit_code == 3
    report = json.loads(out.output[out.output.index("{"):])
    assert [s["customer"] for s in report["skipped"]] == ["PO", "PRJ"] and report["invoices"] == 0
    strict.required_fields = []
    strict.save(update_fields=["required_fields"])
    custom.custom_required_fields = []
    custom.save(update_fields=["custom_required_fields"])
    out = CliRunner().invoke(main, ["bill", "--as-of", "2026-01-01", "--org", "atelier"])
    assert out.exit_code == 0 and "Issued 2 invoice(s) for 2 customer(s)" in out.output


@pytest.mark.django_db
def test_duly_bill_command_reports_by_currency(org, customer, contract, catalog):
    from duly.cli import main

    services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 3)],
                                 start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    runner = CliRunner()
    out = runner.invoke(main, ["bill", "--as-of", "2026-01-01", "--org", "atelier"])
    assert out.exit_code == 0, out.output
    assert "Issued 1 invoice(s) for 1 customer(s) as of 2026-01-01 (1 subscription period(s)): 156.00 EUR." \
        in out.output
    assert "EUR: 1 invoice(s), total 156.00, to pay 156.00" in out.output
    out = runner.invoke(main, ["bill", "--as-of", "2026-02-01", "--org", "atelier", "--format", "json"])
    report = json.loads(out.output[out.output.index("{"):])
    assert report["invoices"] == 1 and report["by_currency"] == {"EUR": {"invoices": 1, "total": "156.00",
                                                                         "payable": "156.00"}}
    assert report["first_number"] == report["last_number"] == "INV-2026-00002"
    out = runner.invoke(main, ["bill", "--as-of", "2026-02-01", "--org", "atelier"])
    assert "Nothing to bill as of 2026-02-01." in out.output
    out = runner.invoke(main, ["bill", "--as-of", "31/01/2026", "--org", "atelier"])
    assert out.exit_code == 2
    out = runner.invoke(main, ["bill", "--as-of", "2026-03-01", "--org", "atelier", "--workers", "0"])
    assert out.exit_code == 2 and "--workers" in out.output
    assert not Invoice.objects.filter(issue_date=date(2026, 3, 1)).exists()
    out = runner.invoke(main, ["bill", "--as-of", "2026-03-01", "--org", "atelier", "--workers", "1",
                               "--format", "json"])
    report = json.loads(out.output[out.output.index("{"):])
    assert report["invoices"] == 1 and report["planning_processes"] == 1


@pytest.mark.django_db
def test_the_scheduler_job_bills_each_organization_on_its_local_date(org, customer, contract, catalog):
    services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 2, 1),
                                 as_of=date(2026, 1, 1))
    scheduled_billing(datetime(2026, 1, 31, 22, 30, tzinfo=timezone.utc))  # 23:30 in Paris: still January
    assert not Invoice.objects.exists()
    scheduled_billing(datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc))  # 00:30 on 1 February in Paris
    assert Invoice.objects.get().issue_date == date(2026, 2, 1)


@pytest.mark.django_db
def test_one_failing_organization_does_not_stop_the_scheduled_billing_of_the_others(
        org, other_org, customer, contract, catalog, make_customer, make_contract, monkeypatch, caplog):
    from django.db import OperationalError

    from duly.billing import run

    services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 2, 1),
                                 as_of=date(2026, 1, 1))
    london = make_customer("LDN", organization=other_org, currency="GBP", country="GB", timezone="Europe/London")
    make_contract(london)
    product = services.create_product(other_org, code="PRO", name="Pro plan", tax_rate=Decimal("20"))
    price = services.create_price(other_org, product, code="pro-gbp", currency="GBP",
                                  model_config={"model": "flat", "amount": "80.00"})
    services.create_subscription(other_org, london, [(price, 1)], start_date=date(2026, 2, 1),
                                 as_of=date(2026, 1, 1))
    real = run.run_billing

    def broken_for_atelier(organization, as_of, **kwargs):
        if organization.pk == org.pk:
            raise OperationalError("database is locked")
        return real(organization, as_of, **kwargs)

    monkeypatch.setattr(run, "run_billing", broken_for_atelier)
    report = scheduled_billing(datetime(2026, 2, 1, 8, tzinfo=timezone.utc))
    # Atelier (billed first) failed: Northwind is billed all the same, and the failure is logged and reported.
    assert report.failures == {"atelier": "OperationalError: database is locked"}
    assert report.results["northwind"].invoices == 1
    assert Invoice.objects.get().customer == london
    assert "Billing run of atelier as of 2026-02-01 failed" in caplog.text
    assert "northwind: Issued 1 invoice(s)" in report.summary() and "Failed: atelier" in report.summary()

    monkeypatch.setattr(run, "run_billing", real)
    retried = scheduled_billing(datetime(2026, 2, 1, 9, tzinfo=timezone.utc))  # the next pass bills atelier
    assert (retried.failures, retried.results["atelier"].invoices, retried.results["northwind"].invoices) == (
        {}, 1, 0)


@pytest.fixture
def upgraded(org, customer, contract, catalog, bill):
    """ACME billed for January in advance, then a seat added on 15 January: a pending charge for February."""
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1))
    bill(date(2026, 1, 1))
    services.add_item(org, sub, catalog["per_unit"], 1, on=date(2026, 1, 15), as_of=date(2026, 1, 15))
    return PendingCharge.objects.get()


@pytest.mark.django_db
def test_a_batch_that_hits_a_concurrent_run_is_rolled_back_and_retried(org, customer, upgraded, monkeypatch):
    from django.db import IntegrityError

    from duly.billing.runner import execute as run

    real, calls = run._bill_batch, []

    def conflicting_once(*args, **kwargs):
        calls.append(1)
        real(*args, **kwargs)  # writes everything, then the unique key of a billed period fails:
        if len(calls) == 1:
            raise IntegrityError("UNIQUE constraint failed: billing_billingrecord.subscription_id, period_start")

    monkeypatch.setattr(run, "_bill_batch", conflicting_once)
    result = services.run_billing(org, date(2026, 2, 1))
    assert len(calls) == 2 and (result.invoices, result.slots, result.skipped) == (1, 1, [])
    # The first attempt left nothing behind: one February invoice, the next number, the charge on it once.
    february = Invoice.objects.get(issue_date=date(2026, 2, 1))
    assert february.number == "INV-2026-00002" and result.numbers == ["INV-2026-00002"]
    assert BillingRecord.objects.filter(period_start=date(2026, 2, 1)).count() == 1
    upgraded.refresh_from_db()
    assert upgraded.invoice == february
    assert february.lines.filter(description__startswith="Ajout : Seats").count() == 1


@pytest.mark.django_db
def test_a_batch_that_keeps_conflicting_leaves_its_customers_for_the_next_run(org, customer, upgraded, monkeypatch):
    from django.db import IntegrityError

    from duly.billing.runner import execute as run

    def always_conflicting(*args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr(run, "_bill_batch", always_conflicting)
    result = services.run_billing(org, date(2026, 2, 1))
    assert result.invoices == 0
    assert result.skipped == [("ACME", "conflict with a concurrent billing run; retry")]
    monkeypatch.undo()
    assert services.run_billing(org, date(2026, 2, 1)).numbers == ["INV-2026-00002"]  # no number was lost


@pytest.mark.django_db
def test_a_pending_charge_claimed_by_another_run_meanwhile_is_not_billed_again(org, customer, upgraded,
                                                                             monkeypatch):
    from duly.billing.runner import load as run

    january = Invoice.objects.get()
    real = run._Batch._load_pending

    def claimed_by_another_run(batch):
        real(batch)  # the batch read the charge as unbilled; another run puts it on its invoice right after
        PendingCharge.objects.filter(pk=upgraded.pk).update(invoice=january)

    monkeypatch.setattr(run._Batch, "_load_pending", claimed_by_another_run)
    result = services.run_billing(org, date(2026, 2, 1))
    # The claim matched no unbilled row: every attempt rolled back whole (its invoice and number too).
    assert (result.invoices, result.skipped) == (0, [("ACME", "conflict with a concurrent billing run; retry")])
    assert list(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-00001"]
    upgraded.refresh_from_db()
    assert upgraded.invoice is None
    monkeypatch.undo()
    result = services.run_billing(org, date(2026, 2, 1))
    upgraded.refresh_from_db()
    assert result.numbers == ["INV-2026-00002"] and upgraded.invoice.number == "INV-2026-00002"


def _script(home: Path, *args: str, check: bool = True, database_url: str | None = None
            ) -> subprocess.CompletedProcess:
    environ = {**os.environ, "DULY_HOME": str(home),
               "DATABASE_URL": database_url or f"sqlite:///{home / 'crash.sqlite3'}",
               "DJANGO_SETTINGS_MODULE": "duly.settings"}
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environ,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_a_run_killed_mid_way_and_restarted_leaves_no_duplicate_and_no_gap(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "crash.sqlite3")
    _script(tmp_path, "seed", "12")
    crashed = _script(tmp_path, "bill", "2026-01-01", "5", "2", check=False)
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL inside the third batch, before its commit

    rerun = json.loads(_script(tmp_path, "bill", "2026-01-01", "5").stdout)
    after_crash = rerun["before"]
    assert after_crash["numbers"] == [f"INV-2026-{n:05}" for n in range(1, 11)]  # two committed batches of 5
    assert after_crash["records"] == 10
    assert rerun["result"]["invoices"] == 2 and rerun["result"]["first_number"] == "INV-2026-00011"
    final = rerun["after"]
    assert final["numbers"] == [f"INV-2026-{n:05}" for n in range(1, 13)]
    assert final["records_per_period"] == [1] * 12 and final["invoiced_records"] == 12
    assert json.loads(_script(tmp_path, "bill", "2026-01-01", "5").stdout)["result"]["invoices"] == 0


def _bill(home: Path, *args: str, database_url: str | None = None) -> dict:
    return json.loads(_script(home, "bill", *args, database_url=database_url).stdout)


def _dump(home: Path, database_url: str | None = None) -> dict:
    return json.loads(_script(home, "dump", database_url=database_url).stdout)


def test_planning_processes_bill_exactly_what_one_process_bills(tmp_path, migrated_sqlite):
    # 40 customers with seats, a seat added mid-January (prorated), metered API usage billed in arrears:
    # January and February are both due. Batches of 5: 8 batches, planned by 2 forked processes.
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    migrated_sqlite(serial / "crash.sqlite3")
    _script(serial, "seed", "40", "mixed")
    parallel.mkdir()
    (parallel / "crash.sqlite3").write_bytes((serial / "crash.sqlite3").read_bytes())

    one = _bill(serial, "2026-02-01", "5", "-1", "1")["result"]
    two = _bill(parallel, "2026-02-01", "5", "-1", "2")["result"]
    assert one["planning_processes"] == 1 and two["planning_processes"] == 2
    assert one["invoices"] == two["invoices"] == 80 and one["by_currency"] == two["by_currency"]
    assert (one["first_number"], one["last_number"]) == (two["first_number"], two["last_number"]) == (
        "INV-2026-00001", "INV-2026-00080")
    # Every invoice, line, billing record and subscription cursor is the same, numbers included.
    assert _dump(serial) == _dump(parallel)
    again = _bill(parallel, "2026-02-01", "5", "-1", "2")["result"]
    assert again["invoices"] == 0


def test_a_parallel_run_killed_mid_way_and_restarted_leaves_no_duplicate_and_no_gap(tmp_path, monkeypatch, migrated_sqlite):
    migrated_sqlite(tmp_path / "crash.sqlite3")
    _script(tmp_path, "seed", "30")
    monkeypatch.setenv("WINDOW_BATCHES", "2")  # transactions of two batches of 5
    crashed = _script(tmp_path, "bill", "2026-01-01", "5", "3", "2", check=False)
    monkeypatch.delenv("WINDOW_BATCHES")
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL in the fourth batch, before its window commits

    rerun = _bill(tmp_path, "2026-01-01", "5", "-1", "2")
    after_crash = rerun["before"]
    # The first window (batches 0 and 1) was committed; the second (2 and 3, written) was rolled back whole.
    assert after_crash["numbers"] == [f"INV-2026-{n:05}" for n in range(1, 11)]
    assert after_crash["records"] == 10
    assert rerun["result"]["invoices"] == 20 and rerun["result"]["first_number"] == "INV-2026-00011"
    final = rerun["after"]
    assert final["numbers"] == [f"INV-2026-{n:05}" for n in range(1, 31)]
    assert final["records_per_period"] == [1] * 30 and final["invoiced_records"] == 30
    assert _bill(tmp_path, "2026-01-01", "5", "-1", "2")["result"]["invoices"] == 0


def test_two_parallel_runs_at_once_bill_nothing_twice(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "crash.sqlite3")
    _two_parallel_runs_at_once(tmp_path, f"sqlite:///{tmp_path / 'crash.sqlite3'}")


def _two_parallel_runs_at_once(tmp_path: Path, database_url: str) -> None:
    _script(tmp_path, "seed", "40", "mixed", database_url=database_url)
    environ = {**os.environ, "DULY_HOME": str(tmp_path), "DATABASE_URL": database_url,
               "DJANGO_SETTINGS_MODULE": "duly.settings", "WINDOW_BATCHES": "3"}
    runs = [subprocess.Popen([sys.executable, str(SCRIPT), "bill", "2026-02-01", "5", "-1", "2"], env=environ,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    results = [json.loads(out.strip().splitlines()[-1])["result"] for out, _ in outputs]
    assert sum(r["invoices"] for r in results) == 80 and not any(r["skipped"] for r in results)
    final = _dump(tmp_path, database_url)
    # 40 customers × (January, February): each period billed once, on its own invoice, numbered without a gap.
    assert len(final["invoices"]) == 80 and len(final["records"]) == 80
    assert sorted(final["record_invoices"]) == [f"INV-2026-{n:05}" for n in range(1, 81)]


def test_a_run_whose_planning_process_dies_goes_on_in_one_process(tmp_path, monkeypatch, migrated_sqlite):
    migrated_sqlite(tmp_path / "crash.sqlite3")
    _script(tmp_path, "seed", "30")
    monkeypatch.setenv("PLANNER_DIES", str(tmp_path / "died"))
    run = _bill(tmp_path, "2026-01-01", "5", "-1", "2")
    assert (tmp_path / "died").exists()
    assert run["result"]["planning_processes"] == 1 and run["result"]["invoices"] == 30
    assert run["after"]["numbers"] == [f"INV-2026-{n:05}" for n in range(1, 31)]
    assert run["after"]["records_per_period"] == [1] * 30


def test_a_customers_credit_is_applied_to_the_invoice_the_run_issues_and_frozen_in_its_document(
        org, customer, contract, make_customer, make_contract, catalog, bill):
    from duly.payments import services as payments

    other = make_customer("ZETA", name="Zeta SA")
    make_contract(other)
    for who in (customer, other):
        services.create_subscription(org, who, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1))
    bill(date(2026, 1, 1))  # 120.00 each
    payments.record_payment(org, customer, amount="150", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 1, 10))  # 30.00 over: credit
    assert payments.credit_balance_minor(customer, "EUR") == 3000

    bill(date(2026, 2, 1))
    acme = Invoice.objects.get(customer=customer, issue_date=date(2026, 2, 1))
    zeta = Invoice.objects.get(customer=other, issue_date=date(2026, 2, 1))
    assert acme.status == Invoice.PARTIALLY_PAID and acme.balance == Decimal("90.00")
    assert acme.document_snapshot["paid_minor"] == 3000  # what the PDF shows as already paid
    assert zeta.status == Invoice.ISSUED and zeta.balance == Decimal("120.00")
    assert zeta.document_snapshot["paid_minor"] == 0
    assert payments.credit_balance_minor(customer, "EUR") == 0


@pytest.mark.django_db
def test_a_run_plans_in_its_own_process_where_forking_planners_would_be_wrong_or_wasted():
    from duly.billing.run import planning_workers

    assert planning_workers(1, 100) == 1  # asked for
    assert planning_workers(4, 2) == 1  # too few batches to pay for the processes
    assert connection.in_atomic_block  # a test's transaction: other processes could not see its rows
    assert planning_workers(4, 100) == 1
    seen = []
    thread = threading.Thread(target=lambda: seen.append(planning_workers(4, 100)))  # e.g. duly serve's scheduler
    thread.start()
    thread.join()
    assert seen == [1]


@contextlib.contextmanager
def _pg_databases(*kinds: str):
    """Throw-away PostgreSQL databases (URLs) beside the suite's; the first seeded by the caller, the others
    made from it with ``clone(kind)``."""
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    names = {kind: f"duly_parallel_{os.getpid()}_{kind}" for kind in kinds}
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {names[kinds[0]]}")

        def clone(kind: str) -> None:
            admin.execute(f"CREATE DATABASE {names[kind]} TEMPLATE {names[kinds[0]]}")

        try:
            yield {kind: f"{base}/{name}" for kind, name in names.items()}, clone
        finally:
            for name in names.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
def test_planning_processes_on_postgresql_bill_exactly_what_one_process_bills(tmp_path):
    with _pg_databases("serial", "parallel") as (urls, clone):
        _script(tmp_path, "seed", "40", "mixed", database_url=urls["serial"])
        clone("parallel")
        one = _bill(tmp_path, "2026-02-01", "5", "-1", "1", database_url=urls["serial"])["result"]
        two = _bill(tmp_path, "2026-02-01", "5", "-1", "2", database_url=urls["parallel"])["result"]
        assert one["planning_processes"] == 1 and two["planning_processes"] == 2
        assert one["invoices"] == two["invoices"] == 80
        assert _dump(tmp_path, urls["serial"]) == _dump(tmp_path, urls["parallel"])
        assert _bill(tmp_path, "2026-02-01", "5", "-1", "2", database_url=urls["parallel"])["result"]["invoices"] == 0


@pytest.mark.postgres
def test_two_parallel_runs_at_once_on_postgresql_bill_nothing_twice(tmp_path):
    with _pg_databases("concurrent") as (urls, _):
        _two_parallel_runs_at_once(tmp_path, urls["concurrent"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_bill_nothing_twice(org, make_customer, make_contract, catalog):
    # Seven customers billed only for a pending charge (January only, then a seat added mid-January).
    # They come first, so both runs start on the batch of these seven, which has no subscription due.
    pending_only, ending = [], []
    for i in range(7):
        customer = make_customer(f"P{i:02}")
        make_contract(customer)
        ending.append(services.create_subscription(org, customer, [(catalog["flat"], 1)],
                                                   start_date=date(2026, 1, 1), end_date=date(2026, 2, 1),
                                                   as_of=date(2026, 1, 1)))
        pending_only.append(customer)
    assert services.run_billing(org, date(2026, 1, 1)).invoices == 7
    for sub in ending:
        services.add_item(org, sub, catalog["per_unit"], 1, on=date(2026, 1, 15), as_of=date(2026, 1, 15))
    assert not Subscription.objects.filter(next_bill_on__isnull=False).exists()
    customers = []
    for i in range(30):
        customer = make_customer(f"K{i:02}")
        make_contract(customer)
        services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], i + 1)],
                                     start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
        customers.append(customer)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(services.run_billing(org, date(2026, 2, 1), batch_size=7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # January and February once each, and each pending charge once.
    assert sum(r.invoices for r in results) == 60 + 7
    assert not any(r.skipped for r in results)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:05}" for n in range(1, 7 + 67 + 1)]
    assert BillingRecord.objects.count() == 7 + 60
    assert set(BillingRecord.objects.filter(subscription__customer__in=customers).values_list(
        "subscription__customer", "period_start")) == {
        (c.pk, d) for c in customers for d in (date(2026, 1, 1), date(2026, 2, 1))}
    # Each pending charge is on exactly one invoice, once.
    for customer in pending_only:
        invoices = list(Invoice.objects.filter(customer=customer).order_by("number"))
        assert [i.issue_date for i in invoices] == [date(2026, 1, 1), date(2026, 2, 1)]
        assert PendingCharge.objects.get(customer=customer).invoice == invoices[1]
        assert invoices[1].lines.filter(description__startswith="Ajout : Seats").count() == 1  # French customers
