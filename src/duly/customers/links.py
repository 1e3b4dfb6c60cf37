"""Personal pay/view links: ``{DULY_PUBLIC_URL}/p/{token}``. The format is stable.

The token is signed with Django's signing framework (HMAC of ``SECRET_KEY`` with a dedicated
salt), so it cannot be forged or altered. It carries only ids and two numbers that bound its life:

- an **invoice link** ``{"o": organization, "c": customer, "i": invoice, "v": key version}`` opens one
  invoice. It is deterministic (the PDF, every e-mail and the pay page give the same URL) and works
  while the invoice is open and for :data:`INVOICE_LINK_DAYS_AFTER_CLOSED` days after it is settled
  or voided;
- an **account link** ``{"o", "c", "v", "d": day it was made}`` opens the customer's open invoices.
  Every message carries one made on its day; it works for :func:`account_link_days` days
  (``DULY_ACCOUNT_LINK_DAYS``, default 180).

``v`` is the customer's key version (``Customer.pay_link_version``): rotating it
(:func:`duly.customers.services.rotate_pay_links`, the admin action, ``duly customers rotate-link``)
makes every link made before refuse to open. An invoice link without ``v`` was made before versions
existed and counts as version 1; an account link without ``d`` (made before account links expired)
no longer opens.

``/p/<token>`` (:mod:`duly.portal`) resolves a token with :func:`read_token` and decides whether it
still opens; a forged, malformed, expired, revoked or foreign link gets the same "not found" page.
See ``docs/pay-links.md``.

A link belongs to a customer (its key version is the customer's), so it is made here, below every app that
prints or sends one (invoicing's documents, messaging, collections, the portal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core import signing

from duly.domain.errors import PayLinkRefused, PublicUrlNotSet
from duly.security import public_url_problem

SALT = "duly.pay-link.v1"
#: An invoice link keeps working this many days after the invoice was paid, voided or written off.
INVOICE_LINK_DAYS_AFTER_CLOSED = 120
#: How long an account link works when ``DULY_ACCOUNT_LINK_DAYS`` is not set.
DEFAULT_ACCOUNT_LINK_DAYS = 180
#: The one message every refused link gets (forged, malformed, expired, revoked, another account's).
REFUSED = "This link is not valid or has expired."
_EPOCH = date(1970, 1, 1)
#: Largest id or day number a token may carry (what a 63-bit primary key holds).
_MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class LinkTarget:
    organization_id: int
    customer_id: int
    invoice_id: int | None = None
    version: int = 1
    made_on: date | None = None  # account links: the day the link was made


def account_link_days() -> int:
    """Days an account link works: ``settings.DULY_ACCOUNT_LINK_DAYS`` (from the environment variable of that
    name, checked when the settings load), else :data:`DEFAULT_ACCOUNT_LINK_DAYS`."""
    return int(getattr(settings, "DULY_ACCOUNT_LINK_DAYS", None) or DEFAULT_ACCOUNT_LINK_DAYS)


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def make_token(organization_id: int, customer_id: int, invoice_id: int | None = None, *, version: int = 1,
               made_on: date | None = None) -> str:
    """A signed token: an invoice link when ``invoice_id`` is given, else an account link made on ``made_on``."""
    payload: dict[str, int] = {"o": organization_id, "c": customer_id, "v": version}
    if invoice_id is not None:
        payload["i"] = invoice_id
    else:
        if made_on is None:
            raise ValueError("an account link needs the day it is made (made_on)")
        payload["d"] = (made_on - _EPOCH).days
    return _signer().sign_object(payload, compress=False)


def _current_version(customer_id: int) -> int:
    from .models import Customer

    found = Customer.objects.filter(pk=customer_id).values_list("pay_link_version", flat=True).first()
    return found or 1


def pay_url(organization_id: int, customer_id: int, invoice_id: int | None = None, *, version: int | None = None,
            made_on: date | None = None) -> str:
    """The personal link for a customer's account (made on ``made_on``), or for one of their invoices.

    ``version`` is the customer's ``pay_link_version`` (read from the database when not given).
    """
    if version is None:
        version = _current_version(customer_id)
    base = settings.DULY_PUBLIC_URL.rstrip("/")
    return f"{base}/p/{make_token(organization_id, customer_id, invoice_id, version=version, made_on=made_on)}"


def check_public_url() -> None:
    """Refuse (``public_url_not_set``) to freeze pay links into documents while ``DULY_PUBLIC_URL`` is unset or
    a loopback address: customers could never open them. The demo and the test suite allow loopback links
    explicitly (``DULY_ALLOW_LOOPBACK_LINKS``)."""
    if getattr(settings, "DULY_ALLOW_LOOPBACK_LINKS", False):
        return
    problem = public_url_problem(settings.DULY_PUBLIC_URL)
    if problem is not None:
        raise PublicUrlNotSet(f"DULY_PUBLIC_URL {problem}: set it to the public address customers open pay links "
                              "at (e.g. https://billing.example.com) before issuing, or documents would carry "
                              "links nobody can open.")


def _whole(data: dict, key: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_INT:  # noqa: E721 (bool is not a valid id)
        raise PayLinkRefused(REFUSED)
    return value


def read_token(token: str) -> LinkTarget:
    """Verify a token and read it; a forged, altered or malformed one raises :class:`PayLinkRefused`.

    Whether the link still opens (key version, expiry, the invoice's state) is decided by
    :mod:`duly.portal.services`, which reads the database.
    """
    if not isinstance(token, str) or len(token) > 512:
        raise PayLinkRefused(REFUSED)
    try:
        data = _signer().unsign_object(token)
    except Exception:  # any bad signature, encoding or JSON: the link was altered or forged
        raise PayLinkRefused(REFUSED) from None
    if not isinstance(data, dict) or not set(data) <= {"o", "c", "i", "v", "d"}:
        raise PayLinkRefused(REFUSED)
    organization_id, customer_id = _whole(data, "o"), _whole(data, "c")
    invoice_id, day = _whole(data, "i", required=False), _whole(data, "d", required=False)
    version = _whole(data, "v", required=False)
    version = 1 if version is None else version
    if (invoice_id is None) == (day is None):  # exactly one: an invoice, or the day an account link was made
        raise PayLinkRefused(REFUSED)
    made_on = None
    if day is not None:
        if day > (date.max - _EPOCH).days:
            raise PayLinkRefused(REFUSED)
        made_on = _EPOCH + timedelta(days=day)
    return LinkTarget(organization_id=organization_id, customer_id=customer_id, invoice_id=invoice_id,
                      version=version, made_on=made_on)
