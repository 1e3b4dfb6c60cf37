"""No cross-organization reads or writes: every admin URL, over every row of organization A, as an owner of B.

Organization A (the ``world``) has a row behind every back-office page, and every one of its names and texts
carries ``Zephyr``. An owner of organization B (B's most powerful role) opens every list (with its filters,
a search and the facet counts), every add form (its choice lists), every row of A (change, history, delete),
posts changes, deletions and every action over A's rows, every custom view with A's ids, and every
autocomplete: no page shows anything of A, and the database is exactly as before.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django.contrib import admin
from django.test import Client

from duly.customers.tenancy import org_path_for

from .conftest import MARKERS, PASSWORD, admin_url, custom_view_url, fingerprint

LEAKS = (*MARKERS, "Atelier")  # A's own name too


def _rows_of(model, world):
    """Every row of organization A behind an admin page (shared reference data and Django's users excluded)."""
    from duly.customers.models import Organization

    if model is Organization:
        return [world.org]
    try:
        path = org_path_for(model)
    except LookupError:
        return []
    return list(model._default_manager.filter(**{path: world.org}).order_by("pk"))


def test_an_owner_of_another_organization_reads_nothing_and_writes_nothing_of_it(world, other_org, fast_passwords,
                                                                                caplog):
    from duly.customers.services import add_member, create_customer

    caplog.set_level(logging.ERROR, logger="django.request")  # hundreds of expected 403s and 404s: not logged
    from duly.invoicing import services as inv

    theirs = create_customer(other_org, code="NW1", name="Northwind Client Ltd", country="GB", city="Leeds",
                             address_line1="1 Park Row", currency="GBP")
    inv.issue_invoice(other_org, inv.create_draft(other_org, theirs, [inv.LineData("Advice", Decimal(1),
                                                                                   Decimal(20))]).pk,
                      issue_date=date(2026, 9, 1))
    client = Client()
    client.force_login(add_member(other_org, username="northwind-owner", password=PASSWORD, role="owner"))

    leaks: list[str] = []
    counted = 0

    def look(resp, what: str):
        nonlocal counted
        counted += 1
        if resp.status_code >= 500:
            leaks.append(f"{what}: HTTP {resp.status_code}")
            return
        body = resp.content.decode(errors="replace")
        found = [m for m in LEAKS if m in body]
        if found:
            leaks.append(f"{what}: shows {found}")

    before = fingerprint()
    # the home page's staff dashboard: the user's own figures, even when the other organization is named
    look(client.get("/admin/"), "home page (dashboard)")
    look(client.get("/admin/", {"organization": world.org.slug}), "home page (dashboard) naming A")
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label_lower):
        label = model._meta.label_lower
        rows = _rows_of(model, world)
        listing = admin_url(model, "changelist")
        look(client.get(listing), f"{label} list")
        # "ephyr" finds A's rows (Zephyr...) if the search were not scoped; the page echoes it, so not "Zephyr"
        look(client.get(listing, {"q": "ephyr", "_facets": "1"}), f"{label} search and facets")
        look(client.get(admin_url(model, "add")), f"{label} add form")
        for field in getattr(model_admin, "autocomplete_fields", ()):
            look(client.get("/admin/autocomplete/", {"app_label": model._meta.app_label,
                                                     "model_name": model._meta.model_name, "field_name": field,
                                                     "term": "ephy"}), f"{label} autocomplete {field}")
        for obj in rows:
            for what in ("change", "history", "delete"):
                look(client.get(admin_url(model, what, obj.pk)), f"{label} {what} {obj.pk}")
            look(client.post(admin_url(model, "change", obj.pk), {"_save": "Save"}), f"{label} change POST")
            look(client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}), f"{label} delete POST")
            for name in getattr(model_admin, "custom_views", {}):
                url = custom_view_url(model_admin, name, obj, world)
                look(client.get(url), f"{label} {name} {obj.pk}")
                look(client.post(url, {}), f"{label} {name} POST {obj.pk}")
        if rows:
            for name in model_admin._get_base_actions():
                look(client.post(listing, {"action": name[1], "_selected_action": [o.pk for o in rows],
                                           "index": "0", "select_across": "0", "post": "yes"}),
                     f"{label} action {name[1]}")
    assert not leaks, "\n".join(leaks)
    assert fingerprint() == before, "a request of another organization's owner wrote something"
    assert counted > 500  # every page, row, action and view was walked


def test_the_world_has_a_row_behind_every_page_of_an_organization(world):
    """The walk above proves nothing about a page with no row of A: each organization's page has one."""
    from duly.customers.tenancy import org_path_for

    empty = []
    for model in admin.site._registry:
        try:
            org_path_for(model)
        except LookupError:
            continue  # shared reference data and Django's users
        if not _rows_of(model, world):
            empty.append(model._meta.label_lower)
    assert not empty, f"no row of the walked organization behind: {sorted(empty)}"


def test_list_filters_offer_only_the_users_own_values(world, other_org, fast_passwords):
    """Relation filters (policy, metric) and value filters across a relation (the customer's country) list only
    what the user's own rows hold."""
    from duly.billing.models import UsageEvent
    from duly.collections.models import CustomerProfile
    from duly.customers.services import add_member, create_customer
    from duly.invoicing import services as inv
    from duly.invoicing.models import Invoice

    theirs = create_customer(other_org, code="NW1", name="Northwind Client Ltd", country="GB", city="Leeds",
                             address_line1="1 Park Row", currency="GBP")
    inv.issue_invoice(other_org, inv.create_draft(other_org, theirs, [inv.LineData("Advice", Decimal(1),
                                                                                   Decimal(20))]).pk,
                      issue_date=date(2026, 9, 1))
    client = Client()
    client.force_login(add_member(other_org, username="northwind-owner", password=PASSWORD, role="owner"))
    invoices = client.get(admin_url(Invoice, "changelist")).content.decode()
    assert "customer__country=GB" in invoices and "customer__country=FR" not in invoices
    assert "zeph_calls" not in client.get(admin_url(UsageEvent, "changelist")).content.decode()
    profiles = client.get(admin_url(CustomerProfile, "changelist")).content.decode()
    assert "policy__id__exact" not in profiles  # B has no profile: no policy to filter by, A's are not offered
    # A's own staff still see A's values
    mine = Client()
    mine.force_login(add_member(world.org, username="atelier-viewer", password=PASSWORD, role="viewer"))
    assert "customer__country=FR" in mine.get(admin_url(Invoice, "changelist")).content.decode()
    assert "zeph_calls" in mine.get(admin_url(UsageEvent, "changelist")).content.decode()
