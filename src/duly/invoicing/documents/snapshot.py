"""What an invoice's documents show about the parties, frozen when the invoice is issued.

An issued invoice's PDF and e-invoices are rendered later (on the first e-mail or export), and
the billing run issues thousands of invoices a second, far too many to render then. So at issue
only the *data* the documents show is frozen, as JSON on the invoice
(:attr:`~duly.invoicing.models.Invoice.document_snapshot`):

- the seller (BG-4): legal and trading name, address, VAT and registration ids, contact,
  electronic address, and what the page adds (website, bank account: IBAN, BIC, bank);
- the buyer (BG-7): name, address, tax id, customer code, the accounts-payable contact;
- the customer's preferred payment method and required fields, the contract reference;
- the amount already settled at issue (customer credit applied by the issue itself);
- how the invoice will actually be paid (``payment``: card autopay with the card and the charge date, SEPA
  direct debit with the mandate, creditor identifier, debited account and debit date, or bank transfer), as
  the payments app answers :data:`duly.invoicing.hooks.payment_instructions`; what the invoice stated then
  is what its documents and e-mail keep stating (an invoice frozen before this has none: a transfer);
- for a customer with a retainer in the invoice's currency, the retainer (prepaid) balance as of
  the issue date, not on credit notes (``retainer``: read from the ledger by
  :mod:`duly.billing.retainers`; the billing run freezes it once the run's drawdowns are written).

:func:`issue_snapshot` builds it from loaded objects without a query, so the bulk path builds
one per invoice at the cost of a small dict (:mod:`duly.invoicing.bulk` reads the block's
contacts in one query). :func:`facts_for` gives the renderers one :class:`DocumentFacts`:
the frozen values of an issued invoice, or the live ones of a draft, through the same code, so
a draft previews exactly what its issue will freeze.

The buyer's address
    The PDF's address block and the e-invoice's buyer postal address (BG-8) are one address:
    the invoice's specific billing address when it has one, else the customer's address. A
    billing address is free text, one item a line; its last line is read as "postcode town"
    when it starts with a postcode (``75001 Paris``, ``1012 AB Amsterdam``, ``EC2V 8AU London``),
    and the lines before it are the street lines (at most three: BT-50, BT-51, BT-163).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from duly.invoicing.einvoice.model import Party

__all__ = [
    "SNAPSHOT_VERSION",
    "DocumentFacts",
    "buyer_address",
    "facts_for",
    "issue_snapshot",
    "seller_snapshot",
]

SNAPSHOT_VERSION = 1

_PARTY_FIELDS = tuple(f.name for f in fields(Party))
#: "postcode town": a first token with a digit (``75001``, ``D-80331``, ``EC2V``), optionally a second short
#: upper-case token of the postcode (``AB`` of ``1012 AB``, ``8AU`` of ``EC2V 8AU``), then the town.
_POSTCODE_TOWN = re.compile(r"(?P<postcode>[A-Z0-9-]*\d[A-Z0-9-]*(?: [A-Z0-9]{2,3}(?= ))?) (?P<city>\S.*)")


def _party_dict(party: Party) -> dict[str, Any]:
    """A Party as compact JSON: empty fields left out, address lines as a list (no dataclasses.asdict:
    its deep copies cost more than the rest of a snapshot, and the bulk path builds thousands)."""
    data = {name: value for name in _PARTY_FIELDS if (value := getattr(party, name))}
    if "address_lines" in data:
        data["address_lines"] = list(data["address_lines"])
    return data


def _party(data: dict[str, Any]) -> Party:
    # The compact form leaves empty fields out, the name too (an imported payee may have none).
    return Party(**{"name": "", **{k: v for k, v in data.items() if k in _PARTY_FIELDS}})


def buyer_address(customer, billing_address: str = "") -> tuple[tuple[str, ...], str, str]:
    """(street lines, postcode, city) of the buyer: the specific billing address or the customer's."""
    text_lines = [" ".join(x.split()) for x in (billing_address or "").splitlines() if x.strip()]
    if not text_lines:
        lines = tuple(x for x in (customer.address_line1, customer.address_line2) if x and x.strip())
        return lines, customer.postcode or "", customer.city or ""
    postcode = city = ""
    match = _POSTCODE_TOWN.fullmatch(text_lines[-1]) if len(text_lines) > 1 else None
    if match and len(match.group("postcode").replace(" ", "")) >= 4:  # not a house number ("12 rue …")
        postcode, city = match.group("postcode"), match.group("city")
        text_lines = text_lines[:-1]
    if len(text_lines) > 3:  # EN 16931 has three street lines: the rest joins the third
        text_lines = [*text_lines[:2], ", ".join(text_lines[2:])]
    return tuple(text_lines), postcode, city


#: National company numbers whose ISO 6523 scheme (ICD) the seller's registration id (BT-30) states when it
#: has their form: Peppol rule NL-R-003 wants a Dutch supplier's KvK (0106) number with its scheme.
REGISTRATION_SCHEMES: dict[str, tuple[re.Pattern[str], str]] = {
    "NL": (re.compile(r"\d{8}"), "0106"),  # KvK number
    "FR": (re.compile(r"\d{9}"), "0002"),  # SIREN
    "BE": (re.compile(r"[01]\d{9}"), "0208"),  # enterprise number
    "NO": (re.compile(r"\d{9}"), "0192"),  # organisasjonsnummer
    "DK": (re.compile(r"\d{8}"), "0184"),  # CVR
    "SE": (re.compile(r"\d{10}"), "0007"),  # organisationsnummer
}


def french_siren(registration_id: str) -> str:
    """The SIREN in a French registration as people write it (``RCS Paris 303 265 045``, a SIRET
    ``303 265 045 00017``, ``303265045``), or "" when it holds no valid one (checked by python-stdnum)."""
    from stdnum.fr import siren, siret

    digits = re.sub(r"\D", "", registration_id)
    if len(digits) == 14 and siret.is_valid(digits):
        return digits[:9]
    return digits if len(digits) == 9 and siren.is_valid(digits) else ""


def _registration(country: str, registration_id: str) -> tuple[str, str]:
    """(BT-30, its scheme): compacted with the scheme when it has a known national form, else as entered.
    A French seller's BT-30 is its 9-digit SIREN with scheme 0002, wherever it is written in the id."""
    if country == "FR" and french_siren(registration_id):
        return french_siren(registration_id), "0002"
    rule = REGISTRATION_SCHEMES.get(country)
    compact = re.sub(r"[\s.-]", "", registration_id)
    if rule and rule[0].fullmatch(compact):
        return compact, rule[1]
    return registration_id, ""


def seller_identifier(org) -> tuple[str, str]:
    """The seller identifier (BT-29, with its ISO 6523 scheme) of a seller with neither a VAT id (BT-31) nor a
    registration id (BT-30): its electronic address when that is an ISO 6523 identifier (a GLN 0088, SIREN 0002,
    SIRET 0009, DUNS 0060, KvK 0106...; the 99xx schemes are VAT numbers, so not one of these), else none."""
    if org.vat_id.strip() or org.registration_id.strip():
        return "", ""
    scheme, address = org.electronic_address_scheme, org.electronic_address.strip()
    return (address, scheme) if address and scheme.startswith("0") else ("", "")


def check_seller_identified(org) -> None:
    """Refuse to issue for a seller that states a tax number that is not a VAT id (a German Steuernummer, BT-32) but
    none of the identifiers EN 16931 rule BR-CO-26 wants: a seller identifier (BT-29: :func:`seller_identifier`), a
    legal registration id (BT-30) or a VAT id (BT-31). Code ``seller_identifier_missing``, naming what to fill in.

    A seller that states no identifier at all is not refused here (a set-up not finished, PDF invoices only): its
    e-invoices are refused when they are rendered (BR-CO-26), and issuing to a customer with a Peppol address
    refuses it (``peppol_invalid``)."""
    from duly.domain.errors import SellerIdentifierMissing

    if (not org.tax_number.strip() or org.vat_id.strip() or org.registration_id.strip()
            or seller_identifier(org)[0]):
        return
    raise SellerIdentifierMissing(
        f"{org.name} states no identifier an e-invoice accepts (EN 16931 rule BR-CO-26: a seller identifier, a legal "
        f"registration id or a VAT id; the tax number {org.tax_number} is not one). Fill in the organization's "
        "registration id (e.g. the Handelsregister number, HRB 12345), its VAT id, or an electronic address with an "
        "ISO 6523 scheme (e.g. a GLN, 0088), then issue again. Nothing was issued.",
        organization=org.name, rule_ids=["BR-CO-26"])


def seller_snapshot(org) -> dict[str, Any]:
    """The seller as the documents show it: the e-invoice party and what only the page adds."""
    party = Party(
        name=org.name,
        country_code=org.country,
        trading_name=org.trading_name if org.trading_name and org.trading_name != org.name else "",
        vat_id=org.vat_id,
        tax_registration_id=org.tax_number,  # BT-32: a tax number that is not a VAT id (Steuernummer)
        legal_registration_id=_registration(org.country, org.registration_id)[0],
        legal_registration_scheme=_registration(org.country, org.registration_id)[1],
        identifier=seller_identifier(org)[0],  # BT-29 when neither BT-30 nor BT-31 identifies the seller
        identifier_scheme=seller_identifier(org)[1],
        address_lines=tuple(x for x in (org.address_line1, org.address_line2) if x),
        city=org.city,
        postcode=org.postcode,
        contact_name=org.trading_name or org.name,
        contact_phone=org.phone,
        contact_email=org.email,
        # the Peppol participant identifier (BT-34); the e-mail is only the contact
        electronic_address=org.electronic_address if org.electronic_address_scheme else "",
        electronic_address_scheme=org.electronic_address_scheme if org.electronic_address else "",
    )
    page = {"trading_name": org.trading_name, "website": org.website, "iban": org.iban, "bic": org.bic,
            "bank_name": org.bank_name, "legal_form": org.legal_form, "registry_city": org.registry_city,
            "supply_kind": org.supply_kind}
    if org.share_capital_minor is not None:  # the legal mentions' share capital, in the default currency
        page["share_capital"] = {"minor": org.share_capital_minor, "currency": org.default_currency}
    return {"party": _party_dict(party), **{k: v for k, v in page.items() if v}}


def _buyer_contact(customer, contacts: Iterable, ap_contact: str) -> tuple[str, str, str]:
    """(name, email, phone) of the person who receives the invoice: the AP contact first."""
    ordered = sorted(contacts, key=lambda c: (c.role != "accounts_payable", c.role != "billing", c.pk))
    contact = ordered[0] if ordered else None
    name = ap_contact or (contact.name if contact else "")
    email = (contact.email if contact else "") or customer.email
    phone = contact.phone if contact else ""
    return name, email, phone


def buyer_party(customer, contacts: Iterable, *, ap_contact: str = "", billing_address: str = "") -> Party:
    tax_id = customer.tax_id.strip()
    is_vat_id = len(tax_id) > 2 and tax_id[:2].isalpha() and tax_id[:2].isupper()
    name, email, phone = _buyer_contact(customer, contacts, ap_contact)
    lines, postcode, city = buyer_address(customer, billing_address)
    return Party(
        name=customer.name,
        country_code=customer.country,
        vat_id=tax_id if is_vat_id else "",
        legal_registration_id="" if is_vat_id else tax_id,
        identifier=customer.code,
        address_lines=lines,
        city=city,
        postcode=postcode,
        contact_name=name,
        contact_phone=phone,
        contact_email=email,
        electronic_address=customer.electronic_address if customer.electronic_address_scheme else "",
        electronic_address_scheme=customer.electronic_address_scheme if customer.electronic_address else "",
    )


def issue_snapshot(org, customer, contacts: Sequence, contract, *, ap_contact: str = "", billing_address: str = "",
                   seller: dict[str, Any] | None = None, paid_minor: int = 0,
                   retainer: dict[str, Any] | None = None, payment: dict[str, Any] | None = None,
                   vat_accounting: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON frozen on an invoice at issue (no query: ``contacts`` are the customer's, already loaded).

    ``seller`` may be given when the caller built :func:`seller_snapshot` once for many invoices;
    ``retainer`` is the customer's retainer balance (:func:`duly.billing.retainers.snapshot_entry`);
    ``payment`` how the invoice will be paid (:data:`duly.invoicing.hooks.payment_instructions`);
    ``vat_accounting`` the exchange rate its VAT is also stated at (:mod:`duly.invoicing.exchange_rate_services`).
    """
    seller = seller if seller is not None else seller_snapshot(org)
    if getattr(contract, "supply_kind", ""):  # the contract's own billing framework letter (BT-23)
        seller = {**seller, "supply_kind": contract.supply_kind}
    snapshot = {
        "v": SNAPSHOT_VERSION,
        "seller": seller,
        "buyer": _party_dict(buyer_party(customer, contacts, ap_contact=ap_contact, billing_address=billing_address)),
        # the contract's preferred method when it names one (issue 13), else the customer's
        "preferred_payment_method": (getattr(contract, "preferred_payment_method", "") if contract is not None
                                     else "") or customer.preferred_payment_method,
        "required_fields": list(customer.required_fields or ()),
        "custom_required_fields": list(customer.custom_required_fields or ()),
        "contract_reference": contract.reference if contract is not None else "",
        "paid_minor": paid_minor,
    }
    if retainer is not None:
        snapshot["retainer"] = retainer
    if payment is not None:
        snapshot["payment"] = payment
    if vat_accounting is not None:
        snapshot["vat_accounting"] = vat_accounting
    return snapshot


@dataclass(frozen=True)
class DocumentFacts:
    """The parties and payment details an invoice's documents show (frozen, or live for a draft)."""

    seller: Party
    buyer: Party
    #: What the page shows of the seller besides the party: website, bank account.
    trading_name: str
    website: str
    iban: str
    bic: str
    bank_name: str
    preferred_payment_method: str
    required_fields: tuple[str, ...]
    custom_required_fields: tuple[str, ...]
    contract_reference: str
    #: Settled when the invoice was issued (customer credit); None when not frozen (older invoices).
    paid_at_issue_minor: int | None = None
    frozen: bool = False
    #: The parties of an imported e-invoice, as its file stated them.
    imported: bool = False
    #: The customer's retainer (prepaid) balance in the invoice currency and its date; None: no retainer.
    retainer_balance: Decimal | None = None
    retainer_as_of: date | None = None
    #: How the invoice will actually be paid (a PaymentInstruction's JSON); None: not stated (a transfer).
    payment: dict[str, Any] | None = None
    #: The exchange rate frozen at issue to state the VAT in the accounting currency too: {"currency", "rate",
    #: "date", "source"}; None: not needed (or not frozen).
    vat_accounting: dict[str, Any] | None = None
    #: The seller's legal form, registry city and share capital (``{"minor", "currency"}``) for the mentions, and
    #: what it sells (``supply_kind``: the French billing framework, BT-23).
    legal: dict[str, Any] = field(default_factory=dict)

    @property
    def customer_code(self) -> str:
        return self.buyer.identifier

    @property
    def buyer_address_lines(self) -> tuple[str, ...]:
        """The address block printed under the buyer's name (without the country)."""
        town = f"{self.buyer.postcode} {self.buyer.city}".strip()
        return (*self.buyer.address_lines, *((town,) if town else ()))

    def org_view(self) -> dict[str, Any]:
        """The seller's details in the shape the templates' ``org`` has (header, footer)."""
        seller = self.seller
        town = f"{seller.postcode} {seller.city}".strip()
        return {
            "name": seller.name,
            "trading_name": self.trading_name,
            "address_lines": [*seller.address_lines, *((town,) if town else ())],
            "country": seller.country_code,
            "vat_id": seller.vat_id,
            "registration_id": seller.legal_registration_id,
            "email": seller.contact_email,
            "phone": seller.contact_phone,
            "website": self.website,
            "iban": self.iban,
            "bic": self.bic,
            "bank_name": self.bank_name,
            "legal": self.legal,
        }


def _facts(snapshot: dict[str, Any], *, frozen: bool) -> DocumentFacts:
    from duly.domain.money import from_minor

    seller = snapshot["seller"]
    retainer = snapshot.get("retainer")
    return DocumentFacts(
        seller=_party(seller["party"]),
        buyer=_party(snapshot["buyer"]),
        trading_name=seller.get("trading_name", ""),
        website=seller.get("website", ""),
        iban=seller.get("iban", ""),
        bic=seller.get("bic", ""),
        bank_name=seller.get("bank_name", ""),
        preferred_payment_method=snapshot.get("preferred_payment_method", "bank_transfer"),
        required_fields=tuple(snapshot.get("required_fields", ())),
        custom_required_fields=tuple(snapshot.get("custom_required_fields", ())),
        contract_reference=snapshot.get("contract_reference", ""),
        paid_at_issue_minor=snapshot.get("paid_minor") if frozen else None,
        frozen=frozen,
        imported=is_imported(snapshot),
        retainer_balance=from_minor(retainer["balance_minor"], retainer["currency"]) if retainer else None,
        retainer_as_of=date.fromisoformat(retainer["as_of"]) if retainer else None,
        payment=snapshot.get("payment"),
        vat_accounting=snapshot.get("vat_accounting"),
        legal={k: seller[k] for k in ("legal_form", "registry_city", "share_capital", "supply_kind") if seller.get(k)},
    )


def live_snapshot(invoice, *, as_of: date | None = None, strict: bool = False) -> dict[str, Any]:
    """The snapshot ``invoice`` would freeze if it were issued on its issue date (or ``as_of``, for a draft
    preview): one query for the customer's contacts, one or a few for the retainer ledger, a few for how it
    will be paid, one for the exchange rate of its VAT in the accounting currency (``strict``, at issue: a
    missing rate refuses; a preview shows none)."""
    from ..exchange_rate_services import ExchangeRateMissing, vat_accounting_entry
    from ..hooks import retainer_entry

    customer = invoice.customer
    issued_on = invoice.issue_date or as_of
    on = None if invoice.is_credit_note else issued_on  # a credit note corrects an invoice: no retainer balance
    contract = invoice.contract if invoice.contract_id else None
    vat_accounting = None
    if issued_on is not None:
        try:
            vat_accounting = vat_accounting_entry(invoice.organization, invoice.currency, issued_on,
                                                  invoice.tax_total_minor)
        except ExchangeRateMissing:
            if strict:
                raise
    return issue_snapshot(invoice.organization, customer, list(customer.contacts.all()), contract,
                          ap_contact=invoice.ap_contact, billing_address=invoice.billing_address,
                          retainer=retainer_entry(customer, invoice.currency, on) if on is not None else None,
                          payment=payment_for(invoice, contract, issued_on) if issued_on is not None else None,
                          vat_accounting=vat_accounting)


def payment_for(invoice, contract, issued_on: date) -> dict[str, Any] | None:
    """How ``invoice`` (issued on ``issued_on``) will be paid, as the payments app answers."""
    from ..hooks import InstructionRequest, payment_instructions

    due = invoice.due_date
    if due is None and not invoice.is_credit_note:  # a draft previewed: the due date its issue will compute
        from duly.domain.payment_terms import due_date

        from .adapter import terms_of

        terms = terms_of(invoice)
        due = due_date(terms, issued_on) if terms is not None else None
    request = InstructionRequest(invoice.customer, contract, invoice.kind, invoice.currency, issued_on, due)
    return payment_instructions([request])[0]


def is_imported(snapshot: dict[str, Any] | None) -> bool:
    """Whether a snapshot holds the parties of an imported e-invoice (kept as stated, also at issue)."""
    return bool(snapshot) and snapshot.get("source") == "import"


def imported_snapshot(doc, customer) -> dict[str, Any]:
    """The snapshot of a draft imported from an e-invoice: seller and buyer exactly as the file states
    them (the seller was checked to be the organization), its bank account and contract reference."""
    means = doc.payment_means
    seller = {"party": _party_dict(doc.seller)}
    if doc.seller.trading_name:
        seller["trading_name"] = doc.seller.trading_name
    if means is not None and means.iban:
        seller.update({k: v for k, v in (("iban", means.iban), ("bic", means.bic)) if v})
    return {
        "v": SNAPSHOT_VERSION,
        "source": "import",
        "seller": seller,
        "buyer": _party_dict(doc.buyer),
        "preferred_payment_method": customer.preferred_payment_method,
        "required_fields": list(customer.required_fields or ()),
        "custom_required_fields": list(customer.custom_required_fields or ()),
        "contract_reference": doc.contract_reference,
        "paid_minor": 0,
    }


def party_from_json(data: dict[str, Any] | None) -> Party | None:
    return _party(data) if data else None


def party_json(party: Party | None) -> dict[str, Any]:
    return _party_dict(party) if party is not None else {}


def facts_for(invoice, *, as_of: date | None = None) -> DocumentFacts:
    """The facts of ``invoice``'s documents: frozen at issue (or at import), else live (a draft, previewed
    as issued on its issue date or ``as_of``, or an invoice issued before snapshots existed)."""
    from ..models import Invoice

    snapshot = invoice.document_snapshot
    if snapshot and snapshot.get("v") == SNAPSHOT_VERSION and (
            invoice.status != Invoice.DRAFT or is_imported(snapshot)):
        return _facts(snapshot, frozen=invoice.status != Invoice.DRAFT)
    return _facts(live_snapshot(invoice, as_of=as_of), frozen=False)
