"""One reminder per invoice per step, structurally; steps a policy asks for whatever was sent."""

import django.db.models.deletion
from django.db import migrations, models


def _covered_invoices(apps, schema_editor):
    """A row per invoice each recorded reminder covers; where two reminders covered the same
    invoice at the same step (possible before this constraint), the first one keeps it."""
    Reminder = apps.get_model("collections", "Reminder")
    ReminderInvoice = apps.get_model("collections", "ReminderInvoice")
    Invoice = apps.get_model("invoicing", "Invoice")
    existing = set(Invoice.objects.values_list("pk", flat=True).iterator())
    seen: set[tuple[int, str]] = set()
    rows = []
    for pk, org_id, step, invoice_ids in Reminder.objects.order_by("sent_at", "pk").values_list(
            "pk", "organization_id", "step_code", "invoice_ids").iterator():
        for invoice_id in invoice_ids or []:
            key = (invoice_id, step)
            if invoice_id in existing and key not in seen:
                seen.add(key)
                rows.append(ReminderInvoice(organization_id=org_id, reminder_id=pk, invoice_id=invoice_id,
                                            step_code=step))
    ReminderInvoice.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("collections", "0006_invoice_dispatch"),
        ("invoicing", "0004_imported_einvoice_details"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="whatever_sent",
            field=models.BooleanField(default=False, help_text="Reached on its own date whatever was sent before (e.g. hand over after 90 days); otherwise only after the previous step reached the customer and its own wait has passed"),
        ),
        migrations.CreateModel(
            name="ReminderInvoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("step_code", models.CharField(max_length=40)),
                ("invoice", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reminded_at", to="invoicing.invoice")),
                ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="customers.organization")),
                ("reminder", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="covered", to="collections.reminder")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("invoice", "step_code"), name="uniq_reminder_invoice_step")],
            },
        ),
        migrations.RunPython(_covered_invoices, migrations.RunPython.noop),
    ]
