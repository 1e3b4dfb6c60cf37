"""Sellers (organizations), their customers, contacts and contracts (the agreed terms)."""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from duly.domain.money import from_minor

from .endpoints import EAS_CHOICES
from .roles import ROLE_CHOICES

CURRENCY_FIELD = dict(max_length=3)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def validate_billing_day(value: str) -> None:
    """A billing-day anchor: 1..31 or "last" (monthly and longer), or a weekday name (weekly, every 2 weeks)."""
    from django.core.exceptions import ValidationError

    text = (value or "").strip().lower()
    if text and text != "last" and text not in _WEEKDAYS and not (text.isdigit() and 1 <= int(text) <= 31):
        raise ValidationError(f"{value!r} is not a billing day: use 1..31, 'last' or a weekday name (monday...).")


class Organization(models.Model):
    """A seller. Every business row belongs to exactly one organization."""

    name = models.CharField("legal name", max_length=200)
    slug = models.SlugField(unique=True)
    trading_name = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    postcode = models.CharField(max_length=20)
    city = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    subdivision = models.CharField(
        max_length=10, blank=True, help_text="Optional ISO 3166-2 region, e.g. DE-BY, ES-CT or US-NY: its public "
                                             "holidays count too (query deadlines, due dates under your calendar)")
    vat_id = models.CharField("tax/VAT id", max_length=40, blank=True)
    registration_id = models.CharField("company registration id", max_length=60, blank=True)
    # Mentions some countries require on invoices (France: forme juridique, capital social, ville du RCS).
    legal_form = models.CharField(max_length=60, blank=True, help_text="SAS, SARL, GmbH, Ltd…")
    share_capital_minor = models.BigIntegerField(null=True, blank=True,
                                                 help_text="in minor units of the default currency")
    registry_city = models.CharField("trade registry city", max_length=100, blank=True,
                                     help_text="city of the RCS (France) or Registergericht")
    tax_number = models.CharField(
        "tax number", max_length=40, blank=True,
        help_text="Your national tax number when it is not a VAT id (Germany: Steuernummer, §14 UStG): printed, and "
                  "the e-invoice's seller tax registration identifier (BT-32)")
    SUPPLY_KIND_CHOICES = [("services", "Services"), ("goods", "Goods"), ("mixed", "Goods and services")]
    supply_kind = models.CharField(
        "what you sell", max_length=10, choices=SUPPLY_KIND_CHOICES, default="services", blank=True,
        help_text="French sellers: the billing framework of your e-invoices (cadre de facturation, BT-23) starts "
                  "with B (goods), S (services, the default) or M (both)")
    iban = models.CharField("IBAN", max_length=34, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    bank_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    electronic_address_scheme = models.CharField(
        "electronic address scheme", max_length=4, blank=True, choices=EAS_CHOICES,
        help_text="Peppol Electronic Address Scheme (EAS) of your electronic address, e.g. 0002 SIREN, 0088 GLN")
    electronic_address = models.CharField(
        "electronic address", max_length=50, blank=True,
        help_text="Your Peppol participant identifier in that scheme (the e-invoice's seller EndpointID, BT-34)")
    logo = models.FileField(upload_to="logos/", blank=True)
    brand_color = models.CharField(max_length=7, default="#1F4E79", help_text="#RRGGBB")
    default_currency = models.CharField(**CURRENCY_FIELD, default="EUR")
    locale = models.CharField(max_length=10, default="en")
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def address_lines(self) -> list[str]:
        return [x for x in (self.address_line1, self.address_line2, f"{self.postcode} {self.city}".strip()) if x]

    @property
    def holiday_region(self) -> str:
        """Whose public holidays apply: the subdivision (``DE-BY``) when set, else the country."""
        return self.subdivision or self.country


class Membership(models.Model):
    """A back-office user working for an organization. Admin shows only that organization's rows."""

    ROLE_CHOICES = ROLE_CHOICES  # what each role may do: duly.customers.roles and docs/roles.md
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="bookkeeper")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class Customer(models.Model):
    STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_TERMINATED = "active", "suspended", "terminated"
    STATUS_CHOICES = [(STATUS_ACTIVE, "Active"), (STATUS_SUSPENDED, "Suspended"), (STATUS_TERMINATED, "Terminated")]
    PAYMENT_METHODS = [
        ("bank_transfer", "Bank transfer"),
        ("card", "Card"),
        ("sepa_debit", "SEPA direct debit"),
        ("ach_debit", "ACH debit"),
        ("paypal", "PayPal"),
        ("check", "Check"),
        ("cash", "Cash"),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers")
    code = models.CharField(max_length=40, help_text="Short customer code, unique in the organization")
    name = models.CharField("legal name", max_length=200)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    subdivision = models.CharField(
        max_length=10, blank=True, help_text="Optional ISO 3166-2 region, e.g. DE-BY, ES-CT or US-NY: its public "
                                             "holidays count for sending times and due dates under their calendar")
    tax_id = models.CharField("tax/VAT id", max_length=40, blank=True)
    locale = models.CharField(max_length=10, default="en", help_text="Preferred language/locale, e.g. fr_FR")
    timezone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(**CURRENCY_FIELD, default="EUR")
    segment = models.CharField("industry/segment", max_length=60, blank=True)
    preferred_payment_method = models.CharField(max_length=20, choices=PAYMENT_METHODS, default="bank_transfer")
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=STATUS_ACTIVE)
    credit_allowed = models.BooleanField(
        default=True, help_text="Overpayments become customer credit (otherwise they are refused)"
    )
    #: The credit limit staff accepted on the red-flag check (issue 17): issuing an invoice that takes the open
    #: balance in ``credit_limit_currency`` over it needs an owner's or admin's override. None: no limit.
    credit_limit_minor = models.BigIntegerField(null=True, blank=True, editable=False)
    credit_limit_currency = models.CharField(max_length=3, blank=True, editable=False)
    # Invoice fields this customer requires (codes from REQUIRED_FIELD_CHOICES) and custom ones.
    required_fields = models.JSONField(default=list, blank=True)
    custom_required_fields = models.JSONField(default=list, blank=True, help_text="Names of custom fields")
    # Default values copied onto new invoices.
    buyer_reference = models.CharField(max_length=100, blank=True)
    cost_centre = models.CharField(max_length=100, blank=True)
    ap_contact = models.CharField("AP contact", max_length=200, blank=True)
    invoice_address = models.TextField("specific billing address", blank=True)
    email = models.EmailField(blank=True)
    electronic_address_scheme = models.CharField(
        "electronic address scheme", max_length=4, blank=True, choices=EAS_CHOICES,
        help_text="Peppol Electronic Address Scheme (EAS), e.g. 0002 SIREN, 0009 SIRET, 0088 GLN, 0208, 9930")
    electronic_address = models.CharField(
        "electronic address", max_length=50, blank=True,
        help_text="The customer's Peppol participant identifier in that scheme (the buyer EndpointID, BT-49); "
                  "with it, every invoice must pass the Peppol BIS 3.0 rules to be issued")
    pay_link_version = models.PositiveIntegerField(
        "pay link key version", default=1, editable=False,
        help_text="Carried by every personal pay link; rotating it makes the customer's older links stop working",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_customer_code")]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def address_lines(self) -> list[str]:
        return [x for x in (self.address_line1, self.address_line2, f"{self.postcode} {self.city}".strip()) if x]

    @property
    def holiday_region(self) -> str:
        """Whose public holidays apply: the subdivision (``DE-BY``) when set, else the country."""
        return self.subdivision or self.country


REQUIRED_FIELD_CHOICES = [
    ("po_number", "PO number"),
    ("cost_centre", "Cost centre"),
    ("ap_contact", "AP contact"),
    ("billing_address", "Specific billing address"),
    ("buyer_reference", "Buyer reference"),
]

#: What each invoice field a customer may require is, and where it appears on the invoice (shown where it is set).
REQUIRED_FIELD_HELP = {
    "po_number": "The buyer's purchase order number. Printed as \"PO number\" on the invoice and sent in the "
                 "e-invoice as the purchase order reference (EN 16931 BT-13, UBL cac:OrderReference). Set on the "
                 "contract: every invoice under it carries it.",
    "cost_centre": "The buyer's cost centre or accounting reference for this spend. Printed as \"Cost centre\" and "
                   "sent as the buyer accounting reference (EN 16931 BT-19, UBL cbc:AccountingCost).",
    "ap_contact": "The person in the buyer's accounts payable team the invoice is for. Printed as \"Attention\" "
                  "under the buyer's address (the buyer contact point, EN 16931 BG-9).",
    "billing_address": "An address invoices must be sent to when it differs from the customer's address. Printed as "
                       "the invoice address instead of the customer's.",
    "buyer_reference": "The reference the buyer asks to be quoted (routing code, e.g. Leitweg-ID in Germany). "
                       "Printed as \"Your reference\" and sent as the buyer reference (EN 16931 BT-10, UBL "
                       "cbc:BuyerReference; Peppol requires it or a PO number).",
}


class Contact(models.Model):
    ROLE_CHOICES = [("billing", "Billing"), ("accounts_payable", "Accounts payable"), ("owner", "Owner"), ("other", "Other")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="billing")
    birthday = models.DateField(null=True, blank=True)
    locale = models.CharField(max_length=10, blank=True, help_text="Overrides the customer's language")
    opted_out = models.BooleanField(default=False, help_text="No relationship messages (greetings)")

    class Meta:
        ordering = ["customer", "name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


class Contract(models.Model):
    """The agreed terms with a customer: payment terms, late-payment policy, deposit, frequency."""

    TERMS_CHOICES = [
        ("net", "Net N days"),
        ("end_of_month", "End of month + N days"),
        ("day_of_next_month", "Fixed day of the next month"),
        ("on_receipt", "Due on receipt"),
    ]
    ADJUSTMENT_CHOICES = [
        ("", "No adjustment"),
        ("following", "Next business day"),
        ("preceding", "Previous business day"),
        ("modified_following", "Modified following"),
    ]
    LATE_FEE_CHOICES = [
        ("none", "No late fee"),
        ("fixed_fee", "Fixed fee"),
        ("interest_annual", "Simple interest per year"),
        ("interest_monthly", "Simple interest per month"),
        ("eu_statutory", "EU statutory (reference rate + 8 points, EUR 40 compensation)"),
        ("de_statutory_b2b", "Germany, §288 BGB between businesses (base rate + 9 points, EUR 40 Pauschale)"),
        ("de_statutory_b2c", "Germany, §288 BGB with a consumer (base rate + 5 points)"),
        ("fr_statutory", "France, L441-10 Code de commerce (ECB rate + 10 points, EUR 40 indemnity)"),
        ("uk_statutory", "UK, Late Payment of Commercial Debts Act (Bank of England base rate + 8 points, "
                         "GBP 40/70/100)"),
    ]
    DEPOSIT_CHOICES = [("none", "No deposit"), ("amount", "Fixed amount"), ("percent", "% of first invoice")]
    FREQUENCY_CHOICES = [
        ("one_off", "One-off"),
        ("weekly", "Weekly"),
        ("biweekly", "Every 2 weeks"),
        ("monthly", "Monthly"),
        ("quarterly", "Quarterly"),
        ("semiannual", "Semi-annual"),
        ("annual", "Annual"),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contracts")
    reference = models.CharField(max_length=60)
    currency = models.CharField(**CURRENCY_FIELD, default="EUR")
    require_autopay = models.BooleanField(
        default=False, help_text="The customer must pay by card autopay or direct debit (a red-flag check's "
                                 "recommendation): its pay page asks for a mandate first")
    terms_kind = models.CharField("payment terms", max_length=20, choices=TERMS_CHOICES, default="net")
    terms_days = models.PositiveIntegerField(default=30)
    terms_day_of_month = models.PositiveSmallIntegerField(null=True, blank=True)
    business_day_adjustment = models.CharField(max_length=20, choices=ADJUSTMENT_CHOICES, blank=True, default="")
    CALENDAR_CUSTOMER, CALENDAR_SELLER = "customer", "seller"
    CALENDAR_CHOICES = [
        (CALENDAR_CUSTOMER, "The customer's business days (their country and region)"),
        (CALENDAR_SELLER, "Our business days (the organization's country and region)"),
    ]
    business_day_calendar = models.CharField(
        "business days of", max_length=10, choices=CALENDAR_CHOICES, default=CALENDAR_CUSTOMER,
        help_text="Whose weekends and public holidays move a due date that falls on one (with a business-day "
                  "adjustment): the customer's, where the payment is made, or ours, where it is received.",
    )
    late_fee_kind = models.CharField(max_length=20, choices=LATE_FEE_CHOICES, default="none")
    late_fixed_fee_minor = models.BigIntegerField(default=0)
    late_rate_percent = models.DecimalField(max_digits=9, decimal_places=4, default=Decimal(0))
    reference_rate_percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True,
        help_text="Statutory interest only: an agreed fixed reference rate, overriding the recorded statutory "
                  "reference rates. Blank: each semester's rate of the law's series (Statutory reference rates).",
    )
    late_grace_days = models.PositiveIntegerField(default=0)
    late_cap_percent = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    late_cap_minor = models.BigIntegerField(null=True, blank=True)
    compensation_minor = models.BigIntegerField(null=True, blank=True, help_text="Fixed compensation (EU: 40 EUR)")
    deposit_kind = models.CharField(max_length=10, choices=DEPOSIT_CHOICES, default="none")
    deposit_amount_minor = models.BigIntegerField(default=0)
    deposit_percent = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    billing_frequency = models.CharField(max_length=12, choices=FREQUENCY_CHOICES, default="monthly")
    billing_anchor_day = models.CharField(
        "billing day", max_length=10, blank=True, validators=[validate_billing_day],
        help_text="The client's billing day, shared by their subscriptions under this contract: 1..31 or 'last' "
                  "(monthly and longer), a weekday name (weekly, every 2 weeks). Blank: the day their first "
                  "subscription starts.",
    )
    DEPOSIT_NEXT_INVOICES, DEPOSIT_FINAL_INVOICE = "next_invoices", "final_invoice"
    DEPOSIT_DEDUCTION_CHOICES = [
        (DEPOSIT_NEXT_INVOICES, "Deducted from the next invoices until used up"),
        (DEPOSIT_FINAL_INVOICE, "Held until the final invoice (any rest is owed back)"),
    ]
    deposit_deduction = models.CharField(max_length=16, choices=DEPOSIT_DEDUCTION_CHOICES,
                                         default=DEPOSIT_NEXT_INVOICES)
    po_number = models.CharField("PO number", max_length=100, blank=True)
    supply_kind = models.CharField(
        "what this contract sells", max_length=10, choices=Organization.SUPPLY_KIND_CHOICES, blank=True, default="",
        help_text="French sellers: the billing framework (BT-23) of this contract's invoices starts with B (goods), "
                  "S (services) or M (both). Blank: what your organization sells.")
    # How this contract's invoices get paid (issue 13): the method the contract prefers (blank: the customer's
    # preferred method), how many days before the due date autopay charges or debits, and the SEPA
    # pre-notification period (14 calendar days unless the contract agrees a shorter one).
    preferred_payment_method = models.CharField(
        max_length=20, choices=Customer.PAYMENT_METHODS, blank=True, default="",
        help_text="The method this contract's invoices are paid by. Blank: the customer's preferred method.")
    autopay_days_before_due = models.PositiveSmallIntegerField(
        "autopay days before due", default=0, validators=[MaxValueValidator(60)],
        help_text="Charge the default card or debit the mandate this many days before the due date (0: on it).")
    sepa_prenotification_days = models.PositiveSmallIntegerField(
        "SEPA pre-notification days", default=14, validators=[MinValueValidator(1), MaxValueValidator(14)],
        help_text="Calendar days between the pre-notification and a direct debit: 14 unless the contract agrees "
                  "a shorter period (EPC SDD rulebook).")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["customer", "-start_date"]
        constraints = [models.UniqueConstraint(fields=["organization", "reference"], name="uniq_contract_ref")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.customer})"

    def terms_key(self) -> tuple:
        """Every value :meth:`payment_terms` and :meth:`late_fee_policy` read: contracts with equal keys
        have equal terms (a billing run builds them once per key, not once per contract)."""
        return (self.terms_kind, self.terms_days, self.terms_day_of_month, self.business_day_adjustment,
                self._calendar_region() if self.business_day_adjustment else None, self.currency,
                self.late_fee_kind, self.late_fixed_fee_minor, self.late_rate_percent, self.reference_rate_percent,
                self.late_grace_days, self.late_cap_percent, self.late_cap_minor, self.compensation_minor)

    def _calendar_region(self) -> tuple[str, str]:
        """(country, ISO 3166-2 subdivision or "") of the calendar that moves due dates: see
        :attr:`business_day_calendar`."""
        whose = self.organization if self.business_day_calendar == self.CALENDAR_SELLER else self.customer
        return whose.country, whose.subdivision

    def payment_terms(self):
        from duly.domain.payment_terms import PaymentTerms

        country, subdivision = self._calendar_region() if self.business_day_adjustment else (None, "")
        return PaymentTerms(
            kind=self.terms_kind,
            days=self.terms_days or 0,
            day_of_month=self.terms_day_of_month,
            business_day_adjustment=self.business_day_adjustment or None,
            country=country,
            subdivision=subdivision or None,
        )

    @property
    def uses_reference_rates(self) -> bool:
        """Statutory interest without an agreed fixed reference rate: it follows the recorded
        :class:`StatutoryReferenceRate` of its series (:attr:`reference_series`) each semester."""
        from duly.domain.late_fees import REGIMES

        return self.late_fee_kind in REGIMES and self.reference_rate_percent is None

    @property
    def reference_series(self) -> str | None:
        """The series of reference rates the contract's statutory regime reads (``DE-BASIS``, ``GBP``, the
        contract currency for the EU rule); None without a statutory regime."""
        from duly.domain.late_fees import REGIMES

        regime = REGIMES.get(self.late_fee_kind)
        return regime.series_for(self.currency) if regime is not None else None

    def late_fee_policy(self, reference_rates: Mapping[str, tuple]):
        """The agreed late-payment policy (:class:`duly.domain.late_fees.LateFeePolicy`).

        ``reference_rates`` maps a series to its recorded ``(valid_from, rate_percent)`` pairs, as
        :func:`duly.customers.services.reference_rates_for` loads them (once per run, for every
        series involved); only a contract that :attr:`uses_reference_rates` reads it (the series of
        :attr:`reference_series`). A contract's own ``reference_rate_percent`` is an agreed fixed
        reference rate: it overrides the table.
        """
        from duly.domain.late_fees import LateFeePolicy

        cur = self.currency
        return LateFeePolicy(
            kind=self.late_fee_kind,
            fixed_fee=from_minor(self.late_fixed_fee_minor, cur),
            rate_percent=Decimal(self.late_rate_percent),
            reference_rate_percent=(
                Decimal(self.reference_rate_percent) if self.reference_rate_percent is not None else None
            ),
            grace_days=self.late_grace_days,
            cap_percent=Decimal(self.late_cap_percent) if self.late_cap_percent is not None else None,
            cap_amount=from_minor(self.late_cap_minor, cur) if self.late_cap_minor is not None else None,
            compensation_amount=(
                from_minor(self.compensation_minor, cur) if self.compensation_minor is not None else None
            ),
            reference_rates=(tuple(reference_rates.get(self.reference_series, ())) if self.uses_reference_rates
                             else None),
        )


class StatutoryReferenceRate(models.Model):
    """A reference rate statutory late-payment interest follows, in a named series.

    Public reference data shared by every organization (not tenant data). A series is the ISO code
    of a currency for its central bank's rate (``EUR``: the ECB's main refinancing operations rate,
    the EU rule's and France's; ``GBP``: the Bank of England base rate, the UK Act's; ``PLN``: the
    NBP's...) or a named series (``DE-BASIS``: the Bundesbank's base rate, §247 BGB). A rate applies
    from ``valid_from`` until the next one; each regime takes, for each half-year, the rate in force
    on its fixing day (see :mod:`duly.domain.late_fees`). Written only through
    :func:`duly.customers.services.record_reference_rate`.
    """

    series = models.CharField(max_length=16, help_text="EUR (ECB rate), GBP (Bank of England base rate), "
                                                       "DE-BASIS (German base rate) or another currency's code")
    valid_from = models.DateField("valid from", help_text="The day the rate took effect")
    rate_percent = models.DecimalField("rate (%)", max_digits=9, decimal_places=4,
                                       help_text="Percent per year, e.g. 2.15")
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["series", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["series", "valid_from"], name="uniq_reference_rate")]
        verbose_name = "statutory reference rate"

    def __str__(self) -> str:
        return f"{self.series} {self.rate_percent.normalize():f}% from {self.valid_from.isoformat()}"


class RiskAssessment(models.Model):
    """A new customer's red-flag check (:func:`duly.domain.risk.assess`): score, level, flags with their words and
    evidence, and the recommended deposit, terms, autopay and credit limit. Made when the customer is created
    or a contract is made (``duly.insights`` gathers the facts); kept as made: a later check is a new row.

    Staff accept the recommendation or override it with a note; each decision is a :class:`RiskDecision` row
    (who, when, why, what), and ``decision`` is the latest."""

    PENDING, ACCEPTED, OVERRIDDEN = "pending", "accepted", "overridden"
    DECISIONS = [(PENDING, "Pending"), (ACCEPTED, "Accepted"), (OVERRIDDEN, "Overridden")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="risk_assessments")
    contract = models.ForeignKey(Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    score = models.PositiveSmallIntegerField()
    level = models.CharField(max_length=10)
    flags = models.JSONField(default=list)
    recommendation = models.JSONField(default=dict)
    #: What the external checks answered (VIES), when they are turned on.
    external = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=40)
    assessed_on = models.DateField()
    #: sha256 of the assessment's content: the same check on the same facts is stored once.
    fingerprint = models.CharField(max_length=64)
    decision = models.CharField(max_length=12, choices=DECISIONS, default=PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "fingerprint"], name="uniq_risk_assessment")]

    def __str__(self) -> str:
        return f"{self.customer}: {self.level} ({self.score})"


class RiskDecision(models.Model):
    """Staff accepted or overrode a :class:`RiskAssessment`'s recommendation: the audit trail (append-only)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(max_length=12, choices=RiskAssessment.DECISIONS[1:])
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    note = models.TextField(blank=True)
    #: The terms set: deposit_percent, terms_days, require_autopay, credit_limit (strings and numbers).
    terms = models.JSONField(default=dict)

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.decided_by} on {self.decided_at:%Y-%m-%d}"


class RiskCheckRefusal(models.Model):
    """A red-flag check that could not be made (e.g. ``risk_no_identifiers``: no VAT number, company identifier or
    e-mail), remembered per set of facts (``facts``: sha256 of what the check reads) so that the scheduler does not
    retry and refuse it again on every pass: it retries only once those facts change."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="risk_refusals")
    contract = models.ForeignKey(Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    facts = models.CharField(max_length=64)
    code = models.CharField(max_length=40)
    message = models.TextField()
    refused_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "facts"], name="uniq_risk_refusal")]

    def __str__(self) -> str:
        return f"{self.customer}: {self.code}"
