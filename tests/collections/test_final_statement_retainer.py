"""The final statement of account states the customer's retainer balance (and says nothing of one
to a customer without a retainer)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.billing import services as billing
from duly.collections.services import assign_policy
from duly.customers.models import Customer
from duly.invoicing.models import Invoice
from duly.payments.services import record_payment

AP = "ap1@client.example"


def terminate(org, customer, contract, make_invoice, walk):
    assign_policy(org, customer, "firm")
    make_invoice(customer, contract, issued=date(2026, 3, 2))  # due 1 April
    walk.firm_steps(until=date(2026, 5, 6))  # ... suspension (due + 21), termination (due + 35): the final statement
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_TERMINATED


def final_statement(smtp) -> str:
    [message] = [m for m in smtp.to(AP) if smtp.subject(m).startswith("Relevé de compte final")]
    return smtp.text_of(message) + smtp.html_of(message)


@pytest.mark.django_db
def test_the_final_statement_states_the_retainer_balance(org, customer, contract, make_invoice, walk, smtp):
    billing.start_retainer(org, contract, topup_amount="300.00", threshold="100.00", as_of=date(2026, 1, 5))
    funding = Invoice.objects.get(customer=customer, kind=Invoice.KIND_DEPOSIT)
    record_payment(org, customer, amount="300.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 1, 9), allocations={funding.pk: Decimal("300.00")})
    terminate(org, customer, contract, make_invoice, walk)
    assert billing.retainer_balance(customer, as_of=date(2026, 5, 6)).balance == Decimal("300.00")
    text = final_statement(smtp)
    assert "Solde de votre provision\u00a0: 300,00\u00a0€" in text


@pytest.mark.django_db
def test_no_retainer_no_retainer_line(org, customer, contract, make_invoice, walk, smtp):
    terminate(org, customer, contract, make_invoice, walk)
    assert "provision" not in final_statement(smtp)
