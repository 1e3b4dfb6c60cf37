"""A new customer's red-flag check as stored, and staff's decisions on its recommendation (the writers).

- :func:`record_assessment`: stores an :class:`~duly.domain.risk.Assessment` (made by ``duly.insights``, which
  gathers the facts from the apps above this one); the same check on the same facts is stored once.
- :func:`record_refusal`: a check that could not be made (nothing to check), remembered per set of facts.
- :func:`accept_recommendation`: staff take the recommendation: the contract gets the deposit, the terms and
  "require autopay" through :func:`duly.customers.services.update_contract` (the same checks as everywhere), the
  customer its credit limit (:func:`duly.customers.services.set_credit_limit`), which issuing enforces.
- :func:`override_recommendation`: staff set other terms, with a note saying why (required).

Each decision is a :class:`~duly.customers.models.RiskDecision` row: who, when, why and which terms. Nothing is
half-written: the decision, the assessment's state and the contract change commit together.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction

from duly.domain.errors import RiskCheckError
from duly.domain.risk import Assessment

from . import roles
from .models import Contract, Customer, RiskAssessment, RiskCheckRefusal, RiskDecision
from .services import set_credit_limit, update_contract


def record_assessment(customer: Customer, assessment: Assessment, *, contract: Contract | None = None,
                      external: dict | None = None) -> RiskAssessment:
    data = assessment.as_dict()
    if contract is not None and contract.customer_id != customer.pk:
        raise RiskCheckError("The contract is not this customer's.", code="risk_bad_input")
    content = {**data, "contract": contract.pk if contract else None, "external": external or {}}
    fingerprint = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    with transaction.atomic():
        row, _ = RiskAssessment.objects.get_or_create(customer=customer, fingerprint=fingerprint, defaults=dict(
            organization_id=customer.organization_id, contract=contract, score=data["score"], level=data["level"],
            flags=data["flags"], recommendation=data["recommendation"], external=external or {},
            version=data["version"], assessed_on=assessment.as_of))
    return row


def record_refusal(customer: Customer, error: RiskCheckError, *, facts: str, contract: Contract | None = None,
                   as_of) -> RiskCheckRefusal:
    """Remember that ``customer``'s check was refused on the facts hashed as ``facts`` (stored once per facts)."""
    row, _ = RiskCheckRefusal.objects.get_or_create(customer=customer, facts=facts, defaults=dict(
        organization_id=customer.organization_id, contract=contract, code=error.code, message=error.message,
        refused_on=as_of))
    return row


def _check_decider(row: RiskAssessment, user) -> None:
    if not roles.has_permission(user, row.organization_id, "manage_customers"):
        raise RiskCheckError("Only staff who manage customers decide on a risk recommendation.",
                             code="risk_decision_forbidden")


def _terms(deposit_percent, terms_days, require_autopay, credit_limit) -> dict:
    try:
        deposit = Decimal(str(deposit_percent)) if deposit_percent not in (None, "") else None
        limit = Decimal(str(credit_limit)) if credit_limit not in (None, "") else None
    except InvalidOperation:
        raise RiskCheckError("The deposit and the credit limit must be numbers.", code="risk_bad_input") from None
    if deposit is not None and not Decimal(0) <= deposit <= Decimal(100):
        raise RiskCheckError(f"A deposit of {deposit}% is not between 0 and 100.", code="risk_bad_input")
    if terms_days is not None and (not isinstance(terms_days, int) or not 0 <= terms_days <= 365):
        raise RiskCheckError(f"{terms_days!r} is not a number of days between 0 and 365.", code="risk_bad_input")
    if limit is not None and limit < 0:
        raise RiskCheckError("A credit limit cannot be negative.", code="risk_bad_input")
    return {"deposit_percent": None if deposit is None else str(deposit), "terms_days": terms_days,
            "require_autopay": bool(require_autopay), "credit_limit": None if limit is None else str(limit)}


def _decide(row: RiskAssessment, *, user, action: str, note: str, terms: dict, now: datetime) -> RiskAssessment:
    _check_decider(row, user)
    with transaction.atomic():
        row = RiskAssessment.objects.select_for_update().get(pk=row.pk)
        contract = row.contract
        if contract is not None:
            changes: dict = {}
            if terms.get("deposit_percent") is not None:
                deposit = Decimal(terms["deposit_percent"])
                changes.update(deposit_kind="percent" if deposit else "none", deposit_percent=deposit)
            if terms.get("terms_days") is not None:
                changes.update(terms_kind="net", terms_days=terms["terms_days"], terms_day_of_month=None)
            if bool(terms.get("require_autopay")) != contract.require_autopay:
                changes["require_autopay"] = bool(terms.get("require_autopay"))
            if changes:
                update_contract(contract, **changes)
        # The credit limit decided (none: no limit), in the currency the check was made in.
        set_credit_limit(row.customer, terms.get("credit_limit"),
                         row.recommendation.get("currency") or row.customer.currency)
        RiskDecision.objects.create(organization_id=row.organization_id, assessment=row, action=action,
                                    decided_by=user, decided_at=now, note=note, terms=terms)
        RiskAssessment.objects.filter(pk=row.pk).update(decision=action)
        row.decision = action
    return row


def accept_recommendation(row: RiskAssessment, *, user, now: datetime, note: str = "") -> RiskAssessment:
    """Take the recommendation: the contract (if the check was made for one) gets its deposit and terms."""
    r = row.recommendation
    terms = _terms(r.get("deposit_percent"), r.get("terms_days"), r.get("require_autopay"), r.get("credit_limit"))
    return _decide(row, user=user, action=RiskAssessment.ACCEPTED, note=note.strip(), terms=terms, now=now)


def override_recommendation(row: RiskAssessment, *, user, now: datetime, note: str, deposit_percent=None,
                            terms_days: int | None = None, require_autopay: bool = False,
                            credit_limit=None) -> RiskAssessment:
    """Set other terms than recommended; ``note`` says why (required: an override is audited)."""
    if not (note or "").strip():
        raise RiskCheckError("Say why the recommendation is overridden (a note is required).",
                             code="risk_override_note_missing")
    terms = _terms(deposit_percent, terms_days, require_autopay, credit_limit)
    return _decide(row, user=user, action=RiskAssessment.OVERRIDDEN, note=note.strip(), terms=terms, now=now)
