"""The organization's bank accounts, the statements imported for them and their lines.

Imported at the bottom of ``payments/models.py`` so Django registers these models with the payments app.
Every import is idempotent through two unique keys: a statement is stored once per account and identifier (the
bank's statement id, or the file's content hash), a line once per account and ``unique_key`` (the bank's own
reference for the entry, or a hash of its content where the bank gives none).
"""

from __future__ import annotations

from django.db import models

from duly.customers.models import CURRENCY_FIELD, Organization

STATEMENT_FORMATS = ["camt.053", "camt.054", "mt940", "ofx", "csv"]


class BankAccount(models.Model):
    """An account of the organization at a bank, the one its statements are imported for."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bank_accounts")
    name = models.CharField(max_length=100, blank=True)
    iban = models.CharField("IBAN or account number", max_length=34,
                            help_text="IBAN (no spaces, upper case) or, where the bank has none, its account number")
    bic = models.CharField("BIC", max_length=11, blank=True)
    currency = models.CharField(**CURRENCY_FIELD)
    #: Column mapping for CSV statements of this account: {"booking_date": "Buchungstag", "amount": "Betrag", ...}
    csv_mapping = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "iban"]
        constraints = [models.UniqueConstraint(fields=["organization", "iban"], name="uniq_bank_account_iban")]

    def __str__(self) -> str:
        return f"{self.name or self.iban} ({self.currency})"


class BankStatement(models.Model):
    """One statement (camt.053 Stmt, camt.054 Ntfctn, MT940 :20: block, OFX STMTRS, CSV file) of one account."""

    FORMAT_CHOICES = [(f, f) for f in STATEMENT_FORMATS]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bank_statements")
    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="statements")
    identifier = models.CharField(max_length=140, help_text="The bank's statement id, or the file's content hash")
    format = models.CharField(max_length=10, choices=FORMAT_CHOICES)
    opening_balance_minor = models.BigIntegerField(null=True, blank=True)
    closing_balance_minor = models.BigIntegerField(null=True, blank=True)
    from_date = models.DateField(null=True, blank=True)
    to_date = models.DateField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "identifier"], name="uniq_bank_statement")]

    def __str__(self) -> str:
        return f"{self.account} {self.identifier}"


class StatementLine(models.Model):
    """One booked movement on the account: + money in, - money out, in the account's minor units."""

    NEW, MATCHED, REVIEW, IGNORED = "new", "matched", "review", "ignored"
    STATUS_CHOICES = [(NEW, "New"), (MATCHED, "Matched"), (REVIEW, "In review"), (IGNORED, "Ignored")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="statement_lines")
    account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines")
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    booking_date = models.DateField()
    value_date = models.DateField(null=True, blank=True)
    amount_minor = models.BigIntegerField(help_text="Signed: + money in, - money out")
    currency = models.CharField(**CURRENCY_FIELD)
    unique_key = models.CharField(max_length=200,
                                  help_text="The bank's reference (AcctSvcrRef, NtryRef...) or a content hash")
    end_to_end_id = models.CharField(max_length=35, blank=True)
    counterparty_name = models.CharField(max_length=140, blank=True)
    counterparty_iban = models.CharField(max_length=34, blank=True)
    counterparty_bic = models.CharField(max_length=11, blank=True)
    remittance_structured = models.CharField(max_length=140, blank=True,
                                             help_text="Structured creditor reference (RF..., ISO 11649)")
    remittance_unstructured = models.TextField(blank=True)
    bank_transaction_code = models.CharField(max_length=64, blank=True)
    return_reason_code = models.CharField(max_length=35, blank=True,
                                          help_text="Why the bank returned it (R-transaction), e.g. AC04, MD06")
    original_amount_minor = models.BigIntegerField(null=True, blank=True,
                                                   help_text="Amount in the original (instructed) currency")
    original_currency = models.CharField(max_length=3, blank=True)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=NEW)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["booking_date", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "unique_key"], name="uniq_statement_line")]
        indexes = [models.Index(fields=["organization", "status"], name="stmtline_org_status")]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount_minor} {self.currency} {self.counterparty_name}"
