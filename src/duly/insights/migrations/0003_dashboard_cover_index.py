"""An index covering every invoice column the dashboard's grouped reads use (duly.insights.dashboard), so that
each of its scans reads the index alone, not the whole invoice rows: the page's CPU time at 100,000 open
invoices drops by about 40 % (bench/dashboard.py). Plain SQL, not a model index: it belongs to the dashboard's
reads, not to the invoice model (invoicing owns that model and its migrations)."""

from django.db import migrations

COLUMNS = ("organization_id", "kind", "status", "currency", "issue_date", "due_date", "customer_id", "total_minor",
           "prepaid_minor", "rounding_minor", "paid_minor", "paid_on", "voided_at", "contract_id")


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0002_risk_models"),
        ("invoicing", "0008_list_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS insights_dashboard_invoice_cover ON invoicing_invoice ({', '.join(COLUMNS)})",
            "DROP INDEX IF EXISTS insights_dashboard_invoice_cover",
        ),
    ]
