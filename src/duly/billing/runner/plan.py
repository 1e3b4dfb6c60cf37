"""Planning a billing batch: load it, compose its invoices (the pure rules), prepare them, and turn the
result into the rows the writer inserts (:class:`~duly.billing.services.run_writer.ChunkPlan`). No write."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Sequence

from django.utils import timezone

from duly.customers.models import Organization
from duly.customers.services import reference_rates_for_contracts
from duly.domain.compose import InvoiceGroup, compose_invoices, notes_text
from duly.invoicing import bulk
from duly.translation import render

from ..models import BillingRecord, Subscription
from ..words import in_customer_language
from ..services.run_writer import RECORD_COLUMNS, ChunkPlan, record_row
from .load import Catalog, Due, load_batch
from .topups import topup_invoice

__all__ = ["plan_batch"]


def plan_batch(org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int], has_retainers: bool,
               due: Due, *, lock: bool) -> ChunkPlan:
    """Read what a batch needs and plan what it writes (no write). ``lock``: lock the batch's subscriptions
    (in the caller's transaction); without it, the caller holds the locks (see runner.execute)."""
    loaded = load_batch(org, as_of, catalog, customer_ids, has_retainers=has_retainers,
                        with_pending=[c for c in customer_ids if c in due.with_pending],
                        with_late=[c for c in customer_ids if c in due.with_late], lock=lock)
    snapshot, customers, contracts = loaded.snapshot, loaded.customers, loaded.contracts

    # Each invoice is prepared by the invoicing fast path (totals, required fields, terms): a customer whose
    # invoice cannot be issued is left out whole (compose_invoices catches the DomainError).
    terms_cache: dict[int, tuple] = {}
    rates: dict = {}
    own_contracts = loaded.subscription_contracts
    prepared: dict[int, bulk.PreparedInvoice] = {}
    checks = bulk.IssueChecks(org, as_of)

    def before_totals(groups: Sequence[InvoiceGroup]) -> None:
        rates.update(reference_rates_for_contracts(contracts[g.contract_id] for g in groups))  # one query at most

    def total_of(group: InvoiceGroup) -> int:
        contract = contracts[group.contract_id]
        if group.contract_id not in own_contracts:  # a late usage or pending charge's contract: its customer's
            contract.customer = customers[group.customer_id]
        if contract.id not in terms_cache:  # a contract has one customer: one language
            locale = customers[group.customer_id].locale  # the late terms are frozen in the customer's words
            key = (contract.terms_key(), locale)
            shared = catalog.terms.get(key)
            if shared is None:
                shared = catalog.terms[key] = (
                    contract.payment_terms(),  # = terms_for(an invoice under it)
                    bulk.describe_late_terms(contract.late_fee_policy(rates), contract.currency, as_of, locale))
            terms_cache[contract.id] = shared
        terms, late_text = terms_cache[contract.id]
        dated = [(line.period_start, line.period_end) for line in group.lines if line.period_start]
        customer = customers[group.customer_id]
        item = bulk.BulkInvoice(  # the lines' words in the customer's language, frozen as issued
            customer=customer, contract=contract, lines=in_customer_language(group.lines, customer.locale),
            service_period=(min(d[0] for d in dated), max(d[1] for d in dated)) if dated else None,
            allow_negative=any(line.quantity < 0 for line in group.lines),
        )
        prep = prepared[id(group)] = bulk.prepare(org, item, issue_date=as_of, terms=terms, late_terms_text=late_text)
        checks(prep)  # the seller's identifiers, the VAT accounting currency's rate: this customer left out if not
        return prep.total_minor

    plan = compose_invoices(snapshot, catalog, total_of, before_totals=before_totals)
    failed = plan.failed

    # Deposits and retainers (computed by the composition): the prepaid amount, the notes, the top-ups.
    preps = []
    topups = []
    drawdowns = []
    for group in plan.invoiced:
        prep = prepared[id(group)]
        preps.append(prep)
        app = group.prepaid
        contract = contracts[group.contract_id]
        if app.topup is not None:
            retainer, balance = app.topup
            terms, late_text = terms_cache[contract.id]
            topups.append((retainer, bulk.prepare(org, topup_invoice(customers[group.customer_id], contract, retainer,
                                                                     balance),
                                                  issue_date=as_of, terms=terms, late_terms_text=late_text)))
        if app.prepaid_minor:
            bulk.set_prepaid(prep, app.prepaid_minor)
        drawdowns += [(prep, kind, amount) for kind, amount in app.drawdowns]
        notes = group.notes
        if notes:
            prep.fields["notes"] = render(notes_text(notes), customers[group.customer_id].locale)

    # Everything the batch writes, as rows (the invoices' document snapshots frozen, values adapted): the
    # writer only numbers the invoices and fills in their ids.
    preps += [t for _, t in topups]
    index = {id(p): i for i, p in enumerate(preps)}
    now = timezone.now()
    records: list[tuple[int | None, list]] = []
    charges: dict[int, int] = {}
    notices: dict[int, int] = {}
    late: dict[int, int | None] = {pk: None for pk in plan.settled}
    currency = {sub.pk: sub.currency for sub in snapshot.subscriptions}
    for group in plan.invoiced:
        prep = prepared[id(group)]
        i = index[id(prep)]
        for sub_id, slot, first, count, quantities in group.slots:
            amount = sum(line["net_minor"] for line in prep.lines[first:first + count])
            records.append((i, record_row(org, sub_id, currency[sub_id], slot, None, amount, quantities) + [now]))
        for pk in group.pending:
            charges[pk] = i
        for notice, _ in group.notices:
            notices[notice] = i
        for pk in group.late_events:
            late[pk] = i
    for group in plan.groups:
        if group.invoiced or group.customer_id in failed:
            continue
        for sub_id, slot, _, _, quantities in group.slots:  # nothing to charge (e.g. paused): billed once all the same
            records.append((None, record_row(org, sub_id, currency[sub_id], slot, None, 0, quantities) + [now]))
        for pk in group.late_events:
            late[pk] = None
    touched = [t for g in plan.groups if g.customer_id not in failed for t in g.late_touched] + plan.settled_touched
    updates: dict[tuple, list[int]] = defaultdict(list)
    for sub in snapshot.subscriptions:
        if sub.customer_id not in failed and sub.pk in plan.cursors:
            cursor = plan.cursors[sub.pk]
            status = loaded.statuses[sub.pk]
            if cursor.finished and status == Subscription.ACTIVE:
                status = Subscription.ENDED
            updates[(cursor.last_key, cursor.next_billing_date, status)].append(sub.pk)
    codes = {c.id: c.code for c in customers.values()}
    return ChunkPlan(
        rows=bulk.invoice_rows(org, preps, now=now) if preps else None,
        topups=[(index[id(top)], retainer.contract_id) for retainer, top in topups],
        records=records,
        records_adapted=bulk.adapt_rows(BillingRecord, RECORD_COLUMNS, [row for _, row in records]),
        charges=list(charges.items()), notices=list(notices.items()), late=list(late.items()),
        touched=touched,
        drawdowns=[(index[id(prep)], prep.fields["contract_id"], kind, amount) for prep, kind, amount in drawdowns],
        cursors=list(updates.items()),
        retainers=loaded.has_retainers,
        customers=len({g.customer_id for g in plan.invoiced}),
        skipped=[(codes.get(cid, str(cid)), reason) for cid, reason in sorted(failed.items())],
        kept=[(codes.get(cid, str(cid)), why) for cid, why in dict.fromkeys(plan.kept) if cid not in failed],
    )
