"""Outgoing webhooks in the back office: endpoints (add, change, enable, disable, rotate the secret; the secret is
shown once, on the page that answers the add or the rotation, never stored in a message or session), and the
delivery log with its attempts and a replay action. Everything writes through
:mod:`duly.api.outgoing_services`; organization-scoped, ``manage_organization`` to change anything."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, ReadOnlyOrgScopedAdmin, form_organization
from duly.domain.errors import DomainError
from duly.domain.webhooks import EVENT_TYPES, check_event_types, check_url

from . import outgoing_services as services
from .outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    url = forms.CharField(max_length=2000, help_text=_("A public https:// URL that receives a POST for each event."))
    event_types = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple, help_text=_("The events this endpoint receives."))

    class Meta:
        model = WebhookEndpoint
        fields = ("organization", "url", "description", "event_types")

    def clean_url(self):
        try:
            return check_url(self.cleaned_data["url"], allow_loopback=services.allow_loopback())
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_event_types(self):
        try:
            return check_event_types(self.cleaned_data["event_types"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrgScopedAdmin):
    permission = "manage_organization"
    form = EndpointForm
    list_display = ("url", "organization", "enabled", "types", "created_at", "disabled_at")
    list_filter = ("enabled",)
    readonly_fields = ("enabled", "created_at", "disabled_at")
    actions = ["enable", "disable", "rotate"]

    @admin.display(description=_("events"))
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    def has_delete_permission(self, request, obj=None):
        return False  # disabled, never deleted: the delivery log stays

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + ("organization",) if obj is not None else fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.update_endpoint(obj.organization, obj.pk, url=data["url"], event_types=data["event_types"],
                                     description=data.get("description", ""))
        else:
            new = services.create_endpoint(form_organization(form), url=data["url"], event_types=data["event_types"],
                                           description=data.get("description", ""))
            obj.pk = new.endpoint.pk
            request.duly_webhook_secret = new.secret
        obj.refresh_from_db()
        obj._state.adding = False

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "duly_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, obj, secret, rotated=False)

    def _secret_page(self, request, endpoint, secret, *, rotated):
        return TemplateResponse(request, "admin/api/webhook_secret.html", {
            **self.admin_site.each_context(request), "title": _("Webhook signing secret"), "endpoint": endpoint,
            "secret": secret, "rotated": rotated, "back": reverse("admin:api_webhookendpoint_changelist")})

    def _set_enabled(self, request, queryset, enabled: bool):
        done = 0
        for endpoint in queryset.select_related("organization"):
            self.require(request, endpoint.organization_id, "manage_organization")
            if self.run_service(request, services.set_endpoint_enabled, endpoint.organization, endpoint.pk,
                                enabled) is not None:
                done += 1
        self.message_user(request, _("{value} {done} endpoint(s).")
                                     .format(value=_('Enabled') if enabled else _('Disabled'), done=done), messages.SUCCESS)

    @admin.action(description=_("Enable the selected endpoints"), permissions=["manage_organization"])
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable the selected endpoints"), permissions=["manage_organization"])
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    @admin.action(description=_("Rotate the signing secret (one endpoint)"), permissions=["manage_organization"])
    def rotate(self, request, queryset):
        rows = list(queryset.select_related("organization")[:2])
        if len(rows) != 1:
            self.message_user(request, _("Select exactly one endpoint: its new secret is shown once."), messages.ERROR)
            return None
        endpoint = rows[0]
        self.require(request, endpoint.organization_id, "manage_organization")
        new = self.run_service(request, services.rotate_secret, endpoint.organization, endpoint.pk)
        if new is None:
            return None
        return self._secret_page(request, new.endpoint, new.secret, rotated=True)


class AttemptInline(OrgScopedInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "duration_ms", "succeeded", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyOrgScopedAdmin):
    list_display = ("event_type", "event_id", "endpoint", "status", "attempts", "next_attempt_at", "last_status_code",
                    "delivered_at")
    list_filter = ("status",)
    search_fields = ("event__event_id",)
    fields = ("organization", "endpoint", "event_type", "event_id", "status", "attempts", "next_attempt_at",
              "delivered_at", "last_status_code", "last_error", "payload", "created_at")
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event", "endpoint")

    @admin.display(description=_("event type"))
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.event_type

    @admin.display(description=_("event id"))
    def event_id(self, obj: WebhookDelivery) -> str:
        return obj.event.event_id

    @admin.display(description=_("payload"))
    def payload(self, obj: WebhookDelivery) -> str:
        import json

        return json.dumps(obj.event.payload, indent=2, ensure_ascii=False)

    @admin.action(description=_("Replay the selected deliveries (same event id, now)"), permissions=["manage_organization"])
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("organization"):
            self.require(request, delivery.organization_id, "manage_organization")
            if self.run_service(request, services.replay, delivery.organization, delivery_id=delivery.pk):
                done += 1
        self.message_user(request, _("Queued {done} delivery(ies) again.").format(done=done), messages.SUCCESS)
