"""Collections services, one module per job. Every function here is the only code that writes
collections state, and owns its transaction.

- :mod:`.fees`: late fees and interest, each charged once per (invoice, level).
- :mod:`.run`: the dunning run (:func:`collect`): reminders, their side effects and messages, then
  the restores, invoice e-mails, price notices and greetings, in that order.
- :mod:`.suspension`: suspension and termination for non-payment, and restoring a customer.
- :mod:`.statements`: the final statement of account after a termination.
- :mod:`.promises`: promises to pay. :mod:`.disputes`: queries and their answers; :mod:`.customer_queries`: a
  customer's own query from their personal link, with a staff task.
- :mod:`.thanks`: after a payment (:func:`payment_recorded`): the thank-you and the restore.
- :mod:`.greetings`: birthdays, contract anniversaries, special dates.
- :mod:`.invoice_emails`: the collections side of e-mailing issued invoices (the e-mail itself is
  :mod:`duly.messaging.invoice_mail`; the record and the settings are collections').
- :mod:`.price_notices`: sending the price notices billing decides (:mod:`duly.billing.notices`).
- :mod:`.policy_setup`: the shipped policies, YAML import/export, admin edits, a customer's policy.
- :mod:`.staff_tasks`: undeliverable reminders become phone tasks; completing tasks.
- :mod:`.common`: local dates, sending windows, the customer's profile, staff tasks, credit balances.

One contact budget
    Reminders, invoice e-mails, price notices and greetings count toward the same contact-fatigue
    limits of the customer's policy (thank-yous and answers to queries reply to the customer and do
    not count). Reminders and greetings wait for room in that budget; invoices and price notices are
    due on a day and never wait for it, but use it. After the reminders the run sends, in this
    order, the invoices not sent yet (one e-mail per customer), the price notices and the greetings;
    greetings and price notices also wait while the customer has a query open, is suspended or
    terminated, or has an invoice at a final step (:func:`duly.domain.dunning.contact_hold`), and
    :attr:`CollectResult.held` says why.

Every name other apps and the tests import from ``duly.collections.services`` is re-exported here.
"""

from __future__ import annotations

from .common import account_window, credit_balance_minor_of, customer_window, log
from .customer_queries import customer_query
from .disputes import open_dispute, resolve_dispute, sla_due_on
from .fees import (
    FEE_TAX_CATEGORY,
    FEE_TAX_REASON,
    CarriedCharge,
    FeeRunResult,
    assess_late_fees,
    carried_late_fees,
    late_fee_candidates,
    open_item_for,
)
from .greetings import GREETING_GRACE_DAYS, send_greetings
from .invoice_emails import INVOICE_DISPATCH_CHUNK, send_issued_invoices
from .policy_setup import assign_policy, ensure_setup, export_policies, import_policies, save_policy_from_admin
from .price_notices import deliver_price_notices
from .promises import promise_state, promise_states, record_promise
from .risk_scores import PublishedScore, publish_late_payment_scores
from .run import CHUNK_SIZE, CollectResult, PlannedAction, collect
from .staff_tasks import complete_task, message_undeliverable
from .suspension import REINSTATE_BUSINESS_DAYS, lift_cleared_suspensions, restore_if_cleared
from .thanks import payment_recorded

__all__ = [
    "CHUNK_SIZE",
    "CarriedCharge",
    "carried_late_fees",
    "FEE_TAX_CATEGORY",
    "FEE_TAX_REASON",
    "GREETING_GRACE_DAYS",
    "INVOICE_DISPATCH_CHUNK",
    "REINSTATE_BUSINESS_DAYS",
    "CollectResult",
    "FeeRunResult",
    "PlannedAction",
    "PublishedScore",
    "account_window",
    "assess_late_fees",
    "assign_policy",
    "collect",
    "complete_task",
    "credit_balance_minor_of",
    "customer_query",
    "customer_window",
    "deliver_price_notices",
    "ensure_setup",
    "export_policies",
    "import_policies",
    "late_fee_candidates",
    "lift_cleared_suspensions",
    "log",
    "message_undeliverable",
    "open_dispute",
    "open_item_for",
    "payment_recorded",
    "promise_state",
    "promise_states",
    "publish_late_payment_scores",
    "record_promise",
    "resolve_dispute",
    "restore_if_cleared",
    "save_policy_from_admin",
    "send_greetings",
    "send_issued_invoices",
    "sla_due_on",
]
