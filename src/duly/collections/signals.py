"""Events collections tells the apps above it about (they connect receivers in their ``AppConfig.ready()``;
collections imports none of them). Sent inside the service's transaction."""

from django.dispatch import Signal

#: The dunning run recorded a reminder and queued its message (or its phone task): ``reminder``.
reminder_sent = Signal()

#: A query (dispute) was opened on an invoice, by the customer or by staff for them: ``dispute``.
dispute_opened = Signal()
