"""Events payments tells the apps above it about (they connect receivers in their ``AppConfig.ready()``)."""

from django.dispatch import Signal

#: A payment was recorded and allocated, inside its transaction: ``payment`` (a :class:`~duly.payments.models.Payment`).
payment_recorded = Signal()

#: A provider reported a chargeback (Stripe: ``charge.dispute.created``) and the payment was reversed, inside its
#: transaction: ``payment``, ``refund`` (the :class:`~duly.payments.models.Refund` that reopened the invoices, or
#: None when nothing was left to reverse), ``dispute_ref``, ``reason`` (the provider's word).
payment_disputed = Signal()
