"""What the self-service pages of the personal link show (read only): the history of invoices and payments, the
statement periods, an invoice's lines for a question, and the billing details a change request starts from.

Money and dates are formatted in the language the customer chose for the session (:func:`session_language`); the
page words are gettext strings of the templates (``portal/selfservice/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.translation import pgettext

from duly.customers.links import REFUSED
from duly.domain.errors import PayLinkRefused
from duly.invoicing.documents.i18n import localizer
from duly.invoicing.models import Invoice
from duly.messaging.attachments import RENDERERS
from duly.messaging.formatting import Formatter
from duly.payments.documents import method_label
from duly.payments.models import Payment

from .models import ChangeRequest
from .selfservice_services import LANGUAGES, Scope, invoices_in_scope, local_day, new_submission_key

#: Rows per page of the history.
PAGE_SIZE = 20
#: The language names offered, each in its own language.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "ru": "Русский", "es": "Español"}
#: How many month ends the statement offers besides today.
STATEMENT_MONTHS = 12


def session_key(scope: Scope) -> str:
    return _customer_key(scope.customer)


def _customer_key(customer) -> str:
    return f"duly-portal-language:{customer.organization_id}:{customer.pk}"


def chosen_language(session, customer) -> str | None:
    """The language chosen on the self-service pages for this customer's links in this session (None: none)."""
    chosen = session.get(_customer_key(customer)) if session is not None else None
    return chosen if chosen in LANGUAGES else None


def session_language(session, scope: Scope) -> str:
    """The language this link's session reads in: the one chosen on the page, else the customer's own."""
    chosen = chosen_language(session, scope.customer)
    if chosen:
        return chosen
    own = Formatter.for_locale(scope.customer.locale).language
    return own if own in LANGUAGES else "en"


@dataclass
class Nav:
    """The frame every self-service page shares: where its links go and the language switcher."""

    scope: Scope
    language: str
    here: str
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (id, href, label)
    #: The language form's one-time key (keeping the language for documents is one request however often sent).
    submission: str = field(default_factory=new_submission_key)

    @property
    def languages(self) -> list[tuple[str, str]]:
        return [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]


def nav(scope: Scope, language: str, here: str) -> Nav:
    base = scope.base
    links = [("nav-account", base, pgettext("portal", "Your account")),
             ("nav-history", f"{base}/history", pgettext("portal", "Invoices and payments"))]
    if scope.account:
        links += [("nav-statement", f"{base}/statement", pgettext("portal", "Statement of account")),
                  ("nav-details", f"{base}/details", pgettext("portal", "Billing details"))]
    return Nav(scope=scope, language=language, here=here, links=links)


def _status(invoice: Invoice) -> str:
    if invoice.status == Invoice.PAID:
        return pgettext("portal", "Paid")
    if invoice.status == Invoice.VOID:
        return pgettext("portal", "Cancelled")
    if invoice.status == Invoice.UNCOLLECTIBLE:
        return pgettext("portal", "Written off")
    if invoice.status == Invoice.PARTIALLY_PAID:
        return pgettext("portal", "Partly paid")
    return pgettext("portal", "Open")


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _paged(rows, number) -> Any:
    return Paginator(rows, PAGE_SIZE).get_page(_page_number(number))


#: The invoice columns the history shows (a row of the list, not the whole invoice).
HISTORY_COLUMNS = ("id", "number", "kind", "status", "issue_date", "due_date", "currency", "total_minor",
                   "prepaid_minor", "rounding_minor", "paid_minor")


#: The history counts a customer's invoices up to this many: beyond, the pager says "500+" pages (a count is
#: bounded work however large the account).
COUNT_CAP = 10_000


@dataclass(frozen=True)
class KeysetPaginator:
    num_pages: int
    #: What the pager shows as the number of pages ("500+" past :data:`COUNT_CAP`).
    label: str = ""


@dataclass(frozen=True)
class KeysetPage:
    """A page of the invoice history read by keyset (the rows after or before a cursor, on the index
    ``invoice_customer_issued``: customer, issue date and id, newest first), with what the pager shows: its number
    (carried by the links), the number of pages (the customer's invoices counted on that index), and the links."""

    object_list: list
    number: int
    paginator: KeysetPaginator
    has_next: bool
    has_previous: bool
    next_query: str
    previous_query: str

    def __iter__(self):
        return iter(self.object_list)


def _cursor(value) -> tuple[date, int] | None:
    """A history cursor ``YYYY-MM-DD.id`` (an invoice's issue date and id), or None when it is not one."""
    try:
        day, _, pk = str(value).partition(".")
        return date.fromisoformat(day), int(pk)
    except (TypeError, ValueError):
        return None


def _key(invoice) -> str:
    return f"{invoice.issue_date.isoformat()}.{invoice.pk}"


def invoice_history_page(qs, number=1, *, after=None, before=None) -> KeysetPage:
    """A page of ``qs`` (one customer's invoices) newest first. With a cursor (``after``: the page after the row it
    names; ``before``: the page before it) the page is the next rows on the index, whatever its depth; without one
    (a typed page number) it is read at its offset. The pages are counted from the customer's invoices only, at
    most :data:`COUNT_CAP` of them (beyond: "500+")."""
    total = qs.order_by()[:COUNT_CAP + 1].count()
    more = total > COUNT_CAP
    pages = max(1, -(-min(total, COUNT_CAP) // PAGE_SIZE))
    number = _page_number(number)
    rows_qs = qs.only(*HISTORY_COLUMNS)
    newest_first = ("-issue_date", "-pk")
    after_key, before_key = _cursor(after) if after else None, _cursor(before) if before else None
    if after_key is not None:
        day, pk = after_key
        found = list(rows_qs.filter(issue_date__lte=day).filter(Q(issue_date__lt=day) | Q(pk__lt=pk))
                     .order_by(*newest_first)[:PAGE_SIZE + 1])
        rows, has_next, has_previous = found[:PAGE_SIZE], len(found) > PAGE_SIZE, True
        number = max(number, 2)
    elif before_key is not None:
        day, pk = before_key
        found = list(rows_qs.filter(issue_date__gte=day).filter(Q(issue_date__gt=day) | Q(pk__gt=pk))
                     .order_by("issue_date", "pk")[:PAGE_SIZE + 1])
        rows, has_previous, has_next = found[:PAGE_SIZE][::-1], len(found) > PAGE_SIZE, True
        number = max(number, 2) if has_previous else 1
    else:
        number = min(number, pages)
        offset = (number - 1) * PAGE_SIZE
        rows = list(rows_qs.order_by(*newest_first)[offset:offset + PAGE_SIZE])
        has_next, has_previous = number < pages or more, number > 1
    shown = max(pages, number)
    return KeysetPage(
        rows, number, KeysetPaginator(shown, f"{shown}+" if more else ""), has_next and bool(rows),
        has_previous and bool(rows),
        f"invoices={number + 1}&invoices_after={_key(rows[-1])}" if rows else "",
        f"invoices={max(number - 1, 1)}&invoices_before={_key(rows[0])}" if rows else "")


def history(scope: Scope, language: str, *, invoice_page=1, payment_page=1, invoices_after=None,
            invoices_before=None) -> dict[str, Any]:
    """The customer's invoices (open and settled, newest first) and payments (newest first), each paginated, with
    what each payment paid and the downloads (an invoice's PDF, a payment's receipt) scoped by this link."""
    fmt = Formatter.for_locale(language)
    loc = localizer(language)
    base = scope.base
    invoices = invoice_history_page(invoices_in_scope(scope), invoice_page, after=invoices_after,
                                    before=invoices_before)
    invoice_rows = [{
        "id": inv.pk, "number": inv.number or "", "kind": inv.kind, "status": _status(inv), "code": inv.status,
        "issue_date": fmt.date(inv.issue_date), "due_date": fmt.date(inv.due_date),
        "amount": fmt.money(inv.payable_minor, inv.currency), "paid": fmt.money(inv.paid_minor, inv.currency),
        "open": fmt.money(inv.balance_minor if inv.status in Invoice.OPEN_STATUSES else 0, inv.currency),
        "pdf": f"{base}/invoices/{inv.pk}/pdf",
        "ask": f"{base}/invoices/{inv.pk}/ask" if inv.status != Invoice.VOID else "",
    } for inv in invoices.object_list]
    payments_qs = Payment.objects.filter(organization_id=scope.customer.organization_id, customer=scope.customer)
    if scope.only is not None:
        payments_qs = payments_qs.filter(allocations__invoice_id=scope.only).distinct()
    payments = _paged(payments_qs.order_by("-received_on", "-pk").prefetch_related("allocations__invoice"),
                      payment_page)
    payment_rows = []
    for pay in payments.object_list:
        paid = [a for a in pay.allocations.all() if scope.only is None or a.invoice_id == scope.only]
        payment_rows.append({
            "id": pay.pk, "date": fmt.date(pay.received_on), "amount": fmt.money(pay.amount_minor, pay.currency),
            "method": method_label(loc, pay.method),
            "invoices": [f"{a.invoice.number} ({fmt.money(a.amount_minor, a.invoice.currency)})" for a in paid],
            "receipt": f"{base}/payments/{pay.pk}/receipt",
        })
    return {"invoices": invoice_rows, "invoice_page": invoices, "payments": payment_rows,
            "payment_page": payments}


def scoped_payment(scope: Scope, payment_id) -> Payment:
    """A payment of the customer this link shows (for an invoice link: one that paid that invoice)."""
    try:
        pk = int(payment_id)
    except (TypeError, ValueError):
        raise PayLinkRefused(REFUSED) from None
    qs = Payment.objects.select_related("organization", "customer").filter(
        organization_id=scope.customer.organization_id, customer=scope.customer, pk=pk)
    if scope.only is not None:
        qs = qs.filter(allocations__invoice_id=scope.only)
    payment = qs.first()
    if payment is None:
        raise PayLinkRefused(REFUSED)
    return payment


def _month_end(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def statement_periods(today: date, language: str) -> list[tuple[str, str]]:
    """The dates a statement can be asked for: today and the last :data:`STATEMENT_MONTHS` month ends."""
    fmt = Formatter.for_locale(language)
    out = [(today.isoformat(), pgettext("portal", "Today, %(date)s") % {"date": fmt.date(today)})]
    end = today
    for _i in range(STATEMENT_MONTHS):
        end = _month_end(end)
        out.append((end.isoformat(), pgettext("portal", "End of %(month)s") % {"month": fmt.date(end, "MMMM y")}))
    return out


def statement_pdf(scope: Scope, as_of: str, today: date) -> tuple[bytes, date]:
    """The statement of account as of one of :func:`statement_periods` (rendered by insights' statement renderer,
    which it registers with messaging). Account links only."""
    if not scope.account:
        raise PayLinkRefused(REFUSED)
    allowed = {value for value, _label in statement_periods(today, "en")}
    if as_of not in allowed:
        raise PayLinkRefused(REFUSED)
    load = RENDERERS.get("statement_pdf")
    if load is None:
        raise PayLinkRefused(REFUSED)
    day = date.fromisoformat(as_of)
    return load()(scope.customer, as_of=day), day


def invoice_summary(invoice: Invoice, language: str) -> dict[str, Any]:
    """An invoice and its lines, for the question form."""
    fmt = Formatter.for_locale(language)
    return {"id": invoice.pk, "number": invoice.number or "", "issue_date": fmt.date(invoice.issue_date),
            "due_date": fmt.date(invoice.due_date), "amount": fmt.money(invoice.payable_minor, invoice.currency),
            "status": _status(invoice),
            "lines": [{"id": line.pk, "position": line.position, "description": line.description,
                       "amount": fmt.money(line.net_minor, invoice.currency)}
                      for line in invoice.lines.order_by("position", "pk")]}


def pending_requests(scope: Scope, language: str) -> list[dict[str, str]]:
    """The customer's change requests still waiting for staff (newest first), as the details page lists them."""
    fmt = Formatter.for_locale(language)
    rows = ChangeRequest.objects.filter(customer=scope.customer, status=ChangeRequest.PENDING).order_by(
        "-submitted_at", "-pk")
    return [{"date": fmt.date(local_day(scope, row.submitted_at)),
             "what": "; ".join(v for v in (row.contact_name, row.contact_email, row.po_number,
                                           LANGUAGE_NAMES.get(row.language, "")) if v)} for row in rows]
