"""The optional external check of a new customer's VAT number: the EU VIES service (REST API of the European
Commission), behind a small interface.

Off by default (``DULY_VIES_CHECK``): :func:`vies_checker` then returns None and nothing leaves the machine.
Turned on, :class:`ViesChecker` POSTs ``{"countryCode", "vatNumber"}`` to ``DULY_VIES_URL`` and reads ``valid``
(and the registered name). Any failure (network, timeout, an HTTP error, an answer that is not the expected JSON,
a member state's register being down) is :class:`~duly.domain.errors.RiskCheckError` with the code
``risk_check_unavailable``: the red-flag check then goes on without it and says so, it never guesses.
Tests fake the service at the HTTP boundary, on loopback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import urllib3
from django.conf import settings

from duly.domain.errors import RiskCheckError

TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)
MAX_ANSWER = 64 * 1024
#: VIES country codes of the EU member states (Greece is EL, Northern Ireland XI).
VIES_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI"
                           .split())


@dataclass(frozen=True)
class VatAnswer:
    country: str
    number: str
    valid: bool
    name: str = ""

    def as_dict(self) -> dict:
        return {"service": "vies", "country": self.country, "number": self.number, "valid": self.valid,
                "name": self.name}


class VatChecker(Protocol):
    def check(self, country: str, number: str) -> VatAnswer: ...


def split_vat(vat_id: str) -> tuple[str, str] | None:
    """(VIES country code, number) of a VAT id written with its prefix (``FR40303265045``); None outside the EU."""
    compact = "".join(ch for ch in vat_id.upper() if ch.isalnum())
    prefix = "EL" if compact[:2] == "GR" else compact[:2]
    return (prefix, compact[2:]) if prefix in VIES_COUNTRIES and len(compact) > 2 else None


class ViesChecker:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = urllib3.PoolManager(timeout=TIMEOUT, retries=False)

    def check(self, country: str, number: str) -> VatAnswer:
        body = json.dumps({"countryCode": country, "vatNumber": number}).encode()
        try:
            response = self.http.request("POST", self.url, body=body, redirect=False, preload_content=False,
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
            try:
                raw = response.read(MAX_ANSWER)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise RiskCheckError(f"The EU VIES service did not answer ({type(exc).__name__}).",
                                 code="risk_check_unavailable") from None
        if response.status != 200:
            raise RiskCheckError(f"The EU VIES service answered HTTP {response.status}.",
                                 code="risk_check_unavailable")
        try:
            data = json.loads(raw)
            valid = data["valid"]
        except (ValueError, KeyError, TypeError):
            raise RiskCheckError("The EU VIES service's answer could not be read.",
                                 code="risk_check_unavailable") from None
        if not isinstance(valid, bool):
            raise RiskCheckError("The EU VIES service's answer could not be read.", code="risk_check_unavailable")
        if data.get("userError") not in (None, "", "VALID", "INVALID"):
            raise RiskCheckError(f"The EU VIES service could not check the number ({data['userError']}).",
                                 code="risk_check_unavailable")
        name = data.get("name") if isinstance(data.get("name"), str) else ""
        return VatAnswer(country=country, number=number, valid=valid, name="" if name == "---" else name)


def vies_checker() -> VatChecker | None:
    """The VIES checker when ``DULY_VIES_CHECK`` is on, else None (nothing is called)."""
    if not getattr(settings, "DULY_VIES_CHECK", False):
        return None
    return ViesChecker(settings.DULY_VIES_URL)
