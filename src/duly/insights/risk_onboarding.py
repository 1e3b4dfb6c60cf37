"""The red-flag check of a new customer (issue 17 part 1): the facts Duly holds, gathered for
:func:`duly.domain.risk.assess`, and the result stored by :mod:`duly.customers.risk_services`.

The facts, all of the customer's own organization (never another's):

- the VAT number's format and check digits for its country (python-stdnum), and, only when ``DULY_VIES_CHECK``
  is on, whether the EU VIES register knows it (:mod:`duly.insights.risk_vies`);
- the company identifier (its electronic address: SIREN, SIRET, GLN...) checked by its scheme;
- the billing e-mail's domain (the customer's, else its first billing or accounts-payable contact's), the address country against the VAT number's;
- the requested terms (the contract's) against the organization's usual ones (the median of its contracts);
- the first invoice against the organization's typical invoice (the median of its issued invoices, same currency);
- the payment method (autopay or not);
- only when ``DULY_CREDIT_BUREAU_URL`` is set, a credit bureau's score of the company
  (:mod:`duly.insights.risk_bureau`);
- the customer's history with this organization: its earlier accounts (other customers with the same VAT number),
  those closed with money owed, disputes, invoices paid late.

:func:`assess_customer` checks one customer (or one contract of it); :func:`assess_new_customers` every customer of
an organization not checked yet and every contract made in the last ``NEW_CONTRACT_DAYS`` days without its check
(the scheduler's pass, in bulk). Both are idempotent: the same facts give the same stored row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from duly.collections.models import Dispute
from duly.customers import risk_services as stored
from duly.customers.endpoints import check_electronic_address
from duly.customers.models import Contract, Customer, Organization, RiskAssessment, RiskCheckRefusal
from duly.customers.services import local_today
from duly.domain.errors import DomainError, RiskCheckError
from duly.domain.money import from_minor
from duly.domain.risk import OnboardingSnapshot, OwnHistory, assess
from duly.invoicing.models import Invoice

from .risk_bureau import CreditBureau, bureau_checker
from .risk_vies import VatChecker, split_vat, vies_checker

log = logging.getLogger(__name__)
NEW_CONTRACT_DAYS = 30
_ISSUED = (Invoice.ISSUED, Invoice.PARTIALLY_PAID, Invoice.PAID)


def _vat_facts(customer: Customer) -> tuple[bool | None, str | None]:
    """(valid, country of the number) of the customer's VAT number; (None, None) without one."""
    from stdnum import get_cc_module
    from stdnum.eu import vat as eu_vat

    vat = customer.tax_id.strip()
    if not vat:
        return None, None
    eu = split_vat(vat)
    if eu is not None:
        country = {"EL": "GR", "XI": "GB"}.get(eu[0], eu[0])
        return bool(eu_vat.is_valid(vat)), country
    module = get_cc_module(customer.country.lower(), "vat") if customer.country else None
    if module is None:
        return None, None  # no rule known for this country: not checked, not a flag
    return bool(module.is_valid(vat)), customer.country.upper()


def _company_facts(customer: Customer) -> tuple[str, bool | None]:
    if not customer.electronic_address:
        return "", None
    try:
        check_electronic_address(customer.electronic_address_scheme, customer.electronic_address)
    except DomainError:
        return customer.electronic_address, False
    return customer.electronic_address, True


class _OrgFacts:
    """What is read once per organization: usual terms and typical invoice per currency."""

    def __init__(self, org: Organization) -> None:
        self.org = org
        terms = list(Contract.objects.filter(organization=org, terms_kind="net").values_list("terms_days", flat=True))
        self.usual_terms = int(statistics.median_low(terms)) if terms else None
        self._typical: dict[str, Decimal | None] = {}

    def typical(self, currency: str) -> Decimal | None:
        if currency not in self._typical:
            totals = list(Invoice.objects.filter(organization=self.org, currency=currency, status__in=_ISSUED,
                                                 kind=Invoice.KIND_STANDARD)
                          .order_by("-issue_date", "-id").values_list("total_minor", flat=True)[:1000])
            self._typical[currency] = from_minor(int(statistics.median_low(totals)), currency) if totals else None
        return self._typical[currency]


def _history(customer: Customer) -> OwnHistory:
    same = Q(pk=customer.pk)
    if customer.tax_id.strip():
        same |= Q(tax_id__iexact=customer.tax_id.strip())
    accounts = list(Customer.objects.filter(same, organization_id=customer.organization_id)
                    .values_list("pk", "status"))
    ids = [pk for pk, _ in accounts]
    invoices = Invoice.objects.filter(organization_id=customer.organization_id, customer_id__in=ids,
                                      kind=Invoice.KIND_STANDARD, status__in=_ISSUED)
    owing = set(invoices.filter(status__in=Invoice.OPEN_STATUSES).values_list("customer_id", flat=True))
    paid = list(invoices.filter(status=Invoice.PAID, due_date__isnull=False, paid_on__isnull=False)
                .values_list("due_date", "paid_on"))
    return OwnHistory(
        earlier_accounts=len(ids) - 1,
        unpaid_closed_accounts=sum(1 for pk, status in accounts
                                   if pk != customer.pk and status == Customer.STATUS_TERMINATED and pk in owing),
        disputes=Dispute.objects.filter(organization_id=customer.organization_id, customer_id__in=ids).count(),
        settled_invoices=len(paid), late_invoices=sum(1 for due, on in paid if on > due))


def billing_email(customer: Customer) -> str:
    """The customer's e-mail, else its first billing or accounts-payable contact's."""
    return customer.email or next((e for e in customer.contacts.filter(role__in=("accounts_payable", "billing"))
                                   .exclude(email="").order_by("pk").values_list("email", flat=True)), "")


def facts_key(customer: Customer, contract: Contract | None = None) -> str:
    """sha256 of the facts a check is refused on (its identifiers, its e-mail, the contract's terms): a refusal is
    remembered under this key and the check retried only once it changes."""
    facts = {"tax_id": customer.tax_id.strip(), "scheme": customer.electronic_address_scheme,
             "address": customer.electronic_address, "email": billing_email(customer),
             "currency": contract.currency if contract is not None else customer.currency,
             "contract": None if contract is None else [contract.pk, contract.terms_kind, contract.terms_days]}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def snapshot_of(customer: Customer, *, contract: Contract | None = None, org_facts: _OrgFacts | None = None,
                vat_registered: bool | None = None, bureau_score: int | None = None) -> OnboardingSnapshot:
    facts = org_facts or _OrgFacts(customer.organization)
    vat_valid, vat_country = _vat_facts(customer)
    company_id, company_valid = _company_facts(customer)
    currency = contract.currency if contract is not None else customer.currency
    first = (Invoice.objects.filter(customer=customer, kind=Invoice.KIND_STANDARD)
             .exclude(status=Invoice.VOID).order_by("issue_date", "id").values_list("total_minor", flat=True)
             .first()) if customer.pk else None
    method = (contract.preferred_payment_method if contract is not None else "") or customer.preferred_payment_method
    email = billing_email(customer)
    return OnboardingSnapshot(
        customer=customer.code, country=customer.country, currency=currency, email=email,
        vat_id=customer.tax_id.strip(), vat_valid=vat_valid, vat_country=vat_country, vat_registered=vat_registered,
        company_id=company_id, company_id_valid=company_valid,
        requested_terms_days=contract.terms_days if contract is not None and contract.terms_kind == "net" else None,
        usual_terms_days=facts.usual_terms,
        first_invoice_amount=from_minor(first, currency) if first is not None else None,
        typical_invoice_amount=facts.typical(currency), payment_method=method or "bank_transfer",
        history=_history(customer), bureau_score=bureau_score)


def _external(customer: Customer, checker: VatChecker | None) -> tuple[bool | None, dict]:
    """The VIES answer (only when turned on, for an EU VAT number of a valid form)."""
    parts = split_vat(customer.tax_id) if customer.tax_id else None
    if checker is None or parts is None:
        return None, {}
    try:
        answer = checker.check(*parts)
    except RiskCheckError as exc:
        return None, {"service": "vies", "error": exc.message}
    return answer.valid, answer.as_dict()


def _bureau(customer: Customer, bureau: CreditBureau | None) -> tuple[int | None, dict]:
    """The credit bureau's score (only when one is set up, for a customer with an identifier to look up)."""
    if bureau is None or not (customer.tax_id.strip() or customer.electronic_address):
        return None, {}
    try:
        answer = bureau.check(country=customer.country.upper(), vat_id=customer.tax_id.strip(),
                              company_id=customer.electronic_address, name=customer.name)
    except RiskCheckError as exc:
        return None, {"service": "credit_bureau", "error": exc.message}
    return answer.score, answer.as_dict()


def assess_customer(customer: Customer, *, as_of: date, contract: Contract | None = None,
                    checker: VatChecker | None = None, org_facts: _OrgFacts | None = None,
                    bureau: CreditBureau | None = None) -> RiskAssessment:
    """Check ``customer`` (and ``contract``) and store the result. ``checker`` defaults to the VIES one when
    ``DULY_VIES_CHECK`` is on, ``bureau`` to the credit bureau when ``DULY_CREDIT_BUREAU_URL`` is set (else
    none; what they answered, or why they could not, is kept in ``external``). Raises RiskCheckError
    (``risk_no_identifiers``) for a customer with nothing to check, and remembers the refusal under :func:`facts_key` (see :func:`assess_new_customers`)."""
    checker = checker if checker is not None else vies_checker()
    bureau = bureau if bureau is not None else bureau_checker()
    registered, external = _external(customer, checker)
    score, rated = _bureau(customer, bureau)
    if rated:
        external = {**external, "bureau": rated}
    snap = snapshot_of(customer, contract=contract, org_facts=org_facts, vat_registered=registered,
                       bureau_score=score)
    try:
        assessment = assess(snap, as_of=as_of)
    except RiskCheckError as exc:
        stored.record_refusal(customer, exc, facts=facts_key(customer, contract), contract=contract, as_of=as_of)
        raise
    return stored.record_assessment(customer, assessment, contract=contract, external=external)


def assess_new_customers(org: Organization, *, as_of: date, checker: VatChecker | None = None,
                         bureau: CreditBureau | None = None) -> dict:
    """Check every customer of ``org`` without a check yet, and every recent contract without its own.

    A customer (or contract) refused on the same facts before (:func:`facts_key`) is not retried: it is counted
    in ``unchanged``; it is checked again once its facts change (a VAT number or an e-mail added...)."""
    checker = checker if checker is not None else vies_checker()
    bureau = bureau if bureau is not None else bureau_checker()
    facts = _OrgFacts(org)
    checked = RiskAssessment.objects.filter(customer=OuterRef("pk"))
    todo: list[tuple[Customer, Contract | None]] = [
        (c, None) for c in Customer.objects.filter(organization=org).annotate(done=Exists(checked))
        .filter(done=False).select_related("organization").order_by("pk")]
    contract_checked = RiskAssessment.objects.filter(contract=OuterRef("pk"))
    recent = as_of - timedelta(days=NEW_CONTRACT_DAYS)
    contracts = list(Contract.objects.filter(organization=org, start_date__gte=recent).annotate(done=Exists(
        contract_checked)).filter(done=False).select_related("customer__organization").order_by("pk"))
    with_contract = {k.customer_id for k in contracts}  # a new customer's first contract: one check, with it
    todo = [(c, None) for c, _ in todo if c.pk not in with_contract] + [(k.customer, k) for k in contracts]
    refused = set(RiskCheckRefusal.objects.filter(organization=org).values_list("customer_id", "facts"))
    refused_customers = {pk for pk, _ in refused}
    result = {"checked": 0, "refused": 0, "unchanged": 0}
    for customer, contract in todo:
        if customer.pk in refused_customers and (customer.pk, facts_key(customer, contract)) in refused:
            result["unchanged"] += 1  # refused on these very facts before: nothing new to check
            continue
        try:
            assess_customer(customer, as_of=as_of, contract=contract, checker=checker, org_facts=facts,
                            bureau=bureau)
            result["checked"] += 1
        except RiskCheckError as exc:
            result["refused"] += 1
            log.info("red-flag check of customer %s refused: %s", customer.code, exc.message)
    return result


def check_on_creation(*, customer: Customer | None = None, contract: Contract | None = None) -> RiskAssessment | None:
    """The red-flag check of a customer just created or a contract just made (the receiver of
    :data:`duly.customers.signals.customer_created` / ``contract_made``, run once the creation has committed).

    It never fails the creation: a refusal (nothing to check) is remembered as :func:`assess_customer` does; any
    other error is logged, nothing is stored, and the scheduler's pass checks the customer later."""
    pk = contract.customer_id if contract is not None else customer.pk
    try:
        customer = Customer.objects.select_related("organization").get(pk=pk)
        if contract is not None:
            contract = Contract.objects.get(pk=contract.pk)
        return assess_customer(customer, as_of=local_today(customer.organization), contract=contract)
    except RiskCheckError as exc:
        log.info("red-flag check of new customer %s refused: %s", pk, exc.message)
    except Exception:  # noqa: BLE001 - a check must never undo nor refuse the creation
        log.exception("red-flag check of new customer %s failed; the scheduler's pass retries it", pk)
    return None
