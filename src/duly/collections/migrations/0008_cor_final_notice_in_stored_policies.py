"""Stored policies that suspend or terminate without a final notice before: insert one.

Since suspension and termination must always follow a final notice that names their date, such a policy is
refused when it is loaded, and a collections run would stop on it. Policies stored before that rule get a
``final_notice`` step (the built-in final notice message, e-mailed, firm) placed right before their first
suspending or terminating step, so they keep working and now warn the customer first. The steps after it move
one place down; nothing else changes.
"""

from django.db import migrations

DRASTIC = {"suspend", "terminate"}


def _insert_final_notices(apps, schema_editor):
    Policy = apps.get_model("collections", "Policy")
    Step = apps.get_model("collections", "Step")
    for policy in Policy.objects.order_by("pk").iterator():
        steps = list(Step.objects.filter(policy=policy).order_by("order"))
        first = next((i for i, s in enumerate(steps) if DRASTIC.intersection(s.actions or ())), None)
        if first is None or any("final_notice" in (s.actions or ()) for s in steps[:first]):
            continue
        drastic = steps[first]
        codes = {s.code for s in steps}
        code = "final_notice"
        n = 2
        while code in codes:
            code, n = f"final_notice_{n}", n + 1
        previous = steps[first - 1] if first else None
        offset = drastic.offset_days - 14
        if previous is not None and previous.anchor == drastic.anchor:
            offset = max(offset, min(previous.offset_days + 1, drastic.offset_days))
        order = drastic.order
        for step in reversed(steps[first:]):  # last first: (policy, order) stays unique at every save
            step.order += 1
            step.save(update_fields=["order"])
        Step.objects.create(policy=policy, code=code, order=order, offset_days=offset, anchor=drastic.anchor,
                            channel="email", template="final_notice", tone="firm", actions=["final_notice"],
                            conditions={}, whatever_sent=False)


class Migration(migrations.Migration):

    dependencies = [
        ("collections", "0007_cor_collect_reminder_invoices"),
    ]

    operations = [
        migrations.RunPython(_insert_final_notices, migrations.RunPython.noop),
    ]
