"""Reconciliation end to end: imported lines matched, the sure ones paid, the rest in review, every match undoable."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from duly.domain.errors import LineAlreadyMatched, MatchUsedLater, ValidationError
from duly.domain.references import format_rf
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.models import Message
from duly.payments import reconcile_services as rec
from duly.payments import services
from duly.payments.bank_models import StatementLine
from duly.payments.bank_services import add_bank_account, import_statement
from duly.payments.models import Allocation, CreditEntry, Payment
from duly.payments.reconcile_models import BankMatch, ReviewEntry
from duly.payments.reconcile_snapshot import awaiting_reconciliation

L = inv.LineData
ACCOUNT = "DE89370400440532013000"
PAYER_IBAN = "FR1420041010050500013M02606"
MAPPING = {"booking_date": "Date", "amount": "Amount", "counterparty_name": "Payer", "counterparty_iban": "IBAN",
           "remittance": "Text", "reference": "Ref", "currency": "Currency", "date_format": "%Y-%m-%d"}
AS_OF = date(2026, 3, 31)


def issue(org, customer, contract, amount, on=date(2026, 2, 1)):
    draft = inv.create_draft(org, customer, [L("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def statement(org, *rows):
    """Import a CSV statement: rows of (amount, payer, iban, text, ref)."""
    body = "Date,Amount,Payer,IBAN,Text,Ref,Currency\n" + "".join(
        f"2026-03-{10 + i:02d},{amount},{payer},{iban},{text},{ref},EUR\n"
        for i, (amount, payer, iban, text, ref) in enumerate(rows))
    import_statement(org, body.encode(), account=ACCOUNT)
    return list(StatementLine.objects.filter(organization=org).order_by("booking_date", "id"))


@pytest.fixture
def account(org):
    return add_bank_account(org, iban=ACCOUNT, currency="EUR", csv_mapping=MAPPING)


def test_a_line_quoting_the_rf_reference_pays_the_invoice_once_with_its_evidence(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    (line,) = statement(org, (str(invoice.total), customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review, result.outgoing) == (1, 0, 0)
    invoice.refresh_from_db()
    line.refresh_from_db()
    assert invoice.status == Invoice.PAID and line.status == StatementLine.MATCHED
    match = BankMatch.objects.get(line=line)
    assert match.how == BankMatch.AUTO and match.rule == "rf_reference" and match.score == 100
    assert match.payment.external_reference == f"bank-line:{line.pk}" and match.payment.method == "bank_transfer"
    # the payments service ran: collections heard of it (its thank-you goes through the outbox)
    assert Payment.objects.filter(organization=org).count() == 1
    # a second run changes nothing
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0)
    with pytest.raises(LineAlreadyMatched):
        rec.accept(org, line.pk, as_of=AS_OF)


def test_unsure_lines_wait_in_review_and_outgoing_lines_are_set_aside(org, customer, contract, account):
    invoice = issue(org, customer, contract, "80.00")
    lines = statement(org, ("80.00", "Someone Else", "", "no reference", ""),
                      ("-9.90", "", "", "Kontoführungsgebühr", ""))
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review, result.outgoing) == (0, 1, 1)
    first, fee = (StatementLine.objects.get(pk=ln.pk) for ln in lines)
    assert first.status == StatementLine.REVIEW and fee.status == StatementLine.IGNORED
    assert ReviewEntry.objects.get(line=fee).category == "bank_fee"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED


def test_review_accept_split_credit_ignore_and_reject(org, customer, contract, account):
    a = issue(org, customer, contract, "100.00")
    b = issue(org, customer, contract, "50.00")
    lines = statement(org, ("100.00", customer.name, "", "", ""),        # name + amount: equal name, 91
                      ("150.00", "Unknown payer", "", "for both", ""),
                      ("30.00", "Unknown payer", "", "", ""),
                      ("12.00", "Tax office", "", "refund 2025", ""))
    rec.reconcile(org, as_of=AS_OF)
    by_status = dict(StatementLine.objects.filter(organization=org).values_list("pk", "status"))
    first = lines[0]
    if by_status[first.pk] == StatementLine.REVIEW:
        rec.accept(org, first.pk, as_of=AS_OF)
    a.refresh_from_db()
    assert a.status == Invoice.PAID
    with pytest.raises(ValidationError, match="more than the line"):
        rec.split(org, lines[1].pk, customer_id=customer.pk, amounts={b.pk: "200.00"}, as_of=AS_OF)
    rec.split(org, lines[1].pk, customer_id=customer.pk, amounts={b.pk: "50.00"}, as_of=AS_OF)
    b.refresh_from_db()
    assert b.status == Invoice.PAID and services.credit_balance_minor(customer, "EUR") == 10_000
    rec.assign_credit(org, lines[2].pk, customer_id=customer.pk, as_of=AS_OF)
    assert services.credit_balance_minor(customer, "EUR") == 13_000
    with pytest.raises(ValidationError, match="why"):
        rec.ignore(org, lines[3].pk, reason=" ")
    rec.ignore(org, lines[3].pk, reason="tax refund, not a customer")
    assert StatementLine.objects.get(pk=lines[3].pk).status == StatementLine.IGNORED


def test_undo_restores_every_allocation_exactly(org, customer, contract, account):
    a = issue(org, customer, contract, "100.00")
    b = issue(org, customer, contract, "60.00")
    partial = services.record_payment(org, customer, amount="10.00", currency="EUR", method="cash",
                                      received_on=date(2026, 2, 5), allocations={b.pk: "10.00"})
    before = {inv.pk: (inv.status, inv.paid_minor, inv.paid_on) for inv in Invoice.objects.filter(organization=org)}
    text = f"{a.number} {b.number}"
    (line,) = statement(org, ("150.00", customer.name, PAYER_IBAN, text, ""))
    rec.reconcile(org, as_of=AS_OF)
    line.refresh_from_db()
    # b has an allocation made by hand: never applied automatically
    assert line.status == StatementLine.REVIEW
    assert "hand_allocation" in ReviewEntry.objects.get(line=line).proposals[0]["blockers"]
    match = rec.accept(org, line.pk, as_of=AS_OF)
    assert {inv.status for inv in Invoice.objects.filter(pk__in=[a.pk, b.pk])} == {Invoice.PAID}
    rec.undo(org, match.pk, reason="wrong customer", as_of=AS_OF)
    after = {inv.pk: (inv.status, inv.paid_minor, inv.paid_on) for inv in Invoice.objects.filter(organization=org)}
    assert after == before
    assert list(Allocation.objects.filter(payment=partial).values_list("invoice_id", "amount_minor")) == [(b.pk, 1000)]
    line.refresh_from_db()
    assert line.status == StatementLine.REVIEW and not Payment.objects.filter(external_reference__startswith="bank")
    assert BankMatch.objects.get(pk=match.pk).undone_at is not None
    # and it can be matched again
    rec.accept(org, line.pk, as_of=AS_OF)


def test_undo_refused_when_a_later_refund_used_the_allocation(org, customer, contract, account):
    invoice = issue(org, customer, contract, "70.00")
    (line,) = statement(org, ("70.00", customer.name, "", format_rf(invoice.rf_reference), ""))
    rec.reconcile(org, as_of=AS_OF)
    match = BankMatch.objects.get(line__pk=line.pk)
    services.refund_payment(org, match.payment_id, amount="20", refunded_on=AS_OF, reason="Goodwill")
    with pytest.raises(MatchUsedLater, match="refund"):
        rec.undo(org, match.pk, reason="oops", as_of=AS_OF)
    assert BankMatch.objects.get(pk=match.pk).undone_at is None


def test_money_in_review_is_not_chased(org, customer, contract, account):
    issue(org, customer, contract, "40.00")
    statement(org, ("39.00", customer.name, "", "", ""))  # name fits, amount does not: review, as credit
    rec.reconcile(org, as_of=AS_OF)
    assert awaiting_reconciliation(org, customer_id__in=[customer.pk]) == {customer.pk: {"EUR": 3900}}
    from duly.collections.receipts import pending_receipts

    assert pending_receipts(org, customer_id__in=[customer.pk])[customer.pk]["EUR"] == Decimal("39.00")


def test_cli_bank_review_lists_and_accepts(org, customer, contract, account):
    from duly.cli import main

    invoice = issue(org, customer, contract, "25.00")
    (line,) = statement(org, ("25.00", "A. Person", "", f"inv {invoice.number} maybe", ""))
    rec.reconcile(org, as_of=date(2026, 3, 1))  # booked after as_of: never automatic
    runner = CliRunner()
    listed = runner.invoke(main, ["bank", "review", "--org", org.slug])
    assert listed.exit_code == 0, listed.output
    assert str(line.pk) in listed.output and invoice.number in listed.output
    accepted = runner.invoke(main, ["bank", "review", "--org", org.slug, "accept", str(line.pk)])
    assert accepted.exit_code == 0, accepted.output
    again = runner.invoke(main, ["bank", "review", "--org", org.slug, "accept", str(line.pk)])
    assert again.exit_code != 0 and "already matched" in again.output


def test_back_office_review_queue_accepts_and_undoes(bookkeeper, org, customer, contract, account):
    from django.urls import reverse

    invoice = issue(org, customer, contract, "33.00")
    (line,) = statement(org, (str(invoice.total), "A. Person", "", f"Rechnung {invoice.number}", ""))
    rec.reconcile(org, as_of=date(2026, 3, 1))  # booked after as_of: waits in review
    entry = ReviewEntry.objects.get(line=line)
    page = bookkeeper.get(reverse("admin:payments_reviewentry_changelist")).content.decode()
    assert "A. Person" in page and "invoice_number" in page
    bookkeeper.post(reverse("admin:payments_reviewentry_changelist"),
                    {"action": "accept_best", "_selected_action": [entry.pk]})
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID
    match = BankMatch.objects.get(line=line, undone_at__isnull=True)
    bookkeeper.post(reverse("admin:payments_bankmatch_changelist"),
                    {"action": "undo_matches", "_selected_action": [match.pk]})
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.paid_minor == 0
    assert StatementLine.objects.get(pk=line.pk).status == StatementLine.REVIEW


def test_a_line_whose_payment_is_already_recorded_gets_no_second_payment(org, customer, contract, account):
    invoice = issue(org, customer, contract, "45.00")
    (line,) = statement(org, (str(invoice.total), customer.name, "", invoice.number, ""))
    # each line is one transaction (a crash leaves nothing half done); here the payment was already recorded under
    # the line's reference, by hand, before the run
    services.record_payment(org, customer, amount=str(invoice.total), currency="EUR", method="bank_transfer",
                            received_on=date(2026, 3, 10), external_reference=f"bank-line:{line.pk}",
                            allocations={invoice.pk: str(invoice.total)})
    result = rec.reconcile(org, as_of=AS_OF)
    # the snapshot sees the invoice the line names paid already: a person confirms, nothing is paid twice
    assert result.review == 1 and Payment.objects.filter(organization=org).count() == 1
    line.refresh_from_db()
    assert line.status == StatementLine.REVIEW
    assert "invoice_paid" in ReviewEntry.objects.get(line=line).proposals[0]["blockers"]
    match = rec.accept(org, line.pk, as_of=AS_OF)  # the match links the payment already recorded
    assert Payment.objects.filter(organization=org).count() == 1 and match.payment.external_reference.endswith(
        str(line.pk))


def test_cli_reconcile_with_a_stricter_score_sends_everything_to_review(org, customer, contract, account):
    from duly.cli import main

    invoice = issue(org, customer, contract, "64.00")
    statement(org, (str(invoice.total), customer.name, "", invoice.rf_reference, ""))
    out = CliRunner().invoke(main, ["bank", "reconcile", "--org", org.slug, "--as-of", "2026-03-31",
                                    "--auto-score", "101"])
    assert out.exit_code == 0, out.output
    assert "0 matched automatically, 1 sent to review" in out.output


def test_back_office_splits_a_line_and_assigns_another_as_credit(bookkeeper, org, customer, contract, account):
    from django.urls import reverse

    a = issue(org, customer, contract, "20.00")
    split_line, credit_line = statement(org, ("50.00", "Nobody", "", "misc", ""), ("7.00", "Nobody", "", "", ""))
    rec.reconcile(org, as_of=AS_OF)
    entry = ReviewEntry.objects.get(line=split_line)
    url = reverse("admin:payments_reviewentry_settle", args=[entry.pk])
    assert "Split or credit line" in bookkeeper.get(url).content.decode()
    bad = bookkeeper.post(url, {"customer": customer.pk, "pays": "twenty"})
    assert "INVOICE_ID=AMOUNT" in bad.content.decode() and not BankMatch.objects.exists()
    bookkeeper.post(url, {"customer": customer.pk, "pays": f"{a.pk}={a.total}"})
    a.refresh_from_db()
    assert a.status == Invoice.PAID
    credit_entry = ReviewEntry.objects.get(line=credit_line)
    bookkeeper.post(reverse("admin:payments_reviewentry_settle", args=[credit_entry.pk]),
                    {"customer": customer.pk, "pays": ""})
    assert BankMatch.objects.get(line=credit_line).how == BankMatch.CREDIT


def test_a_foreign_currency_line_pays_the_invoice_in_its_own_currency(org, customer, contract, account):
    draft = inv.create_draft(org, customer, [L("Service", Decimal(1), Decimal("200.00"))], currency="USD")
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 2, 1))
    (line,) = statement(org, ("185.00", customer.name, "", f"Payment {invoice.number}", ""))
    # the bank booked 185.00 EUR for a payment instructed in USD (camt AmtDtls / CcyXchg)
    StatementLine.objects.filter(pk=line.pk).update(original_currency="USD", original_amount_minor=invoice.total_minor,
                                                    exchange_rate=Decimal("0.925"))
    assert rec.reconcile(org, as_of=AS_OF).matched == 1
    invoice.refresh_from_db()
    match = BankMatch.objects.get(line__pk=line.pk)
    assert invoice.status == Invoice.PAID and match.payment.currency == "USD"
    assert match.payment.amount_minor == invoice.total_minor
    assert any(rule == "foreign_currency" for rule, _, _ in match.evidence["evidence"])
