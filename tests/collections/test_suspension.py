"""Suspension and termination do something in billing, and undoing them is truthful: a suspension
pauses the subscriptions and lifting it (payment, credit note) resumes them; a termination cancels
them and a customer restored in time gets a person to restart them, as the letter says."""

from __future__ import annotations

from datetime import date

import pytest

from duly.billing import services as billing
from duly.billing.models import Subscription, SubscriptionPause
from duly.collections.models import CustomerProfile, Task
from duly.collections.services import assign_policy, collect
from duly.customers.models import Customer
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice

AP = "ap1@client.example"


@pytest.fixture
def subscribed(org, customer, contract, make_invoice):
    product = billing.create_product(org, code="HOST", name="Hébergement Pro", tax_rate=20)
    price = billing.create_price(org, product, code="host-eur", currency="EUR",
                                 model_config={"model": "flat", "amount": "49.00"})
    sub = billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1),
                                      as_of=date(2026, 1, 1), reference="SUB-ACME-1")
    assign_policy(org, customer, "firm")
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))  # due 1 April
    return sub, invoice


def balance(customer) -> str:
    total = sum(i.balance_minor for i in Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES))
    return f"{total // 100}.{total % 100:02d}"


def test_suspension_pauses_the_subscriptions_and_the_payment_that_clears_it_resumes_them(
        org, customer, subscribed, walk, smtp, pay):
    sub, _ = subscribed
    walk.firm_steps(until=date(2026, 4, 22))  # the firm policy's suspension step (due + 21)
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_SUSPENDED
    pause = SubscriptionPause.objects.get(subscription=sub)
    assert (pause.starts_on, pause.resumes_on) == (date(2026, 4, 22), None)
    profile = CustomerProfile.objects.get(customer=customer)
    assert profile.suspension_pauses == [pause.pk] and "subscriptions paused: SUB-ACME-1" in profile.status_reason

    pay(customer, balance(customer), date(2026, 4, 24))
    customer.refresh_from_db()
    pause.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE and pause.resumes_on == date(2026, 4, 24)
    assert "subscriptions resumed: SUB-ACME-1" in CustomerProfile.objects.get(customer=customer).status_reason


def test_a_credit_note_that_clears_the_balance_lifts_the_suspension_at_the_next_run(org, customer, subscribed,
                                                                                   walk, smtp):
    sub, invoice = subscribed
    walk.firm_steps(until=date(2026, 4, 22))
    others = Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES).exclude(pk=invoice.pk)
    for open_invoice in [invoice, *others]:
        inv.create_credit_note(org, open_invoice.pk, reason="Geste commercial", issue_date=date(2026, 4, 23))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_SUSPENDED  # invoicing knows nothing of suspensions
    result = collect(org, as_of=walk.at(date(2026, 4, 23)))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE and len(result.restored) == 1
    assert SubscriptionPause.objects.get(subscription=sub).resumes_on == date(2026, 4, 23)
    assert "suspension lifted after the overdue balance was cleared" in result.restored[0]


@pytest.fixture
def terminated(org, customer, subscribed, walk, smtp):
    sub, _ = subscribed
    walk.firm_steps(until=date(2026, 5, 6))  # the termination step (due + 35)
    customer.refresh_from_db()
    sub.refresh_from_db()
    assert customer.status == Customer.STATUS_TERMINATED and sub.status == Subscription.CANCELED
    assert CustomerProfile.objects.get(customer=customer).restore_deadline == date(2026, 5, 20)
    return sub


def test_the_termination_letter_says_what_really_happens_next(customer, terminated, smtp):
    letter = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Résiliation")))
    assert ("sous 14 jours, avant le 20 mai 2026. Votre compte est rouvert dès l'enregistrement du paiement et "
            "notre équipe vous contactera pour relancer le service résilié.") in letter
    assert ("Vos abonnements sont résiliés au 6 mai 2026 ; sans paiement avant le 20 mai 2026, la résiliation "
            "est définitive.") in letter
    assert "nous rétablirons votre service" not in letter


def test_paying_by_the_restore_deadline_reopens_the_account_and_asks_staff_to_restart_the_service(
        org, customer, terminated, pay):
    pay(customer, balance(customer), date(2026, 5, 12))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE
    [task] = Task.objects.filter(customer=customer, kind="reinstate")
    assert "restart their service" in task.description and "SUB-ACME-1" in task.description
    assert task.due_at.date() == date(2026, 5, 15)  # two French business days (14 May is Ascension)
    terminated.refresh_from_db()
    assert terminated.status == Subscription.CANCELED  # billing cannot re-activate: a person does it


def test_a_payment_after_the_restore_deadline_leaves_the_termination_in_place(org, customer, terminated, pay):
    pay(customer, balance(customer), date(2026, 5, 21))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_TERMINATED
    assert not Task.objects.filter(kind="reinstate").exists()
    reason = CustomerProfile.objects.get(customer=customer).status_reason
    assert "the payment of 2026-05-21: received after the restore deadline 2026-05-20; the termination stands" in reason
