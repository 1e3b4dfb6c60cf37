"""Building blocks of a message context: plain dicts of already-formatted strings.

Templates only print; every amount and date is formatted here, once, in the reader's locale (see
:mod:`duly.messaging.formatting`). The keys each kind of message gets are listed in
:data:`duly.messaging.rendering.COMMON_KEYS` and :data:`~duly.messaging.rendering.CATEGORY_KEYS`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.translation import ngettext, override, pgettext

from .formatting import DEFAULT_LANGUAGE, LANGUAGES, Formatter
from .labels import labels
from .links import pay_url


def org_view(org) -> dict[str, Any]:
    """The seller as templates see it (name, contact details, bank details, brand colour)."""
    return {
        "name": org.trading_name or org.name,
        "email": org.email or "",
        "phone": org.phone or "",
        "website": org.website or "",
        "iban": org.iban or "",
        "bic": org.bic or "",
        "brand_color": org.brand_color or "#1F4E79",
        "address": ", ".join(org.address_lines),
    }


def base_context(*, category: str, fmt: Formatter, org: dict[str, Any], org_id: int, customer_id: int,
                 customer_name: str, customer_code: str, contact_name: str, contact_email: str, currency: str,
                 today: date, link_version: int | None = None) -> dict[str, Any]:
    """The keys every message has; the caller adds the keys of its category.

    ``pay_link`` is an account link made ``today`` (it expires, see :mod:`duly.messaging.links`);
    ``link_version`` is the customer's pay link key version (read from the database when not given)."""
    return {
        "category": category,
        "language": fmt.language,
        "org": org,
        "customer": {"name": customer_name, "code": customer_code},
        "contact": {"name": contact_name, "email": contact_email,
                    "salutation": salutation(fmt.language, contact_name)},
        "today": fmt.date(today),
        "pay_link": pay_url(org_id, customer_id, version=link_version, made_on=today),
        "currency": currency,
        "t": labels(fmt.language),
    }


def salutation(language: str, name: str) -> str:
    """How a message opens in ``language``: addressed to the contact by name ("Bonjour Julien Moreau,", "Guten Tag
    Julien Moreau,"), or, when no name is known, the formal opening for an unknown reader ("Madame, Monsieur,",
    "Sehr geehrte Damen und Herren,"): never the two together."""
    name = (name or "").strip()
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        if name:
            return pgettext("salutation", "Dear {name},").format(name=name)
        return pgettext("salutation", "Dear Sir or Madam,")


def within_days(language: str, days: int) -> str:
    """``within 14 days`` in ``language``, with the plural form of ``days``."""
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return ngettext("within {days} day", "within {days} days", days).format(days=days)


def period_text(fmt: Formatter, start: date | None, end: date | None) -> str:
    if start is None:
        return ""
    if end is None or end == start:
        return fmt.date(start, "medium")
    return f"{fmt.date(start, 'medium')} – {fmt.date(end, 'medium')}"


def invoice_view(fmt: Formatter, *, org_id: int, customer_id: int, invoice_id: int, number: str, currency: str,
                 issue_date: date | None, due_date: date | None, service_date: date | None, total_minor: int,
                 balance_minor: int, today: date, period: str = "", link_version: int | None = None,
                 interest: str = "", payment_failure: str = "", pay_sentence: str = "") -> dict[str, Any]:
    """One invoice line of a message: number, dates, amounts, days overdue and its personal link.

    ``interest``: late-payment interest accrued on it up to today and not invoiced yet (formatted; "" for
    none), shown beside the balance, never added to it. ``payment_failure``: why its automatic payment failed for
    good, in the message's language ("" for none), which a reminder shows under it. ``pay_sentence``: how it will
    be taken without the customer doing anything, as its documents state it ("... will be charged to Visa ••••
    4242 on 15 July"; "" when the customer pays it themselves)."""
    days = (today - due_date).days if due_date else 0
    return {
        "id": invoice_id,
        "number": number,
        "issue_date": fmt.date(issue_date),
        "due_date": fmt.date(due_date),
        "service_date": fmt.date(service_date),
        "total": fmt.money(total_minor, currency),
        "balance": fmt.money(balance_minor, currency),
        "days_overdue": max(days, 0),
        "days_to_due": max(-days, 0),
        "period": period,
        "interest": interest,
        "payment_failure": payment_failure,
        "pay_sentence": pay_sentence,
        "link": pay_url(org_id, customer_id, invoice_id, version=link_version),
    }
