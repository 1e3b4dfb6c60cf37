"""Back office for the catalog, subscriptions, usage and price changes.

Rows are created and changed through :mod:`duly.billing.services` (forms validate with the same pure
rules first, so a mistake shows on the form); history (billing records, usage, notices) is read-only.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin

from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, ReadOnlyOrgScopedAdmin, organization_for
from duly.domain.errors import DomainError
from duly.domain.money import from_minor

from . import services
from .models import (
    BillingRecord,
    LicenceSnapshot,
    Metric,
    PendingCharge,
    Price,
    PriceChange,
    PriceChangeNotice,
    Product,
    RetainerAgreement,
    Subscription,
    SubscriptionItem,
    SubscriptionPause,
    UsageEvent,
)


def _org_of(request, obj):
    return obj.organization if getattr(obj, "organization_id", None) else organization_for(request)


class _ServiceForm(forms.ModelForm):
    """Runs a pure validation in ``clean`` so a domain error shows on the form."""

    def validate(self, data: dict) -> None:
        """Raise a DomainError for invalid data (subclasses)."""

    def clean(self):
        data = super().clean()
        if not self.errors and self.instance.pk is None:
            try:
                self.validate(data)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


class _ServiceAdmin(OrgScopedAdmin):
    """Add pages create through a service; change pages edit only the display fields, through a service.

    Subclasses define ``create(request, org, cleaned_data)`` calling the service that creates the row.
    """

    editable: tuple[str, ...] = ()
    permission = "manage_catalog"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in self.model._meta.fields if f.name not in self.editable and f.name != "id"]

    def save_model(self, request, obj, form, change):
        org = _org_of(request, obj)
        if change:
            fields = {name: form.cleaned_data[name] for name in self.editable if name in form.cleaned_data}
            self.run_service(request, services.update_catalog_entry, org, obj, **fields)
            return
        created = self.create(request, org, form.cleaned_data)  # type: ignore[attr-defined]
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db


class ProductForm(_ServiceForm):
    class Meta:
        model = Product
        fields = "__all__"

    def validate(self, data):
        services.check_tax(data.get("tax_category") or "S", data.get("tax_rate") or 0)


@admin.register(Product)
class ProductAdmin(_ServiceAdmin):
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


class MetricForm(_ServiceForm):
    aggregation = forms.ChoiceField(choices=[(a, a.replace("_", " ")) for a in services.AGGREGATIONS])

    class Meta:
        model = Metric
        fields = "__all__"


@admin.register(Metric)
class MetricAdmin(_ServiceAdmin):
    form = MetricForm
    list_display = ("code", "name", "aggregation", "property_name")
    search_fields = ("code", "name")
    editable = ("name",)

    def create(self, request, org, data):
        return services.create_metric(org, code=data["code"], name=data["name"], aggregation=data["aggregation"],
                                      property_name=data["property_name"])


class PriceForm(_ServiceForm):
    class Meta:
        model = Price
        fields = "__all__"

    def validate(self, data):
        data["model_config"] = services.check_price(
            data.get("code") or "", data.get("currency") or "", data.get("model_config") or {},
            data.get("quantity_source") or Price.SOURCE_QUANTITY, data.get("metric"))


@admin.register(Price)
class PriceAdmin(_ServiceAdmin):
    form = PriceForm
    list_display = ("code", "product", "currency", "model", "quantity_source", "metric", "active")
    list_filter = ("currency", "quantity_source", "active")
    search_fields = ("code", "nickname", "product__name")
    editable = ("nickname", "active")

    @admin.display(description="model")
    def model(self, obj):
        return obj.model_config.get("model", "")

    def create(self, request, org, data):
        return services.create_price(org, data["product"], code=data["code"], currency=data["currency"],
                                     model_config=data["model_config"], quantity_source=data["quantity_source"],
                                     metric=data.get("metric"), nickname=data["nickname"])


# --- subscriptions ------------------------------------------------------------------------------------------
class _ReadOnlyInline(OrgScopedInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ItemInline(_ReadOnlyInline):
    model = SubscriptionItem
    fields = ("price", "quantity", "starts_on", "ends_on")
    readonly_fields = fields


class PauseInline(_ReadOnlyInline):
    model = SubscriptionPause
    fields = ("starts_on", "resumes_on", "reason")
    readonly_fields = fields


class RecordInline(_ReadOnlyInline):
    model = BillingRecord
    fields = ("period_start", "period_end", "usage_start", "usage_end", "billing_date", "invoice", "amount")
    readonly_fields = fields
    ordering = ("-period_start",)

    @admin.display(description="amount (net)")
    def amount(self, obj):
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}"


@admin.register(Subscription)
class SubscriptionAdmin(OrgScopedAdmin):
    list_display = ("__str__", "customer", "interval", "anchor_day", "timing", "start_date", "end_date", "status",
                    "next_bill_on")
    list_filter = ("status", "interval", "timing", "currency")
    search_fields = ("reference", "customer__name", "customer__code")
    date_hierarchy = "next_bill_on"
    inlines = [ItemInline, PauseInline, RecordInline]
    actions = ["bill_now", "cancel_at_period_end", "cancel_now", "pause_today", "resume_today"]
    permission = "bill"

    def has_add_permission(self, request):
        return False  # subscriptions are created by `duly`'s services and API (items, deposit, schedule)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Subscription._meta.fields]

    def _each(self, request, queryset, fn, done: str, **kwargs):
        for sub in queryset.select_related("organization"):
            if self.run_service(request, fn, sub.organization, sub, **kwargs) is not None:
                self.message_user(request, f"{sub}: {done}.")

    @admin.action(description="Bill the selected subscriptions' customers now (as of today)", permissions=["bill"])
    def bill_now(self, request, queryset):
        by_org: dict = {}
        for sub in queryset.select_related("organization"):
            by_org.setdefault(sub.organization, set()).add(sub.customer_id)
        for org, customers in by_org.items():
            result = self.run_service(request, services.run_billing, org, date.today(), customers=customers)
            if result is not None:
                self.message_user(request, result.summary())

    @admin.action(description="Cancel at the end of the current period", permissions=["bill"])
    def cancel_at_period_end(self, request, queryset):
        self._each(request, queryset, services.cancel_subscription, "cancelled at the end of the period",
                   on=date.today(), as_of=date.today(), at_period_end=True)

    @admin.action(description="Cancel today (credit note for unused days)", permissions=["bill"])
    def cancel_now(self, request, queryset):
        self._each(request, queryset, services.cancel_subscription, "cancelled", on=date.today(),
                   as_of=date.today(), at_period_end=False)

    @admin.action(description="Pause from today (until resumed)", permissions=["bill"])
    def pause_today(self, request, queryset):
        self._each(request, queryset, services.pause_subscription, "paused", starts_on=date.today(),
                   as_of=date.today())

    @admin.action(description="Resume today", permissions=["bill"])
    def resume_today(self, request, queryset):
        self._each(request, queryset, services.resume_subscription, "resumed", on=date.today(), as_of=date.today())


@admin.register(BillingRecord)
class BillingRecordAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subscription", "period_start", "period_end", "billing_date", "invoice", "amount_minor",
                    "currency")
    list_filter = ("billing_date", "currency")
    search_fields = ("subscription__reference", "subscription__customer__name", "invoice__number")


@admin.register(PendingCharge)
class PendingChargeAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("customer", "description", "amount_minor", "currency", "created_on", "invoice")
    search_fields = ("customer__name", "description")


# --- usage -----------------------------------------------------------------------------------------------------
@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("idempotency_key", "customer", "metric", "timestamp", "value", "late", "late_billed_on",
                    "adjusted_on")
    list_filter = ("metric", "late")
    search_fields = ("idempotency_key", "customer__name", "customer__code")
    date_hierarchy = "timestamp"


@admin.register(LicenceSnapshot)
class LicenceSnapshotAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subscription", "customer", "day", "active_count")
    search_fields = ("customer__name", "subscription__reference")
    date_hierarchy = "day"


@admin.register(RetainerAgreement)
class RetainerAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("contract", "customer", "currency", "topup", "threshold", "balance", "active")

    @admin.display(description="top-up")
    def topup(self, obj):
        return from_minor(obj.topup_minor, obj.currency)

    @admin.display(description="threshold")
    def threshold(self, obj):
        return from_minor(obj.threshold_minor, obj.currency)

    @admin.display(description="balance")
    def balance(self, obj):
        return services.retainer_balance(obj.customer, obj.currency).balance


# --- price changes ----------------------------------------------------------------------------------------------
class PriceChangeForm(_ServiceForm):
    new_model_config = forms.JSONField(help_text='e.g. {"model": "per_unit", "unit_price": "12.00"}')

    class Meta:
        model = PriceChange
        fields = ("price", "subscription", "effective_date", "new_model_config", "justification", "notice_days")

    def validate(self, data):
        data["new_model_config"] = services.validate_price_config(data.get("new_model_config") or {})
        services.check_notice(data["effective_date"], date.today(), data.get("notice_days") or 0)


class NoticeInline(_ReadOnlyInline):
    model = PriceChangeNotice
    fields = ("customer", "send_on", "status", "sent_at", "first_invoice")
    readonly_fields = fields


@admin.register(PriceChange)
class PriceChangeAdmin(OrgScopedAdmin):
    form = PriceChangeForm
    permission = "manage_catalog"
    list_display = ("price", "subscription", "effective_date", "notice_days", "scheduled_on", "notices")
    list_filter = ("effective_date",)
    search_fields = ("price__code", "justification")
    inlines = [NoticeInline]

    @admin.display(description="notices")
    def notices(self, obj):
        return obj.notices.count()

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in PriceChange._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = services.schedule_price_change(
            _org_of(request, obj), data["price"], effective_date=data["effective_date"],
            new_model_config=data["new_model_config"], justification=data["justification"], as_of=date.today(),
            notice_days=data["notice_days"], subscription=data.get("subscription"))
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)


@admin.register(PriceChangeNotice)
class PriceChangeNoticeAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("subject", "customer", "send_on", "status", "sent_at", "first_invoice")
    list_filter = ("status", "send_on")
    search_fields = ("customer__name", "subject")
