"""Back office of retainers: start one on a contract, invoice a top-up now. Amounts in major units of the
contract's currency, checked against its decimals (JPY 0, EUR 2, BHD 3)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers.amounts import AmountField, shown
from duly.customers.models import Contract
from duly.customers.services import local_today
from duly.customers.tenancy import OrgScopedAdmin, scoped_choices
from duly.domain.errors import DomainError
from duly.domain.money import from_minor

from . import services
from .models import RetainerAgreement


class StartRetainerForm(forms.Form):
    contract = forms.ModelChoiceField(queryset=Contract.objects.none())
    topup_amount = AmountField(label=_("Top-up amount"), required=True,
                               help_text=_("Each retainer (top-up) invoice, in the contract's currency, e.g. 500.00"))
    threshold = AmountField(label=_("Threshold"), required=True,
                            help_text=_("A top-up is invoiced when the balance falls below this, e.g. 100.00"))
    initial_amount = AmountField(label=_("First funding"), help_text=_("Blank: the top-up amount"))


class TopUpForm(forms.Form):
    amount = AmountField(label=_("Amount"), required=True, help_text=_("In the contract's currency (the agreed top-up "
                                                                  "is filled in)"))


def _form_error(form, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None


@admin.register(RetainerAgreement)
class RetainerAdmin(OrgScopedAdmin):
    list_display = ("contract", "customer", "topup", "threshold", "balance", "active")
    permission = "bill"

    def has_change_permission(self, request, obj=None):
        return False  # the agreement is written by its services (start, top up)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("top-up"))
    def topup(self, obj):
        return shown(obj.topup_minor, obj.currency)

    @admin.display(description=_("threshold"))
    def threshold(self, obj):
        return shown(obj.threshold_minor, obj.currency)

    @admin.display(description=_("balance"))
    def balance(self, obj):
        return f"{services.retainer_balance(obj.customer, obj.currency).balance} {obj.currency}"

    def get_urls(self):
        return [self.guarded_path("<int:pk>/top-up/", self.top_up_view, "billing_retaineragreement_top_up",
                                  get="bill", post="bill"), *super().get_urls()]

    def _render(self, request, title, form, intro=""):
        return TemplateResponse(request, "admin/duly/billing_form.html", {
            **self.admin_site.each_context(request), "title": title, "form": form, "intro": intro,
            "confirm": _("Invoice it"), "opts": self.model._meta})

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StartRetainerForm(request.POST if request.method == "POST" else None)
        form.fields["contract"].queryset = scoped_choices(Contract, self.writable_organizations(request),
                                                          request).select_related("customer")
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            contract = d["contract"]
            self.require(request, contract.organization_id, self.permission)
            retainer = _form_error(form, services.start_retainer, contract.organization, contract,
                                   topup_amount=d["topup_amount"], threshold=d["threshold"],
                                   initial_amount=d["initial_amount"], as_of=local_today(contract.organization))
            if retainer is not None:
                self.message_user(request, _("Retainer started on {reference}: its first invoice is issued.")
                                             .format(reference=contract.reference),
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:billing_retaineragreement_changelist"))
        return self._render(request, _("Start a retainer"), form,
                            _("The customer prepays a balance that recurring and usage charges draw down; the first "
                            "retainer invoice is issued now."))

    def top_up_view(self, request, pk):
        retainer = get_object_or_404(self.get_queryset(request).select_related("contract", "organization"), pk=pk)
        self.require(request, retainer.organization_id)
        form = TopUpForm(request.POST if request.method == "POST" else None,
                         initial={"amount": from_minor(retainer.topup_minor, retainer.currency)})
        if request.method == "POST" and form.is_valid():
            invoice = _form_error(form, services.top_up_retainer, retainer.organization, retainer.contract,
                                  amount=form.cleaned_data["amount"], as_of=local_today(retainer.organization))
            if invoice is not None:
                self.message_user(request, _("Top-up invoice {number} issued.").format(number=invoice.number), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:billing_retaineragreement_changelist"))
        return self._render(request, f"Top up the retainer of {retainer.contract.reference} "
                                     f"(agreed top-up {shown(retainer.topup_minor, retainer.currency)})", form)
