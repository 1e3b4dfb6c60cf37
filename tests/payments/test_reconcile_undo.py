"""Undo of every kind of automatic match: applied by reconciliation, undone, and every row it touched (allocations,
payments, credit, refunds, invoices' settled amounts and statuses, direct debits, mandates) equals the state before;
the line is back in review, counted as money awaiting reconciliation, and can be matched again. The refusals the
issue asks for (a later refund, credit drawn since, a match undone twice) write nothing."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from duly.domain.errors import LineAlreadyMatched, MatchUsedLater
from duly.domain.matching import MatchPolicy, ShortPaymentAction
from duly.invoicing.models import Invoice, WriteOffReversal
from duly.payments import reconcile_services as rec
from duly.payments import services
from duly.payments.bank_models import StatementLine
from duly.payments.models import (
    Allocation,
    CreditEntry,
    DebitReturn,
    DirectDebit,
    Mandate,
    Payment,
    Refund,
    RefundedAllocation,
)
from duly.payments.reconcile_models import BankMatch, ReviewEntry
from duly.payments.reconcile_snapshot import awaiting_reconciliation

from .test_reconcile import AS_OF, PAYER_IBAN, account, issue, statement  # noqa: F401 - fixtures

WRITE_OFF = MatchPolicy(short_tolerance_minor=500, short_payment=ShortPaymentAction.WRITE_OFF)
LEAVE_OPEN = MatchPolicy(short_tolerance_minor=500, short_payment=ShortPaymentAction.LEAVE_OPEN)
BOOKS = (Allocation, Payment, CreditEntry, Refund, RefundedAllocation, DirectDebit, DebitReturn, Mandate)
INVOICE_STATE = ("id", "status", "paid_minor", "paid_on", "void_reason", "voided_at", "prepaid_minor")


def books(org) -> dict:
    """Every row of the books an undo must restore, whole (ids included)."""
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in BOOKS}
    rows["Invoice"] = list(Invoice.objects.filter(organization=org).order_by("pk").values(*INVOICE_STATE))
    return rows


def undo_all(org, matches) -> None:
    for match in matches:
        rec.undo(org, match.pk, reason="check", as_of=AS_OF)


def assert_back_in_review(org, lines, matches) -> None:
    for line in lines:
        line.refresh_from_db()
        assert line.status == StatementLine.REVIEW
        assert "undone: check" in ReviewEntry.objects.get(line=line).note
    for match in matches:
        match.refresh_from_db()
        assert match.undone_at is not None and match.payment_id is None and match.undo_reason == "check"


def run_and_undo(org, lines, *, policy=rec.DEFAULT_POLICY, rule=None, before=None):
    """Reconcile (every line matched automatically), undo each match, check the books are as before; returns the
    matches."""
    before = before if before is not None else books(org)
    result = rec.reconcile(org, as_of=AS_OF, policy=policy)
    assert (result.matched, result.review) == (len(lines), 0)
    matches = list(BankMatch.objects.filter(line__in=lines, undone_at__isnull=True).order_by("pk"))
    assert len(matches) == len(lines) and {m.how for m in matches} == {BankMatch.AUTO}
    if rule is not None:
        assert {m.rule for m in matches} == {rule}
    assert books(org) != before
    undo_all(org, reversed(matches))
    assert books(org) == before
    assert_back_in_review(org, lines, matches)
    # reconciling again changes nothing: the lines wait in review
    assert rec.reconcile(org, as_of=AS_OF, policy=policy) == rec.ReconcileResult(0, 0, 0)
    assert books(org) == before
    return matches


def test_undo_an_rf_reference_match(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("120.00", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    run_and_undo(org, lines, rule="rf_reference")
    # the money counts as received, awaiting reconciliation, so nobody is chased for it
    assert awaiting_reconciliation(org, customer_id__in=[customer.pk]) == {customer.pk: {"EUR": 12_000}}
    # and the line can be matched again, once
    match = rec.accept(org, lines[0].pk, as_of=AS_OF)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID and match.payment.amount_minor == 12_000
    assert awaiting_reconciliation(org, customer_id__in=[customer.pk]) == {}


def test_undo_an_invoice_number_match(org, customer, contract, account):
    invoice = issue(org, customer, contract, "80.00")
    lines = statement(org, ("80.00", "Someone", "", f"Rechnung {invoice.number}", ""))
    run_and_undo(org, lines, rule="invoice_number")


def test_undo_a_payer_iban_match(org, customer, contract, account):
    first = issue(org, customer, contract, "50.00")
    second = issue(org, customer, contract, "64.00", on=date(2026, 2, 3))
    statement(org, ("50.00", customer.name, PAYER_IBAN, first.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF)  # the IBAN is learned from this match
    assert Invoice.objects.get(pk=first.pk).status == Invoice.PAID
    before = books(org)
    new = statement(org, ("64.00", "M DUPONT", PAYER_IBAN, "facture", ""))[-1:]
    run_and_undo(org, new, rule="payer_iban", before=before)
    assert Invoice.objects.get(pk=second.pk).status == Invoice.ISSUED


def test_undo_a_line_paying_several_invoices(org, customer, contract, account):
    a = issue(org, customer, contract, "100.00")
    b = issue(org, customer, contract, "60.00", on=date(2026, 2, 2))
    issue(org, customer, contract, "35.00", on=date(2026, 2, 3))
    lines = statement(org, ("160.00", customer.name, PAYER_IBAN, f"{a.number} {b.number}", ""))
    (match,) = run_and_undo(org, lines)
    assert sorted(iid for iid, _ in match.evidence["allocations"]) == [a.pk, b.pk]


def test_undo_instalments(org, customer, contract, account):
    invoice = issue(org, customer, contract, "300.00")
    lines = statement(org, ("100.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""),
                      ("200.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    first, second = BankMatch.objects.filter(line__in=lines).order_by("line__booking_date")
    # the first instalment is undone while the second stays: the invoice keeps exactly the second
    rec.undo(org, first.pk, reason="check", as_of=AS_OF)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PARTIALLY_PAID and invoice.paid_minor == 20_000
    rec.undo(org, second.pk, reason="check", as_of=AS_OF)
    assert books(org) == before
    assert_back_in_review(org, lines, [first, second])


def test_undo_an_overpayment_kept_as_credit(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("150.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF)
    assert services.credit_balance_minor(customer, "EUR") == 3_000
    undo_all(org, BankMatch.objects.filter(line__in=lines))
    assert books(org) == before and services.credit_balance_minor(customer, "EUR") == 0


def test_undo_a_short_payment_written_off_reopens_the_invoice_with_its_open_amount(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("117.50", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF)
    invoice.refresh_from_db()
    written_off_at, write_off_reason = invoice.voided_at, invoice.void_reason
    assert invoice.status == Invoice.UNCOLLECTIBLE and written_off_at is not None
    (match,) = BankMatch.objects.filter(line__in=lines)
    rec.undo(org, match.pk, reason="check", as_of=AS_OF)
    assert books(org) == before
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == 12_000 and invoice.is_open
    # the reversal is audited: when and why it had been written off, and why it reopened
    audit = WriteOffReversal.objects.get(invoice=invoice)
    assert (audit.written_off_at, audit.write_off_reason) == (written_off_at, write_off_reason)
    assert audit.reason == f"bank match {match.pk} undone: check" and audit.status_after == Invoice.PARTIALLY_PAID
    assert audit.paid_minor == 11_750
    assert_back_in_review(org, lines, [match])
    # the proposal is offered again, with its write-off, and accepting it writes the rest off once more
    assert ReviewEntry.objects.get(line=lines[0]).proposals[0]["write_off_minor"] == 250
    rec.accept(org, lines[0].pk, as_of=AS_OF)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.UNCOLLECTIBLE and invoice.paid_minor == 11_750


def test_undo_a_short_payment_left_open(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("117.50", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    (match,) = run_and_undo(org, lines, policy=LEAVE_OPEN)
    assert "written_off" not in match.evidence and not WriteOffReversal.objects.exists()


def test_undo_twice_is_refused_with_a_stable_code(org, customer, contract, account):
    invoice = issue(org, customer, contract, "70.00")
    lines = statement(org, ("70.00", customer.name, "", invoice.rf_reference, ""))
    (match,) = run_and_undo(org, lines)
    after = books(org)
    with pytest.raises(LineAlreadyMatched) as err:
        rec.undo(org, match.pk, reason="again", as_of=AS_OF)
    assert err.value.code == "match_already_undone" and books(org) == after


def test_undo_of_a_write_off_refused_when_a_refund_used_the_payment(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("117.50", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF)
    (match,) = BankMatch.objects.filter(line__in=lines)
    services.refund_payment(org, match.payment_id, amount="10", refunded_on=AS_OF, reason="Goodwill")
    after = books(org)
    with pytest.raises(MatchUsedLater, match="refunded since") as err:
        rec.undo(org, match.pk, reason="oops", as_of=AS_OF)
    assert err.value.code == "match_used_later" and books(org) == after
    assert BankMatch.objects.get(pk=match.pk).undone_at is None and not WriteOffReversal.objects.exists()
    assert StatementLine.objects.get(pk=lines[0].pk).status == StatementLine.MATCHED


def test_undo_refused_when_its_credit_was_drawn_on_another_invoice(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    lines = statement(org, ("150.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF)
    (match,) = BankMatch.objects.filter(line__in=lines)
    later = issue(org, customer, contract, "20.00", on=date(2026, 3, 20))  # issuing applies the customer's credit
    assert Invoice.objects.get(pk=later.pk).status == Invoice.PAID
    after = books(org)
    with pytest.raises(MatchUsedLater, match="credit was applied") as err:
        rec.undo(org, match.pk, reason="oops", as_of=AS_OF)
    assert err.value.code == "match_used_later" and books(org) == after


def test_cli_undoes_a_write_off_match(org, customer, contract, account):
    from duly.cli import main

    invoice = issue(org, customer, contract, "80.00")
    lines = statement(org, ("79.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    before = books(org)
    rec.reconcile(org, as_of=AS_OF, policy=MatchPolicy(short_tolerance_minor=200,
                                                         short_payment=ShortPaymentAction.WRITE_OFF))
    (match,) = BankMatch.objects.filter(line__in=lines)
    runner = CliRunner()
    out = runner.invoke(main, ["bank", "review", "--org", org.slug, "undo", str(match.pk), "--as-of",
                               AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    assert f"match {match.pk} undone" in out.output and books(org) == before
    again = runner.invoke(main, ["bank", "review", "--org", org.slug, "undo", str(match.pk)])
    assert again.exit_code == 2 and "[match_already_undone]" in again.output


def test_collections_chase_an_invoice_an_undo_reopened_and_count_the_line_as_awaiting(org, customer, contract,
                                                                                       account):
    from datetime import datetime, timezone
    from decimal import Decimal

    from duly.collections import snapshots

    def seen():
        (acct,) = snapshots.gather(snapshots.RunContext.load(org), [customer.pk],
                                   datetime(2026, 4, 2, 9, tzinfo=timezone.utc))
        return {item.invoice_id: item.open_amount for item in acct.snapshot.open_items}, dict(
            acct.snapshot.unreconciled_credits)

    invoice = issue(org, customer, contract, "120.00")
    assert seen() == ({invoice.pk: Decimal("120.00")}, {})
    lines = statement(org, ("117.50", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF)
    assert seen() == ({}, {})  # written off: nobody chases it
    undo_all(org, BankMatch.objects.filter(line__in=lines))
    # open again as before, and the line's money, back in review, is received and awaiting reconciliation
    assert seen() == ({invoice.pk: Decimal("120.00")}, {"EUR": Decimal("117.50")})

