"""Back office for collections: policies (with their steps), the worklist and a page per customer,
the queue of queries with its SLA, promises, tasks, and what was sent. Every write goes through
:mod:`duly.collections.services`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from duly.customers.amounts import amount_column
from duly.customers.models import Customer
from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, user_organizations
from duly.invoicing.models import Invoice

from . import services
from .models import (
    CollectionRun,
    CollectionsSettings,
    CustomerProfile,
    Dispute,
    Greeting,
    InvoiceDispatch,
    LateFee,
    Policy,
    PromiseToPay,
    Reminder,
    SegmentRule,
    SpecialDate,
    Step,
    Task,
)


class _Clock:
    """The instant an admin page judges SLAs and promises at: read once at the edge (tests replace it)."""

    clock = staticmethod(timezone.now)


class _ReadOnly:
    """Records the collections run and services write: shown, never added, edited or deleted by hand."""

    permission = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LateFee)
class LateFeeAdmin(_ReadOnly, OrgScopedAdmin):
    list_display = ("invoice", "level", "kind", amount_column(), "days_late", "assessed_on", "fee_invoice")
    list_filter = ("kind", "currency", "assessed_on")
    search_fields = ("invoice__number", "invoice__customer__name")


# --- policies ------------------------------------------------------------------------------------
class StepInline(OrgScopedInline):
    model = Step
    extra = 0
    fields = ("order", "code", "offset_days", "anchor", "channel", "template", "tone", "actions", "conditions",
              "whatever_sent")


@admin.register(Policy)
class PolicyAdmin(OrgScopedAdmin):
    permission = "manage_organization"
    list_display = ("code", "name", "max_per_window", "window_days", "min_gap_hours", "restore_days", "step_list")
    inlines = [StepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description=_("steps"))
    def step_list(self, obj):
        return " → ".join(f"{s.code} ({s.offset_days:+d})" for s in obj.steps.all())

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if self.run_service(request, services.save_policy_from_admin, form.instance) is not None:
            self.message_user(request, _("Policy {code} checked: its steps are valid.")
                                         .format(code=form.instance.code))


@admin.register(CollectionsSettings)
class CollectionsSettingsAdmin(OrgScopedAdmin):
    permission = "manage_organization"
    list_display = ("organization", "gentle_below", "firm_above", "send_window_start", "send_window_end",
                    "dispute_sla_business_days", "greetings_enabled", "email_invoices")


@admin.register(SegmentRule)
class SegmentRuleAdmin(OrgScopedAdmin):
    permission = "manage_organization"
    list_display = ("segment", "policy", "default_hour")


@admin.register(SpecialDate)
class SpecialDateAdmin(OrgScopedAdmin):
    permission = "manage_customers"
    list_display = ("customer", "label", "date")
    autocomplete_fields = ("customer",)


# --- the worklist and the page per customer -------------------------------------------------------------
class PromiseForm(forms.Form):
    promised_date = forms.DateField(help_text=_("YYYY-MM-DD"))
    amount = forms.DecimalField(min_value=0, decimal_places=3)
    invoices = forms.ModelMultipleChoiceField(queryset=Invoice.objects.none(), required=False,
                                              help_text=_("Default: the overdue invoices"))
    note = forms.CharField(required=False)


class QueryForm(forms.Form):
    invoice = forms.ModelChoiceField(queryset=Invoice.objects.none())
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    opened_by = forms.ChoiceField(choices=Dispute.BY_CHOICES, initial="staff")


class PolicyForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=Policy.objects.none(), required=False,
                                    help_text=_("Empty: chosen by segment or by the tone rule"))


@admin.register(CustomerProfile)
class CustomerProfileAdmin(_Clock, OrgScopedAdmin):
    permission = "collect"
    list_display = ("customer", "policy", "risk_level", "customer_status", "suspended_at", "terminated_at",
                    "restore_deadline", "page")
    list_filter = ("policy", "customer__status")
    search_fields = ("customer__name", "customer__code")
    autocomplete_fields = ("customer",)
    readonly_fields = ("suspended_at", "terminated_at", "restore_deadline", "status_reason")

    @admin.display(description=_("status"))
    def customer_status(self, obj):
        return obj.customer.status

    @admin.display(description=_("collections page"))
    def page(self, obj):
        return format_html('<a href="{}">open</a>', reverse("admin:collections_customer_page", args=[obj.customer_id]))

    def get_urls(self):
        return [
            self.guarded_path("worklist/", self.worklist_view, "collections_worklist", get="view"),
            self.guarded_path("customer/<int:customer_id>/", self.customer_view, "collections_customer_page",
                              get="view", post="collect"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "worklist_url": reverse("admin:collections_worklist")}
        return super().changelist_view(request, extra_context)

    def worklist_view(self, request):
        from .worklist import worklist

        rows = []
        now = self.clock()
        for org in user_organizations(request.user):
            for row in worklist(org, as_of=now):
                rows.append((row, row.as_dict(), reverse("admin:collections_customer_page", args=[row.customer_id])))
        return TemplateResponse(request, "admin/collections/worklist.html", {
            **self.admin_site.each_context(request), "title": _("Collections worklist"), "rows": rows,
            "opts": self.model._meta,
        })

    def customer_view(self, request, customer_id):
        from .worklist import customer_page, open_invoices_of, queryable_invoices_of

        customer = get_object_or_404(Customer.objects.filter(organization__in=user_organizations(request.user)),
                                     pk=customer_id)
        self.require(request, customer.organization_id)
        org = customer.organization
        now = self.clock()
        open_invoices = open_invoices_of(customer)
        promise_form = PromiseForm(prefix="promise")
        query_form = QueryForm(prefix="query")
        policy_form = PolicyForm(prefix="policy")
        if request.method == "POST":
            done = self._customer_post(request, org, customer, open_invoices, now)
            if done:
                return HttpResponseRedirect(request.path)
            promise_form = PromiseForm(request.POST, prefix="promise") if "promise" in request.POST else promise_form
            query_form = QueryForm(request.POST, prefix="query") if "query" in request.POST else query_form
        promise_form.fields["invoices"].queryset = open_invoices
        query_form.fields["invoice"].queryset = queryable_invoices_of(customer)
        policy_form.fields["policy"].queryset = Policy.objects.filter(organization=org)
        page = customer_page(org, customer, now=now)
        return TemplateResponse(request, "admin/collections/customer.html", {
            **self.admin_site.each_context(request), "title": _("Collections: {name}").format(name=customer.name), "customer": customer,
            "row": page.row, "summary": page.summary, "open_invoices": page.open_invoices,
            "reminders": page.reminders, "disputes": page.disputes, "promises": page.promises, "tasks": page.tasks,
            "promise_form": promise_form, "query_form": query_form, "policy_form": policy_form,
            "opts": self.model._meta,
        })

    def _customer_post(self, request, org, customer, open_invoices, now) -> bool:
        if "promise" in request.POST:
            form = PromiseForm(request.POST, prefix="promise")
            form.fields["invoices"].queryset = open_invoices
            if form.is_valid():
                d = form.cleaned_data
                return self.run_service(
                    request, services.record_promise, org, customer, promised_date=d["promised_date"],
                    amount=d["amount"], invoice_ids=[i.pk for i in d["invoices"]] or None, note=d["note"], now=now,
                    success=_("Promise to pay recorded: reminders for its invoices pause until the date."),
                ) is not None
        elif "query" in request.POST:
            from .worklist import queryable_invoices_of

            form = QueryForm(request.POST, prefix="query")
            form.fields["invoice"].queryset = queryable_invoices_of(customer)
            if form.is_valid():
                d = form.cleaned_data
                return self.run_service(
                    request, services.open_dispute, org, d["invoice"].pk, question=d["question"],
                    opened_by=d["opened_by"], user=request.user, now=now,
                    success=_("Query opened: follow-ups for that invoice pause."),
                ) is not None
        elif "policy" in request.POST:
            form = PolicyForm(request.POST, prefix="policy")
            form.fields["policy"].queryset = Policy.objects.filter(organization=org)
            if form.is_valid():
                chosen = form.cleaned_data["policy"]
                return self.run_service(request, services.assign_policy, org, customer,
                                        chosen.code if chosen else None, success=_("Policy saved.")) is not None
        return False


# --- queries (disputes) ----------------------------------------------------------------------------
class ResolveForm(forms.Form):
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    credit_note = forms.BooleanField(required=False, help_text=_("Also issue a credit note for the whole invoice"))
    credit_amount = forms.CharField(
        required=False, label=_("Or credit an amount"),
        help_text=_("Credit only part of the invoice: an amount, tax included, in the invoice's currency, "
                  "as one credit-note line (at most what is still open)"))

    def __init__(self, *args, dispute, may_credit: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.dispute = dispute
        self.may_credit = may_credit
        invoice = dispute.invoice
        self.fields["credit_amount"].label = f"Or credit an amount ({invoice.currency})"
        from duly.domain.money import from_minor

        open_amount = from_minor(invoice.balance_minor if invoice.is_open else 0, invoice.currency)
        self.fields["credit_amount"].help_text += f"; open: {open_amount} {invoice.currency}"

    def clean_credit_amount(self):
        from duly.domain.errors import DomainError
        from duly.invoicing.services import partial_credit_lines

        amount = self.cleaned_data["credit_amount"].strip()
        if amount:
            try:  # the service checks again when it writes; this puts the reason next to the field
                partial_credit_lines(self.dispute.organization, self.dispute.invoice_id, amount, description=_("check"))
            except DomainError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return amount

    def clean(self):
        data = super().clean()
        if data.get("credit_note") and data.get("credit_amount"):
            raise forms.ValidationError(_("Credit the whole invoice or an amount, not both."))
        if (data.get("credit_note") or data.get("credit_amount")) and not self.may_credit:
            raise forms.ValidationError(_("Your role may answer the query but not issue a credit note: ask a "
                                        "bookkeeper, or answer without a credit."))
        return data


@admin.register(Dispute)
class DisputeAdmin(_Clock, _ReadOnly, OrgScopedAdmin):
    list_display = ("invoice", "customer", "opened_at", "opened_by", "sla", "status", "answered_at", "resolve")
    list_select_related = ("invoice", "customer", "organization")
    list_filter = ("status", "opened_by")
    search_fields = ("invoice__number", "customer__name", "question")

    @admin.display(description=_("answer by"), ordering="sla_due_on")
    def sla(self, obj):
        if obj.answered_late(self.clock()):
            return format_html('<strong style="color:#ba2121">{} (late)</strong>', obj.sla_due_on.isoformat())
        return obj.sla_due_on.isoformat()

    @admin.display(description="")
    def resolve(self, obj):
        if obj.status != Dispute.OPEN:
            return "—"
        return format_html('<a href="{}">answer</a>', reverse("admin:collections_dispute_resolve", args=[obj.pk]))

    def get_urls(self):
        return [self.guarded_path("<int:pk>/resolve/", self.resolve_view, "collections_dispute_resolve",
                                  get="collect", post="collect")] + super().get_urls()

    def resolve_view(self, request, pk):
        dispute = get_object_or_404(self.get_queryset(request), pk=pk)
        self.require(request, dispute.organization_id)
        form = ResolveForm(request.POST or None, dispute=dispute,
                           may_credit=self.allowed(request, "bill", dispute))
        if request.method == "POST" and form.is_valid():
            done = self.run_service(
                request, services.resolve_dispute, dispute.organization, dispute.pk,
                answer=form.cleaned_data["answer"], credit_note=form.cleaned_data["credit_note"],
                credit_amount=form.cleaned_data["credit_amount"] or None,
                user=request.user, now=self.clock(), success=_("Answered; the customer is notified."),
            )
            if done is not None:
                return HttpResponseRedirect(reverse("admin:collections_dispute_changelist"))
        return TemplateResponse(request, "admin/duly/reason_form.html", {
            **self.admin_site.each_context(request), "title": _("Answer the query on {invoice}")
                                                                .format(invoice=dispute.invoice),
            "form": form, "objects": [dispute], "opts": self.model._meta,
        })


@admin.register(PromiseToPay)
class PromiseToPayAdmin(_Clock, _ReadOnly, OrgScopedAdmin):
    list_display = ("customer", "promised_date", amount_column(), "created_at", "state")
    list_select_related = ("customer",)

    def get_changelist(self, request, **kwargs):
        admin_ = self

        class PromiseChangeList(super().get_changelist(request, **kwargs)):
            def get_results(self, request):
                super().get_results(request)
                now = admin_.clock()
                states = services.promise_states(
                    self.result_list, lambda p: now.astimezone(ZoneInfo(p.customer.timezone or "UTC")).date())
                for promise in self.result_list:  # the page's states in two queries, not two per row
                    promise.listed_state = states[promise.pk]

        return PromiseChangeList

    @admin.display(description=_("state"))
    def state(self, obj):
        if hasattr(obj, "listed_state"):
            return obj.listed_state
        return services.promise_state(obj, self.clock().astimezone(ZoneInfo(obj.customer.timezone or "UTC")).date())


@admin.register(Task)
class TaskAdmin(_Clock, _ReadOnly, OrgScopedAdmin):
    list_display = ("kind", "customer", "description", "due_at", "done_at")
    list_filter = ("kind", ("done_at", admin.EmptyFieldListFilter))
    actions = ["mark_done"]

    @admin.action(description=_("Mark selected tasks done"), permissions=["collect"])
    def mark_done(self, request, queryset):
        for task in queryset:
            self.run_service(request, services.complete_task, task.organization, task.pk, now=self.clock())
        self.message_user(request, _("Done."), messages.SUCCESS)


@admin.register(Reminder)
class ReminderAdmin(_ReadOnly, OrgScopedAdmin):
    list_display = ("sent_at", "customer", "policy_code", "step_code", "invoices_covered", "channel", "tone",
                    "action_list", "message")
    list_filter = ("policy_code", "step_code", "channel", "tone")
    search_fields = ("customer__name", "customer__code", "reason")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("covered__invoice")

    @admin.display(description=_("actions"))
    def action_list(self, obj):
        return ", ".join(obj.actions) or "—"

    @admin.display(description=_("invoices (once per step)"))
    def invoices_covered(self, obj):
        return ", ".join(row.invoice.number for row in obj.covered.all()) or "—"


@admin.register(Greeting)
class GreetingAdmin(_ReadOnly, OrgScopedAdmin):
    list_display = ("sent_at", "customer", "contact", "kind", "message")


@admin.register(InvoiceDispatch)
class InvoiceDispatchAdmin(_ReadOnly, OrgScopedAdmin):
    """Which issued invoices were e-mailed, and why the others were not (no address, e-mails off)."""

    list_display = ("invoice", "created_at", "message", "note")
    list_filter = (("message", admin.EmptyFieldListFilter),)
    search_fields = ("invoice__number", "invoice__customer__name", "note")
    list_select_related = ("invoice", "message")


@admin.register(CollectionRun)
class CollectionRunAdmin(_ReadOnly, OrgScopedAdmin):
    list_display = ("as_of", "started_at", "finished_at", "counts")
