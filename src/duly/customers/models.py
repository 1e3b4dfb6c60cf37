"""Sellers (organizations), their customers, contacts and contracts (the agreed terms)."""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

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

    name = models.CharField(_("legal name"), max_length=200)
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    trading_name = models.CharField(max_length=200, blank=True, verbose_name=_("trading name"))
    address_line1 = models.CharField(max_length=200, verbose_name=_("address line1"))
    address_line2 = models.CharField(max_length=200, blank=True, verbose_name=_("address line2"))
    postcode = models.CharField(max_length=20, verbose_name=_("postcode"))
    city = models.CharField(max_length=100, verbose_name=_("city"))
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2"), verbose_name=_("country"))
    subdivision = models.CharField(
        max_length=10, blank=True, help_text=_("Optional ISO 3166-2 region, e.g. DE-BY, ES-CT or US-NY: its public "
                                             "holidays count too (query deadlines, due dates under your calendar)"),
        verbose_name=_("subdivision"))
    vat_id = models.CharField(_("tax/VAT id"), max_length=40, blank=True)
    registration_id = models.CharField(_("company registration id"), max_length=60, blank=True)
    # Mentions some countries require on invoices (France: forme juridique, capital social, ville du RCS).
    legal_form = models.CharField(max_length=60, blank=True, help_text=_("SAS, SARL, GmbH, Ltd…"),
                                  verbose_name=_("legal form"))
    share_capital_minor = models.BigIntegerField(null=True, blank=True,
                                                 help_text=_("in minor units of the default currency"),
                                                 verbose_name=_("share capital minor"))
    registry_city = models.CharField(_("trade registry city"), max_length=100, blank=True,
                                     help_text=_("city of the RCS (France) or Registergericht"))
    tax_number = models.CharField(
        _("tax number"), max_length=40, blank=True,
        help_text=_("Your national tax number when it is not a VAT id (Germany: Steuernummer, §14 UStG): printed, and "
                  "the e-invoice's seller tax registration identifier (BT-32)"))
    SUPPLY_KIND_CHOICES = [("services", _("Services")), ("goods", _("Goods")), ("mixed", _("Goods and services"))]
    supply_kind = models.CharField(
        _("what you sell"), max_length=10, choices=SUPPLY_KIND_CHOICES, default="services", blank=True,
        help_text=_("French sellers: the billing framework of your e-invoices (cadre de facturation, BT-23) starts "
                  "with B (goods), S (services, the default) or M (both)"))
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    bank_name = models.CharField(max_length=100, blank=True, verbose_name=_("bank name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=40, blank=True, verbose_name=_("phone"))
    website = models.URLField(blank=True, verbose_name=_("website"))
    electronic_address_scheme = models.CharField(
        _("electronic address scheme"), max_length=4, blank=True, choices=EAS_CHOICES,
        help_text=_("Peppol Electronic Address Scheme (EAS) of your electronic address, e.g. 0002 SIREN, 0088 GLN"))
    electronic_address = models.CharField(
        _("electronic address"), max_length=50, blank=True,
        help_text=_("Your Peppol participant identifier in that scheme (the e-invoice's seller EndpointID, BT-34)"))
    logo = models.FileField(upload_to="logos/", blank=True, verbose_name=_("logo"))
    brand_color = models.CharField(max_length=7, default="#1F4E79", help_text=_("#RRGGBB"),
                                   verbose_name=_("brand color"))
    default_currency = models.CharField(**CURRENCY_FIELD, default="EUR", verbose_name=_("default currency"))
    locale = models.CharField(max_length=10, default="en", verbose_name=_("locale"))
    timezone = models.CharField(max_length=64, default="UTC", verbose_name=_("timezone"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
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
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships",
                             verbose_name=_("user"))
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships",
                                     verbose_name=_("organization"))
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="bookkeeper", verbose_name=_("role"))
    # The back office's language for this user (duly.backoffice.middleware); blank: their browser's.
    language = models.CharField(_("language"), max_length=8, blank=True, default="", choices=settings.LANGUAGES,
                                help_text=_("The back office's language for this user; blank: their browser's"))

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class Customer(models.Model):
    STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_TERMINATED = "active", "suspended", "terminated"
    STATUS_CHOICES = [(STATUS_ACTIVE, _("Active")), (STATUS_SUSPENDED, _("Suspended")), (STATUS_TERMINATED, _("Terminated"))]
    PAYMENT_METHODS = [
        ("bank_transfer", "Bank transfer"),
        ("card", "Card"),
        ("sepa_debit", "SEPA direct debit"),
        ("ach_debit", "ACH debit"),
        ("paypal", "PayPal"),
        ("check", "Check"),
        ("cash", "Cash"),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers",
                                     verbose_name=_("organization"))
    code = models.CharField(max_length=40, help_text=_("Short customer code, unique in the organization"),
                            verbose_name=_("code"))
    name = models.CharField(_("legal name"), max_length=200)
    address_line1 = models.CharField(max_length=200, verbose_name=_("address line1"))
    address_line2 = models.CharField(max_length=200, blank=True, verbose_name=_("address line2"))
    postcode = models.CharField(max_length=20, blank=True, verbose_name=_("postcode"))
    city = models.CharField(max_length=100, verbose_name=_("city"))
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2"), verbose_name=_("country"))
    subdivision = models.CharField(
        max_length=10, blank=True, help_text=_("Optional ISO 3166-2 region, e.g. DE-BY, ES-CT or US-NY: its public "
                                             "holidays count for sending times and due dates under their calendar"),
        verbose_name=_("subdivision"))
    tax_id = models.CharField(_("tax/VAT id"), max_length=40, blank=True)
    locale = models.CharField(max_length=10, default="en", help_text=_("Preferred language/locale, e.g. fr_FR"),
                              verbose_name=_("locale"))
    timezone = models.CharField(max_length=64, default="UTC", verbose_name=_("timezone"))
    currency = models.CharField(**CURRENCY_FIELD, default="EUR", verbose_name=_("currency"))
    segment = models.CharField(_("industry/segment"), max_length=60, blank=True)
    preferred_payment_method = models.CharField(max_length=20, choices=PAYMENT_METHODS, default="bank_transfer",
                                                verbose_name=_("preferred payment method"))
    tags = models.JSONField(default=list, blank=True, verbose_name=_("tags"))
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=STATUS_ACTIVE,
                              verbose_name=_("status"))
    credit_allowed = models.BooleanField(
        default=True, help_text=_("Overpayments become customer credit (otherwise they are refused)"),
        verbose_name=_("credit allowed")
    )
    #: The credit limit staff accepted on the red-flag check (issue 17): issuing an invoice that takes the open
    #: balance in ``credit_limit_currency`` over it needs an owner's or admin's override. None: no limit.
    credit_limit_minor = models.BigIntegerField(null=True, blank=True, editable=False,
                                                verbose_name=_("credit limit minor"))
    credit_limit_currency = models.CharField(max_length=3, blank=True, editable=False,
                                             verbose_name=_("credit limit currency"))
    # Invoice fields this customer requires (codes from REQUIRED_FIELD_CHOICES) and custom ones.
    required_fields = models.JSONField(default=list, blank=True, verbose_name=_("required fields"))
    custom_required_fields = models.JSONField(default=list, blank=True, help_text=_("Names of custom fields"),
                                              verbose_name=_("custom required fields"))
    # Default values copied onto new invoices.
    buyer_reference = models.CharField(max_length=100, blank=True, verbose_name=_("buyer reference"))
    cost_centre = models.CharField(max_length=100, blank=True, verbose_name=_("cost centre"))
    ap_contact = models.CharField(_("AP contact"), max_length=200, blank=True)
    invoice_address = models.TextField(_("specific billing address"), blank=True)
    email = models.EmailField(blank=True, verbose_name=_("email"))
    electronic_address_scheme = models.CharField(
        _("electronic address scheme"), max_length=4, blank=True, choices=EAS_CHOICES,
        help_text=_("Peppol Electronic Address Scheme (EAS), e.g. 0002 SIREN, 0009 SIRET, 0088 GLN, 0208, 9930"))
    electronic_address = models.CharField(
        _("electronic address"), max_length=50, blank=True,
        help_text=_("The customer's Peppol participant identifier in that scheme (the buyer EndpointID, BT-49); "
                  "with it, every invoice must pass the Peppol BIS 3.0 rules to be issued"))
    pay_link_version = models.PositiveIntegerField(
        _("pay link key version"), default=1, editable=False,
        help_text=_("Carried by every personal pay link; rotating it makes the customer's older links stop working"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
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
    ("po_number", _("PO number")),
    ("cost_centre", _("Cost centre")),
    ("ap_contact", _("AP contact")),
    ("billing_address", _("Specific billing address")),
    ("buyer_reference", _("Buyer reference")),
]

#: What each invoice field a customer may require is, and where it appears on the invoice (shown where it is set).
REQUIRED_FIELD_HELP = {
    "po_number": _("The buyer's purchase order number. Printed as \"PO number\" on the invoice and sent in the "
                 "e-invoice as the purchase order reference (EN 16931 BT-13, UBL cac:OrderReference). Set on the "
                 "contract: every invoice under it carries it."),
    "cost_centre": _("The buyer's cost centre or accounting reference for this spend. Printed as \"Cost centre\" and "
                   "sent as the buyer accounting reference (EN 16931 BT-19, UBL cbc:AccountingCost)."),
    "ap_contact": _("The person in the buyer's accounts payable team the invoice is for. Printed as \"Attention\" "
                  "under the buyer's address (the buyer contact point, EN 16931 BG-9)."),
    "billing_address": _("An address invoices must be sent to when it differs from the customer's address. Printed as "
                       "the invoice address instead of the customer's."),
    "buyer_reference": _("The reference the buyer asks to be quoted (routing code, e.g. Leitweg-ID in Germany). "
                       "Printed as \"Your reference\" and sent as the buyer reference (EN 16931 BT-10, UBL "
                       "cbc:BuyerReference; Peppol requires it or a PO number)."),
}


class Contact(models.Model):
    ROLE_CHOICES = [("billing", _("Billing")), ("accounts_payable", _("Accounts payable")), ("owner", _("Owner")), ("other", _("Other"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts",
                                 verbose_name=_("customer"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=40, blank=True, verbose_name=_("phone"))
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default="billing", verbose_name=_("role"))
    birthday = models.DateField(null=True, blank=True, verbose_name=_("birthday"))
    locale = models.CharField(max_length=10, blank=True, help_text=_("Overrides the customer's language"),
                              verbose_name=_("locale"))
    opted_out = models.BooleanField(default=False, help_text=_("No relationship messages (greetings)"),
                                    verbose_name=_("opted out"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["customer", "name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


class Contract(models.Model):
    """The agreed terms with a customer: payment terms, late-payment policy, deposit, frequency."""

    TERMS_CHOICES = [
        ("net", _("Net N days")),
        ("end_of_month", _("End of month + N days")),
        ("day_of_next_month", _("Fixed day of the next month")),
        ("on_receipt", _("Due on receipt")),
    ]
    ADJUSTMENT_CHOICES = [
        ("", _("No adjustment")),
        ("following", _("Next business day")),
        ("preceding", _("Previous business day")),
        ("modified_following", _("Modified following")),
    ]
    LATE_FEE_CHOICES = [
        ("none", _("No late fee")),
        ("fixed_fee", _("Fixed fee")),
        ("interest_annual", _("Simple interest per year")),
        ("interest_monthly", _("Simple interest per month")),
        ("eu_statutory", _("EU statutory (reference rate + 8 points, EUR 40 compensation)")),
        ("de_statutory_b2b", _("Germany, §288 BGB between businesses (base rate + 9 points, EUR 40 Pauschale)")),
        ("de_statutory_b2c", _("Germany, §288 BGB with a consumer (base rate + 5 points)")),
        ("fr_statutory", _("France, L441-10 Code de commerce (ECB rate + 10 points, EUR 40 indemnity)")),
        ("uk_statutory", _("UK, Late Payment of Commercial Debts Act (Bank of England base rate + 8 points, "
                         "GBP 40/70/100)")),
    ]
    DEPOSIT_CHOICES = [("none", _("No deposit")), ("amount", _("Fixed amount")), ("percent", _("Percent of first invoice"))]
    FREQUENCY_CHOICES = [
        ("one_off", _("One-off")),
        ("weekly", _("Weekly")),
        ("biweekly", _("Every 2 weeks")),
        ("monthly", _("Monthly")),
        ("quarterly", _("Quarterly")),
        ("semiannual", _("Semi-annual")),
        ("annual", _("Annual")),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contracts",
                                 verbose_name=_("customer"))
    reference = models.CharField(max_length=60, verbose_name=_("reference"))
    currency = models.CharField(**CURRENCY_FIELD, default="EUR", verbose_name=_("currency"))
    require_autopay = models.BooleanField(
        default=False, help_text=_("The customer must pay by card autopay or direct debit (a red-flag check's "
                                 "recommendation): its pay page asks for a mandate first"),
        verbose_name=_("require autopay"))
    terms_kind = models.CharField(_("payment terms"), max_length=20, choices=TERMS_CHOICES, default="net")
    terms_days = models.PositiveIntegerField(default=30, verbose_name=_("terms days"))
    terms_day_of_month = models.PositiveSmallIntegerField(null=True, blank=True,
                                                          verbose_name=_("terms day of month"))
    business_day_adjustment = models.CharField(max_length=20, choices=ADJUSTMENT_CHOICES, blank=True, default="",
                                               verbose_name=_("business day adjustment"))
    CALENDAR_CUSTOMER, CALENDAR_SELLER = "customer", "seller"
    CALENDAR_CHOICES = [
        (CALENDAR_CUSTOMER, _("The customer's business days (their country and region)")),
        (CALENDAR_SELLER, _("Our business days (the organization's country and region)")),
    ]
    business_day_calendar = models.CharField(
        _("business days of"), max_length=10, choices=CALENDAR_CHOICES, default=CALENDAR_CUSTOMER,
        help_text=_("Whose weekends and public holidays move a due date that falls on one (with a business-day "
                  "adjustment): the customer's, where the payment is made, or ours, where it is received."),
    )
    late_fee_kind = models.CharField(max_length=20, choices=LATE_FEE_CHOICES, default="none",
                                     verbose_name=_("late fee kind"))
    late_fixed_fee_minor = models.BigIntegerField(default=0, verbose_name=_("late fixed fee minor"))
    late_rate_percent = models.DecimalField(max_digits=9, decimal_places=4, default=Decimal(0),
                                            verbose_name=_("late rate percent"))
    reference_rate_percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True,
        help_text=_("Statutory interest only: an agreed fixed reference rate, overriding the recorded statutory "
                  "reference rates. Blank: each semester's rate of the law's series (Statutory reference rates)."),
        verbose_name=_("reference rate percent"),
    )
    late_grace_days = models.PositiveIntegerField(default=0, verbose_name=_("late grace days"))
    late_cap_percent = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True,
                                           verbose_name=_("late cap percent"))
    late_cap_minor = models.BigIntegerField(null=True, blank=True, verbose_name=_("late cap minor"))
    compensation_minor = models.BigIntegerField(null=True, blank=True, help_text=_("Fixed compensation (EU: 40 EUR)"),
                                                verbose_name=_("compensation minor"))
    deposit_kind = models.CharField(max_length=10, choices=DEPOSIT_CHOICES, default="none",
                                    verbose_name=_("deposit kind"))
    deposit_amount_minor = models.BigIntegerField(default=0, verbose_name=_("deposit amount minor"))
    deposit_percent = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0),
                                          verbose_name=_("deposit percent"))
    billing_frequency = models.CharField(max_length=12, choices=FREQUENCY_CHOICES, default="monthly",
                                         verbose_name=_("billing frequency"))
    billing_anchor_day = models.CharField(
        _("billing day"), max_length=10, blank=True, validators=[validate_billing_day],
        help_text=_("The client's billing day, shared by their subscriptions under this contract: 1..31 or 'last' "
                  "(monthly and longer), a weekday name (weekly, every 2 weeks). Blank: the day their first "
                  "subscription starts."),
    )
    DEPOSIT_NEXT_INVOICES, DEPOSIT_FINAL_INVOICE = "next_invoices", "final_invoice"
    DEPOSIT_DEDUCTION_CHOICES = [
        (DEPOSIT_NEXT_INVOICES, _("Deducted from the next invoices until used up")),
        (DEPOSIT_FINAL_INVOICE, _("Held until the final invoice (any rest is owed back)")),
    ]
    deposit_deduction = models.CharField(max_length=16, choices=DEPOSIT_DEDUCTION_CHOICES,
                                         default=DEPOSIT_NEXT_INVOICES, verbose_name=_("deposit deduction"))
    po_number = models.CharField(_("PO number"), max_length=100, blank=True)
    supply_kind = models.CharField(
        _("what this contract sells"), max_length=10, choices=Organization.SUPPLY_KIND_CHOICES, blank=True,
        default="",
        help_text=_("French sellers: the billing framework (BT-23) of this contract's invoices starts with B (goods), "
                    "S (services) or M (both). Blank: what your organization sells."))
    # How this contract's invoices get paid (issue 13): the method the contract prefers (blank: the customer's
    # preferred method), how many days before the due date autopay charges or debits, and the SEPA
    # pre-notification period (14 calendar days unless the contract agrees a shorter one).
    preferred_payment_method = models.CharField(
        max_length=20, choices=Customer.PAYMENT_METHODS, blank=True, default="",
        help_text=_("The method this contract's invoices are paid by. Blank: the customer's preferred method."),
        verbose_name=_("preferred payment method"))
    autopay_days_before_due = models.PositiveSmallIntegerField(
        _("autopay days before due"), default=0, validators=[MaxValueValidator(60)],
        help_text=_("Charge the default card or debit the mandate this many days before the due date (0: on it)."))
    sepa_prenotification_days = models.PositiveSmallIntegerField(
        _("SEPA pre-notification days"), default=14, validators=[MinValueValidator(1), MaxValueValidator(14)],
        help_text=_("Calendar days between the pre-notification and a direct debit: 14 unless the contract agrees "
                  "a shorter period (EPC SDD rulebook)."))
    start_date = models.DateField(verbose_name=_("start date"))
    end_date = models.DateField(null=True, blank=True, verbose_name=_("end date"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
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

    series = models.CharField(max_length=16, help_text=_("EUR (ECB rate), GBP (Bank of England base rate), "
                                                       "DE-BASIS (German base rate) or another currency's code"),
                              verbose_name=_("series"))
    valid_from = models.DateField(_("valid from"), help_text=_("The day the rate took effect"))
    rate_percent = models.DecimalField(_("rate (%)"), max_digits=9, decimal_places=4,
                                       help_text=_("Percent per year, e.g. 2.15"))
    recorded_at = models.DateTimeField(auto_now=True, verbose_name=_("recorded at"))

    class Meta:
        verbose_name_plural = _("statutory reference rates")
        ordering = ["series", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["series", "valid_from"], name="uniq_reference_rate")]
        verbose_name = _("statutory reference rate")

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
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="risk_assessments",
                                 verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                 verbose_name=_("contract"))
    score = models.PositiveSmallIntegerField(verbose_name=_("score"))
    level = models.CharField(max_length=10, verbose_name=_("level"))
    flags = models.JSONField(default=list, verbose_name=_("flags"))
    recommendation = models.JSONField(default=dict, verbose_name=_("recommendation"))
    #: What the external checks answered (VIES), when they are turned on.
    external = models.JSONField(default=dict, blank=True, verbose_name=_("external"))
    version = models.CharField(max_length=40, verbose_name=_("version"))
    assessed_on = models.DateField(verbose_name=_("assessed on"))
    #: sha256 of the assessment's content: the same check on the same facts is stored once.
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    decision = models.CharField(max_length=12, choices=DECISIONS, default=PENDING, verbose_name=_("decision"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("risk assessment")
        verbose_name_plural = _("risk assessments")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "fingerprint"], name="uniq_risk_assessment")]

    def __str__(self) -> str:
        return f"{self.customer}: {self.level} ({self.score})"


class RiskDecision(models.Model):
    """Staff accepted or overrode a :class:`RiskAssessment`'s recommendation: the audit trail (append-only)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="decisions",
                                   verbose_name=_("assessment"))
    action = models.CharField(max_length=12, choices=RiskAssessment.DECISIONS[1:], verbose_name=_("action"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(verbose_name=_("decided at"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    #: The terms set: deposit_percent, terms_days, require_autopay, credit_limit (strings and numbers).
    terms = models.JSONField(default=dict, verbose_name=_("terms"))

    class Meta:
        verbose_name = _("risk decision")
        verbose_name_plural = _("risk decisions")
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.decided_by} on {self.decided_at:%Y-%m-%d}"


class RiskCheckRefusal(models.Model):
    """A red-flag check that could not be made (e.g. ``risk_no_identifiers``: no VAT number, company identifier or
    e-mail), remembered per set of facts (``facts``: sha256 of what the check reads) so that the scheduler does not
    retry and refuse it again on every pass: it retries only once those facts change."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="risk_refusals",
                                 verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                 verbose_name=_("contract"))
    facts = models.CharField(max_length=64, verbose_name=_("facts"))
    code = models.CharField(max_length=40, verbose_name=_("code"))
    message = models.TextField(verbose_name=_("message"))
    refused_on = models.DateField(verbose_name=_("refused on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("risk check refusal")
        verbose_name_plural = _("risk check refusals")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["customer", "facts"], name="uniq_risk_refusal")]

    def __str__(self) -> str:
        return f"{self.customer}: {self.code}"
