"""Invoices, their lines and attachments, and gapless number series."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F

from duly.customers.models import CURRENCY_FIELD, Contract, Customer, Organization
from duly.domain.money import from_minor


class NumberSeries(models.Model):
    """A numbering pattern per organization and document kind, e.g. ``INV-{year}-{seq:05}``."""

    KIND_CHOICES = [("invoice", "Invoices"), ("credit_note", "Credit notes")]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="number_series")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    pattern = models.CharField(max_length=60, help_text="Placeholders: {year} and {seq} (e.g. {seq:05})")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="uniq_series_kind")]

    def __str__(self) -> str:
        return f"{self.organization}: {self.kind} {self.pattern}"


class SeriesCounter(models.Model):
    """Last number used per series and year, and the issue date it carries. Locked while issuing: gapless
    and chronological (a number is never taken for an issue date before ``last_issue_date``)."""

    series = models.ForeignKey(NumberSeries, on_delete=models.CASCADE, related_name="counters")
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)
    last_issue_date = models.DateField(
        null=True, blank=True, help_text="Issue date of the last number taken: later numbers never carry an earlier one")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="uniq_counter_year")]


#: What is due on an invoice (EN 16931 BT-115) as a database expression, as :attr:`Invoice.payable_minor`:
#: total − prepaid amount (BT-113) + rounding amount (BT-114). Every query that computes an open amount uses it.
PAYABLE_MINOR = F("total_minor") - F("prepaid_minor") + F("rounding_minor")


class Invoice(models.Model):
    KIND_STANDARD, KIND_DEPOSIT, KIND_CREDIT_NOTE, KIND_LATE_FEE = "standard", "deposit", "credit_note", "late_fee"
    KIND_CHOICES = [
        (KIND_STANDARD, "Invoice"),
        (KIND_DEPOSIT, "Deposit invoice"),
        (KIND_CREDIT_NOTE, "Credit note"),
        (KIND_LATE_FEE, "Late-fee/interest invoice"),
    ]
    DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID, UNCOLLECTIBLE = (
        "draft", "issued", "partially_paid", "paid", "void", "uncollectible",
    )
    STATUS_CHOICES = [
        (DRAFT, "Draft"),
        (ISSUED, "Issued"),
        (PARTIALLY_PAID, "Partially paid"),
        (PAID, "Paid"),
        (VOID, "Void"),
        (UNCOLLECTIBLE, "Uncollectible"),
    ]
    OPEN_STATUSES = (ISSUED, PARTIALLY_PAID)
    #: Where the number comes from: Duly's own series, or the system a migrated receivable came from.
    ORIGIN_DULY, ORIGIN_MIGRATED = "duly", "migrated"
    ORIGIN_CHOICES = [(ORIGIN_DULY, "Duly's number series"), (ORIGIN_MIGRATED, "Migrated (the source's number)")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices")
    kind = models.CharField(max_length=12, choices=KIND_CHOICES, default=KIND_STANDARD)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=DRAFT)
    number = models.CharField(max_length=40, null=True, blank=True)
    origin = models.CharField(
        max_length=10, choices=ORIGIN_CHOICES, default=ORIGIN_DULY, editable=False,
        help_text="Migrated: issued in another system, imported as issued with its own number, dates and terms")
    source_sha256 = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="Migrated from an e-invoice: the SHA-256 of the file (the same file is never imported twice)")
    currency = models.CharField(**CURRENCY_FIELD)
    locale = models.CharField(max_length=10, default="en")
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    service_period_start = models.DateField(null=True, blank=True)
    service_period_end = models.DateField(null=True, blank=True)
    # Fields customers may require.
    po_number = models.CharField("PO number", max_length=100, blank=True)
    buyer_reference = models.CharField(max_length=100, blank=True)
    cost_centre = models.CharField(max_length=100, blank=True)
    ap_contact = models.CharField("AP contact", max_length=200, blank=True)
    billing_address = models.TextField(blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    # Set when issued, then frozen.
    payment_terms_text = models.TextField(blank=True)
    late_terms_text = models.TextField(blank=True)
    rf_reference = models.CharField("RF creditor reference", max_length=25, blank=True)
    document_snapshot = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="What the documents show of seller and buyer (parties, address, bank account), frozen at issue "
                  "(duly.invoicing.documents.snapshot)",
    )
    additional_parties = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="Payee (BG-10) and seller's tax representative (BG-11) of an imported invoice",
    )
    related_invoice = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="related_documents",
        help_text="Credit note: the corrected invoice. Late-fee invoice: the overdue invoice.",
    )
    # Amounts in minor units (frozen at issue).
    line_total_minor = models.BigIntegerField(default=0)
    allowance_total_minor = models.BigIntegerField(default=0)
    charge_total_minor = models.BigIntegerField(default=0)
    tax_exclusive_minor = models.BigIntegerField(default=0)
    tax_total_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0, help_text="Tax inclusive total")
    prepaid_minor = models.BigIntegerField(default=0, help_text="Deposit or credit deducted on the invoice")
    rounding_minor = models.BigIntegerField(
        default=0, help_text="Rounding added to the amount due (EN 16931 BT-114; imported invoices only)")
    tax_breakdown = models.JSONField(default=list, blank=True)
    # Running amount settled by payments, customer credit and credit notes.
    paid_minor = models.BigIntegerField(default=0)
    void_reason = models.TextField(blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_on = models.DateField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], condition=models.Q(number__isnull=False), name="uniq_invoice_number"
            ),
            models.UniqueConstraint(
                fields=["organization", "source_sha256"], condition=~models.Q(source_sha256=""),
                name="uniq_migrated_source",
            ),
            models.CheckConstraint(condition=models.Q(paid_minor__gte=0), name="invoice_paid_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "due_date"]),
            models.Index(fields=["customer", "status"]),
            # Lists paged by id (the API's cursor pages): one status, or one customer, in id order.
            models.Index(fields=["organization", "status", "id"], name="invoice_org_status_id"),
            models.Index(fields=["customer", "id"], name="invoice_customer_id"),
            # The portal's history: one customer's invoices newest first, paged by keyset (issue date, id).
            models.Index(fields=["customer", "-issue_date", "-id"], name="invoice_customer_issued"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    # Amount helpers (Decimal in major units) -------------------------------------------------
    @property
    def payable_minor(self) -> int:
        """The amount due (EN 16931 BT-115): total − prepaid amount + rounding amount."""
        return self.total_minor - self.prepaid_minor + self.rounding_minor

    @property
    def balance_minor(self) -> int:
        return self.payable_minor - self.paid_minor

    def amount(self, field: str) -> Decimal:
        return from_minor(getattr(self, field), self.currency)

    @property
    def total(self) -> Decimal:
        return self.amount("total_minor")

    @property
    def balance(self) -> Decimal:
        return from_minor(self.balance_minor, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_credit_note(self) -> bool:
        return self.kind == self.KIND_CREDIT_NOTE


class InvoiceLine(models.Model):
    TAX_CATEGORY_CHOICES = [
        ("S", "Standard rate"),
        ("Z", "Zero rated"),
        ("E", "Exempt"),
        ("AE", "Reverse charge"),
        ("K", "Intra-community supply"),
        ("G", "Export outside the EU"),
        ("O", "Not subject to VAT"),
    ]
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=10, default="C62", help_text="UN/ECE rec. 20 unit code (C62 = one, HUR = hour)")
    unit_price = models.DecimalField(max_digits=20, decimal_places=6, help_text="Net unit price")
    discount_percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    tax_category = models.CharField(max_length=2, choices=TAX_CATEGORY_CHOICES, default="S")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    tax_exemption_reason = models.CharField(max_length=200, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    explanation = models.TextField(blank=True, help_text="How the amount was computed (tiers, usage, proration)")
    net_minor = models.BigIntegerField(default=0)
    discount_minor = models.BigIntegerField(default=0)
    # What received e-invoices state beyond Duly's own lines (duly invoices import-ubl); see line_input().
    base_quantity = models.DecimalField(max_digits=30, decimal_places=10, default=Decimal(1),
                                        help_text="Price base quantity (BT-149): the unit price is per this many units")
    discount_amount = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True,
                                          help_text="Line discount as an amount (BT-136), instead of a percentage")
    allowances_charges = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="Line allowances and charges (BG-27/BG-28) of an imported line that has more than one discount: "
                  '[{"charge": bool, "amount": "12.00", "percent": str|null, "base": str|null, "reason", '
                  '"reason_code"}]',
    )
    details = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="E-invoice details of an imported line: line_id, item ids (seller_item_id, buyer_item_id, "
                  "standard_item_id, standard_item_scheme), base_quantity_unit, gross_price, price_discount, "
                  "order_line_ref, accounting_ref, item description, discount_reason(_code)",
    )

    class Meta:
        ordering = ["invoice", "position", "id"]

    def __str__(self) -> str:
        return self.description

    def line_input(self):
        """The line as :func:`duly.domain.invoice_math.compute_totals` reads it."""
        from duly.domain.invoice_math import LineInput
        from duly.domain.money import to_decimal

        discount = to_decimal(self.discount_amount) if self.discount_amount is not None else None
        charges = None
        if self.allowances_charges:
            discount = sum((to_decimal(a["amount"]) for a in self.allowances_charges if not a.get("charge")),
                           discount or Decimal(0))
            charges = sum((to_decimal(a["amount"]) for a in self.allowances_charges if a.get("charge")), Decimal(0))
        return LineInput(
            quantity=to_decimal(self.quantity),
            unit_price=to_decimal(self.unit_price),
            tax_category=self.tax_category,
            tax_rate=to_decimal(self.tax_rate),
            discount_percent=to_decimal(self.discount_percent) if self.discount_percent is not None else None,
            discount_amount=discount,
            base_quantity=to_decimal(self.base_quantity),
            charge_amount=charges,
        )


class WriteOffReversal(models.Model):
    """The audit of a write-off taken back (:func:`duly.invoicing.lifecycle.reverse_write_off`): when and why the
    invoice had been written off (its ``voided_at`` and ``void_reason`` are cleared when it reopens), when and why
    it was reopened, and the state it reopened in. Never a side effect: staff undoing the bank match that wrote a
    short payment's rest off."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="write_off_reversals")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_off_reversals")
    written_off_at = models.DateTimeField(null=True, blank=True)
    write_off_reason = models.TextField(blank=True)
    reason = models.CharField(max_length=300)
    status_after = models.CharField(max_length=20)
    paid_minor = models.BigIntegerField(help_text="What the invoice had received when it reopened")
    reversed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reversed_at", "-id"]

    def __str__(self) -> str:
        return f"write-off of invoice {self.invoice_id} reversed"


def attachment_path(instance: "Attachment", filename: str) -> str:
    return f"attachments/{instance.invoice.organization_id}/{instance.invoice_id}/{filename}"


class Attachment(models.Model):
    """A supporting document stored with an invoice (service report, timesheet)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=200)
    description = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, default="application/pdf")
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["invoice", "filename"]

    def __str__(self) -> str:
        return self.filename


class InvoiceAllowanceCharge(models.Model):
    """A document-level allowance (EN 16931 BG-20) or charge (BG-21) of an invoice.

    Duly's own invoices rarely need them; imported invoices (``duly invoices import-ubl``) keep
    them here so their totals come back identical. Amounts are absolute (minor units).
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="allowances_charges")
    position = models.PositiveIntegerField(default=1)
    is_charge = models.BooleanField(default=False)
    amount_minor = models.BigIntegerField()
    percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True,
        help_text="Stated as this percentage of the line total (BT-94 / BT-101); the amount is then computed")
    reason = models.CharField(max_length=200, blank=True)
    reason_code = models.CharField(max_length=10, blank=True, help_text="UNCL5189 (allowance) or UNCL7161 (charge)")
    tax_category = models.CharField(max_length=2, choices=InvoiceLine.TAX_CATEGORY_CHOICES, default="S")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    tax_exemption_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["invoice", "position", "id"]

    def __str__(self) -> str:
        return f"{'Charge' if self.is_charge else 'Allowance'}: {self.reason or self.reason_code}"


class DocumentBranding(models.Model):
    """How an organization's documents look, beyond the logo and brand colour on the organization.

    Templates themselves are overridden on disk: ``duly/documents/<org slug>/<name>.html`` in a
    directory of ``settings.DULY_DOCUMENT_TEMPLATE_DIRS`` or in the package templates (see
    :mod:`duly.invoicing.pdf`).
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="document_branding")
    font_family = models.CharField(
        max_length=200, blank=True, help_text="CSS font family, e.g. 'DejaVu Serif' (default DejaVu Sans)"
    )
    font_file = models.FileField(upload_to="fonts/", blank=True, help_text="Optional TTF/OTF/WOFF for the font family")
    footer_text = models.CharField(max_length=500, blank=True, help_text="Printed at the foot of every page")

    def __str__(self) -> str:
        return f"Branding of {self.organization}"


def _stored_document_immutable(what: str):
    from duly.domain.errors import InvoiceImmutable

    return InvoiceImmutable(f"Stored documents of issued invoices are never {what}: they are what the customer "
                            "received.")


class StoredDocumentQuerySet(models.QuerySet):
    """Stored documents can be read and added, never changed or removed, row by row or in bulk."""

    def update(self, **kwargs):
        raise _stored_document_immutable("updated")

    def delete(self):
        raise _stored_document_immutable("deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise _stored_document_immutable("updated")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise _stored_document_immutable("updated")

    # Django's own raw update (QuerySet._update, used by save() of an existing row) is refused too.
    def _update(self, values):
        raise _stored_document_immutable("updated")


class StoredDocument(models.Model):
    """A rendered document of an issued invoice: rendered once, then never changed.

    The bytes are what the customer received; a later template or code change never alters them.
    Changing or deleting one is refused however it is attempted: ``save()`` of an existing row,
    ``delete()``, and the bulk ``QuerySet.update()`` / ``delete()`` / ``bulk_update()``. (The
    invoice itself is protected too: ``on_delete=PROTECT``.)
    """

    FORMAT_PDF, FORMAT_UBL, FORMAT_FACTURX, FORMAT_CII = "pdf", "ubl", "facturx", "cii"
    FORMAT_CHOICES = [
        (FORMAT_PDF, "PDF"),
        (FORMAT_UBL, "UBL 2.1 (Peppol BIS Billing 3.0)"),
        (FORMAT_FACTURX, "Factur-X (PDF/A-3 with CII)"),
        (FORMAT_CII, "UN/CEFACT CII"),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="stored_documents")
    format = models.CharField(max_length=10, choices=FORMAT_CHOICES)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoredDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["invoice", "format"]
        constraints = [models.UniqueConstraint(fields=["invoice", "format"], name="uniq_stored_document_format")]

    def __str__(self) -> str:
        return self.filename

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            from duly.domain.errors import InvoiceImmutable

            raise InvoiceImmutable(f"The stored document {self.filename} of an issued invoice cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        from duly.domain.errors import InvoiceImmutable

        raise InvoiceImmutable(f"The stored document {self.filename} of an issued invoice cannot be deleted.")


class CreditLimitOverride(models.Model):
    """An invoice issued over its customer's credit limit by an owner or admin, with why (the audit trail of
    :mod:`duly.invoicing.credit_limit`): the balance it made and the limit it went over."""

    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+")
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="credit_limit_override")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    note = models.TextField()
    currency = models.CharField(max_length=3)
    limit_minor = models.BigIntegerField()
    balance_minor = models.BigIntegerField(help_text="The open balance with this invoice")

    def __str__(self) -> str:
        return f"{self.invoice_id} over the credit limit by {self.decided_by}"
