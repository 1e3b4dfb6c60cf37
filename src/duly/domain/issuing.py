"""Issuing an invoice, as a rule: what a draft becomes when it is issued, or why it is refused.

One rule for both ways an invoice is issued: one at a time (:func:`duly.invoicing.services.issue_invoice`,
a stored draft) and in bulk (:func:`duly.invoicing.bulk.prepare`, the billing run). Both describe what
they issue with the plain values below and ask :func:`plan_issue` for the issued fields; they only
differ in how they number and write them.

Inputs (frozen, plain values)
    :class:`CustomerFacts`, :class:`ContractFacts` (or None), :class:`DraftFacts` (kind, currency, lines,
    header fields), :class:`TermsFacts` (payment terms and the late-payment text stated on the invoice),
    :class:`PrepaidFacts` (deposit and retainer deducted, EN 16931 BT-113) and :class:`CreditFacts` (the
    customer's available credit).
Output
    :class:`IssuePlan`: the invoice's issued fields (totals, due date, terms texts, prepaid amount and its
    state at issue), its lines' amounts, and the customer credit its issue applies with the state that
    leads to. Or a :class:`~duly.domain.errors.DomainError` with a stable code:
    ``customer_not_active``, ``required_field_missing``, ``invalid_input``, ``currency_mismatch``,
    ``not_found``.

The terminated-customer rule is :func:`check_customer_active`, and only there: a terminated customer
gets no new invoice; a credit note drafted for them may still be issued (it corrects what they were
invoiced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from . import invoice_math, lifecycle
from .errors import CurrencyMismatch, CustomerNotActive, NotFound, RequiredFieldMissing, ValidationError
from .money import check_currency, exponent, from_minor
from .payment_terms import PaymentTerms, describe as describe_terms, due_date as compute_due_date

__all__ = [
    "CREDIT_KINDS",
    "KINDS",
    "REQUIRED_FIELD_LABELS",
    "ContractFacts",
    "CreditFacts",
    "CustomerFacts",
    "DraftFacts",
    "IssuePlan",
    "PrepaidFacts",
    "TermsFacts",
    "check_customer_active",
    "check_header",
    "header_defaults",
    "missing_required_fields",
    "plan_issue",
    "required_fields_error",
    "where_to_fill",
    "with_prepaid",
]

STANDARD, DEPOSIT, CREDIT_NOTE, LATE_FEE = "standard", "deposit", "credit_note", "late_fee"
KINDS = (STANDARD, DEPOSIT, CREDIT_NOTE, LATE_FEE)
#: The kinds the customer's available credit is applied to when they are issued.
CREDIT_KINDS = (STANDARD, LATE_FEE)

#: The header fields a customer may require on every invoice, and how messages name them.
REQUIRED_FIELD_LABELS = {
    "po_number": "PO number",
    "cost_centre": "cost centre",
    "ap_contact": "AP contact",
    "billing_address": "billing address",
    "buyer_reference": "buyer reference",
}


@dataclass(frozen=True)
class CustomerFacts:
    id: int
    organization_id: int
    name: str
    code: str = ""
    terminated: bool = False
    currency: str = "EUR"
    locale: str = "en"
    buyer_reference: str = ""
    cost_centre: str = ""
    ap_contact: str = ""
    invoice_address: str = ""
    required_fields: tuple[str, ...] = ()
    custom_required_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContractFacts:
    id: int
    reference: str
    customer_id: int
    currency: str
    po_number: str = ""


@dataclass(frozen=True)
class DraftFacts:
    """What is issued: kind, currency, lines and the header fields a customer may require."""

    kind: str
    currency: str
    lines: tuple[invoice_math.LineInput, ...]
    #: The lines' descriptions, in order (each line needs one).
    descriptions: tuple[str, ...] = ()
    #: The header fields (codes of :data:`REQUIRED_FIELD_LABELS`) with their values.
    header: tuple[tuple[str, str], ...] = ()
    custom_fields: tuple[tuple[str, Any], ...] = ()
    #: How an error names the invoice ("Invoice Draft #12"); empty: "The invoice for <customer>".
    name: str = ""
    #: Accept negative lines (corrections inside one document; an imported invoice's returned lines).
    allow_negative: bool = False
    #: Document allowances and charges (an imported invoice's, as its source had them).
    allowances: tuple[invoice_math.AllowanceCharge, ...] = ()
    #: Rounding added to the amount due (BT-114; an imported invoice's).
    rounding_minor: int = 0


@dataclass(frozen=True)
class TermsFacts:
    """The payment terms an invoice states, and its late-payment text (as of the issue date)."""

    payment: PaymentTerms
    late_text: str = ""


@dataclass(frozen=True)
class PrepaidFacts:
    """What is deducted from the invoice as paid in advance (BT-113), in minor units."""

    deposit_minor: int = 0
    retainer_minor: int = 0

    @property
    def amount_minor(self) -> int:
        return self.deposit_minor + self.retainer_minor


@dataclass(frozen=True)
class CreditFacts:
    """The customer's credit available in the invoice's currency, in minor units."""

    available_minor: int = 0


@dataclass(frozen=True)
class IssuePlan:
    """What an issued invoice is: its issued fields (``Invoice`` column names), lines and credit at issue."""

    #: Column values set when issued (read only: copy before changing).
    fields: Mapping[str, Any]
    totals: invoice_math.InvoiceTotals
    #: (net_minor, discount_minor) of each line, in order.
    line_amounts: tuple[tuple[int, int], ...]
    #: Customer credit the issue applies (applied by payments, which owns the credit ledger).
    credit_minor: int
    #: The invoice's state once that credit is applied.
    after_credit: lifecycle.Settlement

    @property
    def status(self) -> str:
        return self.fields["status"]

    @property
    def total_minor(self) -> int:
        return self.fields["total_minor"]

    @property
    def payable_minor(self) -> int:
        return self.fields["total_minor"] - self.fields["prepaid_minor"]


# --- the checks ---------------------------------------------------------------------------------------------
def check_customer_active(customer: CustomerFacts, kind: str, *, issuing: bool) -> None:
    """THE terminated-customer rule: a terminated customer gets no new invoice (``customer_not_active``).
    When ``issuing`` a draft, a credit note may still be issued: it corrects what they were invoiced."""
    if customer.terminated and not (issuing and kind == CREDIT_NOTE):
        raise CustomerNotActive(f"{customer.name} is terminated: no new invoices can be created or issued "
                                "for them.", customer=customer.name)


def check_header(organization_id: int, organization_name: str, customer: CustomerFacts,
                 contract: ContractFacts | None, kind: str, currency: str | None) -> str:
    """The checks of a new invoice's header: its customer, contract, kind and currency; returns the currency
    (given, else the contract's, else the customer's)."""
    if customer.organization_id != organization_id:
        raise NotFound(f"Customer {customer.id} not found in {organization_name}.")
    if contract is not None and contract.customer_id != customer.id:
        raise ValidationError(f"Contract {contract.reference} does not belong to {customer.name}.")
    check_customer_active(customer, kind, issuing=False)
    if kind not in KINDS:
        raise ValidationError(f"Unknown invoice kind {kind!r}.")
    currency = currency or (contract.currency if contract else customer.currency)
    check_currency(currency)
    if contract is not None and contract.currency != currency:
        raise CurrencyMismatch(
            f"Contract {contract.reference} is in {contract.currency}; the invoice cannot be in {currency}.",
            expected=contract.currency, got=currency,
        )
    return currency


def header_defaults(customer: CustomerFacts, contract: ContractFacts | None) -> dict[str, str]:
    """The header fields a new invoice copies: the PO number from its contract, the rest from its customer."""
    return {
        "po_number": contract.po_number if contract is not None and contract.po_number else "",
        "buyer_reference": customer.buyer_reference,
        "cost_centre": customer.cost_centre,
        "ap_contact": customer.ap_contact,
        "billing_address": customer.invoice_address,
    }


def missing_required_fields(customer: CustomerFacts, header: Mapping[str, Any],
                            custom_fields: Mapping[str, Any] | None) -> list[str]:
    """The fields ``customer`` requires that are empty: the labels of header fields, then custom field names."""
    missing = [REQUIRED_FIELD_LABELS[code] for code in customer.required_fields
               if not str(header.get(code, "") or "").strip()]
    custom = custom_fields or {}
    missing += [name for name in customer.custom_required_fields if not str(custom.get(name, "")).strip()]
    return missing


def where_to_fill(customer: CustomerFacts, contract: ContractFacts | None, missing: Sequence[str]) -> str:
    """Where each missing required field of a generated invoice is filled in: the PO number on the contract, the
    other fields on the customer; the custom fields a customer requires cannot be filled by a run."""
    on_contract = [f for f in missing if f == REQUIRED_FIELD_LABELS["po_number"]]
    custom = [f for f in missing if f in customer.custom_required_fields and f not in REQUIRED_FIELD_LABELS.values()]
    on_customer = [f for f in missing if f not in on_contract and f not in custom]
    under = f"contract {contract.reference}" if contract is not None else "no contract"
    fixes = []
    if on_contract:
        fixes.append(f"set the PO number on {under} (back office: Customers › Contracts)" if contract is not None
                     else "give the customer a contract with its PO number (back office: Customers › Contracts)")
    if on_customer:
        fixes.append(f"set the {', '.join(on_customer)} on customer {customer.code} (back office: Customers › "
                     "Customers), which every invoice of theirs copies")
    if custom:
        fixes.append(f"invoice {under} by hand with the custom field{'s' if len(custom) > 1 else ''} "
                     f"{', '.join(repr(f) for f in custom)} (a billing run fills no custom field), or no longer "
                     f"require {'them' if len(custom) > 1 else 'it'} on customer {customer.code}")
    text = "; ".join(fixes)
    return f"To fix it: {text}; then bill again" + (f" ({under})." if on_customer and not on_contract else ".")


def required_fields_error(customer: CustomerFacts, contract: ContractFacts | None, missing: Sequence[str], *,
                          explain_fix: bool = False) -> RequiredFieldMissing:
    """The refusal of an invoice missing required fields (``explain_fix``: and where a run's user fills them)."""
    context: dict[str, Any] = {"field": missing[0], "customer": customer.name}
    if explain_fix:
        context["contract"] = contract.reference if contract is not None else None
    return RequiredFieldMissing(
        f"{customer.name} requires the field '{missing[0]}' on every invoice; it is missing"
        + (f" (also missing: {', '.join(missing[1:])})." if len(missing) > 1 else ".")
        + (" " + where_to_fill(customer, contract, missing) if explain_fix else ""),
        **context,
    )


# --- the plan -------------------------------------------------------------------------------------------------
def _minor(value: Decimal, places: int) -> int:
    """Minor units of an amount compute_totals already rounded to the currency."""
    scaled = value.scaleb(places)
    result = int(scaled)
    if result != scaled:  # pragma: no cover - compute_totals rounds every amount it returns
        raise ValidationError(f"{value} has more decimals than the currency allows.")
    return result


def _due(terms: PaymentTerms, issue_date: date) -> tuple[date, str]:
    return compute_due_date(terms, issue_date), describe_terms(terms, issue_date)


def plan_issue(draft: DraftFacts, customer: CustomerFacts, contract: ContractFacts | None, terms: TermsFacts,
               prepaid: PrepaidFacts, credit: CreditFacts, issue_date: date, *,
               totals: Callable[[], invoice_math.InvoiceTotals] | None = None,
               due: Callable[[PaymentTerms, date], tuple[date, str]] = _due,
               late: Callable[[], str] | None = None, explain_fix: bool = False) -> IssuePlan:
    """The issued fields of ``draft``, issued on ``issue_date``; or the refusal, checked in this order:

    a terminated customer (``customer_not_active``), no line or a line without a description
    (``invalid_input``), a missing required field (``required_field_missing``; ``explain_fix``: the message
    says where a billing run's user fills it), a negative total (``invalid_input``: a credit note corrects).

    ``totals``: how the caller computes the lines' totals (it may remember them, or store them on a draft);
    default :func:`~duly.domain.invoice_math.compute_totals`. ``due``: the due date and terms text of terms
    on a date (a caller may remember them). ``late``: how the caller describes the late-payment terms, once the
    invoice is accepted (instead of ``terms.late_text``). An invoice covered in full by its prepaid amount is
    paid on issue (:func:`with_prepaid` checks a deduction known later).
    """
    name = draft.name or f"The invoice for {customer.name}"
    check_customer_active(customer, draft.kind, issuing=True)
    if not draft.lines:
        raise ValidationError(f"{name} has no lines.")
    for i, text in enumerate(draft.descriptions, 1):
        if not text or not str(text).strip():
            raise ValidationError(f"line {i}: a description is required.")
    missing = missing_required_fields(customer, dict(draft.header), dict(draft.custom_fields))
    if missing:
        raise required_fields_error(customer, contract, missing, explain_fix=explain_fix)
    computed = totals() if totals is not None else invoice_math.compute_totals(
        draft.lines, draft.currency, draft.allowances, allow_negative=draft.allow_negative)
    if computed.tax_inclusive < 0:
        raise ValidationError(f"{name} has a negative total; issue a credit note instead.")
    places = exponent(draft.currency)
    total_minor = _minor(computed.tax_inclusive, places)
    prepaid_minor = prepaid.amount_minor
    state = lifecycle.issued(total_minor, prepaid_minor, issue_date, rounding_minor=draft.rounding_minor)
    fields: dict[str, Any] = {
        "kind": draft.kind,
        "currency": draft.currency,
        "issue_date": issue_date,
        "status": state.status,
        "paid_on": state.paid_on,
        "paid_minor": state.paid_minor,
        "prepaid_minor": prepaid_minor,
        "line_total_minor": _minor(computed.line_total, places),
        "allowance_total_minor": _minor(computed.allowance_total, places),
        "charge_total_minor": _minor(computed.charge_total, places),
        "tax_exclusive_minor": _minor(computed.tax_exclusive, places),
        "tax_total_minor": _minor(computed.tax_total, places),
        "total_minor": total_minor,
        "tax_breakdown": [
            {"category": t.category, "rate": str(t.rate), "taxable_minor": _minor(t.taxable_amount, places),
             "tax_minor": _minor(t.tax_amount, places)}
            for t in computed.tax_breakdown
        ],
    }
    if draft.kind == CREDIT_NOTE:
        fields["due_date"], fields["payment_terms_text"] = None, ""
    else:
        fields["due_date"], fields["payment_terms_text"] = due(terms.payment, issue_date)
        fields["late_terms_text"] = late() if late is not None else terms.late_text
    return _with_credit(IssuePlan(
        fields=fields, totals=computed,
        line_amounts=tuple((_minor(r.net_amount, places), _minor(r.discount_amount, places)) for r in computed.lines),
        credit_minor=0, after_credit=state), credit, draft.rounding_minor)


def _with_credit(plan: IssuePlan, credit: CreditFacts, rounding_minor: int = 0) -> IssuePlan:
    if credit.available_minor <= 0:
        return plan  # no credit to apply (callers pass plans with none applied yet): the plan as it is
    fields = plan.fields
    payable = fields["total_minor"] - fields["prepaid_minor"] + rounding_minor
    open_minor = payable - fields["paid_minor"]
    credit_minor = (min(max(credit.available_minor, 0), open_minor)
                    if fields["kind"] in CREDIT_KINDS and open_minor > 0 else 0)
    state = lifecycle.Settlement(fields["status"], fields["paid_minor"], fields["paid_on"])
    after = (lifecycle.settle(state.status, state.paid_minor, payable, credit_minor, fields["issue_date"])
             if credit_minor else state)
    return IssuePlan(fields=fields, totals=plan.totals, line_amounts=plan.line_amounts, credit_minor=credit_minor,
                     after_credit=after)


def with_prepaid(plan: IssuePlan, prepaid: PrepaidFacts, credit: CreditFacts = CreditFacts(), *,
                 lines: Sequence[invoice_math.LineInput] = (), allow_negative: bool = False) -> IssuePlan:
    """``plan`` with ``prepaid`` deducted instead (a deposit or retainer known once the invoice is planned):
    between 0 and its total (else ``invalid_input``); covered in full, it is paid on issue. With ``lines``
    (the plan's), its totals state the amount due (BT-115) as EN 16931 computes it."""
    fields = dict(plan.fields)
    total_minor, prepaid_minor = fields["total_minor"], prepaid.amount_minor
    if not 0 <= prepaid_minor <= total_minor:
        raise ValidationError(
            f"The prepaid amount must be between 0 and the invoice total ({total_minor} minor units).")
    state = lifecycle.issued(total_minor, prepaid_minor, fields["issue_date"])
    fields.update(prepaid_minor=prepaid_minor, status=state.status, paid_on=state.paid_on, paid_minor=state.paid_minor)
    totals = plan.totals
    if prepaid_minor and lines:
        totals = invoice_math.compute_totals(lines, fields["currency"], prepaid=from_minor(prepaid_minor,
                                             fields["currency"]), allow_negative=allow_negative)
    return _with_credit(IssuePlan(fields=fields, totals=totals, line_amounts=plan.line_amounts, credit_minor=0,
                                  after_credit=state), credit)
