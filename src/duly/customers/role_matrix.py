"""The role matrix: for every back-office page, action and custom view, the permission it needs.

Read from the admin site itself (``admin.site._registry``, each admin's actions and its
:meth:`~duly.customers.tenancy.OrgScopedAdmin.guarded_path` views), so a new admin page is in the matrix
(and in the role matrix test) the moment it is registered. ``docs/roles.md`` is :func:`render_markdown`'s
output (``duly roles > docs/roles.md``); a test keeps the two the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import roles

#: Page operations every registered admin has.
OPERATIONS = ("view", "add", "change", "delete")


@dataclass(frozen=True)
class Entry:
    """One thing a back-office user can do: ``kind`` is an operation, ``action`` or ``GET``/``POST`` (custom view)."""

    model_admin: object
    kind: str
    name: str
    permission: str | None  # None: nobody; roles.SUPERUSER: platform operators only

    @property
    def page(self) -> str:
        return self.model_admin.model._meta.label_lower

    def allows(self, role: str) -> bool:
        return roles.role_allows(role, self.permission)


def _probe_request():
    """A request of a platform operator, to learn what an admin refuses to everyone."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    user = get_user_model()(username="matrix-probe", is_superuser=True, is_staff=True, is_active=True)
    user._duly_roles = {}
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def page_permissions(model_admin) -> dict[str, str | None]:
    """What viewing, adding, changing and deleting need on one admin page."""
    from .tenancy import OrgScopedAdmin

    declared = getattr(model_admin, "role_permissions", None)
    if declared is not None:
        return dict(declared)
    if not isinstance(model_admin, OrgScopedAdmin):
        return {op: roles.SUPERUSER for op in OPERATIONS}  # Django's own (users, groups): operators only
    request = _probe_request()
    possible = {"view": model_admin.has_view_permission(request), "add": model_admin.has_add_permission(request),
                "change": model_admin.has_change_permission(request),
                "delete": model_admin.has_delete_permission(request)}
    return {op: ("view" if op == "view" else model_admin.permission) if possible[op] else None for op in OPERATIONS}


def custom_url_names(model_admin) -> set[str]:
    """The names of an admin's URLs beyond the standard list, add, history, delete and change pages."""
    meta = model_admin.model._meta
    standard = {f"{meta.app_label}_{meta.model_name}_{v}" for v in ("changelist", "add", "history", "delete", "change")}
    return {p.name for p in model_admin.get_urls() if getattr(p, "name", None)} - standard


def custom_views(model_admin) -> dict[str, tuple[str | None, str | None]]:
    """What each custom view needs (GET, POST): Duly's declare it (``guarded_path``); Django's own (a user's
    password form) are for platform operators."""
    declared = getattr(model_admin, "custom_views", None)
    if declared is not None:
        return dict(declared)
    return {name: (roles.SUPERUSER, roles.SUPERUSER) for name in custom_url_names(model_admin)}


def _action_permission(model_admin, func, pages: dict[str, str | None]) -> str | None:
    declared = list(getattr(func, "allowed_permissions", ()))
    if len(declared) != 1:
        return "UNDECLARED"
    name = declared[0]
    return pages[name] if name in OPERATIONS else name


def admin_entries(site=None) -> list[Entry]:
    """Every page operation, action and custom view of the admin site, with the permission it needs."""
    from django.contrib import admin
    from django.urls import get_resolver

    site = site or admin.site
    get_resolver().url_patterns  # noqa: B018 - builds each admin's URLs (and its custom views)
    entries: list[Entry] = []
    for model_admin in sorted(site._registry.values(), key=lambda a: a.model._meta.label_lower):
        pages = page_permissions(model_admin)
        entries += [Entry(model_admin, op, op, pages[op]) for op in OPERATIONS]
        for func, name, _ in model_admin._get_base_actions():
            entries.append(Entry(model_admin, "action", name, _action_permission(model_admin, func, pages)))
        for name, (get, post) in sorted(custom_views(model_admin).items()):
            entries += [Entry(model_admin, "GET", name, get), Entry(model_admin, "POST", name, post)]
    return entries


def _cell(permission: str | None) -> str:
    if permission is None:
        return "—"
    if permission == roles.SUPERUSER:
        return "operator"
    return f"`{permission}`"


def render_markdown(site=None) -> str:
    """``docs/roles.md``: the roles, their permissions, and what every back-office page needs."""
    role_names = [r for r, _ in roles.ROLE_CHOICES]
    out = [
        "# Roles and permissions",
        "",
        "<!-- Generated from duly/customers/roles.py and the admin site by `duly roles`; "
        "tests/security/test_roles.py keeps it in sync. -->",
        "",
        "A back-office user works for an organization through a membership with one role. Each role is a set",
        "of permissions; every page, action and custom view of the back office needs one permission, checked",
        "against the user's role in the organization of the rows concerned. A user of several organizations",
        "may have a different role in each. A platform operator (a superuser) may do everything (`operator`",
        "below: only them). An organization always keeps at least one owner: its last owner cannot be removed",
        "or demoted (error code `last_owner`); a user without the permission gets HTTP 403, or, for an action,",
        "a message and nothing done (error code `role_not_allowed` from the services).",
        "",
        "## Roles",
        "",
        "| Role | What it is for |",
        "|---|---|",
        *[f"| {roles.role_label(r)} (`{r}`) | {roles.ROLES[r]} |" for r in role_names],
        "",
        "## Permissions",
        "",
        "| Permission | Allows | " + " | ".join(roles.role_label(r) for r in role_names) + " |",
        "|---|---|" + "---|" * len(role_names),
        *[f"| `{p}` | {text} | " + " | ".join("✓" if roles.role_allows(r, p) else "" for r in role_names) + " |"
          for p, text in roles.PERMISSIONS.items()],
        "",
        "## What each back-office page needs",
        "",
        "`—`: nobody (Duly writes these records itself). Viewing a list also opens each row read-only and its",
        "history. Custom views: the permission for showing them (GET) and for submitting them (POST).",
        "",
        "| Page | View | Add | Change | Delete | Actions | Custom views |",
        "|---|---|---|---|---|---|---|",
    ]
    by_page: dict[str, list[Entry]] = {}
    for entry in admin_entries(site):
        by_page.setdefault(entry.page, []).append(entry)
    for page, entries in by_page.items():
        ops = {e.name: e.permission for e in entries if e.kind in OPERATIONS}
        actions = ", ".join(f"{e.name} ({_cell(e.permission)})" for e in entries
                            if e.kind == "action" and e.permission is not None)
        views: dict[str, list[str]] = {}
        for e in entries:
            if e.kind in ("GET", "POST"):
                views.setdefault(e.name, []).append(f"{e.kind} {_cell(e.permission)}")
        custom = "; ".join(f"{name}: {', '.join(parts)}" for name, parts in views.items())
        title = entries[0].model_admin.model._meta.verbose_name
        out.append(f"| {str(title)[:1].upper()}{str(title)[1:]} (`{page}`) | {_cell(ops['view'])} | {_cell(ops['add'])} | "
                   f"{_cell(ops['change'])} | {_cell(ops['delete'])} | {actions} | {custom} |")
    return "\n".join(out) + "\n"
