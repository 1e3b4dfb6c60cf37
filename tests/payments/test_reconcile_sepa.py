"""SEPA direct debits on the bank statement: a return is recorded against its debit, a collection credit (one line
per debit, or one line for a batch) books the debits as paid; neither is offered to a customer's invoice."""

from __future__ import annotations

from datetime import date

import pytest

from duly.invoicing.models import Invoice
from duly.messaging.models import Message
from duly.payments import reconcile_services as rec
from duly.payments import sepa_services as sepa
from duly.payments.bank_models import StatementLine
from duly.payments.bank_services import add_bank_account, import_statement
from duly.payments.models import DebitReturn, DirectDebit, Payment
from duly.payments.reconcile_models import BankMatch, ReviewEntry
from duly.payments.sepa_status import payment_infos

from .test_sepa_debits import creditor, issue, mandate  # noqa: F401 - fixtures

ACCOUNT = "NL26VAYB8060476890"
AS_OF = date(2026, 4, 30)


def tx(amount, *, e2e="", reason="", pmt_inf="", msg_id=""):
    refs = "".join(f"<{tag}>{value}</{tag}>" for tag, value in (("MsgId", msg_id), ("PmtInfId", pmt_inf),
                                                                 ("EndToEndId", e2e)) if value)
    rtr = f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else ""
    return f'<TxDtls><Refs>{refs}</Refs><Amt Ccy="EUR">{amount}</Amt>{rtr}</TxDtls>'


def entry(amount, on: date, *, indicator="CRDT", ref="E1", txs=(), batch="", text=""):
    btch = f"<Btch>{batch}</Btch>" if batch else ""
    details = f"<NtryDtls>{btch}{''.join(txs)}</NtryDtls>" if txs or batch else ""
    info = f"<AddtlNtryInf>{text}</AddtlNtryInf>" if text else ""
    return (f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
            f"<BookgDt><Dt>{on.isoformat()}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>{details}{info}</Ntry>")


def camt054(*entries, ident="N1") -> bytes:
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrDbtCdtNtfctn><GrpHdr>'
            f"<MsgId>{ident}</MsgId><CreDtTm>2026-03-20T20:00:00</CreDtTm></GrpHdr><Ntfctn><Id>{ident}</Id>"
            f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>{''.join(entries)}</Ntfctn>"
            "</BkToCstmrDbtCdtNtfctn></Document>").encode()


def camt053(*entries, ident="S1") -> bytes:
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt><GrpHdr>'
            f"<MsgId>{ident}</MsgId><CreDtTm>2026-03-20T20:00:00</CreDtTm></GrpHdr><Stmt><Id>{ident}</Id>"
            f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>{''.join(entries)}</Stmt>"
            "</BkToCstmrStmt></Document>").encode()


@pytest.fixture
def account(org):
    return add_bank_account(org, iban=ACCOUNT, currency="EUR")


@pytest.fixture
def debits(org, customer, contract, creditor, mandate):  # noqa: F811 - fixtures
    """Two invoices of the customer debited in one exported pain.008 file."""
    first = issue(org, customer, contract, "100", date(2026, 2, 13))
    second = issue(org, customer, contract, "50.50", date(2026, 2, 13))
    batch = sepa.export_debits(org, date(2026, 3, 1)).batch
    found = list(DirectDebit.objects.filter(batch=batch).order_by("amount_minor"))
    assert [d.invoice_id for d in found] == [second.pk, first.pk]
    return batch, found


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def state(org):
    return (Payment.objects.filter(organization=org).count(), DebitReturn.objects.count(),
            BankMatch.objects.count(), ReviewEntry.objects.count(),
            sorted(StatementLine.objects.values_list("status", flat=True)),
            sorted(Invoice.objects.filter(organization=org).values_list("status", flat=True)))


def test_one_credit_per_debit_books_each_debit_collected_and_nobody_chases(org, account, debits):
    batch, (small, big) = debits
    on = small.collection_date
    import_statement(org, camt054(entry(money(small.amount_minor), on, ref="C1", txs=[tx(money(small.amount_minor),
                                                                                          e2e=small.end_to_end_id)]),
                                  entry(money(big.amount_minor), on, ref="C2", txs=[tx(money(big.amount_minor),
                                                                                        e2e=big.end_to_end_id)])))
    messages = Message.objects.count()
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review, result.outgoing, result.debits) == (0, 0, 0, 2)
    for debit in (small, big):
        debit.refresh_from_db()
        assert debit.status == DirectDebit.SETTLED
        assert Invoice.objects.get(pk=debit.invoice_id).status == Invoice.PAID
        payment = Payment.objects.get(external_reference=debit.end_to_end_id)
        assert payment.method == "sepa_debit" and payment.amount_minor == debit.amount_minor
        match = BankMatch.objects.get(payment=payment)
        assert match.how == BankMatch.COLLECTED and match.rule == "sepa_debit"
    assert Message.objects.count() > messages  # the payments service ran: the thank-you is queued
    assert set(StatementLine.objects.values_list("status", flat=True)) == {StatementLine.MATCHED}
    assert not ReviewEntry.objects.exists()
    before = state(org)
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0)
    assert state(org) == before


def test_a_camt054_return_is_recorded_against_its_debit_and_never_paid_to_an_invoice(org, account, debits):
    batch, (small, big) = debits
    on = small.collection_date
    import_statement(org, camt054(entry(money(big.amount_minor), on, ref="C2",
                                        txs=[tx(money(big.amount_minor), e2e=big.end_to_end_id)])))
    rec.reconcile(org, as_of=AS_OF)
    assert Invoice.objects.get(pk=big.invoice_id).status == Invoice.PAID
    # three days later the debtor's bank sends it back: insufficient funds (AM04)
    import_statement(org, camt054(entry(money(big.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R1",
                                        txs=[tx(money(big.amount_minor), e2e=big.end_to_end_id, reason="AM04")]),
                                  ident="N2"))
    payments = Payment.objects.count()
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review, result.outgoing, result.debits) == (0, 0, 0, 1)
    big.refresh_from_db()
    assert big.status == DirectDebit.FAILED
    ret = DebitReturn.objects.get(debit=big)
    assert (ret.reason_code, ret.source, ret.kind, ret.returned_on) == ("AM04", "camt054", "return",
                                                                        date(2026, 3, 19))
    assert ret.refund is not None and ret.retry is not None  # reversed, and re-presented by the retry rules
    invoice = Invoice.objects.get(pk=big.invoice_id)
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == big.amount_minor
    line = StatementLine.objects.get(unique_key__endswith="R1")
    assert line.status == StatementLine.MATCHED and not ReviewEntry.objects.filter(line=line).exists()
    match = BankMatch.objects.get(line=line)
    assert (match.how, match.payment, match.customer_id, match.evidence["debit_return"]) == (
        BankMatch.RETURNED, None, invoice.customer_id, ret.pk)
    assert Payment.objects.count() == payments  # not taken for anybody's payment
    # reconciling again changes nothing; undone, the return is taken back (test_reconcile_undo_sepa.py checks
    # every row) and the line waits in review
    before = state(org)
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0)
    assert state(org) == before
    rec.undo(org, match.pk, reason="oops", as_of=AS_OF)
    assert not DebitReturn.objects.filter(debit=big).exists()
    assert Invoice.objects.get(pk=big.invoice_id).status == Invoice.PAID
    assert StatementLine.objects.get(pk=line.pk).status == StatementLine.REVIEW


def test_a_return_line_for_an_unknown_end_to_end_id_is_left_to_matching(org, account, debits):
    import_statement(org, camt054(entry("12.00", date(2026, 3, 19), indicator="DBIT", ref="R9",
                                        txs=[tx("12.00", e2e="SOMEONE-ELSES-1", reason="AC04")])))
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.debits, result.outgoing) == (0, 1)
    assert not DebitReturn.objects.exists()


def test_one_batch_credit_named_by_its_payment_information_id_books_every_debit(org, account, debits):
    batch, found = debits
    blocks = payment_infos(bytes(batch.xml))
    (info_id, e2e_ids), = [(k, v) for k, v in blocks.items() if found[0].end_to_end_id in v]
    block = [d for d in found if d.end_to_end_id in e2e_ids]
    total = sum(d.amount_minor for d in block)
    # the bank books the batch as one entry, NtryDtls/Btch with the file's PmtInfId, no transaction details
    import_statement(org, camt053(entry(money(total), block[0].collection_date, ref="B1",
                                        batch=f"<PmtInfId>{info_id}</PmtInfId><NbOfTxs>{len(block)}</NbOfTxs>")))
    result = rec.reconcile(org, as_of=AS_OF)
    assert result.debits == 1 and (result.matched, result.review) == (0, 0)
    for debit in block:
        debit.refresh_from_db()
        assert debit.status == DirectDebit.SETTLED
        assert Invoice.objects.get(pk=debit.invoice_id).status == Invoice.PAID
    match = BankMatch.objects.get(line__unique_key__endswith="B1")
    assert match.how == BankMatch.COLLECTED and match.rule == "sepa_batch"
    assert sorted(match.evidence["payments"]) == sorted(
        Payment.objects.filter(external_reference__in=e2e_ids).values_list("pk", flat=True))


def test_a_batch_credit_known_by_the_files_message_id_in_its_text(org, account, debits):
    batch, found = debits
    total = sum(d.amount_minor for d in found)
    import_statement(org, camt053(entry(money(total), found[0].collection_date, ref="B2",
                                        text=f"SEPA CORE COLLECTION {batch.message_id}")))
    assert rec.reconcile(org, as_of=AS_OF).debits == 1
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.SETTLED}


def test_a_batch_credit_known_only_by_its_amount_and_date(org, account, debits):
    batch, found = debits
    total = sum(d.amount_minor for d in found)
    on = max(d.collection_date for d in found)
    import_statement(org, camt053(entry(money(total), on, ref="B3", text="SAMMLER LASTSCHRIFT")))
    result = rec.reconcile(org, as_of=AS_OF)
    assert result.debits == 1
    assert BankMatch.objects.get(line__unique_key__endswith="B3").rule == "sepa_batch_amount"
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.SETTLED}
    assert Invoice.objects.filter(pk__in=[d.invoice_id for d in found], status=Invoice.PAID).count() == 2


def test_a_batch_credit_naming_the_file_but_not_its_total_waits_in_review(org, account, debits):
    batch, found = debits
    import_statement(org, camt053(entry("99.99", found[0].collection_date, ref="B4",
                                        batch=f"<MsgId>{batch.message_id}</MsgId>")))
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.debits, result.matched) == (1, 0)
    line = StatementLine.objects.get(unique_key__endswith="B4")
    assert line.status == StatementLine.REVIEW and "not its total" in line.review.note
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.EXPORTED}
    assert not Payment.objects.exists()


def test_a_return_recorded_before_is_matched_and_a_conflicting_one_waits_in_review(org, account, debits):
    from duly.payments import return_services as returns

    batch, (small, big) = debits
    # staff (or a pain.002) recorded both returns already: the statement's lines find them, nothing is recorded twice
    returns.record_debit_return(small, "AM04", returned_on=date(2026, 3, 18), source="staff")
    returns.record_debit_return(big, "MD01", returned_on=date(2026, 3, 18), source="staff")
    import_statement(org, camt054(entry(money(small.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R1",
                                        txs=[tx(money(small.amount_minor), e2e=small.end_to_end_id, reason="AM04")]),
                                  entry(money(big.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R2",
                                        txs=[tx(money(big.amount_minor), e2e=big.end_to_end_id, reason="AC04")])))
    before = (DebitReturn.objects.count(), DirectDebit.objects.count(), Payment.objects.count())
    result = rec.reconcile(org, as_of=AS_OF)
    assert result.debits == 2
    assert (DebitReturn.objects.count(), DirectDebit.objects.count(), Payment.objects.count()) == before
    matched = StatementLine.objects.get(unique_key__endswith="R1")
    assert matched.status == StatementLine.MATCHED
    assert BankMatch.objects.get(line=matched).evidence["debit_return"] == DebitReturn.objects.get(debit=small).pk
    conflicting = StatementLine.objects.get(unique_key__endswith="R2")
    assert conflicting.status == StatementLine.REVIEW and "already returned with MD01" in conflicting.review.note
    assert DebitReturn.objects.get(debit=big).reason_code == "MD01"
