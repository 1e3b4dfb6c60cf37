"""Collections state: dunning policies as data, what was sent, disputes, promises, late fees.

Policies (:class:`Policy`, :class:`Step`) are edited in admin or imported from YAML and turned
into the pure :class:`duly.domain.dunning.Policy` for evaluation. Everything Duly did is recorded
with a natural unique key: a reminder covers an invoice once per step (:class:`ReminderInvoice`,
unique per invoice and step), a late fee per (invoice, level), a greeting per (contact, occasion,
year).
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from duly.customers.models import CURRENCY_FIELD, Contact, Customer, Organization
from duly.domain import dunning
from duly.invoicing.models import Invoice


class Policy(models.Model):
    """A dunning policy: ordered steps and contact-fatigue limits."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="dunning_policies")
    code = models.SlugField(max_length=40, help_text="Stable identifier, e.g. gentle, neutral, firm, hotel")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    max_per_window = models.PositiveSmallIntegerField(
        null=True, blank=True, default=2, help_text="At most this many reminders in the window (empty: no limit)")
    window_days = models.PositiveSmallIntegerField(default=7)
    min_gap_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, default=48, help_text="At least this many hours between two reminders (empty: none)")
    restore_days = models.PositiveSmallIntegerField(
        default=14, help_text="After suspension or termination: pay within this many days to be restored")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "policies"
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_dunning_policy_code")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def fatigue(self) -> dunning.FatigueLimits:
        return dunning.FatigueLimits(max_per_window=self.max_per_window, window_days=self.window_days,
                                     min_gap_hours=self.min_gap_hours)

    def to_domain(self, steps: list["Step"] | None = None) -> dunning.Policy:
        """The pure policy (pass ``steps`` when they are already loaded)."""
        rows = steps if steps is not None else list(self.steps.all())
        return dunning.Policy(code=self.code, name=self.name, steps=tuple(s.to_domain() for s in rows),
                              fatigue=self.fatigue())


class Step(models.Model):
    ANCHOR_CHOICES = [(a, a.replace("_", " ")) for a in dunning.ANCHORS]
    CHANNEL_CHOICES = [("email", "E-mail"), ("letter", "PDF letter for post"), ("phone_task", "Task: phone them")]
    TONE_CHOICES = [(t, t) for t in dunning.TONES]

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="steps")
    code = models.SlugField(max_length=40)
    order = models.PositiveSmallIntegerField()
    offset_days = models.IntegerField(help_text="Days from the anchor; negative = before it (-3: coming due)")
    anchor = models.CharField(max_length=20, choices=ANCHOR_CHOICES, default="due_date")
    channel = models.CharField(max_length=12, choices=CHANNEL_CHOICES, default="email")
    template = models.CharField(max_length=60, blank=True, help_text="Message template (default: the step code)")
    tone = models.CharField(max_length=8, choices=TONE_CHOICES, default="neutral")
    actions = models.JSONField(default=list, blank=True,
                               help_text=f"Any of: {', '.join(dunning.STEP_ACTIONS)}")
    conditions = models.JSONField(default=dict, blank=True,
                                  help_text="min_balance, segments, risk_levels, payment_methods, min_late_probability "
                                            "(0-1: only invoices at least this likely to be paid late)")
    whatever_sent = models.BooleanField(
        default=False, help_text="Reached on its own date whatever was sent before (e.g. hand over after 90 "
                                 "days); otherwise only after the previous step reached the customer and its "
                                 "own wait has passed")

    class Meta:
        ordering = ["policy", "order"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "code"], name="uniq_step_code"),
            models.UniqueConstraint(fields=["policy", "order"], name="uniq_step_order"),
        ]

    def __str__(self) -> str:
        return f"{self.policy.code}/{self.code}"

    def as_dict(self) -> dict:
        data = {"code": self.code, "order": self.order, "offset_days": self.offset_days, "anchor": self.anchor,
                "channel": self.channel, "template": self.template, "tone": self.tone,
                "actions": list(self.actions or [])}
        if self.conditions:
            data["conditions"] = dict(self.conditions)
        if self.whatever_sent:
            data["whatever_sent"] = True
        return data

    def to_domain(self) -> dunning.Step:
        return dunning.step_from_dict(self.as_dict(), f"Step {self.code!r}")

    def clean(self) -> None:
        from duly.domain.errors import DomainError

        try:
            step = self.to_domain()
        except DomainError as exc:
            raise DjangoValidationError(exc.message) from None
        if self.policy_id and step.channel != "phone_task":
            from duly.messaging.services import template_exists

            if not template_exists(self.policy.organization, step.template):
                raise DjangoValidationError({"template": f"No message template named {step.template!r}."})


class CollectionsSettings(models.Model):
    """An organization's collections settings: the tone rule, sending window, query SLA."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="collections_settings")
    gentle_below = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(25),
                                       help_text="Tone rule: under this % of late invoices → gentle")
    firm_above = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(50),
                                     help_text="Tone rule: over this % of late invoices → firm")
    firm_from_probability = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(1))],
        help_text="Tone rule: a customer with an open invoice predicted at least this likely (0.01-1) to be paid "
                  "late → firm, whatever its history (empty: the prediction does not change the tone)")
    gentle_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    neutral_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    firm_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    send_window_start = models.TimeField(default=time(9))
    send_window_end = models.TimeField(default=time(17))
    dispute_sla_business_days = models.PositiveSmallIntegerField(default=2)
    greetings_enabled = models.BooleanField(default=True, help_text="Birthdays, anniversaries and special dates")
    email_invoices = models.BooleanField(
        default=True, help_text="E-mail each issued invoice and credit note, with its PDF and attachments, to the "
                                "customer's accounts-payable or billing contact")

    class Meta:
        verbose_name_plural = "collections settings"

    def __str__(self) -> str:
        return f"Collections settings of {self.organization}"


class SegmentRule(models.Model):
    """Per customer segment: the policy to use and the default sending hour."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    segment = models.CharField(max_length=60)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True)
    default_hour = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Local hour 0-23")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "segment"], name="uniq_segment_rule")]

    def __str__(self) -> str:
        return self.segment


class CustomerProfile(models.Model):
    """Collections side of a customer: explicit policy, risk level, suspension and termination."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="collections_profile")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True,
                               help_text="Explicit policy (else by segment, else the tone rule)")
    risk_level = models.CharField(max_length=20, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    restore_deadline = models.DateField(null=True, blank=True,
                                        help_text="Paying everything overdue by this date restores the customer")
    status_reason = models.TextField(blank=True)
    suspension_pauses = models.JSONField(default=list, blank=True,
                                         help_text="Billing pauses made by the suspension (resumed when it is lifted)")
    lifted_by_payment = models.BigIntegerField(
        null=True, blank=True, help_text="The payment that lifted the last suspension or termination (id): if it is "
                                         "taken back (a bank match undone), the suspension or termination returns")
    lifted_state = models.JSONField(default=dict, blank=True,
                                    help_text="The suspension or termination that payment lifted, to put it back")

    class Meta:
        verbose_name = "customer collections profile"

    def __str__(self) -> str:
        return f"Collections: {self.customer}"


class SpecialDate(models.Model):
    """A customer's own date to greet them on (founding day, a yearly event)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="special_dates")
    label = models.CharField(max_length=120)
    date = models.DateField(help_text="Greeted every year on this day and month")

    class Meta:
        ordering = ["customer", "date"]

    def __str__(self) -> str:
        return f"{self.label} ({self.date:%d %b})"


class CollectionRun(models.Model):
    """One `duly collect` pass: what it did. A crashed run is simply run again (idempotent keys)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    as_of = models.DateTimeField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]


class Reminder(models.Model):
    """A dunning step carried out for a customer and a set of invoices (once: the natural key)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="reminders")
    policy_code = models.CharField(max_length=40)
    step_code = models.CharField(max_length=40)
    invoice_ids = models.JSONField(default=list)
    idempotency_key = models.CharField(max_length=255, help_text="customer:step:invoice ids")
    channel = models.CharField(max_length=12)
    template = models.CharField(max_length=60)
    tone = models.CharField(max_length=8)
    actions = models.JSONField(default=list, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True)
    sent_at = models.DateTimeField()
    reason = models.TextField()
    fallback_reason = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True)
    fee_assessed = models.BooleanField(default=False)
    run = models.ForeignKey(CollectionRun, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="uniq_reminder_key"),
        ]
        indexes = [models.Index(fields=["customer", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.step_code} → {self.customer} ({self.sent_at:%Y-%m-%d})"


class ReminderInvoice(models.Model):
    """One invoice a reminder covers, at its step: unique per (invoice, step), so no invoice is ever
    chased twice at the same step, whatever invoice sets two overlapping runs see."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="covered")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminded_at")
    step_code = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invoice", "step_code"], name="uniq_reminder_invoice_step")]

    def __str__(self) -> str:
        return f"{self.invoice_id} at {self.step_code}"


class InvoiceDispatch(models.Model):
    """An issued invoice or credit note sent to the customer: once per invoice (the unique invoice).

    ``message`` is the outbox message that carries it with its PDF and attachments; it is empty when
    nothing was e-mailed, and ``note`` says why (no contact with an e-mail address, e-mails turned off,
    issued before Duly e-mailed invoices).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="dispatch")
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.invoice}: {'e-mailed' if self.message_id else self.note}"


class Greeting(models.Model):
    """A relationship message sent (once per contact, occasion and year). Counts towards fatigue."""

    KIND_CHOICES = [("birthday", "Birthday"), ("anniversary", "Contract anniversary"), ("special", "Special date")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="greetings")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True)
    kind = models.CharField(max_length=12, choices=KIND_CHOICES)
    key = models.CharField(max_length=120, help_text="kind:contact:occasion:year")
    sent_at = models.DateTimeField()
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="uniq_greeting_key")]


class Task(models.Model):
    """Work for a person: phone a customer, post a letter, hand a debt over to collections."""

    KIND_CHOICES = [("phone", "Phone the customer"), ("letter", "Print and post a letter"),
                    ("handover", "Hand over to a collection agency"),
                    ("reinstate", "Restart the subscriptions of a customer restored after termination"),
                    ("chargeback", "Answer a card chargeback (dispute) with the provider"),
                    ("query", "Answer a customer's question or dispute sent from their personal link")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="collection_tasks")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    key = models.CharField(max_length=255)
    reminder = models.ForeignKey(Reminder, on_delete=models.SET_NULL, null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True)
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True)
    description = models.TextField()
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["done_at", "due_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="uniq_collection_task_key")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.customer}"


class Dispute(models.Model):
    """A query on an invoice. While open, follow-ups for that invoice pause."""

    OPEN, RESOLVED = "open", "resolved"
    STATUS_CHOICES = [(OPEN, "Open"), (RESOLVED, "Resolved")]
    BY_CHOICES = [("customer", "Customer"), ("staff", "Staff on the customer's behalf")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="disputes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.CharField(max_length=10, choices=BY_CHOICES, default="staff")
    opened_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")
    opened_at = models.DateTimeField()
    question = models.TextField()
    sla_due_on = models.DateField(help_text="Answer by this day (business days of the organization)")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=OPEN)
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    credit_note = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["status", "sla_due_on", "id"]
        indexes = [models.Index(fields=["organization", "status", "sla_due_on"])]
        constraints = [
            models.UniqueConstraint(fields=["invoice"], condition=models.Q(status="open"),
                                    name="uniq_open_dispute_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"Query on {self.invoice} ({self.status})"

    def answered_late(self, now, zone: str | None = None) -> bool:
        """Answered after the SLA day, or still open past it at ``now``; dates are the organization's
        local dates (the SLA day is one). ``zone`` defaults to the organization's time zone."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(zone or self.organization.timezone or "UTC")
        answered = self.answered_at.astimezone(tz).date() if self.answered_at is not None else None
        return dunning.sla_missed(self.sla_due_on, answered, now.astimezone(tz).date())


class PromiseToPay(models.Model):
    """A customer's promise to pay an amount by a date; reminders for its invoices pause until then."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="promises")
    invoices = models.ManyToManyField(Invoice, related_name="promises")
    promised_date = models.DateField()
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    created_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "promise to pay"

    def __str__(self) -> str:
        return f"{self.customer}: {self.amount_minor} {self.currency} by {self.promised_date}"


class LateFee(models.Model):
    """A late fee or interest charge. Unique per (overdue invoice, level): charged at most once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="late_fees")
    level = models.CharField(max_length=40)
    kind = models.CharField(max_length=20)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    days_late = models.IntegerField()
    explanation = models.TextField()
    assessed_on = models.DateField()
    fee_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="fee_lines_of", null=True)

    class Meta:
        ordering = ["invoice", "assessed_on"]
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="uniq_late_fee_level")]


class LatePaymentScore(models.Model):
    """The late-payment prediction of an open invoice as collections reads it (a step condition
    ``min_late_probability``, the worklist's expected loss). Published by the insights app's scoring
    (``duly risk score``) through :func:`duly.collections.services.risk_scores.publish_late_payment_scores`,
    so collections never imports the app above it. One row per invoice, updated in place."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="late_payment_score")
    probability = models.DecimalField(max_digits=5, decimal_places=4)
    expected_days_late = models.PositiveIntegerField(default=0)
    scored_on = models.DateField()

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.probability}"
