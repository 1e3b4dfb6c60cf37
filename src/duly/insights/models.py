"""The insights app has no tables of its own: its admin pages are registered on proxy models."""

from __future__ import annotations

from duly.customers.models import Customer


class AccountsReceivable(Customer):
    """The back office's "Accounts receivable" page (aging per customer, DSO, days late): no table, no rows
    of its own; only the permission to view it."""

    class Meta:
        proxy = True
        verbose_name = "accounts receivable"
        verbose_name_plural = "accounts receivable"
        default_permissions = ("view",)
