"""Personal pay/view links: ``{DULY_PUBLIC_URL}/p/{token}``. The format is stable.

The token is signed with Django's signing framework (HMAC of ``SECRET_KEY`` with a dedicated
salt), so it cannot be forged or altered, and it is deterministic: the same customer and invoice
always get the same link (a message rendered twice carries the same URL). It carries only ids:
``{"o": organization, "c": customer}`` plus ``"i": invoice`` for a link to one invoice.

``/p/<token>`` (:mod:`duly.portal`) resolves a token with :func:`read_token` and shows that account's open
invoices (or the one invoice) with how to pay them and each invoice's PDF.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from duly.domain.errors import ForgedRequest

SALT = "duly.pay-link.v1"


@dataclass(frozen=True)
class LinkTarget:
    organization_id: int
    customer_id: int
    invoice_id: int | None = None


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def make_token(organization_id: int, customer_id: int, invoice_id: int | None = None) -> str:
    payload: dict[str, int] = {"o": organization_id, "c": customer_id}
    if invoice_id is not None:
        payload["i"] = invoice_id
    return _signer().sign_object(payload, compress=False)


def pay_url(organization_id: int, customer_id: int, invoice_id: int | None = None) -> str:
    """The personal link for a customer's account, or for one of their invoices."""
    base = settings.DULY_PUBLIC_URL.rstrip("/")
    return f"{base}/p/{make_token(organization_id, customer_id, invoice_id)}"


def read_token(token: str) -> LinkTarget:
    """Verify a token; a forged or altered one raises :class:`ForgedRequest`."""
    try:
        data = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise ForgedRequest("This link is not valid (it was altered or forged).") from None
    return LinkTarget(organization_id=int(data["o"]), customer_id=int(data["c"]),
                      invoice_id=int(data["i"]) if "i" in data else None)
