"""The statement readers on the public test files of wolph/mt940, OCA/bank-statement-import and the shared samples,
compared with the expected results those projects publish (tests/data/bank-statements/*/README.md says where
each file comes from)."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

from duly.domain.errors import StatementMalformed
from duly.payments.statements import parse_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "bank-statements"
WOLPH = DATA / "wolph-mt940"
WOLPH_EXPECTED = json.loads((WOLPH / "expected.json").read_text())


def _minor(text: str | float) -> int:
    return int((Decimal(str(text)) * 100).to_integral_value())


def test_every_wolph_file_with_expected_results_is_vendored():
    assert len(WOLPH_EXPECTED) >= 50
    assert len(list(WOLPH.rglob("*.sta"))) == 51 and len(list(WOLPH.rglob("*.txt"))) == 3


@pytest.mark.parametrize("name", sorted(WOLPH_EXPECTED))
def test_mt940_files_of_wolph_give_the_expected_lines(name):
    expected = WOLPH_EXPECTED[name]
    data = (WOLPH / name).read_bytes()
    if not expected["lines"] and not expected["opening"] and not expected["closing"]:
        # A fragment with no balance and no movement (one :25: or :28C: tag): nothing to import. Either no line
        # comes out, or the file is refused with a clear message.
        try:
            parsed = parse_bytes(data, format="mt940")
        except StatementMalformed as err:
            assert err.message.startswith("line ")
            return
        assert parsed.line_count == 0
        return
    parsed = parse_bytes(data, format="mt940")
    lines = [line for statement in parsed.statements for line in statement.lines]
    assert len(lines) == len(expected["lines"])
    for line, want in zip(lines, expected["lines"]):
        amount = _minor(want["amount"])
        if line.raw.get("status") == "RC":  # a reversed credit is money out (mt-940's opt-in fix, issue #130)
            amount = -abs(amount)
        assert line.amount_minor == amount, line.where
        assert line.value_date.isoformat() == want["date"], line.where
        if want["currency"]:
            assert line.currency == want["currency"]
    last = parsed.statements[-1]
    if expected["closing"]:  # mt-940 keeps the last :62F: it met; a later statement may close with :62M: only
        assert _minor(expected["closing"]["amount"]) in [s.closing_balance_minor for s in parsed.statements]
        if expected["closing"]["currency"].isalpha():  # raphaelm.sta: mt-940 reads "950" from a garbled :62F:
            assert expected["closing"]["currency"] in [s.currency for s in parsed.statements]
    if expected["opening"] and len(parsed.statements) == 1:
        assert last.opening_balance_minor == _minor(expected["opening"]["amount"])
    if expected["account"]:
        assert last.account == "".join(expected["account"].split()).upper()


@pytest.mark.parametrize("name", ["ASNB/mt940.txt", "ASNB/mt940_with_spaces_for_entry_date.txt"])
def test_an_mt940_line_the_library_cannot_read_is_refused_naming_its_line(name):
    # The :61: of these ASN Bank files carries no transaction type; mt-940 refuses them too.
    with pytest.raises(StatementMalformed) as err:
        parse_bytes((WOLPH / name).read_bytes())
    assert err.value.message.startswith("line 6: :61: cannot be read")


def test_mt940_statements_of_one_file_keep_their_own_balances():
    parsed = parse_bytes((WOLPH / "jejik" / "rabobank-iban.sta").read_bytes())
    assert [(s.opening_balance_minor, s.closing_balance_minor, len(s.lines)) for s in parsed.statements] == [
        (100000, 96500, 2), (96500, 93000, 2)]
    for statement in parsed.statements:
        assert statement.opening_balance_minor + sum(l.amount_minor for l in statement.lines) \
            == statement.closing_balance_minor


OCA_CASES = [("test-camt053", "golden-camt053.pydata"), ("test-camt054", "golden-camt054.pydata"),
             ("test-camt053-txdtls", "golden-camt053-txdtls.pydata"),
             ("test-camt053-no-ntry", "golden-camt053-no-ntry.pydata")]


@pytest.mark.parametrize("source,golden", OCA_CASES)
def test_camt_files_of_oca_give_their_golden_results(source, golden):
    currency, account, statements = ast.literal_eval((DATA / "oca-camt" / golden).read_text())
    parsed = parse_bytes((DATA / "oca-camt" / source).read_bytes())
    if currency is None:  # OCA skips a statement without entries; Duly keeps it (it has balances)
        assert all(not s.lines for s in parsed.statements)
        return
    assert [s.identifier for s in parsed.statements] == [s["name"] for s in statements]
    for ours, want in zip(parsed.statements, statements):
        assert ours.currency == currency and ours.account == account
        assert (ours.opening_balance_minor or 0) == _minor(want["balance_start"])
        assert (ours.closing_balance_minor or 0) == _minor(want["balance_end_real"])
        assert [l.amount_minor for l in ours.lines] == [_minor(t["amount"]) for t in want["transactions"]]
        assert [l.booking_date.isoformat() for l in ours.lines] == [t["date"] for t in want["transactions"]]
        assert [l.counterparty_iban for l in ours.lines] == [t.get("account_number", "")
                                                              for t in want["transactions"]]
        assert [l.counterparty_name for l in ours.lines] == [t.get("partner_name", "")
                                                              for t in want["transactions"]]


def test_camt054_carries_the_structured_reference_and_end_to_end_id():
    (statement,) = parse_bytes((DATA / "oca-camt" / "test-camt054").read_bytes()).statements
    (line,) = statement.lines
    assert statement.format == "camt.054"
    assert (line.amount_minor, line.remittance_structured, line.end_to_end_id) == (
        500, "000000000000000000000000003", "ENDTOENDID-01")
    assert line.bank_transaction_code == "PMNT-RCDT-ATXN"


def test_a_reversed_direct_debit_carries_its_return_reason():
    (statement,) = parse_bytes((DATA / "oca-camt" / "test-camt053").read_bytes()).statements
    returned = [l for l in statement.lines if l.return_reason_code]
    assert {l.return_reason_code for l in returned} == {"AC06"}
    assert all(l.raw.get("reversal") for l in returned)


def test_a_camt_batch_is_split_into_its_transactions_each_with_its_own_amount():
    (statement,) = parse_bytes((DATA / "oca-camt" / "test-camt053-txdtls").read_bytes()).statements
    assert len(statement.lines) == 2
    assert len({l.unique_key for l in statement.lines}) == 2
    assert statement.opening_balance_minor + sum(l.amount_minor for l in statement.lines) \
        == statement.closing_balance_minor


SHARED = [
    ("camt053/camt053.v2.multi.statement.xml", "camt.053", [1, 1]),
    ("camt053/camt053.v8.xml", "camt.053", [1]),
    ("camt053/oca-test-camt053.xml", "camt.053", [4]),
    ("mt940/mt940_cmxl_mt940.sta", "mt940", None),
    ("mt940/mt940_jejik_rabobank-iban.sta", "mt940", [2, 2]),
    ("mt940/mt940_mBank_mt940.sta", "mt940", [3]),
    ("ofx/ofxparse_bank_medium.ofx", "ofx", [3]),
    ("ofx/ofxparse_checking.ofx", "ofx", [3]),
    ("ofx/ofxparse_suncorp.ofx", "ofx", [1]),
]


@pytest.mark.parametrize("name,fmt,counts", SHARED)
def test_the_shared_samples_parse(name, fmt, counts):
    parsed = parse_bytes((DATA / "samples" / name).read_bytes())
    assert parsed.format == fmt
    if counts is not None:
        assert [len(s.lines) for s in parsed.statements] == counts
    else:
        assert parsed.line_count == 16  # cmxl: 3 statements, 16 :61: lines (the README's count)
    for statement in parsed.statements:
        keys = [l.unique_key for l in statement.lines]
        assert len(keys) == len(set(keys))


def test_camt_v8_reads_the_entry_amount_not_the_quirky_transaction_amount():
    (statement,) = parse_bytes((DATA / "samples" / "camt053" / "camt053.v8.xml").read_bytes()).statements
    (line,) = statement.lines
    assert (line.amount_minor, line.currency) == (885, "EUR")


def test_ofx_keys_are_the_banks_fitid_and_its_ledger_balance_closes():
    (statement,) = parse_bytes((DATA / "samples" / "ofx" / "ofxparse_bank_medium.ofx").read_bytes()).statements
    assert statement.currency == "CAD" and statement.closing_balance_minor == 38234
    assert all(l.unique_key.startswith("r:") for l in statement.lines)


def test_parsing_twice_gives_the_same_keys():
    data = (DATA / "samples" / "mt940" / "mt940_cmxl_mt940.sta").read_bytes()
    first, second = parse_bytes(data), parse_bytes(data)
    assert [l.unique_key for s in first.statements for l in s.lines] == \
        [l.unique_key for s in second.statements for l in s.lines]


@pytest.mark.parametrize("name,cut,message", [
    ("oca-camt/test-camt053", 2000, "the file is not well-formed XML"),
    ("samples/ofx/ofxparse_bank_medium.ofx", 900, "truncated"),
])
def test_a_truncated_file_is_refused_naming_the_line(name, cut, message):
    data = (DATA / name).read_bytes()[:cut]
    with pytest.raises(StatementMalformed) as err:
        parse_bytes(data)
    assert err.value.message.startswith("line ") and message in err.value.message


def test_a_bad_amount_in_camt_names_its_element_and_line():
    data = (DATA / "oca-camt" / "test-camt054").read_bytes().replace(b'Ccy="EUR">5.00<', b'Ccy="EUR">5.0x0<', 1)
    with pytest.raises(StatementMalformed) as err:
        parse_bytes(data)
    assert err.value.message.startswith("line 33: <Amt>")


def test_a_zip_of_camt_files_is_read_file_by_file():
    import zipfile

    path = DATA / "oca-camt" / "test-camt053.zip"
    parsed = parse_bytes(path.read_bytes())
    assert parsed.format == "camt.053" and len(parsed.statements) == 2
    with zipfile.ZipFile(path) as archive:
        one_by_one = [s for name in archive.namelist() for s in parse_bytes(archive.read(name)).statements]
    assert parsed.statements == tuple(one_by_one)
    assert [len(s.lines) for s in parsed.statements] == [3, 3]  # older copies of test-camt053: its batch had one TxDtls less


def test_a_damaged_zip_names_the_file_inside_it():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("day-1.xml", (DATA / "oca-camt" / "test-camt054").read_bytes())
        archive.writestr("day-2.xml", (DATA / "oca-camt" / "test-camt054").read_bytes()[:900])
    with pytest.raises(StatementMalformed) as err:
        parse_bytes(buffer.getvalue())
    assert err.value.message.startswith("day-2.xml (in the zip archive): line ")
    with pytest.raises(StatementMalformed) as err:
        parse_bytes(buffer.getvalue()[:300])
    assert "zip archive" in err.value.message


def test_the_structured_sepa_details_of_dutch_mt940_are_read():
    first, second = parse_bytes((WOLPH / "jejik" / "rabobank-iban.sta").read_bytes()).statements[0].lines
    assert (first.end_to_end_id, first.counterparty_name) == ("01-01-2013 12:00 0030000987654321",
                                                              "CONTRA ACCOUNT HOLDER")
    assert (second.counterparty_name, second.remittance_unstructured) == ("JOHN DOE", "Reference 201301234")


@pytest.mark.parametrize("details,expected", [
    ("/TRTP/SEPA OVERBOEKING/IBAN/NL12RABO0123456789/BIC/RABONL2U/NAME/ACME BV/REMI/USTD//INV-2026-0042/EREF/E2E-1",
     ("NL12RABO0123456789", "RABONL2U", "ACME BV", "", "INV-2026-0042", "E2E-1", "")),
    ("/CNTP/NL12RABO0123456789/RABONL2U/J DOE/AMSTERDAM/REMI/STRD/CUR/RF18539007547034/RTRN/MS03/",
     ("NL12RABO0123456789", "RABONL2U", "J DOE", "RF18539007547034", "", "", "MS03")),
])
def test_structured_details_variants(details, expected):
    from duly.payments.statements.mt940 import _remittance, structured_details

    fields = structured_details(details)
    structured, free = _remittance(fields)
    assert (fields.get("IBAN"), fields.get("BIC"), fields.get("NAME"), structured, free, fields.get("EREF", ""),
            fields.get("RTRN", "")) == expected


def test_ofx_text_is_unescaped():
    data = (DATA / "samples" / "ofx" / "ofxparse_bank_medium.ofx").read_bytes()
    (statement,) = parse_bytes(data.replace(b"<MEMO>", b"<MEMO>AT&amp;T &lt;fee&gt; ", 1)).statements
    assert statement.lines[0].remittance_unstructured.startswith("AT&T <fee> ")


def test_nul_characters_never_reach_the_database():
    # PostgreSQL stores no NUL in text or JSON: a file carrying one (wolph's with_binary_character.sta has binary
    # bytes) must not fail the import with a database error
    data = (DATA / "samples" / "mt940" / "mt940_mBank_mt940.sta").read_bytes().replace(b":86:", b":86:A\x00B", 1)
    lines = [l for s in parse_bytes(data).statements for l in s.lines]
    assert all("\x00" not in l.remittance_unstructured and "\x00" not in repr(l.raw) for l in lines)
