"""What customers send from their personal link: questions and disputes about an invoice, and requests to change
their billing details (which staff approve or reject before anything changes)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from duly.customers.models import Customer, Organization


class PortalQuestion(models.Model):
    """A question about an invoice, or a dispute of an invoice or one of its lines, sent from the personal link.

    It opens a query (:class:`duly.collections.models.Dispute`) on the invoice, or joins the one already open, and a
    staff task. ``submission`` is the form's one-time key: the same form sent twice is one question."""

    QUESTION, DISPUTE = "question", "dispute"
    KIND_CHOICES = [(QUESTION, "Question"), (DISPUTE, "Dispute")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="portal_questions")
    invoice = models.ForeignKey("invoicing.Invoice", on_delete=models.PROTECT, related_name="+")
    line = models.ForeignKey("invoicing.InvoiceLine", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=QUESTION)
    text = models.TextField()
    dispute = models.ForeignKey("collections.Dispute", on_delete=models.PROTECT, related_name="+")
    submission = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["customer", "submission"],
                                               name="uniq_portal_question_submission")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.invoice}"


class ChangeRequest(models.Model):
    """A customer's request, from their personal link, to change the billing contact, the PO number of future
    invoices or the language of their documents. Nothing changes until staff approve it; approval applies it through
    the customers services. A blank field asks for no change."""

    PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
    STATUS_CHOICES = [(PENDING, "Waiting for approval"), (APPROVED, "Approved"), (REJECTED, "Rejected")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="change_requests")
    contact_name = models.CharField("billing contact name", max_length=200, blank=True)
    contact_email = models.EmailField("billing contact e-mail", blank=True)
    po_number = models.CharField("PO number for future invoices", max_length=100, blank=True)
    language = models.CharField("language of documents", max_length=10, blank=True)
    note = models.TextField("customer's note", blank=True)
    #: What the fields held when the request was made (shown to staff beside the request).
    previous = models.JSONField(default=dict, blank=True, editable=False)
    submission = models.CharField(max_length=64)
    submitted_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["status", "-submitted_at", "-id"]
        indexes = [models.Index(fields=["organization", "status"])]
        constraints = [models.UniqueConstraint(fields=["customer", "submission"],
                                               name="uniq_change_request_submission")]

    def __str__(self) -> str:
        return f"Change request of {self.customer} ({self.status})"
