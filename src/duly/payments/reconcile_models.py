"""Reconciliation: what became of each bank statement line (matched to a payment, or waiting in review).

Imported at the bottom of ``payments/models.py`` so Django registers these models with the payments app.

- :class:`BankMatch`: a line applied as a payment (automatically or by a person), with the score and evidence
  that made it. One active match per line (``undone_at`` empty), enforced by a unique constraint, so a line is
  never paid twice; an undone match stays as history.
- :class:`ReviewEntry`: a line that waits for a person (its ranked proposals with their evidence), or an
  outgoing line recognised and set aside (``category``). One per line.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import CURRENCY_FIELD, Customer, Organization
from duly.payments.bank_models import StatementLine


class BankMatch(models.Model):
    AUTO, ACCEPTED, SPLIT, CREDIT = "auto", "accepted", "split", "credit"
    #: SEPA direct debits (duly.payments.debit_reconcile_services): a return recorded, a collection booked.
    RETURNED, COLLECTED = "returned", "collected"
    HOW_CHOICES = [(AUTO, _("Automatic")), (ACCEPTED, _("Proposal accepted")), (SPLIT, _("Split by hand")),
                   (CREDIT, _("Assigned as credit")), (RETURNED, _("SEPA debit returned")),
                   (COLLECTED, _("SEPA debits collected"))]
    SEPA = (RETURNED, COLLECTED)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bank_matches",
                                     verbose_name=_("organization"))
    line = models.ForeignKey(StatementLine, on_delete=models.PROTECT, related_name="matches",
                             verbose_name=_("line"))
    payment = models.ForeignKey("payments.Payment", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="bank_matches", verbose_name=_("payment"))
    #: Empty only for a SEPA collection credit booking the debits of several customers.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="bank_matches", verbose_name=_("customer"))
    how = models.CharField(max_length=10, choices=HOW_CHOICES, verbose_name=_("how"))
    score = models.PositiveSmallIntegerField(default=0, verbose_name=_("score"))
    rule = models.CharField(max_length=40, blank=True, verbose_name=_("rule"))
    #: The proposal applied: allocations, credit, evidence; kept after an undo.
    evidence = models.JSONField(default=dict, blank=True, verbose_name=_("evidence"))
    matched_on = models.DateField(verbose_name=_("matched on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    undone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("undone at"))
    undo_reason = models.CharField(max_length=200, blank=True, verbose_name=_("undo reason"))

    class Meta:
        verbose_name = _("bank match")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("bank matches")
        constraints = [
            models.UniqueConstraint(fields=["line"], condition=models.Q(undone_at__isnull=True),
                                    name="uniq_active_bank_match"),
        ]

    def __str__(self) -> str:
        return f"line {self.line_id} -> {self.customer} ({self.how})"


class ReviewEntry(models.Model):
    """A line set aside: in review with its ranked proposals, or outgoing (``category``: refund, bank_fee...)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="review_entries",
                                     verbose_name=_("organization"))
    line = models.OneToOneField(StatementLine, on_delete=models.CASCADE, related_name="review",
                                verbose_name=_("line"))
    #: [{"customer_id", "currency", "allocations": [[invoice id, minor]], "credit_minor", "write_off_minor",
    #:   "score", "evidence": [[rule, matched, detail]], "blockers": [...]}], best first.
    proposals = models.JSONField(default=list, blank=True, verbose_name=_("proposals"))
    #: The best proposal's customer: who collections treats as having paid (awaiting reconciliation).
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="review_entries", verbose_name=_("customer"))
    category = models.CharField(max_length=20, blank=True, help_text=_("Outgoing lines: refund, bank_fee, ..."),
                                verbose_name=_("category"))
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("review entry")
        ordering = ["line__booking_date", "line_id"]
        verbose_name_plural = _("review entries")

    def __str__(self) -> str:
        return f"review of line {self.line_id}"
