"""The optional credit-bureau check of a new customer, beside the EU VIES one (:mod:`duly.insights.risk_vies`).

Off by default: while ``DULY_CREDIT_BUREAU_URL`` is empty :func:`bureau_checker` returns None and nothing leaves
the machine. Turned on, :class:`BureauChecker` speaks this JSON over HTTPS (any bureau can sit behind a small
proxy that translates its own API to it):

- request: ``POST DULY_CREDIT_BUREAU_URL`` with ``{"country": "FR", "vat_id": "FR40303265045", "company_id":
  "552100554", "name": "Acme SAS"}`` (empty strings for what Duly does not hold) and, when
  ``DULY_CREDIT_BUREAU_TOKEN`` is set, ``Authorization: Bearer <token>``;
- answer: HTTP 200 with ``{"score": 0-100, "rating": "B", "reference": "report-123"}``: ``score`` a whole number,
  higher is safer (required); ``rating`` and ``reference`` optional strings kept with the check.

Any failure (network, the timeout, an HTTP error, an answer that is not that JSON, a score out of range) is
:class:`~duly.domain.errors.RiskCheckError` with the code ``risk_check_unavailable``: the red-flag check goes on
without the bureau and keeps the reason with the assessment; it never guesses a score. The score becomes the
``bureau_low_score`` signal of :func:`duly.domain.risk.assess`. Tests fake the bureau on loopback only.
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


@dataclass(frozen=True)
class BureauAnswer:
    score: int
    rating: str = ""
    reference: str = ""

    def as_dict(self) -> dict:
        return {"service": "credit_bureau", "score": self.score, "rating": self.rating, "reference": self.reference}


class CreditBureau(Protocol):
    def check(self, *, country: str, vat_id: str, company_id: str, name: str) -> BureauAnswer: ...


def _unavailable(message: str) -> RiskCheckError:
    return RiskCheckError(message, code="risk_check_unavailable")


class BureauChecker:
    def __init__(self, url: str, token: str = "") -> None:
        self.url = url
        self.token = token
        self.http = urllib3.PoolManager(timeout=TIMEOUT, retries=False)

    def check(self, *, country: str, vat_id: str, company_id: str, name: str) -> BureauAnswer:
        body = json.dumps({"country": country, "vat_id": vat_id, "company_id": company_id, "name": name}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.http.request("POST", self.url, body=body, redirect=False, preload_content=False,
                                         headers=headers)
            try:
                raw = response.read(MAX_ANSWER)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise _unavailable(f"The credit bureau did not answer ({type(exc).__name__}).") from None
        if response.status != 200:
            raise _unavailable(f"The credit bureau answered HTTP {response.status}.")
        try:
            data = json.loads(raw)
            score = data["score"]
        except (ValueError, KeyError, TypeError):
            raise _unavailable("The credit bureau's answer could not be read.") from None
        if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
            raise _unavailable("The credit bureau's score is not a whole number from 0 to 100.")
        text = {k: data.get(k) if isinstance(data.get(k), str) else "" for k in ("rating", "reference")}
        return BureauAnswer(score=score, rating=text["rating"][:20], reference=text["reference"][:100])


def bureau_checker() -> CreditBureau | None:
    """The bureau when ``DULY_CREDIT_BUREAU_URL`` is set, else None (nothing is called)."""
    url = getattr(settings, "DULY_CREDIT_BUREAU_URL", "")
    if not url:
        return None
    return BureauChecker(url, getattr(settings, "DULY_CREDIT_BUREAU_TOKEN", ""))
