"""One way to issue: an invoice issued one at a time (``create_draft`` + ``issue_invoice``) and the same invoice
issued in bulk (``bulk.prepare`` + ``bulk.issue_prepared``, then the retainer balances frozen as the billing run
freezes them) come out the same (issue 12, "One way to issue").

Over customer credit, prepaid amounts (a deposit or retainer deducted), deposit invoices, customers with a
retainer, required fields (filled or not, on the customer or the contract) and terminated customers: the same
invoice fields, lines, credit drawn and document snapshot, or the same refusal (its code, the field it names,
and for a terminated customer its words). Both paths start from the same database state (each runs in a
savepoint rolled back afterwards), so both take the same number. The pure plan
(:func:`duly.domain.issuing.plan_issue`) predicts the credit applied and the state it leads to.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duly.billing.models import RetainerAgreement
from duly.billing.retainers import freeze_on_invoices
from duly.customers.models import Customer
from duly.domain.errors import DomainError
from duly.invoicing import bulk, services
from duly.invoicing.models import Invoice
from duly.payments.models import Allocation, CreditEntry

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 4, 2)
CODES = ["po_number", "cost_centre", "ap_contact", "buyer_reference", "billing_address"]
SKIP = {"id", "issued_at", "created_at"}


class _Rollback(Exception):
    pass


lines_st = st.lists(st.tuples(
    st.sampled_from(["Consulting", "Licences", "Support"]),
    st.sampled_from([Decimal("1"), Decimal("2.5"), Decimal("3")]),
    st.sampled_from([Decimal("0"), Decimal("99.99"), Decimal("480.00"), Decimal("12.345")]),
    st.sampled_from([Decimal("0"), Decimal("5.5"), Decimal("20")]),
), min_size=0, max_size=3)

case_st = st.fixed_dictionaries({
    "lines": lines_st,
    "no_lines": st.tuples(st.booleans(), st.booleans(), st.booleans()).map(all),
    "kind": st.sampled_from([Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT]),
    "credit": st.sampled_from([0, 1, 5000, 10_000_000]),
    "prepaid": st.sampled_from([0, 1, 2500, "total"]),
    "retainer": st.booleans(),
    "required": st.lists(st.sampled_from(CODES), unique=True, max_size=3),
    "filled": st.lists(st.sampled_from(CODES), unique=True, max_size=5),
    "required_met": st.sampled_from([True, True, True, False]),
    "custom_required": st.sampled_from([False] * 5 + [True]),
    "terminated": st.sampled_from([None] * 8 + ["before_draft", "before_issue"]),
})


def _outcome(fn):
    """What a path produced: ("issued", fields, lines, credit) or ("refused", code, field, message)."""
    try:
        with transaction.atomic():
            invoice = fn()
            invoice = Invoice.objects.get(pk=invoice.pk)
            fields = {f.attname: getattr(invoice, f.attname) for f in Invoice._meta.concrete_fields
                      if f.attname not in SKIP}
            line_fields = [f.attname for f in invoice.lines.model._meta.concrete_fields
                           if f.attname not in ("id", "invoice_id")]
            lines = [[getattr(x, f) for f in line_fields] for x in invoice.lines.order_by("position")]
            credit = sorted(Allocation.objects.filter(invoice=invoice).values_list("amount_minor", "from_credit"))
            drawn = sorted(CreditEntry.objects.filter(invoice=invoice).values_list("amount_minor", "memo"))
            result = ("issued", fields, lines, credit, drawn)
            raise _Rollback
    except _Rollback:
        return result
    except DomainError as exc:
        message = exc.message if exc.code == "customer_not_active" else None
        return ("refused", exc.code, exc.context.get("field"), message)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=case_st)
def test_issuing_one_invoice_or_in_bulk_gives_the_same_invoice_or_the_same_refusal(org, make_customer,
                                                                                  make_contract, case):
    try:
        with transaction.atomic():
            _compare(org, make_customer, make_contract, case)
            raise _Rollback
    except _Rollback:
        pass


def _compare(org, make_customer, make_contract, case):
    filled = set(case["filled"]) | (set(case["required"]) if case["required_met"] else set())
    customer = make_customer(
        "PROP", name="Prop SA", buyer_reference="BR-7" if "buyer_reference" in filled else "",
        cost_centre="CC-1" if "cost_centre" in filled else "", ap_contact="Ana" if "ap_contact" in filled else "",
        invoice_address="1 Main St\n75001 Paris" if "billing_address" in filled else "",
        required_fields=case["required"],
        custom_required_fields=["Project code"] if case["custom_required"] else [],
        credit_allowed=True,
    )
    contract = make_contract(customer, terms_kind="end_of_month", terms_days=10,
                             po_number="PO-42" if "po_number" in filled else "",
                             late_fee_kind="interest_annual", late_rate_percent=Decimal("10"))
    if case["retainer"]:
        RetainerAgreement.objects.create(organization=org, customer=customer, contract=contract, currency="EUR",
                                         topup_minor=100_000, threshold_minor=10_000, created_on=date(2026, 1, 1))
    if case["credit"]:
        CreditEntry.objects.create(organization=org, customer=customer, currency="EUR", amount_minor=case["credit"],
                                   memo="Opening credit", created_on=date(2026, 1, 1))
    lines = [services.LineData(desc, qty, price, tax_rate=rate) for desc, qty, price, rate in case["lines"]
             if not case["no_lines"]]
    if case["terminated"] == "before_draft":
        Customer.objects.filter(pk=customer.pk).update(status=Customer.STATUS_TERMINATED)
        customer.refresh_from_db()
    total = services.check_lines(lines, "EUR").tax_inclusive if lines else Decimal(0)
    total_minor = int(total * 100)
    prepaid = total_minor if case["prepaid"] == "total" else min(case["prepaid"], max(total_minor, 0))

    def terminate_now():
        if case["terminated"] == "before_issue":
            Customer.objects.filter(pk=customer.pk).update(status=Customer.STATUS_TERMINATED)
            customer.refresh_from_db()

    def one_by_one():
        draft = services.create_draft(org, customer, lines, kind=case["kind"], contract=contract)
        terminate_now()
        return services.issue_invoice(org, draft.pk, issue_date=ISSUE, prepaid_minor=prepaid)

    def in_bulk():
        terminate_now()
        item = bulk.BulkInvoice(customer=Customer.objects.get(pk=customer.pk), contract=contract, lines=lines,
                                kind=case["kind"], prepaid_minor=prepaid)
        (invoice,) = bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=ISSUE)], issue_date=ISSUE)
        freeze_on_invoices(Invoice.objects.filter(pk=invoice.pk), as_of=ISSUE)  # as the billing run does
        return invoice

    # A terminated customer is refused when drafting (check_draft) or issuing: one rule, the same words.
    one, many = _outcome(one_by_one), _outcome(in_bulk)
    assert one == many, case
    if one[0] == "issued":
        fields = one[1]
        assert fields["prepaid_minor"] == prepaid
        assert fields["paid_minor"] == sum(amount for amount, from_credit in one[3] if from_credit)
    else:
        if case["terminated"]:
            assert one[1] == "customer_not_active"
