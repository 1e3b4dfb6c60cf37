"""Events payments tells the apps above it about (they connect receivers in their ``AppConfig.ready()``)."""

from django.dispatch import Signal

#: A payment was recorded and allocated, inside its transaction: ``payment`` (a :class:`~duly.payments.models.Payment`).
payment_recorded = Signal()
