"""SEPA direct debit from the organization's own bank: mandates, planned debits, pain.008 batches and the CLI."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from duly.domain.errors import InvalidBankAccount, InvalidCreditorId, InvalidMandate, SepaNotConfigured
from duly.invoicing import services as inv
from duly.payments import sepa_services as sepa
from duly.payments.models import DebitBatch, DirectDebit, Mandate, SepaCreditor

CREDITOR_ID = "DE98ZZZ09999999999"
DEBTOR_IBAN = "DE89370400440532013000"
OTHER_IBAN = "FR7630006000011234567890189"


def issue(org, customer, contract, amount, on):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def xsd(version: str):
    import sepaxml

    return etree.XMLSchema(etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd")))


def parse(xml: bytes):
    root = etree.fromstring(xml)
    ns = {"p": root.nsmap[None]}
    groups = []
    for info in root.iterfind(".//p:PmtInf", ns):
        groups.append((
            info.findtext("p:PmtTpInf/p:SeqTp", namespaces=ns),
            info.findtext("p:ReqdColltnDt", namespaces=ns),
            [(tx.findtext(".//p:MndtId", namespaces=ns), tx.find("p:InstdAmt", ns).text,
              tx.find("p:InstdAmt", ns).get("Ccy"), tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=ns))
             for tx in info.iterfind("p:DrctDbtTxInf", ns)],
        ))
    return root, sorted(groups)


@pytest.fixture
def creditor(org):
    return sepa.configure_creditor(org, creditor_id=CREDITOR_ID)


@pytest.fixture
def mandate(org, customer):
    """The customer's mandate; they pay by direct debit, so their invoices pre-notify the debit."""
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    return sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2026, 1, 10),
                               signed_at="Lyon", debtor_name="Acme Industries SAS", iban=DEBTOR_IBAN,
                               bic="COBADEFFXXX")


def count_rows():
    return (SepaCreditor.objects.count(), Mandate.objects.count(), DirectDebit.objects.count(),
            DebitBatch.objects.count())


# --- mandates ----------------------------------------------------------------------------------------------------

def test_a_bad_iban_is_refused_and_nothing_is_written(org, customer):
    with pytest.raises(InvalidBankAccount) as err:
        sepa.create_mandate(org, customer, reference="M-1", signed_on=date(2026, 1, 10), debtor_name="Acme",
                            iban="DE89370400440532013001")
    assert err.value.code == "invalid_iban"
    assert count_rows() == (0, 0, 0, 0)


def test_a_bad_bic_is_refused(org, customer):
    with pytest.raises(InvalidBankAccount) as err:
        sepa.create_mandate(org, customer, reference="M-1", signed_on=date(2026, 1, 10), debtor_name="Acme",
                            iban=DEBTOR_IBAN, bic="NOTABIC!")
    assert err.value.code == "invalid_bic"
    assert Mandate.objects.count() == 0


def test_a_mandate_without_signature_date_is_refused(org, customer):
    with pytest.raises(InvalidMandate) as err:
        sepa.create_mandate(org, customer, reference="M-1", signed_on=None, debtor_name="Acme", iban=DEBTOR_IBAN)
    assert err.value.code == "mandate_unsigned"
    assert Mandate.objects.count() == 0


def test_a_bad_creditor_id_is_refused_and_nothing_is_written(org):
    with pytest.raises(InvalidCreditorId) as err:
        sepa.configure_creditor(org, creditor_id="DE99ZZZ09999999999")
    assert err.value.code == "invalid_creditor_id"
    assert count_rows() == (0, 0, 0, 0)


def test_a_mandate_reference_is_unique_per_organization(org, customer, mandate):
    from duly.domain.errors import Conflict

    with pytest.raises(Conflict) as err:
        sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2026, 1, 10),
                            debtor_name="Acme", iban=DEBTOR_IBAN)
    assert err.value.code == "mandate_reference_taken"
    assert Mandate.objects.count() == 1


def test_export_needs_a_creditor(org, customer, contract, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    with pytest.raises(SepaNotConfigured):
        sepa.export_debits(org, date(2026, 3, 1))
    assert DirectDebit.objects.count() == 0


# --- export ------------------------------------------------------------------------------------------------------

def test_export_writes_a_valid_pain008_grouped_by_sequence_and_date(org, customer, contract, make_customer,
                                                                    make_contract, creditor, mandate):
    other = make_customer("BETA", name="Beta SARL", preferred_payment_method="sepa_debit")
    other_contract = make_contract(other, terms_kind="net", terms_days=30)
    sepa.create_mandate(org, other, reference="BETA-M-1", signed_on=date(2026, 1, 5), debtor_name="Beta SARL",
                        iban=OTHER_IBAN)
    issue(org, customer, contract, "1000.50", date(2026, 1, 31))  # due 2026-03-02
    issue(org, other, other_contract, "250", date(2026, 2, 20))  # due 2026-03-22
    assert len(sepa.plan_debits(org, date(2026, 3, 1), horizon_days=30)) == 2  # planned ahead; exported below
    result = sepa.export_debits(org, date(2026, 3, 1))

    assert result.batch is not None and result.batch.transactions == 2 and result.batch.total_minor == 125050
    assert xsd("pain.008.001.08").validate(etree.fromstring(result.xml))
    root, groups = parse(result.xml)
    assert root.nsmap[None].endswith("pain.008.001.08")
    # each on the date its invoice pre-notified: the due date (Sunday 22 March: the next TARGET day, Monday 23)
    assert groups == [
        ("FRST", "2026-03-02", [("ACME-MANDATE-1", "1000.50", "EUR", DEBTOR_IBAN)]),
        ("FRST", "2026-03-23", [("BETA-M-1", "250.00", "EUR", OTHER_IBAN)]),
    ]
    batch = DebitBatch.objects.get()
    assert bytes(batch.xml) == result.xml and batch.file_sha256 == hashlib.sha256(result.xml).hexdigest()
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {"exported"}
    assert Mandate.objects.get(reference="ACME-MANDATE-1").collected == 1
    assert "Exported batch" in result.message


def test_first_then_recurrent_and_never_twice(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    first = sepa.export_debits(org, date(2026, 3, 1))
    assert [g[0] for g in parse(first.xml)[1]] == ["FRST"]

    again = sepa.export_debits(org, date(2026, 3, 1))
    assert again.batch is None and again.xml == b"" and "Nothing new" in again.message
    assert DebitBatch.objects.count() == 1 and DirectDebit.objects.count() == 1

    issue(org, customer, contract, "40", date(2026, 2, 28))  # due 2026-03-30
    second = sepa.export_debits(org, date(2026, 3, 20))
    assert xsd("pain.008.001.08").validate(etree.fromstring(second.xml))
    # the invoice of 28 February pre-notified its due date, Monday 30 March: the file of 20 March is in time for it
    assert parse(second.xml)[1] == [("RCUR", "2026-03-30", [("ACME-MANDATE-1", "40.00", "EUR", DEBTOR_IBAN)])]
    assert DirectDebit.objects.filter(status="exported").count() == 2


def test_again_re_emits_the_stored_bytes(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    first = sepa.export_debits(org, date(2026, 3, 1))
    again = sepa.export_debits(org, date(2026, 4, 1), again_batch=first.batch.pk)
    assert again.xml == first.xml and again.again and "Re-emitted" in again.message
    assert DebitBatch.objects.count() == 1


def test_a_revoked_mandate_is_not_debited(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 2, 15))
    result = sepa.export_debits(org, date(2026, 3, 1))
    assert result.batch is None
    assert DirectDebit.objects.count() == 0


def test_another_version_when_the_organization_sets_it(org, customer, contract, mandate):
    sepa.configure_creditor(org, creditor_id=CREDITOR_ID, pain_version="pain.008.001.02")
    issue(org, customer, contract, "100", date(2026, 1, 31))
    result = sepa.export_debits(org, date(2026, 3, 1))
    assert etree.fromstring(result.xml).nsmap[None].endswith("pain.008.001.02")
    assert xsd("pain.008.001.02").validate(etree.fromstring(result.xml))


def test_an_invalid_file_writes_nothing(org, customer, contract, creditor, mandate, monkeypatch):
    from duly.domain.errors import SepaFileInvalid

    issue(org, customer, contract, "100", date(2026, 1, 31))
    Mandate.objects.filter(pk=mandate.pk).update(iban="NOT-AN-IBAN")  # as if the row had been damaged
    with pytest.raises(SepaFileInvalid):
        sepa.export_debits(org, date(2026, 3, 1))
    assert DirectDebit.objects.count() == 0 and DebitBatch.objects.count() == 0
    assert Mandate.objects.get().collected == 0


# --- the command line -------------------------------------------------------------------------------------------

def test_cli_exports_then_has_nothing_new_then_re_emits(org, customer, contract, creditor, mandate, tmp_path):
    from click.testing import CliRunner

    from duly.cli import main

    issue(org, customer, contract, "100", date(2026, 1, 31))
    out = tmp_path / "debits.xml"
    first = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-01", "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert "Exported batch" in first.stdout and "1 debit(s), 100.00 EUR" in first.stdout
    assert xsd("pain.008.001.08").validate(etree.fromstring(out.read_bytes()))

    nothing = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-01", "-o", str(tmp_path / "n.xml")])
    assert nothing.exit_code == 0 and "Nothing new to export" in nothing.stdout
    assert not (tmp_path / "n.xml").exists()

    batch = DebitBatch.objects.get()
    again = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-02", "--again", str(batch.pk)])
    assert again.exit_code == 0, again.output
    assert again.stdout_bytes == out.read_bytes() and "Re-emitted" in again.stderr


def test_cli_errors_are_one_line_with_the_exit_code(org, customer, contract, mandate, tmp_path):
    from click.testing import CliRunner

    from duly.cli import main

    issue(org, customer, contract, "100", date(2026, 1, 31))
    missing = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-01"])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ") and "[sepa_not_configured]" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1 and "Traceback" not in missing.output

    sepa.configure_creditor(org, creditor_id=CREDITOR_ID)
    unknown = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-01", "--again", "999"])
    assert unknown.exit_code == 2 and "[not_found]" in unknown.stderr
    bad_date = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-13-01"])
    assert bad_date.exit_code == 2 and bad_date.stderr.startswith("error: ")
    no_org = CliRunner().invoke(main, ["debits", "export", "--as-of", "2026-03-01", "--org", "nope"])
    assert no_org.exit_code == 2 and "[not_found]" in no_org.stderr
    assert DirectDebit.objects.count() == 0 and DebitBatch.objects.count() == 0


def test_a_planned_debit_of_an_invoice_paid_meanwhile_is_not_exported(org, customer, contract, creditor, mandate):
    from duly.payments import services as payments

    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    b = issue(org, customer, contract, "80", date(2026, 1, 31))
    assert len(sepa.plan_debits(org, date(2026, 3, 1))) == 2
    payments.record_payment(org, customer, amount="100", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 3, 2), allocations={a.pk: "100"})
    payments.record_payment(org, customer, amount="30", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 3, 2), allocations={b.pk: "30"})
    result = sepa.export_debits(org, date(2026, 3, 3))
    assert parse(result.xml)[1][0][2] == [("ACME-MANDATE-1", "50.00", "EUR", DEBTOR_IBAN)]
    assert DirectDebit.objects.get(invoice=a).status == "failed"
    assert DirectDebit.objects.get(invoice=b).status == "exported"


def test_a_mandate_revoked_before_the_collection_date_is_not_debited(org, customer, contract, creditor, mandate):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    sepa.revoke_mandate(org, mandate.pk, revoked_on=date(2026, 3, 2))  # collection would be on 2 March
    assert sepa.export_debits(org, date(2026, 3, 1)).batch is None
    assert DirectDebit.objects.count() == 0


# --- pre-notification ------------------------------------------------------------------------------------------

def test_only_an_invoice_that_pre_notified_the_debit_is_debited(org, customer, contract, creditor):
    # A mandate signed after the invoice was issued: the invoice asked for a transfer, so it is never debited;
    # the next invoice states the debit (the pre-notification) and is debited on the date it stated.
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    told_transfer = issue(org, customer, contract, "100", date(2026, 1, 31))
    assert told_transfer.document_snapshot["payment"]["method"] == "bank_transfer"
    sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2026, 2, 1),
                        debtor_name="Acme Industries SAS", iban=DEBTOR_IBAN)
    told_debit = issue(org, customer, contract, "80", date(2026, 2, 2))  # due Wednesday 4 March
    result = sepa.export_debits(org, date(2026, 3, 1))
    assert parse(result.xml)[1] == [("FRST", "2026-03-04", [("ACME-MANDATE-1", "80.00", "EUR", DEBTOR_IBAN)])]
    assert list(DirectDebit.objects.values_list("invoice_id", flat=True)) == [told_debit.pk]


def test_a_customer_preferring_transfers_is_not_debited_even_with_a_mandate(org, customer, contract, creditor,
                                                                             mandate):
    customer.preferred_payment_method = "bank_transfer"
    customer.save()
    issue(org, customer, contract, "100", date(2026, 1, 31))
    assert sepa.export_debits(org, date(2026, 3, 1)).batch is None and DirectDebit.objects.count() == 0


def test_a_short_notice_moves_the_debit_and_an_agreed_shorter_one_is_honoured(org, customer, make_contract,
                                                                             creditor, mandate):
    # Net 7, issued Monday 2 March: due Monday 9 March, but 14 days' notice makes it Monday 16 March; a contract
    # agreeing 5 days' notice keeps the due date.
    default = make_contract(customer, reference="CTR-14", terms_kind="net", terms_days=7)
    agreed = make_contract(customer, reference="CTR-5", terms_kind="net", terms_days=7, sepa_prenotification_days=5)
    late = issue(org, customer, default, "100", date(2026, 3, 2))
    quick = issue(org, customer, agreed, "50", date(2026, 3, 2))
    assert late.document_snapshot["payment"]["debit_date"] == "2026-03-16"
    assert quick.document_snapshot["payment"]["debit_date"] == "2026-03-09"
    result = sepa.export_debits(org, date(2026, 3, 3))
    dates = {tx[1]: day for _, day, txs in parse(result.xml)[1] for tx in txs}
    assert dates == {"100.00": "2026-03-16", "50.00": "2026-03-09"}


def test_a_debit_whose_pre_notification_period_has_not_elapsed_is_never_exported(org, customer, contract,
                                                                                  creditor, mandate):
    # Before this rule, plan_debits counted the notice from the export day although nobody told the debtor: a debit
    # planned that way (or one edited to an earlier date) is refused at export: marked failed, not in the file.
    invoice = issue(org, customer, contract, "100", date(2026, 2, 20))  # pre-notified for Monday 23 March
    [debit] = sepa.plan_debits(org, date(2026, 3, 10))
    assert debit.collection_date == date(2026, 3, 23)
    DirectDebit.objects.filter(pk=debit.pk).update(collection_date=date(2026, 3, 5))  # 13 days after the notice
    told_nothing = issue(org, customer, contract, "60", date(2026, 2, 21))
    snapshot = dict(told_nothing.document_snapshot, payment={"method": "bank_transfer"})
    told_nothing.__class__.objects.filter(pk=told_nothing.pk).update(document_snapshot=snapshot)
    DirectDebit.objects.create(organization=org, mandate=mandate, invoice=told_nothing, attempt=1, amount_minor=6000,
                               currency="EUR", collection_date=date(2026, 3, 30), sequence_type="FRST",
                               end_to_end_id="LEGACY-1")
    result = sepa.export_debits(org, date(2026, 3, 4))
    assert result.batch is None and DebitBatch.objects.count() == 0
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {"failed"}
    # planned again from what the invoice stated, it goes out on the pre-notified date
    again = sepa.export_debits(org, date(2026, 3, 10))
    assert parse(again.xml)[1] == [("FRST", "2026-03-23", [("ACME-MANDATE-1", "100.00", "EUR", DEBTOR_IBAN)])]
    assert DirectDebit.objects.get(invoice=invoice, status="exported").attempt == 2
