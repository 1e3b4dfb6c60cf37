"""Migrating open receivables: `duly invoices import-ubl --as-issued` and `duly receivables import FILE.csv`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import IntegrityError, transaction

from duly.cli import main
from duly.invoicing.models import Invoice, SeriesCounter

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "en16931-examples" / "ubl" / "ubl-tc434-example1.xml"


def duly(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _with_terms(tmp_path) -> Path:
    """The official example 1 with payment terms and a due date 30 days after its issue date."""
    xml = EXAMPLE.read_bytes().replace(b"<cbc:DueDate>2015-01-09</cbc:DueDate>", b"<cbc:DueDate>2015-02-08</cbc:DueDate>")
    head, tail = xml.split(b"<cac:TaxTotal>", 1)
    path = tmp_path / "12115118.xml"
    path.write_bytes(head + b"<cac:PaymentTerms><cbc:Note>Net 30 days</cbc:Note></cac:PaymentTerms>\n<cac:TaxTotal>"
                     + tail)
    return path


def test_import_ubl_as_issued_keeps_number_dates_and_terms_in_a_separate_series(org_for_seller, tmp_path):
    source = _with_terms(tmp_path)
    xml = source.read_bytes()
    org = org_for_seller(xml, "koksmaat")
    result = duly("invoices", "import-ubl", "--org", org.slug, "--as-issued", str(source))
    assert result.exit_code == 0, result.output
    inv = Invoice.objects.get(organization=org)
    assert (inv.number, inv.status, inv.origin) == ("12115118", Invoice.ISSUED, Invoice.ORIGIN_MIGRATED)
    assert (inv.issue_date, inv.due_date) == (date(2015, 1, 9), date(2015, 2, 8))  # not net 30 from today
    assert inv.payment_terms_text == "Net 30 days"  # the source's terms, as stated
    assert "as issued on 2015-01-09, due 2015-02-08" in result.output and "12115118" in result.output
    assert not SeriesCounter.objects.filter(series__organization=org).exists()  # Duly's numbering untouched

    # The same file again: refused, nothing written.
    again = duly("invoices", "import-ubl", "--org", org.slug, "--as-issued", str(source))
    assert again.exit_code == 2 and "already imported" in again.output
    # The same invoice in another file (same seller and number, other bytes): refused too.
    other = tmp_path / "reexported.xml"
    other.write_bytes(xml.replace(b"<cbc:IssueDate>", b"\n<cbc:IssueDate>", 1))
    third = duly("invoices", "import-ubl", "--org", org.slug, "--as-issued", str(other))
    assert third.exit_code == 2 and "already imported" in third.output
    assert Invoice.objects.filter(organization=org).count() == 1


def test_the_same_source_twice_is_refused_by_the_database(org_for_seller):
    from duly.invoicing.migration_services import import_einvoice_as_issued

    xml = EXAMPLE.read_bytes()
    org = org_for_seller(xml, "koksmaat")
    first = import_einvoice_as_issued(org, xml).invoice
    # Even past the service's own checks (two imports at once), a unique constraint refuses a second row.
    copy = Invoice(organization=org, customer=first.customer, currency="EUR", number="OTHER-1",
                   source_sha256=first.source_sha256)
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    copy.source_sha256, copy.number = "", first.number
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()


def test_a_credit_note_is_not_migrated_as_issued(org_for_seller):
    path = EXAMPLE.parent / "ubl-tc434-creditnote1.xml"
    org = org_for_seller(path.read_bytes(), "creditor")
    result = duly("invoices", "import-ubl", "--org", org.slug, "--as-issued", str(path))
    assert result.exit_code == 2 and "cannot be migrated as issued" in result.output
    assert not Invoice.objects.filter(organization=org).exists()  # not even the draft


def test_a_number_of_dulys_own_form_is_refused(org, customer, tmp_path):
    from duly.invoicing.models import NumberSeries

    csv_file = tmp_path / "r.csv"
    pattern = NumberSeries.objects.get(organization=org, kind="invoice").pattern
    number = pattern.format(year=2026, seq=7)
    csv_file.write_text("customer,number,issue_date,due_date,amount,currency,paid\n"
                        f"ACME,{number},2026-01-05,2026-02-04,100.00,EUR,0\n")
    result = duly("receivables", "import", "--org", org.slug, str(csv_file))
    assert result.exit_code == 2 and "row 2, column number" in result.output and "own invoice series" in result.output


GOOD = ("customer,number,issue_date,due_date,amount,currency,paid,terms\n"
        "ACME,OLD-1001,2026-01-05,2026-02-04,1200.00,EUR,0,Net 30\n"
        "ACME,OLD-1002,2026-02-10,2026-03-12,480.50,EUR,80.50,\n"
        "BETA,OLD-1003,2026-03-01,2026-03-31,99.90,EUR,99.90,\n")


@pytest.fixture
def two_customers(customer, make_customer):
    return customer, make_customer("BETA", name="Beta SARL")


def test_receivables_csv_becomes_issued_invoices_with_their_open_amounts(org, two_customers, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(GOOD)
    result = duly("receivables", "import", "--org", org.slug, str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 3 receivables: 1600.00 EUR open." in result.output
    rows = {i.number: i for i in Invoice.objects.filter(organization=org)}
    assert set(rows) == {"OLD-1001", "OLD-1002", "OLD-1003"}
    first, second, third = rows["OLD-1001"], rows["OLD-1002"], rows["OLD-1003"]
    assert (first.issue_date, first.due_date, first.payment_terms_text) == (date(2026, 1, 5), date(2026, 2, 4), "Net 30")
    assert (first.total_minor, first.balance_minor, first.status) == (120000, 120000, Invoice.ISSUED)
    assert (second.total_minor, second.prepaid_minor, second.balance_minor) == (48050, 8050, 40000)
    assert third.status == Invoice.PAID and third.balance_minor == 0
    assert all(i.origin == Invoice.ORIGIN_MIGRATED for i in rows.values())
    assert not SeriesCounter.objects.filter(series__organization=org).exists()

    # Importing the same export again: refused, naming the row; nothing changes.
    again = duly("receivables", "import", "--org", org.slug, str(path))
    assert again.exit_code == 2 and "row 2, column number: invoice OLD-1001 was already imported" in again.output
    assert Invoice.objects.filter(organization=org).count() == 3


@pytest.mark.parametrize("row, message", [
    ("ACME,OLD-2,2026-02-30,2026-03-12,10.00,EUR,0", "row 3, column issue_date: '2026-02-30' is not a date"),
    ("NOPE,OLD-2,2026-02-10,2026-03-12,10.00,EUR,0", "row 3, column customer: no customer with the code 'NOPE'"),
    ("ACME,OLD-2,2026-02-10,2026-03-12,10.00,USD,0", "row 3, column currency: 'USD' is not the currency of"),
    ("ACME,OLD-2,2026-02-10,2026-03-12,10.00,EUR,12.00", "row 3, column paid: 12.00 paid is more than the amount"),
    ("ACME,OLD-1,2026-02-10,2026-03-12,10.00,EUR,0", "row 3, column number: invoice OLD-1 is also on row 2"),
    ("ACME,OLD-2,2026-02-10,2026-01-12,10.00,EUR,0", "row 3, column due_date"),
    ("ACME,OLD-2,2026-02-10,2026-03-12,10.001,EUR,0", "row 3, column amount"),
    ("ACME,OLD-2,2026-02-10,2026-03-12,ten,EUR,0", "row 3, column amount: 'ten' is not an amount"),
])
def test_a_bad_row_imports_nothing_and_names_its_row_and_column(org, two_customers, tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text("customer,number,issue_date,due_date,amount,currency,paid\n"
                    "ACME,OLD-1,2026-01-05,2026-02-04,100.00,EUR,0\n" + row + "\n")
    result = duly("receivables", "import", "--org", org.slug, str(path))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not Invoice.objects.filter(organization=org).exists()


def test_a_missing_column_is_named(org, customer, tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("customer,number,issue_date,amount,currency\nACME,OLD-1,2026-01-05,100.00,EUR\n")
    result = duly("receivables", "import", "--org", org.slug, str(path))
    assert result.exit_code == 2 and "missing column(s) due_date, paid" in result.output
