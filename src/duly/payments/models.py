"""Payments, their allocation to invoices, customer credit and refunds."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import CURRENCY_FIELD, Customer, Organization
from duly.invoicing.models import Invoice

METHOD_CHOICES = [
    ("card", _("Card")),
    ("bank_transfer", _("Bank transfer")),
    ("sepa_debit", _("SEPA direct debit")),
    ("ach_debit", _("ACH debit")),
    ("paypal", _("PayPal")),
    ("check", _("Check")),
    ("cash", _("Cash")),
    ("credit", _("Customer credit")),
]


class Payment(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="payments",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments",
                                 verbose_name=_("customer"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    method = models.CharField(max_length=20, choices=METHOD_CHOICES, verbose_name=_("method"))
    received_on = models.DateField(verbose_name=_("received on"))
    external_reference = models.CharField(max_length=120, blank=True, verbose_name=_("external reference"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    refunded_minor = models.BigIntegerField(default=0, verbose_name=_("refunded minor"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
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

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations", null=True, blank=True,
                                verbose_name=_("payment"))
    credit_note = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_allocations",
        verbose_name=_("credit note")
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations",
                                verbose_name=_("invoice"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    applied_on = models.DateField(verbose_name=_("applied on"))
    from_credit = models.BooleanField(default=False, help_text=_("Applied from customer credit"),
                                      verbose_name=_("from credit"))

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["applied_on", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="allocation_positive")]


class CreditEntry(models.Model):
    """Customer credit ledger: + overpayment / credit note, − applied to an invoice or refunded."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_entries",
                                 verbose_name=_("customer"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True,
                                verbose_name=_("payment"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True,
                                verbose_name=_("invoice"))
    memo = models.CharField(max_length=200, verbose_name=_("memo"))
    created_on = models.DateField(verbose_name=_("created on"))

    class Meta:
        verbose_name = _("credit entry")
        verbose_name_plural = _("credit entries")
        ordering = ["created_on", "id"]
        indexes = [models.Index(fields=["customer", "currency"])]


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds",
                                verbose_name=_("payment"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    refunded_on = models.DateField(verbose_name=_("refunded on"))
    reason = models.CharField(max_length=200, verbose_name=_("reason"))
    external_reference = models.CharField(max_length=120, blank=True, verbose_name=_("external reference"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="refund_positive")]


class RefundedAllocation(models.Model):
    """What a refund took back from an invoice a payment had paid: the history a report as of a past date needs.

    A refund reduces (or removes) the payment's :class:`Allocation`, so the current amounts stay right;
    this row keeps the part taken back and the date it had been applied on. Between ``allocated_on``
    and the refund date the invoice was paid by that amount.
    """

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="reopened",
                               verbose_name=_("refund"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunded_allocations",
                                verbose_name=_("invoice"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    allocated_on = models.DateField(help_text=_("Date the refunded part had been applied to the invoice"),
                                    verbose_name=_("allocated on"))

    class Meta:
        verbose_name = _("refunded allocation")
        verbose_name_plural = _("refunded allocations")
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

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="sepa_creditor",
                                        verbose_name=_("organization"))
    name = models.CharField(_("creditor name"), max_length=70, blank=True,
                            help_text=_("The name debtors see on their statements. Blank: the organization's name."))
    creditor_id = models.CharField(_("SEPA creditor identifier"), max_length=35)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    pain_version = models.CharField(max_length=20, choices=[(v, v) for v in PAIN_008_VERSIONS],
                                    default=DEFAULT_PAIN_008, verbose_name=_("pain version"))

    class Meta:
        verbose_name_plural = _("sepa creditors")
        verbose_name = _("SEPA creditor")

    def __str__(self) -> str:
        return f"{self.organization} {self.creditor_id}"


class Mandate(models.Model):
    """A SEPA Core mandate signed by a customer (the debtor)."""

    RECURRENT, ONE_OFF = "recurrent", "one_off"
    KIND_CHOICES = [(RECURRENT, _("Recurrent")), (ONE_OFF, _("One-off"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_mandates",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="sepa_mandates",
                                 verbose_name=_("customer"))
    reference = models.CharField(_("mandate reference"), max_length=35)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=RECURRENT, verbose_name=_("kind"))
    signed_on = models.DateField(_("signature date"))
    signed_at = models.CharField(_("place of signature"), max_length=100, blank=True)
    debtor_name = models.CharField(max_length=140, verbose_name=_("debtor name"))
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    # sequence state: what domain.sepa.next_sequence_type needs
    presented = models.PositiveIntegerField(default=0, help_text=_("Collections presented (exported) on this mandate"),
                                            verbose_name=_("presented"))
    collected = models.PositiveIntegerField(default=0, help_text=_("Collections exported or settled, not failed"),
                                            verbose_name=_("collected"))
    last_presented_on = models.DateField(null=True, blank=True, verbose_name=_("last presented on"))
    final_presented = models.BooleanField(default=False, verbose_name=_("final presented"))
    revoked_at = models.DateField(_("revoked on"), null=True, blank=True)
    #: Set by a hard R-transaction (MD01, AC04, AC06...): the mandate is not debited again.
    blocked_reason = models.CharField(max_length=4, blank=True, help_text=_("Reason code of the return that blocked it"),
                                      verbose_name=_("blocked reason"))
    blocked_on = models.DateField(null=True, blank=True, verbose_name=_("blocked on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("mandate")
        verbose_name_plural = _("mandates")
        ordering = ["organization", "reference"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "reference"], name="uniq_mandate_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.debtor_name})"


class DebitBatch(models.Model):
    """One pain.008 file as exported: its exact bytes are kept so it can be sent again unchanged."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_batches",
                                     verbose_name=_("organization"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    as_of = models.DateField(verbose_name=_("as of"))
    message_id = models.CharField(max_length=35, verbose_name=_("message id"))
    pain_version = models.CharField(max_length=20, verbose_name=_("pain version"))
    file_sha256 = models.CharField(max_length=64, verbose_name=_("file sha256"))
    xml = models.BinaryField(verbose_name=_("xml"))
    transactions = models.PositiveIntegerField(verbose_name=_("transactions"))
    total_minor = models.BigIntegerField(verbose_name=_("total minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))

    class Meta:
        verbose_name = _("debit batch")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("debit batches")

    def __str__(self) -> str:
        return f"{self.message_id} ({self.transactions} debits)"


class DirectDebit(models.Model):
    """One collection of one invoice on a mandate; a new attempt after a failure is a new row."""

    PENDING, EXPORTED, FAILED, SETTLED = "pending", "exported", "failed", "settled"
    STATUS_CHOICES = [(PENDING, _("Pending")), (EXPORTED, _("Exported")), (FAILED, _("Failed")), (SETTLED, _("Settled"))]
    SEQUENCE_CHOICES = [("FRST", _("First")), ("RCUR", _("Recurrent")), ("FNAL", _("Final")), ("OOFF", _("One-off"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sepa_debits",
                                     verbose_name=_("organization"))
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="debits",
                                verbose_name=_("mandate"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="sepa_debits",
                                verbose_name=_("invoice"))
    attempt = models.PositiveIntegerField(default=1, verbose_name=_("attempt"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    collection_date = models.DateField(verbose_name=_("collection date"))
    sequence_type = models.CharField(max_length=4, choices=SEQUENCE_CHOICES, verbose_name=_("sequence type"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING, verbose_name=_("status"))
    end_to_end_id = models.CharField(max_length=35, verbose_name=_("end to end id"))
    batch = models.ForeignKey(DebitBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="debits",
                              verbose_name=_("batch"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("direct debit")
        verbose_name_plural = _("direct debits")
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
    KIND_CHOICES = [(REJECT, _("Reject (before settlement)")), (RETURN, _("Return (after settlement)")),
                    (REFUSAL, _("Refusal by the debtor")), (REVERSAL, _("Reversal by the creditor")),
                    (REFUND, _("Refund to the debtor"))]
    SOURCE_CHOICES = [("pain002", _("pain.002 status report")), ("camt054", _("camt.054 notification")),
                      ("staff", _("Entered by staff"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="debit_returns",
                                     verbose_name=_("organization"))
    debit = models.OneToOneField(DirectDebit, on_delete=models.PROTECT, related_name="debit_return",
                                 verbose_name=_("debit"))
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=RETURN, verbose_name=_("kind"))
    reason_code = models.CharField(max_length=4, verbose_name=_("reason code"))
    returned_on = models.DateField(verbose_name=_("returned on"))
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default="staff", verbose_name=_("source"))
    #: The file or message it came from (pain.002 message id, camt.054 entry reference).
    source_ref = models.CharField(max_length=140, blank=True, verbose_name=_("source ref"))
    category = models.CharField(max_length=4, help_text=_("hard or soft (duly.domain.retries)"),
                                verbose_name=_("category"))
    #: What duly.domain.retries decided: retry, new_method, review or give_up.
    action = models.CharField(max_length=10, verbose_name=_("action"))
    #: The reversal of the payment the debit had been booked as (None when it was not booked as paid).
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("refund"))
    #: The re-presentation planned after a soft return (AM04, MS03).
    retry = models.OneToOneField(DirectDebit, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("retry"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("debit return")
        verbose_name_plural = _("debit returns")
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
                                     related_name="provider_events", verbose_name=_("organization"))
    provider = models.CharField(max_length=32, verbose_name=_("provider"))
    event_id = models.CharField(max_length=255, verbose_name=_("event id"))
    type = models.CharField(max_length=100, verbose_name=_("type"))
    object_ref = models.CharField(max_length=255, blank=True, db_index=True, verbose_name=_("object ref"))
    received_at = models.DateTimeField(verbose_name=_("received at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))
    outcome = models.CharField(max_length=255, blank=True, verbose_name=_("outcome"))
    payload = models.JSONField(verbose_name=_("payload"))

    class Meta:
        verbose_name = _("provider event")
        verbose_name_plural = _("provider events")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="saved_methods",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="saved_methods",
                                 verbose_name=_("customer"))
    provider = models.CharField(max_length=32, verbose_name=_("provider"))
    customer_ref = models.CharField(max_length=255, verbose_name=_("customer ref"))
    method_ref = models.CharField(max_length=255, verbose_name=_("method ref"))
    setup_ref = models.CharField(max_length=255, blank=True, verbose_name=_("setup ref"))
    kind = models.CharField(max_length=20, verbose_name=_("kind"))
    #: The method autopay charges (the first one a customer saves, until staff choose another).
    is_default = models.BooleanField(default=False, verbose_name=_("is default"))
    brand = models.CharField(max_length=32, blank=True, verbose_name=_("brand"))
    last4 = models.CharField(_("last four digits"), max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(_("expiry month"), null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(_("expiry year"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    removed_at = models.DateTimeField(null=True, blank=True, help_text=_("Removed by staff: never charged again"),
                                      verbose_name=_("removed at"))

    class Meta:
        verbose_name = _("saved payment method")
        verbose_name_plural = _("saved payment methods")
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
    STATUS_CHOICES = [(PENDING, _("Pending")), (SUCCEEDED, _("Succeeded")), (FAILED, _("Failed")), (UNKNOWN, _("Unknown"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="charge_attempts",
                                     verbose_name=_("organization"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="charge_attempts",
                                verbose_name=_("invoice"))
    attempt = models.PositiveIntegerField(verbose_name=_("attempt"))
    provider = models.CharField(max_length=32, verbose_name=_("provider"))
    method = models.ForeignKey(SavedPaymentMethod, on_delete=models.PROTECT, related_name="charge_attempts",
                               verbose_name=_("method"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    idempotency_key = models.CharField(max_length=255, unique=True, verbose_name=_("idempotency key"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING, verbose_name=_("status"))
    #: The run's date (``as_of``): what the retry schedule counts from.
    attempted_on = models.DateField(verbose_name=_("attempted on"))
    provider_ref = models.CharField(max_length=255, blank=True, verbose_name=_("provider ref"))
    decline_code = models.CharField(max_length=100, blank=True, verbose_name=_("decline code"))
    decline_category = models.CharField(max_length=10, blank=True, verbose_name=_("decline category"))
    next_retry_on = models.DateField(null=True, blank=True, verbose_name=_("next retry on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("charge attempt")
        verbose_name_plural = _("charge attempts")
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
    STATUS_CHOICES = [(OPEN, _("Open")), (PROCESSING, _("Processing")), (PAID, _("Paid")), (FAILED, _("Failed"))]
    CARD, SEPA_MANDATE, TRANSFER = "card", "sepa_mandate", "bank_transfer"
    METHOD_CHOICES = [(CARD, _("Card or wallet (Stripe)")), (SEPA_MANDATE, _("SEPA direct debit mandate")),
                      (TRANSFER, _("Bank transfer"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="checkouts",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="checkouts",
                                 verbose_name=_("customer"))
    public_id = models.CharField(max_length=40, unique=True, verbose_name=_("public id"))
    method = models.CharField(max_length=20, choices=METHOD_CHOICES, verbose_name=_("method"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    plan = models.JSONField(default=dict, verbose_name=_("plan"))
    save_for_future = models.BooleanField(default=False, verbose_name=_("save for future"))
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=OPEN, verbose_name=_("status"))
    provider = models.CharField(max_length=32, blank=True, verbose_name=_("provider"))
    provider_ref = models.CharField(max_length=255, blank=True, verbose_name=_("provider ref"))
    client_secret = models.CharField(max_length=255, blank=True, verbose_name=_("client secret"))
    failure = models.CharField(max_length=255, blank=True, verbose_name=_("failure"))
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="checkouts",
                                verbose_name=_("payment"))
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, null=True, blank=True, related_name="checkouts",
                                verbose_name=_("mandate"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("checkout")
        verbose_name_plural = _("checkouts")
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
