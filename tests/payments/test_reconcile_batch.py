"""Sure matches applied in bulk keep every guarantee of the one-by-one path: the same payments, allocations,
thank-you messages, matches and evidence; a rerun adds nothing; each match undoes exactly; a line whose invoice
changed since the snapshot, or whose reference was recorded before, is handled one by one."""

from __future__ import annotations

import pytest

from duly.invoicing.models import Invoice
from duly.messaging.models import Message
from duly.payments import reconcile_services as rec
from duly.payments import services
from duly.payments.bank_models import StatementLine
from duly.payments.models import Allocation, Payment
from duly.payments.reconcile_models import BankMatch, ReviewEntry

from .test_reconcile import AS_OF, PAYER_IBAN, account, issue, statement  # noqa: F401 - fixtures


def outcome(org):
    payments = sorted((p.external_reference, p.customer_id, p.amount_minor, p.method, p.received_on, p.note)
                      for p in Payment.objects.filter(organization=org))
    allocations = sorted(Allocation.objects.filter(invoice__organization=org)
                         .values_list("payment__external_reference", "invoice_id", "amount_minor", "applied_on"))
    invoices = sorted(Invoice.objects.filter(organization=org).values_list("pk", "status", "paid_minor", "paid_on"))
    matches = sorted((m.line_id, m.payment.external_reference, m.customer_id, m.how, m.score, m.rule, m.evidence)
                     for m in BankMatch.objects.filter(organization=org))
    thanks = sorted(Message.objects.filter(organization=org, template="thank_you").values_list("idempotency_key",
                                                                                              flat=True))
    lines = sorted(StatementLine.objects.filter(organization=org).values_list("pk", "status"))
    return payments, allocations, invoices, matches, [k.split(":")[0] for k in thanks], lines


def scenario(org, customer, contract, make_customer):
    other = make_customer("BETA", name="Beta Logistik GmbH")
    a = issue(org, customer, contract, "120.00")
    b = issue(org, customer, contract, "80.00")
    c = issue(org, other, None, "45.50")
    statement(org, ("120.00", customer.name, PAYER_IBAN, f"thanks {a.rf_reference}", ""),
              ("80.00", customer.name, PAYER_IBAN, f"invoice {b.number}", ""),
              ("45.50", other.name, "", c.rf_reference, ""),
              ("30.00", "Someone", "", "no idea", ""))
    return a, b, c


@pytest.mark.parametrize("batch", [True, False])
def test_bulk_and_one_by_one_give_the_same_books(org, customer, contract, make_customer, account, monkeypatch,
                                                 batch):
    a, b, c = scenario(org, customer, contract, make_customer)
    if not batch:  # the one-by-one path (record_payment per line) as the reference
        monkeypatch.setattr(rec, "_simple", lambda row, result: False)
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review) == (3, 1)
    payments, allocations, invoices, matches, thanks, lines = books = outcome(org)
    lines_by_text = {ln.remittance_unstructured: ln for ln in StatementLine.objects.filter(organization=org)}
    paid = {inv.pk: lines_by_text[text] for inv, text in ((a, f"thanks {a.rf_reference}"),
                                                         (b, f"invoice {b.number}"), (c, c.rf_reference))}
    assert [(ref, amount, method) for ref, _, amount, method, _, _ in payments] == sorted(
        (f"bank-line:{ln.pk}", ln.amount_minor, "bank_transfer") for ln in paid.values())
    assert all(note.startswith(f"Bank line {ref.split(':')[1]} (") for ref, *_, note in payments)
    assert allocations == sorted((f"bank-line:{ln.pk}", iid, ln.amount_minor, ln.booking_date)
                                 for iid, ln in paid.items())
    assert [(pk, status) for pk, status, _, _ in invoices] == [(a.pk, Invoice.PAID), (b.pk, Invoice.PAID),
                                                               (c.pk, Invoice.PAID)]
    assert [(how, score, rule) for _, _, _, how, score, rule, _ in matches] == [
        ("auto", 100, "rf_reference"), ("auto", 98, "invoice_number"), ("auto", 100, "rf_reference")]
    assert thanks == ["thank-you"] * 3  # each payment thanked (the collections hook ran for each)
    # a rerun adds nothing
    assert rec.reconcile(org, as_of=AS_OF) == rec.ReconcileResult(0, 0, 0)
    assert outcome(org) == books


def test_each_bulk_match_undoes_exactly(org, customer, contract, make_customer, account):
    scenario(org, customer, contract, make_customer)
    before = sorted(Invoice.objects.filter(organization=org).values_list("pk", "status", "paid_minor", "paid_on"))
    rec.reconcile(org, as_of=AS_OF)
    for match in BankMatch.objects.filter(organization=org):
        rec.undo(org, match.pk, reason="check", as_of=AS_OF)
    assert sorted(Invoice.objects.filter(organization=org).values_list("pk", "status", "paid_minor",
                                                                       "paid_on")) == before
    assert not Payment.objects.filter(organization=org).exists()


def test_an_invoice_paid_since_the_snapshot_sends_its_line_to_review(org, customer, contract, make_customer,
                                                                     account, monkeypatch):
    a, b, c = scenario(org, customer, contract, make_customer)
    real = services.record_invoice_payments

    def paid_meanwhile(org_, items):  # another desk records the cheque for b between snapshot and writes
        services.record_payment(org, customer, amount="80.00", currency="EUR", method="cash",
                                received_on=AS_OF, allocations={b.pk: "80.00"})
        return real(org_, items)

    monkeypatch.setattr(services, "record_invoice_payments", paid_meanwhile)
    result = rec.reconcile(org, as_of=AS_OF)
    assert (result.matched, result.review) == (2, 2)
    line = StatementLine.objects.get(remittance_unstructured__contains=b.number)
    assert line.status == StatementLine.REVIEW and "not applied" in ReviewEntry.objects.get(line=line).note
    assert Payment.objects.filter(organization=org, external_reference=f"bank-line:{line.pk}").count() == 0


def test_a_reference_recorded_meanwhile_for_the_same_payment_is_linked_not_paid_twice(
        org, customer, contract, make_customer, account, monkeypatch):
    a, b, c = scenario(org, customer, contract, make_customer)
    line = StatementLine.objects.get(remittance_unstructured__contains=a.rf_reference)
    real, earlier = services.record_invoice_payments, []

    def recorded_meanwhile(org_, items):  # a run killed after its payments, before its matches (another process)
        earlier.append(services.record_payment(
            org, customer, amount="120.00", currency="EUR", method="bank_transfer", received_on=line.booking_date,
            external_reference=f"bank-line:{line.pk}", allocations={a.pk: "120.00"}))
        return real(org_, items)

    monkeypatch.setattr(services, "record_invoice_payments", recorded_meanwhile)
    assert rec.reconcile(org, as_of=AS_OF).matched == 3
    match = BankMatch.objects.get(line=line)
    assert match.payment_id == earlier[0].pk and match.evidence["applied"][0][:2] == [a.pk, 12_000]
    assert Payment.objects.filter(organization=org, external_reference=f"bank-line:{line.pk}").count() == 1
