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
from django.utils.translation import gettext_lazy as _

from duly.customers.models import CURRENCY_FIELD, Contact, Customer, Organization
from duly.domain import dunning
from duly.invoicing.models import Invoice


class Policy(models.Model):
    """A dunning policy: ordered steps and contact-fatigue limits."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="dunning_policies",
                                     verbose_name=_("organization"))
    code = models.SlugField(max_length=40, help_text=_("Stable identifier, e.g. gentle, neutral, firm, hotel"),
                            verbose_name=_("code"))
    name = models.CharField(max_length=120, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    max_per_window = models.PositiveSmallIntegerField(
        null=True, blank=True, default=2, help_text=_("At most this many reminders in the window (empty: no limit)"),
        verbose_name=_("max per window"))
    window_days = models.PositiveSmallIntegerField(default=7, verbose_name=_("window days"))
    min_gap_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, default=48, help_text=_("At least this many hours between two reminders (empty: none)"),
        verbose_name=_("min gap hours"))
    restore_days = models.PositiveSmallIntegerField(
        default=14, help_text=_("After suspension or termination: pay within this many days to be restored"),
        verbose_name=_("restore days"))

    class Meta:
        verbose_name = _("policy")
        ordering = ["code"]
        verbose_name_plural = _("policies")
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
    CHANNEL_CHOICES = [("email", _("E-mail")), ("letter", _("PDF letter for post")), ("phone_task", _("Task: phone them"))]
    TONE_CHOICES = [(t, t) for t in dunning.TONES]

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="steps", verbose_name=_("policy"))
    code = models.SlugField(max_length=40, verbose_name=_("code"))
    order = models.PositiveSmallIntegerField(verbose_name=_("order"))
    offset_days = models.IntegerField(help_text=_("Days from the anchor; negative = before it (-3: coming due)"),
                                      verbose_name=_("offset days"))
    anchor = models.CharField(max_length=20, choices=ANCHOR_CHOICES, default="due_date", verbose_name=_("anchor"))
    channel = models.CharField(max_length=12, choices=CHANNEL_CHOICES, default="email", verbose_name=_("channel"))
    template = models.CharField(max_length=60, blank=True, help_text=_("Message template (default: the step code)"),
                                verbose_name=_("template"))
    tone = models.CharField(max_length=8, choices=TONE_CHOICES, default="neutral", verbose_name=_("tone"))
    actions = models.JSONField(default=list, blank=True,
                               help_text=f"Any of: {', '.join(dunning.STEP_ACTIONS)}", verbose_name=_("actions"))
    conditions = models.JSONField(default=dict, blank=True,
                                  help_text=_("min_balance, segments, risk_levels, payment_methods, min_late_probability "
                                            "(0-1: only invoices at least this likely to be paid late)"),
                                  verbose_name=_("conditions"))
    whatever_sent = models.BooleanField(
        default=False, help_text=_("Reached on its own date whatever was sent before (e.g. hand over after 90 "
                                 "days); otherwise only after the previous step reached the customer and its "
                                 "own wait has passed"), verbose_name=_("whatever sent"))

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
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

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="collections_settings",
                                        verbose_name=_("organization"))
    gentle_below = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(25),
                                       help_text=_("Tone rule: under this percentage of late invoices → gentle"),
                                       verbose_name=_("gentle below"))
    firm_above = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(50),
                                     help_text=_("Tone rule: over this percentage of late invoices → firm"),
                                     verbose_name=_("firm above"))
    firm_from_probability = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(1))],
        help_text=_("Tone rule: a customer with an open invoice predicted at least this likely (0.01-1) to be paid "
                  "late → firm, whatever its history (empty: the prediction does not change the tone)"),
        verbose_name=_("firm from probability"))
    gentle_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                      verbose_name=_("gentle policy"))
    neutral_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                       verbose_name=_("neutral policy"))
    firm_policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("firm policy"))
    send_window_start = models.TimeField(default=time(9), verbose_name=_("send window start"))
    send_window_end = models.TimeField(default=time(17), verbose_name=_("send window end"))
    dispute_sla_business_days = models.PositiveSmallIntegerField(default=2,
                                                                 verbose_name=_("dispute sla business days"))
    greetings_enabled = models.BooleanField(default=True, help_text=_("Birthdays, anniversaries and special dates"),
                                            verbose_name=_("greetings enabled"))
    email_invoices = models.BooleanField(
        default=True, help_text=_("E-mail each issued invoice and credit note, with its PDF and attachments, to the "
                                "customer's accounts-payable or billing contact"), verbose_name=_("email invoices"))

    class Meta:
        verbose_name = _("collections settings")
        verbose_name_plural = _("collections settings")

    def __str__(self) -> str:
        return f"Collections settings of {self.organization}"


class SegmentRule(models.Model):
    """Per customer segment: the policy to use and the default sending hour."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    segment = models.CharField(max_length=60, verbose_name=_("segment"))
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("policy"))
    default_hour = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("Local hour 0-23"),
                                                    verbose_name=_("default hour"))

    class Meta:
        verbose_name = _("segment rule")
        verbose_name_plural = _("segment rules")
        constraints = [models.UniqueConstraint(fields=["organization", "segment"], name="uniq_segment_rule")]

    def __str__(self) -> str:
        return self.segment


class CustomerProfile(models.Model):
    """Collections side of a customer: explicit policy, risk level, suspension and termination."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="collections_profile",
                                    verbose_name=_("customer"))
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True,
                               help_text=_("Explicit policy (else by segment, else the tone rule)"),
                               verbose_name=_("policy"))
    risk_level = models.CharField(max_length=20, blank=True, verbose_name=_("risk level"))
    suspended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("suspended at"))
    terminated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("terminated at"))
    restore_deadline = models.DateField(null=True, blank=True,
                                        help_text=_("Paying everything overdue by this date restores the customer"),
                                        verbose_name=_("restore deadline"))
    status_reason = models.TextField(blank=True, verbose_name=_("status reason"))
    suspension_pauses = models.JSONField(default=list, blank=True,
                                         help_text=_("Billing pauses made by the suspension (resumed when it is lifted)"),
                                         verbose_name=_("suspension pauses"))
    lifted_by_payment = models.BigIntegerField(
        null=True, blank=True, help_text=_("The payment that lifted the last suspension or termination (id): if it is "
                                         "taken back (a bank match undone), the suspension or termination returns"),
        verbose_name=_("lifted by payment"))
    lifted_state = models.JSONField(default=dict, blank=True,
                                    help_text=_("The suspension or termination that payment lifted, to put it back"),
                                    verbose_name=_("lifted state"))

    class Meta:
        verbose_name_plural = _("customer profiles")
        verbose_name = _("customer collections profile")

    def __str__(self) -> str:
        return f"Collections: {self.customer}"


class SpecialDate(models.Model):
    """A customer's own date to greet them on (founding day, a yearly event)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="special_dates",
                                 verbose_name=_("customer"))
    label = models.CharField(max_length=120, verbose_name=_("label"))
    date = models.DateField(help_text=_("Greeted every year on this day and month"), verbose_name=_("date"))

    class Meta:
        verbose_name = _("special date")
        verbose_name_plural = _("special dates")
        ordering = ["customer", "date"]

    def __str__(self) -> str:
        return f"{self.label} ({self.date:%d %b})"


class CollectionRun(models.Model):
    """One `duly collect` pass: what it did. A crashed run is simply run again (idempotent keys)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    as_of = models.DateTimeField(verbose_name=_("as of"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    counts = models.JSONField(default=dict, blank=True, verbose_name=_("counts"))

    class Meta:
        verbose_name = _("collection run")
        verbose_name_plural = _("collection runs")
        ordering = ["-started_at"]


class Reminder(models.Model):
    """A dunning step carried out for a customer and a set of invoices (once: the natural key)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="reminders",
                                 verbose_name=_("customer"))
    policy_code = models.CharField(max_length=40, verbose_name=_("policy code"))
    step_code = models.CharField(max_length=40, verbose_name=_("step code"))
    invoice_ids = models.JSONField(default=list, verbose_name=_("invoice ids"))
    idempotency_key = models.CharField(max_length=255, help_text=_("customer:step:invoice ids"),
                                       verbose_name=_("idempotency key"))
    channel = models.CharField(max_length=12, verbose_name=_("channel"))
    template = models.CharField(max_length=60, verbose_name=_("template"))
    tone = models.CharField(max_length=8, verbose_name=_("tone"))
    actions = models.JSONField(default=list, blank=True, verbose_name=_("actions"))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("contact"))
    sent_at = models.DateTimeField(verbose_name=_("sent at"))
    reason = models.TextField(verbose_name=_("reason"))
    fallback_reason = models.CharField(max_length=300, blank=True, verbose_name=_("fallback reason"))
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("message"))
    fee_assessed = models.BooleanField(default=False, verbose_name=_("fee assessed"))
    run = models.ForeignKey(CollectionRun, on_delete=models.SET_NULL, null=True, blank=True,
                            verbose_name=_("run"))

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="covered",
                                 verbose_name=_("reminder"))
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminded_at",
                                verbose_name=_("invoice"))
    step_code = models.CharField(max_length=40, verbose_name=_("step code"))

    class Meta:
        verbose_name = _("reminder invoice")
        verbose_name_plural = _("reminder invoices")
        constraints = [models.UniqueConstraint(fields=["invoice", "step_code"], name="uniq_reminder_invoice_step")]

    def __str__(self) -> str:
        return f"{self.invoice_id} at {self.step_code}"


class InvoiceDispatch(models.Model):
    """An issued invoice or credit note sent to the customer: once per invoice (the unique invoice).

    ``message`` is the outbox message that carries it with its PDF and attachments; it is empty when
    nothing was e-mailed, and ``note`` says why (no contact with an e-mail address, e-mails turned off,
    issued before Duly e-mailed invoices).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="dispatch",
                                   verbose_name=_("invoice"))
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+", verbose_name=_("message"))
    note = models.CharField(max_length=300, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    def __str__(self) -> str:
        return f"{self.invoice}: {'e-mailed' if self.message_id else self.note}"

    class Meta:
        verbose_name = _("invoice dispatch")
        verbose_name_plural = _("invoice dispatches")


class Greeting(models.Model):
    """A relationship message sent (once per contact, occasion and year). Counts towards fatigue."""

    KIND_CHOICES = [("birthday", _("Birthday")), ("anniversary", _("Contract anniversary")), ("special", _("Special date"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="greetings",
                                 verbose_name=_("customer"))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("contact"))
    kind = models.CharField(max_length=12, choices=KIND_CHOICES, verbose_name=_("kind"))
    key = models.CharField(max_length=120, help_text=_("kind:contact:occasion:year"), verbose_name=_("key"))
    sent_at = models.DateTimeField(verbose_name=_("sent at"))
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("message"))

    class Meta:
        verbose_name = _("greeting")
        verbose_name_plural = _("greetings")
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="uniq_greeting_key")]


class Task(models.Model):
    """Work for a person: phone a customer, post a letter, hand a debt over to collections."""

    KIND_CHOICES = [("phone", _("Phone the customer")), ("letter", _("Print and post a letter")),
                    ("handover", _("Hand over to a collection agency")),
                    ("reinstate", _("Restart the subscriptions of a customer restored after termination")),
                    ("chargeback", _("Answer a card chargeback (dispute) with the provider")),
                    ("query", _("Answer a customer's question or dispute sent from their personal link"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="collection_tasks",
                                 verbose_name=_("customer"))
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, verbose_name=_("kind"))
    key = models.CharField(max_length=255, verbose_name=_("key"))
    reminder = models.ForeignKey(Reminder, on_delete=models.SET_NULL, null=True, blank=True,
                                 verbose_name=_("reminder"))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("contact"))
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("message"))
    description = models.TextField(verbose_name=_("description"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    done_at = models.DateTimeField(null=True, blank=True, verbose_name=_("done at"))

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["done_at", "due_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="uniq_collection_task_key")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.customer}"


class Dispute(models.Model):
    """A query on an invoice. While open, follow-ups for that invoice pause."""

    OPEN, RESOLVED = "open", "resolved"
    STATUS_CHOICES = [(OPEN, _("Open")), (RESOLVED, _("Resolved"))]
    BY_CHOICES = [("customer", _("Customer")), ("staff", _("Staff on the customer's behalf"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="disputes",
                                 verbose_name=_("customer"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="disputes",
                                verbose_name=_("invoice"))
    opened_by = models.CharField(max_length=10, choices=BY_CHOICES, default="staff", verbose_name=_("opened by"))
    opened_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+", verbose_name=_("opened by user"))
    opened_at = models.DateTimeField(verbose_name=_("opened at"))
    question = models.TextField(verbose_name=_("question"))
    sla_due_on = models.DateField(help_text=_("Answer by this day (business days of the organization)"),
                                  verbose_name=_("sla due on"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=OPEN, verbose_name=_("status"))
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    answer = models.TextField(blank=True, verbose_name=_("answer"))
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("answered by"))
    credit_note = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("credit note"))
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                verbose_name=_("message"))

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="promises",
                                 verbose_name=_("customer"))
    invoices = models.ManyToManyField(Invoice, related_name="promises", verbose_name=_("invoices"))
    promised_date = models.DateField(verbose_name=_("promised date"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    note = models.TextField(blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name_plural = _("promises to pay")
        ordering = ["-created_at"]
        verbose_name = _("promise to pay")

    def __str__(self) -> str:
        return f"{self.customer}: {self.amount_minor} {self.currency} by {self.promised_date}"


class LateFee(models.Model):
    """A late fee or interest charge. Unique per (overdue invoice, level): charged at most once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="late_fees",
                                verbose_name=_("invoice"))
    level = models.CharField(max_length=40, verbose_name=_("level"))
    kind = models.CharField(max_length=20, verbose_name=_("kind"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    days_late = models.IntegerField(verbose_name=_("days late"))
    explanation = models.TextField(verbose_name=_("explanation"))
    assessed_on = models.DateField(verbose_name=_("assessed on"))
    fee_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="fee_lines_of", null=True,
                                    verbose_name=_("fee invoice"))

    class Meta:
        verbose_name = _("late fee")
        verbose_name_plural = _("late fees")
        ordering = ["invoice", "assessed_on"]
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="uniq_late_fee_level")]


class LatePaymentScore(models.Model):
    """The late-payment prediction of an open invoice as collections reads it (a step condition
    ``min_late_probability``, the worklist's expected loss). Published by the insights app's scoring
    (``duly risk score``) through :func:`duly.collections.services.risk_scores.publish_late_payment_scores`,
    so collections never imports the app above it. One row per invoice, updated in place."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="late_payment_score",
                                   verbose_name=_("invoice"))
    probability = models.DecimalField(max_digits=5, decimal_places=4, verbose_name=_("probability"))
    expected_days_late = models.PositiveIntegerField(default=0, verbose_name=_("expected days late"))
    scored_on = models.DateField(verbose_name=_("scored on"))

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.probability}"

    class Meta:
        verbose_name = _("late payment score")
        verbose_name_plural = _("late payment scores")
