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
from decimal import Decimal

__all__ = ["MENTIONS", "Mention", "CountryMentions", "applicable", "rate_name_key", "FR_RATE_NAMES"]


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
