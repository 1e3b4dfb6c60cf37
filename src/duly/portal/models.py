"""What customers send from their personal link: questions and disputes about an invoice, and requests to change
their billing details (which staff approve or reject before anything changes)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Customer, Organization


class PortalQuestion(models.Model):
    """A question about an invoice, or a dispute of an invoice or one of its lines, sent from the personal link.

    It opens a query (:class:`duly.collections.models.Dispute`) on the invoice, or joins the one already open, and a
    staff task. ``submission`` is the form's one-time key: the same form sent twice is one question."""

    QUESTION, DISPUTE = "question", "dispute"
    KIND_CHOICES = [(QUESTION, _("Question")), (DISPUTE, _("Dispute"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="portal_questions",
                                 verbose_name=_("customer"))
    invoice = models.ForeignKey("invoicing.Invoice", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("invoice"))
    line = models.ForeignKey("invoicing.InvoiceLine", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("line"))
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=QUESTION, verbose_name=_("kind"))
    text = models.TextField(verbose_name=_("text"))
    dispute = models.ForeignKey("collections.Dispute", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("dispute"))
    submission = models.CharField(max_length=64, verbose_name=_("submission"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("portal question")
        verbose_name_plural = _("portal questions")
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
    STATUS_CHOICES = [(PENDING, _("Waiting for approval")), (APPROVED, _("Approved")), (REJECTED, _("Rejected"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="change_requests",
                                 verbose_name=_("customer"))
    contact_name = models.CharField(_("billing contact name"), max_length=200, blank=True)
    contact_email = models.EmailField(_("billing contact e-mail"), blank=True)
    po_number = models.CharField(_("PO number for future invoices"), max_length=100, blank=True)
    language = models.CharField(_("language of documents"), max_length=10, blank=True)
    note = models.TextField(_("customer's note"), blank=True)
    #: What the fields held when the request was made (shown to staff beside the request).
    previous = models.JSONField(default=dict, blank=True, editable=False, verbose_name=_("previous"))
    submission = models.CharField(max_length=64, verbose_name=_("submission"))
    submitted_at = models.DateTimeField(verbose_name=_("submitted at"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING, verbose_name=_("status"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))

    class Meta:
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        ordering = ["status", "-submitted_at", "-id"]
        indexes = [models.Index(fields=["organization", "status"])]
        constraints = [models.UniqueConstraint(fields=["customer", "submission"],
                                               name="uniq_change_request_submission")]

    def __str__(self) -> str:
        return f"Change request of {self.customer} ({self.status})"
