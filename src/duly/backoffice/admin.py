"""Back office pages of the customers and invoicing apps, extended with what needs the apps above them.

- A customer's page shows their statement of account (insights) and balances (insights, billing's retainers).
- An invoice's list links to its record-payment page (payments), and the late-fee action assesses the selected
  invoices (collections).

Each admin here subclasses the app's own and replaces it on the admin site, so the app's pages work alone and
the app never imports the apps above it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from duly.billing.retainers import retainer_balances
from duly.collections.services import assess_late_fees
from duly.customers import admin as customers_admin
from duly.customers.models import Customer
from duly.customers.services import local_today
from duly.insights.services import customer_balance, customer_credit, statement_of_account
from duly.invoicing import admin as invoicing_admin
from duly.invoicing.models import Invoice
from duly.payments.models import METHOD_CHOICES
from duly.payments.services import record_payment


class CustomerAdmin(customers_admin.CustomerAdmin):
    readonly_fields = (*customers_admin.CustomerAdmin.readonly_fields, "statement_of_account", "account_balance")

    @admin.display(description=_("Statement of account (today)"))
    def statement_of_account(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        st = statement_of_account(obj, as_of=local_today(obj.organization))
        if not st["lines"]:
            return _("No open items.")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td style='text-align:right'>{} {}</td><td>{}</td></tr>",
            ((l.number, l.issue_date, l.due_date or "", l.open_amount, l.currency, l.bucket) for l in st["lines"]),
        )
        totals = ", ".join(f"{v} {c}" for c, v in st["total_open"].items())
        return format_html("<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>"
                           "<p><strong>{}</strong></p>", _("Invoice"), _("Issue date"), _("Due date"), _("Open"),
                           _("Aging"), rows, _("Total open: {totals}").format(totals=totals))

    @admin.display(description=_("Balance"))
    def account_balance(self, obj):
        """Customer credit, net balance (open receivable − credit) and any retainer balance, per currency."""
        if obj is None or obj.pk is None:
            return "—"
        credit, net = customer_credit(obj), customer_balance(obj)
        retainer = {cur: b.balance for (_, cur), b in retainer_balances([obj.pk]).items()}  # all recorded
        currencies = sorted(set(credit) | set(net) | set(retainer)) or [obj.currency]
        rows = format_html_join("", "<tr><td>{}</td><td style='text-align:right'>{}</td>"
                                    "<td style='text-align:right'>{}</td>{}</tr>", (
            (cur, credit.get(cur, "0.00"), net.get(cur, "0.00"),
             "" if not retainer else format_html("<td style='text-align:right'>{}</td>", retainer.get(cur, "—")))
            for cur in currencies))
        retainer_head = format_html("<th>{}</th>", _("Retainer balance")) if retainer else ""
        return format_html("<table class='account-balance'><tr><th>{}</th><th>{}</th><th>{}</th>{}</tr>{}</table>",
                           _("Currency"), _("Customer credit"), _("Net balance (open − credit)"), retainer_head, rows)


class PaymentForm(forms.Form):
    amount = forms.DecimalField(min_value=0, decimal_places=3)
    method = forms.ChoiceField(choices=[c for c in METHOD_CHOICES if c[0] != "credit"])
    received_on = forms.DateField(help_text=_("YYYY-MM-DD"))
    external_reference = forms.CharField(required=False)


class InvoiceAdmin(invoicing_admin.InvoiceAdmin):
    actions = [*invoicing_admin.InvoiceAdmin.actions, "assess_fees"]

    @admin.display(description=_("balance"))
    def balance_display(self, obj):
        if not obj.is_open:
            return "—"
        url = reverse("admin:invoicing_invoice_record_payment", args=[obj.pk])
        return format_html('{} {} · <a href="{}">{}</a>', obj.balance, obj.currency, url, _("record payment"))

    @admin.action(description=_("Assess late fees for selected (as of today)"), permissions=["bill"])
    def assess_fees(self, request, queryset):
        by_org = {}
        for inv in queryset.select_related("organization"):
            by_org.setdefault(inv.organization, []).append(inv.pk)
        for org, ids in by_org.items():
            result = self.run_service(request, assess_late_fees, org, as_of=local_today(org), invoice_ids=ids)
            if result is not None:
                self.message_user(request, result.summary())

    # --- record payment page ----------------------------------------------------------------------
    def get_urls(self):
        return [
            self.guarded_path("<int:pk>/record-payment/", self.record_payment_view, "invoicing_invoice_record_payment",
                              get="record_payments", post="record_payments"),
        ] + super().get_urls()

    def record_payment_view(self, request, pk):
        invoice = get_object_or_404(self.get_queryset(request), pk=pk)
        self.require(request, invoice.organization_id)
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
                    self.message_user(request, _("Recorded {amount} {currency} on {invoice}.")
                                                 .format(amount=d['amount'], currency=invoice.currency, invoice=invoice),
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:invoicing_invoice_change", args=[pk]))
        else:
            form = PaymentForm(initial={"amount": invoice.balance, "received_on": local_today(invoice.organization)})
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": _("Record a payment for {invoice}")
                                                                .format(invoice=invoice), "form": form,
            "objects": [invoice], "opts": self.model._meta,
        })


for model, model_admin in ((Customer, CustomerAdmin), (Invoice, InvoiceAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
