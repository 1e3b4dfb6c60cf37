"""Membership roles as permission sets: what each back-office user may do in each of their organizations.

A user works for an organization through a :class:`~duly.customers.models.Membership` with one role.
Each role is a fixed set of permissions (:data:`ROLE_PERMISSIONS`); every admin page, action and custom
view names the permission it needs (``OrgScopedAdmin.permission``, ``@admin.action(permissions=[...])``,
``OrgScopedAdmin.guarded_path``), and the check is made against the role the user has in the
organization of the row concerned. A platform operator (a superuser) may do everything in the
organizations they see. ``docs/roles.md`` is rendered from this module (:func:`render_markdown`) and a
test keeps it in sync; a role matrix test walks every admin URL for every role against it.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

OWNER, ADMIN, BOOKKEEPER, COLLECTOR, VIEWER = "owner", "admin", "bookkeeper", "collector", "viewer"

#: The roles, most powerful first, with the one-line description the docs and the admin show.
ROLES: dict[str, str] = {
    OWNER: "Runs the organization: everything an admin does, plus who works for it and with which role.",
    ADMIN: "Sets the organization up and does all the work: settings, policies, templates, billing, "
           "payments, collections.",
    BOOKKEEPER: "Does the books (staff): customers and contracts, catalog, invoices, subscriptions, "
                "payments and collections work.",
    COLLECTOR: "Chases payment: promises, queries, tasks and the outbox; reads everything else.",
    VIEWER: "Reads everything of the organization and changes nothing.",
}
ROLE_CHOICES = [(OWNER, _("Owner")), (ADMIN, _("Admin")), (BOOKKEEPER, _("Bookkeeper")), (COLLECTOR, _("Collector")),
                (VIEWER, _("Viewer"))]

#: Every permission, with what it allows.
PERMISSIONS: dict[str, str] = {
    "view": "See every page, record and report of the organization (read only).",
    "manage_members": "Add, change and remove memberships: who works for the organization, with which role.",
    "create_organization": "Create another organization (its creator becomes its owner).",
    "manage_organization": "Change the organization's details, invoice number series, collections settings, "
                           "dunning policies, segment rules and message templates.",
    "manage_customers": "Create, change and delete customers, contacts, contracts and special dates; rotate a "
                        "customer's pay links.",
    "manage_catalog": "Products, metrics, prices and price changes.",
    "bill": "Invoices (drafts, issue, void, credit notes, write-offs, late fees) and subscriptions (bill now, "
            "cancel, pause, resume); credit a customer when answering a query.",
    "record_payments": "Record payments on invoices and refund payments.",
    "collect": "Collections work: promises to pay, queries (open and answer), a customer's dunning policy and "
               "profile, tasks, and decisions on unconfirmed messages in the outbox.",
}

_WORK = frozenset({"view", "manage_customers", "manage_catalog", "bill", "record_payments", "collect"})
#: What each role may do.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    OWNER: frozenset(PERMISSIONS),
    ADMIN: _WORK | {"manage_organization"},
    BOOKKEEPER: _WORK,
    COLLECTOR: frozenset({"view", "collect"}),
    VIEWER: frozenset({"view"}),
}

#: Not a permission of any role: only platform operators (superusers) may (shared reference data,
#: deleting an organization).
SUPERUSER = "superuser"


def check_permission_name(name: str | None) -> None:
    if name is not None and name != SUPERUSER and name not in PERMISSIONS:
        raise LookupError(f"unknown permission {name!r}")


def role_allows(role: str, permission: str | None) -> bool:
    if permission is None or permission == SUPERUSER:
        return False
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def roles_of(user) -> dict[int, str]:
    """``{organization id: role}`` of a user (read once per user object, i.e. once per request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached = getattr(user, "_duly_roles", None)
    if cached is None:
        from .models import Membership

        cached = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        user._duly_roles = cached
    return cached


def forget_roles(user) -> None:
    """Drop the cached roles (after a user's own membership changed)."""
    if hasattr(user, "_duly_roles"):
        del user._duly_roles


def _operator(user) -> bool:
    """A platform operator: a superuser with no membership sees (and may do anything in) every organization."""
    return bool(getattr(user, "is_superuser", False)) and user.is_active


def has_permission(user, organization_id: int | None, permission: str | None) -> bool:
    """Whether ``user`` may do ``permission`` in the organization ``organization_id``."""
    if permission is None or organization_id is None or not getattr(user, "is_authenticated", False):
        return False
    roles = roles_of(user)
    if _operator(user):
        return not roles or organization_id in roles
    if permission == SUPERUSER:
        return False
    return organization_id in roles and role_allows(roles[organization_id], permission)


def has_permission_anywhere(user, permission: str | None) -> bool:
    """Whether ``user`` may do ``permission`` in at least one of their organizations."""
    if permission is None or not getattr(user, "is_authenticated", False):
        return False
    if _operator(user):
        return True
    if permission == SUPERUSER:
        return False
    return any(role_allows(role, permission) for role in roles_of(user).values())


def organizations_with(user, permission: str | None) -> QuerySet:
    """The organizations in which ``user`` may do ``permission``."""
    from .models import Organization
    from .tenancy import user_organizations

    if permission is None or not getattr(user, "is_authenticated", False):
        return Organization.objects.none()
    if _operator(user):
        return user_organizations(user)
    if permission == SUPERUSER:
        return Organization.objects.none()
    allowed = [org for org, role in roles_of(user).items() if role_allows(role, permission)]
    return Organization.objects.filter(pk__in=allowed)


def role_label(role: str) -> str:
    return str(dict(ROLE_CHOICES).get(role, role))
