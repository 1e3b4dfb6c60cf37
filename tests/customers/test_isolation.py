"""Organizations never see each other's rows: services, admin, reports."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from duly.customers.services import add_member, create_customer
from duly.domain.errors import NotFound
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice


@pytest.fixture
def two_orgs(org, other_org, customer, contract):
    other_customer = create_customer(other_org, code="ACME", name="Acme UK Ltd", country="GB", city="Leeds",
                                     address_line1="1 Park Row", currency="GBP")
    mine = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("A", Decimal(1), Decimal(10))],
                                                   contract=contract).pk, issue_date=date(2026, 3, 1))
    theirs = inv.issue_invoice(other_org, inv.create_draft(other_org, other_customer,
                                                           [inv.LineData("B", Decimal(1), Decimal(20))]).pk,
                               issue_date=date(2026, 3, 1))
    return mine, theirs


def test_numbering_is_per_organization(two_orgs):
    mine, theirs = two_orgs
    assert mine.number == theirs.number == "INV-2026-00001"


def test_services_refuse_other_organizations_rows(org, other_org, two_orgs):
    mine, theirs = two_orgs
    with pytest.raises(NotFound):
        inv.void_invoice(org, theirs.pk, reason="not mine")
    with pytest.raises(NotFound):
        inv.get_invoice_by_number(other_org, "INV-2026-99999")
    assert list(inv.invoices_for(org)) == [mine]


def test_admin_shows_only_own_organization(org, other_org, two_orgs):
    mine, theirs = two_orgs
    add_member(org, username="bookkeeper", password="correct-horse-1")
    client = Client()
    client.login(username="bookkeeper", password="correct-horse-1")
    listing = client.get("/admin/invoicing/invoice/")
    assert listing.status_code == 200
    assert "Acme Industries SAS" in listing.content.decode()
    assert "Acme UK Ltd" not in listing.content.decode()
    assert client.get(f"/admin/invoicing/invoice/{theirs.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/invoicing/invoice/{mine.pk}/change/").status_code == 200
    assert "Acme UK Ltd" not in client.get("/admin/customers/customer/").content.decode()
