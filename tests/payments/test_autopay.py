"""Autopay against the loopback Stripe fake (tests/fakes/stripe_server.py): a due invoice is charged once on the
customer's default saved method, soft declines are retried on the domain's schedule, hard ones never, and an
outage or a crash between a charge and its recording never charges twice."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments.autopay_services import autopay_key, recover_attempts, run_autopay
from duly.payments.models import ChargeAttempt, Payment, SavedPaymentMethod
from duly.payments.providers.stripe import StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY = "sk_test_duly"
ISSUED = date(2026, 3, 2)


@pytest.fixture
def fake():  # one per test: invoice ids (and so idempotency keys) repeat once a test's rows are rolled back
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return StripeProvider(api_key=KEY, api_base=fake.url, max_network_retries=0)


@pytest.fixture
def invoice(org, customer, contract):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=ISSUED)


def save_card(provider, customer, pm="pm_card_visa") -> SavedPaymentMethod:
    """A card saved with Stripe for ``customer`` (ids only), their default."""
    stripe_customer = provider.client.v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
    return SavedPaymentMethod.objects.create(organization=customer.organization, customer=customer, provider="stripe",
                                             customer_ref=stripe_customer, method_ref=pm, kind="card",
                                             is_default=True)


def intents(fake, method) -> list[dict]:
    return [pi for pi in fake.objects("pi_") if pi["customer"] == method.customer_ref]


def fresh(invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def test_a_due_invoice_with_a_saved_card_is_charged_once_and_paid(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.attempted, report.succeeded) == (1, 1)
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    assert attempt.attempt == 1 and attempt.status == ChargeAttempt.SUCCEEDED
    assert attempt.idempotency_key == autopay_key(invoice.pk, 1) == f"autopay:{invoice.pk}:1"
    assert attempt.provider_ref.startswith("pi_") and attempt.finished_at is not None
    assert (attempt.amount_minor, attempt.currency) == (invoice.total_minor, invoice.currency)
    assert not fresh(invoice).is_open
    payment = Payment.objects.get(organization=org)
    assert payment.external_reference == attempt.provider_ref and payment.amount_minor == invoice.total_minor

    again = run_autopay(org, invoice.due_date, provider=provider)
    assert again.attempted == 0
    assert recover_attempts(org, invoice.due_date, provider=provider).checked == 0
    assert len(intents(fake, method)) == 1 and Payment.objects.filter(organization=org).count() == 1


def test_a_soft_decline_schedules_a_retry_and_the_retry_makes_attempt_2(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer, "pm_card_chargeDeclinedInsufficientFunds")
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.failed, report.retries_scheduled) == (1, 1)
    first = ChargeAttempt.objects.get(invoice=invoice)
    assert (first.status, first.decline_code, first.decline_category) == ("failed", "insufficient_funds", "soft")
    assert first.next_retry_on is not None and first.next_retry_on >= invoice.due_date + timedelta(days=3)
    assert fresh(invoice).is_open

    assert run_autopay(org, first.next_retry_on - timedelta(days=1), provider=provider).attempted == 0
    retry = run_autopay(org, first.next_retry_on, provider=provider)
    assert retry.attempted == 1
    second = ChargeAttempt.objects.get(invoice=invoice, attempt=2)
    assert second.idempotency_key == f"autopay:{invoice.pk}:2" and second.status == "failed"
    assert second.next_retry_on is not None and second.next_retry_on > first.next_retry_on
    assert run_autopay(org, first.next_retry_on, provider=provider).attempted == 0  # once per retry
    assert len(intents(fake, method)) == 2 and not Payment.objects.filter(organization=org).exists()


def test_a_hard_decline_is_never_retried(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer, "pm_card_chargeDeclinedLostCard")
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.failed, report.retries_scheduled) == (1, 0)
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    assert (attempt.status, attempt.decline_code, attempt.decline_category) == ("failed", "lost_card", "hard")
    assert attempt.next_retry_on is None
    for days in range(0, 20):
        assert run_autopay(org, invoice.due_date + timedelta(days=days), provider=provider).attempted == 0
    assert ChargeAttempt.objects.filter(invoice=invoice).count() == 1 and len(intents(fake, method)) == 1


def test_an_outage_leaves_the_attempt_unknown_and_recovery_charges_nothing_twice(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    fake.lose_next_responses(1)  # Stripe charges, the answer is lost
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert report.unknown == 1
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    assert attempt.status == ChargeAttempt.UNKNOWN and fresh(invoice).is_open
    assert not Payment.objects.filter(organization=org).exists()

    recovered = recover_attempts(org, invoice.due_date, provider=provider)
    assert (recovered.checked, recovered.succeeded, recovered.recharged) == (1, 1, 0)
    assert ChargeAttempt.objects.get(pk=attempt.pk).status == ChargeAttempt.SUCCEEDED
    assert recover_attempts(org, invoice.due_date, provider=provider).checked == 0
    assert run_autopay(org, invoice.due_date, provider=provider).attempted == 0
    assert len(intents(fake, method)) == 1 and Payment.objects.filter(organization=org).count() == 1
    assert not fresh(invoice).is_open


def test_an_outage_before_stripe_charged_is_charged_once_by_recovery(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    fake.fail_next(1)  # a 500 that executes nothing
    assert run_autopay(org, invoice.due_date, provider=provider).unknown == 1
    assert intents(fake, method) == []
    recovered = recover_attempts(org, invoice.due_date, provider=provider)
    assert (recovered.recharged, recovered.succeeded) == (1, 1)
    assert recover_attempts(org, invoice.due_date, provider=provider).checked == 0
    assert len(intents(fake, method)) == 1 and Payment.objects.filter(organization=org).count() == 1


class Killed(BaseException):
    """A kill -9 between the charge and its recording: nothing after the charge runs."""


class CrashAfterCharge:
    def __init__(self, inner):
        self.inner = inner

    def charge(self, request):
        self.inner.charge(request)
        raise Killed()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_crash_between_the_charge_and_its_recording_never_charges_twice(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    with pytest.raises(Killed):
        run_autopay(org, invoice.due_date, provider=CrashAfterCharge(provider))
    attempt = ChargeAttempt.objects.get(invoice=invoice)  # written and committed before the charge
    assert attempt.status == ChargeAttempt.PENDING and attempt.provider_ref == ""
    assert len(intents(fake, method)) == 1 and not Payment.objects.filter(organization=org).exists()

    recovered = recover_attempts(org, invoice.due_date, provider=provider)
    assert (recovered.succeeded, recovered.recharged) == (1, 0)
    assert run_autopay(org, invoice.due_date, provider=provider).attempted == 0
    assert recover_attempts(org, invoice.due_date, provider=provider).checked == 0
    assert len(intents(fake, method)) == 1
    payment = Payment.objects.get(organization=org)
    assert payment.external_reference == intents(fake, method)[0]["id"]
    assert not fresh(invoice).is_open


def test_an_invoice_not_yet_due_is_not_charged(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    assert run_autopay(org, invoice.due_date - timedelta(days=1), provider=provider).attempted == 0
    assert not ChargeAttempt.objects.exists() and intents(fake, method) == []


def test_a_customer_without_a_saved_method_is_skipped(org, invoice, provider, make_customer):
    other = make_customer()
    save_card(provider, other)  # another customer's card is never used
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.attempted, report.skipped) == (0, 1)
    assert not ChargeAttempt.objects.exists() and fresh(invoice).is_open


def test_only_the_default_method_is_charged(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    SavedPaymentMethod.objects.filter(pk=method.pk).update(is_default=False)
    assert run_autopay(org, invoice.due_date, provider=provider).skipped == 1
    assert intents(fake, method) == []


def test_a_card_saved_through_stripe_is_the_default_autopay_charges(client, settings, org, invoice, provider, fake):
    from duly.payments.providers.base import SetupRequest

    settings.DULY_STRIPE_WEBHOOK_SECRET = "whsec_test_duly"
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    settings.DULY_STRIPE_MAX_NETWORK_RETRIES = 0
    customer = invoice.customer
    stripe_customer = ""
    for pm in ("pm_card_visa", "pm_card_mastercard"):  # the first saved is the default, the second is not
        setup = provider.create_setup(SetupRequest(f"setup-{customer.pk}-{pm}", customer_ref=stripe_customer,
                                                   metadata={"duly_customer": str(customer.pk),
                                                             "duly_organization": str(org.pk)}))
        stripe_customer = setup.customer_ref
        provider.client.v1.setup_intents.confirm(setup.setup_ref, params={"payment_method": pm})
        done = next(e for e in reversed(fake.events) if e["type"] == "setup_intent.succeeded"
                    and e["data"]["object"].get("payment_method") == pm)
        payload, header = fake.event_payload(done, "whsec_test_duly")
        assert client.post("/webhooks/stripe/", payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header).status_code == 200
    assert dict(SavedPaymentMethod.objects.values_list("method_ref", "is_default")) == {
        "pm_card_visa": True, "pm_card_mastercard": False}

    from click.testing import CliRunner

    from duly.cli import main

    result = CliRunner().invoke(main, ["autopay", "--as-of", invoice.due_date.isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 charged, 1 succeeded" in result.output and "recovered 0 attempts" in result.output
    assert [pi["payment_method"] for pi in fake.objects("pi_")] == ["pm_card_visa"]
    assert not fresh(invoice).is_open
    again = CliRunner().invoke(main, ["autopay", "--as-of", invoice.due_date.isoformat()])
    assert again.exit_code == 0 and "0 charged" in again.output
    assert len(fake.objects("pi_")) == 1


def test_the_charge_webhook_after_autopay_records_nothing_more(client, settings, org, invoice, provider, fake):
    settings.DULY_STRIPE_WEBHOOK_SECRET = "whsec_test_duly"
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    method = save_card(provider, invoice.customer)
    assert run_autopay(org, invoice.due_date, provider=provider).succeeded == 1
    [pi] = intents(fake, method)
    assert pi["metadata"]["duly_invoice"] == str(invoice.pk)
    done = next(e for e in fake.events if e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == pi["id"])
    payload, header = fake.event_payload(done, "whsec_test_duly")
    response = client.post("/webhooks/stripe/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert Payment.objects.filter(organization=org).count() == 1


# --- when: N days before the due date, catching up missed days, from the scheduler ---------------------------


def _days_before(contract, days):
    from duly.customers.models import Contract

    Contract.objects.filter(pk=contract.pk).update(autopay_days_before_due=days)


def test_a_contract_charges_n_days_before_the_due_date(org, contract, invoice, provider, fake):
    _days_before(contract, 5)
    method = save_card(provider, invoice.customer)
    assert run_autopay(org, invoice.due_date - timedelta(days=6), provider=provider).attempted == 0
    report = run_autopay(org, invoice.due_date - timedelta(days=5), provider=provider)
    assert report.succeeded == 1 and not fresh(invoice).is_open
    assert ChargeAttempt.objects.get(invoice=invoice).attempted_on == invoice.due_date - timedelta(days=5)
    assert run_autopay(org, invoice.due_date, provider=provider).attempted == 0  # not again on the due date
    assert len(intents(fake, method)) == 1


def test_a_charge_day_before_the_issue_date_is_the_issue_date(org, contract, invoice, provider, fake):
    from duly.payments.autopay_services import charge_day

    assert charge_day(date(2026, 4, 1), date(2026, 3, 30), 5) == date(2026, 3, 30)
    assert charge_day(date(2026, 4, 1), date(2026, 3, 1), 5) == date(2026, 3, 27)
    assert charge_day(date(2026, 4, 1), None, 0) == date(2026, 4, 1)
    _days_before(contract, 60)  # net 30: the charge day would be 30 days before the issue
    save_card(provider, invoice.customer)
    assert run_autopay(org, ISSUED - timedelta(days=1), provider=provider).attempted == 0
    assert run_autopay(org, ISSUED, provider=provider).succeeded == 1


def test_a_missed_day_is_caught_up_once(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer)
    # no run on the due date nor the next two days: the run three days later charges it, once
    report = run_autopay(org, invoice.due_date + timedelta(days=3), provider=provider)
    assert report.succeeded == 1 and not fresh(invoice).is_open
    for days in range(3, 10):
        assert run_autopay(org, invoice.due_date + timedelta(days=days), provider=provider).attempted == 0
    assert len(intents(fake, method)) == 1


def test_a_backlog_older_than_the_catch_up_window_is_not_charged_silently(org, invoice, provider, fake):
    from duly.payments.autopay_services import CATCH_UP_DAYS

    method = save_card(provider, invoice.customer)
    late = run_autopay(org, invoice.due_date + timedelta(days=CATCH_UP_DAYS + 1), provider=provider)
    assert (late.attempted, late.too_old) == (0, 1)
    assert "1 too old to charge automatically" in late.summary()
    assert intents(fake, method) == [] and fresh(invoice).is_open and not ChargeAttempt.objects.exists()
    edge = run_autopay(org, invoice.due_date + timedelta(days=CATCH_UP_DAYS), provider=provider)
    assert edge.succeeded == 1  # the last day of the window still charges


def test_a_contract_preferring_bank_transfer_is_not_charged(org, contract, invoice, provider, fake):
    from duly.customers.models import Contract

    Contract.objects.filter(pk=contract.pk).update(preferred_payment_method="bank_transfer")
    method = save_card(provider, invoice.customer)
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.attempted, report.skipped) == (0, 1) and intents(fake, method) == []


def test_the_scheduler_runs_autopay_on_the_organizations_local_date(settings, org, invoice, provider, fake):
    from datetime import datetime, timezone

    from duly import scheduler

    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    settings.DULY_STRIPE_MAX_NETWORK_RETRIES = 0
    assert "duly.payments.tasks.scheduled_autopay" in scheduler.jobs()
    method = save_card(provider, invoice.customer)
    eve = datetime.combine(invoice.due_date - timedelta(days=1), datetime.min.time(), timezone.utc).replace(hour=21, minute=30)
    from duly.payments.tasks import scheduled_autopay

    scheduled_autopay(eve)  # 23:30 in Paris (summer time) the day before: nothing yet
    assert intents(fake, method) == []
    scheduled_autopay(eve + timedelta(hours=2))  # 01:30 in Paris on the due date
    scheduled_autopay(eve + timedelta(hours=5))  # and again later: nothing more
    assert len(intents(fake, method)) == 1 and not fresh(invoice).is_open


def test_charges_recorded_in_bulk_are_recorded_once_and_an_unusual_one_through_record_payment(org, invoice,
                                                                                               make_customer,
                                                                                               make_contract):
    from duly.payments.providers.base import ChargeResult, ChargeStatus
    from duly.payments.services import record_payment
    from duly.payments.webhook_services import record_charges

    other = make_customer()
    draft = inv.create_draft(org, other, [inv.LineData("Service", Decimal(1), Decimal("50"))],
                             contract=make_contract(other, terms_kind="net", terms_days=30))
    second = inv.issue_invoice(org, draft.pk, issue_date=ISSUED)
    # the second invoice was partly paid by transfer after autopay started: its charge is more than it owes
    record_payment(org, other, amount="20.00", currency="EUR", method="bank_transfer", received_on=ISSUED)
    charges = [(invoice.pk, ChargeResult("stripe", "pi_bulk_1", ChargeStatus.SUCCEEDED, 12000, "EUR"), "card", ISSUED),
               (second.pk, ChargeResult("stripe", "pi_bulk_2", ChargeStatus.SUCCEEDED, 5000, "EUR"), "card", ISSUED)]
    record_charges(org, charges)
    record_charges(org, charges)  # again: nothing more
    assert Payment.objects.filter(organization=org, method="card").count() == 2
    assert not fresh(invoice).is_open and not fresh(second).is_open
    from duly.payments.services import credit_balance_minor

    assert credit_balance_minor(other, "EUR") == 2000  # the 20.00 charged beyond the balance, as customer credit
    assert fresh(invoice).paid_minor == 12000 and Payment.objects.get(external_reference="pi_bulk_1").allocations.get(
        ).amount_minor == 12000


class CrashOnSecondCharge:
    """A kill -9 in the middle of a batch: the first charge answered, the second made but unanswered, the third never
    sent; nothing of the batch is recorded."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def charge(self, request):
        self.calls += 1
        result = self.inner.charge(request)
        if self.calls == 2:
            raise Killed()
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_crash_in_the_middle_of_a_batch_is_recovered_without_charging_twice(org, customer, contract, provider, fake):
    invoices = []
    for _ in range(3):
        draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))],
                                 contract=contract)
        invoices.append(inv.issue_invoice(org, draft.pk, issue_date=ISSUED))
    method = save_card(provider, customer)
    due = invoices[0].due_date
    with pytest.raises(Killed):
        run_autopay(org, due, provider=CrashOnSecondCharge(provider))
    # the batch's three attempts were committed before the first charge; none is recorded
    assert list(ChargeAttempt.objects.values_list("status", flat=True)) == ["pending"] * 3
    assert len(intents(fake, method)) == 2 and not Payment.objects.filter(organization=org).exists()
    recovered = recover_attempts(org, due, provider=provider)
    assert (recovered.checked, recovered.succeeded, recovered.recharged) == (3, 3, 1)
    assert run_autopay(org, due, provider=provider).attempted == 0
    assert recover_attempts(org, due, provider=provider).checked == 0
    assert len(intents(fake, method)) == 3 and Payment.objects.filter(organization=org).count() == 3
    assert not any(fresh(i).is_open for i in invoices)
