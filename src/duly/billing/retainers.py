"""The retainer ledger, read: a customer's prepaid (retainer) balance per currency, as of a date.

One function, :func:`retainer_balances`, reads the ledger (paid retainer invoices, drawdowns);
everything that states a retainer balance goes through it: :func:`retainer_balance` (the admin,
the CLI), the statement of account (:func:`duly.insights.services.statement_of_account`), and the
balance frozen in an invoice's document snapshot at issue (:func:`snapshot_entry`,
:func:`freeze_on_invoices`).

Read-only, except :func:`freeze_on_invoices`, which only writes the invoices' document snapshots (through
:func:`duly.invoicing.lifecycle.freeze_retainers`, their one writer).

As of a date
    A retainer invoice counts once it is paid (``paid_on`` on or before the date); a drawdown once
    it is applied (``applied_on``). An issued retainer invoice not paid by then is *awaiting
    payment*. Without a date, everything recorded counts (the position now).

Who has one
    A customer has a retainer in a currency when one of their contracts has a
    :class:`~duly.billing.models.RetainerAgreement` in that currency (active or not: a balance can
    be left after a retainer stops). Customers without one get no entry, so nothing says
    "retainer" on their documents.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from django.db.models import Q, Sum

from duly.domain.money import from_minor
from duly.invoicing import lifecycle
from duly.invoicing.models import Invoice

from .models import PrepaidDrawdown, PrepaidFunding, RetainerAgreement

__all__ = ["RetainerBalance", "entry_for", "freeze_on_invoices", "retainer_balance", "retainer_balances", "snapshot_entry"]


@dataclass(frozen=True)
class RetainerBalance:
    """A customer's retainer position in one currency (major units)."""

    currency: str
    #: Paid retainer invoices.
    funded: Decimal
    #: Drawn down on invoices.
    drawn: Decimal
    #: funded − drawn: what is left to draw.
    balance: Decimal
    #: Retainer invoices issued and not paid yet (they count once paid).
    awaiting_payment: Decimal


def retainer_balances(customer_ids: Iterable[int], *, as_of: date | None = None,
                      currency: str | None = None, only_with_agreement: bool = True
                      ) -> dict[tuple[int, str], RetainerBalance]:
    """{(customer id, currency): balance} read from the retainer ledger in three grouped queries.

    ``as_of``: the position at the end of that day (None: everything recorded). With
    ``only_with_agreement`` only the (customer, currency) pairs with a retainer agreement are given.
    """
    ids = set(customer_ids)
    if not ids:
        return {}
    fundings = PrepaidFunding.objects.filter(customer_id__in=ids, kind=PrepaidFunding.RETAINER).order_by()
    drawdowns = PrepaidDrawdown.objects.filter(customer_id__in=ids, kind=PrepaidFunding.RETAINER).order_by()
    if currency is not None:
        fundings, drawdowns = fundings.filter(currency=currency), drawdowns.filter(currency=currency)
    keys: set[tuple[int, str]] = set()
    if only_with_agreement:
        agreements = RetainerAgreement.objects.filter(customer_id__in=ids).order_by()
        if currency is not None:
            agreements = agreements.filter(currency=currency)
        keys = set(agreements.values_list("customer_id", "currency"))
        if not keys:
            return {}
        with_one = {cid for cid, _ in keys}
        fundings, drawdowns = fundings.filter(customer_id__in=with_one), drawdowns.filter(customer_id__in=with_one)
    if as_of is None:
        paid = Q(invoice__status=Invoice.PAID)
        waiting = Q(invoice__status__in=Invoice.OPEN_STATUSES)
    else:
        paid = Q(invoice__status=Invoice.PAID, invoice__paid_on__lte=as_of)
        waiting = Q(invoice__issue_date__lte=as_of) & (
            Q(invoice__status__in=Invoice.OPEN_STATUSES)
            | Q(invoice__status=Invoice.PAID, invoice__paid_on__gt=as_of))
        drawdowns = drawdowns.filter(applied_on__lte=as_of)
    funded: dict[tuple[int, str], int] = defaultdict(int)
    awaiting: dict[tuple[int, str], int] = defaultdict(int)
    drawn: dict[tuple[int, str], int] = defaultdict(int)
    for target, q in ((funded, paid), (awaiting, waiting)):
        for row in fundings.filter(q).values("customer_id", "currency").annotate(s=Sum("invoice__total_minor")):
            target[(row["customer_id"], row["currency"])] += row["s"] or 0
    for row in drawdowns.values("customer_id", "currency").annotate(s=Sum("amount_minor")):
        drawn[(row["customer_id"], row["currency"])] += row["s"] or 0
    if not only_with_agreement:
        keys = set(funded) | set(awaiting) | set(drawn)
    return {
        (cid, cur): RetainerBalance(cur, from_minor(funded[(cid, cur)], cur), from_minor(drawn[(cid, cur)], cur),
                                    from_minor(funded[(cid, cur)] - drawn[(cid, cur)], cur),
                                    from_minor(awaiting[(cid, cur)], cur))
        for cid, cur in sorted(keys)
    }


def retainer_balance(customer, currency: str | None = None, *, as_of: date | None = None) -> RetainerBalance:
    """The retainer balance of a customer (all their retainer contracts in ``currency``; default theirs)."""
    currency = currency or customer.currency
    found = retainer_balances([customer.pk], as_of=as_of, currency=currency, only_with_agreement=False)
    zero = from_minor(0, currency)
    return found.get((customer.pk, currency), RetainerBalance(currency, zero, zero, zero, zero))


def snapshot_entry(balance: RetainerBalance, as_of: date) -> dict[str, Any]:
    """The retainer balance as an invoice's document snapshot freezes it (``snapshot["retainer"]``)."""
    from duly.domain.money import to_minor

    return {"currency": balance.currency, "as_of": as_of.isoformat(),
            "balance_minor": to_minor(balance.balance, balance.currency)}


def entry_for(customer, currency: str, as_of: date) -> dict[str, Any] | None:
    """The snapshot entry of one invoice of ``customer`` issued on ``as_of`` (None: no retainer in ``currency``)."""
    found = retainer_balances([customer.pk], as_of=as_of, currency=currency)
    balance = found.get((customer.pk, currency))
    return snapshot_entry(balance, as_of) if balance is not None else None


def freeze_on_invoices(invoices: Iterable[Invoice], *, as_of: date) -> int:
    """Freeze the retainer balance as of ``as_of`` in the document snapshot of each invoice whose customer
    has a retainer in its currency (invoices issued in bulk, once their drawdowns are written). Returns
    how many were updated; customers without a retainer cost nothing but one query."""
    invoices = [inv for inv in invoices if inv.document_snapshot is not None]
    balances = retainer_balances({inv.customer_id for inv in invoices}, as_of=as_of)
    return lifecycle.freeze_retainers(
        (inv, snapshot_entry(balances[(inv.customer_id, inv.currency)], as_of))
        for inv in invoices if (inv.customer_id, inv.currency) in balances)
