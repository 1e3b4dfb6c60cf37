"""camt entries Duly builds by hand: batches, foreign currency, returns, pending entries, bad elements."""

from __future__ import annotations

import pytest

from duly.domain.errors import StatementMalformed
from duly.payments.statements import parse_bytes

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def tx(amount=None, ccy="EUR", *, ref="", name="", iban="", rf="", text="", instd=None, rate="", reason=""):
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt>' if amount is not None else ""
    details = ""
    if instd:
        details = (f'<AmtDtls><InstdAmt><Amt Ccy="{instd[1]}">{instd[0]}</Amt><CcyXchg><SrcCcy>{instd[1]}</SrcCcy>'
                   f"<XchgRate>{rate}</XchgRate></CcyXchg></InstdAmt></AmtDtls>")
    refs = f"<Refs><AcctSvcrRef>{ref}</AcctSvcrRef><EndToEndId>E2E-{ref or 'x'}</EndToEndId></Refs>" if ref else ""
    parties = (f"<RltdPties><Dbtr><Pty><Nm>{name}</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>"
               "</RltdPties>") if name else ""
    rmt = ""
    if rf or text:
        strd = f"<Strd><CdtrRefInf><Ref>{rf}</Ref></CdtrRefInf></Strd>" if rf else ""
        rmt = f"<RmtInf>{f'<Ustrd>{text}</Ustrd>' if text else ''}{strd}</RmtInf>"
    rtr = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
    return f"<TxDtls>{refs}{amt}{details}{parties}{rmt}{rtr}</TxDtls>"


def entry(amount, *, indicator="CRDT", ref="E1", txs=(), status="BOOK", ccy="EUR"):
    details = f"<NtryDtls><Btch><NbOfTxs>{len(txs)}</NbOfTxs></Btch>{''.join(txs)}</NtryDtls>" if txs else ""
    return (f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>{status}</Cd></Sts>'
            f"<BookgDt><Dt>2026-03-05</Dt></BookgDt><ValDt><Dt>2026-03-05</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef>{details}</Ntry>")


def camt(*entries, opening="100.00", closing=None) -> bytes:
    bal = ""
    if opening is not None:
        bal += (f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt>'
                "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-04</Dt></Dt></Bal>")
    if closing is not None:
        bal += (f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>'
                "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-05</Dt></Dt></Bal>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId>'
            "<CreDtTm>2026-03-05T20:00:00</CreDtTm></GrpHdr><Stmt><Id>S-2026-03-05</Id>"
            "<Acct><Id><IBAN>NL26VAYB8060476890</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            f"{bal}{''.join(entries)}</Stmt></BkToCstmrStmt></Document>").encode()


def lines(data):
    (statement,) = parse_bytes(data).statements
    return statement.lines


def test_a_batch_is_split_with_each_transactions_own_amount_name_and_reference():
    data = camt(entry("350.00", txs=[tx("100.00", ref="T1", name="Acme", iban="DE89370400440532013000",
                                        rf="RF18539007547034"),
                                     tx("250.00", ref="T2", name="Beta", text="INV-2026-0042")]))
    first, second = lines(data)
    assert (first.amount_minor, first.counterparty_name, first.remittance_structured) == (10000, "Acme",
                                                                                           "RF18539007547034")
    assert first.counterparty_iban == "DE89370400440532013000" and first.end_to_end_id == "E2E-T1"
    assert (second.amount_minor, second.counterparty_name, second.remittance_unstructured) == (25000, "Beta",
                                                                                              "INV-2026-0042")
    assert first.unique_key != second.unique_key


def test_a_batch_whose_parts_do_not_add_up_stays_one_line():
    # OCA's importer split such a batch with wrong amounts (bank-statement-import #157): Duly never invents them
    (line,) = lines(camt(entry("350.00", txs=[tx("100.00", ref="T1", name="Acme", rf="RF18539007547034"),
                                              tx("200.00", ref="T2", name="Beta")])))
    assert line.amount_minor == 35000
    # no one part's payer or reference speaks for the whole: they are kept for the review screen
    assert (line.counterparty_name, line.remittance_structured) == ("", "")
    assert [p["name"] for p in line.raw["batch_parts"]] == ["Acme", "Beta"]
    (line,) = lines(camt(entry("350.00", txs=[tx(ref="T1"), tx(ref="T2")])))
    assert line.amount_minor == 35000


def test_a_foreign_currency_payment_keeps_its_instructed_amount_and_rate():
    (line,) = lines(camt(entry("92.50", txs=[tx("92.50", instd=("100.00", "USD"), rate="0.925", ref="FX1")])))
    assert (line.amount_minor, line.currency) == (9250, "EUR")
    assert (line.original_amount_minor, line.original_currency, str(line.exchange_rate)) == (10000, "USD", "0.925")


def test_a_returned_debit_is_money_out_with_its_reason():
    (line,) = lines(camt(entry("40.00", indicator="DBIT", txs=[tx("40.00", ref="R1", reason="MD06")])))
    assert (line.amount_minor, line.return_reason_code) == (-4000, "MD06")


def test_pending_entries_are_not_movements_yet():
    assert len(lines(camt(entry("10.00", ref="A"), entry("20.00", ref="B", status="PDNG")))) == 1


def test_balances_and_the_statement_id_are_read():
    (statement,) = parse_bytes(camt(entry("10.00"), closing="110.00")).statements
    assert (statement.identifier, statement.opening_balance_minor, statement.closing_balance_minor) == (
        "S-2026-03-05", 10000, 11000)


@pytest.mark.parametrize("broken,where", [
    (lambda d: d.replace(b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>UP</CdtDbtInd><Sts>", 1), "<Ntry>"),
    (lambda d: d.replace(b"<Dt>2026-03-05</Dt></BookgDt>", b"<Dt>2026-13-05</Dt></BookgDt>", 1), "<Ntry>"),
    (lambda d: d.replace(b'<Amt Ccy="EUR">10.00</Amt>', b'<Amt Ccy="EUR">10.001</Amt>', 1), "<Amt>"),
    (lambda d: d.replace(b'<Amt Ccy="EUR">10.00</Amt>', b'<Amt Ccy="EURO">10.00</Amt>', 1), "<Amt>"),
    (lambda d: d.replace(b"<Acct>", b"<Acct2>", 1).replace(b"</Acct>", b"</Acct2>", 1), "<Stmt>"),
])
def test_a_bad_element_is_refused_naming_it_and_its_line(broken, where):
    with pytest.raises(StatementMalformed) as err:
        parse_bytes(broken(camt(entry("10.00"))))
    assert err.value.message.startswith("line 2: " + where), err.value.message


def test_an_entity_expansion_is_not_followed():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<Document><BkToCstmrStmt><Stmt><Id>&b;</Id></Stmt></BkToCstmrStmt></Document>")
    with pytest.raises(StatementMalformed):
        parse_bytes(bomb, format="camt.053")


def test_an_imported_batch_and_foreign_payment_are_stored_with_every_detail(org):
    from duly.payments.bank_models import StatementLine
    from duly.payments.bank_services import add_bank_account, import_statement

    add_bank_account(org, iban="NL26VAYB8060476890", currency="EUR")
    data = camt(entry("350.00", ref="E1", txs=[tx("100.00", ref="T1", name="Acme", rf="RF18539007547034"),
                                               tx("250.00", ref="T2", name="Beta")]),
                entry("92.50", ref="E2", txs=[tx("92.50", instd=("100.00", "USD"), rate="0.925", ref="FX1")]),
                closing="542.50")
    assert import_statement(org, data).new_lines == 3
    acme = StatementLine.objects.get(counterparty_name="Acme")
    assert (acme.amount_minor, acme.remittance_structured, acme.end_to_end_id) == (10000, "RF18539007547034",
                                                                                  "E2E-T1")
    assert acme.raw["where"] == "Ntry 1 TxDtls 1" and acme.statement.identifier == "S-2026-03-05"
    fx = StatementLine.objects.get(original_currency="USD")
    assert (fx.amount_minor, fx.original_amount_minor, str(fx.exchange_rate.normalize())) == (9250, 10000, "0.925")
    assert import_statement(org, data).new_lines == 0


def test_a_document_with_a_namespace_prefix_reads_the_same():
    import re

    plain = camt(entry("350.00", txs=[tx("100.00", ref="T1", name="Acme"), tx("250.00", ref="T2", name="Beta")]),
                 entry("5.00", ref="E2"), closing="455.00")
    prefixed = re.sub(rb"<(/?)([A-Za-z])", rb"<\1c:\2", plain).replace(b'xmlns="', b'xmlns:c="')
    assert b"<c:Ntry>" in prefixed
    (a,), (b,) = parse_bytes(plain).statements, parse_bytes(prefixed).statements
    assert a == b and len(a.lines) == 3
