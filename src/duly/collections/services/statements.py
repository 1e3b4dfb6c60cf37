"""The final statement of account sent after a termination, from the run's figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from duly.billing.retainers import retainer_balances
from duly.messaging import attachments
from duly.messaging.services import queue_message
from duly.payments.models import Payment

from .. import messages as msgs
from .. import snapshots
from ..models import Reminder
from .common import _task, account_window, credit_balance_minor_of


def _final_statement(rc, builder, account, figures: snapshots.Figures, now: datetime, local_today: date,
                     reminder: Reminder) -> None:
    """The final statement of account after a termination, from the run's figures: what is due
    now (the termination letter's total) and what falls due later, each with its due date."""
    org = rc.org
    customer_id = account.customer.id
    rows = list(figures.rows.values())
    if not rows:
        return
    addressee = msgs.pick_contact(account.contacts.values(), respect_opt_out=False)
    if addressee is None:
        _task(org, customer_id, "letter", f"final-statement:{reminder.idempotency_key}", reminder, None, None, now,
              f"Post the final statement of account to {account.customer.name}: no contact has an e-mail address.")
        return
    since = local_today - timedelta(days=365)
    payments = list(Payment.objects.filter(organization=org, customer_id=customer_id, received_on__gte=since)
                    .order_by("received_on", "id").values_list("received_on", "amount_minor", "currency",
                                                               "external_reference"))
    currency = rows[0].currency
    retainer = retainer_balances([customer_id], as_of=local_today, currency=currency).get((customer_id, currency))
    due, upcoming = figures.split(rows)
    rendered = builder.final_statement(account, due, addressee, payments,
                                       credit_balance_minor_of(customer_id, currency), now,
                                       retainer=retainer.balance if retainer is not None else None,
                                       upcoming=upcoming)
    language = msgs.Formatter.for_locale(msgs.locale_for(account.customer.locale, addressee.contact)).language
    queue_message(
        org, customer=customer_id, contact=addressee.contact.id if addressee.contact else None,
        category="termination", template="final_statement", language=language, rendered=rendered,
        to_email=addressee.email, to_name=addressee.name, idempotency_key=f"final-statement:{reminder.idempotency_key}",
        now=now, attachments=_statement_attachments(customer_id, local_today), invoice_ids=[r.id for r in rows],
        fallback_note=addressee.fallback_note, window=account_window(account),
    )


def _statement_attachments(customer_id: int, on: date) -> list[dict[str, Any]]:
    return attachments.statement_refs(customer_id, on)
