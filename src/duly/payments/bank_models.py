"""The organization's bank accounts, the statements imported for them and their lines.

Imported at the bottom of ``payments/models.py`` so Django registers these models with the payments app.
Every import is idempotent through two unique keys: a statement is stored once per account and identifier (the
bank's statement id, or the file's content hash), a line once per account and ``unique_key`` (the bank's own
reference for the entry, or a hash of its content where the bank gives none).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import CURRENCY_FIELD, Organization

STATEMENT_FORMATS = ["camt.053", "camt.054", "mt940", "ofx", "csv"]


class BankAccount(models.Model):
    """An account of the organization at a bank, the one its statements are imported for."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bank_accounts",
                                     verbose_name=_("organization"))
    name = models.CharField(max_length=100, blank=True, verbose_name=_("name"))
    iban = models.CharField(_("IBAN or account number"), max_length=34,
                            help_text=_("IBAN (no spaces, upper case) or, where the bank has none, its account number"))
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    #: Column mapping for CSV statements of this account: {"booking_date": "Buchungstag", "amount": "Betrag", ...}
    csv_mapping = models.JSONField(default=dict, blank=True, verbose_name=_("csv mapping"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        ordering = ["organization", "iban"]
        constraints = [models.UniqueConstraint(fields=["organization", "iban"], name="uniq_bank_account_iban")]

    def __str__(self) -> str:
        return f"{self.name or self.iban} ({self.currency})"


class BankStatement(models.Model):
    """One statement (camt.053 Stmt, camt.054 Ntfctn, MT940 :20: block, OFX STMTRS, CSV file) of one account."""

    FORMAT_CHOICES = [(f, f) for f in STATEMENT_FORMATS]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bank_statements",
                                     verbose_name=_("organization"))
    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="statements",
                                verbose_name=_("account"))
    identifier = models.CharField(max_length=140, help_text=_("The bank's statement id, or the file's content hash"),
                                  verbose_name=_("identifier"))
    format = models.CharField(max_length=10, choices=FORMAT_CHOICES, verbose_name=_("format"))
    opening_balance_minor = models.BigIntegerField(null=True, blank=True, verbose_name=_("opening balance minor"))
    closing_balance_minor = models.BigIntegerField(null=True, blank=True, verbose_name=_("closing balance minor"))
    from_date = models.DateField(null=True, blank=True, verbose_name=_("from date"))
    to_date = models.DateField(null=True, blank=True, verbose_name=_("to date"))
    file_sha256 = models.CharField(max_length=64, verbose_name=_("file sha256"))
    imported_at = models.DateTimeField(auto_now_add=True, verbose_name=_("imported at"))

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-imported_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "identifier"], name="uniq_bank_statement")]

    def __str__(self) -> str:
        return f"{self.account} {self.identifier}"


class StatementLine(models.Model):
    """One booked movement on the account: + money in, - money out, in the account's minor units."""

    NEW, MATCHED, REVIEW, IGNORED = "new", "matched", "review", "ignored"
    STATUS_CHOICES = [(NEW, _("New")), (MATCHED, _("Matched")), (REVIEW, _("In review")), (IGNORED, _("Ignored"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="statement_lines",
                                     verbose_name=_("organization"))
    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines",
                                verbose_name=_("account"))
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines",
                                  verbose_name=_("statement"))
    booking_date = models.DateField(verbose_name=_("booking date"))
    value_date = models.DateField(null=True, blank=True, verbose_name=_("value date"))
    amount_minor = models.BigIntegerField(help_text=_("Signed: + money in, - money out"),
                                          verbose_name=_("amount minor"))
    currency = models.CharField(**CURRENCY_FIELD, verbose_name=_("currency"))
    unique_key = models.CharField(max_length=200,
                                  help_text=_("The bank's reference (AcctSvcrRef, NtryRef...) or a content hash"),
                                  verbose_name=_("unique key"))
    end_to_end_id = models.CharField(max_length=35, blank=True, verbose_name=_("end to end id"))
    counterparty_name = models.CharField(max_length=140, blank=True, verbose_name=_("counterparty name"))
    counterparty_iban = models.CharField(max_length=34, blank=True, verbose_name=_("counterparty iban"))
    counterparty_bic = models.CharField(max_length=11, blank=True, verbose_name=_("counterparty bic"))
    remittance_structured = models.CharField(max_length=140, blank=True,
                                             help_text=_("Structured creditor reference (RF..., ISO 11649)"),
                                             verbose_name=_("remittance structured"))
    remittance_unstructured = models.TextField(blank=True, verbose_name=_("remittance unstructured"))
    bank_transaction_code = models.CharField(max_length=64, blank=True, verbose_name=_("bank transaction code"))
    return_reason_code = models.CharField(max_length=35, blank=True,
                                          help_text=_("Why the bank returned it (R-transaction), e.g. AC04, MD06"),
                                          verbose_name=_("return reason code"))
    original_amount_minor = models.BigIntegerField(null=True, blank=True,
                                                   help_text=_("Amount in the original (instructed) currency"),
                                                   verbose_name=_("original amount minor"))
    original_currency = models.CharField(max_length=3, blank=True, verbose_name=_("original currency"))
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True,
                                        verbose_name=_("exchange rate"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=NEW, verbose_name=_("status"))
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("raw"))

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["booking_date", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "unique_key"], name="uniq_statement_line")]
        indexes = [models.Index(fields=["organization", "status"], name="stmtline_org_status")]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount_minor} {self.currency} {self.counterparty_name}"
