"""Organization scoping for the back office: a staff user sees only the rows of their organizations."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, DateField, Model, QuerySet
from django.urls import path
from django.utils.translation import gettext_lazy as _

from duly.domain.errors import DomainError

from . import roles
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


def org_id_of(obj: Model) -> int | None:
    """The organization a row belongs to (following :func:`org_path_for`)."""
    if isinstance(obj, Organization):
        return obj.pk
    *parents, last = org_path_for(type(obj)).split("__")
    for name in parents:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None)


def _scoped_users(request) -> QuerySet:
    """Back-office users a user may see: the members of their organizations (everyone for an operator)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if request.user.is_superuser and not roles.roles_of(request.user):
        return User.objects.all()
    return User.objects.filter(memberships__organization__in=user_organizations(request.user)).distinct()


class ScopedAllValuesFilter(admin.AllValuesFieldListFilter):
    """A value filter across a relation (``customer__country``) listing only the values of the rows the user
    sees (Django's lists every value of the related table, other organizations' included)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (model_admin.get_queryset(request).distinct().order_by(field_path)
                               .values_list(field_path, flat=True))


def scoped_list_filter(model: type[Model], entry):
    """A list filter entry that never names another organization's rows."""
    from django.contrib.admin.utils import get_fields_from_path

    if not isinstance(entry, str):
        return entry
    field = get_fields_from_path(model, entry)[-1]
    if field.is_relation:
        return (entry, admin.RelatedOnlyFieldListFilter)  # only what the visible rows point to
    if "__" in entry and not field.choices and not isinstance(field, (BooleanField, DateField)):
        return (entry, ScopedAllValuesFilter)
    return entry


class OrgScopedAdmin(admin.ModelAdmin):
    """Every query, choice list and new row is limited to the user's organizations, and every page, action
    and custom view to what the user's role there allows (:mod:`duly.customers.roles`).

    ``permission`` names the permission adding, changing and deleting rows needs (``None``: nobody, the
    rows are written by Duly itself); reading needs ``view``. Actions declare theirs with
    ``@admin.action(permissions=[...])`` (a permission of :data:`~duly.customers.roles.PERMISSIONS`, or
    ``change``/``delete`` for this admin's own). Custom views are mounted with :meth:`guarded_path`.
    """

    permission: str | None = None

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.custom_views: dict[str, tuple[str | None, str | None]] = {}
        for perm in roles.PERMISSIONS:  # has_<permission>_permission, for @admin.action(permissions=[...])
            if not hasattr(self, f"has_{perm}_permission"):
                setattr(self, f"has_{perm}_permission",
                        lambda request, obj=None, _perm=perm: self.allowed(request, _perm, obj))

    # --- roles ------------------------------------------------------------------------------------
    def allowed(self, request, permission: str | None, obj=None) -> bool:
        """Whether the user may do ``permission`` on ``obj`` (its organization), or in any organization."""
        if obj is None:
            return roles.has_permission_anywhere(request.user, permission)
        return roles.has_permission(request.user, org_id_of(obj), permission)

    def require(self, request, organization_id: int, permission: str | None = None) -> None:
        """Refuse (403) unless the user may do ``permission`` (default: what this custom view needs for the
        request's method) in that organization."""
        if permission is None:
            permission = getattr(request, "duly_permission", None)
        if not roles.has_permission(request.user, organization_id, permission):
            raise PermissionDenied

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self.allowed(request, "view")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self.allowed(request, "view", obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self.allowed(request, self.permission)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.allowed(request, self.permission, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.allowed(request, self.permission, obj)

    def action_permission(self, func) -> str | None:
        """The role permission an action needs (its declared one; ``change``/``delete``: this admin's)."""
        declared = list(getattr(func, "allowed_permissions", ()))
        if len(declared) != 1:
            return None  # undeclared: refused (a test requires every action to declare one)
        name = declared[0]
        return self.permission if name in ("add", "change", "delete") else name

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: (self._guarded_action(func), name, description)
                for name, (func, name, description) in actions.items()
                if self.action_permission(func) is not None}

    def _guarded_action(self, func):
        permission = self.action_permission(func)

        def guarded(modeladmin, request, queryset):
            path = f"{org_path_for(self.model)}__in"
            if queryset.exclude(**{path: roles.organizations_with(request.user, permission)}).exists():
                self.message_user(request, _("Your role does not allow this ({value}) for every selected row: "
                                             "nothing was done.").format(value=permission.replace('_', ' ')), level=messages.ERROR)
                return None
            return func(modeladmin, request, queryset)

        guarded.__name__ = getattr(func, "__name__", "action")
        guarded.allowed_permissions = getattr(func, "allowed_permissions", ())
        return guarded

    def guarded_path(self, route: str, view, name: str, *, get: str | None = "view", post: str | None = None):
        """A custom view's URL: GET needs ``get``, POST needs ``post`` (None: refused) in some organization;
        the view calls :meth:`require` with the organization of what it shows or changes."""
        for perm in (get, post):
            roles.check_permission_name(perm)
        self.custom_views[name] = (get, post)

        def guarded(request, *args, **kwargs):
            permission = get if request.method in ("GET", "HEAD") else post
            if not roles.has_permission_anywhere(request.user, permission):
                raise PermissionDenied
            request.duly_permission = permission
            return view(request, *args, **kwargs)

        return path(route, self.admin_site.admin_view(guarded), name=name)

    # --- scoping ----------------------------------------------------------------------------------
    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(**{f"{org_path_for(self.model)}__in": user_organizations(request.user)})

    def get_list_filter(self, request):
        return [scoped_list_filter(self.model, entry) for entry in super().get_list_filter(request)]

    def writable_organizations(self, request) -> QuerySet:
        """The organizations a new or changed row may belong to (or point into): where the user may write."""
        return roles.organizations_with(request.user, self.permission or "view")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = scoped_choices(db_field.related_model, self.writable_organizations(request), request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = scoped_choices(db_field.related_model, self.writable_organizations(request), request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

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


def scoped_choices(model: type[Model], organizations: QuerySet, request) -> QuerySet:
    """The rows of ``model`` a choice field may offer: those of ``organizations`` (users: their members)."""
    from django.contrib.auth import get_user_model

    if model is Organization:
        return organizations
    if model is get_user_model():
        return _scoped_users(request)
    try:
        path = org_path_for(model)
    except LookupError:
        return model._default_manager.all()  # shared reference data
    return model._default_manager.filter(**{f"{path}__in": organizations})


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

    permission = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrgScopedInline(admin.TabularInline):
    """An inline whose choice lists offer only rows of the organizations where the user may change the parent."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        parent = self.admin_site._registry.get(self.parent_model)
        orgs = (parent.writable_organizations(request) if isinstance(parent, OrgScopedAdmin)
                else user_organizations(request.user))
        kwargs["queryset"] = scoped_choices(db_field.related_model, orgs, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
