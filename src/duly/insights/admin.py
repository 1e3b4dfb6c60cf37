"""The back office's accounts receivable page: aged receivables per customer, DSO and days late, as of a date.

Registered on the :class:`~duly.insights.models.AccountsReceivable` proxy, so it appears under the
insights app for anyone with its view permission. It reads through :mod:`duly.insights.services`
only, for one organization at a time, always one of the user's (:func:`user_organizations`): a
request naming another organization gets the user's own, never the other one's figures.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.db.models.functions import Greatest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Customer
from duly.customers.services import local_today
from duly.customers.tenancy import ReadOnlyOrgScopedAdmin, user_organizations

from . import services
from duly.domain.money import from_minor

from .models import AccountsReceivable, InvoiceRisk
from .risk_services import expected_loss


class AsOfForm(forms.Form):
    as_of = forms.DateField(label=_("As of"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("Receivables as they stood at the end of this day (default: today)."))
    organization = forms.ChoiceField(label=_("Organization"), required=False)
    days = forms.IntegerField(label=_("DSO window (days)"), required=False, min_value=1, max_value=3660,
                              initial=90)


@admin.register(AccountsReceivable)
class AccountsReceivableAdmin(ReadOnlyOrgScopedAdmin):
    """Accounts receivable: the aging report per customer with totals per currency, DSO and average days late."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        orgs = list(user_organizations(request.user).order_by("name"))
        form = AsOfForm(request.GET or None)
        form.fields["organization"].choices = [(o.slug, o.name) for o in orgs]
        data = form.cleaned_data if form.is_bound and form.is_valid() else {}
        org = next((o for o in orgs if o.slug == data.get("organization")), orgs[0] if orgs else None)
        context = {**self.admin_site.each_context(request), **(extra_context or {}),
                   "title": _("Accounts receivable"), "opts": self.model._meta, "form": form, "organization": org,
                   "several_organizations": len(orgs) > 1}
        if org is not None:
            as_of = data.get("as_of") or local_today(org)
            days = data.get("days") or 90
            report = services.aging_report(org, as_of=as_of)
            ids = dict(Customer.objects.filter(organization=org, code__in=[r["code"] for r in report["customers"]])
                       .values_list("code", "pk"))
            rows = [{**r, "url": reverse("admin:customers_customer_change", args=[ids[r["code"]]])
                     if r["code"] in ids else ""} for r in report["customers"]]
            late = services.days_late(org, as_of=as_of)
            context.update(
                as_of=as_of, days=days, buckets=report["buckets"], rows=rows,
                totals=sorted(report["totals"].items()),
                dso=sorted(services.dso(org, as_of=as_of, days=days).items()),
                days_late=sorted(late.items()),
            )
        return TemplateResponse(request, "admin/insights/accounts_receivable.html", context)


@admin.register(InvoiceRisk)
class InvoiceRiskAdmin(ReadOnlyOrgScopedAdmin):
    """Late-payment scores of the open invoices (``duly risk score``): probability, expected payment date, the
    reasons in words, and the expected loss (open amount x probability x expected days late) to sort the work by."""

    list_display = ("invoice", "probability_percent", "expected_payment_date", "expected_days_late",
                    "expected_loss", "source", "reasons_text", "scored_on")
    list_filter = ("source",)
    search_fields = ("invoice__number", "invoice__customer__name")
    fields = ("invoice", "source", "model", "probability", "expected_payment_date", "expected_days_late",
              "reasons_text", "scored_on")
    readonly_fields = fields

    def get_queryset(self, request):
        open_minor = F("invoice__total_minor") - F("invoice__paid_minor")
        return super().get_queryset(request).select_related("invoice__customer").annotate(
            expected_loss_value=ExpressionWrapper(
                open_minor * F("probability") * Greatest(F("expected_days_late"), Value(1)),
                output_field=DecimalField(max_digits=30, decimal_places=4))).order_by("-expected_loss_value", "id")

    @admin.display(description=_("probability of paying late"), ordering="probability")
    def probability_percent(self, obj):
        return f"{obj.probability * 100:.0f} %"

    @admin.display(description=_("expected loss (amount x probability x days)"), ordering="expected_loss_value")
    def expected_loss(self, obj):
        open_amount = from_minor(obj.invoice.total_minor - obj.invoice.paid_minor, obj.invoice.currency)
        return f"{expected_loss(obj, open_amount):.2f} {obj.invoice.currency}·days"

    @admin.display(description=_("reasons"))
    def reasons_text(self, obj):
        return "; ".join(r.get("text", "") for r in obj.reasons)


# --- the staff dashboard on the admin's home page ------------------------------------------------------------
_plain_index = admin.site.index


def dashboard_index(request, extra_context=None):
    """The admin index with the staff dashboard of one of the user's organizations above the apps."""
    from .dashboard_view import context

    return _plain_index(request, {**context(request), **(extra_context or {})})


admin.site.index = dashboard_index
admin.site.index_template = "admin/insights/dashboard_index.html"
