"""`assess_late_fees`: a late-fee invoice referencing the overdue one, charged once per level."""

import json
from datetime import date
from decimal import Decimal

import pytest

from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments.services import record_payment


def overdue_invoice(org, customer, contract, amount="1000.00", issued=date(2026, 1, 1)):
    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal(1), Decimal(amount))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=issued)


@pytest.fixture
def eu_contract(customer, make_contract):
    return make_contract(customer, reference="CTR-EU", terms_kind="net", terms_days=30,
                         late_fee_kind="eu_statutory", reference_rate_percent=Decimal("2.15"))


def test_eu_statutory_fee_invoice_references_the_overdue_invoice(org, customer, eu_contract):
    late = overdue_invoice(org, customer, eu_contract)  # due 2026-01-31
    result = assess_late_fees(org, as_of=date(2026, 3, 3))
    assert result.fee_invoices, result.skipped
    fee_invoice = Invoice.objects.get(number=result.fee_invoices[0])
    assert fee_invoice.kind == Invoice.KIND_LATE_FEE and fee_invoice.related_invoice == late
    fees = {f.kind: f for f in LateFee.objects.filter(invoice=late)}
    # EUR 40 fixed compensation, once per invoice
    assert fees["compensation"].amount_minor == 4000
    # interest is charged per complete month: February = 1,000.00 × (2.15 + 8)% × 28 / 365 = 7.79
    # (March is still running on 3 March and is charged once complete)
    interest = sum(f.amount_minor for f in LateFee.objects.filter(invoice=late, kind="interest"))
    assert interest == 779
    assert fee_invoice.total_minor == 4000 + interest


def test_running_twice_changes_nothing(org, customer, eu_contract):
    overdue_invoice(org, customer, eu_contract)
    assess_late_fees(org, as_of=date(2026, 3, 3))
    snapshot = (Invoice.objects.count(), LateFee.objects.count())
    again = assess_late_fees(org, as_of=date(2026, 3, 3))
    assert again.fee_invoices == []
    assert (Invoice.objects.count(), LateFee.objects.count()) == snapshot


def test_paid_invoices_and_policy_none_get_no_fee(org, customer, eu_contract, make_customer, make_contract):
    paid = overdue_invoice(org, customer, eu_contract)
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 1, 20))
    other = make_customer("NOFEE")
    overdue_invoice(org, other, make_contract(other, late_fee_kind="none"))
    assert assess_late_fees(org, as_of=date(2026, 6, 1)).fee_invoices == []
    assert not LateFee.objects.filter(invoice=paid).exists()


def test_fixed_fee_after_grace_days(org, customer, make_contract):
    ctr = make_contract(customer, reference="CTR-FIX", terms_kind="net", terms_days=14, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00", late_grace_days=5)
    overdue_invoice(org, customer, ctr, issued=date(2026, 2, 1))  # due 2026-02-15
    assert assess_late_fees(org, as_of=date(2026, 2, 20)).fee_invoices == []  # within grace
    result = assess_late_fees(org, as_of=date(2026, 2, 21))
    assert [(level, amount) for _, level, amount, _ in result.assessed] == [("fixed", "25.00")]


# --- invoices paid late, the CLI, and who assesses fees ---------------------------------------------------
def test_an_invoice_paid_in_full_after_grace_is_charged_its_fixed_fee_once(org, customer, make_contract):
    from click.testing import CliRunner

    from duly.cli import main

    ctr = make_contract(customer, reference="CTR-25", terms_kind="net", terms_days=30, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00", late_grace_days=5)
    late = overdue_invoice(org, customer, ctr)  # due 31 January
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 2, 20))
    late.refresh_from_db()
    assert late.status == Invoice.PAID
    result = assess_late_fees(org, as_of=date(2026, 2, 25))
    assert [(number, level, amount) for number, level, amount, _ in result.assessed] == [
        (late.number, "fixed", "25.00")]
    fee_invoice = Invoice.objects.get(number=result.fee_invoices[0])
    assert fee_invoice.related_invoice == late and fee_invoice.total_minor == 2500
    snapshot = (Invoice.objects.count(), LateFee.objects.count())
    # Rerunning, by the service or the CLI (with its progress bar on stderr), charges nothing more.
    assert assess_late_fees(org, as_of=date(2026, 3, 1)).assessed == []
    run = CliRunner().invoke(main, ["fees", "assess", "--as-of", "2026-03-02", "--format", "json"],
                             catch_exceptions=False)
    assert run.exit_code == 0 and json.loads(run.stdout)["assessed"] == []
    assert (Invoice.objects.count(), LateFee.objects.count()) == snapshot


def test_an_invoice_paid_within_grace_or_paid_on_time_owes_nothing(org, customer, make_contract):
    ctr = make_contract(customer, reference="CTR-25", terms_kind="net", terms_days=30, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00", late_grace_days=5)
    overdue_invoice(org, customer, ctr)  # due 31 January, grace until 5 February
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 2, 4))
    assert assess_late_fees(org, as_of=date(2026, 3, 1)).assessed == []


def test_interest_paid_late_charges_the_final_partial_month_up_to_the_payment_day(org, customer, make_contract):
    ctr = make_contract(customer, reference="CTR-I", terms_kind="net", terms_days=30,
                        late_fee_kind="interest_annual", late_rate_percent=Decimal("36.5"))
    late = overdue_invoice(org, customer, ctr)  # due 31 January
    first = assess_late_fees(org, as_of=date(2026, 2, 28))  # February complete: 28 days
    assert [(level, amount) for _, level, amount, _ in first.assessed] == [("interest:2026-02", "28.00")]
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 10))
    second = assess_late_fees(org, as_of=date(2026, 3, 12))
    # 1,000.00 × 36.5% / 365 = 1.00 a day, 1–10 March.
    assert [(level, amount) for _, level, amount, _ in second.assessed] == [("interest:2026-03", "10.00")]
    assert assess_late_fees(org, as_of=date(2026, 4, 30)).assessed == []
    assert LateFee.objects.filter(invoice=late).count() == 2


def test_the_cli_shows_a_progress_bar_on_stderr_and_a_clean_summary_on_stdout(org, customer, make_contract):
    from click.testing import CliRunner

    from duly.cli import main

    ctr = make_contract(customer, reference="CTR-25", terms_kind="net", terms_days=30, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00")
    overdue_invoice(org, customer, ctr)
    run = CliRunner().invoke(main, ["fees", "assess", "--as-of", "2026-02-10"], catch_exceptions=False)
    assert run.exit_code == 0
    assert "Assessing late fees" in run.stderr and "1/1" in run.stderr
    assert run.stdout.startswith("Assessed 1 fee(s)") and "Assessing" not in run.stdout


def test_the_scheduler_charges_the_fee_at_the_policys_fee_step_not_after_the_grace_days(
        org, make_customer, make_contract, make_invoice, walk, smtp, settings):
    """One rule: the dunning step that carries ``assess_late_fee`` charges the fee; `duly serve`'s
    default jobs never charge a gentle customer behind its policy's back."""
    from datetime import timedelta

    from duly.collections.models import Reminder
    from duly.collections.services import assign_policy
    from duly.scheduler import run_once

    assert "duly.collections.tasks.scheduled_late_fees" not in settings.DULY_SCHEDULED_JOBS
    settings.DULY_SCHEDULED_JOBS = [job for job in settings.DULY_SCHEDULED_JOBS if "billing" not in job]
    gentle = make_customer("GENTLE", name="Gentle Payer SARL")
    assign_policy(org, gentle, "gentle")
    ctr = make_contract(gentle, terms_kind="net", terms_days=30, late_fee_kind="fixed_fee", late_fixed_fee="25.00",
                        late_grace_days=5)
    invoice = make_invoice(gentle, ctr, issued=date(2026, 3, 2))  # due Wednesday 1 April
    fee_days = {}
    day = date(2026, 3, 25)
    while day <= date(2026, 5, 8):
        assert set(run_once(walk.at(day)).values()) == {"ok"}
        fee_days[day] = LateFee.objects.filter(invoice=invoice).count()
        day += timedelta(days=1)
    # Grace ended on 6 April; the gentle policy's steps go one at a time, each its wait after the one before:
    # the "overdue" note on Saturday 4 April waited for Tuesday 7 (Easter Monday), the reminder 11 days later
    # for Monday 20 April, and the fee step ("firm") 16 days after that: Wednesday 6 May. It charged the fee then.
    assert fee_days[date(2026, 5, 5)] == 0 and fee_days[date(2026, 5, 6)] == 1
    fee = LateFee.objects.get(invoice=invoice)
    assert (fee.level, fee.amount_minor, fee.assessed_on) == ("fixed", 2500, date(2026, 5, 6))
    step = Reminder.objects.get(customer=gentle, step_code="firm")
    assert step.fee_assessed and fee.fee_invoice_id in step.message.invoice_ids
    # The fee invoice is due 30 days after it was issued: the reminder shows it with its own due date and
    # asks for the overdue 1 000,00 € only.
    last = smtp.to("ap1@client.example")[-1]
    assert "1\u202f000,00\xa0€" in smtp.subject(last)
    text = smtp.text_of(last)
    assert fee.fee_invoice.number in text and "Pas encore échu, à régler à sa propre échéance" in text
    assert "25,00\xa0€" in text and "5 juin 2026" in text
