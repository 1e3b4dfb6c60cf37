"""The insights app's tables: late-payment models and scores (its own reports); its other admin pages are
registered on proxy models."""

from __future__ import annotations

from django.db import models

from duly.customers.models import Customer, Organization
from duly.invoicing.models import Invoice


class AccountsReceivable(Customer):
    """The back office's "Accounts receivable" page (aging per customer, DSO, days late): no table, no rows
    of its own; only the permission to view it."""

    class Meta:
        proxy = True
        verbose_name = "accounts receivable"
        verbose_name_plural = "accounts receivable"
        default_permissions = ("view",)


class RiskModel(models.Model):
    """A late-payment model trained on one organization's settled invoices (``duly risk train``).

    ``blob`` is the pickled model (``duly.insights.risk_model.dump``) and ``sha256`` its checksum; a retrain on
    the same data gives the same bytes, so the unique constraint keeps one row. ``in_use`` marks the one scoring."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="risk_models")
    format_version = models.CharField(max_length=40)
    features_version = models.CharField(max_length=40)
    sklearn_version = models.CharField(max_length=20)
    feature_names = models.JSONField(default=list)
    kind = models.CharField(max_length=20)
    window_start = models.DateField()
    window_end = models.DateField()
    metrics = models.JSONField(default=dict)
    blob = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    in_use = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["organization", "sha256"], name="uniq_risk_model_sha")]

    def __str__(self) -> str:
        return f"{self.kind} {self.window_start}..{self.window_end} ({self.sha256[:12]})"


class InvoiceRisk(models.Model):
    """The latest late-payment score of one open invoice (``duly risk score``): one row per invoice, updated in
    place, keeping its first expected payment date (``first_*``) for the forecast's error against actuals."""

    SOURCE_MODEL, SOURCE_PRIOR = "model", "prior"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="risk")
    model = models.ForeignKey(RiskModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=10, choices=[(SOURCE_MODEL, "Model"), (SOURCE_PRIOR, "Global prior")])
    probability = models.DecimalField(max_digits=5, decimal_places=4)
    expected_payment_date = models.DateField()
    expected_days_late = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=list)
    scored_on = models.DateField()
    #: The first prediction of the invoice (made on its first scoring, at or soon after its issue), never
    #: overwritten by a rescoring: last quarter's forecast is judged on the predictions as they were then.
    first_expected_payment_date = models.DateField(null=True, blank=True)
    first_scored_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "probability"])]

    def __str__(self) -> str:
        return f"{self.probability:.0%} late"
