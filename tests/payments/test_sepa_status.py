"""pain.002 status reports and staff entry of R-transactions (CLI, admin): rejections recorded once, bad files
change nothing."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from duly.cli import main
from duly.domain.errors import NotFound, SepaStatusReportInvalid
from duly.payments import return_services as returns
from duly.payments import sepa_services as sepa
from duly.payments.models import DebitReturn, DirectDebit, Mandate
from duly.payments.sepa_status import payment_infos, read_status_report

from .test_sepa_debits import OTHER_IBAN, creditor, issue, mandate  # noqa: F401 - fixtures

NS = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"


def pain002(original: str, blocks: str, *, group: str = "", msg_id: str = "STS-1", kind: str = "pain.008.001.08",
            created: str = "2026-03-04T10:00:00") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS}">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts><OrgnlMsgId>{original}</OrgnlMsgId><OrgnlMsgNmId>{kind}</OrgnlMsgNmId>{group}</OrgnlGrpInfAndSts>
    {blocks}
  </CstmrPmtStsRpt>
</Document>""".encode()


def tx(end_to_end: str, status: str = "RJCT", code: str | None = "AC04") -> str:
    reason = f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>" if code else ""
    return (f"<TxInfAndSts><StsId>1</StsId><OrgnlEndToEndId>{end_to_end}</OrgnlEndToEndId><TxSts>{status}</TxSts>"
            f"{reason}</TxInfAndSts>")


def block(info_id: str, *txs: str, status: str = "", code: str = "") -> str:
    head = f"<PmtInfSts>{status}</PmtInfSts>" if status else ""
    reason = f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>" if code else ""
    return (f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{info_id}</OrgnlPmtInfId>{head}{reason}{''.join(txs)}"
            "</OrgnlPmtInfAndSts>")


@pytest.fixture
def two_debits(org, customer, contract, make_customer, make_contract, creditor, mandate):
    other = make_customer("BETA", name="Beta SARL", preferred_payment_method="sepa_debit")
    sepa.create_mandate(org, other, reference="BETA-M-1", signed_on=date(2026, 1, 5), debtor_name="Beta SARL",
                        iban=OTHER_IBAN)
    issue(org, customer, contract, "100", date(2026, 1, 31))
    issue(org, other, make_contract(other, terms_kind="net", terms_days=30), "250", date(2026, 1, 31))
    batch = sepa.export_debits(org, date(2026, 3, 1)).batch
    return batch, list(DirectDebit.objects.order_by("pk"))


def state():
    return (list(DirectDebit.objects.order_by("pk").values_list("status", flat=True)), DebitReturn.objects.count(),
            list(Mandate.objects.order_by("pk").values_list("blocked_reason", "collected")))


def test_rejected_transactions_are_recorded_once(org, two_debits):
    batch, (acme, beta) = two_debits
    infos = list(payment_infos(bytes(batch.xml)))
    report = pain002(batch.message_id, block(infos[0], tx(acme.end_to_end_id, "RJCT", "AM04"),
                                             tx(beta.end_to_end_id, "ACCP", None)))
    result = returns.import_status_report(org, report)
    assert [r.created for r in result.results] == [True] and "1 rejection(s) recorded" in result.message
    ret = DebitReturn.objects.get()
    assert (ret.debit, ret.reason_code, ret.kind, ret.source, ret.source_ref, ret.returned_on) == (
        acme, "AM04", "reject", "pain002", "STS-1", date(2026, 3, 4))
    assert ret.retry is not None  # AM04: re-presented
    before = state()
    again = returns.import_status_report(org, report)
    assert [r.created for r in again.results] == [False] and state() == before


def test_a_rejected_payment_information_block_rejects_its_debits(org, two_debits):
    batch, debits = two_debits
    blocks = payment_infos(bytes(batch.xml))
    assert len(blocks) == 1  # same sequence type and collection date: one block
    returns.import_status_report(org, pain002(batch.message_id, block(next(iter(blocks)), status="RJCT", code="MD01")))
    assert sorted(DebitReturn.objects.values_list("debit_id", "reason_code")) == [(d.pk, "MD01") for d in debits]
    assert set(Mandate.objects.values_list("blocked_reason", flat=True)) == {"MD01"}


def test_a_rejected_file_rejects_every_debit_and_a_transaction_keeps_its_own_reason(org, two_debits):
    batch, (acme, beta) = two_debits
    infos = list(payment_infos(bytes(batch.xml)))
    group = "<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>"
    returns.import_status_report(org, pain002(batch.message_id, block(infos[0], tx(acme.end_to_end_id, code="AM04")),
                                              group=group))
    assert dict(DebitReturn.objects.values_list("debit_id", "reason_code")) == {acme.pk: "AM04", beta.pk: "FF01"}


@pytest.mark.parametrize("data, element", [
    (b"", "empty"),
    (b"<Document><oops", "not well-formed"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"/>', "not a pain.002"),
    (pain002("M", block("P1", tx("E1", code=None))), "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts/TxInfAndSts (line"),
    (pain002("M", block("P1", tx("E1", code="A#04"))), "TxInfAndSts/StsRsnInf/Rsn/Cd (line"),
    (pain002("M", block("P1", tx("E1")), kind="pain.001.001.03"), "OrgnlGrpInfAndSts/OrgnlMsgNmId"),
    (pain002("M", block("P1", tx("E1")), created="yesterday"), "GrpHdr/CreDtTm"),
    (pain002("M", block("P1", tx("E1", status="REJECTED"))), "TxSts"),
    (pain002("M", block("P1", tx("E1")) + block("P1", "<TxInfAndSts><TxSts>RJCT</TxSts>"
                                                     "<StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf></TxInfAndSts>")),
     "OrgnlPmtInfAndSts[2]/TxInfAndSts (line"),
])
def test_a_malformed_report_names_the_element_at_fault(data, element):
    with pytest.raises(SepaStatusReportInvalid) as err:
        read_status_report(data)
    assert element in err.value.message and err.value.code == "sepa_status_report_invalid"


def test_a_report_that_is_not_ours_records_nothing(org, two_debits):
    batch, (acme, beta) = two_debits
    before = state()
    with pytest.raises(NotFound):
        returns.import_status_report(org, pain002("SOMEONE-ELSE", block("P1", tx(acme.end_to_end_id))))
    with pytest.raises(NotFound):  # the second transaction is unknown: the first is not recorded either
        returns.import_status_report(org, pain002(batch.message_id, block("P1", tx(acme.end_to_end_id),
                                                                           tx("UNKNOWN-1"))))
    assert state() == before


def test_cli_return_and_import_status(org, two_debits, tmp_path):
    batch, (acme, beta) = two_debits
    ok = CliRunner().invoke(main, ["debits", "return", acme.end_to_end_id, "--reason", "md01", "--on", "2026-03-18"])
    assert ok.exit_code == 0, ok.output
    assert "MD01" in ok.stdout and "blocked" in ok.stdout
    same = CliRunner().invoke(main, ["debits", "return", acme.end_to_end_id, "--reason", "MD01", "--on", "2026-03-18"])
    assert same.exit_code == 0 and "already recorded" in same.stdout
    other = CliRunner().invoke(main, ["debits", "return", acme.end_to_end_id, "--reason", "AM04"])
    assert other.exit_code != 0 and "[debit_return_conflict]" in other.stderr
    unknown = CliRunner().invoke(main, ["debits", "return", "NOPE-1", "--reason", "AM04"])
    assert unknown.exit_code == 2 and "[not_found]" in unknown.stderr and len(unknown.stderr.splitlines()) == 1

    bad = tmp_path / "bad.xml"
    bad.write_bytes(pain002(batch.message_id, block("P1", tx(beta.end_to_end_id, code=None))))
    refused = CliRunner().invoke(main, ["debits", "import-status", str(bad)])
    assert refused.exit_code == 2 and "[sepa_status_report_invalid]" in refused.stderr
    assert "TxInfAndSts" in refused.stderr and DebitReturn.objects.count() == 1
    good = tmp_path / "good.xml"
    good.write_bytes(pain002(batch.message_id, block("P1", tx(beta.end_to_end_id, code="AC06"))))
    imported = CliRunner().invoke(main, ["debits", "import-status", str(good)])
    assert imported.exit_code == 0, imported.output
    assert "1 rejection(s) recorded" in imported.stdout and DebitReturn.objects.count() == 2


def test_admin_action_records_a_return_through_the_service(bookkeeper, org, two_debits):
    from django.urls import reverse

    _, (acme, _beta) = two_debits
    url = reverse("admin:payments_directdebit_return", args=[acme.pk])
    listing = bookkeeper.post(reverse("admin:payments_directdebit_changelist"),
                              {"action": "record_return", "_selected_action": [acme.pk]})
    assert listing.status_code == 302 and listing["Location"] == url
    assert b"reason_code" in bookkeeper.get(url).content
    bad = bookkeeper.post(url, {"reason_code": "A#", "returned_on": "2026-03-18", "kind": "return"}, follow=True)
    assert "ISO reason code" in bad.content.decode() and not DebitReturn.objects.exists()
    done = bookkeeper.post(url, {"reason_code": "AC04", "returned_on": "2026-03-18", "kind": "return"}, follow=True)
    assert "blocked" in done.content.decode()
    assert DebitReturn.objects.get().reason_code == "AC04"


def test_admin_imports_a_status_report_for_a_file(bookkeeper, org, two_debits):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    batch, (acme, _beta) = two_debits
    url = reverse("admin:payments_debitbatch_status", args=[batch.pk])
    assert b'enctype="multipart/form-data"' in bookkeeper.get(url).content
    bad = pain002(batch.message_id, block("P1", tx(acme.end_to_end_id, code=None)))
    refused = bookkeeper.post(url, {"report": SimpleUploadedFile("s.xml", bad)}, follow=True)
    assert "TxInfAndSts" in refused.content.decode() and not DebitReturn.objects.exists()
    good = pain002(batch.message_id, block("P1", tx(acme.end_to_end_id, code="AM04")))
    done = bookkeeper.post(url, {"report": SimpleUploadedFile("s.xml", good)}, follow=True)
    assert "1 rejection(s) recorded" in done.content.decode()
    assert DebitReturn.objects.get().debit == acme
