"""Collections state: late fees (once per invoice and policy level)."""

from __future__ import annotations

from django.db import models

from duly.customers.models import CURRENCY_FIELD, Organization
from duly.invoicing.models import Invoice


class LateFee(models.Model):
    """A late fee or interest charge. Unique per (overdue invoice, level): charged at most once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="late_fees")
    level = models.CharField(max_length=40)
    kind = models.CharField(max_length=20)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    days_late = models.IntegerField()
    explanation = models.TextField()
    assessed_on = models.DateField()
    fee_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="fee_lines_of", null=True)

    class Meta:
        ordering = ["invoice", "assessed_on"]
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="uniq_late_fee_level")]
