"""The outbox (every rendered message, stored before it is sent) and per-organization templates."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Contact, Customer, Organization

from .formatting import LANGUAGES


class MessageTemplate(models.Model):
    """An organization's own version of a message template (else the shipped file is used).

    Saving validates it (:func:`duly.messaging.rendering.validate_template`): a template with a
    syntax error, an undefined variable, or without the personal fields of its kind is refused.
    """

    CATEGORY_CHOICES = [
        ("pre_due", _("Coming due")),
        ("service_date", _("Before the service date")),
        ("dunning", _("Reminder")),
        ("termination", _("Termination letter")),
        ("statement", _("Statement of account")),
        ("payment", _("Payment thank-you")),
        ("relationship", _("Greeting")),
        ("notice", _("Price-change notice")),
        ("dispute", _("Answer to a query")),
    ]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="message_templates",
                                     verbose_name=_("organization"))
    name = models.SlugField(max_length=60, help_text=_("e.g. reminder_firm, or your own name for a policy step"),
                            verbose_name=_("name"))
    language = models.CharField(max_length=2, choices=[(lang, lang) for lang in LANGUAGES],
                                verbose_name=_("language"))
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES,
                                help_text=_("Decides the personal fields the template must show"),
                                verbose_name=_("category"))
    source = models.TextField(help_text=_("Jinja2 with blocks subject, text and html"), verbose_name=_("source"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
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
    CHANNEL_CHOICES = [(CHANNEL_EMAIL, _("E-mail")), (CHANNEL_LETTER, _("Letter for post"))]
    QUEUED, SENDING, SENT, FAILED, BOUNCED, UNCONFIRMED, HELD, CANCELLED = (
        "queued", "sending", "sent", "failed", "bounced", "unconfirmed", "held", "cancelled",
    )
    STATUS_CHOICES = [
        (QUEUED, _("Queued")),
        (SENDING, _("Sending (leased by a worker)")),
        (SENT, _("Sent")),
        (FAILED, _("Failed")),
        (BOUNCED, _("Bounced")),
        (UNCONFIRMED, _("Unconfirmed: a worker stopped while sending it; check before releasing")),
        (HELD, _("Held (letter to print)")),
        (CANCELLED, _("Cancelled before sending (see the reason)")),
    ]
    CATEGORY_CHOICES = [
        ("dunning", _("Reminder")),
        ("payment", _("Payment thank-you")),
        ("relationship", _("Greeting")),
        ("notice", _("Notice")),
        ("dispute", _("Query answer")),
        ("termination", _("Termination")),
        ("staff", _("To staff")),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="messages",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="messages",
                                 verbose_name=_("customer"))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages",
                                verbose_name=_("contact"))
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES, verbose_name=_("category"))
    template = models.CharField(max_length=60, verbose_name=_("template"))
    language = models.CharField(max_length=2, verbose_name=_("language"))
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES, default=CHANNEL_EMAIL,
                               verbose_name=_("channel"))
    to_email = models.EmailField(blank=True, verbose_name=_("to email"))
    to_name = models.CharField(max_length=200, blank=True, verbose_name=_("to name"))
    subject = models.CharField(max_length=300, verbose_name=_("subject"))
    text = models.TextField(verbose_name=_("text"))
    html = models.TextField(verbose_name=_("html"))
    #: References resolved at send time, e.g. ``{"kind": "invoice_attachment", "id": 4}``.
    attachments = models.JSONField(default=list, blank=True, verbose_name=_("attachments"))
    invoice_ids = models.JSONField(default=list, blank=True, verbose_name=_("invoice ids"))
    idempotency_key = models.CharField(max_length=255, verbose_name=_("idempotency key"))
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    fallback_note = models.CharField(max_length=300, blank=True, help_text=_("Why another contact/channel was used"),
                                     verbose_name=_("fallback note"))
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=QUEUED, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    lease_token = models.CharField(max_length=32, blank=True, verbose_name=_("lease token"))
    lease_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("lease expires at"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    provider_message_id = models.CharField(max_length=255, blank=True, verbose_name=_("provider message id"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    bounced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("bounced at"))
    bounce_reason = models.TextField(blank=True, verbose_name=_("bounce reason"))
    opened_at = models.DateTimeField(null=True, blank=True, verbose_name=_("opened at"))
    complained_at = models.DateTimeField(null=True, blank=True, help_text=_("The recipient reported it as spam"),
                                         verbose_name=_("complained at"))
    # The customer's sending window: the worker sends only inside it, on the customer's business days
    # (a retry that comes late waits for the next window). Empty time zone: any time.
    deliver_after = models.DateTimeField(null=True, blank=True, help_text=_("Not before (the first sending slot)"),
                                         verbose_name=_("deliver after"))
    window_timezone = models.CharField(max_length=64, blank=True, verbose_name=_("window timezone"))
    window_start = models.TimeField(null=True, blank=True, verbose_name=_("window start"))
    window_end = models.TimeField(null=True, blank=True, verbose_name=_("window end"))
    window_country = models.CharField(max_length=10, blank=True, help_text=_("Public holidays of this country"),
                                      verbose_name=_("window country"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
    cancel_reason = models.TextField(blank=True, verbose_name=_("cancel reason"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
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
