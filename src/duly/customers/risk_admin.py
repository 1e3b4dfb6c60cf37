"""The red-flag checks of new customers in the back office: on the customer's page (read only) and on their own
page, where staff who manage customers accept the recommendation or override it with a note (each decision is
kept: who, when, why, which terms)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from duly.domain.money import from_minor

from . import risk_services
from .models import RiskAssessment, RiskDecision
from .tenancy import OrgScopedAdmin, OrgScopedInline


def _flags(obj) -> str:
    return format_html_join("", "<div>{} <code>{}</code></div>", ((f["words"], f["code"]) for f in obj.flags)) \
        or _("No red flag.")


def _recommendation(obj) -> str:
    return " ".join(obj.recommendation.get("words", ()))


def _limit(customer) -> str:
    """The credit limit in force (set by a decision on a check), which issuing enforces."""
    if customer.credit_limit_minor is None:
        return _("No credit limit set.")
    amount = from_minor(customer.credit_limit_minor, customer.credit_limit_currency)
    return _("Credit limit: {amount} {currency} (an invoice over it needs an owner or admin to issue it, with a "
             "note).").format(amount=amount, currency=customer.credit_limit_currency)


def latest_check_html(customer) -> str:
    """The customer's latest red-flag check for its page: level, score, flags, recommendation, decision, link."""
    if customer is None or customer.pk is None:
        return _("Checked once the customer is saved.")
    row = RiskAssessment.objects.filter(customer=customer).order_by("-id").first()
    refusal = customer.risk_refusals.order_by("-id").first()
    if refusal is not None and (row is None or refusal.created_at > row.created_at):
        return format_html("<div><strong>{}</strong> {} <code>{}</code></div><div>{}</div>",
                           _("Could not be checked on {date}:").format(date=refusal.refused_on.isoformat()),
                           refusal.message, refusal.code, _("Checked again once these facts change."))
    if row is None:
        return _("Not checked yet (checked when it is created or a contract is made, else by the scheduler; or "
                 "run duly risk check --customer CODE).")
    url = reverse("admin:customers_riskassessment_change", args=[row.pk])
    return format_html("<div><strong>{}</strong> {} · <a href=\"{}\">{}</a></div>{}<div>{}</div><div>{}</div>",
                       _("{level} risk (score {score})").format(level=row.level, score=row.score),
                       _("on {date}, {decision}").format(date=row.assessed_on.isoformat(),
                                                        decision=row.get_decision_display()),
                       url, _("decide"), _flags(row), _recommendation(row), _limit(customer))


class RiskDecisionInline(OrgScopedInline):
    model = RiskDecision
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("action", "decided_by", "decided_at", "note", "terms")
    readonly_fields = fields
    verbose_name = _("decision")


class DecisionForm(forms.ModelForm):
    ACTIONS = [("", _("Leave as it is")), ("accept", _("Accept the recommendation")), ("override", _("Override it"))]
    take = forms.ChoiceField(label=_("Decision"), choices=ACTIONS, required=False)
    note = forms.CharField(label=_("Why"), widget=forms.Textarea(attrs={"rows": 2}), required=False,
                           help_text=_("Required to override: kept with your name and the time."))
    deposit_percent = forms.DecimalField(label=_("Deposit (percent of the first invoice)"), required=False, min_value=0,
                                         max_value=100)
    terms_days = forms.IntegerField(label=_("Payment terms (days)"), required=False, min_value=0, max_value=365)
    require_autopay = forms.BooleanField(label=_("Require autopay or direct debit"), required=False)
    credit_limit = forms.DecimalField(label=_("Credit limit"), required=False, min_value=0)

    class Meta:
        model = RiskAssessment
        fields = ()


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(OrgScopedAdmin):
    """A new customer's red-flag check: its flags and recommendation, and staff's decision on it."""

    form = DecisionForm
    permission = "manage_customers"
    list_display = ("customer", "assessed_on", "level", "score", "decision")
    list_filter = ("level", "decision")
    search_fields = ("customer__name", "customer__code")
    readonly_fields = ("customer", "contract", "assessed_on", "level", "score", "red_flags", "recommended",
                       "external", "decision")
    inlines = [RiskDecisionInline]

    def get_fields(self, request, obj=None):
        return [*self.readonly_fields, "take", "note", "deposit_percent", "terms_days", "require_autopay",
                "credit_limit"]

    def has_add_permission(self, request):
        return False  # made by the check, never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # kept with its decisions (the audit trail)

    @admin.display(description=_("red flags"))
    def red_flags(self, obj):
        return _flags(obj)

    @admin.display(description=_("recommendation"))
    def recommended(self, obj):
        return _recommendation(obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if data.get("take") == "accept":
            self.run_service(request, risk_services.accept_recommendation, obj, user=request.user,
                             now=timezone.now(), note=data.get("note") or "", success=_("Recommendation accepted."))
        elif data.get("take") == "override":
            self.run_service(request, risk_services.override_recommendation, obj, user=request.user,
                             now=timezone.now(), note=data.get("note") or "",
                             deposit_percent=data.get("deposit_percent"), terms_days=data.get("terms_days"),
                             require_autopay=bool(data.get("require_autopay")),
                             credit_limit=data.get("credit_limit"), success=_("Recommendation overridden."))

    def save_formset(self, request, form, formset, change):
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
