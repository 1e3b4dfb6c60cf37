"""`duly collect`: dry run with reasons, idempotent, crash-safe, batch gathering; the worklist."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from duly.cli import main
from duly.collections.services.run_batch import ChunkWrites
from duly.collections.models import CollectionRun, Reminder
from duly.collections.services import assign_policy, collect
from duly.messaging.models import Message


def cli(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def three_late_customers(org, make_customer, make_contract, make_invoice):
    customers = []
    for i in range(3):
        c = make_customer(f"LATE{i}", name=f"Late Payer {i} SARL")
        assign_policy(org, c, "neutral")
        make_invoice(c, make_contract(c), issued=date(2026, 3, 2), amount=f"{100 + i}.00")
        customers.append(c)
    return customers


def test_dry_run_lists_each_action_with_its_reason_and_writes_nothing(three_late_customers):
    before = (Reminder.objects.count(), Message.objects.count(), CollectionRun.objects.count())
    result = cli("collect", "--as-of", "2026-04-02T10:00+02:00", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True and report["counts"]["send"] == 3
    action = next(a for a in report["actions"] if a["customer"] == "LATE0")
    assert action["kind"] == "send" and action["step"] == "overdue" and action["channel"] == "email"
    assert "1 day overdue" in action["reason"] and "reached step 'overdue'" in action["reason"]
    assert action["policy"] == "neutral" and "set on the customer" in action["policy_reason"]
    assert (Reminder.objects.count(), Message.objects.count(), CollectionRun.objects.count()) == before
    text = cli("collect", "--as-of", "2026-04-02T10:00+02:00", "--dry-run")
    assert "would send 3 step(s)" in text.output and "dry run: nothing written" in text.output


def test_collect_is_idempotent(three_late_customers):
    first = cli("collect", "--as-of", "2026-04-02T10:00+02:00", "--format", "json")
    assert json.loads(first.output)["counts"]["done"] == 3
    again = json.loads(cli("collect", "--as-of", "2026-04-02T11:00+02:00", "--format", "json").output)
    assert again["counts"]["done"] == 0 and again["counts"]["send"] == 0  # fatigue defers, nothing twice
    assert Reminder.objects.count() == 3 and Message.objects.count() == 3


def test_a_run_that_crashes_midway_is_resumed_by_running_it_again(org, three_late_customers, monkeypatch):
    # A chunk's writes commit together: a crash in the second chunk (one customer per chunk here) leaves the first
    # one done and nothing of the second.
    write = ChunkWrites._write
    calls = {"n": 0}

    def crash_on_second(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(ChunkWrites, "_write", crash_on_second)
    with pytest.raises(RuntimeError):
        collect(org, as_of=_at(date(2026, 4, 2)), chunk_size=1)
    assert Reminder.objects.count() == 1 and Message.objects.count() == 1  # one done, nothing half-written
    monkeypatch.setattr(ChunkWrites, "_write", write)
    result = collect(org, as_of=_at(date(2026, 4, 2)))
    assert [p.outcome for p in result.planned if p.action.kind == "send"].count("done") == 2
    assert Reminder.objects.count() == 3 and Message.objects.count() == 3
    assert len(set(Reminder.objects.values_list("idempotency_key", flat=True))) == 3


def test_a_crash_in_the_middle_of_a_chunk_leaves_nothing_of_it(org, three_late_customers, monkeypatch):
    # The messages and reminders of the chunk are inserted, then the crash: none of them stays; a rerun does all.
    def crash(self, *args, **kwargs):
        assert Reminder.objects.count() == 3 and Message.objects.count() == 3  # written, not committed
        raise RuntimeError("power cut")

    monkeypatch.setattr(ChunkWrites, "_tasks", crash)
    with pytest.raises(RuntimeError):
        collect(org, as_of=_at(date(2026, 4, 2)))
    assert Reminder.objects.count() == 0 and Message.objects.count() == 0
    monkeypatch.undo()
    result = collect(org, as_of=_at(date(2026, 4, 2)))
    assert [p.outcome for p in result.planned if p.action.kind == "send"] == ["done"] * 3
    assert Reminder.objects.count() == 3 and Message.objects.count() == 3
    assert sorted(Message.objects.values_list("idempotency_key", flat=True)) == sorted(
        f"dunning:{k}" for k in Reminder.objects.values_list("idempotency_key", flat=True))


def test_snapshots_are_gathered_with_a_fixed_number_of_queries(org, make_customer, make_contract, make_invoice,
                                                              django_assert_max_num_queries):
    from duly.collections import snapshots
    from duly.collections.services import ensure_setup, open_dispute, record_promise

    ensure_setup(org)
    rc = snapshots.RunContext.load(org)

    def add(n, first):  # each with invoices issued on ``first`` and a week later (numbers follow issue dates)
        accounts = []
        for i in range(n):
            c = make_customer(name=f"Bulk {i}", contacts=[{"name": f"AP {i}", "email": f"ap{i}@bulk.example"},
                                                           {"name": f"Boss {i}", "email": "", "role": "owner"}])
            contract = make_contract(c)
            accounts.append((c, contract, make_invoice(c, contract, issued=first)))
        for c, contract, a in accounts:
            b = make_invoice(c, contract, issued=first + timedelta(days=7))
            open_dispute(org, a.pk, question="?", now=_at(date(2026, 4, 1)))
            record_promise(org, c, promised_date=date(2026, 4, 30), amount="10", invoice_ids=[b.pk],
                           now=_at(date(2026, 4, 1)))

    add(2, date(2026, 3, 2))
    with django_assert_max_num_queries(20) as few:
        snapshots.gather(rc, snapshots.customer_ids(org), _at(date(2026, 4, 2)))
    add(18, date(2026, 3, 16))
    with django_assert_max_num_queries(len(few.captured_queries)):
        accounts = snapshots.gather(rc, snapshots.customer_ids(org), _at(date(2026, 4, 2)))
    assert len(accounts) == 20
    assert all(a.snapshot.disputes and a.snapshot.promises and len(a.snapshot.contacts) == 2 for a in accounts)


def test_the_worklist_shows_overdue_last_contact_next_step_disputes_and_promises(org, three_late_customers):
    from duly.collections.services import open_dispute, record_promise

    late0, late1, late2 = three_late_customers
    collect(org, as_of=_at(date(2026, 4, 2)))
    open_dispute(org, late1.invoices.get().pk, question="Wrong PO", now=_at(date(2026, 4, 3)))
    record_promise(org, late2, promised_date=date(2026, 4, 20), amount="102.00", now=_at(date(2026, 4, 3)))
    result = cli("collections", "worklist", "--as-of", "2026-04-06T10:00+02:00", "--format", "json")
    rows = {r["customer"]: r for r in json.loads(result.output)}
    assert rows["LATE0"]["overdue"] == {"EUR": "100.00"} and rows["LATE0"]["oldest_days_overdue"] == 5
    assert rows["LATE0"]["last_contact"].startswith("2026-04-02") and rows["LATE0"]["next_step"] == "reminder"
    assert rows["LATE0"]["next_step_at"].startswith("2026-04-13")  # due + 10 = Saturday 11 -> Monday 13
    assert rows["LATE1"]["open_disputes"] == [late1.invoices.get().number]
    assert rows["LATE2"]["promises"][0]["promised_date"] == "2026-04-20"
    table = cli("collections", "worklist", "--as-of", "2026-04-06T10:00+02:00")
    assert "LATE0" in table.output and "reminder" in table.output


def _at(day: date):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(10), ZoneInfo("Europe/Paris"))


def test_the_scheduler_of_duly_serve_runs_collections_and_the_outbox(org, three_late_customers, smtp, settings):
    from duly.scheduler import run_once

    assert {"duly.collections.tasks.scheduled_collect",
            "duly.messaging.tasks.scheduled_deliver"} <= set(settings.DULY_SCHEDULED_JOBS)
    settings.DULY_SCHEDULED_JOBS = ["duly.collections.tasks.scheduled_collect",
                                    "duly.messaging.tasks.scheduled_deliver"]
    results = run_once(_at(date(2026, 4, 2)))
    assert set(results.values()) == {"ok"}
    assert len(smtp.messages) == 3 and Reminder.objects.count() == 3


def test_a_real_run_writes_with_a_fixed_number_of_queries_per_chunk(org, make_customer, make_contract, make_invoice):
    # Reminders, their messages (with the interest accrued and the invoice attached) and their claims: the queries of
    # a run do not grow with its customers (no query per customer, per message or per invoice).
    from django.db import connection

    from duly.collections.services import ensure_setup

    ensure_setup(org)

    def late(n, prefix):
        made = []
        for i in range(n):
            c = make_customer(f"{prefix}{i}", name=f"{prefix} Payer {i}")
            make_invoice(c, make_contract(c, late_fee_kind="interest_annual", late_rate_percent="12"),
                         issued=date(2026, 3, 2))
            made.append(c.pk)
        return made

    def run(ids):
        statements = []

        def count(execute, sql, params, many, context):  # (not the debug cursor: a greeting query has "%m")
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            result = collect(org, as_of=_at(date(2026, 4, 20)), customer_ids=ids)
        assert [p.outcome for p in result.planned if p.action.kind == "send"] == ["done"] * len(ids)
        return len(statements)

    few = run(late(2, "FEW"))
    many = late(18, "MANY")
    assert run(many) <= few < 60
    messages = Message.objects.filter(customer_id__in=many, category="dunning")
    assert messages.count() == 18
    assert all(m.attachments == [{"kind": "invoice_pdf", "invoice_id": m.invoice_ids[0]}] for m in messages)
