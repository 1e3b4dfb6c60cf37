"""The insights app's tables: late-payment models and scores (its own reports); its other admin pages are
registered on proxy models."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Customer, Organization
from duly.invoicing.models import Invoice


class AccountsReceivable(Customer):
    """The back office's "Accounts receivable" page (aging per customer, DSO, days late): no table, no rows
    of its own; only the permission to view it."""

    class Meta:
        proxy = True
        verbose_name = _("accounts receivable")
        verbose_name_plural = _("accounts receivable")
        default_permissions = ("view",)


class RiskModel(models.Model):
    """A late-payment model trained on one organization's settled invoices (``duly risk train``).

    ``blob`` is the pickled model (``duly.insights.risk_model.dump``) and ``sha256`` its checksum; a retrain on
    the same data gives the same bytes, so the unique constraint keeps one row. ``in_use`` marks the one scoring."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="risk_models",
                                     verbose_name=_("organization"))
    format_version = models.CharField(max_length=40, verbose_name=_("format version"))
    features_version = models.CharField(max_length=40, verbose_name=_("features version"))
    sklearn_version = models.CharField(max_length=20, verbose_name=_("sklearn version"))
    feature_names = models.JSONField(default=list, verbose_name=_("feature names"))
    kind = models.CharField(max_length=20, verbose_name=_("kind"))
    window_start = models.DateField(verbose_name=_("window start"))
    window_end = models.DateField(verbose_name=_("window end"))
    metrics = models.JSONField(default=dict, verbose_name=_("metrics"))
    blob = models.BinaryField(verbose_name=_("blob"))
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    in_use = models.BooleanField(default=False, verbose_name=_("in use"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("risk model")
        verbose_name_plural = _("risk models")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["organization", "sha256"], name="uniq_risk_model_sha")]

    def __str__(self) -> str:
        return f"{self.kind} {self.window_start}..{self.window_end} ({self.sha256[:12]})"


class InvoiceRisk(models.Model):
    """The latest late-payment score of one open invoice (``duly risk score``): one row per invoice, updated in
    place, keeping its first expected payment date (``first_*``) for the forecast's error against actuals."""

    SOURCE_MODEL, SOURCE_PRIOR = "model", "prior"
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="risk",
                                   verbose_name=_("invoice"))
    model = models.ForeignKey(RiskModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("model"))
    source = models.CharField(max_length=10, choices=[(SOURCE_MODEL, _("Model")), (SOURCE_PRIOR, _("Global prior"))],
                              verbose_name=_("source"))
    probability = models.DecimalField(max_digits=5, decimal_places=4, verbose_name=_("probability"))
    expected_payment_date = models.DateField(verbose_name=_("expected payment date"))
    expected_days_late = models.PositiveIntegerField(default=0, verbose_name=_("expected days late"))
    reasons = models.JSONField(default=list, verbose_name=_("reasons"))
    scored_on = models.DateField(verbose_name=_("scored on"))
    #: The first prediction of the invoice (made on its first scoring, at or soon after its issue), never
    #: overwritten by a rescoring: last quarter's forecast is judged on the predictions as they were then.
    first_expected_payment_date = models.DateField(null=True, blank=True,
                                                   verbose_name=_("first expected payment date"))
    first_scored_on = models.DateField(null=True, blank=True, verbose_name=_("first scored on"))

    class Meta:
        verbose_name = _("invoice risk")
        verbose_name_plural = _("invoice risks")
        indexes = [models.Index(fields=["organization", "probability"])]

    def __str__(self) -> str:
        return f"{self.probability:.0%} late"
