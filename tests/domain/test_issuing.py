"""Issuing as plain values (duly.domain.issuing.plan_issue)."""

from datetime import date
from decimal import Decimal

import pytest

from duly.domain import issuing
from duly.domain.errors import CustomerNotActive, RequiredFieldMissing, ValidationError
from duly.domain.invoice_math import LineInput
from duly.domain.payment_terms import PaymentTerms

ON = date(2026, 4, 2)
CUSTOMER = issuing.CustomerFacts(id=1, organization_id=1, name="Acme SA", code="ACME", required_fields=("po_number",))
CONTRACT = issuing.ContractFacts(id=2, reference="CTR-1", customer_id=1, currency="EUR", po_number="PO-1")
TERMS = issuing.TermsFacts(PaymentTerms(kind="net", days=30), late_text="No late fees.")


def draft(kind="standard", lines=(LineInput(Decimal(2), Decimal("50"), "S", Decimal(20)),), **header):
    header = {**issuing.header_defaults(CUSTOMER, CONTRACT), **header}
    return issuing.DraftFacts(kind=kind, currency="EUR", lines=tuple(lines), descriptions=("Work",) * len(lines),
                              header=tuple(header.items()))


def plan(d=None, *, customer=CUSTOMER, prepaid=0, credit=0):
    return issuing.plan_issue(d or draft(), customer, CONTRACT, TERMS, issuing.PrepaidFacts(deposit_minor=prepaid),
                              issuing.CreditFacts(credit), ON)


def test_the_plan_states_totals_terms_and_state():
    p = plan()
    assert p.fields["total_minor"] == 12000 and p.fields["due_date"] == date(2026, 5, 2)
    assert p.fields["late_terms_text"] == "No late fees." and p.status == "issued" and p.credit_minor == 0


def test_credit_and_prepaid_amounts():
    assert plan(credit=5000).after_credit.status == "partially_paid"
    assert plan(credit=99999).credit_minor == 12000
    full = plan(prepaid=12000, credit=500)
    assert full.status == "paid" and full.fields["paid_on"] == ON and full.credit_minor == 0
    assert plan(draft("deposit"), credit=500).credit_minor == 0  # a deposit invoice takes no credit
    later = issuing.with_prepaid(plan(), issuing.PrepaidFacts(retainer_minor=2000), issuing.CreditFacts(50_000))
    assert later.fields["prepaid_minor"] == 2000 and later.credit_minor == 10000
    with pytest.raises(ValidationError, match="prepaid amount"):
        issuing.with_prepaid(plan(), issuing.PrepaidFacts(deposit_minor=12001))


def test_one_terminated_customer_rule():
    gone = issuing.CustomerFacts(**{**CUSTOMER.__dict__, "terminated": True})
    with pytest.raises(CustomerNotActive, match="Acme SA is terminated: no new invoices"):
        plan(customer=gone)
    with pytest.raises(CustomerNotActive):
        issuing.check_header(1, "Org", gone, CONTRACT, "credit_note", None)
    assert plan(draft("credit_note"), customer=gone).fields["due_date"] is None  # a drafted credit note issues


def test_refusals_in_order():
    with pytest.raises(ValidationError, match="has no lines"):
        plan(draft(lines=()))
    with pytest.raises(RequiredFieldMissing) as missing:
        plan(draft(po_number=""))
    assert missing.value.context["field"] == "PO number"
    negative = issuing.DraftFacts(**{**draft(lines=(LineInput(Decimal(-1), Decimal(5), "S", Decimal(0)),)).__dict__,
                                     "allow_negative": True})
    with pytest.raises(ValidationError, match="The invoice for Acme SA has a negative total"):
        plan(negative)
