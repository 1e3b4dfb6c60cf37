"""Organization scoping for the back office: a staff user sees only the rows of their organizations."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet

from duly.domain.errors import DomainError

from .models import Organization


def user_organizations(user) -> QuerySet:
    if not user.is_authenticated:
        return Organization.objects.none()
    scoped = Organization.objects.filter(memberships__user=user)
    if user.is_superuser and not scoped.exists():
        return Organization.objects.all()  # a platform operator with no membership
    return scoped


def organization_for(request) -> Organization | None:
    """The organization a new row is created in: the user's only organization, else None (they choose)."""
    orgs = list(user_organizations(request.user)[:2])
    return orgs[0] if len(orgs) == 1 else None


def org_path_for(model: type[Model]) -> str:
    """Lookup from a model to its organization (direct FK, else via invoice/payment/customer)."""
    names = {f.name for f in model._meta.get_fields()}
    if "organization" in names:
        return "organization"
    for parent in ("invoice", "payment", "customer", "subscription"):
        if parent in names:
            return f"{parent}__organization"
    raise LookupError(f"{model.__name__} has no path to an organization")


class OrgScopedAdmin(admin.ModelAdmin):
    """Every query, choice list and new row is limited to the user's organizations."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(**{f"{org_path_for(self.model)}__in": user_organizations(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is Organization:
            kwargs["queryset"] = user_organizations(request.user)
        else:
            try:
                path = org_path_for(related)
            except LookupError:
                path = None
            if path:
                kwargs["queryset"] = related._default_manager.filter(
                    **{f"{path}__in": user_organizations(request.user)}
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # The organization a new row goes to, for forms whose checks need it (the field may be hidden).
        form.duly_organization = organization_for(request)
        return form

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if "organization" in {f.name for f in self.model._meta.fields} and organization_for(request):
            exclude.append("organization")
        return exclude

    def save_model(self, request, obj, form, change):
        if not change and hasattr(obj, "organization_id") and not obj.organization_id:
            obj.organization = organization_for(request)
        super().save_model(request, obj, form, change)

    def run_service(self, request, fn, *args, success: str | None = None, **kwargs):
        """Call a service; show a domain error as a clear message instead of a traceback."""
        try:
            result = fn(*args, **kwargs)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return None
        if success:
            self.message_user(request, success, level=messages.SUCCESS)
        return result


def form_organization(form) -> Organization | None:
    """The organization a ModelForm's row belongs to: chosen in the form, the row's own, or the user's only one."""
    data = getattr(form, "cleaned_data", {}) or {}
    if data.get("organization") is not None:
        return data["organization"]
    if getattr(form.instance, "organization_id", None):
        return form.instance.organization
    return getattr(form, "duly_organization", None)


class ReadOnlyOrgScopedAdmin(OrgScopedAdmin):
    """A record Duly writes itself: the back office lists and shows it, nobody adds, edits or deletes it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrgScopedInline(admin.TabularInline):
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return OrgScopedAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
