"""The books stay true whatever happens, in any order: a hypothesis state machine.

Issue, pay, partial pay, refund, credit (issued or draft), write-off, late fee, void and import (with a rounding
amount) run in random order on a calendar that only moves forward. After every step: the aging total, the
statements' total and the invoices' open amounts agree; nothing open, settled, written off or credited is
negative; no customer holds more credit than they paid; what an invoice's credit notes credit never exceeds its
total; a closed invoice stays closed; numbers follow issue dates.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from duly.collections.services import assess_late_fees
from duly.customers.models import Customer
from duly.customers.services import create_contract, create_customer
from duly.domain.errors import CreditExceedsInvoiceTotal, InvalidState, InvoiceHasPayments
from duly.insights import services as reports
from duly.insights.services import RECEIVABLE_KINDS
from duly.invoicing import services as invoicing
from duly.invoicing.documents import import_einvoice
from duly.invoicing.models import Invoice
from duly.payments import services as payments
from duly.payments.models import Payment, Refund

#: Enough to reach every rule in many orders, few enough to keep the suite fast (about 30 s of CPU). Deeper runs
#: (60 examples of 40 steps) passed too; raise these to hunt after a change.
EXAMPLES, STEPS = 10, 25
SLUGS = itertools.count(1)
CLOSED = (Invoice.VOID, Invoice.UNCOLLECTIBLE)
PICK = st.integers(min_value=0, max_value=10_000)
PERCENT = st.integers(min_value=1, max_value=100)


def minor(amount: str | Decimal) -> int:
    return int(Decimal(amount) * 100)


def euros(amount_minor: int) -> Decimal:
    return Decimal(amount_minor) / 100


@pytest.mark.django_db
def test_the_books_stay_true_whatever_happens(org_for_seller, rounded_einvoice):
    class Books(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            n = next(SLUGS)
            self.imports = itertools.count(1)
            self.org = org_for_seller(rounded_einvoice(number=f"SEED-{n}"), f"books-{n}")
            # Today in the organization's time zone: write-offs and voids are timestamped now, and the
            # calendar only moves forward from here.
            self.today = timezone.now().astimezone(ZoneInfo(self.org.timezone)).date()
            self.customer = create_customer(self.org, code="C1", name="Client One BV", country="NL", city="Utrecht",
                                            address_line1="Oudegracht 1", postcode="3511 AA", currency="EUR")
            self.contract = create_contract(self.org, self.customer, reference="CTR-1", start_date=self.today,
                                            terms_kind="net", terms_days=7, late_fee_kind="fixed_fee",
                                            late_fixed_fee="15.00")
            self.closed: set[int] = set()

        # --- picking what a step acts on ------------------------------------------------------------------
        def receivables(self, *statuses):
            qs = Invoice.objects.filter(organization=self.org, kind__in=RECEIVABLE_KINDS, number__isnull=False)
            if statuses:
                qs = qs.filter(status__in=statuses)
            return list(qs.order_by("pk"))

        @staticmethod
        def pick(items, index):
            return items[index % len(items)] if items else None

        def payable(self):
            return [i for i in self.receivables(*Invoice.OPEN_STATUSES) if i.balance_minor > 0]

        # --- the steps ------------------------------------------------------------------------------------
        @rule(days=st.integers(min_value=1, max_value=20))
        def time_passes(self, days):
            self.today += timedelta(days=days)

        @rule(amount=st.integers(min_value=1, max_value=300_000))
        def issue(self, amount):
            draft = invoicing.create_draft(self.org, self.customer, [
                invoicing.LineData("Consulting", Decimal(1), euros(amount))], contract=self.contract)
            invoicing.issue_invoice(self.org, draft.pk, issue_date=self.today)

        @rule(rounding=st.sampled_from(["-0.33", "0.00", "0.40", "0.67"]))
        def import_(self, rounding):
            xml = rounded_einvoice(number=f"IMP-{next(self.imports)}", rounding=rounding)
            draft = import_einvoice(self.org, xml).invoice
            issued = invoicing.issue_invoice(self.org, draft.pk, issue_date=self.today)
            assert issued.balance_minor == 25033 + minor(rounding) - issued.paid_minor

        def _pay(self, invoice, amount_minor):
            payments.record_payment(self.org, invoice.customer, amount=euros(amount_minor), currency="EUR",
                                    method="bank_transfer", received_on=self.today,
                                    allocations={invoice.pk: euros(amount_minor)})

        @precondition(lambda self: self.payable())
        @rule(index=PICK)
        def pay(self, index):
            invoice = self.pick(self.payable(), index)
            self._pay(invoice, invoice.balance_minor)
            invoice.refresh_from_db()
            assert invoice.status == Invoice.PAID and invoice.balance_minor == 0

        @precondition(lambda self: self.payable())
        @rule(index=PICK, percent=st.integers(min_value=1, max_value=99))
        def partial_pay(self, index, percent):
            invoice = self.pick(self.payable(), index)
            self._pay(invoice, max(1, invoice.balance_minor * percent // 100))

        def refundable(self):
            result = []
            for payment in Payment.objects.filter(organization=self.org).select_related("customer").order_by("pk"):
                applied = payment.allocations.aggregate(s=Sum("amount_minor"))["s"] or 0
                left = min(payment.amount_minor - payment.refunded_minor,
                           applied + payments.payment_unapplied_minor(payment))
                if left > 0:
                    result.append((payment, left))
            return result

        @precondition(lambda self: Payment.objects.filter(organization=self.org).exists())
        @rule(index=PICK, percent=PERCENT)
        def refund(self, index, percent):
            found = self.pick(self.refundable(), index)
            if found is None:
                return
            payment, left = found
            payments.refund_payment(self.org, payment.pk, amount=euros(max(1, left * percent // 100)),
                                    refunded_on=self.today, reason="Returned")

        @precondition(lambda self: self.receivables())
        @rule(index=PICK, percent=st.integers(min_value=1, max_value=120), issue=st.booleans())
        def credit(self, index, percent, issue):
            invoice = self.pick(self.receivables(), index)
            room = invoice.total_minor - invoicing.credited_minor(invoice)
            amount = max(1, invoice.total_minor * percent // 100)
            lines = [invoicing.LineData("Credit", Decimal(1), euros(amount))]
            on = self.today if issue else None
            if invoice.status == Invoice.VOID:
                with pytest.raises(InvalidState):
                    invoicing.create_credit_note(self.org, invoice.pk, reason="Correction", lines=lines, issue_date=on)
            elif amount > room:
                with pytest.raises(CreditExceedsInvoiceTotal):
                    invoicing.create_credit_note(self.org, invoice.pk, reason="Correction", lines=lines, issue_date=on)
            else:
                invoicing.create_credit_note(self.org, invoice.pk, reason="Correction", lines=lines, issue_date=on)

        @precondition(lambda self: Invoice.objects.filter(organization=self.org, status=Invoice.DRAFT,
                                                          kind=Invoice.KIND_CREDIT_NOTE).exists())
        @rule(index=PICK)
        def issue_draft_credit_note(self, index):
            note = self.pick(list(Invoice.objects.filter(organization=self.org, status=Invoice.DRAFT,
                                                         kind=Invoice.KIND_CREDIT_NOTE).order_by("pk")), index)
            if note.related_invoice.status == Invoice.VOID:
                with pytest.raises(InvalidState):
                    invoicing.issue_invoice(self.org, note.pk, issue_date=self.today)
                invoicing.void_invoice(self.org, note.pk, reason="Its invoice is void")
            else:
                invoicing.issue_invoice(self.org, note.pk, issue_date=self.today)

        @precondition(lambda self: self.receivables(*Invoice.OPEN_STATUSES))
        @rule(index=PICK)
        def write_off(self, index):
            invoice = self.pick(self.receivables(*Invoice.OPEN_STATUSES), index)
            invoicing.mark_uncollectible(self.org, invoice.pk, reason="Insolvent")
            self.closed.add(invoice.pk)

        @precondition(lambda self: self.receivables(*Invoice.OPEN_STATUSES, Invoice.UNCOLLECTIBLE, Invoice.PAID))
        @rule(index=PICK)
        def void(self, index):
            invoice = self.pick(self.receivables(*Invoice.OPEN_STATUSES, Invoice.UNCOLLECTIBLE, Invoice.PAID), index)
            if invoice.paid_minor > 0:
                with pytest.raises(InvoiceHasPayments):
                    invoicing.void_invoice(self.org, invoice.pk, reason="Wrong customer")
            else:
                invoicing.void_invoice(self.org, invoice.pk, reason="Wrong customer")
                self.closed.add(invoice.pk)

        @rule()
        def fee(self):
            assess_late_fees(self.org, as_of=self.today)

        # --- what must hold after every step ----------------------------------------------------------------
        @invariant()
        def the_books_agree_and_nothing_is_negative(self):
            org, today = self.org, self.today
            issued = self.receivables()
            open_ = [i for i in issued if i.status in Invoice.OPEN_STATUSES]
            assert all(i.balance_minor >= 0 and i.paid_minor >= 0 for i in issued)  # a loss written off too
            by_invoice = sum(i.balance_minor for i in open_)
            aging = reports.aging_report(org, as_of=today)
            aged = minor(aging["totals"]["EUR"]["total_open"]) if aging["totals"] else 0
            assert all(Decimal(v) >= 0 for row in aging["customers"] for v in row["buckets"].values())
            customers = list(Customer.objects.filter(organization=org).order_by("pk"))
            stated = 0
            for customer in customers:
                statement = reports.statement_of_account(customer, as_of=today)
                assert all(line.open_amount > 0 for line in statement["lines"])
                stated += minor(statement["total_open"].get("EUR", 0))
                credit = payments.credit_balance_minor(customer, "EUR")
                paid_in = (Payment.objects.filter(customer=customer).aggregate(s=Sum("amount_minor"))["s"] or 0) - (
                    Refund.objects.filter(payment__customer=customer).aggregate(s=Sum("amount_minor"))["s"] or 0)
                assert 0 <= credit <= paid_in  # never credit out of money nobody paid
                own = sum(i.balance_minor for i in open_ if i.customer_id == customer.pk)
                assert reports.customer_balance(customer).get("EUR", Decimal(0)) == euros(own - credit)
            assert aged == stated == by_invoice  # aging total = open receivables = the sum of the open amounts
            for invoice in issued:
                assert invoicing.credited_minor(invoice) <= invoice.total_minor
            assert {i.pk for i in issued if i.pk in self.closed and i.status not in CLOSED} == set()
            for kind in (Invoice.KIND_CREDIT_NOTE, None):
                numbered = Invoice.objects.filter(organization=org, number__isnull=False)
                numbered = numbered.filter(kind=kind) if kind else numbered.exclude(kind=Invoice.KIND_CREDIT_NOTE)
                dates = [d for _, d in sorted(numbered.values_list("number", "issue_date"))]
                assert dates == sorted(dates)  # numbers follow issue dates

    run_state_machine_as_test(Books, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
