"""Payments, their allocation to invoices, customer credit and refunds."""

from __future__ import annotations

from django.db import models

from duly.customers.models import CURRENCY_FIELD, Customer, Organization
from duly.invoicing.models import Invoice

METHOD_CHOICES = [
    ("card", "Card"),
    ("bank_transfer", "Bank transfer"),
    ("sepa_debit", "SEPA direct debit"),
    ("ach_debit", "ACH debit"),
    ("paypal", "PayPal"),
    ("check", "Check"),
    ("cash", "Cash"),
    ("credit", "Customer credit"),
]


class Payment(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    method = models.CharField(max_length=20, choices=METHOD_CHOICES)
    received_on = models.DateField()
    external_reference = models.CharField(max_length=120, blank=True)
    note = models.TextField(blank=True)
    refunded_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="payment_positive"),
            # The same bank/gateway reference is recorded once: re-importing is harmless.
            models.UniqueConstraint(
                fields=["organization", "method", "external_reference"],
                condition=~models.Q(external_reference=""),
                name="uniq_payment_external_ref",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.amount_minor} {self.currency} ({self.received_on})"


class Allocation(models.Model):
    """Part of a payment (or of customer credit) applied to one invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations", null=True, blank=True)
    credit_note = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_allocations"
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount_minor = models.BigIntegerField()
    applied_on = models.DateField()
    from_credit = models.BooleanField(default=False, help_text="Applied from customer credit")

    class Meta:
        ordering = ["applied_on", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="allocation_positive")]


class CreditEntry(models.Model):
    """Customer credit ledger: + overpayment / credit note, − applied to an invoice or refunded."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_entries")
    currency = models.CharField(**CURRENCY_FIELD)
    amount_minor = models.BigIntegerField()
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True)
    memo = models.CharField(max_length=200)
    created_on = models.DateField()

    class Meta:
        ordering = ["created_on", "id"]
        indexes = [models.Index(fields=["customer", "currency"])]


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    refunded_on = models.DateField()
    reason = models.CharField(max_length=200)
    external_reference = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="refund_positive")]


class RefundedAllocation(models.Model):
    """What a refund took back from an invoice a payment had paid: the history a report as of a past date needs.

    A refund reduces (or removes) the payment's :class:`Allocation`, so the current amounts stay right;
    this row keeps the part taken back and the date it had been applied on. Between ``allocated_on``
    and the refund date the invoice was paid by that amount.
    """

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="reopened")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunded_allocations")
    amount_minor = models.BigIntegerField()
    allocated_on = models.DateField(help_text="Date the refunded part had been applied to the invoice")

    class Meta:
        ordering = ["refund", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="refunded_allocation_positive"),
        ]


# --- SEPA direct debit from the organization's own bank (no provider) -----------------------------------------

#: pain.008 versions sepaxml writes and validates against its bundled XSDs.
PAIN_008_VERSIONS = ["pain.008.001.02", "pain.008.001.08", "pain.008.001.09", "pain.008.001.10"]
DEFAULT_PAIN_008 = "pain.008.001.08"


class SepaCreditor(models.Model):
    """The organization as a SEPA creditor: its creditor identifier and the account debits are paid into."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="sepa_creditor")
    name = models.CharField("creditor name", max_length=70, blank=True,
                            help_text="The name debtors see on their statements. Blank: the organization's name.")
    creditor_id = models.CharField("SEPA creditor identifier", max_length=35)
    iban = models.CharField("IBAN", max_length=34)
    bic = models.CharField("BIC", max_length=11, blank=True)
    pain_version = models.CharField(max_length=20, choices=[(v, v) for v in PAIN_008_VERSIONS],
                                    default=DEFAULT_PAIN_008)

    class Meta:
        verbose_name = "SEPA creditor"

    def __str__(self) -> str:
        return f"{self.organization} {self.creditor_id}"


class Mandate(models.Model):
    """A SEPA Core mandate signed by a customer (the debtor)."""

    RECURRENT, ONE_OFF = "recurrent", "one_off"
    KIND_CHOICES = [(RECURRENT, "Recurrent"), (ONE_OFF, "One-off")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_mandates")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="sepa_mandates")
    reference = models.CharField("mandate reference", max_length=35)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=RECURRENT)
    signed_on = models.DateField("signature date")
    signed_at = models.CharField("place of signature", max_length=100, blank=True)
    debtor_name = models.CharField(max_length=140)
    iban = models.CharField("IBAN", max_length=34)
    bic = models.CharField("BIC", max_length=11, blank=True)
    # sequence state: what domain.sepa.next_sequence_type needs
    presented = models.PositiveIntegerField(default=0, help_text="Collections presented (exported) on this mandate")
    collected = models.PositiveIntegerField(default=0, help_text="Collections exported or settled, not failed")
    last_presented_on = models.DateField(null=True, blank=True)
    final_presented = models.BooleanField(default=False)
    revoked_at = models.DateField("revoked on", null=True, blank=True)
    #: Set by a hard R-transaction (MD01, AC04, AC06...): the mandate is not debited again.
    blocked_reason = models.CharField(max_length=4, blank=True, help_text="Reason code of the return that blocked it")
    blocked_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "reference"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "reference"], name="uniq_mandate_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.debtor_name})"


class DebitBatch(models.Model):
    """One pain.008 file as exported: its exact bytes are kept so it can be sent again unchanged."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_batches")
    created_at = models.DateTimeField(auto_now_add=True)
    as_of = models.DateField()
    message_id = models.CharField(max_length=35)
    pain_version = models.CharField(max_length=20)
    file_sha256 = models.CharField(max_length=64)
    xml = models.BinaryField()
    transactions = models.PositiveIntegerField()
    total_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "debit batches"

    def __str__(self) -> str:
        return f"{self.message_id} ({self.transactions} debits)"


class DirectDebit(models.Model):
    """One collection of one invoice on a mandate; a new attempt after a failure is a new row."""

    PENDING, EXPORTED, FAILED, SETTLED = "pending", "exported", "failed", "settled"
    STATUS_CHOICES = [(PENDING, "Pending"), (EXPORTED, "Exported"), (FAILED, "Failed"), (SETTLED, "Settled")]
    SEQUENCE_CHOICES = [("FRST", "First"), ("RCUR", "Recurrent"), ("FNAL", "Final"), ("OOFF", "One-off")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_debits")
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="debits")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="sepa_debits")
    attempt = models.PositiveIntegerField(default=1)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    collection_date = models.DateField()
    sequence_type = models.CharField(max_length=4, choices=SEQUENCE_CHOICES)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    end_to_end_id = models.CharField(max_length=35)
    batch = models.ForeignKey(DebitBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="debits")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["collection_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "attempt"], name="uniq_debit_invoice_attempt"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="debit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id} {self.amount_minor} {self.currency} ({self.sequence_type})"


class DebitReturn(models.Model):
    """The R-transaction of one direct debit (a reject, return, refusal, reversal or refund) with its ISO reason
    code: one per debit, so recording it again changes nothing."""

    REJECT, RETURN, REFUSAL, REVERSAL, REFUND = "reject", "return", "refusal", "reversal", "refund"
    KIND_CHOICES = [(REJECT, "Reject (before settlement)"), (RETURN, "Return (after settlement)"),
                    (REFUSAL, "Refusal by the debtor"), (REVERSAL, "Reversal by the creditor"),
                    (REFUND, "Refund to the debtor")]
    SOURCE_CHOICES = [("pain002", "pain.002 status report"), ("camt054", "camt.054 notification"),
                      ("staff", "Entered by staff")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="debit_returns")
    debit = models.OneToOneField(DirectDebit, on_delete=models.PROTECT, related_name="debit_return")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=RETURN)
    reason_code = models.CharField(max_length=4)
    returned_on = models.DateField()
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default="staff")
    #: The file or message it came from (pain.002 message id, camt.054 entry reference).
    source_ref = models.CharField(max_length=140, blank=True)
    category = models.CharField(max_length=4, help_text="hard or soft (duly.domain.retries)")
    #: What duly.domain.retries decided: retry, new_method, review or give_up.
    action = models.CharField(max_length=10)
    #: The reversal of the payment the debit had been booked as (None when it was not booked as paid).
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    #: The re-presentation planned after a soft return (AM04, MS03).
    retry = models.OneToOneField(DirectDebit, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-returned_on", "-id"]

    def __str__(self) -> str:
        return f"{self.debit.end_to_end_id} {self.reason_code}"


class ProviderEvent(models.Model):
    """A verified webhook event of a payment provider, stored before it is processed: each one is processed once.

    ``object_ref`` is the provider's payment the event concerns (Stripe: the PaymentIntent id), so an event that
    arrived before its payment (a refund before the success) stays pending (``processed_at`` empty) and is
    processed when the payment is recorded.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="provider_events")
    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    object_ref = models.CharField(max_length=255, blank=True, db_index=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="uniq_provider_event")]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"


class SavedPaymentMethod(models.Model):
    """A method a customer saved with a provider for later charges: only the provider's ids plus what staff and
    the customer are shown (brand, last four digits, expiry, as the provider describes them), never card data.

    A customer has several; at most one is the default autopay charges (a partial unique constraint), and a
    removed one (``removed_at``) is kept for the charges made on it but is never the default again.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="saved_methods")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="saved_methods")
    provider = models.CharField(max_length=32)
    customer_ref = models.CharField(max_length=255)
    method_ref = models.CharField(max_length=255)
    setup_ref = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=20)
    #: The method autopay charges (the first one a customer saves, until staff choose another).
    is_default = models.BooleanField(default=False)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField("last four digits", max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField("expiry month", null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField("expiry year", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True, help_text="Removed by staff: never charged again")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "provider", "method_ref"], name="uniq_saved_method"),
            # exactly one default per customer (when they have a method): set_default_method moves it
            models.UniqueConstraint(fields=["customer"], condition=models.Q(is_default=True),
                                    name="uniq_default_saved_method"),
            models.CheckConstraint(condition=models.Q(is_default=False) | models.Q(removed_at__isnull=True),
                                   name="saved_method_default_not_removed"),
        ]

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """``"Visa •••• 4242 (12/2034)"``, ``"SEPA Direct Debit •••• 3000"``: what staff and customers are shown."""
        kind = {"card": "card", "sepa_debit": "sepa_debit", "wallet": "wallet"}.get(self.kind, "other")
        label = {"card": (self.brand or "Card").replace("_", " ").title() if self.brand != "amex"
                 else "American Express", "sepa_debit": "SEPA Direct Debit",
                 "wallet": (self.brand or "Wallet").replace("_", " ").title()}.get(kind, self.kind)
        text = f"{label} •••• {self.last4}" if self.last4 else f"{label} {self.method_ref}"
        if self.exp_month and self.exp_year:
            text += f" ({self.exp_month:02d}/{self.exp_year})"
        return text


class ChargeAttempt(models.Model):
    """One autopay charge of an invoice on a saved method, written (pending) before the provider is called.

    Its idempotency key (``autopay:<invoice id>:<attempt>``) is what the provider charges once with, and what a
    recovery pass looks the charge up by after a crash between the call and the recording.
    """

    PENDING, SUCCEEDED, FAILED, UNKNOWN = "pending", "succeeded", "failed", "unknown"
    STATUS_CHOICES = [(PENDING, "Pending"), (SUCCEEDED, "Succeeded"), (FAILED, "Failed"), (UNKNOWN, "Unknown")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="charge_attempts")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="charge_attempts")
    attempt = models.PositiveIntegerField()
    provider = models.CharField(max_length=32)
    method = models.ForeignKey(SavedPaymentMethod, on_delete=models.PROTECT, related_name="charge_attempts")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    idempotency_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    #: The run's date (``as_of``): what the retry schedule counts from.
    attempted_on = models.DateField()
    provider_ref = models.CharField(max_length=255, blank=True)
    decline_code = models.CharField(max_length=100, blank=True)
    decline_category = models.CharField(max_length=10, blank=True)
    next_retry_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "attempt"], name="uniq_charge_attempt"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="charge_attempt_positive"),
        ]
        indexes = [models.Index(fields=["organization", "status"]),
                   models.Index(fields=["organization", "next_retry_on"])]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.status}"


class Checkout(models.Model):
    """A payment the customer starts from their personal link (``/p/<token>/pay``): which invoices, how much,
    by which method, and where it stands. Its ``public_id`` names it in the customer's URL; the link's token
    scopes it to the customer, so another customer's id opens nothing.

    ``plan`` is the allocation decided when it was started ({invoice id: minor units}, oldest first unless the
    customer chose); the payment, once the provider confirms it, is recorded with exactly that allocation, once
    (the PaymentIntent id is the payment's external reference)."""

    OPEN, PROCESSING, PAID, FAILED = "open", "processing", "paid", "failed"
    STATUS_CHOICES = [(OPEN, "Open"), (PROCESSING, "Processing"), (PAID, "Paid"), (FAILED, "Failed")]
    CARD, SEPA_MANDATE, TRANSFER = "card", "sepa_mandate", "bank_transfer"
    METHOD_CHOICES = [(CARD, "Card or wallet (Stripe)"), (SEPA_MANDATE, "SEPA direct debit mandate"),
                      (TRANSFER, "Bank transfer")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="checkouts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="checkouts")
    public_id = models.CharField(max_length=40, unique=True)
    method = models.CharField(max_length=20, choices=METHOD_CHOICES)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(**CURRENCY_FIELD)
    plan = models.JSONField(default=dict)
    save_for_future = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=OPEN)
    provider = models.CharField(max_length=32, blank=True)
    provider_ref = models.CharField(max_length=255, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    failure = models.CharField(max_length=255, blank=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="checkouts")
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, null=True, blank=True, related_name="checkouts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="checkout_positive"),
            models.UniqueConstraint(fields=["provider", "provider_ref"], condition=~models.Q(provider_ref=""),
                                    name="uniq_checkout_provider_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.method} {self.status}"


# --- Bank accounts, statements and their lines (registered with this app) -------------------------------------
from duly.payments.bank_models import BankAccount, BankStatement, StatementLine  # noqa: E402, F401
from duly.payments.reconcile_models import BankMatch, ReviewEntry  # noqa: E402, F401
