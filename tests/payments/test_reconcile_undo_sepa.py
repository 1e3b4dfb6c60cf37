"""Undo of the matches of SEPA direct debits the bank reported: a collection (one line per debit, or one line for a
batch) and a return. Undone, every row equals the state before the match (debits, mandate, payments, refunds,
allocations with their ids, invoices); the line waits in review. Refused, with nothing written, when a later return
used the collection or the return's re-presentation was sent since."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from duly.domain.errors import InvalidState, MatchUsedLater
from duly.invoicing.models import Invoice
from duly.payments import reconcile_services as rec
from duly.payments import return_services as returns
from duly.payments import sepa_services as sepa
from duly.payments.bank_models import StatementLine
from duly.payments.bank_services import import_statement
from duly.payments.models import DebitReturn, DirectDebit, Mandate
from duly.payments.reconcile_models import BankMatch, ReviewEntry
from duly.payments.reconcile_snapshot import awaiting_reconciliation
from duly.payments.sepa_status import payment_infos

from .test_reconcile_sepa import AS_OF, account, camt053, camt054, debits, entry, money, tx  # noqa: F401
from .test_reconcile_undo import books
from .test_sepa_debits import creditor, issue, mandate  # noqa: F401 - fixtures


def collect_each(org, found):
    """A camt.054 crediting each debit on its own line (by end-to-end id)."""
    import_statement(org, camt054(*[entry(money(d.amount_minor), d.collection_date, ref=f"C{i}",
                                          txs=[tx(money(d.amount_minor), e2e=d.end_to_end_id)])
                                    for i, d in enumerate(found)]))


def undo(org, match):
    return rec.undo(org, match.pk, reason="check", as_of=AS_OF)


def in_review(org, match):
    line = StatementLine.objects.get(pk=match.line_id)
    assert line.status == StatementLine.REVIEW
    assert f"match {match.pk} undone: check" in ReviewEntry.objects.get(line=line).note
    assert BankMatch.objects.get(pk=match.pk).undone_at is not None
    return line


def test_undo_collections_by_end_to_end_id(org, customer, account, debits):
    batch, found = debits
    collect_each(org, found)
    before = books(org)
    assert rec.reconcile(org, as_of=AS_OF).debits == 2
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.SETTLED}
    matches = list(BankMatch.objects.filter(how=BankMatch.COLLECTED))
    for match in matches:
        undo(org, match)
    assert books(org) == before
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.EXPORTED}
    for match in matches:
        in_review(org, match)
    # the money of each line counts for its customer as received, awaiting reconciliation
    total = sum(d.amount_minor for d in found)
    assert awaiting_reconciliation(org, customer_id__in=[customer.pk]) == {customer.pk: {"EUR": total}}
    # reconciling again changes nothing
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0)
    assert books(org) == before


@pytest.mark.parametrize("named", [True, False], ids=["by_payment_information_id", "by_amount_and_date"])
def test_undo_a_batch_collection(org, account, debits, named):
    batch, found = debits
    if named:  # a payment information block of the file
        (info_id, e2e_ids), = [(k, v) for k, v in payment_infos(bytes(batch.xml)).items()
                               if found[0].end_to_end_id in v]
        found = [d for d in found if d.end_to_end_id in e2e_ids]
        body = camt053(entry(money(sum(d.amount_minor for d in found)), found[0].collection_date, ref="B1",
                             batch=f"<PmtInfId>{info_id}</PmtInfId><NbOfTxs>{len(found)}</NbOfTxs>"))
    else:  # the whole file
        body = camt053(entry(money(sum(d.amount_minor for d in found)), max(d.collection_date for d in found),
                             ref="B1", text="SAMMLER"))
    import_statement(org, body)
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    match = BankMatch.objects.get(line__unique_key__endswith="B1")
    assert match.how == BankMatch.COLLECTED and len(match.evidence["payments"]) == len(found)
    assert Invoice.objects.filter(pk__in=[d.invoice_id for d in found], status=Invoice.PAID).count() == len(found)
    undo(org, match)
    assert books(org) == before
    in_review(org, match)
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0) and books(org) == before


def test_undo_a_collection_booked_before_the_line_keeps_that_booking(org, account, debits):
    batch, (small, big) = debits
    returns.record_debit_collected(small, on=small.collection_date)  # staff booked it already
    collect_each(org, [small, big])
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    for match in BankMatch.objects.filter(how=BankMatch.COLLECTED):
        undo(org, match)
    assert books(org) == before
    assert DirectDebit.objects.get(pk=small.pk).status == DirectDebit.SETTLED
    assert DirectDebit.objects.get(pk=big.pk).status == DirectDebit.EXPORTED


def _collected_then_returned(org, debit, code):
    collect_each(org, [debit])
    rec.reconcile(org, as_of=AS_OF)
    assert Invoice.objects.get(pk=debit.invoice_id).status == Invoice.PAID
    import_statement(org, camt054(entry(money(debit.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R1",
                                        txs=[tx(money(debit.amount_minor), e2e=debit.end_to_end_id, reason=code)]),
                                  ident="N2"))


def test_undo_a_soft_return_drops_its_re_presentation_and_restores_the_payment(org, customer, account, debits):
    batch, (small, big) = debits
    _collected_then_returned(org, big, "AM04")
    before = books(org)
    assert rec.reconcile(org, as_of=AS_OF).debits == 1
    ret = DebitReturn.objects.get(debit=big)
    assert ret.refund is not None and ret.retry is not None
    assert Invoice.objects.get(pk=big.invoice_id).status == Invoice.ISSUED
    match = BankMatch.objects.get(how=BankMatch.RETURNED)
    undo(org, match)
    assert books(org) == before  # allocation back with its id, refund and re-presentation gone, mandate as before
    assert Invoice.objects.get(pk=big.invoice_id).status == Invoice.PAID
    assert DirectDebit.objects.get(pk=big.pk).status == DirectDebit.SETTLED
    in_review(org, match)
    assert awaiting_reconciliation(org, customer_id__in=[customer.pk]) == {}  # outgoing money awaits nothing
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0) and books(org) == before


def test_undo_a_hard_return_unblocks_the_mandate_and_its_pending_debits(org, customer, contract, account, debits):
    batch, (small, big) = debits
    later = issue(org, customer, contract, "20", date(2026, 3, 10))
    (pending,) = [d for d in sepa.plan_debits(org, date(2026, 3, 12), horizon_days=60) if d.invoice_id == later.pk]
    assert pending.status == DirectDebit.PENDING
    _collected_then_returned(org, big, "MD01")
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    mandate = Mandate.objects.get(pk=big.mandate_id)
    assert mandate.blocked_reason == "MD01" and DirectDebit.objects.get(pk=pending.pk).status == DirectDebit.FAILED
    undo(org, BankMatch.objects.get(how=BankMatch.RETURNED))
    assert books(org) == before
    mandate.refresh_from_db()
    assert mandate.blocked_reason == "" and DirectDebit.objects.get(pk=pending.pk).status == DirectDebit.PENDING


def test_undo_a_return_of_a_debit_never_booked(org, account, debits):
    batch, (small, big) = debits
    import_statement(org, camt054(entry(money(big.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R1",
                                        txs=[tx(money(big.amount_minor), e2e=big.end_to_end_id, reason="AM04")])))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    assert DebitReturn.objects.get(debit=big).refund is None
    undo(org, BankMatch.objects.get(how=BankMatch.RETURNED))
    assert books(org) == before and DirectDebit.objects.get(pk=big.pk).status == DirectDebit.EXPORTED


def test_undo_of_a_match_to_a_return_recorded_before_keeps_that_return(org, account, debits):
    batch, (small, big) = debits
    returns.record_debit_return(big, "AM04", returned_on=date(2026, 3, 18), source="staff")
    import_statement(org, camt054(entry(money(big.amount_minor), date(2026, 3, 19), indicator="DBIT", ref="R1",
                                        txs=[tx(money(big.amount_minor), e2e=big.end_to_end_id, reason="AM04")])))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    match = BankMatch.objects.get(how=BankMatch.RETURNED)
    undo(org, match)
    assert books(org) == before and DebitReturn.objects.filter(debit=big, source="staff").exists()
    in_review(org, match)


def test_undo_of_a_collection_refused_once_the_bank_returned_it(org, account, debits):
    batch, (small, big) = debits
    _collected_then_returned(org, big, "AM04")
    rec.reconcile(org, as_of=AS_OF)
    collected = BankMatch.objects.get(how=BankMatch.COLLECTED)
    after = books(org)
    with pytest.raises(MatchUsedLater, match="a return was recorded") as err:
        undo(org, collected)
    assert err.value.code == "match_used_later" and books(org) == after
    assert BankMatch.objects.get(pk=collected.pk).undone_at is None
    assert StatementLine.objects.get(pk=collected.line_id).status == StatementLine.MATCHED


def test_undo_of_a_return_refused_once_its_re_presentation_was_exported(org, account, debits):
    batch, (small, big) = debits
    _collected_then_returned(org, big, "AM04")
    rec.reconcile(org, as_of=AS_OF)
    retry = DebitReturn.objects.get(debit=big).retry
    sepa.export_debits(org, retry.collection_date)
    assert DirectDebit.objects.get(pk=retry.pk).status == DirectDebit.EXPORTED
    match = BankMatch.objects.get(how=BankMatch.RETURNED)
    after = books(org)
    with pytest.raises(MatchUsedLater, match="sent to the bank") as err:
        undo(org, match)
    assert err.value.code == "match_changed_since" and books(org) == after


def test_a_sepa_match_made_without_its_earlier_state_is_refused_clearly(org, account, debits):
    batch, found = debits
    collect_each(org, found[:1])
    rec.reconcile(org, as_of=AS_OF)
    match = BankMatch.objects.get(how=BankMatch.COLLECTED)
    match.evidence.pop("undo")  # a match recorded before the earlier state was kept
    match.save(update_fields=["evidence"])
    after = books(org)
    with pytest.raises(InvalidState) as err:
        undo(org, match)
    assert err.value.code == "match_not_undoable" and books(org) == after


def test_cli_and_back_office_undo_sepa_matches(bookkeeper, org, account, debits):
    from django.urls import reverse

    from duly.cli import main

    batch, found = debits
    collect_each(org, found)
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    first, second = BankMatch.objects.filter(how=BankMatch.COLLECTED).order_by("pk")
    out = CliRunner().invoke(main, ["bank", "review", "--org", org.slug, "undo", str(first.pk)])
    assert out.exit_code == 0, out.output
    bookkeeper.post(reverse("admin:payments_bankmatch_changelist"),
                    {"action": "undo_matches", "_selected_action": [second.pk]})
    assert BankMatch.objects.get(pk=second.pk).undone_at is not None
    assert books(org) == before
