"""What a personal pay/view link shows (``/p/<token>``): read-only, one customer of one organization.

The link is signed (:mod:`duly.customers.links`), so it opens exactly the account (or the one
invoice) it was made for, and only while it is valid: the customer's current key version, an account
link younger than its limit, an invoice that is open or closed for less than 120 days (docs/pay-links.md). The page lists what is open with the exact due dates, how to pay each
item by bank transfer (IBAN, BIC and the invoice's RF reference) and a download of each invoice's
stored PDF. Late-payment interest accrued to today and not invoiced yet is shown beside each overdue
invoice and in total, never added to what is due (:mod:`duly.collections.interest`). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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
from duly.messaging.formatting import Formatter
from duly.messaging.labels import labels

#: The page's own words, per language (the shared message labels give the rest).
PAGE_WORDS: dict[str, dict[str, str]] = {
    "en": {"title": "Your account with {org}", "invoice_title": "Invoice {number} from {org}",
           "nothing_open": "Nothing is open on your account. Thank you!", "download": "Download the PDF",
           "how_to_pay": "How to pay", "transfer": "By bank transfer to IBAN {iban} (BIC {bic}), quoting the "
           "reference of each invoice.", "questions": "Questions? Write to {email}.", "status_paid": "Paid",
           "status_void": "Void", "overdue": "{days} days overdue",
           "interest": "Late-payment interest accrued to {date}, not yet invoiced: {amount}",
           "interest_total": "Interest accrued, not yet invoiced"},
    "fr": {"title": "Votre compte chez {org}", "invoice_title": "Facture {number} de {org}",
           "nothing_open": "Rien n'est en attente sur votre compte. Merci\u00a0!", "download": "Télécharger le PDF",
           "how_to_pay": "Comment payer", "transfer": "Par virement sur l'IBAN {iban} (BIC {bic}), en indiquant "
           "la référence de chaque facture.", "questions": "Une question\u00a0? Écrivez à {email}.",
           "status_paid": "Payée", "status_void": "Annulée", "overdue": "{days} jours de retard",
           "interest": "Intérêts de retard courus au {date}, non encore facturés\u00a0: {amount}",
           "interest_total": "Intérêts courus, non encore facturés"},
    "de": {"title": "Ihr Kundenkonto bei {org}", "invoice_title": "Rechnung {number} von {org}",
           "nothing_open": "Auf Ihrem Konto ist nichts offen. Vielen Dank!", "download": "PDF herunterladen",
           "how_to_pay": "So bezahlen Sie", "transfer": "Per Überweisung auf IBAN {iban} (BIC {bic}) mit dem "
           "Verwendungszweck der jeweiligen Rechnung.", "questions": "Fragen? Schreiben Sie an {email}.",
           "status_paid": "Bezahlt", "status_void": "Storniert", "overdue": "{days} Tage überfällig",
           "interest": "Bis {date} aufgelaufene, noch nicht berechnete Verzugszinsen: {amount}",
           "interest_total": "Aufgelaufene Zinsen, noch nicht berechnet"},
    "ru": {"title": "Ваш счёт в {org}", "invoice_title": "Счёт {number} от {org}",
           "nothing_open": "На вашем счёте нет неоплаченных документов. Спасибо!", "download": "Скачать PDF",
           "how_to_pay": "Как оплатить", "transfer": "Банковским переводом на IBAN {iban} (BIC {bic}) с указанием "
           "назначения платежа каждого счёта.", "questions": "Вопросы? Пишите на {email}.",
           "status_paid": "Оплачен", "status_void": "Аннулирован", "overdue": "просрочено дней: {days}",
           "interest": "Пени за просрочку на {date}, ещё не выставленные: {amount}",
           "interest_total": "Начисленные пени, ещё не выставленные"},
    "es": {"title": "Su cuenta con {org}", "invoice_title": "Factura {number} de {org}",
           "nothing_open": "No tiene nada pendiente. ¡Gracias!", "download": "Descargar el PDF",
           "how_to_pay": "Cómo pagar", "transfer": "Por transferencia al IBAN {iban} (BIC {bic}), indicando la "
           "referencia de cada factura.", "questions": "¿Preguntas? Escriba a {email}.",
           "status_paid": "Pagada", "status_void": "Anulada", "overdue": "{days} días de retraso",
           "interest": "Intereses de demora devengados al {date}, aún no facturados: {amount}",
           "interest_total": "Intereses devengados, aún no facturados"},
}


#: The button to the pay-now page (``/p/<token>/pay``), per language.
PAY_NOW = {"en": "Pay now", "fr": "Payer maintenant", "de": "Jetzt bezahlen", "ru": "Оплатить сейчас",
           "es": "Pagar ahora"}
#: The link to ``/p/<token>/methods`` (how future invoices are paid), per language.
METHODS = {"en": "How you pay future invoices", "fr": "Comment vous réglez vos prochaines factures",
           "de": "Wie Sie künftige Rechnungen bezahlen", "ru": "Как вы оплачиваете будущие счета",
           "es": "Cómo paga sus próximas facturas"}


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


def pay_page(token: str, *, now: datetime) -> PayPage:
    """What ``/p/<token>`` shows at ``now`` (days overdue counted on the customer's local date)."""
    target, customer = resolve(token, now=now)
    today = _local_day(customer, now)
    org = customer.organization
    fmt = Formatter.for_locale(customer.locale)
    words = PAGE_WORDS.get(fmt.language, PAGE_WORDS["en"])
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
            "number": inv.number, "kind": inv.get_kind_display(), "issue_date": fmt.date(inv.issue_date),
            "due_date": fmt.date(inv.due_date) if inv.due_date else "", "total": fmt.money(inv.total_minor, inv.currency),
            "balance": fmt.money(balance, inv.currency), "status": status,
            "overdue": words["overdue"].format(days=days) if days > 0 else "",
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
        pay_now=f"/p/{token}/pay" if any(v > 0 for v in per_currency.values()) else "", pay_now_label=PAY_NOW.get(fmt.language, PAY_NOW["en"]),
        methods="" if target.invoice_id else f"/p/{token}/methods",
        methods_label=METHODS.get(fmt.language, METHODS["en"]),
    )
