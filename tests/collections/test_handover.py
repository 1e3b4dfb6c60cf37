"""Handing a debt over to a collection agency: a policy step with the ``handover`` action, run through
the Django dunning service, leaves one task for a person, naming every invoice and why, however often
the run is repeated."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import yaml

from duly.collections.models import Reminder, Task
from duly.collections.services import assign_policy, collect, import_policies
from duly.messaging.models import Message


def at(day, hour=10):
    return datetime.combine(day, time(hour), ZoneInfo("Europe/Paris"))


AGENCY = {"policies": [{"code": "agency", "name": "Hand over", "steps": [
    {"code": "handover", "order": 1, "offset_days": 30, "channel": "email", "template": "final_notice",
     "tone": "firm", "actions": ["final_notice", "handover"]}]}]}


def test_a_handover_step_leaves_one_task_naming_the_invoices_and_a_rerun_adds_none(org, customer, contract,
                                                                                  make_invoice):
    import_policies(org, yaml.safe_dump(AGENCY))
    assign_policy(org, customer, "agency")
    first = make_invoice(customer, contract, issued=date(2026, 3, 2), amount="1000.00")  # due 1 April
    second = make_invoice(customer, contract, issued=date(2026, 3, 3), amount="250.00")  # due 2 April

    collect(org, as_of=at(date(2026, 4, 20)))  # 19 days late: not yet
    assert not Task.objects.filter(customer=customer).exists()

    collect(org, as_of=at(date(2026, 5, 4)))  # both 30+ days late (Monday)
    task = Task.objects.get(customer=customer)
    assert task.kind == "handover" and task.done_at is None
    assert task.description.startswith("Hand over to a collection agency: ")
    assert first.number in task.description and second.number in task.description
    reminder = Reminder.objects.get(customer=customer)
    assert task.reminder == reminder and reminder.step_code == "handover"
    assert set(reminder.invoice_ids) == {first.pk, second.pk}
    # the customer is told in the same step: the task points at the final notice that was queued
    notice = Message.objects.get(customer=customer)
    assert task.message == notice and notice.to_email == "ap1@client.example"

    for day in (date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 12)):  # reruns, same day and later
        collect(org, as_of=at(day, 11))
    assert Task.objects.filter(customer=customer).count() == 1
    assert Task.objects.filter(kind="handover").count() == 1
    assert Reminder.objects.filter(customer=customer).count() == 1
    assert Message.objects.filter(customer=customer).count() == 1
