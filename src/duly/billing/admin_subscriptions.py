"""Back office of subscriptions: create one, change its seats or plan (its proration shown before it is
confirmed), add or remove items, record licence counts, pause, resume, cancel. Every form writes through the
billing services; a domain error shows on the form and nothing is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Contract, Customer
from duly.customers.services import local_today
from duly.customers.tenancy import OrgScopedAdmin, scoped_choices
from duly.domain.errors import DomainError
from duly.domain.money import from_minor
from duly.domain.text import text

from . import services
from .admin_base import ReadOnlyInline
from .models import BillingRecord, Price, Subscription, SubscriptionItem, SubscriptionPause
from .words import for_staff

FORM_TEMPLATE = "admin/duly/billing_form.html"
QUANTITY = dict(max_digits=20, decimal_places=6, min_value=0)


# --- forms -----------------------------------------------------------------------------------------------------
class SubscriptionCreateForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Customer.objects.none())
    contract = forms.ModelChoiceField(queryset=Contract.objects.none(), required=False,
                                      help_text=_("Blank: the customer's contract in force on the start date (it sets "
                                                "the currency, the payment terms and the billing frequency)."))
    start_date = forms.DateField(help_text=_("YYYY-MM-DD: service starts on this day."))
    reference = forms.CharField(max_length=60, required=False)
    interval = forms.ChoiceField(choices=[("", _("The contract's billing frequency"))] + Subscription.INTERVAL_CHOICES,
                                 required=False)
    anchor_day = forms.CharField(max_length=10, required=False, label=_("Billing day"),
                                 help_text=_("1..31 or 'last', a weekday for weekly intervals. Blank: the contract's "
                                           "billing day, else the start date's."))
    timing = forms.ChoiceField(choices=Subscription.TIMING_CHOICES, initial=Subscription.ADVANCE)
    trial_end = forms.DateField(required=False, help_text=_("Charges start on this day (blank: no trial)."))
    end_date = forms.DateField(required=False, help_text=_("Service stops on this day (blank: until cancelled)."))


class ItemForm(forms.Form):
    price = forms.ModelChoiceField(queryset=Price.objects.none(), required=False)
    quantity = forms.DecimalField(initial=1, required=False, **QUANTITY)


ItemFormSet = forms.formset_factory(ItemForm, extra=3, max_num=20)


def _item_choices(sub: Subscription, on: date | None = None):
    items = sub.items.select_related("price__product").filter(Q(ends_on__isnull=True) | Q(ends_on__gt=on or date.min))
    return [(i.pk, f"{i.price.code} × {i.quantity.normalize():f} (from {i.starts_on.isoformat()})") for i in items]


class ChangeItemForm(forms.Form):
    item = forms.TypedChoiceField(coerce=int, help_text=_("The item whose seats (quantity) or plan (price) change."))
    on = forms.DateField(label=_("From"), help_text=_("The change applies from this day."))
    quantity = forms.DecimalField(required=False, label=_("New quantity (seats)"), **QUANTITY,
                                  help_text=_("Blank: keep the quantity."))
    price = forms.ModelChoiceField(queryset=Price.objects.none(), required=False, label=_("New price (plan)"),
                                   help_text=_("Blank: keep the price."))


class AddItemForm(forms.Form):
    price = forms.ModelChoiceField(queryset=Price.objects.none())
    quantity = forms.DecimalField(initial=1, **QUANTITY)
    on = forms.DateField(label=_("From"))


class RemoveItemForm(forms.Form):
    item = forms.TypedChoiceField(coerce=int)
    on = forms.DateField(label=_("Ends on"), help_text=_("The item's last day of service is the day before."))


class PauseForm(forms.Form):
    starts_on = forms.DateField()
    resumes_on = forms.DateField(required=False, help_text=_("Blank: until resumed."))
    reason = forms.CharField(max_length=200, required=False)


class ResumeForm(forms.Form):
    on = forms.DateField(label=_("Resume on"))


class CancelForm(forms.Form):
    on = forms.DateField(label=_("Cancel on"))
    at_period_end = forms.BooleanField(required=False, initial=True, label=_("At the end of the period"),
                                       help_text=_("Unticked: immediately, with a credit note for the unused days "
                                                 "of a period invoiced in advance."))
    reason = forms.CharField(max_length=200, required=False)


class LicenceCountForm(forms.Form):
    day = forms.DateField()
    active_count = forms.IntegerField(min_value=0, label=_("Active seats"))


def proration_lines(change) -> list[tuple[str, str]]:
    """The lines a confirmation page shows for a change's proration (what :func:`services.change_item` books), in
    the staff user's language."""
    p = change.proration
    if p is None:
        return []
    return [(for_staff(label), for_staff(amount)) for label, amount in p.lines_words()]


def proration_preview(change) -> dict[str, str]:
    """What the change page shows before it is confirmed, in the staff user's language (Django's active one)."""
    p = change.proration
    if p is None:
        return {"lines": [], "net": "", "what": "", "summary": for_staff(text("Nothing is settled now.")),
                "explanation": for_staff(text(
                    "This change falls in a period not invoiced yet (or billed in arrears): the next invoice bills "
                    "each item for the days it applies, so nothing is settled now."))}
    return {"lines": proration_lines(change), "net": str(p.net),
            "explanation": for_staff(p.words[1]) if p.words else p.explanation,
            "summary": for_staff(p.summary_words()), "what": for_staff(p.what_words) if p.what_words else p.what}


def settlement_lines(settlement) -> list[tuple[str, str]]:
    """The lines a confirmation page shows for what adding or removing an item, or cancelling, settles now (what
    the service books: :func:`services.prepare_add_item`, :func:`services.prepare_remove_item`,
    :func:`services.prepare_cancel`)."""
    cur = settlement.currency
    rows = [(f"{'Credit' if line.kind == 'credit' else 'Charge on the next invoice'}: {line.description}",
             f"{'−' if line.kind == 'credit' else ''}{line.amount} {cur}") for line in settlement.lines]
    if settlement.absorbed:
        rows.append((_("Of the credit, taken off the charges not invoiced yet (those days were credited before)"),
                     f"{settlement.absorbed} {cur}"))
    if rows:
        rows.append((_("Net"), f"{settlement.net} {cur}"))
    return rows


def settlement_preview(settlement, *, ends_on=None) -> dict:
    """The preview block of a confirmation page (``previewed_net`` is posted back with the confirmation)."""
    summary = settlement.summary()
    if ends_on is not None:
        summary = f"Service ends on {ends_on.isoformat()} (exclusive). {summary}"
    return {"lines": settlement_lines(settlement), "net": str(settlement.net), "what": settlement.what,
            "explanation": settlement.explanation or _("Nothing is credited or charged now."), "summary": summary}


# --- inlines ---------------------------------------------------------------------------------------------------
class ItemInline(ReadOnlyInline):
    model = SubscriptionItem
    fields = ("price", "quantity", "starts_on", "ends_on")
    readonly_fields = fields


class PauseInline(ReadOnlyInline):
    model = SubscriptionPause
    fields = ("starts_on", "resumes_on", "reason")
    readonly_fields = fields


class RecordInline(ReadOnlyInline):
    model = BillingRecord
    fields = ("period_start", "period_end", "usage_start", "usage_end", "billing_date", "invoice", "amount")
    readonly_fields = fields
    ordering = ("-period_start",)

    @admin.display(description=_("amount (net)"))
    def amount(self, obj):
        return f"{from_minor(obj.amount_minor, obj.currency)} {obj.currency}"


#: The subscription pages: (URL part, view method, title).
PAGES = (
    ("change-item", "change_item_view", _("Change seats or plan")),
    ("add-item", "add_item_view", _("Add an item")),
    ("remove-item", "remove_item_view", _("Remove an item")),
    ("licences", "licences_view", _("Record a licence count")),
    ("pause", "pause_view", _("Pause")),
    ("resume", "resume_view", _("Resume")),
    ("cancel", "cancel_view", _("Cancel")),
)


@admin.register(Subscription)
class SubscriptionAdmin(OrgScopedAdmin):
    list_display = ("__str__", "customer", "interval", "anchor_day", "timing", "start_date", "end_date", "status",
                    "next_bill_on")
    list_filter = ("status", "interval", "timing", "currency")
    search_fields = ("reference", "customer__name", "customer__code")
    date_hierarchy = "next_bill_on"
    inlines = [ItemInline, PauseInline, RecordInline]
    actions = ["bill_now", "cancel_at_period_end", "cancel_now", "pause_today", "resume_today"]
    permission = "bill"

    def get_readonly_fields(self, request, obj=None):
        return ["manage", *(f.name for f in Subscription._meta.fields)]

    @admin.display(description=_("manage"))
    def manage(self, obj):
        if obj is None or obj.pk is None:
            return ""
        return format_html_join(" · ", '<a href="{}">{}</a>', (
            (reverse(f"admin:billing_subscription_{part.replace('-', '_')}", args=[obj.pk]), title)
            for part, _, title in PAGES))

    # --- the pages -------------------------------------------------------------------------------------------
    def get_urls(self):
        return [self.guarded_path(f"<int:pk>/{part}/", getattr(self, view), f"billing_subscription_{part.replace('-', '_')}",
                                  get="bill", post="bill") for part, view, _ in PAGES] + super().get_urls()

    def _render(self, request, title: str, form, *, sub=None, formset=None, preview=None, intro: str = "",
                confirm: str = _("Save")):
        return TemplateResponse(request, FORM_TEMPLATE, {
            **self.admin_site.each_context(request), "title": title, "form": form, "formset": formset,
            "preview": preview, "intro": intro, "confirm": confirm, "opts": self.model._meta, "original": sub,
            "back": reverse("admin:billing_subscription_change", args=[sub.pk]) if sub is not None else None,
        })

    def _prices(self, request, sub=None):
        prices = scoped_choices(Price, self.writable_organizations(request), request).filter(active=True)
        if sub is not None:
            prices = prices.filter(organization=sub.organization, currency=sub.currency)
        return prices.select_related("product").order_by("code")

    def _subscription(self, request, pk) -> Subscription:
        sub = get_object_or_404(self.get_queryset(request).select_related("organization", "customer", "contract"),
                                pk=pk)
        self.require(request, sub.organization_id)
        return sub

    def _done(self, request, sub, message: str):
        self.message_user(request, f"{sub}: {message}", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:billing_subscription_change", args=[sub.pk]))

    def _apply(self, form, fn, *args, **kwargs):
        """Call a service; a domain error becomes a form error (nothing was written: each service is atomic)."""
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            form.add_error(None, exc.message)
            return None

    def _form(self, request, form_class, sub, **initial):
        data = request.POST if request.method == "POST" else None
        form = form_class(data, initial=initial)
        if "item" in form.fields:
            form.fields["item"].choices = _item_choices(sub)
        if "price" in form.fields:
            form.fields["price"].queryset = self._prices(request, sub)
        return form

    # --- create ----------------------------------------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        orgs = self.writable_organizations(request)
        post = request.POST if request.method == "POST" else None
        form = SubscriptionCreateForm(post, initial={"timing": Subscription.ADVANCE})
        form.fields["customer"].queryset = scoped_choices(Customer, orgs, request).order_by("name")
        form.fields["contract"].queryset = scoped_choices(Contract, orgs, request).select_related("customer")
        formset = ItemFormSet(post, prefix="items")
        for item_form in formset.forms:
            item_form.fields["price"].queryset = self._prices(request)
        if post is not None and form.is_valid() and formset.is_valid():
            d = form.cleaned_data
            items = [(f.cleaned_data["price"], f.cleaned_data.get("quantity") or 0)
                     for f in formset.forms if f.cleaned_data.get("price") is not None]
            customer = d["customer"]
            self.require(request, customer.organization_id, self.permission)
            sub = self._apply(form, services.create_subscription, customer.organization, customer, items,
                              start_date=d["start_date"], as_of=local_today(customer.organization),
                              contract=d["contract"], interval=d["interval"] or None,
                              anchor_day=d["anchor_day"] or None, timing=d["timing"], trial_end=d["trial_end"],
                              end_date=d["end_date"], reference=d["reference"])
            if sub is not None:
                return self._done(request, sub, "created.")
        return self._render(request, _("Add a subscription"), form, formset=formset,
                            intro=_("Subscribe a customer to one or more prices (in the contract's currency). A deposit "
                                  "the contract requires is invoiced at once."), confirm=_("Create the subscription"))

    # --- items -----------------------------------------------------------------------------------------------
    def change_item_view(self, request, pk):
        sub = self._subscription(request, pk)
        org = sub.organization
        form = self._form(request, ChangeItemForm, sub, on=local_today(org))
        title = _("Change seats or plan of {sub}").format(sub=sub)
        if request.method != "POST" or not form.is_valid():
            return self._render(request, title, form, sub=sub, confirm=_("Preview the proration"))
        d = form.cleaned_data
        change = self._apply(form, services.preview_change, org, sub, d["item"], on=d["on"], quantity=d["quantity"],
                             price=d["price"])
        if change is None:
            return self._render(request, title, form, sub=sub, confirm=_("Preview the proration"))
        shown = change.proration.net if change.proration is not None else None
        if "_confirm" in request.POST:
            if request.POST.get("previewed_net", "") != ("" if shown is None else str(shown)):
                form.add_error(None, _("The proration changed since it was shown (another change was made): check it "
                                     "again before confirming."))
            elif self._apply(form, services.change_item, org, sub, d["item"], on=d["on"], as_of=local_today(org),
                             quantity=d["quantity"], price=d["price"],
                             expected_net=Decimal(0) if shown is None else shown) is not None:
                summary = change.proration.summary() if change.proration is not None else _("nothing to prorate.")
                return self._done(request, sub, f"changed from {d['on'].isoformat()}; {summary}")
        preview = proration_preview(change)
        return self._render(request, title, form, sub=sub, preview=preview, confirm=_("Confirm the change"))

    def _page(self, request, pk, form_class, today_field: str, title: str, act, *, intro: str = "",
              confirm: str = _("Save")):
        """A subscription page: the form (``today_field`` filled with today), then ``act(sub, data, today)``
        calling a service and returning what to tell; a domain error shows on the form, nothing written."""
        sub = self._subscription(request, pk)
        today = local_today(sub.organization)
        form = self._form(request, form_class, sub, **{today_field: today})
        if request.method == "POST" and form.is_valid():
            try:
                message = act(sub, form.cleaned_data, today)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                return self._done(request, sub, message)
        return self._render(request, title.format(sub=sub), form, sub=sub, intro=intro, confirm=confirm)

    def _confirmed(self, request, pk, form_class, today_field: str, title: str, preview, act, *, intro: str = "",
                   confirm: str = _("Confirm")):
        """A subscription page whose change settles money: the form, then ``preview(sub, data)`` (a
        :class:`services.Settlement` and the new end, if any) shown with the form's values, then on confirmation
        ``act(sub, data, today, expected_net)`` (the service refuses a net that changed since it was shown)."""
        sub = self._subscription(request, pk)
        today = local_today(sub.organization)
        form = self._form(request, form_class, sub, **{today_field: today})
        title = title.format(sub=sub)
        if request.method != "POST" or not form.is_valid():
            return self._render(request, title, form, sub=sub, intro=intro, confirm=_("Preview"))
        try:
            settlement, ends_on = preview(sub, form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
            return self._render(request, title, form, sub=sub, intro=intro, confirm=_("Preview"))
        if "_confirm" in request.POST:
            try:
                shown = Decimal(request.POST.get("previewed_net", ""))
            except InvalidOperation:
                shown = None
            if shown != settlement.net:
                form.add_error(None, _("The proration changed since it was shown (another change was made): check it "
                                     "again before confirming."))
            else:
                try:
                    message = act(sub, form.cleaned_data, today, shown)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    return self._done(request, sub, f"{message} {settlement.summary()}")
        return self._render(request, title, form, sub=sub, preview=settlement_preview(settlement, ends_on=ends_on),
                            confirm=confirm)

    def add_item_view(self, request, pk):
        def preview(sub, d):
            return services.preview_add_item(sub.organization, sub, d["price"], d["quantity"], on=d["on"]).settlement, None

        def act(sub, d, today, expected):
            services.add_item(sub.organization, sub, d["price"], d["quantity"], on=d["on"], as_of=today,
                              expected_net=expected)
            return f"{d['price'].code} added from {d['on'].isoformat()}."

        return self._confirmed(request, pk, AddItemForm, "on", _("Add an item to {sub}"), preview, act,
                               intro=_("In a period invoiced in advance, the rest of the period waits for the next "
                                     "invoice as a prorated charge: it is shown before you confirm."),
                               confirm=_("Confirm: add the item"))

    def remove_item_view(self, request, pk):
        def preview(sub, d):
            return services.preview_remove_item(sub.organization, sub, d["item"], on=d["on"]).settlement, None

        def act(sub, d, today, expected):
            services.remove_item(sub.organization, sub, d["item"], on=d["on"], as_of=today, expected_net=expected)
            return f"item removed from {d['on'].isoformat()}."

        return self._confirmed(request, pk, RemoveItemForm, "on", _("Remove an item of {sub}"), preview, act,
                               intro=_("The unused part of a period invoiced in advance is credited: it is shown before "
                                     "you confirm."), confirm=_("Confirm: remove the item"))

    def licences_view(self, request, pk):
        def act(sub, d, today):
            services.record_licence_counts(sub.organization, sub, {d["day"]: d["active_count"]})
            return f"{d['active_count']} active seats on {d['day'].isoformat()}."

        return self._page(request, pk, LicenceCountForm, "day", _("Record a licence count of {sub}"), act,
                          intro=_("The active seats of a day (a count recorded before for that day is replaced); "
                                "licence prices bill the period's average."))

    # --- pause, resume, cancel ------------------------------------------------------------------------------
    def pause_view(self, request, pk):
        def act(sub, d, today):
            services.pause_subscription(sub.organization, sub, starts_on=d["starts_on"], as_of=today,
                                        resumes_on=d["resumes_on"], reason=d["reason"])
            return f"paused from {d['starts_on'].isoformat()}."

        return self._page(request, pk, PauseForm, "starts_on", "Pause {sub}", act,
                          intro=_("Paused days are not charged; those of a period invoiced in advance are credited."))

    def resume_view(self, request, pk):
        def act(sub, d, today):
            services.resume_subscription(sub.organization, sub, on=d["on"], as_of=today)
            return f"resumed on {d['on'].isoformat()}."

        return self._page(request, pk, ResumeForm, "on", "Resume {sub}", act,
                          intro=_("Days of an invoiced period credited for the pause are charged back."))

    def cancel_view(self, request, pk):
        def preview(sub, d):
            prepared = services.preview_cancel(sub.organization, sub, on=d["on"], at_period_end=d["at_period_end"])
            return prepared.settlement, prepared.ends_on

        def act(sub, d, today, expected):
            services.cancel_subscription(sub.organization, sub, on=d["on"], as_of=today,
                                         at_period_end=d["at_period_end"], reason=d["reason"], expected_net=expected)
            return "cancelled" + (" at the end of the period." if d["at_period_end"] else f" on {d['on'].isoformat()}.")

        return self._confirmed(request, pk, CancelForm, "on", "Cancel {sub}", preview, act,
                               intro=_("The end of service and, for a cancellation at once, the credit for the unused "
                                     "days of a period invoiced in advance are shown before you confirm."),
                               confirm=_("Confirm: cancel the subscription"))

    # --- list actions ----------------------------------------------------------------------------------------
    def _each(self, request, queryset, fn, done: str, **kwargs):
        for sub in queryset.select_related("organization"):
            if self.run_service(request, fn, sub.organization, sub, **kwargs) is not None:
                self.message_user(request, f"{sub}: {done}.")

    @admin.action(description=_("Bill the selected subscriptions' customers now (as of today)"), permissions=["bill"])
    def bill_now(self, request, queryset):
        by_org: dict = {}
        for sub in queryset.select_related("organization"):
            by_org.setdefault(sub.organization, set()).add(sub.customer_id)
        for org, customers in by_org.items():
            result = self.run_service(request, services.run_billing, org, date.today(), customers=customers)
            if result is not None:
                self.message_user(request, result.summary())

    @admin.action(description=_("Cancel at the end of the current period"), permissions=["bill"])
    def cancel_at_period_end(self, request, queryset):
        self._each(request, queryset, services.cancel_subscription, _("cancelled at the end of the period"),
                   on=date.today(), as_of=date.today(), at_period_end=True)

    @admin.action(description=_("Cancel today (credit note for unused days)"), permissions=["bill"])
    def cancel_now(self, request, queryset):
        self._each(request, queryset, services.cancel_subscription, "cancelled", on=date.today(),
                   as_of=date.today(), at_period_end=False)

    @admin.action(description=_("Pause from today (until resumed)"), permissions=["bill"])
    def pause_today(self, request, queryset):
        self._each(request, queryset, services.pause_subscription, "paused", starts_on=date.today(),
                   as_of=date.today())

    @admin.action(description=_("Resume today"), permissions=["bill"])
    def resume_today(self, request, queryset):
        self._each(request, queryset, services.resume_subscription, "resumed", on=date.today(), as_of=date.today())
