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


@pytest.fixture
def two_ledgers(org, other_org, two_orgs):
    """Each organization: one paid (late) and one open invoice, and customer credit, for a customer coded ACME."""
    from duly.payments.services import record_payment

    mine, theirs = two_orgs
    record_payment(org, mine.customer, amount="12", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 10))  # pays 10.00 (due 31 Mar: 10 days late), 2.00 becomes credit
    record_payment(other_org, theirs.customer, amount="20", currency="GBP", method="bank_transfer",
                   received_on=date(2026, 3, 20))
    mine_open = inv.issue_invoice(org, inv.create_draft(org, mine.customer, [inv.LineData("C", Decimal(1),
                                                                                       Decimal(300))]).pk,
                                  issue_date=date(2026, 4, 15))
    theirs_open = inv.issue_invoice(other_org, inv.create_draft(other_org, theirs.customer,
                                                                [inv.LineData("D", Decimal(1), Decimal(70))]).pk,
                                    issue_date=date(2026, 4, 15))
    return mine_open, theirs_open


def test_reports_see_only_their_organization(org, other_org, two_ledgers):
    from duly.insights import services as reports

    mine_open, theirs_open = two_ledgers
    as_of = date(2026, 6, 30)
    mine, theirs = reports.aging_report(org, as_of=as_of), reports.aging_report(other_org, as_of=as_of)
    assert [(c["code"], c["name"], c["currency"], c["total_open"]) for c in mine["customers"]] == [
        ("ACME", "Acme Industries SAS", "EUR", "298.00")]  # 300 less the 2.00 credit applied at issue
    assert [(c["code"], c["name"], c["currency"], c["total_open"]) for c in theirs["customers"]] == [
        ("ACME", "Acme UK Ltd", "GBP", "70.00")]
    assert list(mine["totals"]) == ["EUR"] and list(theirs["totals"]) == ["GBP"]
    assert (mine["organization"], theirs["organization"]) == ("atelier", "northwind")

    assert reports.dso(org, as_of=as_of) == {"EUR": Decimal("89.4")}  # 298 / 300 (sales since 1 Apr) × 90
    assert reports.dso(other_org, as_of=as_of) == {"GBP": Decimal("90.0")}
    assert set(reports.days_late(org, as_of=as_of)) == {"EUR"}
    assert reports.days_late(other_org, as_of=as_of)["GBP"].count == 1

    st_mine = reports.statement_of_account(mine_open.customer, as_of=as_of)
    st_theirs = reports.statement_of_account(theirs_open.customer, as_of=as_of)
    assert [l.number for l in st_mine["lines"]] == [mine_open.number]
    assert [l.number for l in st_theirs["lines"]] == [theirs_open.number]
    assert mine_open.number == theirs_open.number == "INV-2026-00002"  # same number, different ledgers
    assert st_mine["total_open"] == {"EUR": Decimal("298.00")} and st_theirs["total_open"] == {"GBP": Decimal("70.00")}
    assert st_mine["credit"] == {} and st_theirs["credit"] == {}  # the 2.00 credit was used by the next invoice


def test_cli_reports_are_per_organization(org, other_org, two_ledgers):
    import json

    from click.testing import CliRunner

    from duly.cli import main

    runner = CliRunner()
    mine = json.loads(runner.invoke(main, ["report", "aging", "--org", "atelier", "--as-of", "2026-06-30",
                                           "--format", "json"]).stdout)
    theirs = json.loads(runner.invoke(main, ["report", "aging", "--org", "northwind", "--as-of", "2026-06-30",
                                             "--format", "json"]).stdout)
    assert [c["name"] for c in mine["customers"]] == ["Acme Industries SAS"] and list(mine["totals"]) == ["EUR"]
    assert [c["name"] for c in theirs["customers"]] == ["Acme UK Ltd"] and list(theirs["totals"]) == ["GBP"]
    statement = json.loads(runner.invoke(main, ["report", "statement", "ACME", "--org", "northwind", "--as-of",
                                                "2026-06-30", "--format", "json"]).stdout)
    assert [l["currency"] for l in statement["lines"]] == ["GBP"] and statement["total_open"] == {"GBP": "70.00"}
    table = runner.invoke(main, ["report", "aging", "--org", "northwind", "--as-of", "2026-06-30"])
    assert "Acme UK Ltd" in table.stdout and "Acme Industries" not in table.stdout and "EUR" not in table.stdout
    ambiguous = runner.invoke(main, ["report", "aging", "--format", "json"], env={"DULY_ORG": ""})
    assert ambiguous.exit_code == 2 and "Several organizations exist" in ambiguous.stderr
