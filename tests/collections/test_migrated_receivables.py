"""Receivables migrated from another system enter collections as existing receivables: the first dunning run
after migrating an invoice 90 days overdue sends the first overdue reminder, not a final notice or a
suspension, and charges no late fee (escalation one step at a time, duly.domain.dunning)."""

from __future__ import annotations

from datetime import date

from duly.collections.models import LateFee, Reminder
from duly.collections.services import assign_policy
from duly.invoicing.migration_services import import_receivables
from duly.invoicing.models import Invoice

AP = "ap1@client.example"


def test_first_run_after_migrating_a_90_days_overdue_invoice_is_not_harsh(org, customer, walk, smtp):
    assign_policy(org, customer, "firm")  # overdue, fee, final notice, suspension, termination
    # Due Thursday 5 February 2026: 90 days overdue on Wednesday 6 May, when Duly runs for the first time.
    import_receivables(org, b"customer,number,issue_date,due_date,amount,currency,paid\n"
                            b"ACME,OLD-77,2026-01-06,2026-02-05,1500.00,EUR,300.00\n")
    migrated = Invoice.objects.get(organization=org, number="OLD-77")
    assert (date(2026, 5, 6) - migrated.due_date).days == 90

    walk.run(date(2026, 5, 6))
    walk.run(date(2026, 5, 7))

    reminders = list(Reminder.objects.filter(customer=customer).order_by("sent_at"))
    assert [(r.sent_at.date(), r.step_code, list(r.invoice_ids)) for r in reminders] == [
        (date(2026, 5, 6), "overdue", [migrated.pk])]  # the first overdue reminder, and only it
    assert not LateFee.objects.filter(invoice=migrated).exists()
    migrated.refresh_from_db()
    assert migrated.status == Invoice.ISSUED  # not suspended, handed over or written off
    received = smtp.to(AP)
    assert len(received) == 1
    text = smtp.text_of(received[0])
    assert "OLD-77" in text and "1\u202f200,00" in text  # the open amount: 1500.00 less 300.00 already paid
    assert "Malgré nos précédentes relances" not in text  # it does not pretend there were earlier reminders
