"""Usage values become exact on every database: a DecimalField kept 15 significant digits on SQLite.

Each value is read as the database holds it (as text, so nothing is rounded on the way) and written as
fixed-width text with 6 decimals (duly.db.fields.DecimalTextField). On SQLite a value stored before
with more than 15 significant digits was already rounded by SQLite when it was written: it is carried
over as SQLite kept it, except that a value SQLite rounded up to 10^18 (every value was below 10^18
when it was recorded) becomes 999999999999999999, the largest whole value it can have been. Reversible.
"""

from decimal import ROUND_HALF_EVEN, Decimal

from django.db import migrations, models

import duly.db.fields

_QUANTUM = Decimal("0.000001")
_LARGEST = Decimal(10**18 - 1)
_BATCH = 5000


def _batches(connection, table, column):
    """(id, column as text) of the rows, a batch at a time in id order (memory stays flat)."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, CAST({column} AS TEXT) FROM {table} WHERE id > %s AND {column} IS NOT NULL "
                           f"ORDER BY id LIMIT {_BATCH}", [last])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def to_text(apps, schema_editor):
    connection = schema_editor.connection
    field = duly.db.fields.DecimalTextField(integer_digits=18, decimal_places=6)
    table = connection.ops.quote_name("billing_usageevent")
    for rows in _batches(connection, table, "value"):
        updates = []
        for pk, text in rows:
            number = min(Decimal(str(text).strip()), _LARGEST).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
            updates.append((field.get_prep_value(number), pk))
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET value_text = %s WHERE id = %s", updates)


def to_decimal(apps, schema_editor):
    connection = schema_editor.connection
    table = connection.ops.quote_name("billing_usageevent")
    for rows in _batches(connection, table, "value_text"):
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET value = %s WHERE id = %s",
                               [(connection.ops.adapt_decimalfield_value(Decimal(text), 24, 6), pk)
                                for pk, text in rows])


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0003_usage_event_customer_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="usageevent",
            name="value_text",
            field=duly.db.fields.DecimalTextField(decimal_places=6, integer_digits=18, null=True),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="value",
            field=models.DecimalField(decimal_places=6, max_digits=24, null=True),
        ),
        migrations.RunPython(to_text, to_decimal),
        migrations.RemoveField(model_name="usageevent", name="value"),
        migrations.RenameField(model_name="usageevent", old_name="value_text", new_name="value"),
        migrations.AlterField(
            model_name="usageevent",
            name="value",
            field=duly.db.fields.DecimalTextField(decimal_places=6, integer_digits=18),
        ),
    ]
