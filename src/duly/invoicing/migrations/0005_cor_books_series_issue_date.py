"""Number series remember the issue date of their last number, so later numbers never carry an earlier date.

Existing counters take the latest issue date of the invoices (or credit notes) numbered in their year.
"""

from django.db import migrations, models
from django.db.models import Max


def last_issue_dates(apps, schema_editor):
    SeriesCounter = apps.get_model("invoicing", "SeriesCounter")
    Invoice = apps.get_model("invoicing", "Invoice")
    for counter in SeriesCounter.objects.select_related("series"):
        invoices = Invoice.objects.filter(organization_id=counter.series.organization_id, number__isnull=False,
                                          issue_date__year=counter.year)
        if counter.series.kind == "credit_note":
            invoices = invoices.filter(kind="credit_note")
        else:
            invoices = invoices.exclude(kind="credit_note")
        counter.last_issue_date = invoices.aggregate(d=Max("issue_date"))["d"]
        counter.save(update_fields=["last_issue_date"])


class Migration(migrations.Migration):

    dependencies = [
        ("invoicing", "0004_imported_einvoice_details"),
    ]

    operations = [
        migrations.AddField(
            model_name="seriescounter",
            name="last_issue_date",
            field=models.DateField(blank=True, help_text="Issue date of the last number taken: later numbers never carry an earlier one", null=True),
        ),
        migrations.RunPython(last_issue_dates, migrations.RunPython.noop),
    ]
