from django import forms
from django.contrib import admin, messages
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from duly.domain.errors import DomainError

from . import roles, services
from .amounts import AmountField, MajorAmountsMixin
from .models import (
    REQUIRED_FIELD_CHOICES,
    REQUIRED_FIELD_HELP,
    Contact,
    Contract,
    Customer,
    Membership,
    Organization,
    StatutoryReferenceRate,
)
from .risk_admin import latest_check_html
from .tenancy import OrgScopedAdmin, OrgScopedInline, form_organization, user_organizations


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
    checked = services.validate_organization_fields(
        {k: v for k, v in data.items() if v is not None and k in services.ORGANIZATION_EDITABLE})
    data["iban"], data["bic"] = checked["iban"], checked["bic"]
    data["subdivision"] = checked["subdivision"]


class OrganizationForm(MajorAmountsMixin, DomainValidatedForm):
    """The share capital is entered and shown in major units of the default currency (``10000.00`` EUR), stored
    in minor units, like the other amounts of the back office."""

    validators = (_org_checks,)
    amounts = {"share_capital": "share_capital_minor"}
    currency_field = "default_currency"
    website = forms.URLField(required=False, assume_scheme="https")
    share_capital = AmountField(label=_("Share capital"), help_text=_("In your default currency, e.g. 10000.00 (France: "
                                                                 "capital social, printed with the legal form)"))

    class Meta:
        model = Organization
        exclude = ("share_capital_minor",)

    def clean(self):
        data = forms.ModelForm.clean(self)
        if self.errors or not self.convert_amounts(data):
            return data
        return super().clean()


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = ("name", "slug", "country", "default_currency", "vat_id")
    search_fields = ("name", "vat_id", "slug")
    #: What each page needs (docs/roles.md): deleting an organization deletes all its records.
    role_permissions = {"view": "view", "add": "create_organization", "change": "manage_organization",
                        "delete": roles.SUPERUSER}

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=user_organizations(request.user))

    def _allowed(self, request, operation, obj=None):
        permission = self.role_permissions[operation]
        if obj is None:
            return roles.has_permission_anywhere(request.user, permission)
        return roles.has_permission(request.user, obj.pk, permission)

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self._allowed(request, "view")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._allowed(request, "view", obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._allowed(request, "add")

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._allowed(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._allowed(request, "delete", obj)

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj is not None else ()

    def get_fields(self, request, obj=None):
        """The share capital (major units) where its stored minor-unit field stands in the model."""
        fields = list(super().get_fields(request, obj))
        major = {minor: name for name, minor in OrganizationForm.amounts.items()}
        ordered = [major.get(f.name, f.name) for f in Organization._meta.fields]
        return [f for f in ordered if f in fields] + [f for f in fields if f not in ordered]

    def save_model(self, request, obj, form, change):
        values = {k: v for k, v in form.cleaned_data.items() if k in services.ORGANIZATION_EDITABLE}
        if values.get("logo") is False:  # "clear" ticked
            values["logo"] = ""
        if change:
            services.update_organization(obj, **values)
        else:
            saved = services.create_organization(slug=form.cleaned_data.get("slug") or None, **values)
            if not request.user.is_superuser:  # whoever creates a seller can work for it
                services.add_member(saved, username=request.user.get_username(), role="owner")
            obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False


class MembershipForm(forms.ModelForm):
    """The checks the membership services run, as form errors: a user is a member once; the last owner stays."""

    class Meta:
        model = Membership
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if self.instance.pk is not None:
            _errors_as_form_errors(services.check_member_role_change, self.instance, data.get("role"))
            return data
        org, user = form_organization(self), data.get("user")
        if org is None:
            raise forms.ValidationError(_("Choose the organization."))
        if user is not None and Membership.objects.filter(organization=org, user=user).exists():
            raise forms.ValidationError(_("{user} is already a member of {org}: change their role instead.")
                                          .format(user=user, org=org))
        return data


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    """Who works for the organization, with which role (docs/roles.md). Only owners manage memberships, and
    an organization always keeps an owner (the membership services refuse to remove or demote the last one)."""

    form = MembershipForm
    permission = "manage_members"
    list_display = ("user", "organization", "role", "language")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "organization") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            if self.run_service(request, services.set_member_role, obj, form.cleaned_data["role"],
                                by=request.user) is None:
                return
        else:
            org, user = form_organization(form), form.cleaned_data["user"]
            if self.run_service(request, services.add_member, org, username=user.get_username(),
                                role=form.cleaned_data["role"], by=request.user) is None:
                return
            obj.pk = Membership.objects.get(user=user, organization=org).pk
        if form.cleaned_data.get("language", "") != Membership.objects.get(pk=obj.pk).language:
            self.run_service(request, services.set_member_language, obj, form.cleaned_data.get("language", ""),
                             by=request.user)
        obj.refresh_from_db()
        obj._state.adding = False

    def get_deleted_objects(self, objs, request):
        """Removing the last owner of an organization is refused on the confirmation page (nothing is deleted)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        try:
            services.check_members_removal(list(objs))
        except DomainError as exc:
            protected = [*protected, exc.message]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.remove_members([obj], by=request.user)

    def delete_queryset(self, request, queryset):
        services.remove_members(list(queryset), by=request.user)


def _errors_as_form_errors(check, *args, **kwargs):
    """Run a service check; a DomainError becomes a form error naming the field when it has one."""
    try:
        return check(*args, **kwargs)
    except DomainError as exc:
        raise forms.ValidationError(exc.message) from None


CONTACT_FIELDS = ("name", "email", "phone", "role", "birthday", "locale", "opted_out")


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        exclude = ("organization",)

    def clean(self):
        data = super().clean()
        if self.errors or not data or data.get("DELETE"):
            return data
        values = {k: data[k] for k in CONTACT_FIELDS if k in data}
        _errors_as_form_errors(services.check_contact, values)
        return data


class ContactInline(OrgScopedInline):
    model = Contact
    form = ContactForm
    extra = 0
    exclude = ("organization",)


def explain_required_fields(form, names=REQUIRED_FIELD_HELP) -> None:
    """Give each invoice field the form sets its explanation: what it is and where the invoice shows it."""
    aliases = {"invoice_address": "billing_address"}
    for name, field in form.fields.items():
        key = aliases.get(name, name)
        if key in names:
            field.help_text = REQUIRED_FIELD_HELP[key]


REQUIRED_FIELDS_HELP_TEXT = format_lazy(
    "{} {}", _("An invoice for this customer cannot be issued without each field ticked here:"),
    format_lazy(" ".join(["{}: {}"] * len(REQUIRED_FIELD_CHOICES)),
                *(part for code, label in REQUIRED_FIELD_CHOICES for part in (label, REQUIRED_FIELD_HELP[code]))))


class CustomerForm(forms.ModelForm):
    required_fields = forms.MultipleChoiceField(
        choices=REQUIRED_FIELD_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=REQUIRED_FIELDS_HELP_TEXT,
    )

    class Meta:
        model = Customer
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        explain_required_fields(self)
        if "custom_required_fields" in self.fields:
            self.fields["custom_required_fields"].help_text = _(
                "Names of further fields (a project code...) an invoice for this customer must have; each is set "
                "on the draft invoice and printed on it under its name.")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        org = form_organization(self)
        if org is None:
            raise forms.ValidationError(_("Choose the organization of this customer."))
        values = {k: v for k, v in data.items() if k not in ("organization", "code")}
        checked = _errors_as_form_errors(services.validate_customer, org, dict(values), code=data.get("code", ""),
                                         instance=self.instance)
        data.update({k: checked[k] for k in values if k in checked})
        return data


@admin.register(Customer)
class CustomerAdmin(OrgScopedAdmin):
    """Customers are created and changed through the customers services (same checks as everywhere).

    The back office shows it with the customer's statement of account and balances (:mod:`duly.backoffice`)."""

    form = CustomerForm
    permission = "manage_customers"
    actions = ["rotate_pay_links"]
    list_display = ("code", "name", "country", "currency", "segment", "status")
    list_filter = ("status", "country", "currency", "segment", "preferred_payment_method")
    search_fields = ("code", "name", "tax_id", "contacts__email", "contacts__name")
    inlines = [ContactInline]
    readonly_fields = ("red_flag_check",)

    @admin.display(description=_("red-flag check"))
    def red_flag_check(self, obj):
        return latest_check_html(obj)

    @admin.action(description=_("Rotate pay links (the links sent so far stop working)"), permissions=["manage_customers"])
    def rotate_pay_links(self, request, queryset):
        for customer in queryset.order_by("pk"):
            version = self.run_service(request, services.rotate_pay_links, customer)
            if version is not None:
                self.message_user(request, _("{code}: the pay links sent so far no longer open; the next messages "
                                             "carry new ones.").format(code=customer.code), messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        values = {k: v for k, v in form.cleaned_data.items() if k not in ("organization", "code")}
        if change:
            # the stored row: the service compares the new values with what is saved
            services.update_customer(Customer.objects.get(pk=obj.pk), code=form.cleaned_data["code"], **values)
        else:
            saved = services.create_customer(form_organization(form), code=form.cleaned_data["code"], **values)
            obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Contact:
            return super().save_formset(request, form, formset, change)
        customer = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.forms:
            data = getattr(f, "cleaned_data", None)
            if not data:
                continue
            values = {k: data[k] for k in CONTACT_FIELDS if k in data}
            if data.get("DELETE"):
                if f.instance.pk:
                    formset.deleted_objects.append(f.instance)
                    services.remove_contact(f.instance)
            elif f.instance.pk is None:
                if f.has_changed():
                    formset.new_objects.append(services.add_contact(customer, **values))
            elif f.has_changed():
                contact = services.update_contact(f.instance, **values)
                formset.changed_objects.append((contact, f.changed_data))


def _contract_checks(form, data):
    instance = form.instance
    for k, v in data.items():
        if hasattr(instance, k) and k not in ("customer", "organization"):
            setattr(instance, k, v)
    customer = data.get("customer") or (instance.customer if instance.customer_id else None)
    if customer is None:
        return  # the form already says the customer is required
    instance.customer = customer
    instance.organization = customer.organization
    services.validate_contract(instance)


class ContractForm(MajorAmountsMixin, DomainValidatedForm):
    """Amounts in major units of the contract's currency (``40.00`` EUR, ``4000`` JPY), stored in minor units."""

    validators = (_contract_checks,)
    amounts = {"late_fixed_fee": "late_fixed_fee_minor", "late_cap": "late_cap_minor",
               "compensation": "compensation_minor", "deposit_amount": "deposit_amount_minor"}
    late_fixed_fee = AmountField(label=_("Late fixed fee"), help_text=_("A fixed late fee (late fee kind: fixed fee), "
                                                                   "in the contract's currency, e.g. 40.00"))
    late_cap = AmountField(label=_("Late fee cap"), help_text=_("At most this much late fees per invoice (blank: no cap)"))
    compensation = AmountField(label=_("Compensation"), help_text=_("Fixed compensation for recovery costs per late "
                                                               "invoice (EU late payment directive: 40.00 EUR)"))
    deposit_amount = AmountField(label=_("Deposit amount"), help_text=_("A fixed deposit (deposit kind: amount), "
                                                                   "invoiced before service starts"))

    class Meta:
        model = Contract
        exclude = ("late_fixed_fee_minor", "late_cap_minor", "compensation_minor", "deposit_amount_minor")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        explain_required_fields(self)

    def clean(self):
        data = forms.ModelForm.clean(self)
        if self.errors or not self.convert_amounts(data):
            return data
        return super().clean()


CONTRACT_EDITABLE = ("reference", "currency", "terms_kind", "terms_days", "terms_day_of_month",
                     "business_day_adjustment", "business_day_calendar", "late_fee_kind", "late_fixed_fee_minor", "late_rate_percent",
                     "reference_rate_percent", "late_grace_days", "late_cap_percent", "late_cap_minor",
                     "compensation_minor", "deposit_kind", "deposit_amount_minor", "deposit_percent",
                     "billing_frequency", "billing_anchor_day", "deposit_deduction", "po_number", "supply_kind",
                     "start_date", "end_date")


@admin.register(Contract)
class ContractAdmin(OrgScopedAdmin):
    """Contracts are created and changed through the customers services; amounts are entered in major units
    (:class:`ContractForm`)."""

    form = ContractForm
    permission = "manage_customers"
    list_display = ("reference", "customer", "terms_kind", "terms_days", "late_fee_kind", "billing_frequency",
                    "start_date", "end_date")
    list_filter = ("terms_kind", "late_fee_kind", "billing_frequency", "currency")
    search_fields = ("reference", "customer__name", "po_number")
    autocomplete_fields = ("customer",)

    def get_readonly_fields(self, request, obj=None):
        return ("customer",) if obj is not None else ()

    def get_exclude(self, request, obj=None):
        return [*super().get_exclude(request, obj), "organization", *ContractForm.amounts.values()]

    def get_fields(self, request, obj=None):
        """The amounts (major units) where their stored minor-unit fields stand in the model."""
        fields = list(super().get_fields(request, obj))
        major = {minor: name for name, minor in ContractForm.amounts.items()}
        ordered = [major.get(f.name, f.name) for f in Contract._meta.fields]
        return [f for f in ordered if f in fields] + [f for f in fields if f not in ordered]

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data[k] for k in CONTRACT_EDITABLE if k in form.cleaned_data}
        if change:
            services.update_contract(obj, **values)
        else:
            customer = form.cleaned_data["customer"]
            saved = services.create_contract(customer.organization, customer, **values)
            obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False


@admin.register(Contact)
class ContactAdmin(OrgScopedAdmin):
    form = ContactForm
    permission = "manage_customers"
    list_display = ("name", "email", "role", "customer")
    list_filter = ("role",)
    search_fields = ("name", "email", "customer__name")

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data[k] for k in CONTACT_FIELDS if k in form.cleaned_data}
        if change:
            services.update_contact(obj, **values)
        else:
            saved = services.add_contact(form.cleaned_data["customer"], **values)
            obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False


class StatutoryReferenceRateForm(forms.ModelForm):
    class Meta:
        model = StatutoryReferenceRate
        fields = ("series", "valid_from", "rate_percent")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        series = data.get("series", self.instance.series)
        valid_from = data.get("valid_from", self.instance.valid_from)
        series = _errors_as_form_errors(services.check_reference_rate, series, valid_from,
                                              data.get("rate_percent"))[0]
        if self.instance.pk is None:
            data["series"] = series
            if StatutoryReferenceRate.objects.filter(series=series, valid_from=valid_from).exists():
                raise forms.ValidationError(_("A {series} rate from {value} is already recorded: change that one.")
                                              .format(series=series, value=valid_from.isoformat()))
        return data


@admin.register(StatutoryReferenceRate)
class StatutoryReferenceRateAdmin(admin.ModelAdmin):
    """Public reference data shared by every organization: staff read it, only superusers change it.

    A rate's series and date are fixed once recorded (delete a wrong one and record it again);
    every write goes through :func:`duly.customers.services.record_reference_rate`.
    """

    form = StatutoryReferenceRateForm
    #: Shared by every organization: every staff user reads it, only platform operators change it.
    role_permissions = {"view": "view", "add": roles.SUPERUSER, "change": roles.SUPERUSER, "delete": None}
    list_display = ("series", "valid_from", "rate_percent", "recorded_at")
    list_filter = ("series",)
    search_fields = ("series",)
    date_hierarchy = "valid_from"

    def get_readonly_fields(self, request, obj=None):
        return ("series", "valid_from") if obj is not None else ()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # issued invoices state the rates they were charged at: a wrong rate is corrected, never deleted

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        series = obj.series if change else data["series"]
        valid_from = obj.valid_from if change else data["valid_from"]
        saved = services.record_reference_rate(series=series, valid_from=valid_from,
                                               rate_percent=data["rate_percent"]).rate
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False
