"""Back office for messaging: the outbox (read-only, with the decisions staff take on it) and the
organization's own templates (validated when saved)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from duly.customers.tenancy import OrgScopedAdmin

from . import attachments, services
from .models import Message, MessageTemplate


@admin.register(Message)
class MessageAdmin(OrgScopedAdmin):
    list_display = ("created_at", "customer", "to_email", "subject", "category", "channel", "status_display",
                    "attempts", "sent_at")
    list_filter = ("status", "category", "channel", "language")
    search_fields = ("subject", "to_email", "customer__name", "customer__code", "message_id")
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["download_attachment", "confirm_delivered", "requeue_unconfirmed"]
    permission = "collect"

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the outbox is the record of what was sent (each message at most once)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        if obj.status in (Message.FAILED, Message.BOUNCED, Message.UNCONFIRMED):
            return format_html('<strong style="color:#ba2121" title="{}">{}</strong>', obj.last_error or obj.bounce_reason,
                               obj.get_status_display())
        return obj.get_status_display()

    @admin.action(description=_("Download the first attachment (the PDF letter of a letter for post)"),
                  permissions=["view"])
    def download_attachment(self, request, queryset):
        msg = queryset.first()
        loaded = self.run_service(request, _first_attachment, msg) if msg is not None else None
        if loaded is None:
            self.message_user(request, _("That message has no attachment to download."), messages.WARNING)
            return None
        filename, content, content_type = loaded
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description=_("Unconfirmed: the mail log shows it was delivered"), permissions=["collect"])
    def confirm_delivered(self, request, queryset):
        for msg in queryset:
            self.run_service(request, services.settle_unconfirmed, msg.organization, msg.pk, delivered=True,
                             now=timezone.now())

    @admin.action(description=_("Unconfirmed: it was not delivered, queue it again"), permissions=["collect"])
    def requeue_unconfirmed(self, request, queryset):
        for msg in queryset:
            self.run_service(request, services.settle_unconfirmed, msg.organization, msg.pk, delivered=False,
                             now=timezone.now())


@admin.register(MessageTemplate)
class MessageTemplateAdmin(OrgScopedAdmin):
    """Saving runs the model's ``clean``: a broken or impersonal template is a form error."""

    list_display = ("name", "language", "category", "updated_at")
    list_filter = ("language", "category")
    permission = "manage_organization"


def _first_attachment(msg: Message):
    for ref in msg.attachments:
        loaded = attachments.load(ref)
        if loaded is not None:
            return loaded
    return None
