"""Roles mean something: every admin page, action and custom view, for every role, against the documented matrix.

The matrix is data in code (:mod:`duly.customers.roles`, read off the admin site by
:mod:`duly.customers.role_matrix`) and docs/roles.md is rendered from it. The walk discovers the admin
URLs from ``admin.site._registry``: a newly registered page is walked (and must declare what it needs)
without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from duly.customers import roles
from duly.customers.role_matrix import admin_entries, render_markdown

from .conftest import PASSWORD, admin_url, custom_view_url, fingerprint

ROLES = [role for role, _ in roles.ROLE_CHOICES]


def test_docs_roles_md_is_the_matrix_in_the_code():
    documented = (Path(__file__).resolve().parents[2] / "docs" / "roles.md").read_text(encoding="utf-8")
    assert documented == render_markdown(), "docs/roles.md is stale: regenerate it with `duly roles > docs/roles.md`"


def test_every_action_and_custom_view_declares_the_permission_it_needs():
    undeclared = [f"{e.page}: action {e.name}" for e in admin_entries() if e.permission == "UNDECLARED"]
    assert not undeclared, "declare @admin.action(permissions=[...]) for: " + ", ".join(undeclared)
    for entry in admin_entries():
        if entry.permission not in (None, roles.SUPERUSER, "UNDECLARED"):
            assert entry.permission in roles.PERMISSIONS or entry.permission in ("add", "change", "delete"), entry
    from django.contrib import admin

    from duly.customers.role_matrix import custom_url_names

    for model, model_admin in admin.site._registry.items():
        if not type(model_admin).__module__.startswith("duly."):
            continue  # Django's own (users, groups): every URL is for platform operators
        missing = custom_url_names(model_admin) - set(getattr(model_admin, "custom_views", {}))
        assert not missing, f"{model._meta.label}: mount custom views with guarded_path(): {sorted(missing)}"


def test_the_roles_are_ordered_sets_of_permissions():
    owner, admin_, bookkeeper, collector, viewer = (roles.ROLE_PERMISSIONS[r] for r in ROLES)
    assert viewer == {"view"} < collector < bookkeeper < admin_ < owner == set(roles.PERMISSIONS)
    assert [r for r in ROLES if "manage_members" in roles.ROLE_PERMISSIONS[r]] == ["owner"]


def _sample(model, world):
    """One row of the walked organization behind each admin page (a draft for invoices: only drafts delete)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from duly.customers.models import Organization
    from duly.customers.tenancy import org_path_for

    if model is world.draft.__class__:
        return world.draft
    if model is Organization:
        return world.org
    if model is get_user_model():
        return get_user_model().objects.get(username="zeph-owner")
    if model is Group:
        return Group.objects.get(name="zephyr-group")
    try:
        path = org_path_for(model)
    except LookupError:
        return model._default_manager.order_by("pk").first()
    return model._default_manager.filter(**{path: world.org}).order_by("pk").first()


class Walker:
    """Requests of one user, each resolved through the admin's URLs and answered by its view, as the server does
    once the middleware has run (a session, messages, the user). The views' answers are judged before their
    templates are rendered: ~1,000 pages in seconds, not minutes (the isolation suite renders every page)."""

    def __init__(self, user):
        self.user = user
        self.factory = RequestFactory()
        self.pages: dict[str, object] = {}

    def _call(self, method: str, url: str, data: dict | None = None):
        from django.contrib.messages.storage.fallback import FallbackStorage
        from django.contrib.sessions.middleware import SessionMiddleware
        from django.core.exceptions import PermissionDenied
        from django.http import Http404, HttpResponse
        from django.urls import resolve

        request = getattr(self.factory, method)(url, data or {})
        roles.forget_roles(self.user)  # each request reads the user's roles afresh, as a new request would
        request.user = self.user
        request._dont_enforce_csrf_checks = True
        SessionMiddleware(lambda r: HttpResponse()).process_request(request)
        request._messages = FallbackStorage(request)
        match = resolve(request.path_info)
        try:
            return match.func(request, *match.args, **match.kwargs)
        except PermissionDenied:
            return HttpResponse(status=403)
        except Http404:
            return HttpResponse(status=404)

    def get(self, url: str):
        if url not in self.pages:  # several checks read the same list or change page
            self.pages[url] = self._call("get", url)
        return self.pages[url]

    def post(self, url: str, data: dict):
        return self._call("post", url, data)


def _offered_actions(listing) -> set[str]:
    form = (getattr(listing, "context_data", None) or {}).get("action_form")
    return {name for name, _ in form.fields["action"].choices if name} if form is not None else set()


def _check(entry, role: str, client: Walker, world, problems: list[str]) -> None:
    model, model_admin = entry.model_admin.model, entry.model_admin
    obj = _sample(model, world)
    allowed = entry.allows(role)
    where = f"{role}: {entry.page} {entry.kind} {entry.name if entry.kind not in ('view', 'add', 'change', 'delete') else ''}"

    def expect(resp, ok: bool, what: str):
        if resp.status_code >= 500 or (resp.status_code == 403) == ok:
            problems.append(f"{where} {what}: HTTP {resp.status_code}, expected {'allowed' if ok else '403'}")

    if entry.kind == "view":
        expect(client.get(admin_url(model, "changelist")), allowed, "list")
        expect(client.get(admin_url(model, "change", obj.pk)), allowed, "open a row")
    elif entry.kind == "add":
        expect(client.get(admin_url(model, "add")), allowed, "add page")
        if not allowed:
            expect(client.post(admin_url(model, "add"), {}), False, "add (POST)")
    elif entry.kind == "change":
        page = client.get(admin_url(model, "change", obj.pk))
        if page.status_code == 200 and bool(page.context_data.get("has_change_permission")) != allowed:
            problems.append(f"{where}: the change page {'has no' if allowed else 'has a'} Save button")
        if not allowed:
            expect(client.post(admin_url(model, "change", obj.pk), {"_save": "Save"}), False, "change (POST)")
    elif entry.kind == "delete":
        expect(client.get(admin_url(model, "delete", obj.pk)), allowed, "delete page")
        if not allowed:
            expect(client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}), False, "delete (POST)")
    elif entry.kind == "action":
        listing = client.get(admin_url(model, "changelist"))
        offered = entry.name in _offered_actions(listing)
        if listing.status_code == 200 and offered != allowed:
            problems.append(f"{where}: {'not offered' if allowed else 'offered'}")
        if not allowed:  # asked for anyway: nothing happens (the walk checks the database afterwards)
            resp = client.post(admin_url(model, "changelist"), {"action": entry.name, "_selected_action": [obj.pk],
                                                                 "index": "0", "select_across": "0"})
            if resp.status_code >= 500:
                problems.append(f"{where}: HTTP {resp.status_code}")
    else:  # a custom view: GET shows it, POST submits it (empty: a form error at most, nothing written)
        url = custom_view_url(model_admin, entry.name, obj, world)
        resp = client.get(url) if entry.kind == "GET" else client.post(url, {})
        expect(resp, allowed, "")


def test_every_role_gets_exactly_what_the_matrix_says_on_every_admin_url(world, fast_passwords):
    from duly.customers.services import add_member

    from django.contrib.auth.models import Group

    users = {role: add_member(world.org, username=f"matrix-{role}", password=PASSWORD, role=role) for role in ROLES}
    Group.objects.create(name="zephyr-group")
    entries = admin_entries()
    assert {e.page for e in entries} >= {"invoicing.invoice", "collections.customerprofile", "customers.membership"}
    before = fingerprint()
    problems: list[str] = []
    for role in ROLES:
        walker = Walker(users[role])
        for entry in entries:
            _check(entry, role, walker, world, problems)
    assert not problems, "\n".join(problems)
    assert fingerprint() == before, "a refused request (or an empty form) wrote something"


@pytest.fixture
def two_roles(org, other_org, fast_passwords):
    """A user who is the owner of one organization and only a viewer of another."""
    from duly.customers.services import add_member, create_customer

    user = add_member(org, username="both", password=PASSWORD, role="owner")
    add_member(other_org, username="both", role="viewer")
    theirs = create_customer(other_org, code="NW1", name="Northwind Client Ltd", country="GB", city="Leeds",
                             address_line1="1 Park Row", currency="GBP")
    client = Client()
    client.force_login(user)
    return client, theirs


def test_a_role_counts_in_the_organization_of_the_row(org, other_org, two_roles):
    from duly.customers.models import Customer

    client, theirs = two_roles
    change = admin_url(Customer, "change", theirs.pk)
    assert client.get(change).status_code == 200  # a viewer there: reads it
    assert b'name="_save"' not in client.get(change).content
    assert client.post(change, {"name": "Renamed"}).status_code == 403
    assert client.post(admin_url(Customer, "delete", theirs.pk), {"post": "yes"}).status_code == 403
    # the action is offered (owner of the other organization), but refused for a row where the user is a viewer
    resp = client.post(admin_url(Customer, "changelist"), {"action": "rotate_pay_links",
                                                           "_selected_action": [theirs.pk], "index": "0"},
                       follow=True)
    assert "Your role does not allow this (manage customers) for every selected row: nothing was done." in \
        resp.content.decode()
    theirs.refresh_from_db()
    assert theirs.pay_link_version == 1 and theirs.name == "Northwind Client Ltd"
    # a new customer can only go to the organization where the user may manage customers
    form = client.get(admin_url(Customer, "add")).content.decode()
    assert "Atelier Lumière SARL" in form and "Northwind Consulting Ltd" not in form


def test_only_owners_manage_memberships_and_the_last_owner_stays(org, fast_passwords):
    from duly.customers import services
    from duly.customers.models import Membership
    from duly.domain.errors import InvalidChoice, LastOwner, RoleNotAllowed

    owner = services.add_member(org, username="own", password=PASSWORD, role="owner")
    admin_user = services.add_member(org, username="adm", password=PASSWORD, role="admin")
    mine, theirs = (Membership.objects.get(user=u, organization=org) for u in (owner, admin_user))

    with pytest.raises(RoleNotAllowed) as refused:  # an admin may not make themselves owner
        services.set_member_role(theirs, "owner", by=admin_user)
    assert refused.value.code == "role_not_allowed"
    with pytest.raises(RoleNotAllowed):
        services.remove_members([mine], by=admin_user)
    with pytest.raises(LastOwner) as last:
        services.set_member_role(mine, "viewer", by=owner)
    assert last.value.code == "last_owner" and "own is the last owner of Atelier Lumière SARL" in last.value.message
    with pytest.raises(LastOwner):
        services.remove_members([mine], by=owner)
    with pytest.raises(InvalidChoice):
        services.set_member_role(theirs, "emperor", by=owner)
    assert dict(Membership.objects.filter(organization=org).values_list("user__username", "role")) == {
        "own": "owner", "adm": "admin"}  # nothing changed

    services.set_member_role(theirs, "owner", by=owner)
    services.set_member_role(mine, "viewer", by=owner)  # now another owner remains
    assert services.remove_members([mine], by=admin_user) == 1  # admin_user is an owner now


def test_the_back_office_refuses_removing_or_demoting_the_last_owner(org, fast_passwords):
    from duly.customers.models import Membership
    from duly.customers.services import add_member

    owner = add_member(org, username="own", password=PASSWORD, role="owner")
    add_member(org, username="colleague", password=PASSWORD, role="bookkeeper")
    client = Client()
    client.force_login(owner)
    mine = Membership.objects.get(user=owner)
    page = client.post(admin_url(Membership, "delete", mine.pk), {"post": "yes"}).content.decode()
    assert "own is the last owner of Atelier Lumière SARL: make another member owner first." in page
    bulk = client.post(admin_url(Membership, "changelist"), {
        "action": "delete_selected", "_selected_action": [m.pk for m in Membership.objects.all()], "index": "0",
        "post": "yes"}).content.decode()
    assert "own is the last owner of Atelier Lumière SARL" in bulk
    demote = client.post(admin_url(Membership, "change", mine.pk), {"role": "viewer", "_save": "Save"})
    assert "own is the last owner of Atelier Lumière SARL" in demote.content.decode()
    assert list(Membership.objects.order_by("user__username").values_list("user__username", "role")) == [
        ("colleague", "bookkeeper"), ("own", "owner")]


def test_the_membership_form_offers_only_the_users_of_ones_own_organizations(org, other_org, fast_passwords):
    from duly.customers.models import Membership
    from duly.customers.services import add_member

    owner = add_member(org, username="own", password=PASSWORD, role="owner")
    add_member(org, username="colleague", password=PASSWORD, role="viewer")
    add_member(other_org, username="stranger-at-northwind", password=PASSWORD, role="owner")
    client = Client()
    client.force_login(owner)
    form = client.get(admin_url(Membership, "add")).content.decode()
    assert "colleague" in form and "stranger-at-northwind" not in form and "Northwind" not in form
    resp = client.post(admin_url(Membership, "add"), {"user": Membership.objects.get(
        user__username="stranger-at-northwind").user_id, "role": "viewer"})
    assert "Select a valid choice" in resp.content.decode()
    assert not Membership.objects.filter(organization=org, user__username="stranger-at-northwind").exists()


def test_a_collector_answers_a_query_but_cannot_credit(world, fast_passwords):
    from duly.collections.models import Dispute
    from duly.customers.services import add_member

    collector = add_member(world.org, username="col", password=PASSWORD, role="collector")
    client = Client()
    client.force_login(collector)
    url = custom_view_url(__import__("django.contrib.admin", fromlist=["site"]).site._registry[Dispute],
                          "collections_dispute_resolve", world.dispute, world)
    resp = client.post(url, {"answer": "It was Zephyr support in September.", "credit_note": "on"})
    assert "Your role may answer the query but not issue a credit note" in resp.content.decode()
    world.dispute.refresh_from_db()
    assert world.dispute.status == Dispute.OPEN
