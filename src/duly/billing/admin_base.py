"""What the billing admins share: forms and admins that write through the billing services."""

from __future__ import annotations

from django import forms

from duly.customers.tenancy import OrgScopedAdmin, OrgScopedInline, organization_for
from duly.domain.errors import DomainError

from . import services
from .models import PriceChangeNotice


def org_of(request, obj):
    return obj.organization if getattr(obj, "organization_id", None) else organization_for(request)


class ServiceForm(forms.ModelForm):
    """Runs a pure validation in ``clean`` so a domain error shows on the form."""

    def validate(self, data: dict) -> None:
        """Raise a DomainError for invalid data (subclasses)."""

    def clean(self):
        data = super().clean()
        if not self.errors and self.instance.pk is None:
            try:
                self.validate(data)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


class ServiceAdmin(OrgScopedAdmin):
    """Add pages create through a service; change pages edit only the display fields, through a service.

    Subclasses define ``create(request, org, cleaned_data)`` calling the service that creates the row.
    """

    editable: tuple[str, ...] = ()
    permission = "manage_catalog"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in self.model._meta.fields if f.name not in self.editable and f.name != "id"]

    def save_model(self, request, obj, form, change):
        org = org_of(request, obj)
        if change:
            fields = {name: form.cleaned_data[name] for name in self.editable if name in form.cleaned_data}
            self.run_service(request, services.update_catalog_entry, org, obj, **fields)
            return
        created = self.create(request, org, form.cleaned_data)  # type: ignore[attr-defined]
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db



class ReadOnlyInline(OrgScopedInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NoticeInline(ReadOnlyInline):
    model = PriceChangeNotice
    fields = ("customer", "send_on", "status", "sent_at", "first_invoice")
    readonly_fields = fields
