"""Staff's side of the personal link: customers' requests to change their billing details, approved or rejected
here (approval applies them through the customers services, :mod:`duly.portal.selfservice_services`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from duly.customers.tenancy import OrgScopedAdmin

from . import selfservice_services as services
from .models import ChangeRequest


@admin.register(ChangeRequest)
class ChangeRequestAdmin(OrgScopedAdmin):
    """Written by customers from their link; staff only decide (nothing is added, edited or deleted by hand)."""

    clock = staticmethod(timezone.now)
    permission = None
    list_display = ("customer", "submitted_at", "status", "requested", "was", "decided_at", "decided_by")
    list_select_related = ("customer", "decided_by")
    list_filter = ("status",)
    search_fields = ("customer__name", "customer__code", "contact_name", "contact_email", "po_number")
    readonly_fields = ("customer", "submitted_at", "status", "contact_name", "contact_email", "po_number",
                       "language", "note", "previous", "decided_at", "decided_by")
    exclude = ("organization", "submission")
    actions = ["approve", "reject"]

    # Staff members added before the portal had rows carry no Django permission of this app: the role decides.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and self.allowed(request, "view")

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and self.allowed(request, "view", obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("requested"))
    def requested(self, obj):
        return "; ".join(f"{label}: {value}" for label, value in (
            ("contact", obj.contact_name), ("e-mail", obj.contact_email), ("PO number", obj.po_number),
            ("language", obj.language), ("note", obj.note)) if value)

    @admin.display(description=_("before"))
    def was(self, obj):
        before = obj.previous or {}
        return "; ".join(f"{label}: {before.get(key) or '—'}" for key, label in (
            ("contact_name", "contact"), ("contact_email", "e-mail"), ("po_number", "PO number"),
            ("language", "language")) if getattr(obj, key))

    def _decide(self, request, queryset, fn, done: str):
        count = 0
        for row in queryset.select_related("organization"):  # the rows the role allows (OrgScopedAdmin checks)
            if self.run_service(request, fn, row.organization, row.pk, now=self.clock(), user=request.user):
                count += 1
        if count:
            self.message_user(request, _("{count} request(s) {done}.").format(count=count, done=done), messages.SUCCESS)

    @admin.action(description=_("Approve and apply the selected requests"), permissions=["manage_customers"])
    def approve(self, request, queryset):
        self._decide(request, queryset, services.approve_change_request, _("approved and applied"))

    @admin.action(description=_("Reject the selected requests"), permissions=["manage_customers"])
    def reject(self, request, queryset):
        self._decide(request, queryset, services.reject_change_request, "rejected")
