"""Events invoicing tells the apps above it about (they connect receivers in their ``AppConfig.ready()``;
invoicing imports none of them: docs/conventions.md, "Layers"). Each is sent inside the transaction that made
the change: what a receiver writes commits or rolls back with it."""

from django.dispatch import Signal

#: Invoices (and credit notes) were issued: ``organization`` and ``invoice_ids`` (a list, in number order; one
#: for :func:`duly.invoicing.services.issue_invoice`, a block for the bulk path of the billing run).
invoices_issued = Signal()

#: An invoice became fully paid (its status moved to ``paid`` by a settled amount): ``invoice``.
invoice_paid = Signal()
