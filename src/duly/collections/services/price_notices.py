"""Sending the price-change notices billing queued: to whom, in which language, and whether it may go now.

Billing decides which notices are due and what each announces (:mod:`duly.billing.notices`: the
price per period for the customer's current quantity before and after, the first day at the new
price, billing's justification) and records that one was sent. Here each due notice becomes a personal
message in the customer's language, queued once (``price-notice:<id>``) and marked sent in billing in
the same transaction.

A notice is due on a day: it is not put off for the contact budget (it counts in it), but it waits
while the customer is suspended or terminated, has a query open or an invoice at a final step
(:func:`duly.domain.dunning.contact_hold`; ``held`` collects why). The billing run keeps the old
price until a notice was sent the full notice period before.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from duly.billing import notices as billing_notices
from duly.customers.models import Customer, Organization
from duly.domain import dunning
from duly.domain.money import to_minor
from duly.messaging.services import queue_message, renderer_for

from .. import messages as msgs
from .. import snapshots
from .common import _language, _settings_of, customer_window, log


def deliver_price_notices(org: Organization, *, now: datetime, dry_run: bool = False,
                          rc: snapshots.RunContext | None = None, held: list[str] | None = None) -> list[str]:
    """Render and queue the price-change notices billing queued for today or earlier (see the module
    docstring). Returns one line per notice sent (or, with ``dry_run``, that would be)."""
    notices = billing_notices.due_notices(org, now)
    if not notices:
        return []
    rc = rc or snapshots.RunContext.load(org)
    accounts = {a.customer.id: a for a in snapshots.gather(rc, sorted({n.customer_id for n in notices}), now)}
    waiting = []
    for notice in notices:
        account = accounts.get(notice.customer_id)
        why = dunning.contact_hold(account.snapshot, account.policy) if account is not None else (
            None if notice.customer.status == Customer.STATUS_ACTIVE else f"the customer is {notice.customer.status}")
        if why is not None:
            waiting.append(notice)
            if held is not None:
                held.append(f"{notice.customer.code}: price notice of {notice.price_change.effective_date.isoformat()}"
                            f" waits: {why}")
    notices = [n for n in notices if n not in waiting]
    if not notices:
        return []
    conf = _settings_of(org)
    book = billing_notices.PriceNotices(org, notices)
    single = msgs.SingleMessages(org, renderer_for(org))
    done: list[str] = []
    for notice in notices:
        customer = notice.customer
        terms = book.terms(notice, now)
        addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
        if addressee is None:
            log.warning("price notice %s: no contact of %s has an e-mail address", notice.pk, customer)
            continue
        # Sent late (it waited for a query, a final step...): billing applies the new price only to periods
        # starting the full notice period after today, and the notice says so (terms.effective).
        done.append(f"{customer.code}: {terms.product} {terms.old} → {terms.new} {terms.currency} "
                    f"from {terms.effective.isoformat()}")
        if dry_run:
            continue
        rendered = single.price_notice(
            customer, addressee, product=terms.product, old_minor=to_minor(terms.old, terms.currency),
            new_minor=to_minor(terms.new, terms.currency), currency=terms.currency, effective=terms.effective,
            justification=notice.price_change.justification, subscription="", today=terms.today)
        with transaction.atomic():
            queue_message(org, customer=customer, contact=addressee.contact.id if addressee.contact else None,
                          category="notice", template="price_increase", language=_language(customer, addressee),
                          rendered=rendered, to_email=addressee.email, to_name=addressee.name,
                          idempotency_key=f"price-notice:{notice.pk}", now=now, fallback_note=addressee.fallback_note,
                          window=customer_window(org, customer, conf))
            billing_notices.mark_price_notice_sent(org, notice.pk, sent_at=now)
    return done
