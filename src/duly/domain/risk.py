"""Red flags of a new customer (onboarding), a score, and the recommended terms: each flag explained in words.

Pure: stdlib only, no clock, no I/O. The caller gathers the facts Duly holds in an :class:`OnboardingSnapshot`
(identifier checks are done at the edge with python-stdnum, and optionally the EU VIES service, and handed
in as booleans; an optional credit bureau's score is handed in as a number) and :func:`assess` returns an
:class:`Assessment`:

- ``flags``: each with a stable ``code`` (see :data:`FLAG_CODES`), its points, the words staff read and the
  evidence (the facts that raised it);
- ``score`` (0-100, the points added and capped) and ``level`` (``low``, ``medium``, ``high``);
- ``recommendation``: a deposit percentage, shorter terms, autopay or direct debit required, a credit limit.

Only the customer's history with *this* organization counts (:class:`OwnHistory`): the caller never passes
another organization's data. Same snapshot, same result: there is no hidden date, ``as_of`` is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal

from .errors import RiskCheckError
from .money import ZERO, check_currency, round_money, to_decimal

__all__ = ["OwnHistory", "OnboardingSnapshot", "Flag", "Recommendation", "Assessment", "assess", "FLAG_CODES",
           "FREE_MAIL_DOMAINS", "RISK_VERSION", "BUREAU_LOW", "email_domain"]

#: Version of these rules; stored with each assessment.
RISK_VERSION = "onboarding-risk-2"

#: Common free-mail providers: an invoice address there is not the company's own domain.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.fr", "yahoo.co.uk", "yahoo.de", "hotmail.com",
    "hotmail.fr", "hotmail.co.uk", "hotmail.de", "outlook.com", "outlook.fr", "live.com", "live.fr", "msn.com",
    "aol.com", "icloud.com", "me.com", "mac.com", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de",
    "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net", "libero.it", "virgilio.it", "proton.me",
    "protonmail.com", "mail.com", "yandex.com", "yandex.ru", "zoho.com", "btinternet.com", "seznam.cz", "wp.pl",
    "o2.pl", "interia.pl",
})

#: Autopay methods: the money is taken on the due date (a card or a direct debit).
AUTOPAY_METHODS = frozenset({"card", "sepa_debit", "ach_debit"})

#: Every flag code with its points (the score adds them, capped at 100).
FLAG_CODES: dict[str, int] = {
    "identifiers_missing": 20,
    "vat_invalid": 30,
    "vat_not_registered": 30,
    "company_id_invalid": 20,
    "free_mail_domain": 10,
    "vat_country_mismatch": 20,
    "terms_longer_than_usual": 10,
    "first_invoice_large": 15,
    "no_autopay": 5,
    "earlier_account_unpaid": 30,
    "earlier_disputes": 15,
    "earlier_late_payments": 20,
    "bureau_low_score": 25,
}

#: Score thresholds of the levels: below MEDIUM is low, from HIGH on is high.
MEDIUM, HIGH = 25, 50
#: A credit bureau's score (0-100, higher is safer) below this is a flag.
BUREAU_LOW = 40
#: A first invoice this many times the typical one is large.
LARGE_FACTOR = Decimal(3)
#: A late share (earlier invoices paid after their due date) from which the history counts against.
LATE_SHARE = Decimal("0.3")


@dataclass(frozen=True)
class OwnHistory:
    """The customer's own history with this organization (its earlier accounts count too: the same tax id)."""

    earlier_accounts: int = 0
    #: Earlier accounts closed (terminated) with money still owed.
    unpaid_closed_accounts: int = 0
    disputes: int = 0
    settled_invoices: int = 0
    late_invoices: int = 0


@dataclass(frozen=True)
class OnboardingSnapshot:
    """What Duly knows of a new customer (and its contract and first invoice) when it is created.

    ``vat_valid`` / ``company_id_valid``: the identifier's check digits and format for its country
    (``None``: no identifier given). ``vat_registered``: the VIES answer (``None``: not asked)."""

    customer: str
    country: str
    currency: str
    email: str = ""
    vat_id: str = ""
    vat_valid: bool | None = None
    vat_country: str | None = None
    vat_registered: bool | None = None
    company_id: str = ""
    company_id_valid: bool | None = None
    requested_terms_days: int | None = None
    usual_terms_days: int | None = None
    first_invoice_amount: Decimal | None = None
    typical_invoice_amount: Decimal | None = None
    payment_method: str = "bank_transfer"
    history: OwnHistory = field(default_factory=OwnHistory)
    #: The credit bureau's score of the company, 0-100, higher is safer (``None``: no bureau asked or it failed).
    bureau_score: int | None = None


@dataclass(frozen=True)
class Flag:
    code: str
    points: int
    words: str
    evidence: dict


@dataclass(frozen=True)
class Recommendation:
    """What to ask of the customer: ``deposit_percent`` of the first invoice (0: none), ``terms_days`` (``None``:
    keep the requested ones), autopay or direct debit required, and a credit limit (``None``: no figure to base
    it on)."""

    deposit_percent: Decimal
    terms_days: int | None
    require_autopay: bool
    credit_limit: Decimal | None
    currency: str
    words: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"deposit_percent": str(self.deposit_percent), "terms_days": self.terms_days,
                "require_autopay": self.require_autopay,
                "credit_limit": None if self.credit_limit is None else str(self.credit_limit),
                "currency": self.currency, "words": list(self.words)}


@dataclass(frozen=True)
class Assessment:
    score: int
    level: str
    flags: tuple[Flag, ...]
    recommendation: Recommendation
    as_of: date
    version: str = RISK_VERSION

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.flags)

    def as_dict(self) -> dict:
        return {"score": self.score, "level": self.level, "as_of": self.as_of.isoformat(), "version": self.version,
                "flags": [{"code": f.code, "points": f.points, "words": f.words, "evidence": f.evidence}
                          for f in self.flags],
                "recommendation": self.recommendation.as_dict()}


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower() if "@" in email else ""


def _flag(code: str, words: str, **evidence) -> Flag:
    return Flag(code=code, points=FLAG_CODES[code], words=words, evidence=evidence)


def _flags(s: OnboardingSnapshot) -> list[Flag]:
    flags = []
    if not s.vat_id and not s.company_id:
        flags.append(_flag("identifiers_missing", "No VAT or company identifier to check: ask for one."))
    if s.vat_id and s.vat_valid is False:
        flags.append(_flag("vat_invalid", f"The VAT number {s.vat_id} is not valid for its country.",
                           vat_id=s.vat_id))
    if s.vat_id and s.vat_valid and s.vat_registered is False:
        flags.append(_flag("vat_not_registered", f"The VAT number {s.vat_id} is not registered (EU VIES).",
                           vat_id=s.vat_id))
    if s.company_id and s.company_id_valid is False:
        flags.append(_flag("company_id_invalid", f"The company identifier {s.company_id} is not valid.",
                           company_id=s.company_id))
    domain = email_domain(s.email)
    if domain in FREE_MAIL_DOMAINS:
        flags.append(_flag("free_mail_domain", f"The billing e-mail is at a free-mail provider ({domain}), not "
                           "the company's own domain.", domain=domain))
    if s.vat_id and s.vat_valid and s.vat_country and s.country and s.vat_country.upper() != s.country.upper():
        flags.append(_flag("vat_country_mismatch", f"The billing address is in {s.country.upper()} but the VAT "
                           f"number is from {s.vat_country.upper()}.", address_country=s.country.upper(),
                           vat_country=s.vat_country.upper()))
    if (s.requested_terms_days is not None and s.usual_terms_days is not None
            and s.requested_terms_days > s.usual_terms_days):
        flags.append(_flag("terms_longer_than_usual", f"{s.requested_terms_days} days' terms requested; this "
                           f"organization usually gives {s.usual_terms_days}.", requested=s.requested_terms_days,
                           usual=s.usual_terms_days))
    if (s.first_invoice_amount is not None and s.typical_invoice_amount
            and s.first_invoice_amount >= s.typical_invoice_amount * LARGE_FACTOR):
        flags.append(_flag("first_invoice_large", f"The first invoice ({s.first_invoice_amount} {s.currency}) is "
                           f"{LARGE_FACTOR} times or more the typical one ({s.typical_invoice_amount} {s.currency}).",
                           first=str(s.first_invoice_amount), typical=str(s.typical_invoice_amount)))
    if s.payment_method not in AUTOPAY_METHODS:
        flags.append(_flag("no_autopay", "No automatic payment (card or direct debit): the customer must pay "
                           "each invoice themselves.", payment_method=s.payment_method))
    if s.bureau_score is not None and s.bureau_score < BUREAU_LOW:
        flags.append(_flag("bureau_low_score", f"The credit bureau scores this company {s.bureau_score} out of 100 "
                           f"(below {BUREAU_LOW}).", bureau_score=s.bureau_score))
    h = s.history
    if h.unpaid_closed_accounts:
        flags.append(_flag("earlier_account_unpaid", f"{h.unpaid_closed_accounts} earlier account(s) of this "
                           "customer were closed with money owed.", accounts=h.unpaid_closed_accounts))
    if h.disputes:
        flags.append(_flag("earlier_disputes", f"{h.disputes} earlier dispute(s) with this organization.",
                           disputes=h.disputes))
    if h.settled_invoices and Decimal(h.late_invoices) / Decimal(h.settled_invoices) >= LATE_SHARE:
        flags.append(_flag("earlier_late_payments", f"{h.late_invoices} of {h.settled_invoices} earlier invoices "
                           "were paid late.", late=h.late_invoices, settled=h.settled_invoices))
    return flags


def _check(s: OnboardingSnapshot) -> None:
    check_currency(s.currency)
    if not (s.vat_id or s.company_id or s.email):
        raise RiskCheckError(f"Customer {s.customer} has no VAT number, company identifier or e-mail: there is "
                             "nothing to check; add one.", code="risk_no_identifiers", customer=s.customer)
    score = s.bureau_score
    if score is not None and (not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100):
        raise RiskCheckError(f"A credit bureau score must be a whole number from 0 to 100, got {score!r}.",
                             code="risk_bad_input")
    for name in ("requested_terms_days", "usual_terms_days"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise RiskCheckError(f"{name} must be a number of days, got {value!r}.", code="risk_bad_input")


def _recommend(s: OnboardingSnapshot, score: int, codes: set[str]) -> Recommendation:
    words = []
    if score >= HIGH:
        deposit, terms, factor = Decimal(50), 7, Decimal("0.5")
    elif score >= MEDIUM:
        deposit, terms, factor = Decimal(25), 14, Decimal(1)
    else:
        deposit, terms, factor = ZERO, None, Decimal(3)
    if terms is not None and s.requested_terms_days is not None:
        terms = min(terms, s.requested_terms_days)
    if terms is None and "terms_longer_than_usual" in codes:
        terms = s.usual_terms_days
    require_autopay = score >= MEDIUM and s.payment_method not in AUTOPAY_METHODS
    base = s.typical_invoice_amount or s.first_invoice_amount
    limit = round_money(to_decimal(base) * factor, s.currency, ROUND_DOWN) if base else None
    if deposit:
        words.append(f"Ask for a deposit of {deposit}% of the first invoice.")
    if terms is not None:
        words.append(f"Give {terms} days' terms.")
    if require_autopay:
        words.append("Require automatic payment (card or direct debit).")
    if limit is not None:
        words.append(f"Keep the open balance under {limit} {s.currency}.")
    if not words:
        words.append("No special terms needed.")
    return Recommendation(deposit_percent=deposit, terms_days=terms, require_autopay=require_autopay,
                          credit_limit=limit, currency=s.currency, words=tuple(words))


def assess(snapshot: OnboardingSnapshot, *, as_of: date) -> Assessment:
    """The red flags of ``snapshot``, its score and level, and the recommended terms (see the module doc)."""
    _check(snapshot)
    flags = tuple(sorted(_flags(snapshot), key=lambda f: (-f.points, f.code)))
    score = min(100, sum(f.points for f in flags))
    level = "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"
    return Assessment(score=score, level=level, flags=flags, as_of=as_of,
                      recommendation=_recommend(snapshot, score, {f.code for f in flags}))
