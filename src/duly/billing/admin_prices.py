"""Back office of prices and price changes: a form per price model (:mod:`duly.billing.admin_pricing`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers.tenancy import OrgScopedAdmin, user_organizations

from . import services
from .admin_base import NoticeInline, ServiceAdmin, ServiceForm, org_of
from .admin_pricing import MODEL_LABELS, PRICING_FORMS, initial_from_config, preview, pricing_code, pricing_fieldsets
from .models import Price, PriceChange

PREVIEW_ONLY = _("Preview only: nothing was saved. Check the worked example, then save.")


class _PricingForm(ServiceForm):
    """A price (or price change) form with one price model's fields; ``validate`` builds the configuration."""

    def pricing_currency(self, data) -> str:
        return str(data.get("currency") or "").upper()

    def build_config(self, data) -> dict | None:
        config = self.clean_pricing(data, self.pricing_currency(data))  # type: ignore[attr-defined]
        if config is not None and "_preview" in self.data:
            raise forms.ValidationError(PREVIEW_ONLY)
        return config


class PriceBaseForm(_PricingForm):
    class Meta:
        model = Price
        fields = ("product", "code", "nickname", "currency", "quantity_source", "metric", "active")

    def validate(self, data):
        config = self.build_config(data)
        if config is not None:
            data["model_config"] = services.check_price(
                data.get("code") or "", data.get("currency") or "", config,
                data.get("quantity_source") or Price.SOURCE_QUANTITY, data.get("metric"))


class PriceChangeBaseForm(_PricingForm):
    class Meta:
        model = PriceChange
        fields = ("price", "subscription", "effective_date", "justification", "notice_days")

    def pricing_currency(self, data):
        price = data.get("price")
        return price.currency if price is not None else ""

    def validate(self, data):
        if data.get("price") is None:
            return
        config = self.build_config(data)
        if config is not None:
            data["new_model_config"] = config
        services.check_notice(data["effective_date"], date.today(), data.get("notice_days") or 0)


def pricing_form(base: type[forms.ModelForm], code: str) -> type[forms.ModelForm]:
    """``base`` with the fields of the price model ``code``."""
    fields = PRICING_FORMS[code]
    return type(base)(f"{fields.__name__}{base.__name__}", (fields, base), {"__module__": __name__})


class _PricingAdmin:
    """The add page of a model with a price configuration: ``?model=<code>`` chooses the form."""

    base_form: type[forms.ModelForm]
    main_fields: tuple[str, ...] = ()
    change_form_template = "admin/duly/pricing_change_form.html"

    def pricing_model(self, request) -> str:
        return pricing_code(request.GET.get("model"))

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = pricing_form(self.base_form, self.pricing_model(request))
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        return [(None, {"fields": self.main_fields}), *pricing_fieldsets(self.pricing_model(request))]

    def add_view(self, request, form_url="", extra_context=None):
        extra = {"pricing_models": list(MODEL_LABELS.items()), "pricing_model": self.pricing_model(request),
                 "pricing_preview_url": reverse("admin:billing_price_preview")}
        return super().add_view(request, form_url, {**extra, **(extra_context or {})})

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.pop("model", None)
        return initial


@admin.register(Price)
class PriceAdmin(_PricingAdmin, ServiceAdmin):
    base_form = PriceBaseForm
    main_fields = ("product", "code", "nickname", "currency", "quantity_source", "metric", "active")
    list_display = ("code", "product", "currency", "model", "quantity_source", "metric", "active")
    list_filter = ("currency", "quantity_source", "active")
    search_fields = ("code", "nickname", "product__name")
    editable = ("nickname", "active")

    @admin.display(description=_("model"))
    def model(self, obj):
        return obj.model_config.get("model", "")

    @admin.display(description=_("pricing"))
    def pricing(self, obj):
        from duly.domain.billing_plan import describe_model
        from duly.domain.pricing import model_from_config

        return describe_model(model_from_config(obj.model_config), obj.currency)

    @admin.display(description=_("worked example"))
    def worked_example(self, obj):
        code = initial_from_config(obj.model_config)[0]
        quantity = Decimal(150) if code in ("graduated", "volume", "package") else Decimal(100)
        return str(services.price_example(obj.model_config, obj.currency, quantity))

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return [*self.main_fields, "pricing", "worked_example", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f for f in self.get_fields(request, obj) if f not in self.editable]

    def get_urls(self):
        return [self.guarded_path("preview/", self.preview_view, "billing_price_preview", get="view", post="view"),
                *super().get_urls()]

    def preview_view(self, request):
        """The live worked example of the numbers on a price or price change form (JSON); nothing is read or
        written but the chosen price's currency."""
        data = request.POST.copy()
        if not data.get("currency") and data.get("price"):
            price = Price.objects.filter(organization__in=user_organizations(request.user),
                                         pk=data["price"] if str(data["price"]).isdigit() else None).first()
            data["currency"] = price.currency if price is not None else ""
        if request.method != "POST":
            return JsonResponse({"ok": False, "errors": [_("Post the price's numbers to see their worked example.")]})
        return JsonResponse(preview(data, request.GET.get("model")))

    def create(self, request, org, data):
        return services.create_price(org, data["product"], code=data["code"], currency=data["currency"],
                                     model_config=data["model_config"], quantity_source=data["quantity_source"],
                                     metric=data.get("metric"), nickname=data["nickname"])


@admin.register(PriceChange)
class PriceChangeAdmin(_PricingAdmin, OrgScopedAdmin):
    base_form = PriceChangeBaseForm
    main_fields = ("price", "subscription", "effective_date", "justification", "notice_days")
    permission = "manage_catalog"
    list_display = ("price", "subscription", "effective_date", "notice_days", "scheduled_on", "notices")
    list_filter = ("effective_date",)
    search_fields = ("price__code", "justification")
    inlines = [NoticeInline]

    @admin.display(description=_("notices"))
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
            org_of(request, obj), data["price"], effective_date=data["effective_date"],
            new_model_config=data["new_model_config"], justification=data["justification"], as_of=date.today(),
            notice_days=data["notice_days"], subscription=data.get("subscription"))
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
            return
        for formset in formsets:  # the notices are the service's: nothing of the (read-only) inline is saved
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
