"""Billing state: the catalog, subscriptions, usage, deposits and retainers, price changes, billing records.

Every row belongs to one organization. The rules live in :mod:`duly.domain.pricing`,
:mod:`duly.domain.schedules` and :mod:`duly.domain.usage`; this module only stores their inputs and
what the billing run decided. Each side effect has a natural key enforced by a unique constraint:

- a subscription period is billed once: :class:`BillingRecord` (subscription, period_start);
- a usage event is recorded once: :class:`UsageEvent` (organization, idempotency_key);
- one licence count per subscription and day: :class:`LicenceSnapshot` (subscription, day);
- one deposit invoice per contract: :class:`PrepaidFunding` (contract) for deposits;
- one price-change notice per customer and change: :class:`PriceChangeNotice` (price_change, customer).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from duly.customers.models import CURRENCY_FIELD, Contract, Customer, Organization
from duly.db.fields import DecimalTextField
from duly.invoicing.models import Invoice, InvoiceLine

QUANTITY = dict(max_digits=24, decimal_places=6)


# --- catalog -----------------------------------------------------------------------------------------
class Product(models.Model):
    """Something sold: a plan, an add-on, a usage-based service. Carries the tax treatment of its lines."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=40, help_text="Short code, unique in the organization")
    name = models.CharField(max_length=200, help_text="Printed on invoice lines")
    description = models.TextField(blank=True)
    unit = models.CharField(max_length=10, default="C62", help_text="UN/ECE rec. 20 unit code (C62 = one)")
    tax_category = models.CharField(max_length=2, choices=InvoiceLine.TAX_CATEGORY_CHOICES, default="S")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    tax_exemption_reason = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_product_code")]

    def __str__(self) -> str:
        return self.name


class Metric(models.Model):
    """A usage meter (API calls, GB stored, active seats) and how its events are aggregated per period."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=60, help_text="The code usage events refer to, e.g. api_calls")
    name = models.CharField(max_length=200, help_text="Plural noun used on invoices, e.g. 'API calls'")
    aggregation = models.CharField(max_length=30, help_text="See duly.domain.usage.AGGREGATIONS")
    property_name = models.CharField(
        max_length=60, blank=True, help_text="unique_count: the event property whose distinct values are counted"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_metric_code")]

    def __str__(self) -> str:
        return self.code


class Price(models.Model):
    """How a product is charged in one currency: a price model configuration and where the quantity comes from."""

    SOURCE_QUANTITY, SOURCE_USAGE, SOURCE_LICENCES = "quantity", "usage", "licences"
    SOURCE_CHOICES = [
        (SOURCE_QUANTITY, "Subscription quantity (licensed)"),
        (SOURCE_USAGE, "Usage events of a metric (metered)"),
        (SOURCE_LICENCES, "Daily licence snapshots (average active seats)"),
    ]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    code = models.CharField(max_length=60, help_text="Unique in the organization, e.g. pro-monthly-eur")
    nickname = models.CharField(max_length=200, blank=True)
    currency = models.CharField(**CURRENCY_FIELD)
    model_config = models.JSONField(help_text='duly.domain.pricing configuration, e.g. {"model": "per_unit", ...}')
    quantity_source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default=SOURCE_QUANTITY)
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, null=True, blank=True, related_name="prices")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "code"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="uniq_price_code"),
            models.CheckConstraint(
                condition=~models.Q(quantity_source="usage") | models.Q(metric__isnull=False),
                name="usage_price_has_metric",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


# --- subscriptions ------------------------------------------------------------------------------------
class Subscription(models.Model):
    """A customer's recurring purchase under a contract, billed on its own dates."""

    INTERVAL_CHOICES = [
        ("weekly", "Weekly"),
        ("biweekly", "Every 2 weeks"),
        ("monthly", "Monthly"),
        ("quarterly", "Quarterly"),
        ("semiannual", "Semi-annual"),
        ("annual", "Annual"),
        ("custom", "Custom (rrule)"),
    ]
    ADVANCE, ARREARS = "advance", "arrears"
    TIMING_CHOICES = [(ADVANCE, "In advance (at period start)"), (ARREARS, "In arrears (at period end)")]
    ACTIVE, CANCELED, ENDED = "active", "canceled", "ended"
    STATUS_CHOICES = [(ACTIVE, "Active"), (CANCELED, "Canceled"), (ENDED, "Ended")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="subscriptions")
    reference = models.CharField(max_length=60, blank=True)
    currency = models.CharField(**CURRENCY_FIELD)
    interval = models.CharField(max_length=12, choices=INTERVAL_CHOICES, default="monthly")
    rrule = models.TextField(blank=True, help_text="Custom interval: an RFC 5545 RRULE, e.g. FREQ=MONTHLY;BYDAY=1MO")
    anchor_day = models.CharField(
        max_length=10, blank=True,
        help_text="Billing day: 1..31 or 'last' (monthly and longer), a weekday name (weekly, biweekly)"
    )
    timing = models.CharField(max_length=8, choices=TIMING_CHOICES, default=ADVANCE)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Exclusive: service stops on this day")
    trial_end = models.DateField(null=True, blank=True, help_text="Exclusive: charges start on this day")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=ACTIVE)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_on = models.DateField(null=True, blank=True)
    #: Billing cursor: the key (period start) of the last billed slot, and the billing date of the next
    #: one (None: nothing more to bill). Maintained by the billing run.
    last_billed_period_start = models.DateField(null=True, blank=True)
    next_bill_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "customer", "id"]
        indexes = [models.Index(fields=["organization", "next_bill_on"])]

    def __str__(self) -> str:
        return self.reference or f"Subscription {self.pk}"


class SubscriptionItem(models.Model):
    """One price of a subscription, with its quantity, valid from ``starts_on`` until ``ends_on`` (exclusive).

    A plan or quantity change ends the current item and starts a new one, so the history of what
    was sold when is kept and every period can be prorated exactly.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="items")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY, default=Decimal(1))
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["subscription", "starts_on", "id"]

    def __str__(self) -> str:
        return f"{self.price} × {self.quantity}"


class SubscriptionPause(models.Model):
    """No recurring charge from ``starts_on`` until ``resumes_on`` (exclusive; None: until resumed)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pauses")
    starts_on = models.DateField()
    resumes_on = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["subscription", "starts_on"]

    def __str__(self) -> str:
        return f"pause {self.starts_on}–{self.resumes_on or '…'}"


class PendingCharge(models.Model):
    """A one-off line waiting for the customer's next invoice (e.g. the prorated part of an upgrade)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pending_charges")
    currency = models.CharField(**CURRENCY_FIELD)
    description = models.CharField(max_length=500)
    amount_minor = models.BigIntegerField()
    unit = models.CharField(max_length=10, default="C62")
    tax_category = models.CharField(max_length=2, default="S")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    tax_exemption_reason = models.CharField(max_length=200, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="Inclusive")
    explanation = models.TextField(blank=True)
    created_on = models.DateField()
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["customer", "created_on", "id"]
        indexes = [models.Index(fields=["customer", "invoice"])]


class BillingRecord(models.Model):
    """One billed subscription period. Unique per (subscription, period_start): a period is billed once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="billing_records")
    period_start = models.DateField(help_text="Slot key: the service period start (the end date for a closing slot)")
    period_end = models.DateField(help_text="Exclusive")
    usage_start = models.DateField(null=True, blank=True, help_text="Usage window billed (None: no usage)")
    usage_end = models.DateField(null=True, blank=True, help_text="Exclusive")
    billing_date = models.DateField()
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    amount_minor = models.BigIntegerField(default=0, help_text="Net amount billed for this slot")
    currency = models.CharField(**CURRENCY_FIELD)
    #: Billed quantity per metric code (decimal strings), to price late usage as a difference.
    usage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription", "period_start"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="uniq_billing_period"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start}–{self.period_end}"


# --- usage and licences -------------------------------------------------------------------------------
class UsageEvent(models.Model):
    """One usage event, recorded once per client-supplied idempotency key.

    ``late`` marks an event whose usage window was already invoiced when it arrived: it is billed by
    the next billing run of the customer as a late adjustment (``late_billed_on`` is then set, and
    ``adjusted_on`` names the invoice when the adjustment was not zero).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    timestamp = models.DateTimeField()
    #: Exact on every database (a DecimalField loses digits on SQLite): below 10^18, 6 decimals.
    value = DecimalTextField(integer_digits=18, decimal_places=6)
    properties = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField()
    late = models.BooleanField(default=False)
    late_billed_on = models.DateField(null=True, blank=True)
    adjusted_on = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="uniq_usage_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["organization", "customer", "timestamp"]),
            models.Index(fields=["organization", "late", "late_billed_on"]),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class LicenceSnapshot(models.Model):
    """The number of active licences (seats) of a subscription on one day."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="licence_snapshots")
    day = models.DateField()
    active_count = models.PositiveIntegerField()

    class Meta:
        ordering = ["subscription", "day"]
        constraints = [models.UniqueConstraint(fields=["subscription", "day"], name="uniq_licence_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.active_count}"


# --- deposits and retainers ---------------------------------------------------------------------------
class RetainerAgreement(models.Model):
    """A contract's prepaid balance: topped up by ``topup_minor`` when it falls below ``threshold_minor``."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    contract = models.OneToOneField(Contract, on_delete=models.PROTECT, related_name="retainer")
    currency = models.CharField(**CURRENCY_FIELD)
    topup_minor = models.BigIntegerField(help_text="Amount of each retainer (top-up) invoice")
    threshold_minor = models.BigIntegerField(help_text="A top-up is invoiced when the balance falls below this")
    active = models.BooleanField(default=True)
    created_on = models.DateField()

    def __str__(self) -> str:
        return f"Retainer of {self.contract}"


class PrepaidFunding(models.Model):
    """An invoice that funds a prepaid balance: a deposit or a retainer (top-up). Counts once it is paid."""

    DEPOSIT, RETAINER = "deposit", "retainer"
    KIND_CHOICES = [(DEPOSIT, "Deposit"), (RETAINER, "Retainer")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(**CURRENCY_FIELD)
    amount_minor = models.BigIntegerField()
    created_on = models.DateField()

    class Meta:
        ordering = ["contract", "created_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract"], condition=models.Q(kind="deposit"), name="uniq_deposit_per_contract"
            ),
        ]


class PrepaidDrawdown(models.Model):
    """A deposit or retainer amount deducted on an invoice (shown there as the prepaid amount)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=PrepaidFunding.KIND_CHOICES)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(**CURRENCY_FIELD)
    amount_minor = models.BigIntegerField()
    applied_on = models.DateField()

    class Meta:
        ordering = ["contract", "applied_on", "id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "kind"], name="uniq_drawdown_per_invoice")]


# --- price changes ----------------------------------------------------------------------------------------
class PriceChange(models.Model):
    """A new price configuration for one subscription or a whole price, from ``effective_date``.

    A period is billed at the price in force on its first day; the first invoice at the new price
    shows the old and new price and the justification.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="changes")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, null=True, blank=True, related_name="price_changes",
        help_text="Only this subscription; empty: every subscription on the price",
    )
    effective_date = models.DateField()
    new_model_config = models.JSONField()
    justification = models.TextField(help_text="What improved and why the price changes")
    notice_days = models.PositiveIntegerField(default=30)
    scheduled_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price", "effective_date", "id"]

    def __str__(self) -> str:
        return f"{self.price} from {self.effective_date}"


class PriceChangeNotice(models.Model):
    """A queued notice of a price change to one customer; the messaging app delivers it."""

    QUEUED, SENT, CANCELED = "queued", "sent", "canceled"
    STATUS_CHOICES = [(QUEUED, "Queued"), (SENT, "Sent"), (CANCELED, "Canceled")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    price_change = models.ForeignKey(PriceChange, on_delete=models.CASCADE, related_name="notices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    send_on = models.DateField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    #: The customer's first invoice at the new price (it shows the old and new price and the justification).
    first_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["send_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["price_change", "customer"], name="uniq_price_notice_customer"),
        ]
        indexes = [models.Index(fields=["organization", "status", "send_on"])]

    def __str__(self) -> str:
        return self.subject
