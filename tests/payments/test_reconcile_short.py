"""Short payments within the tolerance (a bank kept its fee): written off or left open, as the policy says."""

from __future__ import annotations


from click.testing import CliRunner

from duly.domain.matching import MatchPolicy, ShortPaymentAction
from duly.invoicing.models import Invoice
from duly.payments import reconcile_services as rec
from duly.payments.bank_models import StatementLine
from duly.payments.reconcile_models import BankMatch

from .test_reconcile import AS_OF, PAYER_IBAN, account, issue, statement  # noqa: F401 - fixtures

WRITE_OFF = MatchPolicy(short_tolerance_minor=500, short_payment=ShortPaymentAction.WRITE_OFF)
LEAVE_OPEN = MatchPolicy(short_tolerance_minor=500, short_payment=ShortPaymentAction.LEAVE_OPEN)


def rows(org):
    return sorted(Invoice.objects.filter(organization=org).values_list("pk", "status", "paid_minor", "void_reason"))


def test_write_off_policy_writes_the_bank_fee_off_and_the_invoice_is_not_chased(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    (line,) = statement(org, ("117.50", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    result = rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF)
    assert (result.matched, result.review) == (1, 0)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.UNCOLLECTIBLE and invoice.paid_minor == 11_750
    assert "Short payment written off: 2.50 EUR" in invoice.void_reason and f"bank line {line.pk}" in invoice.void_reason
    assert not invoice.is_open
    match = BankMatch.objects.get(line=line)
    assert match.evidence["written_off"] == [[invoice.pk, 250]] and match.evidence["write_off_minor"] == 250
    assert match.payment.amount_minor == 11_750
    # reconciling again changes nothing; undoing the match (a deliberate act of staff) reverses the write-off too
    # (tests/payments/test_reconcile_undo.py checks every row)
    before = rows(org)
    assert rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF) == rec.ReconcileResult(0, 0, 0)
    assert rows(org) == before
    rec.undo(org, match.pk, reason="wrong", as_of=AS_OF)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == 12_000 and invoice.void_reason == ""
    assert StatementLine.objects.get(pk=line.pk).status == StatementLine.REVIEW


def test_leave_open_policy_leaves_the_shortfall_open_and_undo_restores_it(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    before = rows(org)
    (line,) = statement(org, ("117.50", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    assert rec.reconcile(org, as_of=AS_OF, policy=LEAVE_OPEN).matched == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PARTIALLY_PAID and invoice.balance_minor == 250
    match = BankMatch.objects.get(line=line)
    assert "written_off" not in match.evidence
    rec.undo(org, match.pk, reason="check", as_of=AS_OF)
    assert rows(org) == before


def test_a_shortfall_beyond_the_tolerance_is_a_partial_payment_whatever_the_policy(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    statement(org, ("110.00", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    rec.reconcile(org, as_of=AS_OF, policy=WRITE_OFF)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PARTIALLY_PAID and invoice.balance_minor == 1_000


def test_cli_reconcile_writes_short_payments_off_when_asked(org, customer, contract, account):
    from duly.cli import main

    invoice = issue(org, customer, contract, "80.00")
    statement(org, ("79.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    out = CliRunner().invoke(main, ["bank", "reconcile", "--org", org.slug, "--as-of", AS_OF.isoformat(),
                                    "--short-tolerance", "2.00", "--short-payment", "write_off"])
    assert out.exit_code == 0, out.output
    assert "1 matched automatically" in out.output
    invoice.refresh_from_db()
    assert invoice.status == Invoice.UNCOLLECTIBLE and invoice.paid_minor == 7_900
