from django import forms
from django.contrib import admin

from duly.domain.errors import DomainError

from . import services
from .models import REQUIRED_FIELD_CHOICES, Contact, Contract, Customer, Membership, Organization
from .tenancy import OrgScopedAdmin, user_organizations


class DomainValidatedForm(forms.ModelForm):
    """Runs the same validation the services run and shows it as a form error."""

    validators: tuple = ()

    def clean(self):
        data = super().clean()
        for validator in self.validators:
            try:
                validator(self, data)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


def _org_checks(form, data):
    services.validate_country(data.get("country") or "")
    services.validate_locale(data.get("locale") or "en")
    services.validate_timezone(data.get("timezone") or "UTC")
    from duly.domain.money import check_currency

    check_currency(data.get("default_currency") or "")
    data["iban"], data["bic"] = services.validate_bank_details(data.get("iban") or "", data.get("bic") or "")


class OrganizationForm(DomainValidatedForm):
    validators = (_org_checks,)

    class Meta:
        model = Organization
        fields = "__all__"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = ("name", "slug", "country", "default_currency", "vat_id")
    search_fields = ("name", "vat_id", "slug")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=user_organizations(request.user))


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    list_display = ("user", "organization", "role")


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    exclude = ("organization",)


def _customer_checks(form, data):
    from duly.domain.money import check_currency

    services.validate_country(data.get("country") or "")
    services.validate_locale(data.get("locale") or "en")
    services.validate_timezone(data.get("timezone") or "UTC")
    check_currency(data.get("currency") or "")


class CustomerForm(DomainValidatedForm):
    validators = (_customer_checks,)
    required_fields = forms.MultipleChoiceField(
        choices=REQUIRED_FIELD_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Invoices for this customer cannot be issued without these fields.",
    )

    class Meta:
        model = Customer
        fields = "__all__"


@admin.register(Customer)
class CustomerAdmin(OrgScopedAdmin):
    form = CustomerForm
    list_display = ("code", "name", "country", "currency", "segment", "status")
    list_filter = ("status", "country", "currency", "segment", "preferred_payment_method")
    search_fields = ("code", "name", "tax_id", "contacts__email", "contacts__name")
    inlines = [ContactInline]
    readonly_fields = ("statement_of_account",)

    @admin.display(description="Statement of account (today)")
    def statement_of_account(self, obj):
        from datetime import date

        from django.utils.html import format_html, format_html_join

        from duly.insights.services import statement_of_account

        if obj is None or obj.pk is None:
            return "—"
        st = statement_of_account(obj, as_of=date.today())
        if not st["lines"]:
            return "No open items."
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td style='text-align:right'>{} {}</td><td>{}</td></tr>",
            ((l.number, l.issue_date, l.due_date or "", l.open_amount, l.currency, l.bucket) for l in st["lines"]),
        )
        totals = ", ".join(f"{v} {c}" for c, v in st["total_open"].items())
        return format_html("<table><tr><th>Invoice</th><th>Issued</th><th>Due</th><th>Open</th><th>Aging</th></tr>"
                           "{}</table><p><strong>Total open: {}</strong></p>", rows, totals)

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            obj.organization = form.instance.organization
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()


def _contract_checks(form, data):
    instance = form.instance
    for k, v in data.items():
        if hasattr(instance, k) and k not in ("customer", "organization"):
            setattr(instance, k, v)
    if data.get("customer") is not None:
        instance.customer = data["customer"]
        instance.payment_terms()
    instance.late_fee_policy()


class ContractForm(DomainValidatedForm):
    validators = (_contract_checks,)

    class Meta:
        model = Contract
        fields = "__all__"


@admin.register(Contract)
class ContractAdmin(OrgScopedAdmin):
    form = ContractForm
    list_display = ("reference", "customer", "terms_kind", "terms_days", "late_fee_kind", "billing_frequency",
                    "start_date", "end_date")
    list_filter = ("terms_kind", "late_fee_kind", "billing_frequency", "currency")
    search_fields = ("reference", "customer__name", "po_number")
    autocomplete_fields = ("customer",)


@admin.register(Contact)
class ContactAdmin(OrgScopedAdmin):
    list_display = ("name", "email", "role", "customer")
    list_filter = ("role",)
    search_fields = ("name", "email", "customer__name")
