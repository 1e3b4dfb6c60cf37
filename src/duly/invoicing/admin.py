from datetime import date

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from duly.customers.tenancy import OrgScopedAdmin
from duly.domain.money import from_minor
from duly.payments.models import METHOD_CHOICES

from . import services
from .models import Attachment, Invoice, InvoiceLine, NumberSeries


class _LockedWhenIssued:
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)


class InvoiceLineInline(_LockedWhenIssued, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ("position", "description", "quantity", "unit", "unit_price", "discount_percent", "tax_category",
              "tax_rate", "tax_exemption_reason", "period_start", "period_end", "explanation")


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ("file", "description", "content_type", "size", "sha256")
    readonly_fields = ("content_type", "size", "sha256")

    def has_change_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Shown on the record")


class PaymentForm(forms.Form):
    amount = forms.DecimalField(min_value=0, decimal_places=3)
    method = forms.ChoiceField(choices=[c for c in METHOD_CHOICES if c[0] != "credit"])
    received_on = forms.DateField(initial=date.today, help_text="YYYY-MM-DD")
    external_reference = forms.CharField(required=False)


@admin.register(Invoice)
class InvoiceAdmin(OrgScopedAdmin):
    list_display = ("display_number", "customer", "kind", "status", "issue_date", "due_date", "total_display",
                    "balance_display")
    list_filter = ("status", "kind", "currency", "customer__country", "issue_date", "due_date")
    search_fields = ("number", "customer__name", "customer__code", "po_number", "rf_reference")
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline, AttachmentInline]
    autocomplete_fields = ("customer",)
    actions = ["issue_selected", "void_selected", "assess_fees"]
    frozen = ("number", "status", "issue_date", "due_date", "rf_reference", "payment_terms_text", "late_terms_text",
              "line_total_minor", "tax_exclusive_minor", "tax_total_minor", "total_minor", "prepaid_minor",
              "paid_minor", "tax_breakdown", "issued_at", "paid_on", "voided_at", "void_reason")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Invoice.DRAFT:
            return [f.name for f in Invoice._meta.fields]
        return self.frozen

    def get_exclude(self, request, obj=None):
        return ["organization"] if obj is None or obj.status == Invoice.DRAFT else []

    @admin.display(description="number", ordering="number")
    def display_number(self, obj):
        return obj.number or f"(draft {obj.pk})"

    @admin.display(description="total")
    def total_display(self, obj):
        return f"{from_minor(obj.total_minor, obj.currency)} {obj.currency}"

    @admin.display(description="balance")
    def balance_display(self, obj):
        if not obj.is_open:
            return "—"
        url = reverse("admin:invoicing_invoice_record_payment", args=[obj.pk])
        return format_html('{} {} · <a href="{}">record payment</a>', obj.balance, obj.currency, url)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.organization = obj.customer.organization
            obj.currency = obj.currency or obj.customer.currency
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.status == Invoice.DRAFT:
            self.run_service(request, services.recompute_totals, form.instance)

    # --- actions: each goes through the services ---------------------------------------------
    @admin.action(description="Issue selected drafts (dated today)")
    def issue_selected(self, request, queryset):
        for inv in queryset:
            issued = self.run_service(request, services.issue_invoice, inv.organization, inv.pk,
                                      issue_date=date.today())
            if issued:
                self.message_user(request, f"Issued {issued.number}, due {issued.due_date:%Y-%m-%d}.")

    @admin.action(description="Void selected invoices…")
    def void_selected(self, request, queryset):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                for inv in queryset:
                    if self.run_service(request, services.void_invoice, inv.organization, inv.pk,
                                        reason=form.cleaned_data["reason"]):
                        self.message_user(request, f"Voided {inv}.")
                return None
        else:
            form = ReasonForm()
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": "Void invoices", "form": form, "objects": queryset,
            "action": "void_selected", "opts": self.model._meta,
        })

    @admin.action(description="Assess late fees for selected (as of today)")
    def assess_fees(self, request, queryset):
        from duly.collections.services import assess_late_fees

        by_org = {}
        for inv in queryset:
            by_org.setdefault(inv.organization, []).append(inv.pk)
        for org, ids in by_org.items():
            result = self.run_service(request, assess_late_fees, org, as_of=date.today(), invoice_ids=ids)
            if result is not None:
                self.message_user(request, result.summary())

    # --- record payment page ----------------------------------------------------------------------
    def get_urls(self):
        return [
            path("<int:pk>/record-payment/", self.admin_site.admin_view(self.record_payment_view),
                 name="invoicing_invoice_record_payment"),
        ] + super().get_urls()

    def record_payment_view(self, request, pk):
        from duly.payments.services import record_payment

        invoice = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST":
            form = PaymentForm(request.POST)
            if form.is_valid():
                d = form.cleaned_data
                payment = self.run_service(
                    request, record_payment, invoice.organization, invoice.customer, amount=d["amount"],
                    currency=invoice.currency, method=d["method"], received_on=d["received_on"],
                    external_reference=d["external_reference"], allocations={invoice.pk: d["amount"]},
                )
                if payment is not None:
                    self.message_user(request, f"Recorded {d['amount']} {invoice.currency} on {invoice}.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:invoicing_invoice_change", args=[pk]))
        else:
            form = PaymentForm(initial={"amount": invoice.balance})
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": f"Record a payment for {invoice}", "form": form,
            "objects": [invoice], "opts": self.model._meta,
        })


@admin.register(NumberSeries)
class NumberSeriesAdmin(OrgScopedAdmin):
    list_display = ("organization", "kind", "pattern")
