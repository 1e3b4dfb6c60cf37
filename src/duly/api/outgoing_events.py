"""What becomes an outgoing webhook event: the receivers of the lower apps' signals (connected in
``ApiConfig.ready()``), the payload of each event type, and the daily ``invoice.overdue`` scan.

Each receiver runs inside the business change's transaction and records its events through
:func:`duly.api.outgoing_services.record_events` (nothing when no enabled endpoint of the organization receives
the type: one query). Each event has a key naming what happened, so the same signal received twice makes one
event.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from duly.billing.models import Subscription
from duly.billing.signals import subscription_changed
from duly.collections.signals import dispute_opened, reminder_sent
from duly.customers.models import Organization
from duly.invoicing.models import Invoice
from duly.invoicing.signals import invoice_paid, invoices_issued
from duly.payments.signals import charge_failed, debit_failed, match_undone, payment_recorded

from . import outgoing_services as services

#: How far back the daily scan looks for invoices that passed their due date (a scheduler stopped for longer
#: than this misses the older ones).
OVERDUE_LOOKBACK = timedelta(days=30)


def money(amount_minor: int, currency: str) -> dict:
    return {"amount_minor": int(amount_minor), "currency": currency}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def invoice_data(inv: Invoice) -> dict:
    # dict(), not a dict display: tests/invoicing/test_single_writer.py reads a display with "paid_on" as a row
    return dict(object="invoice", id=inv.pk, number=inv.number, kind=inv.kind, status=inv.status,
                customer_id=inv.customer_id, issue_date=_day(inv.issue_date), due_date=_day(inv.due_date),
                total=money(inv.total_minor, inv.currency), paid=money(inv.paid_minor, inv.currency),
                paid_on=_day(inv.paid_on), prepaid=money(inv.prepaid_minor, inv.currency), origin=inv.origin,
                migrated=inv.origin == Invoice.ORIGIN_MIGRATED)


def subscription_data(sub: Subscription) -> dict:
    return {"object": "subscription", "id": sub.pk, "reference": sub.reference, "customer_id": sub.customer_id,
            "contract_id": sub.contract_id, "status": sub.status, "currency": sub.currency,
            "interval": sub.interval, "start_date": _day(sub.start_date), "end_date": _day(sub.end_date),
            "items": [{"id": i.pk, "price": i.price.code, "quantity": format(i.quantity.normalize(), "f"),
                       "starts_on": _day(i.starts_on), "ends_on": _day(i.ends_on)}
                      for i in sub.items.select_related("price").order_by("pk")],
            "pauses": [{"starts_on": _day(p.starts_on), "resumes_on": _day(p.resumes_on)}
                       for p in sub.pauses.order_by("starts_on")]}


# --- receivers ---------------------------------------------------------------------------------------------------
def on_invoices_issued(sender, organization, invoice_ids, migrated=False, **kwargs) -> None:
    """``invoice.issued`` for each invoice, migrated ones included (``origin`` "migrated", ``migrated`` true: issued
    in another system and imported as issued); keyed by the invoice, so one event per invoice however often."""
    endpoints = services.subscribed(organization.pk, "invoice.issued")
    if not endpoints:
        return
    invoices = Invoice.objects.filter(organization=organization, pk__in=invoice_ids).order_by("pk")
    services.record_events(organization.pk, "invoice.issued",
                           [(f"invoice:{inv.pk}", invoice_data(inv)) for inv in invoices], endpoints=endpoints)


def on_invoice_paid(sender, invoice, **kwargs) -> None:
    if services.subscribed(invoice.organization_id, "invoice.paid"):
        services.record_event(invoice.organization_id, "invoice.paid",
                              f"invoice:{invoice.pk}:{invoice.paid_on}:{invoice.paid_minor}", invoice_data(invoice))


def on_payment_recorded(sender, payment, **kwargs) -> None:
    if not services.subscribed(payment.organization_id, "payment.recorded"):
        return
    cur = payment.currency
    data = {"object": "payment", "id": payment.pk, "customer_id": payment.customer_id,
            "amount": money(payment.amount_minor, cur), "method": payment.method,
            "received_on": _day(payment.received_on), "external_reference": payment.external_reference,
            "allocations": [{"invoice_id": a.invoice_id, "amount": money(a.amount_minor, cur)}
                            for a in payment.allocations.order_by("pk")]}
    services.record_event(payment.organization_id, "payment.recorded", f"payment:{payment.pk}", data)


def on_match_undone(sender, match, organization, reason, payments=(), **kwargs) -> None:
    """``payment.reversed``: each payment a bank match had recorded, taken back when the match was undone (its
    allocations are off the invoices, which are open again; the payment no longer exists)."""
    if not payments or not services.subscribed(organization.pk, "payment.reversed"):
        return
    items = []
    for p in payments:
        cur = p["currency"]
        items.append((f"payment:{p['id']}:reversed", {
            "object": "payment", "id": p["id"], "customer_id": p["customer_id"],
            "amount": money(p["amount_minor"], cur), "method": p["method"], "received_on": _day(p["received_on"]),
            "external_reference": p["external_reference"],
            "allocations": [{"invoice_id": iid, "amount": money(amount, cur)} for iid, amount in p["allocations"]],
            "reversal": {"cause": "bank_match_undone", "bank_match_id": match.pk, "statement_line_id": match.line_id,
                         "reason": reason, "reversed_at": match.undone_at.isoformat() if match.undone_at else None}}))
    services.record_events(organization.pk, "payment.reversed", items)


def on_charge_failed(sender, attempt, action, decline=None, **kwargs) -> None:
    if action == "authenticate":  # the bank asks the customer to confirm: not a failure (yet)
        return
    if not services.subscribed(attempt.organization_id, "payment.failed"):
        return
    data = {"object": "charge_attempt", "id": attempt.pk, "invoice_id": attempt.invoice_id,
            "customer_id": attempt.invoice.customer_id, "amount": money(attempt.amount_minor, attempt.currency),
            "rail": "card", "attempt": attempt.attempt, "reason_code": attempt.decline_code,
            "next_retry_on": _day(attempt.next_retry_on), "action": action}
    services.record_event(attempt.organization_id, "payment.failed", f"charge:{attempt.pk}", data)


def on_debit_failed(sender, debit, debit_return, decision=None, **kwargs) -> None:
    if not services.subscribed(debit.organization_id, "payment.failed"):
        return
    data = {"object": "direct_debit", "id": debit.pk, "invoice_id": debit.invoice_id,
            "customer_id": debit.invoice.customer_id, "amount": money(debit.amount_minor, debit.currency),
            "rail": "sepa_debit", "attempt": debit.attempt, "reason_code": debit_return.reason_code,
            "returned_on": _day(debit_return.returned_on),
            "action": getattr(decision, "action", None) and str(getattr(decision.action, "value", decision.action))}
    services.record_event(debit.organization_id, "payment.failed", f"debit:{debit.pk}", data)


def on_reminder_sent(sender, reminder, **kwargs) -> None:
    if not services.subscribed(reminder.organization_id, "reminder.sent"):
        return
    data = {"object": "reminder", "id": reminder.pk, "customer_id": reminder.customer_id,
            "step": reminder.step_code, "channel": reminder.channel, "tone": reminder.tone,
            "invoice_ids": list(reminder.invoice_ids), "sent_at": reminder.sent_at.isoformat()}
    services.record_event(reminder.organization_id, "reminder.sent", f"reminder:{reminder.pk}", data)


def on_dispute_opened(sender, dispute, **kwargs) -> None:
    if not services.subscribed(dispute.organization_id, "dispute.opened"):
        return
    data = {"object": "dispute", "id": dispute.pk, "invoice_id": dispute.invoice_id,
            "customer_id": dispute.customer_id, "opened_by": dispute.opened_by,
            "opened_at": dispute.opened_at.isoformat(), "sla_due_on": _day(dispute.sla_due_on)}
    services.record_event(dispute.organization_id, "dispute.opened", f"dispute:{dispute.pk}", data)


def on_subscription_changed(sender, subscription, change, key, **kwargs) -> None:
    event_type = f"subscription.{change}"
    if services.subscribed(subscription.organization_id, event_type):
        services.record_event(subscription.organization_id, event_type, f"subscription:{subscription.pk}:{key}",
                              subscription_data(subscription))


RECEIVERS = [
    (invoices_issued, on_invoices_issued), (invoice_paid, on_invoice_paid),
    (payment_recorded, on_payment_recorded), (charge_failed, on_charge_failed), (debit_failed, on_debit_failed),
    (match_undone, on_match_undone),
    (reminder_sent, on_reminder_sent), (dispute_opened, on_dispute_opened),
    (subscription_changed, on_subscription_changed),
]


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"duly.api.webhooks.{receiver.__name__}")


# --- invoice.overdue ---------------------------------------------------------------------------------------------
def emit_overdue(now: datetime | None = None) -> int:
    """Record ``invoice.overdue`` for each open invoice whose due date passed (in its organization's time zone),
    once per invoice, for the organizations with an endpoint that receives it. Looks back to the day before the
    first such endpoint was made, and at most :data:`OVERDUE_LOOKBACK`. Returns how many events were recorded."""
    now = now or timezone.now()
    recorded = 0
    for org_id, endpoints in services.endpoints_by_org("invoice.overdue").items():
        org = Organization.objects.only("pk", "timezone").get(pk=org_id)
        tz = ZoneInfo(org.timezone)
        today = now.astimezone(tz).date()
        since = max(min(e.created_at for e in endpoints).astimezone(tz).date() - timedelta(days=1),
                    today - OVERDUE_LOOKBACK)
        invoices = Invoice.objects.filter(organization_id=org_id, status__in=Invoice.OPEN_STATUSES,
                                          due_date__lt=today, due_date__gte=since).order_by("pk")
        items = []
        for inv in invoices:
            data = invoice_data(inv)
            data["days_overdue"] = (today - inv.due_date).days
            items.append((f"invoice:{inv.pk}", data))
        recorded += len(services.record_overdue(org_id, items, now=now, endpoints=endpoints))
    return recorded
