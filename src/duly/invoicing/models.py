"""Invoices, their lines and attachments, and gapless number series."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.db.models import F

from duly.customers.models import CURRENCY_FIELD, Contract, Customer, Organization
from duly.domain.money import from_minor


class NumberSeries(models.Model):
    """A numbering pattern per organization and document kind, e.g. ``INV-{year}-{seq:05}``."""

    KIND_CHOICES = [("invoice", _("Invoices")), ("credit_note", _("Credit notes"))]
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="number_series",
                                     verbose_name=_("organization"))
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, verbose_name=_("kind"))
    pattern = models.CharField(max_length=60, help_text=_("Placeholders: {year} and {seq} (e.g. {seq:05})"),
                               verbose_name=_("pattern"))

    class Meta:
        verbose_name = _("number series")
        verbose_name_plural = _("number series")
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="uniq_series_kind")]

    def __str__(self) -> str:
        return f"{self.organization}: {self.kind} {self.pattern}"


class SeriesCounter(models.Model):
    """Last number used per series and year, and the issue date it carries. Locked while issuing: gapless
    and chronological (a number is never taken for an issue date before ``last_issue_date``)."""

    series = models.ForeignKey(NumberSeries, on_delete=models.CASCADE, related_name="counters",
                               verbose_name=_("series"))
    year = models.PositiveIntegerField(verbose_name=_("year"))
    last_value = models.PositiveIntegerField(default=0, verbose_name=_("last value"))
    last_issue_date = models.DateField(
        null=True, blank=True, help_text=_("Issue date of the last number taken: later numbers never carry an earlier one"),
        verbose_name=_("last issue date"))

    class Meta:
        verbose_name = _("series counter")
        verbose_name_plural = _("series counters")
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="uniq_counter_year")]


#: What is due on an invoice (EN 16931 BT-115) as a database expression, as :attr:`Invoice.payable_minor`:
#: total − prepaid amount (BT-113) + rounding amount (BT-114). Every query that computes an open amount uses it.
PAYABLE_MINOR = F("total_minor") - F("prepaid_minor") + F("rounding_minor")


class Invoice(models.Model):
    KIND_STANDARD, KIND_DEPOSIT, KIND_CREDIT_NOTE, KIND_LATE_FEE = "standard", "deposit", "credit_note", "late_fee"
    KIND_CHOICES = [
        (KIND_STANDARD, _("Invoice")),
        (KIND_DEPOSIT, _("Deposit invoice")),
        (KIND_CREDIT_NOTE, _("Credit note")),
        (KIND_LATE_FEE, _("Late-fee/interest invoice")),
    ]
    DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID, UNCOLLECTIBLE = (
        "draft", "issued", "partially_paid", "paid", "void", "uncollectible",
    )
    STATUS_CHOICES = [
        (DRAFT, _("Draft")),
        (ISSUED, _("Issued")),
        (PARTIALLY_PAID, _("Partially paid")),
        (PAID, _("Paid")),
        (VOID, _("Void")),
        (UNCOLLECTIBLE, _("Uncollectible")),
    ]
    OPEN_STATUSES = (ISSUED, PARTIALLY_PAID)
    #: Where the number comes from: Duly's own series, or the system a migrated receivable came from.
    ORIGIN_DULY, ORIGIN_MIGRATED = "duly", "migrated"
    ORIGIN_CHOICES = [(ORIGIN_DULY, _("Duly's number series")), (ORIGIN_MIGRATED, _("Migrated (the source's number)"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invoices",
                                     verbose_name=_("organization"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices",
                                 verbose_name=_("customer"))
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices",
                                 verbose_name=_("contract"))
    kind = models.CharField(max_length=12, choices=KIND_CHOICES, default=KIND_STANDARD, verbose_name=_("kind"))
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=DRAFT, verbose_name=_("status"))
    number = models.CharField(max_length=40, null=True, blank=True, verbose_name=_("number"))
    origin = models.CharField(
        max_length=10, choices=ORIGIN_CHOICES, default=ORIGIN_DULY, editable=False,
        help_text=_("Migrated: issued in another system, imported as issued with its own number, dates and terms"),
        verbose_name=_("origin"))
    source_sha256 = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text=_("Migrated from an e-invoice: the SHA-256 of the file (the same file is never imported twice)"),
        verbose_name=_("source sha256"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    locale = models.CharField(max_length=10, default="en", verbose_name=_("locale"))
    issue_date = models.DateField(null=True, blank=True, verbose_name=_("issue date"))
    due_date = models.DateField(null=True, blank=True, verbose_name=_("due date"))
    service_period_start = models.DateField(null=True, blank=True, verbose_name=_("service period start"))
    service_period_end = models.DateField(null=True, blank=True, verbose_name=_("service period end"))
    # Fields customers may require.
    po_number = models.CharField(_("PO number"), max_length=100, blank=True)
    buyer_reference = models.CharField(max_length=100, blank=True, verbose_name=_("buyer reference"))
    cost_centre = models.CharField(max_length=100, blank=True, verbose_name=_("cost centre"))
    ap_contact = models.CharField(_("AP contact"), max_length=200, blank=True)
    billing_address = models.TextField(blank=True, verbose_name=_("billing address"))
    custom_fields = models.JSONField(default=dict, blank=True, verbose_name=_("custom fields"))
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    # Set when issued, then frozen.
    payment_terms_text = models.TextField(blank=True, verbose_name=_("payment terms text"))
    late_terms_text = models.TextField(blank=True, verbose_name=_("late terms text"))
    rf_reference = models.CharField(_("RF creditor reference"), max_length=25, blank=True)
    document_snapshot = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text=_("What the documents show of seller and buyer (parties, address, bank account), frozen at issue "
                  "(duly.invoicing.documents.snapshot)"), verbose_name=_("document snapshot"),
    )
    additional_parties = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text=_("Payee (BG-10) and seller's tax representative (BG-11) of an imported invoice"),
        verbose_name=_("additional parties"),
    )
    related_invoice = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="related_documents",
        help_text=_("Credit note: the corrected invoice. Late-fee invoice: the overdue invoice."),
        verbose_name=_("related invoice"),
    )
    # Amounts in minor units (frozen at issue).
    line_total_minor = models.BigIntegerField(default=0, verbose_name=_("line total minor"))
    allowance_total_minor = models.BigIntegerField(default=0, verbose_name=_("allowance total minor"))
    charge_total_minor = models.BigIntegerField(default=0, verbose_name=_("charge total minor"))
    tax_exclusive_minor = models.BigIntegerField(default=0, verbose_name=_("tax exclusive minor"))
    tax_total_minor = models.BigIntegerField(default=0, verbose_name=_("tax total minor"))
    total_minor = models.BigIntegerField(default=0, help_text=_("Tax inclusive total"),
                                         verbose_name=_("total minor"))
    prepaid_minor = models.BigIntegerField(default=0, help_text=_("Deposit or credit deducted on the invoice"),
                                           verbose_name=_("prepaid minor"))
    rounding_minor = models.BigIntegerField(
        default=0, help_text=_("Rounding added to the amount due (EN 16931 BT-114; imported invoices only)"),
        verbose_name=_("rounding minor"))
    tax_breakdown = models.JSONField(default=list, blank=True, verbose_name=_("tax breakdown"))
    # Running amount settled by payments, customer credit and credit notes.
    paid_minor = models.BigIntegerField(default=0, verbose_name=_("paid minor"))
    void_reason = models.TextField(blank=True, verbose_name=_("void reason"))
    issued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("issued at"))
    paid_on = models.DateField(null=True, blank=True, verbose_name=_("paid on"))
    voided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("voided at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
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
        ("S", _("Standard rate")),
        ("Z", _("Zero rated")),
        ("E", _("Exempt")),
        ("AE", _("Reverse charge")),
        ("K", _("Intra-community supply")),
        ("G", _("Export outside the EU")),
        ("O", _("Not subject to VAT")),
    ]
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines",
                                verbose_name=_("invoice"))
    position = models.PositiveIntegerField(default=1, verbose_name=_("position"))
    description = models.CharField(max_length=500, verbose_name=_("description"))
    quantity = models.DecimalField(max_digits=20, decimal_places=6, verbose_name=_("quantity"))
    unit = models.CharField(max_length=10, default="C62", help_text=_("UN/ECE rec. 20 unit code (C62 = one, HUR = hour)"),
                            verbose_name=_("unit"))
    unit_price = models.DecimalField(max_digits=20, decimal_places=6, help_text=_("Net unit price"),
                                     verbose_name=_("unit price"))
    discount_percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True,
                                           verbose_name=_("discount percent"))
    tax_category = models.CharField(max_length=2, choices=TAX_CATEGORY_CHOICES, default="S",
                                    verbose_name=_("tax category"))
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0), verbose_name=_("tax rate"))
    tax_exemption_reason = models.CharField(max_length=200, blank=True, verbose_name=_("tax exemption reason"))
    period_start = models.DateField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateField(null=True, blank=True, verbose_name=_("period end"))
    explanation = models.TextField(blank=True, help_text=_("How the amount was computed (tiers, usage, proration)"),
                                   verbose_name=_("explanation"))
    net_minor = models.BigIntegerField(default=0, verbose_name=_("net minor"))
    discount_minor = models.BigIntegerField(default=0, verbose_name=_("discount minor"))
    # What received e-invoices state beyond Duly's own lines (duly invoices import-ubl); see line_input().
    base_quantity = models.DecimalField(max_digits=30, decimal_places=10, default=Decimal(1),
                                        help_text=_("Price base quantity (BT-149): the unit price is per this many units"),
                                        verbose_name=_("base quantity"))
    discount_amount = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True,
                                          help_text=_("Line discount as an amount (BT-136), instead of a percentage"),
                                          verbose_name=_("discount amount"))
    allowances_charges = models.JSONField(
        default=list, blank=True, editable=False,
        help_text=_("Line allowances and charges (BG-27/BG-28) of an imported line that has more than one discount: "
                  '[{"charge": bool, "amount": "12.00", "percent": str|null, "base": str|null, "reason", '
                  '"reason_code"}]'), verbose_name=_("allowances charges"),
    )
    details = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text=_("E-invoice details of an imported line: line_id, item ids (seller_item_id, buyer_item_id, "
                  "standard_item_id, standard_item_scheme), base_quantity_unit, gross_price, price_discount, "
                  "order_line_ref, accounting_ref, item description, discount_reason(_code)"),
        verbose_name=_("details"),
    )

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="write_off_reversals",
                                     verbose_name=_("organization"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_off_reversals",
                                verbose_name=_("invoice"))
    written_off_at = models.DateTimeField(null=True, blank=True, verbose_name=_("written off at"))
    write_off_reason = models.TextField(blank=True, verbose_name=_("write off reason"))
    reason = models.CharField(max_length=300, verbose_name=_("reason"))
    status_after = models.CharField(max_length=20, verbose_name=_("status after"))
    paid_minor = models.BigIntegerField(help_text=_("What the invoice had received when it reopened"),
                                        verbose_name=_("paid minor"))
    reversed_at = models.DateTimeField(auto_now_add=True, verbose_name=_("reversed at"))

    class Meta:
        verbose_name = _("write off reversal")
        verbose_name_plural = _("write off reversals")
        ordering = ["-reversed_at", "-id"]

    def __str__(self) -> str:
        return f"write-off of invoice {self.invoice_id} reversed"


def attachment_path(instance: "Attachment", filename: str) -> str:
    return f"attachments/{instance.invoice.organization_id}/{instance.invoice_id}/{filename}"


class Attachment(models.Model):
    """A supporting document stored with an invoice (service report, timesheet)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("invoice"))
    file = models.FileField(upload_to=attachment_path, verbose_name=_("file"))
    filename = models.CharField(max_length=200, verbose_name=_("filename"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))
    content_type = models.CharField(max_length=100, default="application/pdf", verbose_name=_("content type"))
    size = models.PositiveIntegerField(default=0, verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["invoice", "filename"]

    def __str__(self) -> str:
        return self.filename


class InvoiceAllowanceCharge(models.Model):
    """A document-level allowance (EN 16931 BG-20) or charge (BG-21) of an invoice.

    Duly's own invoices rarely need them; imported invoices (``duly invoices import-ubl``) keep
    them here so their totals come back identical. Amounts are absolute (minor units).
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="allowances_charges",
                                verbose_name=_("invoice"))
    position = models.PositiveIntegerField(default=1, verbose_name=_("position"))
    is_charge = models.BooleanField(default=False, verbose_name=_("is charge"))
    amount_minor = models.BigIntegerField(verbose_name=_("amount minor"))
    percent = models.DecimalField(
        max_digits=9, decimal_places=4, null=True, blank=True,
        help_text=_("Stated as this percentage of the line total (BT-94 / BT-101); the amount is then computed"),
        verbose_name=_("percent"))
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))
    reason_code = models.CharField(max_length=10, blank=True, help_text=_("UNCL5189 (allowance) or UNCL7161 (charge)"),
                                   verbose_name=_("reason code"))
    tax_category = models.CharField(max_length=2, choices=InvoiceLine.TAX_CATEGORY_CHOICES, default="S",
                                    verbose_name=_("tax category"))
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0), verbose_name=_("tax rate"))
    tax_exemption_reason = models.CharField(max_length=200, blank=True, verbose_name=_("tax exemption reason"))

    class Meta:
        verbose_name = _("invoice allowance charge")
        verbose_name_plural = _("invoice allowance charges")
        ordering = ["invoice", "position", "id"]

    def __str__(self) -> str:
        return f"{'Charge' if self.is_charge else 'Allowance'}: {self.reason or self.reason_code}"


class DocumentBranding(models.Model):
    """How an organization's documents look, beyond the logo and brand colour on the organization.

    Templates themselves are overridden on disk: ``duly/documents/<org slug>/<name>.html`` in a
    directory of ``settings.DULY_DOCUMENT_TEMPLATE_DIRS`` or in the package templates (see
    :mod:`duly.invoicing.pdf`).
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="document_branding",
                                        verbose_name=_("organization"))
    font_family = models.CharField(
        max_length=200, blank=True, help_text=_("CSS font family, e.g. 'DejaVu Serif' (default DejaVu Sans)"),
        verbose_name=_("font family")
    )
    font_file = models.FileField(upload_to="fonts/", blank=True, help_text=_("Optional TTF/OTF/WOFF for the font family"),
                                 verbose_name=_("font file"))
    footer_text = models.CharField(max_length=500, blank=True, help_text=_("Printed at the foot of every page"),
                                   verbose_name=_("footer text"))

    def __str__(self) -> str:
        return f"Branding of {self.organization}"

    class Meta:
        verbose_name = _("document branding")
        verbose_name_plural = _("document brandings")


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
        (FORMAT_PDF, _("PDF")),
        (FORMAT_UBL, _("UBL 2.1 (Peppol BIS Billing 3.0)")),
        (FORMAT_FACTURX, _("Factur-X (PDF/A-3 with CII)")),
        (FORMAT_CII, _("UN/CEFACT CII")),
    ]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="stored_documents",
                                verbose_name=_("invoice"))
    format = models.CharField(max_length=10, choices=FORMAT_CHOICES, verbose_name=_("format"))
    filename = models.CharField(max_length=200, verbose_name=_("filename"))
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    content = models.BinaryField(verbose_name=_("content"))
    size = models.PositiveIntegerField(verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, verbose_name=_("sha256"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = StoredDocumentQuerySet.as_manager()

    class Meta:
        verbose_name = _("stored document")
        verbose_name_plural = _("stored documents")
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

    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="credit_limit_override",
                                   verbose_name=_("invoice"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(verbose_name=_("decided at"))
    note = models.TextField(verbose_name=_("note"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    limit_minor = models.BigIntegerField(verbose_name=_("limit minor"))
    balance_minor = models.BigIntegerField(help_text=_("The open balance with this invoice"),
                                           verbose_name=_("balance minor"))

    def __str__(self) -> str:
        return f"{self.invoice_id} over the credit limit by {self.decided_by}"

    class Meta:
        verbose_name = _("credit limit override")
        verbose_name_plural = _("credit limit overrides")


class ExchangeRate(models.Model):
    """A rate the seller entered, with its date and source (no rate is fetched from the network): 1 unit of
    ``currency`` = ``rate`` units of ``accounting_currency``. A UK VAT invoice in a foreign currency states its
    VAT in sterling at the latest rate on or before its issue date, frozen in the invoice at issue."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    accounting_currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("accounting currency"))
    rate = models.DecimalField(max_digits=20, decimal_places=10, verbose_name=_("rate"))
    rate_date = models.DateField(verbose_name=_("rate date"))
    source = models.CharField(max_length=200, help_text=_("Where the rate comes from, e.g. HMRC monthly exchange rate"),
                              verbose_name=_("source"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        constraints = [models.UniqueConstraint(fields=["organization", "currency", "accounting_currency", "rate_date"],
                                               name="uniq_exchange_rate_day")]
        ordering = ["-rate_date"]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} {self.accounting_currency} on {self.rate_date} ({self.source})"
