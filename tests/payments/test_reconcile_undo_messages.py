"""Undoing a bank match recalls what it made Duly queue for the customer and has not gone out yet: the thank-you
(with its receipt) of the payment taken back, the request for a new mandate of a SEPA return taken back. A message
already sent stays sent; matching the line again thanks the customer again (a new payment, a new message)."""

from __future__ import annotations

from duly.messaging.models import Message
from duly.payments import reconcile_services as rec
from duly.payments.bank_services import add_bank_account
from duly.payments.models import DebitReturn
from duly.payments.reconcile_models import BankMatch

from .test_reconcile import AS_OF, PAYER_IBAN, account, issue, statement  # noqa: F401 - fixtures
from .test_reconcile_sepa import ACCOUNT as SEPA_ACCOUNT
from .test_reconcile_sepa import debits  # noqa: F401 - fixtures
from .test_reconcile_undo_sepa import _collected_then_returned
from .test_sepa_debits import creditor, mandate  # noqa: F401 - fixtures


def thank_yous(org):
    return list(Message.objects.filter(organization=org, template="thank_you").order_by("pk"))


def test_undo_recalls_the_thank_you_still_in_the_outbox(org, customer, contract, account):
    invoice = issue(org, customer, contract, "120.00")
    (line,) = statement(org, ("120.00", customer.name, PAYER_IBAN, f"thanks {invoice.rf_reference}", ""))
    rec.reconcile(org, as_of=AS_OF)
    match = BankMatch.objects.get(line=line)
    (queued,) = thank_yous(org)
    assert queued.status == Message.QUEUED and queued.idempotency_key == f"thank-you:{match.payment_id}"
    assert queued.attachments  # the receipt goes with it

    rec.undo(org, match.pk, reason="wrong customer", as_of=AS_OF)
    queued.refresh_from_db()
    assert queued.status == Message.CANCELLED and queued.cancelled_at is not None
    assert "bank match it followed was undone (wrong customer)" in queued.cancel_reason
    # matched again (accepted from review): a new payment, thanked once more
    rec.accept(org, line.pk, as_of=AS_OF)
    first, again = thank_yous(org)
    assert first.pk == queued.pk and again.status == Message.QUEUED
    assert again.idempotency_key == f"thank-you:{BankMatch.objects.get(line=line, undone_at=None).payment_id}"


def test_undo_leaves_a_thank_you_already_sent_as_sent(org, customer, contract, account):
    invoice = issue(org, customer, contract, "80.00")
    (line,) = statement(org, ("80.00", customer.name, PAYER_IBAN, invoice.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF)
    (sent,) = thank_yous(org)
    Message.objects.filter(pk=sent.pk).update(status=Message.SENT)  # the outbox worker sent it
    rec.undo(org, BankMatch.objects.get(line=line).pk, reason="check", as_of=AS_OF)
    sent.refresh_from_db()
    assert sent.status == Message.SENT and sent.cancelled_at is None and not sent.cancel_reason


def test_undo_recalls_only_the_messages_of_its_own_match(org, customer, contract, account):
    first, second = issue(org, customer, contract, "30.00"), issue(org, customer, contract, "45.00")
    lines = statement(org, ("30.00", customer.name, PAYER_IBAN, first.rf_reference, ""),
                      ("45.00", customer.name, PAYER_IBAN, second.rf_reference, ""))
    rec.reconcile(org, as_of=AS_OF)
    undone, kept = (BankMatch.objects.get(line=ln) for ln in lines)  # read before the undo forgets the payment
    rec.undo(org, undone.pk, reason="check", as_of=AS_OF)
    status = {m.idempotency_key: m.status for m in thank_yous(org)}
    assert status == {f"thank-you:{undone.payment_id}": Message.CANCELLED,
                      f"thank-you:{kept.payment_id}": Message.QUEUED}


def test_undo_of_a_sepa_return_recalls_the_request_for_a_new_mandate(org, customer, debits):
    add_bank_account(org, iban=SEPA_ACCOUNT, currency="EUR")  # the account the creditor's camt files are for
    batch, (small, big) = debits
    _collected_then_returned(org, big, "MD01")  # mandate cancelled by the debtor: the customer must act
    rec.reconcile(org, as_of=AS_OF)
    ret = DebitReturn.objects.get(debit=big)
    asked = Message.objects.get(organization=org, idempotency_key=f"sepa-new_method:{ret.pk}")
    assert asked.status == Message.QUEUED
    rec.undo(org, BankMatch.objects.get(how=BankMatch.RETURNED).pk, reason="bank error", as_of=AS_OF)
    asked.refresh_from_db()
    assert asked.status == Message.CANCELLED and asked.cancelled_at is not None
    assert "(bank error)" in asked.cancel_reason
