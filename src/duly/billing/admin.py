"""Back office for the catalog, subscriptions, usage and price changes.

Rows are created and changed through :mod:`duly.billing.services` (forms validate with the same pure
rules first, so a mistake shows on the form); history (billing records, usage, notices) is read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers.amounts import shown
from duly.customers import roles
from duly.customers.tenancy import ReadOnlyOrgScopedAdmin, organization_for
from duly.domain.errors import DomainError

from . import admin_prices, admin_retainers, admin_subscriptions  # noqa: F401 - they register their admins
from . import services
from .admin_base import ServiceAdmin, ServiceForm
from .models import BillingRecord, LicenceSnapshot, Metric, PendingCharge, PriceChangeNotice, Product, UsageEvent


class ProductForm(ServiceForm):
    class Meta:
        model = Product
        fields = "__all__"

    def validate(self, data):
        services.check_tax(data.get("tax_category") or "S", data.get("tax_rate") or 0)


@admin.register(Product)
class ProductAdmin(ServiceAdmin):
    form = ProductForm
    list_display = ("code", "name", "tax_category", "tax_rate", "unit", "active")
    list_filter = ("active", "tax_category")
    search_fields = ("code", "name")
    editable = ("name", "description", "active")

    def create(self, request, org, data):
        return services.create_product(org, code=data["code"], name=data["name"], unit=data["unit"],
                                       tax_category=data["tax_category"], tax_rate=data["tax_rate"],
                                       tax_exemption_reason=data["tax_exemption_reason"],
                                       description=data["description"])


class MetricForm(ServiceForm):
    aggregation = forms.ChoiceField(choices=[(a, a.replace("_", " ")) for a in services.AGGREGATIONS])

    class Meta:
        model = Metric
        fields = "__all__"


@admin.register(Metric)
class MetricAdmin(ServiceAdmin):
    form = MetricForm
    list_display = ("code", "name", "aggregation", "property_name")
    search_fields = ("code", "name")
    editable = ("name",)

    def create(self, request, org, data):
        return services.create_metric(org, code=data["code"], name=data["name"], aggregation=data["aggregation"],
                                      property_name=data["property_name"])


def _amount(obj) -> str:
    return shown(obj.amount_minor, obj.currency)


@admin.register(BillingRecord)
class BillingRecordAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subscription", "period_start", "period_end", "billing_date", "invoice", "amount")
    list_filter = ("billing_date", "currency")
    search_fields = ("subscription__reference", "subscription__customer__name", "invoice__number")

    @admin.display(description=_("amount (net)"), ordering="amount_minor")
    def amount(self, obj):
        return _amount(obj)


@admin.register(PendingCharge)
class PendingChargeAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("customer", "description", "amount", "created_on", "invoice")
    search_fields = ("customer__name", "description")

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount(self, obj):
        return _amount(obj)


# --- usage -----------------------------------------------------------------------------------------------------
class UsageEventForm(forms.Form):
    customer = forms.CharField(max_length=60, help_text=_("The customer's code"))
    metric = forms.CharField(max_length=60, help_text=_("The metric's code"))
    timestamp = forms.DateTimeField(help_text=_("When it happened (YYYY-MM-DD HH:MM, in the server's time zone)"))
    value = forms.DecimalField(max_digits=30, decimal_places=6, min_value=0)
    idempotency_key = forms.CharField(max_length=200, help_text=_("Unique per event: recording it twice counts it once"))
    organization = forms.ModelChoiceField(queryset=None, required=False,
                                          help_text=_("Needed only if you work for several organizations"))


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("idempotency_key", "customer", "metric", "timestamp", "value", "late", "late_billed_on",
                    "adjusted_on")
    list_filter = ("metric", "late")
    search_fields = ("idempotency_key", "customer__name", "customer__code")
    date_hierarchy = "timestamp"

    def get_urls(self):
        return [self.guarded_path("record/", self.record_view, "billing_usageevent_record", get="bill", post="bill"),
                *super().get_urls()]

    def record_view(self, request):
        """Record one usage event (the same checks as an import: an unknown metric or a bad value is refused)."""
        orgs = roles.organizations_with(request.user, "bill")
        form = UsageEventForm(request.POST if request.method == "POST" else None)
        form.fields["organization"].queryset = orgs
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            org = d["organization"] or organization_for(request)
            if org is None:
                form.add_error("organization", _("Choose the organization."))
            else:
                self.require(request, org.pk)
                try:
                    result = services.record_usage_event(
                        org, idempotency_key=d["idempotency_key"], customer=d["customer"], metric=d["metric"],
                        timestamp=d["timestamp"], value=d["value"])
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, f"{d['idempotency_key']}: {result.summary()}.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:billing_usageevent_changelist"))
        return TemplateResponse(request, "admin/duly/billing_form.html", {
            **self.admin_site.each_context(request), "title": _("Record a usage event"), "form": form,
            "confirm": _("Record"), "opts": self.model._meta})


@admin.register(LicenceSnapshot)
class LicenceSnapshotAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subscription", "customer", "day", "active_count")
    search_fields = ("customer__name", "subscription__reference")
    date_hierarchy = "day"


@admin.register(PriceChangeNotice)
class PriceChangeNoticeAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subject", "customer", "send_on", "status", "sent_at", "first_invoice")
    list_filter = ("status", "send_on")
    search_fields = ("customer__name", "subject")
