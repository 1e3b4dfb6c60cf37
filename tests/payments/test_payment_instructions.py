"""The payments app answers invoicing's payment_instructions hook: a few queries for any number of invoices."""

from __future__ import annotations

from datetime import date

from duly.invoicing.hooks import InstructionRequest, payment_instructions
from duly.payments import sepa_services as sepa
from duly.payments.models import SavedPaymentMethod


def test_many_invoices_are_answered_in_three_queries(org, make_customer, make_contract,
                                                      django_assert_max_num_queries):
    sepa.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    requests = []
    for n in range(30):
        preferred = ("sepa_debit", "card", "bank_transfer")[n % 3]
        customer = make_customer(f"C{n:02d}", preferred_payment_method=preferred)
        contract = make_contract(customer, terms_kind="net", terms_days=30)
        if preferred == "sepa_debit":
            sepa.create_mandate(org, customer, reference=f"M-{n}", signed_on=date(2026, 1, 1), debtor_name="X",
                                iban="DE89370400440532013000")
        if preferred == "card":  # the provider is not configured here: the card is named without its digits
            SavedPaymentMethod.objects.create(organization=org, customer=customer, provider="stripe",
                                              customer_ref=f"cus_{n}", method_ref=f"pm_{n}", kind="card",
                                              is_default=True)
        requests.append(InstructionRequest(customer, contract, "standard", "EUR", date(2026, 3, 2),
                                           date(2026, 4, 1)))
    with django_assert_max_num_queries(4):  # saved cards, creditor, mandates (one more: savepoint-free margin)
        answers = payment_instructions(requests)
    assert [a["method"] for a in answers] == ["sepa_debit", "card", "bank_transfer"] * 10
    assert answers[0]["debit_date"] == "2026-04-01" and answers[1]["charge_date"] == "2026-04-01"


def test_a_contract_preference_overrides_the_customers(org, customer, contract):
    contract.preferred_payment_method = "card"
    contract.save()
    SavedPaymentMethod.objects.create(organization=org, customer=customer, provider="stripe", customer_ref="cus_1",
                                      method_ref="pm_1", kind="card", is_default=True)
    [answer] = payment_instructions([InstructionRequest(customer, contract, "standard", "EUR", date(2026, 3, 2),
                                                        date(2026, 4, 1))])
    assert answer["method"] == "card"
    [note] = payment_instructions([InstructionRequest(customer, contract, "credit_note", "EUR", date(2026, 3, 2),
                                                      None)])
    assert note is None
