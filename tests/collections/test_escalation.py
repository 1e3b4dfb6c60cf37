"""Escalation one step at a time, through the Django layer and a real SMTP server: receivables brought
over from another system, a scheduler that was down for a month, and two runs at once that see
different invoices (one reminder per invoice per step, by a unique row, on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection

from duly.collections import snapshots
from duly.collections.models import Reminder, ReminderInvoice
from duly.collections.services import assign_policy, collect, ensure_setup
from duly.messaging.models import Message

AP = "ap1@client.example"


def sent_steps(customer, invoices) -> list[tuple[date, str, list[int]]]:
    """The reminders sent about these invoices (late-fee invoices have steps of their own)."""
    wanted = {i.pk for i in invoices}
    return [(r.sent_at.date(), r.step_code, sorted(r.invoice_ids))
            for r in Reminder.objects.filter(customer=customer).order_by("sent_at", "pk")
            if wanted & set(r.invoice_ids)]


def test_receivables_brought_over_start_with_one_overdue_reminder_then_go_one_step_at_a_time(
        org, customer, contract, make_invoice, walk, smtp):
    assign_policy(org, customer, "firm")
    # Three invoices from the old system, 93, 62 and 34 days overdue when Duly is switched on.
    old = [make_invoice(customer, contract, issued=day) for day in (date(2026, 1, 2), date(2026, 2, 2),
                                                                     date(2026, 3, 2))]
    ids = sorted(i.pk for i in old)

    walk.days(date(2026, 5, 4), date(2026, 6, 19))

    assert sent_steps(customer, old) == [
        (date(2026, 5, 4), "overdue", ids),  # Monday: the first message, every overdue invoice in it
        (date(2026, 5, 11), "fee", ids),  # its 6 days' wait: Sunday 10th, so Monday
        (date(2026, 5, 18), "final_notice", ids),
        (date(2026, 5, 26), "suspend", ids),  # Monday 25th is Whit Monday
        (date(2026, 6, 9), "terminate", ids),
    ]
    received = smtp.subjects(AP)
    assert received[0] == "Impayé : 3\u202f000,00\xa0€, merci de régler maintenant"
    first = smtp.text_of(smtp.to(AP)[0])
    assert all(i.number in first for i in old)
    # The first reminder does not pretend there were earlier ones; nothing old was e-mailed as a new invoice.
    assert "Malgré nos précédentes relances" not in first and "Les montants suivants restent impayés" in first
    assert not any(s.startswith("Facture ") for s in received)
    # The final notice named the day of the suspension, and the suspension came that day.
    notice = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Dernier avis")))
    assert "avant le 25 mai 2026, votre service sera suspendu" in notice
    letter = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Résiliation")))
    assert "Nous vous avons relancé aux dates suivantes" in letter
    for day in ("4 mai 2026", "11 mai 2026", "18 mai 2026", "26 mai 2026"):
        assert day in letter


def test_after_a_thirty_day_outage_only_the_next_step_goes_out(org, customer, contract, make_invoice, walk, smtp):
    assign_policy(org, customer, "neutral")  # overdue +1, reminder +10, fee +21, final notice +30, ...
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))  # due Wednesday 1 April
    walk.days(date(2026, 3, 27), date(2026, 4, 3))
    assert [step for _, step, _ in sent_steps(customer, [invoice])] == ["coming_due", "overdue"]

    # The scheduler is down from 4 April to 3 May: the dates of the reminder (11 April), the fee step
    # (22 April) and the final notice (1 May) pass unseen.
    walk.days(date(2026, 5, 4), date(2026, 5, 31))

    assert sent_steps(customer, [invoice])[2:] == [
        (date(2026, 5, 4), "reminder", [invoice.pk]),  # only the next step
        (date(2026, 5, 15), "fee", [invoice.pk]),  # its 11 days' wait after it
        (date(2026, 5, 26), "final_notice", [invoice.pk]),  # 9 days: Sunday 24th, Whit Monday, then Tuesday
    ]
    on_return = [p.action for p in walk.results[date(2026, 5, 4)].planned if p.action.kind == "send"]
    assert [a.step_code for a in on_return] == ["reminder"]
    assert len(smtp.to(AP)) == 5  # coming due, overdue, reminder, fee, final notice: no burst


def _accounts_seen_by(org, customer, now):
    """What a run gathered for the customer at ``now`` (its snapshot of the invoices and reminders)."""
    return snapshots.gather(snapshots.RunContext.load(org), [customer.pk], now)


def _overlapping_runs(org, customer, contract, make_invoice, walk, monkeypatch):
    """Run A saw INV-1 and INV-2; before it recorded anything, INV-3 was imported and run B saw all three."""
    assign_policy(org, customer, "neutral")
    ensure_setup(org)
    first = make_invoice(customer, contract, issued=date(2026, 3, 2))
    second = make_invoice(customer, contract, issued=date(2026, 3, 3))
    now = walk.at(date(2026, 4, 7))
    seen_by_a = _accounts_seen_by(org, customer, now)
    third = make_invoice(customer, contract, issued=date(2026, 3, 4))
    seen_by_b = _accounts_seen_by(org, customer, now)
    assert len(seen_by_a[0].invoices) == 2 and len(seen_by_b[0].invoices) == 3
    views = {"A": seen_by_a, "B": seen_by_b}
    monkeypatch.setattr(snapshots, "gather",
                        lambda rc, ids, as_of: views[threading.current_thread().name[-1]])
    return now, (first, second, third)


def _one_reminder_per_invoice_and_step(customer, invoices):
    for invoice in invoices:
        assert ReminderInvoice.objects.filter(invoice=invoice, step_code="overdue").count() <= 1
    assert Reminder.objects.filter(customer=customer, step_code="overdue").count() == 1
    assert Message.objects.filter(customer=customer, category="dunning").count() == 1


def test_a_run_with_a_stale_view_never_chases_an_invoice_twice_at_the_same_step(org, customer, contract,
                                                                               make_invoice, walk, monkeypatch):
    now, invoices = _overlapping_runs(org, customer, contract, make_invoice, walk, monkeypatch)
    threading.current_thread().name = "run-A"
    first = collect(org, as_of=now)
    threading.current_thread().name = "run-B"
    second = collect(org, as_of=now)
    threading.current_thread().name = "MainThread"

    [done] = [p for p in first.planned if p.action.kind == "send"]
    [refused] = [p for p in second.planned if p.action.kind == "send"]
    assert done.outcome == "done" and len(done.action.invoice_ids) == 2
    assert refused.outcome == f"already done by a concurrent run for {invoices[0].number}, {invoices[1].number}"
    _one_reminder_per_invoice_and_step(customer, invoices)
    # INV-3 was not chased at that step yet: the next run does it (after the contact-fatigue gap).
    assert not ReminderInvoice.objects.filter(invoice=invoices[2]).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_that_see_different_invoices_chase_each_invoice_once_per_step(
        org, customer, contract, make_invoice, walk, monkeypatch):
    now, invoices = _overlapping_runs(org, customer, contract, make_invoice, walk, monkeypatch)
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def run() -> None:
        try:
            barrier.wait()
            results[threading.current_thread().name] = collect(org, as_of=now)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, name=f"run-{name}") for name in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    outcomes = sorted(p.outcome for r in results.values() for p in r.planned if p.action.kind == "send")
    assert outcomes[0].startswith("already done") and outcomes[1] == "done"
    _one_reminder_per_invoice_and_step(customer, invoices)


def test_the_worklist_day_of_the_next_step_follows_the_delivery_of_the_last(org, customer, contract, make_invoice,
                                                                           walk, smtp):
    from duly.collections.worklist import worklist

    assign_policy(org, customer, "neutral")
    make_invoice(customer, contract, issued=date(2026, 3, 2))  # due 1 April
    walk.run(date(2026, 4, 2))  # the overdue reminder, delivered at once
    [row] = worklist(org, as_of=walk.at(date(2026, 4, 3)))
    # Nine days after the overdue reminder reached the customer: Saturday 11th, so Monday 13th.
    assert row.entry.next_step == "reminder" and row.entry.next_step_at.date() == date(2026, 4, 13)


def test_reminders_recorded_before_the_upgrade_get_their_rows_and_a_duplicate_keeps_the_first(
        org, customer, contract, make_invoice, walk):
    import importlib

    from django.apps import apps

    assign_policy(org, customer, "neutral")
    first = make_invoice(customer, contract, issued=date(2026, 3, 2))
    second = make_invoice(customer, contract, issued=date(2026, 3, 3))
    collect(org, as_of=walk.at(date(2026, 4, 7)))
    original = Reminder.objects.get(customer=customer)
    # What an old overlapping run could leave: the same step again for one of the invoices, a set key of its own.
    Reminder.objects.create(organization=org, customer=customer, policy_code="neutral", step_code="overdue",
                            invoice_ids=[second.pk], idempotency_key=f"{customer.pk}:overdue:{second.pk}",
                            channel="email", template="reminder_neutral", tone="neutral",
                            sent_at=walk.at(date(2026, 4, 8)), reason="an older run")
    ReminderInvoice.objects.all().delete()

    importlib.import_module("duly.collections.migrations.0007_cor_collect_reminder_invoices")._covered_invoices(
        apps, None)

    rows = {(r.invoice_id, r.step_code): r.reminder_id for r in ReminderInvoice.objects.all()}
    assert rows == {(first.pk, "overdue"): original.pk, (second.pk, "overdue"): original.pk}


def test_a_policy_stored_before_the_final_notice_rule_gets_one_and_collections_keep_running(
        org, customer, contract, make_invoice, walk, smtp):
    """A policy saved before suspension and termination needed a final notice (it terminates straight after a
    reminder) would stop every collections run of its organization. The upgrade inserts a final notice right
    before its first drastic step: customers on it are warned, with the date, before anything is cut."""
    import importlib

    from django.apps import apps

    from duly.collections.models import Policy, Step
    from duly.domain.dunning import policy_from_dict

    ensure_setup(org)
    old = Policy.objects.create(organization=org, code="legacy", name="Legacy")
    for code, order, offset, template, actions in [
            ("overdue", 1, 1, "reminder_neutral", []), ("cut", 2, 20, "suspension_notice", ["suspend"]),
            ("end", 3, 40, "termination_letter", ["terminate"])]:
        Step.objects.create(policy=old, code=code, order=order, offset_days=offset, template=template,
                            actions=actions)

    importlib.import_module("duly.collections.migrations.0008_cor_final_notice_in_stored_policies"
                            )._insert_final_notices(apps, None)

    steps = [(s.code, s.order, s.offset_days, s.actions) for s in old.steps.order_by("order")]
    assert steps == [("overdue", 1, 1, []), ("final_notice", 2, 6, ["final_notice"]),
                     ("cut", 3, 20, ["suspend"]), ("end", 4, 40, ["terminate"])]
    policy_from_dict({"code": "legacy", "name": "Legacy", "steps": [s.as_dict() for s in old.steps.all()]})
    assign_policy(org, customer, "legacy")
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))
    walk.days(date(2026, 4, 6), date(2026, 4, 30))
    assert [step for _, step, _ in sent_steps(customer, [invoice])] == ["overdue", "final_notice", "cut"]
    notice = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Dernier avis")))
    assert "votre service sera suspendu" in notice
