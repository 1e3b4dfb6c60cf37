"""The outbox (every rendered message, stored before it is sent) and per-organization templates."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from duly.customers.models import Contact, Customer, Organization

from .formatting import LANGUAGES


class MessageTemplate(models.Model):
    """An organization's own version of a message template (else the shipped file is used).

    Saving validates it (:func:`duly.messaging.rendering.validate_template`): a template with a
    syntax error, an undefined variable, or without the personal fields of its kind is refused.
    """

    CATEGORY_CHOICES = [
        ("pre_due", "Coming due"),
        ("service_date", "Before the service date"),
        ("dunning", "Reminder"),
        ("termination", "Termination letter"),
        ("statement", "Statement of account"),
        ("payment", "Payment thank-you"),
        ("relationship", "Greeting"),
        ("notice", "Price-change notice"),
        ("dispute", "Answer to a query"),
    ]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="message_templates")
    name = models.SlugField(max_length=60, help_text="e.g. reminder_firm, or your own name for a policy step")
    language = models.CharField(max_length=2, choices=[(lang, lang) for lang in LANGUAGES])
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES,
                                help_text="Decides the personal fields the template must show")
    source = models.TextField(help_text="Jinja2 with blocks subject, text and html")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name", "language"], name="uniq_message_template")
        ]

    def __str__(self) -> str:
        return f"{self.language}/{self.name}"

    def clean(self) -> None:
        from duly.domain.errors import DomainError

        from .rendering import TEMPLATE_KINDS, validate_template

        if self.name in TEMPLATE_KINDS and self.category != TEMPLATE_KINDS[self.name]:
            raise DjangoValidationError(
                {"category": f"{self.name} is a {TEMPLATE_KINDS[self.name]} template."}
            )
        try:
            validate_template(self.name, self.language, self.source, category=self.category)
        except DomainError as exc:
            raise DjangoValidationError({"source": exc.message}) from None


class Message(models.Model):
    """One message to one customer, rendered and stored before delivery (the outbox).

    ``idempotency_key`` is unique per organization (e.g. ``dunning:<customer>:<step>:<invoice ids>``),
    so the same reminder is never queued twice; ``message_id`` (the ``Message-ID`` header) is random,
    chosen when it is queued, so a bounce or a provider event finds the message again and nobody who did
    not receive it can name it.
    """

    CHANNEL_EMAIL, CHANNEL_LETTER = "email", "letter"
    CHANNEL_CHOICES = [(CHANNEL_EMAIL, "E-mail"), (CHANNEL_LETTER, "Letter for post")]
    QUEUED, SENDING, SENT, FAILED, BOUNCED, UNCONFIRMED, HELD, CANCELLED = (
        "queued", "sending", "sent", "failed", "bounced", "unconfirmed", "held", "cancelled",
    )
    STATUS_CHOICES = [
        (QUEUED, "Queued"),
        (SENDING, "Sending (leased by a worker)"),
        (SENT, "Sent"),
        (FAILED, "Failed"),
        (BOUNCED, "Bounced"),
        (UNCONFIRMED, "Unconfirmed: a worker stopped while sending it; check before releasing"),
        (HELD, "Held (letter to print)"),
        (CANCELLED, "Cancelled before sending (see the reason)"),
    ]
    CATEGORY_CHOICES = [
        ("dunning", "Reminder"),
        ("payment", "Payment thank-you"),
        ("relationship", "Greeting"),
        ("notice", "Notice"),
        ("dispute", "Query answer"),
        ("termination", "Termination"),
        ("staff", "To staff"),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="messages")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES)
    template = models.CharField(max_length=60)
    language = models.CharField(max_length=2)
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES, default=CHANNEL_EMAIL)
    to_email = models.EmailField(blank=True)
    to_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    html = models.TextField()
    #: References resolved at send time, e.g. ``{"kind": "invoice_attachment", "id": 4}``.
    attachments = models.JSONField(default=list, blank=True)
    invoice_ids = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=255)
    message_id = models.CharField("Message-ID", max_length=255, unique=True)
    fallback_note = models.CharField(max_length=300, blank=True, help_text="Why another contact/channel was used")
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    bounce_reason = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True, help_text="The recipient reported it as spam")
    # The customer's sending window: the worker sends only inside it, on the customer's business days
    # (a retry that comes late waits for the next window). Empty time zone: any time.
    deliver_after = models.DateTimeField(null=True, blank=True, help_text="Not before (the first sending slot)")
    window_timezone = models.CharField(max_length=64, blank=True)
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    window_country = models.CharField(max_length=10, blank=True, help_text="Public holidays of this country")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="uniq_message_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["customer", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email or self.to_name}"
