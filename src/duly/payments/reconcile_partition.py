"""Reconciliation split into partitions (docs/scale-out.md): match once, apply in parallel.

A statement line is matched against every open item of the organization, and the lines of one run consume what
they pay in booking order (instalments each take what the earlier left): matching cannot be split without changing
decisions. It is also the cheap part (about a tenth of a run's CPU, see docs/reconciliation.md); the writes are
not. So a partitioned run is:

1. **plan**, one task (:func:`plan_partitions`): the organization's own direct-debit lines settled, then every new
   line matched in one pass, exactly as :func:`~duly.payments.reconcile_services.reconcile` does;
2. **apply**, one task per partition (:func:`apply_partition`): a line the plan applies to a customer's invoices goes
   to that customer's partition (``customer id % count``, :mod:`duly.db.partition`), so every write to a
   customer's invoices, payments, credit and messages happens in one partition, in the order one process makes
   them; a line that pays nobody (review, outgoing) writes only its own review entry and goes to the partition of
   its line id.

The decisions are those of one process by construction (one matching pass); the partitions only write them. The
plan travels in the partitions' task arguments (:func:`encode` / :func:`decode`), so a partition redelivered after
its worker died applies the same decisions; the lines it committed are no longer new and are skipped, and a payment
is recorded once under its line's reference (``bank-line:<id>``, unique).
"""

from __future__ import annotations

from datetime import date

from duly.customers.models import Organization
from duly.db import partition as parts
from duly.domain.matching import Allocation, Decision, Evidence, LineMatch, MatchPolicy, Proposal

from .bank_models import StatementLine
from .reconcile_services import DEFAULT_POLICY, ReconcileResult, apply_planned, plan

__all__ = ["apply_partition", "decode", "encode", "owner", "plan_partitions"]


def encode(result: LineMatch) -> dict:
    """A line's decision as JSON-safe data (a Celery task argument)."""
    return {"line": result.line_id, "decision": result.decision.value, "category": result.category,
            "customer_id": result.customer_id,
            "proposals": [[p.customer_id, p.currency, [[a.invoice_id, a.amount_minor] for a in p.allocations],
                           p.credit_minor, p.write_off_minor, p.score,
                           [[e.rule, e.matched, e.detail] for e in p.evidence], list(p.blockers)]
                          for p in result.proposals]}


def decode(data: dict) -> LineMatch:
    """The :class:`LineMatch` :func:`encode` wrote (equal to the original)."""
    return LineMatch(
        line_id=data["line"], decision=Decision(data["decision"]), category=data["category"],
        customer_id=data["customer_id"],
        proposals=tuple(Proposal(customer_id=cid, currency=currency,
                                 allocations=tuple(Allocation(iid, amount) for iid, amount in allocations),
                                 credit_minor=credit, write_off_minor=write_off, score=score,
                                 evidence=tuple(Evidence(*e) for e in evidence), blockers=tuple(blockers))
                        for cid, currency, allocations, credit, write_off, score, evidence, blockers
                        in data["proposals"]))


def owner(line_id: int, result: LineMatch) -> int:
    """The id a line is partitioned by: the customer a sure match pays, else the line's own id (a line in review
    or outgoing writes nothing but itself)."""
    best = result.best
    if result.decision is Decision.AUTO and best is not None and best.customer_id is not None:
        return best.customer_id
    return line_id


def plan_partitions(org: Organization, *, as_of: date, count: int,
                    policy: MatchPolicy = DEFAULT_POLICY) -> tuple[list[list[dict]], int]:
    """Step 1: match the new lines once (:func:`~duly.payments.reconcile_services.plan`) and split the decisions
    into ``count`` lists, each in booking order. Returns them and the number of direct-debit lines settled."""
    count = parts.check((0, count))[1]
    planned = plan(org, as_of=as_of, policy=policy)
    out: list[list[dict]] = [[] for _ in range(count)]
    for row, result in planned.pairs:
        out[owner(row.pk, result) % count].append(encode(result))
    return out, planned.debits


def apply_partition(org: Organization, items: list[dict], *, as_of: date) -> ReconcileResult:
    """Step 2: apply one partition's decisions (as one process applies them: simple sure matches in bulk, then the
    others one by one, in booking order). Lines applied before (a redelivered partition) are skipped."""
    results = [decode(item) for item in items]
    rows = StatementLine.objects.filter(organization=org).in_bulk([r.line_id for r in results])
    return apply_planned(org, [(rows[r.line_id], r) for r in results if r.line_id in rows], as_of=as_of)
