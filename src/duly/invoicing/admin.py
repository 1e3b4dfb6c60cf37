"""The invoice back office: drafts are created and changed through the invoicing services, and every
action (issue, void, credit, write off) is a service call.

The checks the services run are shown as form errors first, so a refused draft saves nothing.
The back office adds, as service calls too, what needs the apps above invoicing: recording a payment,
assessing late fees (:mod:`duly.backoffice.admin`).
"""

import os

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from duly.customers.admin import explain_required_fields
from duly.customers.services import local_today
from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, ReadOnlyOrgScopedAdmin, form_organization
from duly.domain.errors import DomainError
from duly.domain.money import from_minor

from . import hooks, services
from . import exchange_rate_services
from .models import Attachment, ExchangeRate, Invoice, InvoiceLine, NumberSeries, WriteOffReversal

LINE_FIELDS = ("description", "quantity", "unit", "unit_price", "discount_percent", "tax_category", "tax_rate",
               "tax_exemption_reason", "period_start", "period_end", "explanation")
#: Header fields a bookkeeper edits on a draft; everything else is set by the services.
DRAFT_FIELDS = ("customer", "contract", "kind", "currency", "service_period_start", "service_period_end",
                *services.REQUIRED_FIELD_LABELS, "custom_fields", "notes")
#: Shown (read-only) on a draft: set and computed by the services.
DRAFT_INFO = ("status", "locale", "related_invoice", "line_total_minor", "allowance_total_minor",
              "charge_total_minor", "tax_exclusive_minor", "tax_total_minor", "total_minor")
#: Kinds a draft can be created with here (credit notes come from the "credit" action, late fees from fees).
ADMIN_KINDS = [(Invoice.KIND_STANDARD, _("Invoice")), (Invoice.KIND_DEPOSIT, _("Deposit invoice"))]


def _form_error(exc: DomainError) -> forms.ValidationError:
    return forms.ValidationError(exc.message, code=exc.code)


class _LockedWhenIssued:
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)


class DraftLinesFormSet(forms.BaseInlineFormSet):
    """Checks the lines as the services do (quantities, prices, tax) against the invoice currency."""

    def line_data(self) -> list[services.LineData]:
        rows = []
        for n, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            rows.append((data.get("position") or 0, n, services.LineData(**{
                name: data.get(name) if data.get(name) is not None or name == "discount_percent" else
                services.LineData.__dataclass_fields__[name].default
                for name in LINE_FIELDS
            })))
        return [line for _, _, line in sorted(rows, key=lambda r: (r[0], r[1]))]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        currency = getattr(self.instance, "_draft_currency", None)
        if currency is None:  # the header was refused; its error is already on the form
            return
        lines = self.line_data()
        try:
            services.check_draft_lines(self.instance, lines, currency)
        except DomainError as exc:
            raise _form_error(exc) from None
        self.instance._draft_lines = lines


class InvoiceLineInline(_LockedWhenIssued, OrgScopedInline):
    model = InvoiceLine
    formset = DraftLinesFormSet
    extra = 0
    fields = ("position", *LINE_FIELDS)


class AttachmentForm(forms.ModelForm):
    class Meta:
        model = Attachment
        fields = ("file", "description")

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if self.instance.pk is None and upload is not None and not data.get("DELETE"):
            content = upload.read()
            upload.seek(0)
            try:
                invoice = getattr(self.instance, "invoice", None)
                if invoice is not None:
                    services.check_attachable(invoice)
                services.check_attachment(os.path.basename(upload.name), content, data.get("description") or "")
            except DomainError as exc:
                raise _form_error(exc) from None
        return data


class AttachmentInline(OrgScopedInline):
    """Files are stored through ``services.add_attachment`` (name, size, SHA-256); stored ones never change."""

    model = Attachment
    form = AttachmentForm
    extra = 0
    can_delete = False
    fields = ("file", "description", "filename", "content_type", "size", "sha256")
    readonly_fields = ("filename", "content_type", "size", "sha256")

    def has_change_permission(self, request, obj=None):
        return False


class DraftForm(forms.ModelForm):
    currency = forms.CharField(max_length=3, required=False,
                               help_text=_("Leave empty for the contract's (or else the customer's) currency"))

    class Meta:
        model = Invoice
        fields = DRAFT_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"].choices = ADMIN_KINDS
        explain_required_fields(self)

    def clean(self):
        data = super().clean()
        customer = data.get("customer")
        if customer is None or self.errors:
            return data
        period = None
        if data.get("service_period_start") or data.get("service_period_end"):
            period = (data.get("service_period_start"), data.get("service_period_end"))
        try:
            currency = services.check_draft(
                customer.organization, customer, kind=data.get("kind") or self.instance.kind,
                contract=data.get("contract"), currency=(data.get("currency") or "").upper() or None,
                service_period=period, custom_fields=data.get("custom_fields") or {},
                fields={k: data.get(k) for k in services.REQUIRED_FIELD_LABELS},
            )
        except DomainError as exc:
            raise _form_error(exc) from None
        data["currency"] = currency
        self.instance._draft_currency = currency
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Shown on the record"))


class CreditNoteForm(ReasonForm):
    issue_now = forms.BooleanField(required=False, initial=True,
                                   help_text=_("Issue the credit note today (else it stays a draft to review)"))


@admin.register(Invoice)
class InvoiceAdmin(OrgScopedAdmin):
    list_display = ("display_number", "customer", "kind", "status", "issue_date", "due_date", "total_display",
                    "balance_display")
    list_filter = ("status", "kind", "currency", "customer__country", "issue_date", "due_date")
    search_fields = ("number", "customer__name", "customer__code", "po_number", "rf_reference")
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline, AttachmentInline]
    autocomplete_fields = ("customer",)
    actions = ["issue_selected", "issue_over_credit_limit", "void_selected", "credit_selected", "write_off_selected"]
    form = DraftForm
    permission = "bill"

    def get_fields(self, request, obj=None):
        if obj is not None and obj.status != Invoice.DRAFT:
            return [f.name for f in Invoice._meta.fields] + ["late_payment_prediction"]
        return [*DRAFT_FIELDS, *DRAFT_INFO] if obj is not None else list(DRAFT_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Invoice.DRAFT:
            return [f.name for f in Invoice._meta.fields] + ["late_payment_prediction"]
        return ("kind", *DRAFT_INFO) if obj is not None else ()

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None and obj.status != Invoice.DRAFT:
            kwargs["form"] = forms.ModelForm  # everything is read-only
        return super().get_form(request, obj, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # an issued invoice is a legal record in a gapless series: it is voided or credited, never deleted
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == Invoice.DRAFT)

    @admin.display(description=_("late-payment prediction"))
    def late_payment_prediction(self, obj):
        return hooks.late_payment_prediction(obj) or "—"

    @admin.display(description=_("number"), ordering="number")
    def display_number(self, obj):
        return obj.number or f"(draft {obj.pk})"

    @admin.display(description=_("total"))
    def total_display(self, obj):
        return f"{from_minor(obj.total_minor, obj.currency)} {obj.currency}"

    @admin.display(description=_("balance"))
    def balance_display(self, obj):
        return f"{obj.balance} {obj.currency}" if obj.is_open else "—"

    # --- saving: one service call per draft, after the form and its lines were checked ---------------
    def save_model(self, request, obj, form, change):
        if change and obj.status != Invoice.DRAFT:
            return  # nothing of an issued invoice is editable; attachments are added in save_formset
        data = form.cleaned_data
        period = None
        if data.get("service_period_start") or data.get("service_period_end"):
            period = (data["service_period_start"], data["service_period_end"])
        lines = getattr(obj, "_draft_lines", None)
        org = data["customer"].organization
        if change:
            services.update_draft(
                org, obj.pk, lines=lines, customer=data["customer"], contract=data.get("contract"),
                currency=data["currency"], service_period=period, notes=data.get("notes", ""),
                custom_fields=data.get("custom_fields") or {},
                **{k: data.get(k, "") for k in services.REQUIRED_FIELD_LABELS},
            )
        else:
            created = services.create_draft(
                org, data["customer"], lines or [], kind=data.get("kind") or Invoice.KIND_STANDARD,
                contract=data.get("contract"), currency=data["currency"], service_period=period,
                notes=data.get("notes", ""), custom_fields=data.get("custom_fields") or {},
                # empty fields take the customer's / contract's defaults (PO number, references, address)
                **{k: data.get(k) or None for k in services.REQUIRED_FIELD_LABELS},
            )
            obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is InvoiceLine:
            return  # written by create_draft / update_draft in save_model
        if formset.model is Attachment:
            invoice = form.instance
            for f in formset.forms:
                data = getattr(f, "cleaned_data", None)
                if not data or f.instance.pk is not None or data.get("file") is None:
                    continue
                upload = data["file"]
                formset.new_objects.append(services.add_attachment(
                    invoice.organization, invoice.pk, os.path.basename(upload.name), upload.read(),
                    description=data.get("description") or "",
                ))
            return
        super().save_formset(request, form, formset, change)

    # --- actions: each goes through the services, dated in the organization's time zone ----------------
    @admin.action(description=_("Issue selected drafts (dated today)"), permissions=["bill"])
    def issue_selected(self, request, queryset):
        for inv in queryset.select_related("organization").order_by("pk"):
            issued = self.run_service(request, services.issue_invoice, inv.organization, inv.pk,
                                      issue_date=local_today(inv.organization))
            if issued:
                self.message_user(request, _("Issued {number}, due {due_date:%Y-%m-%d}.")
                                             .format(number=issued.number, due_date=issued.due_date))

    @admin.action(description=_("Issue selected drafts over the customer's credit limit (owner or admin)…"),
                  permissions=["manage_organization"])
    def issue_over_credit_limit(self, request, queryset):
        def apply(inv, data):
            issued = self.run_service(request, services.issue_invoice, inv.organization, inv.pk,
                                      issue_date=local_today(inv.organization), over_credit_limit_by=request.user,
                                      over_credit_limit_note=data["reason"])
            if issued:
                self.message_user(request, _("Issued {number}, due {due_date:%Y-%m-%d}.")
                                             .format(number=issued.number, due_date=issued.due_date))

        return self._reason_action(request, queryset, action="issue_over_credit_limit",
                                   title=_("Issue over the credit limit"), form_class=ReasonForm, apply=apply)

    def _reason_action(self, request, queryset, *, action, title, form_class, apply):
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for inv in queryset.select_related("organization").order_by("pk"):
                    apply(inv, form.cleaned_data)
                return None
        else:
            form = form_class()
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": title, "form": form, "objects": queryset,
            "action": action, "opts": self.model._meta,
        })

    @admin.action(description=_("Void selected invoices…"), permissions=["bill"])
    def void_selected(self, request, queryset):
        def apply(inv, data):
            if self.run_service(request, services.void_invoice, inv.organization, inv.pk, reason=data["reason"]):
                self.message_user(request, _("Voided {inv}.").format(inv=inv))

        return self._reason_action(request, queryset, action="void_selected", title=_("Void invoices"),
                                   form_class=ReasonForm, apply=apply)

    @admin.action(description=_("Credit selected invoices in full (credit note)…"), permissions=["bill"])
    def credit_selected(self, request, queryset):
        def apply(inv, data):
            note = self.run_service(request, services.create_credit_note, inv.organization, inv.pk,
                                    reason=data["reason"],
                                    issue_date=local_today(inv.organization) if data["issue_now"] else None)
            if note is not None:
                if note.number:
                    said = _("Credit note for {inv} issued as {number}.").format(inv=inv, number=note.number)
                else:
                    said = _("Credit note for {inv} saved as draft {pk}.").format(inv=inv, pk=note.pk)
                self.message_user(request, said)

        return self._reason_action(request, queryset, action="credit_selected", title=_("Credit notes"),
                                   form_class=CreditNoteForm, apply=apply)

    @admin.action(description=_("Write off selected invoices as uncollectible…"), permissions=["bill"])
    def write_off_selected(self, request, queryset):
        def apply(inv, data):
            if self.run_service(request, services.mark_uncollectible, inv.organization, inv.pk, reason=data["reason"]):
                self.message_user(request, _("Wrote off {inv} as uncollectible.").format(inv=inv))

        return self._reason_action(request, queryset, action="write_off_selected",
                                   title=_("Write off as uncollectible"), form_class=ReasonForm, apply=apply)


class NumberSeriesForm(forms.ModelForm):
    class Meta:
        model = NumberSeries
        fields = ("pattern",)

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        try:
            return services.validate_pattern(pattern)
        except DomainError as exc:
            raise _form_error(exc) from None


@admin.register(NumberSeries)
class NumberSeriesAdmin(OrgScopedAdmin):
    """Each organization has one invoice and one credit-note series (made with it); only the pattern changes."""

    form = NumberSeriesForm
    permission = "manage_organization"
    list_display = ("organization", "kind", "pattern")
    readonly_fields = ("organization", "kind")
    fields = ("organization", "kind", "pattern")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_exclude(self, request, obj=None):
        return ()

    def save_model(self, request, obj, form, change):
        services.set_number_pattern(obj.organization, obj.kind, form.cleaned_data["pattern"])
        obj.refresh_from_db()


class ExchangeRateForm(forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ("organization", "currency", "accounting_currency", "rate", "rate_date", "source")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                exchange_rate_services.check_exchange_rate(data["currency"], data["accounting_currency"],
                                                           data["rate"], data["source"])
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


@admin.register(ExchangeRate)
class ExchangeRateAdmin(OrgScopedAdmin):
    """Exchange rates entered with their date and source (a UK VAT invoice in a foreign currency states its VAT in
    sterling at the latest rate on or before its issue date, frozen at issue); saved through the service."""

    form = ExchangeRateForm
    permission = "manage_organization"
    list_display = ("rate_date", "currency", "accounting_currency", "rate", "source", "organization")
    list_filter = ("currency", "accounting_currency")

    def has_delete_permission(self, request, obj=None):
        return False  # issued invoices keep their rate anyway; a wrong rate is corrected by entering that day's again

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        row = exchange_rate_services.record_exchange_rate(
            form_organization(form), currency=data["currency"], accounting_currency=data["accounting_currency"],
            rate=data["rate"], rate_date=data["rate_date"], source=data["source"])
        obj.pk = row.pk
        obj.refresh_from_db()
        obj._state.adding = False


@admin.register(WriteOffReversal)
class WriteOffReversalAdmin(ReadOnlyOrgScopedAdmin):
    """The audit of each write-off taken back (staff undoing the bank match that wrote a short payment's rest off):
    when and why the invoice had been written off, when and why it reopened, and the state it reopened in.
    Read-only: :func:`duly.invoicing.lifecycle.reverse_write_off` writes it."""

    list_display = ("reversed_at", "invoice", "customer", "status_after", "paid_display", "reason")
    list_filter = ("status_after", "reversed_at")
    search_fields = ("invoice__number", "invoice__customer__name", "reason", "write_off_reason")
    date_hierarchy = "reversed_at"
    fields = ("invoice", "customer", "written_off_at", "write_off_reason", "reversed_at", "reason", "status_after",
              "paid_display")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice", "invoice__customer")

    @admin.display(description=_("customer"), ordering="invoice__customer__name")
    def customer(self, obj):
        return obj.invoice.customer

    @admin.display(description=_("received when reopened"), ordering="paid_minor")
    def paid_display(self, obj):
        return f"{from_minor(obj.paid_minor, obj.invoice.currency)} {obj.invoice.currency}"
