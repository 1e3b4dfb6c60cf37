"""A customer's payment methods in the back office: saved methods (make default, remove), SEPA mandates (add,
revoke), the organization's SEPA creditor, and the provider events Duly received. Every form and action goes through
:mod:`.method_services` and :mod:`.sepa_services`; a domain error shows on the field it concerns."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers import roles
from duly.customers.links import pay_url
from duly.customers.models import Customer
from duly.customers.services import local_today
from duly.customers.tenancy import OrgScopedAdmin, ReadOnlyOrgScopedAdmin, form_organization, scoped_choices
from duly.domain.errors import DomainError

from . import method_services, sepa_services
from .models import Mandate, ProviderEvent, SavedPaymentMethod, SepaCreditor

#: The form field a domain error's code is about (else the error shows above the form).
FIELD_OF_CODE = {
    "invalid_iban": "iban",
    "invalid_bic": "bic",
    "invalid_creditor_id": "creditor_id",
    "invalid_choice": "pain_version",
    "value_too_long": "name",
    "mandate_unsigned": "signed_on",
    "mandate_signed_in_future": "signed_on",
    "mandate_place_missing": "signed_at",
    "mandate_reference_missing": "reference",
    "mandate_reference_invalid": "reference",
    "mandate_reference_taken": "reference",
}


def _form_error(form: forms.Form, err: DomainError) -> None:
    field = FIELD_OF_CODE.get(err.code)
    form.add_error(field if field in form.fields else None, err.message)


class _ServiceModelAdmin(OrgScopedAdmin):
    """Add and change pages whose form checks through a service (``form.checked``) and whose save calls it."""

    def save_model(self, request, obj, form, change):
        org = form_organization(form)
        row = self.write(request, org, form)
        for field in row._meta.concrete_fields:  # what the service wrote, for the page's messages and log
            setattr(obj, field.attname, getattr(row, field.attname))
        obj._state.adding = False
        obj._state.db = row._state.db

    def write(self, request, org, form):  # pragma: no cover - subclasses
        raise NotImplementedError


# --- saved methods -------------------------------------------------------------------------------------------

class SaveCardForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Customer.objects.none())
    payment_method = forms.CharField(
        max_length=255, required=False, label=_("Stripe payment method"),
        help_text=_("A method Stripe already holds (test mode or the loopback fake: pm_card_visa, pm_card_mastercard…): "
                  "saved now through a confirmed SetupIntent. Blank: start a setup the customer finishes in the "
                  "browser from their personal link."))
    make_default = forms.BooleanField(required=False, label=_("Make it the default autopay charges"),
                                      help_text=_("Otherwise only when the customer has no default yet."))


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(OrgScopedAdmin):
    """Saved with the provider (``duly methods attach``, the customer's browser, Stripe's webhook): here staff
    choose the default and remove methods. Only the provider's ids and what is shown are stored."""

    list_display = ("customer", "method", "kind", "provider", "is_default", "created_at", "removed_at")
    list_filter = ("customer", "is_default", "kind", "provider")
    search_fields = ("customer__name", "customer__code", "method_ref", "last4")
    readonly_fields = ("organization", "customer", "provider", "kind", "brand", "last4", "exp_month", "exp_year",
                       "customer_ref", "method_ref", "setup_ref", "is_default", "created_at", "removed_at")
    actions = ["make_default", "remove_methods"]
    permission = "record_payments"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # removing keeps the row (its charges point to it): the "remove" action

    @admin.display(description=_("method"))
    def method(self, obj):
        return obj.describe()

    def get_urls(self):
        return [self.guarded_path("save/", self.save_view, "payments_savedpaymentmethod_save",
                                  get="record_payments", post="record_payments")] + super().get_urls()

    def save_view(self, request):
        """Save a card for a customer: attach a method Stripe holds, or start a setup the customer finishes."""
        form = SaveCardForm(request.POST or None)
        form.fields["customer"].queryset = scoped_choices(
            Customer, roles.organizations_with(request.user, "record_payments"), request).order_by("code")
        if request.method == "POST" and form.is_valid():
            customer, ref = form.cleaned_data["customer"], form.cleaned_data["payment_method"].strip()
            self.require(request, customer.organization_id)
            org = customer.organization
            done = None
            if ref:
                done = self.run_service(request, method_services.attach_method, org, customer, ref,
                                        make_default=True if form.cleaned_data["make_default"] else None)
                if done is not None:
                    self.message_user(request, _("{customer}: saved {value}{value2}.")
                                                 .format(customer=customer, value=done.describe(), value2=_(' (the default)') if done.is_default else ''), messages.SUCCESS)
            else:
                done = self.run_service(request, method_services.start_setup, org, customer)
                if done is not None:
                    self.message_user(request, _("{customer}: SetupIntent {setup_ref} started; the customer "
                                                 "finishes it from their personal link {value}")
                                                 .format(customer=customer, setup_ref=done.setup_ref, value=pay_url(org.pk, customer.pk, made_on=local_today(org))),
                                      messages.SUCCESS)
            if done is not None:
                url = reverse("admin:payments_savedpaymentmethod_changelist")
                return HttpResponseRedirect(f"{url}?customer__id__exact={customer.pk}")
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": _("Save a customer's card"), "form": form,
            "objects": [], "opts": self.model._meta})

    @admin.action(description=_("Make the selected method its customer's default"), permissions=["record_payments"])
    def make_default(self, request, queryset):
        rows = list(queryset.select_related("organization", "customer"))
        if len({r.customer_id for r in rows}) != len(rows):
            self.message_user(request, _("Choose one method per customer: a customer has one default."),
                              messages.WARNING)
            return
        for row in rows:
            done = self.run_service(request, method_services.set_default_method, row.organization, row.pk)
            if done is not None:
                self.message_user(request, _("{customer}: autopay now charges {value}.")
                                             .format(customer=row.customer, value=done.describe()),
                                  messages.SUCCESS)

    @admin.action(description=_("Remove the selected methods (never charged again)"), permissions=["record_payments"])
    def remove_methods(self, request, queryset):
        for row in queryset.select_related("organization", "customer"):
            removal = self.run_service(request, method_services.remove_method, row.organization, row.pk)
            if removal is not None:
                self.message_user(request, removal.message,
                                  messages.SUCCESS if removal.detached else messages.WARNING)


# --- mandates ------------------------------------------------------------------------------------------------

class MandateForm(forms.ModelForm):
    """A signed mandate: reference, signature date and place, the debtor's account (IBAN/BIC checked)."""

    class Meta:
        model = Mandate
        fields = ["organization", "customer", "reference", "kind", "signed_on", "signed_at", "debtor_name", "iban",
                  "bic"]
        help_texts = {"debtor_name": _("The account holder. Blank: the customer's name."),
                      "signed_at": _("The place the debtor signed the mandate.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "signed_at" in self.fields:
            self.fields["signed_at"].required = True
        if "debtor_name" in self.fields:
            self.fields["debtor_name"].required = False

    def clean(self):
        data = super().clean()
        org, customer = form_organization(self), data.get("customer")
        if self.errors or org is None or customer is None:
            return data
        try:
            checked = method_services.check_mandate(
                org, customer, reference=data.get("reference") or "", signed_on=data.get("signed_on"),
                signed_at=data.get("signed_at") or "", iban=data.get("iban") or "", bic=data.get("bic") or "",
                debtor_name=data.get("debtor_name") or "", kind=data.get("kind") or Mandate.RECURRENT,
                as_of=local_today(org))
        except DomainError as err:
            _form_error(self, err)
            return data
        data.update(checked)
        return data

    def _post_clean(self):  # the service writes the row: no model validation of a half-built instance
        pass


@admin.register(Mandate)
class MandateAdmin(_ServiceModelAdmin):
    """Staff add a mandate the customer signed (through the service); a signed mandate is not edited (an
    amendment is a new mandate): it is revoked, here with the action."""

    form = MandateForm
    list_display = ("reference", "customer", "debtor_name", "iban", "signed_on", "signed_at", "kind", "collected",
                    "revoked_at")
    list_filter = ("kind", "signed_on")
    search_fields = ("reference", "debtor_name", "customer__name", "customer__code")
    actions = ["revoke_today"]
    permission = "record_payments"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in Mandate._meta.fields if f.name != "id"]

    def has_change_permission(self, request, obj=None):
        return False  # what the debtor signed is not edited: an amendment is a new mandate

    def has_delete_permission(self, request, obj=None):
        return False  # its debits point to it: revoke it

    def write(self, request, org, form):
        d = form.cleaned_data
        return method_services.add_mandate(org, d["customer"], reference=d["reference"], signed_on=d["signed_on"],
                                           signed_at=d["signed_at"], iban=d["iban"], bic=d["bic"],
                                           debtor_name=d["debtor_name"], kind=d["kind"], as_of=local_today(org))

    @admin.action(description=_("Revoke the selected mandates from today"), permissions=["record_payments"])
    def revoke_today(self, request, queryset):
        for mandate in queryset.select_related("organization"):
            done = self.run_service(request, sepa_services.revoke_mandate, mandate.organization, mandate.pk,
                                    revoked_on=local_today(mandate.organization))
            if done is not None:
                self.message_user(request, _("Mandate {reference} is revoked from {revoked_at:%Y-%m-%d}.")
                                             .format(reference=done.reference, revoked_at=done.revoked_at),
                                  messages.SUCCESS)


# --- the SEPA creditor ---------------------------------------------------------------------------------------

class SepaCreditorForm(forms.ModelForm):
    class Meta:
        model = SepaCreditor
        fields = ["organization", "name", "creditor_id", "iban", "bic", "pain_version"]
        help_texts = {"iban": _("The account debits are paid into. Blank: the organization's IBAN."),
                      "bic": _("Blank: the organization's BIC.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "iban" in self.fields:
            self.fields["iban"].required = False

    def clean(self):
        data = super().clean()
        org = form_organization(self)
        if self.errors or org is None:
            return data
        if self.instance.pk is None and SepaCreditor.objects.filter(organization=org).exists():
            self.add_error(None, f"{org} has its SEPA creditor already: change it instead.")
            return data
        try:
            data.update(sepa_services.check_creditor(
                org, creditor_id=data.get("creditor_id") or "", iban=data.get("iban") or "",
                bic=data.get("bic") or "", pain_version=data.get("pain_version") or "", name=data.get("name") or ""))
        except DomainError as err:
            _form_error(self, err)
        return data

    def _post_clean(self):  # the service writes the row
        pass


@admin.register(SepaCreditor)
class SepaCreditorAdmin(_ServiceModelAdmin):
    """The organization's creditor identifier (check digits verified) and the account debits are paid into."""

    form = SepaCreditorForm
    list_display = ("organization", "name", "creditor_id", "iban", "bic", "pain_version")
    permission = "manage_organization"

    def get_readonly_fields(self, request, obj=None):
        return ("organization",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # batches were exported under it

    def write(self, request, org, form):
        d = form.cleaned_data
        return method_services.set_creditor(org, identifier=d["creditor_id"], iban=d["iban"], bic=d["bic"],
                                            name=d["name"], pain_version=d["pain_version"])


# --- provider events -----------------------------------------------------------------------------------------

@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyOrgScopedAdmin):
    """Webhook events as received (verified) and what Duly did with each: read-only."""

    list_display = ("received_at", "provider", "type", "event_id", "object_ref", "processed_at", "outcome")
    list_filter = ("provider", "type")
    search_fields = ("event_id", "object_ref", "type")
