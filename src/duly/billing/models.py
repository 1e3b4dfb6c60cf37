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
from django.utils.translation import gettext_lazy as _

from duly.customers.models import CURRENCY_FIELD, Contract, Customer, Organization
from duly.db.fields import DecimalTextField
from duly.invoicing.models import Invoice, InvoiceLine

QUANTITY = dict(max_digits=24, decimal_places=6)


# --- catalog -----------------------------------------------------------------------------------------
class Product(models.Model):
    """Something sold: a plan, an add-on, a usage-based service. Carries the tax treatment of its lines."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    code = models.CharField(max_length=40, help_text=_("Short code, unique in the organization"),
                            verbose_name=_("code"))
    name = models.CharField(max_length=200, help_text=_("Printed on invoice lines"), verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    unit = models.CharField(max_length=10, default="C62", help_text=_("UN/ECE rec. 20 unit code (C62 = one)"),
                            verbose_name=_("unit"))
    tax_category = models.CharField(max_length=2, choices=InvoiceLine.TAX_CATEGORY_CHOICES, default="S",
                                    verbose_name=_("tax category"))
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0), verbose_name=_("tax rate"))
    tax_exemption_reason = models.CharField(max_length=200, blank=True, verbose_name=_("tax exemption reason"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["organization", "code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_product_code")]

    def __str__(self) -> str:
        return self.name


class Metric(models.Model):
    """A usage meter (API calls, GB stored, active seats) and how its events are aggregated per period."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    code = models.CharField(max_length=60, help_text=_("The code usage events refer to, e.g. api_calls"),
                            verbose_name=_("code"))
    name = models.CharField(max_length=200, help_text=_("Plural noun used on invoices, e.g. 'API calls'"),
                            verbose_name=_("name"))
    aggregation = models.CharField(max_length=30, help_text=_("See duly.domain.usage.AGGREGATIONS"),
                                   verbose_name=_("aggregation"))
    property_name = models.CharField(
        max_length=60, blank=True, help_text=_("unique_count: the event property whose distinct values are counted"),
        verbose_name=_("property name")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("metric")
        verbose_name_plural = _("metrics")
        ordering = ["organization", "code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_metric_code")]

    def __str__(self) -> str:
        return self.code


class Price(models.Model):
    """How a product is charged in one currency: a price model configuration and where the quantity comes from."""

    SOURCE_QUANTITY, SOURCE_USAGE, SOURCE_LICENCES = "quantity", "usage", "licences"
    SOURCE_CHOICES = [
        (SOURCE_QUANTITY, _("Subscription quantity (licensed)")),
        (SOURCE_USAGE, _("Usage events of a metric (metered)")),
        (SOURCE_LICENCES, _("Daily licence snapshots (average active seats)")),
    ]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices",
                                verbose_name=_("product"))
    code = models.CharField(max_length=60, help_text=_("Unique in the organization, e.g. pro-monthly-eur"),
                            verbose_name=_("code"))
    nickname = models.CharField(max_length=200, blank=True, verbose_name=_("nickname"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    model_config = models.JSONField(help_text=_('duly.domain.pricing configuration, e.g. {"model": "per_unit", ...}'),
                                    verbose_name=_("model config"))
    quantity_source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default=SOURCE_QUANTITY,
                                       verbose_name=_("quantity source"))
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, null=True, blank=True, related_name="prices",
                               verbose_name=_("metric"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
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
        ("weekly", _("Weekly")),
        ("biweekly", _("Every 2 weeks")),
        ("monthly", _("Monthly")),
        ("quarterly", _("Quarterly")),
        ("semiannual", _("Semi-annual")),
        ("annual", _("Annual")),
        ("custom", _("Custom (rrule)")),
    ]
    ADVANCE, ARREARS = "advance", "arrears"
    TIMING_CHOICES = [(ADVANCE, _("In advance (at period start)")), (ARREARS, _("In arrears (at period end)"))]
    ACTIVE, CANCELED, ENDED = "active", "canceled", "ended"
    STATUS_CHOICES = [(ACTIVE, _("Active")), (CANCELED, _("Canceled")), (ENDED, _("Ended"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions",
                                 verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="subscriptions",
                                 verbose_name=_("contract"))
    reference = models.CharField(max_length=60, blank=True, verbose_name=_("reference"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    interval = models.CharField(max_length=12, choices=INTERVAL_CHOICES, default="monthly",
                                verbose_name=_("interval"))
    rrule = models.TextField(blank=True, help_text=_("Custom interval: an RFC 5545 RRULE, e.g. FREQ=MONTHLY;BYDAY=1MO"),
                             verbose_name=_("rrule"))
    anchor_day = models.CharField(
        max_length=10, blank=True,
        help_text=_("Billing day: 1..31 or 'last' (monthly and longer), a weekday name (weekly, biweekly)"),
        verbose_name=_("anchor day")
    )
    timing = models.CharField(max_length=8, choices=TIMING_CHOICES, default=ADVANCE, verbose_name=_("timing"))
    start_date = models.DateField(verbose_name=_("start date"))
    end_date = models.DateField(null=True, blank=True, help_text=_("Exclusive: service stops on this day"),
                                verbose_name=_("end date"))
    trial_end = models.DateField(null=True, blank=True, help_text=_("Exclusive: charges start on this day"),
                                 verbose_name=_("trial end"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=ACTIVE, verbose_name=_("status"))
    cancel_at_period_end = models.BooleanField(default=False, verbose_name=_("cancel at period end"))
    canceled_on = models.DateField(null=True, blank=True, verbose_name=_("canceled on"))
    #: Billing cursor: the key (period start) of the last billed slot, and the billing date of the next
    #: one (None: nothing more to bill). Maintained by the billing run.
    last_billed_period_start = models.DateField(null=True, blank=True, verbose_name=_("last billed period start"))
    next_bill_on = models.DateField(null=True, blank=True, verbose_name=_("next bill on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["organization", "customer", "id"]
        indexes = [models.Index(fields=["organization", "next_bill_on"])]

    def __str__(self) -> str:
        return self.reference or f"Subscription {self.pk}"


class SubscriptionItem(models.Model):
    """One price of a subscription, with its quantity, valid from ``starts_on`` until ``ends_on`` (exclusive).

    A plan or quantity change ends the current item and starts a new one, so the history of what
    was sold when is kept and every period can be prorated exactly.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="items",
                                     verbose_name=_("subscription"))
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+", verbose_name=_("price"))
    quantity = models.DecimalField(**QUANTITY, default=Decimal(1), verbose_name=_("quantity"))
    starts_on = models.DateField(verbose_name=_("starts on"))
    ends_on = models.DateField(null=True, blank=True, verbose_name=_("ends on"))

    class Meta:
        verbose_name = _("subscription item")
        verbose_name_plural = _("subscription items")
        ordering = ["subscription", "starts_on", "id"]

    def __str__(self) -> str:
        return f"{self.price} × {self.quantity}"


class SubscriptionPause(models.Model):
    """No recurring charge from ``starts_on`` until ``resumes_on`` (exclusive; None: until resumed)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pauses",
                                     verbose_name=_("subscription"))
    starts_on = models.DateField(verbose_name=_("starts on"))
    resumes_on = models.DateField(null=True, blank=True, verbose_name=_("resumes on"))
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))

    class Meta:
        verbose_name = _("subscription pause")
        verbose_name_plural = _("subscription pauses")
        ordering = ["subscription", "starts_on"]

    def __str__(self) -> str:
        return f"pause {self.starts_on}–{self.resumes_on or '…'}"


class PendingCharge(models.Model):
    """A one-off line waiting for the customer's next invoice (e.g. the prorated part of an upgrade)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pending_charges",
                                     verbose_name=_("subscription"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    description = models.CharField(max_length=500, verbose_name=_("description"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    unit = models.CharField(max_length=10, default="C62", verbose_name=_("unit"))
    tax_category = models.CharField(max_length=2, default="S", verbose_name=_("tax category"))
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0), verbose_name=_("tax rate"))
    tax_exemption_reason = models.CharField(max_length=200, blank=True, verbose_name=_("tax exemption reason"))
    period_start = models.DateField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateField(null=True, blank=True, help_text=_("Inclusive"), verbose_name=_("period end"))
    explanation = models.TextField(blank=True, verbose_name=_("explanation"))
    created_on = models.DateField(verbose_name=_("created on"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("invoice"))

    class Meta:
        verbose_name = _("pending charge")
        verbose_name_plural = _("pending charges")
        ordering = ["customer", "created_on", "id"]
        indexes = [models.Index(fields=["customer", "invoice"])]


class BillingRecord(models.Model):
    """One billed subscription period. Unique per (subscription, period_start): a period is billed once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="billing_records",
                                     verbose_name=_("subscription"))
    period_start = models.DateField(help_text=_("Slot key: the service period start (the end date for a closing slot)"),
                                    verbose_name=_("period start"))
    period_end = models.DateField(help_text=_("Exclusive"), verbose_name=_("period end"))
    usage_start = models.DateField(null=True, blank=True, help_text=_("Usage window billed (None: no usage)"),
                                   verbose_name=_("usage start"))
    usage_end = models.DateField(null=True, blank=True, help_text=_("Exclusive"), verbose_name=_("usage end"))
    billing_date = models.DateField(verbose_name=_("billing date"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("invoice"))
    amount_minor = models.BigIntegerField(default=0, help_text=_("Net amount billed for this slot"),
                                          verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    #: Billed quantity per metric code (decimal strings), to price late usage as a difference.
    usage = models.JSONField(default=dict, blank=True, verbose_name=_("usage"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("billing record")
        verbose_name_plural = _("billing records")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                     verbose_name=_("subscription"))
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+", verbose_name=_("metric"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))
    timestamp = models.DateTimeField(verbose_name=_("timestamp"))
    #: Exact on every database (a DecimalField loses digits on SQLite): below 10^18, 6 decimals.
    value = DecimalTextField(integer_digits=18, decimal_places=6)
    properties = models.JSONField(default=dict, blank=True, verbose_name=_("properties"))
    recorded_at = models.DateTimeField(verbose_name=_("recorded at"))
    late = models.BooleanField(default=False, verbose_name=_("late"))
    late_billed_on = models.DateField(null=True, blank=True, verbose_name=_("late billed on"))
    adjusted_on = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("adjusted on"))

    class Meta:
        verbose_name = _("usage event")
        verbose_name_plural = _("usage events")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="licence_snapshots",
                                     verbose_name=_("subscription"))
    day = models.DateField(verbose_name=_("day"))
    active_count = models.PositiveIntegerField(verbose_name=_("active count"))

    class Meta:
        verbose_name = _("licence snapshot")
        verbose_name_plural = _("licence snapshots")
        ordering = ["subscription", "day"]
        constraints = [models.UniqueConstraint(fields=["subscription", "day"], name="uniq_licence_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.active_count}"


# --- deposits and retainers ---------------------------------------------------------------------------
class RetainerAgreement(models.Model):
    """A contract's prepaid balance: topped up by ``topup_minor`` when it falls below ``threshold_minor``."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    contract = models.OneToOneField(Contract, on_delete=models.PROTECT, related_name="retainer",
                                    verbose_name=_("contract"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    topup_minor = models.BigIntegerField(help_text=_("Amount of each retainer (top-up) invoice"),
                                         verbose_name=_("topup minor"))
    threshold_minor = models.BigIntegerField(help_text=_("A top-up is invoiced when the balance falls below this"),
                                             verbose_name=_("threshold minor"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_on = models.DateField(verbose_name=_("created on"))

    def __str__(self) -> str:
        return f"Retainer of {self.contract}"

    class Meta:
        verbose_name = _("retainer agreement")
        verbose_name_plural = _("retainer agreements")


class PrepaidFunding(models.Model):
    """An invoice that funds a prepaid balance: a deposit or a retainer (top-up). Counts once it is paid."""

    DEPOSIT, RETAINER = "deposit", "retainer"
    KIND_CHOICES = [(DEPOSIT, _("Deposit")), (RETAINER, _("Retainer"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+", verbose_name=_("contract"))
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                     verbose_name=_("subscription"))
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, verbose_name=_("kind"))
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    created_on = models.DateField(verbose_name=_("created on"))

    class Meta:
        verbose_name = _("prepaid funding")
        verbose_name_plural = _("prepaid fundings")
        ordering = ["contract", "created_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract"], condition=models.Q(kind="deposit"), name="uniq_deposit_per_contract"
            ),
        ]


class PrepaidDrawdown(models.Model):
    """A deposit or retainer amount deducted on an invoice (shown there as the prepaid amount)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+", verbose_name=_("contract"))
    kind = models.CharField(max_length=10, choices=PrepaidFunding.KIND_CHOICES, verbose_name=_("kind"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+", verbose_name=_("invoice"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    applied_on = models.DateField(verbose_name=_("applied on"))

    class Meta:
        verbose_name = _("prepaid drawdown")
        verbose_name_plural = _("prepaid drawdowns")
        ordering = ["contract", "applied_on", "id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "kind"], name="uniq_drawdown_per_invoice")]


# --- price changes ----------------------------------------------------------------------------------------
class PriceChange(models.Model):
    """A new price configuration for one subscription or a whole price, from ``effective_date``.

    A period is billed at the price in force on its first day; the first invoice at the new price
    shows the old and new price and the justification.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="changes", verbose_name=_("price"))
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, null=True, blank=True, related_name="price_changes",
        help_text=_("Only this subscription; empty: every subscription on the price"), verbose_name=_("subscription"),
    )
    effective_date = models.DateField(verbose_name=_("effective date"))
    new_model_config = models.JSONField(verbose_name=_("new model config"))
    justification = models.TextField(help_text=_("What improved and why the price changes"),
                                     verbose_name=_("justification"))
    notice_days = models.PositiveIntegerField(default=30, verbose_name=_("notice days"))
    scheduled_on = models.DateField(verbose_name=_("scheduled on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        ordering = ["price", "effective_date", "id"]

    def __str__(self) -> str:
        return f"{self.price} from {self.effective_date}"


class PriceChangeNotice(models.Model):
    """A queued notice of a price change to one customer; the messaging app delivers it."""

    QUEUED, SENT, CANCELED = "queued", "sent", "canceled"
    STATUS_CHOICES = [(QUEUED, _("Queued")), (SENT, _("Sent")), (CANCELED, _("Canceled"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    price_change = models.ForeignKey(PriceChange, on_delete=models.CASCADE, related_name="notices",
                                     verbose_name=_("price change"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer"))
    send_on = models.DateField(verbose_name=_("send on"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED, verbose_name=_("status"))
    subject = models.CharField(max_length=300, verbose_name=_("subject"))
    body = models.TextField(verbose_name=_("body"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    #: The customer's first invoice at the new price (it shows the old and new price and the justification).
    first_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                      verbose_name=_("first invoice"))

    class Meta:
        verbose_name = _("price change notice")
        verbose_name_plural = _("price change notices")
        ordering = ["send_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["price_change", "customer"], name="uniq_price_notice_customer"),
        ]
        indexes = [models.Index(fields=["organization", "status", "send_on"])]

    def __str__(self) -> str:
        return self.subject
