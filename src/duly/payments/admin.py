"""Payments in the back office: read-only records; recording and refunding go through the payments services.

A customer's payment methods, mandates, the SEPA creditor and provider events are in :mod:`.admin_methods`; the
pay-now checkouts customers start from their personal link are listed here, read-only."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from duly.customers.amounts import amount_column, shown
from duly.customers.services import local_today
from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, ReadOnlyOrgScopedAdmin
from duly.domain.money import from_minor
from duly.invoicing.models import Invoice

from . import admin_methods  # noqa: F401  (registers the pages of payment methods, mandates, creditor, events)
from . import return_services, services
from .bank_models import BankAccount, BankStatement, StatementLine
from .models import (Allocation, Checkout, CreditEntry, DebitBatch, DebitReturn, DirectDebit, Mandate, Payment,
                     Refund)


class AllocationInline(OrgScopedInline):
    model = Allocation
    fk_name = "payment"
    extra = 0
    fields = ("invoice", "amount", "applied_on", "from_credit", "credit_note")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return shown(obj.amount_minor, obj.invoice.currency)


class RefundForm(forms.Form):
    amount = forms.DecimalField(min_value=0, decimal_places=3)
    refunded_on = forms.DateField(help_text=_("YYYY-MM-DD"))
    reason = forms.CharField(max_length=200, help_text=_("Shown on the record"))
    external_reference = forms.CharField(max_length=120, required=False, help_text=_("Bank or gateway reference"))


@admin.register(Payment)
class PaymentAdmin(OrgScopedAdmin):
    """Payments are recorded through the service (invoice page → record payment); they are read-only here."""

    list_display = ("received_on", "customer", "amount_display", "method", "external_reference", "refund_link")
    list_filter = ("method", "currency", "received_on")
    search_fields = ("external_reference", "customer__name", "customer__code")
    inlines = [AllocationInline]
    actions = ["refund_selected"]
    permission = "record_payments"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is corrected by refunds and credit notes, never by deleting rows

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj):
        refunded = f" (refunded {from_minor(obj.refunded_minor, obj.currency)})" if obj.refunded_minor else ""
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}{refunded}"

    @admin.display(description="")
    def refund_link(self, obj):
        if obj.refunded_minor >= obj.amount_minor:
            return "refunded"
        return format_html('<a href="{}">refund…</a>', reverse("admin:payments_payment_refund", args=[obj.pk]))

    @admin.action(description=_("Refund the selected payment…"), permissions=["record_payments"])
    def refund_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one payment to refund."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:payments_payment_refund", args=[queryset.get().pk]))

    def get_urls(self):
        return [
            self.guarded_path("<int:pk>/refund/", self.refund_view, "payments_payment_refund",
                              get="record_payments", post="record_payments"),
        ] + super().get_urls()

    def refund_view(self, request, pk):
        payment = get_object_or_404(self.get_queryset(request).select_related("organization", "customer"), pk=pk)
        self.require(request, payment.organization_id)
        org = payment.organization
        if request.method == "POST":
            form = RefundForm(request.POST)
            if form.is_valid():
                d = form.cleaned_data
                refund = self.run_service(request, services.refund_payment, org, payment.pk, amount=d["amount"],
                                          refunded_on=d["refunded_on"], reason=d["reason"],
                                          external_reference=d["external_reference"])
                if refund is not None:
                    self.message_user(request, _("Refunded {amount} {currency} of payment {pk}.")
                                                 .format(amount=d['amount'], currency=payment.currency, pk=payment.pk),
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:payments_payment_change", args=[pk]))
        else:
            form = RefundForm(initial={"refunded_on": local_today(org)})
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request),
            "title": _("Refund payment {pk} — {value} {currency} from {customer} on {received_on:%Y-%m-%d}")
                       .format(pk=payment.pk, value=from_minor(payment.amount_minor, payment.currency), currency=payment.currency, customer=payment.customer, received_on=payment.received_on),
            "form": form, "objects": [payment], "opts": self.model._meta,
        })


@admin.register(CreditEntry)
class CreditEntryAdmin(OrgScopedAdmin):
    list_display = ("created_on", "customer", amount_column(), "memo")
    list_filter = ("currency",)
    search_fields = ("customer__name", "memo")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is corrected by refunds and credit notes, never by deleting rows


@admin.register(Refund)
class RefundAdmin(OrgScopedAdmin):
    """Refunds are made from a payment (Payments → refund…); the records are read-only."""

    list_display = ("refunded_on", "payment", amount_column(currency="payment.currency"), "reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is corrected by refunds and credit notes, never by deleting rows


class ReadOnlyRecordAdmin(OrgScopedAdmin):
    """Rows Duly writes through its SEPA services (``payments.sepa_services``, ``duly debits export``): read-only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DebitReturnForm(forms.Form):
    reason_code = forms.CharField(max_length=4, help_text=_("ISO reason code: AM04, MS03, MD01, AC04, AC06..."))
    returned_on = forms.DateField(help_text=_("YYYY-MM-DD: the day the bank reported it"))
    kind = forms.ChoiceField(choices=DebitReturn.KIND_CHOICES, initial=DebitReturn.RETURN)


@admin.register(DirectDebit)
class DirectDebitAdmin(ReadOnlyRecordAdmin):
    list_display = ("end_to_end_id", "invoice", "mandate", "amount_display", "collection_date", "sequence_type",
                    "status", "batch")
    list_filter = ("status", "sequence_type", "collection_date")
    search_fields = ("end_to_end_id", "invoice__number", "mandate__reference")
    actions = ["record_return"]

    @admin.action(description=_("Record a return or rejection of the selected debit…"), permissions=["record_payments"])
    def record_return(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one debit."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:payments_directdebit_return", args=[queryset.get().pk]))

    def get_urls(self):
        return [
            self.guarded_path("<int:pk>/return/", self.return_view, "payments_directdebit_return",
                              get="record_payments", post="record_payments"),
        ] + super().get_urls()

    def return_view(self, request, pk):
        debit = get_object_or_404(self.get_queryset(request).select_related("organization", "invoice"), pk=pk)
        self.require(request, debit.organization_id)
        if request.method == "POST":
            form = DebitReturnForm(request.POST)
            if form.is_valid():
                d = form.cleaned_data
                result = self.run_service(request, return_services.record_debit_return, debit, d["reason_code"],
                                          returned_on=d["returned_on"], kind=d["kind"], source="staff")
                if result is not None:
                    self.message_user(request, result.message, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:payments_directdebit_changelist"))
        else:
            form = DebitReturnForm(initial={"returned_on": local_today(debit.organization)})
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request),
            "title": _("Record a return of debit {end_to_end_id} — {value} {currency}, invoice {number}")
                       .format(end_to_end_id=debit.end_to_end_id, value=from_minor(debit.amount_minor, debit.currency), currency=debit.currency, number=debit.invoice.number),
            "form": form, "objects": [debit], "opts": self.model._meta,
        })

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj):
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}"


@admin.register(DebitReturn)
class DebitReturnAdmin(ReadOnlyRecordAdmin):
    """R-transactions, recorded from pain.002 reports, camt.054 notifications or staff (debits → record a return)."""

    list_display = ("returned_on", "debit", "reason_code", "kind", "category", "action", "source", "retry")
    list_filter = ("kind", "category", "action", "source", "returned_on")
    search_fields = ("debit__end_to_end_id", "reason_code", "debit__invoice__number", "source_ref")


class StatusReportForm(forms.Form):
    report = forms.FileField(help_text=_("The bank's pain.002 status report for this file (XML, at most 50 MB)"))


@admin.register(DebitBatch)
class DebitBatchAdmin(ReadOnlyRecordAdmin):
    list_display = ("created_at", "message_id", "as_of", "transactions", "total_display", "pain_version")
    exclude = ("xml",)
    readonly_fields = ("file_size",)
    actions = ["import_status"]

    @admin.action(description=_("Import the bank's pain.002 status report of the selected file…"),
                  permissions=["record_payments"])
    def import_status(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one debit file."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:payments_debitbatch_status", args=[queryset.get().pk]))

    def get_urls(self):
        return [
            self.guarded_path("<int:pk>/status/", self.status_view, "payments_debitbatch_status",
                              get="record_payments", post="record_payments"),
        ] + super().get_urls()

    def status_view(self, request, pk):
        batch = get_object_or_404(self.get_queryset(request).select_related("organization"), pk=pk)
        self.require(request, batch.organization_id)
        form = StatusReportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["report"]
            if upload.size > 50 * 1024 * 1024:
                self.message_user(request, _("The status report is larger than 50 MB."), messages.ERROR)
            else:
                result = self.run_service(request, return_services.import_status_report, batch.organization,
                                          upload.read())
                if result is not None:
                    self.message_user(request, result.message, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:payments_debitbatch_changelist"))
        return TemplateResponse(request, "admin/duly/upload_form.html", {
            **self.admin_site.each_context(request),
            "title": _("Import the pain.002 status report of {message_id}").format(message_id=batch.message_id),
            "form": form, "objects": [batch], "opts": self.model._meta,
        })

    @admin.display(description=_("total"), ordering="total_minor")
    def total_display(self, obj):
        return f"{from_minor(obj.total_minor, obj.currency)} {obj.currency}"

    @admin.display(description=_("file size (bytes)"))
    def file_size(self, obj):
        return len(obj.xml or b"")


# --- Bank accounts, imported statements and their lines (read-only: `duly bank accounts add`, `duly bank import`)


@admin.register(BankAccount)
class BankAccountAdmin(ReadOnlyRecordAdmin):
    list_display = ("iban", "name", "currency", "bic", "created_at")
    list_filter = ("currency",)
    search_fields = ("iban", "name")


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyRecordAdmin):
    list_display = ("identifier", "account", "format", "from_date", "to_date", "opening_display",
                    "closing_display", "imported_at")
    list_filter = ("format", "imported_at")
    search_fields = ("identifier", "account__iban", "account__name")

    def _money(self, obj, minor):
        return "" if minor is None else f"{from_minor(minor, obj.account.currency)} {obj.account.currency}"

    @admin.display(description=_("opening balance"), ordering="opening_balance_minor")
    def opening_display(self, obj):
        return self._money(obj, obj.opening_balance_minor)

    @admin.display(description=_("closing balance"), ordering="closing_balance_minor")
    def closing_display(self, obj):
        return self._money(obj, obj.closing_balance_minor)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyRecordAdmin):
    list_display = ("booking_date", "account", "amount_display", "counterparty_name", "remittance_display",
                    "status")
    list_filter = ("status", "booking_date", "currency")
    search_fields = ("counterparty_name", "counterparty_iban", "remittance_structured", "remittance_unstructured",
                     "end_to_end_id")
    exclude = ("raw",)

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj):
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}"

    @admin.display(description=_("remittance"))
    def remittance_display(self, obj):
        text = obj.remittance_structured or obj.remittance_unstructured
        return text if len(text) <= 80 else text[:79] + "…"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


# --- Reconciliation: the review queue and the matches (actions call payments.reconcile_services) ----------------
from . import reconcile_services  # noqa: E402
from .reconcile_models import BankMatch, ReviewEntry  # noqa: E402


def _proposal_text(p: dict) -> str:
    pays = ", ".join(f"#{iid} {from_minor(amount, p['currency'])}" for iid, amount in p["allocations"]) or "-"
    credit = f" + credit {from_minor(p['credit_minor'], p['currency'])}" if p["credit_minor"] else ""
    why = "; ".join(f"{rule}: {detail or matched}" for rule, matched, detail in p["evidence"][:3])
    blocked = f" [not automatic: {', '.join(p['blockers'])}]" if p["blockers"] else ""
    return f"score {p['score']}: {pays}{credit} ({why}){blocked}"


class SettleLineForm(forms.Form):
    customer = forms.IntegerField(help_text=_("Customer id (the proposals name it)"))
    pays = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Split: one INVOICE_ID=AMOUNT per line (the rest becomes credit). "
                                     "Empty: the whole line becomes the customer's credit."))

    def amounts(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for row in (self.cleaned_data.get("pays") or "").splitlines():
            if not row.strip():
                continue
            invoice, sep, amount = row.partition("=")
            if not sep or not invoice.strip().isdigit():
                raise forms.ValidationError(_("Write INVOICE_ID=AMOUNT, not {value!r}.")
                                              .format(value=row.strip()))
            out[int(invoice)] = amount.strip()
        return out


@admin.register(ReviewEntry)
class ReviewEntryAdmin(ReadOnlyRecordAdmin):
    """Lines waiting for a person, with their ranked proposals: accept, reject, split, credit or ignore."""

    list_display = ("booking_date", "amount_display", "payer", "remittance", "customer", "best_proposal", "status",
                    "settle_link")
    list_filter = ("line__status", "category")
    search_fields = ("line__counterparty_name", "line__remittance_unstructured", "line__remittance_structured")
    readonly_fields = ("line", "customer", "category", "note", "proposals_display")
    exclude = ("proposals",)
    actions = ["accept_best", "reject_best", "ignore_lines"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("line", "customer")

    @admin.display(description=_("booked"), ordering="line__booking_date")
    def booking_date(self, obj):
        return obj.line.booking_date

    @admin.display(description=_("amount"))
    def amount_display(self, obj):
        return f"{from_minor(obj.line.amount_minor, obj.line.currency)} {obj.line.currency}"

    @admin.display(description=_("payer"))
    def payer(self, obj):
        return obj.line.counterparty_name

    @admin.display(description=_("remittance"))
    def remittance(self, obj):
        text = obj.line.remittance_structured or obj.line.remittance_unstructured
        return text if len(text) <= 60 else text[:59] + "…"

    @admin.display(description=_("status"))
    def status(self, obj):
        return obj.line.get_status_display()

    @admin.display(description=_("best proposal"))
    def best_proposal(self, obj):
        return _proposal_text(obj.proposals[0]) if obj.proposals else (obj.note or "-")

    @admin.display(description=_("proposals, best first"))
    def proposals_display(self, obj):
        return format_html("<ol>{}</ol>", format_html("".join(
            format_html("<li>{}</li>", _proposal_text(p)) for p in obj.proposals))) if obj.proposals else "-"

    @admin.display(description="")
    def settle_link(self, obj):
        if obj.line.status != StatementLine.REVIEW:
            return ""
        return format_html('<a href="{}">split / credit…</a>',
                           reverse("admin:payments_reviewentry_settle", args=[obj.pk]))

    def get_urls(self):
        return [
            self.guarded_path("<int:pk>/settle/", self.settle_view, "payments_reviewentry_settle",
                              get="record_payments", post="record_payments"),
        ] + super().get_urls()

    def settle_view(self, request, pk):
        entry = get_object_or_404(self.get_queryset(request).select_related("organization", "line"), pk=pk)
        self.require(request, entry.organization_id)
        org = entry.organization
        form = SettleLineForm(request.POST or None, initial={"customer": entry.customer_id})
        if request.method == "POST" and form.is_valid():
            try:
                amounts = form.amounts()
            except forms.ValidationError as err:
                form.add_error("pays", err)
            else:
                as_of = local_today(org)
                if amounts:
                    done = self.run_service(request, reconcile_services.split, org, entry.line_id,
                                            customer_id=form.cleaned_data["customer"], amounts=amounts, as_of=as_of)
                else:
                    done = self.run_service(request, reconcile_services.assign_credit, org, entry.line_id,
                                            customer_id=form.cleaned_data["customer"], as_of=as_of)
                if done is not None:
                    self.message_user(request, _("Line {line_id} matched (match {pk}).")
                                                 .format(line_id=entry.line_id, pk=done.pk), messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:payments_reviewentry_changelist"))
        line = entry.line
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request),
            "title": _("Split or credit line {pk} — {value} {currency} from {value2} on {booking_date}")
                       .format(pk=line.pk, value=from_minor(line.amount_minor, line.currency), currency=line.currency, value2=line.counterparty_name or _('unknown payer'), booking_date=line.booking_date),
            "form": form, "objects": [f"{k}. {_proposal_text(p)}" for k, p in enumerate(entry.proposals, 1)],
            "opts": self.model._meta,
        })

    def _each(self, request, queryset, fn, done: str, **kwargs):
        count = 0
        for entry in queryset.select_related("organization"):
            self.require(request, entry.organization_id, "record_payments")
            if self.run_service(request, fn, entry.organization, entry.line_id, **kwargs) is not None:
                count += 1
        if count:
            self.message_user(request, _("{count} line(s) {done}.").format(count=count, done=done), messages.SUCCESS)

    @admin.action(description=_("Accept the best proposal"), permissions=["record_payments"])
    def accept_best(self, request, queryset):
        for entry in queryset.select_related("organization"):
            self.require(request, entry.organization_id, "record_payments")
            self.run_service(request, reconcile_services.accept, entry.organization, entry.line_id,
                             as_of=local_today(entry.organization),
                             success=_("Line {line_id} matched.").format(line_id=entry.line_id))

    @admin.action(description=_("Reject the best proposal"), permissions=["record_payments"])
    def reject_best(self, request, queryset):
        self._each(request, queryset, reconcile_services.reject, _("had their best proposal dropped"), rank=1)

    @admin.action(description=_("Ignore: not a customer's payment"), permissions=["record_payments"])
    def ignore_lines(self, request, queryset):
        self._each(request, queryset, reconcile_services.ignore, "ignored",
                   reason=f"ignored in the back office by {request.user.get_username()}")


@admin.register(BankMatch)
class BankMatchAdmin(ReadOnlyRecordAdmin):
    """Every match of a line to a payment, with its evidence; any of them can be undone."""

    list_display = ("created_at", "line", "customer", "how", "rule", "score", "payment", "undone_at")
    list_filter = ("how", "rule", "undone_at")
    search_fields = ("customer__name", "line__counterparty_name", "line__remittance_unstructured")
    readonly_fields = ("line", "customer", "payment", "how", "rule", "score", "evidence", "matched_on",
                       "undone_at", "undo_reason")
    actions = ["undo_matches"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("line", "customer", "payment")

    @admin.action(description=_("Undo the selected matches (allocations restored exactly)"),
                  permissions=["record_payments"])
    def undo_matches(self, request, queryset):
        for match in queryset.select_related("organization"):
            self.require(request, match.organization_id, "record_payments")
            self.run_service(request, reconcile_services.undo, match.organization, match.pk,
                             reason=f"undone in the back office by {request.user.get_username()}",
                             as_of=local_today(match.organization), success=_("Match {pk} undone.")
                                                                              .format(pk=match.pk))


# --- pay-now checkouts ---------------------------------------------------------------------------------------------

@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyOrgScopedAdmin):
    """Payments customers started from their personal link (``payments.checkout_services``): where each stands, by
    which method, for how much and which invoices, and the payment it became. Read-only: Duly writes them (the
    provider's client secret is never shown)."""

    list_display = ("created_at", "customer", "status", "method", "amount_display", "invoices", "payment")
    list_filter = ("status", "method", "created_at")
    search_fields = ("public_id", "customer__name", "customer__code", "provider_ref")
    fields = ("customer", "status", "method", "amount_display", "invoices", "save_for_future", "payment", "mandate",
              "provider", "provider_ref", "failure", "public_id", "created_at", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "payment", "mandate")

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj):
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}"

    @admin.display(description=_("invoices"))
    def invoices(self, obj):
        ids = [int(k) for k in (obj.plan or {}) if str(k).isdigit()]
        numbers = (Invoice.objects.filter(organization_id=obj.organization_id, pk__in=ids)
                   .order_by("due_date", "pk").values_list("number", flat=True))
        return ", ".join(numbers) or "—"
