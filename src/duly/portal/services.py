"""What a personal pay/view link shows (``/p/<token>``): read-only, one customer of one organization.

The link is signed (:mod:`duly.customers.links`), so it opens exactly the account (or the one
invoice) it was made for, and only while it is valid: the customer's current key version, an account
link younger than its limit, an invoice that is open or closed for less than 120 days (docs/pay-links.md). The page lists what is open with the exact due dates, how to pay each
item by bank transfer (IBAN, BIC and the invoice's RF reference) and a download of each invoice's
stored PDF. Late-payment interest accrued to today and not invoiced yet is shown beside each overdue
invoice and in total, never added to what is due (:mod:`duly.collections.interest`). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import npgettext, override, pgettext_lazy

from duly.customers.links import (
    INVOICE_LINK_DAYS_AFTER_CLOSED,
    REFUSED,
    LinkTarget,
    account_link_days,
    pay_url,
    read_token,
)
from duly.customers.models import Customer
from duly.domain.errors import PayLinkRefused
from duly.domain.references import format_rf
from duly.invoicing.models import Invoice
from duly.messaging.formatting import DEFAULT_LANGUAGE, LANGUAGES, Formatter
from duly.messaging.labels import labels

#: The page's own words (the shared message labels give the rest): English message ids, context ``portal``,
#: translated in duly/portal/locale.
PAGE_WORDS = {
    "title": pgettext_lazy("portal", "Your account with {org}"),
    "invoice_title": pgettext_lazy("portal", "Invoice {number} from {org}"),
    "nothing_open": pgettext_lazy("portal", "Nothing is open on your account. Thank you!"),
    "download": pgettext_lazy("portal", "Download the PDF"),
    "how_to_pay": pgettext_lazy("portal", "How to pay"),
    "transfer": pgettext_lazy("portal", 
        "By bank transfer to IBAN {iban} (BIC {bic}), quoting the reference of each invoice."),
    "questions": pgettext_lazy("portal", "Questions? Write to {email}."),
    "status_paid": pgettext_lazy("portal", "Paid"),
    "status_void": pgettext_lazy("portal", "Void"),
    "interest": pgettext_lazy("portal", "Late-payment interest accrued to {date}, not yet invoiced: {amount}"),
    "interest_total": pgettext_lazy("portal", "Interest accrued, not yet invoiced"),
    "pay_now": pgettext_lazy("portal", "Pay now"),
    "methods": pgettext_lazy("portal", "How you pay future invoices"),
    "autopay_required": pgettext_lazy("portal",
        "Your contract asks you to pay by automatic payment: please save a card or sign a SEPA direct debit "
        "mandate."),
}


#: The page every refused link shows (it knows no customer: in the language the browser asks for).
REFUSED_WORDS = {
    "title": pgettext_lazy("portal", "Link not valid"),
    "heading": pgettext_lazy("portal", "This link cannot be opened"),
    "message": pgettext_lazy("portal", "This link is not valid or has expired."),
    "hint": pgettext_lazy("portal", "Please use the link in the latest e-mail you received, or reply to that e-mail."),
}


def refused_words(language: str) -> dict[str, str]:
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return {key: str(text) for key, text in REFUSED_WORDS.items()}


def page_words(language: str) -> dict[str, str]:
    """The page's words in ``language``."""
    with override(language):
        return {key: str(text) for key, text in PAGE_WORDS.items()}


def overdue_text(language: str, days: int) -> str:
    """``3 days overdue`` in ``language``, with its plural form."""
    with override(language):
        return npgettext("portal", "{days} day overdue", "{days} days overdue", days).format(days=days)


@dataclass(frozen=True)
class PayPage:
    language: str
    title: str
    words: dict[str, str]
    t: dict[str, str]
    org: Any
    customer: Customer
    invoices: list[dict[str, Any]]
    totals: list[str]
    #: Late-payment interest accrued to today and not invoiced, per currency (never added to the totals).
    interest: list[str]
    transfer: str
    questions: str
    #: The pay-now page of this link (empty when nothing is open) and its label.
    pay_now: str = ""
    pay_now_label: str = ""
    #: The page where the customer sets up how future invoices are paid (account links only).
    methods: str = ""
    methods_label: str = ""
    #: Said while the customer's contract requires autopay and no card or mandate is set up yet.
    autopay_required: str = ""


def autopay_missing(customer: Customer, today) -> bool:
    """The customer's contract requires autopay (a red-flag check's recommendation, issue 17) and neither a
    default saved method nor a live recurrent SEPA mandate is set up."""
    from duly.customers.services import current_contract
    from duly.payments.models import Mandate, SavedPaymentMethod

    contract = current_contract(customer, today)
    if contract is None or not contract.require_autopay:
        return False
    if SavedPaymentMethod.objects.filter(customer=customer, is_default=True, removed_at__isnull=True).exists():
        return False
    return not Mandate.objects.filter(customer=customer, kind=Mandate.RECURRENT, revoked_at__isnull=True).exists()


def _local_day(customer: Customer, now: datetime):
    """The customer's local date at ``now``."""
    try:
        zone = ZoneInfo(customer.timezone or "UTC")
    except (ValueError, KeyError):  # a time zone the system no longer knows: UTC
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def _closed_on(invoice: Invoice, zone_of: Customer):
    """The day an invoice stopped being open: paid (its last payment's date), voided or written off."""
    if invoice.status == Invoice.PAID:
        return invoice.paid_on or invoice.issue_date
    if invoice.voided_at is not None:
        return _local_day(zone_of, invoice.voided_at)
    return invoice.issue_date


def resolve(token: str, *, now: datetime) -> tuple[LinkTarget, Customer]:
    """The customer (and invoice, if any) a link opens at ``now``.

    Refused with :class:`PayLinkRefused` (always the same message) when the token is forged or malformed,
    names an account that does not exist, carries an older key version than the customer's (revoked),
    or is an account link older than :func:`account_link_days`.
    """
    target = read_token(token)
    customer = (Customer.objects.select_related("organization")
                .filter(pk=target.customer_id, organization_id=target.organization_id).first())
    if customer is None or target.version != customer.pay_link_version:
        raise PayLinkRefused(REFUSED)
    if target.invoice_id is None:
        today = _local_day(customer, now)
        # made at most a day ahead (time zones), and no more than account_link_days() ago
        if not (-1 <= (today - target.made_on).days <= account_link_days()):
            raise PayLinkRefused(REFUSED)
    return target, customer


def link_invoice(target: LinkTarget, customer: Customer, *, now: datetime) -> Invoice:
    """The issued invoice a one-invoice link opens: while it is open, and for
    :data:`INVOICE_LINK_DAYS_AFTER_CLOSED` days after it was paid, voided or written off."""
    invoice = (Invoice.objects.filter(pk=target.invoice_id, customer=customer, organization_id=customer.organization_id)
               .exclude(status=Invoice.DRAFT).first()) if target.invoice_id else None
    if invoice is None:
        raise PayLinkRefused(REFUSED)
    if invoice.status not in Invoice.OPEN_STATUSES:
        closed = _closed_on(invoice, customer)
        if closed is None or (_local_day(customer, now) - closed).days > INVOICE_LINK_DAYS_AFTER_CLOSED:
            raise PayLinkRefused(REFUSED)
    return invoice


#: The message label naming each kind of invoice.
_KIND_LABELS = {Invoice.KIND_STANDARD: "invoice", Invoice.KIND_DEPOSIT: "deposit_invoice",
                Invoice.KIND_CREDIT_NOTE: "credit_note", Invoice.KIND_LATE_FEE: "late_fee_invoice"}


def _kind(invoice: Invoice, language: str) -> str:
    """What kind of invoice it is, in ``language``."""
    key = _KIND_LABELS.get(invoice.kind)
    return labels(language)[key] if key else invoice.get_kind_display()


def pay_page(token: str, *, now: datetime,
             choose_language: Callable[[Customer], str | None] | None = None) -> PayPage:
    """What ``/p/<token>`` shows at ``now`` (days overdue counted on the customer's local date), in the language
    ``choose_language`` picks for the link's customer (the one chosen on the self-service pages), else in the
    customer's own locale."""
    target, customer = resolve(token, now=now)
    today = _local_day(customer, now)
    org = customer.organization
    fmt = Formatter.for_locale(customer.locale)
    chosen = choose_language(customer) if choose_language is not None else None
    if chosen in LANGUAGES and chosen != fmt.language:
        fmt = Formatter.for_locale(chosen)
    words = page_words(fmt.language)
    if target.invoice_id:
        rows = [link_invoice(target, customer, now=now)]
        title = words["invoice_title"].format(number=rows[0].number, org=org.trading_name or org.name)
    else:
        rows = list(Invoice.objects.filter(organization=org, customer=customer, status__in=Invoice.OPEN_STATUSES)
                    .order_by("due_date", "pk"))
        title = words["title"].format(org=org.trading_name or org.name)
    from duly.collections.interest import accrued_interest, may_accrue, totals

    accrued = accrued_interest(org.pk, [inv.pk for inv in rows if inv.status in Invoice.OPEN_STATUSES
                                        and may_accrue(inv, today)], today)
    invoices, per_currency = [], {}
    for inv in rows:
        balance = inv.balance_minor if inv.status in Invoice.OPEN_STATUSES else 0
        if inv.status in Invoice.OPEN_STATUSES and not inv.is_credit_note:
            per_currency[inv.currency] = per_currency.get(inv.currency, 0) + balance
        days = (today - inv.due_date).days if inv.due_date and balance > 0 else 0
        status = {Invoice.PAID: words["status_paid"], Invoice.VOID: words["status_void"]}.get(inv.status, "")
        invoices.append({
            "number": inv.number, "kind": _kind(inv, fmt.language), "issue_date": fmt.date(inv.issue_date),
            "due_date": fmt.date(inv.due_date) if inv.due_date else "", "total": fmt.money(inv.total_minor, inv.currency),
            "balance": fmt.money(balance, inv.currency), "status": status,
            "overdue": overdue_text(fmt.language, days) if days > 0 else "",
            "reference": format_rf(inv.rf_reference) if inv.rf_reference else inv.number,
            "pdf": pay_url(org.pk, customer.pk, inv.pk, version=customer.pay_link_version) + "/pdf",
            "interest": words["interest"].format(date=fmt.date(today), amount=fmt.money(
                accrued[inv.pk].amount, inv.currency)) if inv.pk in accrued else "",
        })
    transfer = words["transfer"].format(iban=org.iban, bic=org.bic or "—") if org.iban else ""
    return PayPage(
        language=fmt.language, title=title, words=words, t=dict(labels(fmt.language)), org=org, customer=customer,
        invoices=invoices, totals=[fmt.money(v, cur) for cur, v in sorted(per_currency.items()) if v],
        interest=[fmt.money(v, cur) for cur, v in sorted(totals(accrued.values()).items())],
        transfer=transfer, questions=words["questions"].format(email=org.email) if org.email else "",
        pay_now=f"/p/{token}/pay" if any(v > 0 for v in per_currency.values()) else "", pay_now_label=words["pay_now"],
        methods="" if target.invoice_id else f"/p/{token}/methods",
        methods_label=words["methods"],
        autopay_required=words["autopay_required"] if autopay_missing(customer, today) else "",
    )
