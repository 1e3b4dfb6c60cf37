"""API keys in the back office: read-only (they are created with `duly api-keys create`, which shows the secret
once), with a revoke action for those who manage the organization."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from duly.customers.tenancy import OrgScopedAdmin

from . import services
from .models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(OrgScopedAdmin):
    list_display = ("name", "organization", "role", "key_start", "created_at", "last_used_at", "revoked_at")
    list_filter = ("role",)
    fields = ("organization", "name", "role", "key_start", "rate_limit_per_minute", "created_at", "last_used_at",
              "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("key"))
    def key_start(self, obj: ApiKey) -> str:
        return f"duly_{obj.prefix}_…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the record of who could call the API stays

    @admin.action(description=_("Revoke the selected API keys"), permissions=["manage_organization"])
    def revoke(self, request, queryset):
        done = 0
        for key in queryset.select_related("organization"):
            self.require(request, key.organization_id, "manage_organization")
            if self.run_service(request, services.revoke_api_key, key.organization, key.pk) is not None:
                done += 1
        self.message_user(request, _("Revoked {done} API key(s).").format(done=done), messages.SUCCESS)


from . import admin_outgoing  # noqa: E402,F401 - outgoing webhooks: endpoints and the delivery log
