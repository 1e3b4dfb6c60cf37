"""Money received that is not applied to the customer's invoices yet: the one question the dunning
run asks before chasing ("has this customer paid something we have not matched yet?").

:func:`pending_receipts` answers it for many customers at once. Today it reads what the payments
app has: the customer's positive credit balance (``CreditEntry``: unapplied parts of payments,
money received before its invoice was issued, credit left by credit notes), plus the money of bank
statement lines waiting in review, counted for the customer their best proposal names
(``payments.reconcile_snapshot.awaiting_reconciliation``). The dunning rules treat the answer as
"payment received, awaiting reconciliation", so nobody is chased for money that has arrived.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from duly.customers.models import Organization
from duly.domain.money import from_minor
from duly.payments.models import CreditEntry
from duly.payments.reconcile_snapshot import awaiting_reconciliation


def pending_receipts(org: Organization, **customers: Any) -> dict[int, dict[str, Decimal]]:
    """``{customer id: {currency: amount}}`` of money received and not applied yet, for the customers
    selected by ``customers`` (``customer_id__in=[...]`` or a ``customer_id__gte/lte`` range).
    Customers with nothing pending are absent; amounts are positive."""
    pending: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for cid, currency, total in CreditEntry.objects.filter(organization=org, **customers).values(
            "customer_id", "currency").annotate(total=Sum("amount_minor")).values_list(
            "customer_id", "currency", "total"):
        if total and total > 0:
            pending[cid][currency] = from_minor(int(total), currency)
    for cid, by_currency in awaiting_reconciliation(org, **customers).items():
        for currency, minor in by_currency.items():
            pending[cid][currency] = pending[cid].get(currency, from_minor(0, currency)) + from_minor(minor, currency)
    return dict(pending)
