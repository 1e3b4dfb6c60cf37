"""Events invoicing tells the apps above it about (they connect receivers in their ``AppConfig.ready()``;
invoicing imports none of them: docs/conventions.md, "Layers"). Each is sent inside the transaction that made
the change: what a receiver writes commits or rolls back with it."""

from django.dispatch import Signal

#: Invoices (and credit notes) were issued: ``organization`` and ``invoice_ids`` (a list, in number order; one
#: for :func:`duly.invoicing.services.issue_invoice`, a block for the bulk path of the billing run). ``migrated``
#: (True, else absent): issued in another system and imported as issued
#: (:func:`duly.invoicing.migration_services.issue_as_migrated`), so receivers that act on a new invoice (e-mail
#: it, charge it) must not, while those that report it (webhooks) do.
invoices_issued = Signal()

#: An invoice became fully paid (its status moved to ``paid`` by a settled amount): ``invoice``.
invoice_paid = Signal()
