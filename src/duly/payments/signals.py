"""Events payments tells the apps above it about (they connect receivers in their ``AppConfig.ready()``)."""

from django.dispatch import Signal

#: A payment was recorded and allocated, inside its transaction: ``payment`` (a :class:`~duly.payments.models.Payment`)
#: and, from the bulk path (``record_invoice_payments``), ``customer_status``: the customer's status read under the
#: customer's lock in that transaction (absent otherwise).
payment_recorded = Signal()

#: A provider reported a chargeback (Stripe: ``charge.dispute.created``) and the payment was reversed, inside its
#: transaction: ``payment``, ``refund`` (the :class:`~duly.payments.models.Refund` that reopened the invoices, or
#: None when nothing was left to reverse), ``dispute_ref``, ``reason`` (the provider's word).
payment_disputed = Signal()

#: A SEPA direct debit came back (an R-transaction was recorded), inside its transaction: ``debit`` (the
#: :class:`~duly.payments.models.DirectDebit`, now failed), ``debit_return`` (its
#: :class:`~duly.payments.models.DebitReturn`, with the re-presentation in ``retry`` when one was planned) and
#: ``decision`` (``duly.domain.retries.RetryDecision``: ``action`` ``new_method`` asks the customer for another
#: method, ``review`` is for staff, ``retry`` means chasing waits for the re-presentation, ``give_up`` resumes it).
debit_failed = Signal()

#: A provider's dispute (chargeback) closed, inside its transaction: ``payment`` (the disputed one),
#: ``dispute_ref``, ``outcome`` (Stripe: ``won``, ``lost``, ``warning_closed``...) and ``reinstated`` (the
#: :class:`~duly.payments.models.Payment` that settled the reopened invoices again when it was won, else None).
payment_dispute_closed = Signal()

#: An autopay charge did not go through, inside the transaction that recorded it: ``attempt`` (a
#: :class:`~duly.payments.models.ChargeAttempt`), ``action``: ``"new_method"`` (a hard decline the customer fixes
#: with another method: never retried), ``"authenticate"`` (the bank asks the customer to confirm the payment, 3-D
#: Secure: not a decline, the attempt stays pending), ``"retry"`` (a soft decline, retried on
#: ``attempt.next_retry_on``), ``"final"`` (the last soft decline: no retry left) or ``"review"`` (refused for a
#: reason of the creditor's own: for staff); ``decline``: the :class:`duly.domain.retries.Decline` (None for
#: ``authenticate``).
charge_failed = Signal()

#: A bank match was undone (``payments.reconcile_undo_services.undo``), inside its transaction: ``match`` (the
#: :class:`~duly.payments.reconcile_models.BankMatch`, now undone), ``organization``, ``payment_ids`` (the
#: payments it had recorded, taken back and deleted), ``debit_return_ids`` (the SEPA returns it had recorded,
#: deleted), ``reason``, ``now`` (when it was undone), ``as_of`` (the undo's date) and ``payments``: what each payment
#: taken back was (dicts: ``id``, ``customer_id``, ``amount_minor``, ``currency``, ``method``, ``received_on``,
#: ``external_reference``, ``allocations`` as ``(invoice id, minor units)``). The apps above recall what they queued
#: because of those payments or returns and has not gone out yet (a thank-you, a request for a new mandate), put
#: back a suspension such a payment lifted, and tell webhook endpoints (``payment.reversed``).
match_undone = Signal()
