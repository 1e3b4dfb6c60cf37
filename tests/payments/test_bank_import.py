"""Importing bank statements: each line once, every bad file refused whole with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from duly.domain.errors import (
    StatementCurrencyMismatch,
    StatementMalformed,
    StatementUnbalanced,
    UnknownBankAccount,
    ValidationError,
)
from duly.payments.bank_models import BankAccount, BankStatement, StatementLine
from duly.payments.bank_services import add_bank_account, import_statement

DATA = Path(__file__).resolve().parents[1] / "data" / "bank-statements"
CAMT_MULTI = (DATA / "samples" / "camt053" / "camt053.v2.multi.statement.xml").read_bytes()
SNS = (DATA / "wolph-mt940" / "jejik" / "sns.sta").read_bytes()
SEPA_MT940 = (DATA / "wolph-mt940" / "betterplace" / "sepa_mt9401.sta").read_bytes()
GENERIC = (DATA / "wolph-mt940" / "jejik" / "generic.sta").read_bytes()


def _counts(org):
    return (BankStatement.objects.filter(organization=org).count(),
            StatementLine.objects.filter(organization=org).count())


@pytest.fixture
def vayb(org):
    return add_bank_account(org, iban="NL26VAYB8060476890", currency="EUR", name="Main")


def test_a_camt_file_with_two_statements_imports_each_line_once(org, vayb):
    first = import_statement(org, CAMT_MULTI)
    assert (first.statements, first.new_statements, first.lines, first.new_lines) == (2, 2, 2, 2)
    again = import_statement(org, CAMT_MULTI)
    assert (again.new_statements, again.new_lines) == (0, 0)
    assert again.message.endswith("0 new lines.")
    assert _counts(org) == (2, 2)
    line = StatementLine.objects.filter(account=vayb).order_by("booking_date", "id").first()
    assert line.status == StatementLine.NEW and line.currency == "EUR" and line.unique_key


def test_an_mt940_file_with_two_statements_keeps_their_balances(org):
    add_bank_account(org, iban="0123456789", currency="EUR")
    result = import_statement(org, SNS)
    assert (result.statements, result.new_lines) == (2, 2)
    balances = sorted(BankStatement.objects.values_list("opening_balance_minor", "closing_balance_minor"))
    assert balances == [(120956, 120956), (123456, 120956)]
    assert import_statement(org, SNS).new_lines == 0


def test_a_file_for_two_accounts_imports_into_each(org):
    add_bank_account(org, iban="0123456789", currency="EUR")
    add_bank_account(org, iban="11111111", currency="EUR")
    result = import_statement(org, SNS + b"\n" + GENERIC)
    assert result.statements == 4 and result.new_lines == 4
    per_account = {a.iban: a.lines.count() for a in BankAccount.objects.filter(organization=org)}
    assert per_account == {"0123456789": 2, "11111111": 2}


def test_a_file_of_many_accounts_imports_each_statement_into_its_account(org):
    from duly.payments.statements import parse_bytes

    numbers = sorted({s.account.rsplit("/", 1)[-1] for s in parse_bytes(SEPA_MT940).statements})
    assert len(numbers) == 20
    for number in numbers:
        add_bank_account(org, iban=number, currency="EUR")
    result = import_statement(org, SEPA_MT940)
    assert (result.statements, result.new_lines) == (26, 97)
    assert BankAccount.objects.filter(organization=org, lines__isnull=False).distinct().count() == 20
    assert import_statement(org, SEPA_MT940).new_lines == 0


def test_one_unknown_account_in_a_file_writes_nothing_of_it(org):
    add_bank_account(org, iban="0123456789", currency="EUR")
    with pytest.raises(UnknownBankAccount) as err:
        import_statement(org, SNS + b"\n" + GENERIC)
    assert "11111111" in err.value.message and "nothing was imported" in err.value.message
    assert _counts(org) == (0, 0)


def test_an_account_in_another_currency_is_refused(org):
    add_bank_account(org, iban="NL26VAYB8060476890", currency="USD")
    with pytest.raises(StatementCurrencyMismatch) as err:
        import_statement(org, CAMT_MULTI)
    assert "EUR" in err.value.message and "USD" in err.value.message
    assert _counts(org) == (0, 0)


def test_a_file_contradicting_its_balances_is_refused(org):
    add_bank_account(org, iban="NL77ABNA0574908765", currency="EUR")
    with pytest.raises(StatementUnbalanced) as err:
        import_statement(org, (DATA / "oca-camt" / "test-camt053").read_bytes())
    assert "opening 15568.27" in err.value.message and "closing balance is 15121.12" in err.value.message
    assert _counts(org) == (0, 0)


def test_a_truncated_file_changes_nothing_and_names_the_line(org, vayb):
    with pytest.raises(StatementMalformed) as err:
        import_statement(org, CAMT_MULTI[: len(CAMT_MULTI) // 2])
    assert err.value.message.startswith("line ")
    assert _counts(org) == (0, 0)


def test_accounts_are_per_organization(org, other_org, vayb):
    with pytest.raises(UnknownBankAccount):
        import_statement(other_org, CAMT_MULTI)
    add_bank_account(other_org, iban="NL26VAYB8060476890", currency="EUR")
    assert import_statement(org, CAMT_MULTI).new_lines == 2
    assert import_statement(other_org, CAMT_MULTI).new_lines == 2  # the same file is news to the other org
    assert _counts(org) == (2, 2) and _counts(other_org) == (2, 2)


def test_account_flag_must_match_the_file(org, vayb):
    add_bank_account(org, iban="PL29114010810000267002001002", currency="EUR")
    with pytest.raises(UnknownBankAccount) as err:
        import_statement(org, CAMT_MULTI, account="PL29 1140 1081 0000 2670 0200 1002")
    assert "not PL29114010810000267002001002" in err.value.message
    with pytest.raises(UnknownBankAccount):
        import_statement(org, CAMT_MULTI, account="DE89370400440532013000")


def test_a_bad_iban_is_refused_when_adding_an_account(org):
    with pytest.raises(ValidationError):
        add_bank_account(org, iban="NL26VAYB8060476891", currency="EUR")
    with pytest.raises(ValidationError):
        add_bank_account(org, iban="NL26VAYB8060476890", currency="EURO")


CSV = ("Date;Amount;Payer;Text;Currency\n"
       "05.03.2026;1.200,50;Acme GmbH;RF18539007547034;EUR\n"
       "05.03.2026;-9,90;Bank;Fees;EUR\n"
       "05.03.2026;-9,90;Bank;Fees;EUR\n").encode()
MAPPING = {"booking_date": "Date", "amount": "Amount", "counterparty_name": "Payer", "remittance": "Text",
           "currency": "Currency", "date_format": "%d.%m.%Y", "decimal_comma": True}


def test_csv_uses_the_mapping_saved_on_the_account_and_keeps_identical_lines(org):
    add_bank_account(org, iban="DE89370400440532013000", currency="EUR", csv_mapping=MAPPING)
    with pytest.raises(StatementMalformed):
        import_statement(org, CSV)  # without --account Duly cannot know the mapping
    result = import_statement(org, CSV, account="DE89370400440532013000")
    assert result.new_lines == 3  # two identical fee lines are two lines
    assert sorted(StatementLine.objects.values_list("amount_minor", flat=True)) == [-990, -990, 120050]
    assert import_statement(org, CSV, account="DE89370400440532013000").new_lines == 0
    longer = CSV + b"06.03.2026;50,00;Beta;INV-7;EUR\n"
    assert import_statement(org, longer, account="DE89370400440532013000").new_lines == 1


def test_a_csv_row_with_a_bad_date_names_its_line(org):
    add_bank_account(org, iban="DE89370400440532013000", currency="EUR", csv_mapping=MAPPING)
    with pytest.raises(StatementMalformed) as err:
        import_statement(org, CSV.replace(b"05.03.2026;-9,90", b"35.03.2026;-9,90", 1),
                         account="DE89370400440532013000")
    assert err.value.message.startswith("line 3: booking date")
    assert _counts(org) == (0, 0)


def test_cli_import_reports_new_lines_and_exit_codes(org):
    from duly.cli import main

    added = CliRunner().invoke(main, ["bank", "accounts", "add", "NL26 VAYB 8060 4768 90", "--currency", "EUR",
                                      "--name", "Main"])
    assert added.exit_code == 0, added.output
    path = DATA / "samples" / "camt053" / "camt053.v2.multi.statement.xml"
    first = CliRunner().invoke(main, ["bank", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert first.stdout == "camt.053: 2 statement(s), 2 line(s): 2 new lines.\n"
    again = CliRunner().invoke(main, ["bank", "import", str(path)])
    assert again.stdout.endswith("0 new lines.\n")
    unknown = CliRunner().invoke(main, ["bank", "import", str(DATA / "oca-camt" / "test-camt054")])
    assert unknown.exit_code == 2 and "[bank_account_unknown]" in unknown.stderr
    assert "NL77ABNA0574908765" in unknown.stderr
    listed = CliRunner().invoke(main, ["bank", "accounts", "list"])
    assert "NL26VAYB8060476890\tEUR\tMain\t2 statement(s)\t2 line(s)" in listed.stdout


def test_an_mt940_file_cut_before_its_closing_balance_is_refused(org):
    add_bank_account(org, iban="0123456789", currency="EUR")
    cut = SNS[:SNS.rindex(b":62F:")]
    with pytest.raises(StatementMalformed) as err:
        import_statement(org, cut)
    assert "looks truncated" in err.value.message and "line " in err.value.message
    assert _counts(org) == (0, 0)


def test_an_ofx_file_cut_anywhere_is_refused(org):
    data = (DATA / "samples" / "ofx" / "ofxparse_bank_medium.ofx").read_bytes()
    add_bank_account(org, iban="12300000012345678", currency="CAD")
    for cut in range(data.index(b"<OFX>") + 6, len(data.rstrip()) - 1, 37):
        with pytest.raises(StatementMalformed):
            import_statement(org, data[:cut])
    assert _counts(org) == (0, 0)
    assert import_statement(org, data).new_lines == 3


def test_adding_an_account_again_keeps_it_and_may_replace_its_mapping(org):
    first = add_bank_account(org, iban="DE89370400440532013000", currency="EUR", csv_mapping=MAPPING)
    again = add_bank_account(org, iban="DE89 3704 0044 0532 0130 00", currency="EUR")
    assert again.pk == first.pk and again.csv_mapping == MAPPING
    plain = {"booking_date": "Date", "amount": "Amount"}
    assert add_bank_account(org, iban="DE89370400440532013000", currency="EUR", csv_mapping=plain).csv_mapping \
        == plain
    with pytest.raises(StatementCurrencyMismatch):
        add_bank_account(org, iban="DE89370400440532013000", currency="USD")
    with pytest.raises(StatementMalformed):
        add_bank_account(org, iban="DE89370400440532013000", currency="EUR", csv_mapping={"amount": "A"})


def test_cli_refuses_a_cut_file_and_a_missing_one_with_exit_2(org, tmp_path):
    from duly.cli import main

    add_bank_account(org, iban="NL26VAYB8060476890", currency="EUR")
    cut = tmp_path / "cut.xml"
    cut.write_bytes(CAMT_MULTI[:3000])
    result = CliRunner().invoke(main, ["bank", "import", str(cut)])
    assert result.exit_code == 2 and result.stderr.startswith("error: line ")
    assert "[statement_malformed]" in result.stderr and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["bank", "import", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: cannot read nope.xml")
    assert str(tmp_path) not in missing.stderr  # no paths beyond the file's name
    assert _counts(org) == (0, 0)
