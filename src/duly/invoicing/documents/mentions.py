"""National mandatory mentions of invoices, as data: one table per seller country (FR, DE, GB).

Each country's table lists what its law wants on an invoice:

- ``printed``: sentences Duly adds to the document (label keys of :mod:`.words`, filled by the renderer with
  the values named in ``needs``) — the French SIREN, legal form and capital, RCS, the €40 recovery indemnity,
  the late-interest rate and the no-discount mention; the German service date; the British time of supply;
- ``fields``: label keys of facts every invoice already prints (number, dates, VAT ids…), kept here so a test
  can check that a rendered document of that country shows every one of them.

:func:`applicable` decides which printed mentions apply to a seller, a buyer and an invoice. Sources:
France, Code de commerce art. L441-9, L441-10 and D441-5, CGI art. 242 nonies A (ann. II); Germany, §14 (4)
and §14a (5) UStG; United Kingdom, HMRC VAT Notice 700/21 §16.3 (full VAT invoice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = ["MENTIONS", "Mention", "CountryMentions", "applicable", "rate_name_key", "FR_RATE_NAMES",
           "FR_ATTACHMENT_CODES", "FR_CODED_NOTES", "SUPPLY_KINDS", "french_billing_mode", "late_rate_words",
           "french_coded_notes"]


@dataclass(frozen=True)
class Mention:
    """One printed mention: the label key of its sentence and when it applies."""

    key: str
    #: The values its sentence needs; a mention whose value the seller lacks is not printed.
    needs: tuple[str, ...] = ()
    #: Only between businesses (the buyer has a VAT or company number).
    b2b_only: bool = False
    #: Only when the invoice has no service period (the date of supply is then the issue date).
    without_period: bool = False


@dataclass(frozen=True)
class CountryMentions:
    printed: tuple[Mention, ...]
    #: Label keys of facts the document already prints, which this country requires.
    fields: tuple[str, ...]
    #: Label key of the reverse-charge notice, when the country words it its own way.
    reverse_charge: str = "reverse_charge"


#: French VAT rates (CGI art. 278 to 281 nonies) -> label key of their name.
FR_RATE_NAMES: dict[Decimal, str] = {
    Decimal("20"): "rate.fr.normal",
    Decimal("10"): "rate.fr.intermediate",
    Decimal("5.5"): "rate.fr.reduced",
    Decimal("2.1"): "rate.fr.special",
}

MENTIONS: dict[str, CountryMentions] = {
    "FR": CountryMentions(
        printed=(
            Mention("mention.fr.siren", needs=("siren",)),
            Mention("mention.fr.legal_form_capital", needs=("legal_form", "share_capital")),
            Mention("mention.fr.rcs", needs=("registry_city", "siren")),
            Mention("mention.fr.recovery_indemnity", needs=("indemnity",), b2b_only=True),
            Mention("mention.fr.late_interest", needs=("late_rate",), b2b_only=True),
            Mention("mention.fr.no_discount", b2b_only=True),
        ),
        fields=("number", "issue_date", "due_date", "vat_id", "tax_rate", "total_excl_tax", "total_tax",
                "total_incl_tax"),
    ),
    "DE": CountryMentions(
        printed=(Mention("mention.service_date_is_issue_date", without_period=True),),
        # §14 (4) UStG: names and addresses, Steuernummer or USt-IdNr, date, sequential number, quantity and
        # description, time of supply, net per rate, rate and tax, exemption note.
        fields=("seller", "buyer", "vat_id", "issue_date", "number", "quantity", "description", "tax_rate",
                "taxable_amount", "tax_amount", "total_tax"),
        reverse_charge="reverse_charge",
    ),
    "GB": CountryMentions(
        printed=(Mention("mention.gb.time_of_supply", needs=("time_of_supply",)),),
        # HMRC VAT Notice 700/21 §16.3: seller's VAT number, invoice number, date, time of supply, customer
        # name and address, description, rate per line, net amounts, total VAT in sterling.
        fields=("vat_id", "number", "issue_date", "buyer", "description", "tax_rate", "amount", "subtotal",
                "total_tax"),
    ),
}


def applicable(seller_country: str, *, buyer_is_business: bool, has_period: bool,
               values: dict[str, object]) -> list[Mention]:
    """The printed mentions that apply, in table order: those of the seller's country, for a business buyer
    when the mention is B2B only, and whose values (``values``, by name) are known."""
    table = MENTIONS.get(seller_country)
    if table is None:
        return []
    return [m for m in table.printed
            if (buyer_is_business or not m.b2b_only)
            and not (m.without_period and has_period)
            and all(values.get(name) not in (None, "") for name in m.needs)]


def rate_name_key(seller_country: str, category: str, rate: Decimal) -> str | None:
    """The label key of a VAT rate's own name in the seller's country (France: taux normal, intermédiaire,
    réduit, particulier), or None where the category's name is printed."""
    if seller_country == "FR" and category == "S":
        return FR_RATE_NAMES.get(Decimal(rate).normalize())
    return None


# --- France: the e-invoicing reform (XP Z12-012, the FNFE-MPE BR-FR rules) ------------------------------------

#: What a seller sells -> the letter of its billing framework (cadre de facturation, BT-23): B goods (biens),
#: S services, M both where neither is accessory to the other (facture double).
SUPPLY_KINDS: dict[str, str] = {"goods": "B", "services": "S", "mixed": "M"}

#: The notes every French B2B e-invoice carries with their subject code (BT-21, UNTDID 4451; BR-FR-05): the
#: €40 recovery indemnity (PMT), the late-payment penalties (PMD), the early-payment discount or its absence
#: (AAB). Their sentences are the printed mentions'.
FR_CODED_NOTES: tuple[tuple[str, str], ...] = (
    ("PMT", "mention.fr.recovery_indemnity"),
    ("PMD", "mention.fr.late_interest"),
    ("AAB", "mention.fr.no_discount"),
)


#: The codes that qualify an attachment (BT-123) of a French reform e-invoice (BR-FR-17, FNFE-MPE BR-FR 1.4.0).
FR_ATTACHMENT_CODES: frozenset[str] = frozenset({
    "RIB", "LISIBLE", "FEUILLE_DE_STYLE", "PJA", "BORDEREAU_SUIVI", "DOCUMENT_ANNEXE", "BON_LIVRAISON", "BON_COMMANDE",
    "BORDEREAU_SUIVI_VALIDATION", "ETAT_ACOMPTE", "FACTURE_PAIEMENT_DIRECT", "RECAPITULATIF_COTRAITANCE"})


def french_billing_mode(supply_kind: str, *, after_down_payment: bool, paid_at_issue: bool) -> str:
    """The billing framework code (BT-23, BR-FR-08) of a French seller's document.

    The letter says what is sold (:data:`SUPPLY_KINDS`); the digit the payment context: 4 for a final invoice
    that deducts a down payment already invoiced (an acompte or prepaid retainer), 2 for an invoice already paid
    when issued, 1 for any other invoice, credit note or down-payment invoice. Duly issues no subcontracting
    (S5), co-contracting (S6) or e-reporting (B7, S7) documents.
    """
    letter = SUPPLY_KINDS.get(supply_kind, "S")
    if after_down_payment:
        return f"{letter}4"
    return f"{letter}2" if paid_at_issue else f"{letter}1"


def late_rate_words(loc, policy, issue_date: date, currency: str) -> str:
    """The late-payment rate of the French mention in the document's language: the contract's annual rate,
    else the statutory one (the ECB rate plus 10 points, Code de commerce L441-10)."""
    rate = policy.annual_rate_on(issue_date, currency) if policy is not None and policy.charges_interest else None
    return loc.t("mention.fr.late_rate_annual", rate=loc.percent(rate)) if rate else \
        loc.t("mention.fr.late_rate_statutory")


def french_coded_notes(loc, policy, issue_date: date, currency: str) -> tuple[tuple[str, str], ...]:
    """The PMT, PMD and AAB notes (:data:`FR_CODED_NOTES`) in the document's language."""
    values = {"indemnity": loc.money(Decimal(40), "EUR"), "late_rate": late_rate_words(loc, policy, issue_date,
                                                                                         currency)}
    return tuple((code, loc.t(key, **values)) for code, key in FR_CODED_NOTES)
