"""UBL 2.1 Invoice and CreditNote, Peppol BIS Billing 3.0 (or bare EN 16931), with lxml.

:func:`render_ubl` checks the document (:meth:`InvoiceDocument.require`), builds the XML in
the element order the UBL 2.1 schema prescribes, never writes an empty element
(PEPPOL-EN16931-R008), and before returning checks Duly's own rules and, by default, the
official UBL 2.1 XSD and CEN EN 16931 rules and, for Peppol, the OpenPeppol BIS Billing 3.0 rules
(see :mod:`.validate`). :func:`peppol_ready` says whether a document can be a Peppol one at all:
both parties carry a Peppol electronic address (an EAS scheme code, never ``EM`` e-mail: CL008).
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

from lxml import etree

from .common import (
    NO_RATE_CATEGORIES,
    breakdown_rows,
    check_output,
    document_notes,
    line_discount,
    serialize,
    states_vat_ids,
)
from .duly_rules import check_duly_rules
from .model import InvoiceDocument, Party, Standard
from .xmlutil import (
    CAC,
    CBC,
    UBL_CREDIT_NOTE_NS,
    UBL_INVOICE_NS,
    fmt_amount,
    fmt_date_ubl,
    fmt_decimal,
    fmt_price,
)

__all__ = ["peppol_ready", "PEPPOL_CUSTOMIZATION_ID", "PEPPOL_PROFILE_ID", "EN16931_CUSTOMIZATION_ID", "check_duly_rules", "render_ubl"]

PEPPOL_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
EN16931_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017"

_NSMAP_INVOICE = {None: UBL_INVOICE_NS, "cac": CAC, "cbc": CBC}
_NSMAP_CREDIT_NOTE = {None: UBL_CREDIT_NOTE_NS, "cac": CAC, "cbc": CBC}


def _peppol_address(party: Party) -> bool:
    scheme = party.electronic_address_scheme.strip()
    return bool(party.electronic_address.strip()) and len(scheme) == 4 and scheme.isdigit()


def peppol_ready(doc: InvoiceDocument) -> bool:
    """Both parties carry a Peppol electronic address (BT-34, BT-49 with an EAS code): the UBL is a
    Peppol BIS Billing 3.0 document; without them it is a bare EN 16931 one (no access point takes it)."""
    return _peppol_address(doc.seller) and _peppol_address(doc.buyer)


def _cac(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CAC}}}{tag}")


def _cbc(parent: etree._Element, tag: str, text: str | None, /, **attrs: str) -> etree._Element | None:
    """A basic element, or nothing when ``text`` is empty (Peppol forbids empty elements)."""
    if text is None or not str(text).strip():
        return None
    element = etree.SubElement(parent, f"{{{CBC}}}{tag}", {k: v for k, v in attrs.items() if v})
    element.text = str(text)
    return element


class _UblWriter:
    def __init__(self, doc: InvoiceDocument, standard: Standard, *, duly_rules: bool) -> None:
        self.doc = doc
        self.standard = standard
        self.totals = doc.require(standard, duly_rules=duly_rules)
        self.currency = doc.currency
        self.credit = doc.is_credit_note
        self.vat_ids = states_vat_ids(doc)

    def amount(self, parent: etree._Element, name: str, value: Decimal) -> None:
        _cbc(parent, name, fmt_amount(value, self.currency), currencyID=self.currency)

    def date(self, parent: etree._Element, name: str, value: date | None) -> None:
        if value is not None:
            _cbc(parent, name, fmt_date_ubl(value))

    # --- document ---------------------------------------------------------------------------

    def build(self) -> etree._Element:
        doc = self.doc
        root_name = "CreditNote" if self.credit else "Invoice"
        root = etree.Element(
            f"{{{UBL_CREDIT_NOTE_NS if self.credit else UBL_INVOICE_NS}}}{root_name}",
            nsmap=_NSMAP_CREDIT_NOTE if self.credit else _NSMAP_INVOICE,
        )
        if self.standard is Standard.PEPPOL:
            _cbc(root, "CustomizationID", PEPPOL_CUSTOMIZATION_ID)
            _cbc(root, "ProfileID", PEPPOL_PROFILE_ID)
        else:
            _cbc(root, "CustomizationID", EN16931_CUSTOMIZATION_ID)
            _cbc(root, "ProfileID", doc.business_process)  # BT-23 (Peppol fixes its own, R007)
        _cbc(root, "ID", doc.number)
        self.date(root, "IssueDate", doc.issue_date)
        if not self.credit:
            self.date(root, "DueDate", doc.due_date)
        _cbc(root, "CreditNoteTypeCode" if self.credit else "InvoiceTypeCode", doc.type_code)
        for note in document_notes(doc, self.standard):
            _cbc(root, "Note", note)
        _cbc(root, "DocumentCurrencyCode", self.currency)
        _cbc(root, "TaxCurrencyCode", doc.tax_currency)  # BT-6
        _cbc(root, "AccountingCost", doc.buyer_accounting_ref)
        _cbc(root, "BuyerReference", doc.buyer_reference)
        self.period(root, doc.period_start, doc.period_end)
        if doc.order_reference:
            _cbc(_cac(root, "OrderReference"), "ID", doc.order_reference)
        if doc.preceding_invoice:
            ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
            _cbc(ref, "ID", doc.preceding_invoice)
            self.date(ref, "IssueDate", doc.preceding_invoice_date)
        if doc.contract_reference:
            _cbc(_cac(root, "ContractDocumentReference"), "ID", doc.contract_reference)
        self.attachments(root)
        self.party(_cac(root, "AccountingSupplierParty"), doc.seller, seller=True)
        self.party(_cac(root, "AccountingCustomerParty"), doc.buyer, seller=False)
        self.payee(root)
        self.tax_representative(root)
        self.delivery(root)
        self.payment_means(root)
        if doc.payment_terms:
            _cbc(_cac(root, "PaymentTerms"), "Note", doc.payment_terms)
        self.allowances_charges(root)
        self.tax_total(root)
        self.monetary_total(root)
        for line, result in zip(doc.lines, self.totals.lines, strict=True):
            self.line(root, line, result)
        return root

    def period(self, parent: etree._Element, start: date | None, end: date | None) -> None:
        if start or end:
            period = _cac(parent, "InvoicePeriod")
            self.date(period, "StartDate", start)
            self.date(period, "EndDate", end)

    def attachments(self, root: etree._Element) -> None:
        for attachment in self.doc.attachments:
            ref = _cac(root, "AdditionalDocumentReference")
            _cbc(ref, "ID", attachment.reference)
            _cbc(ref, "DocumentDescription", attachment.description)
            _cbc(
                _cac(ref, "Attachment"),
                "EmbeddedDocumentBinaryObject",
                base64.b64encode(attachment.content).decode("ascii"),
                mimeCode=attachment.mime_code,
                filename=attachment.filename,
            )

    def party(self, container: etree._Element, party: Party, *, seller: bool) -> None:
        element = _cac(container, "Party")
        _cbc(element, "EndpointID", party.electronic_address, schemeID=party.electronic_address_scheme)
        # A document under the French e-invoicing rules (it states the billing framework BT-23) leaves out a buyer
        # identifier without a scheme (BR-FR-CO-10 wants BT-46-1; the customer number is the buyer reference BT-10
        # already when no order is quoted).
        if party.identifier and (seller or party.identifier_scheme or not self.doc.business_process):
            _cbc(_cac(element, "PartyIdentification"), "ID", party.identifier, schemeID=party.identifier_scheme)
        means = self.doc.payment_means
        if seller and means is not None and means.creditor_id:
            _cbc(_cac(element, "PartyIdentification"), "ID", means.creditor_id, schemeID="SEPA")
        if party.trading_name:
            _cbc(_cac(element, "PartyName"), "Name", party.trading_name)
        self.postal_address(element, party)
        if party.vat_id and self.vat_ids:
            scheme = _cac(element, "PartyTaxScheme")
            _cbc(scheme, "CompanyID", party.vat_id)
            _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
        if seller and party.tax_registration_id:
            scheme = _cac(element, "PartyTaxScheme")
            _cbc(scheme, "CompanyID", party.tax_registration_id)
            _cbc(_cac(scheme, "TaxScheme"), "ID", "FC")  # BT-32: not VAT; "FC" as CII's schemeID (XRechnung)
        legal = _cac(element, "PartyLegalEntity")
        _cbc(legal, "RegistrationName", party.name)
        _cbc(legal, "CompanyID", party.legal_registration_id, schemeID=party.legal_registration_scheme)
        if seller:
            _cbc(legal, "CompanyLegalForm", party.additional_legal_info)
        if party.contact_name or party.contact_phone or party.contact_email:
            contact = _cac(element, "Contact")
            _cbc(contact, "Name", party.contact_name)
            _cbc(contact, "Telephone", party.contact_phone)
            _cbc(contact, "ElectronicMail", party.contact_email)

    def payee(self, root: etree._Element) -> None:
        payee = self.doc.payee
        if payee is None:
            return
        element = _cac(root, "PayeeParty")
        if payee.identifier:
            _cbc(_cac(element, "PartyIdentification"), "ID", payee.identifier, schemeID=payee.identifier_scheme)
        _cbc(_cac(element, "PartyName"), "Name", payee.name)
        if payee.legal_registration_id:
            _cbc(_cac(element, "PartyLegalEntity"), "CompanyID", payee.legal_registration_id,
                 schemeID=payee.legal_registration_scheme)

    def postal_address(self, parent: etree._Element, party: Party) -> None:
        address = _cac(parent, "PostalAddress")
        lines = list(party.address_lines)
        _cbc(address, "StreetName", lines[0] if lines else "")
        _cbc(address, "AdditionalStreetName", lines[1] if len(lines) > 1 else "")
        _cbc(address, "CityName", party.city)
        _cbc(address, "PostalZone", party.postcode)
        _cbc(address, "CountrySubentity", party.subdivision)
        if len(lines) > 2 and lines[2].strip():
            _cbc(_cac(address, "AddressLine"), "Line", lines[2])
        _cbc(_cac(address, "Country"), "IdentificationCode", party.country_code)

    def tax_representative(self, root: etree._Element) -> None:
        representative = self.doc.tax_representative
        if representative is None:
            return
        element = _cac(root, "TaxRepresentativeParty")
        _cbc(_cac(element, "PartyName"), "Name", representative.name)
        self.postal_address(element, representative)
        if representative.vat_id and self.vat_ids:
            scheme = _cac(element, "PartyTaxScheme")
            _cbc(scheme, "CompanyID", representative.vat_id)
            _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")

    def delivery(self, root: etree._Element) -> None:
        doc = self.doc
        if not (doc.delivery_date or doc.deliver_to_country):
            return
        delivery = _cac(root, "Delivery")
        self.date(delivery, "ActualDeliveryDate", doc.delivery_date)
        if doc.deliver_to_country:
            address = _cac(_cac(delivery, "DeliveryLocation"), "Address")
            _cbc(_cac(address, "Country"), "IdentificationCode", doc.deliver_to_country)

    def payment_means(self, root: etree._Element) -> None:
        means = self.doc.payment_means
        if means is None:
            return
        element = _cac(root, "PaymentMeans")
        _cbc(element, "PaymentMeansCode", means.code, name=means.text)
        if self.credit:
            self.date(element, "PaymentDueDate", self.doc.due_date)
        _cbc(element, "PaymentID", means.remittance_information)
        if means.card_number:
            card = _cac(element, "CardAccount")
            _cbc(card, "PrimaryAccountNumberID", means.card_number)
            _cbc(card, "NetworkID", "NA")
            _cbc(card, "HolderName", means.card_holder)
        if means.iban:
            account = _cac(element, "PayeeFinancialAccount")
            _cbc(account, "ID", means.iban.replace(" ", ""))
            _cbc(account, "Name", means.account_name)
            if means.bic:
                _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", means.bic)
        if means.mandate_reference or means.debited_account:
            mandate = _cac(element, "PaymentMandate")
            _cbc(mandate, "ID", means.mandate_reference)
            if means.debited_account:
                _cbc(_cac(mandate, "PayerFinancialAccount"), "ID", means.debited_account.replace(" ", ""))

    def tax_category(self, parent: etree._Element, name: str, category: str, rate: Decimal,
                     reason: str = "", reason_code: str = "") -> None:
        element = _cac(parent, name)
        _cbc(element, "ID", category)
        if category not in NO_RATE_CATEGORIES:
            _cbc(element, "Percent", fmt_decimal(rate))
        _cbc(element, "TaxExemptionReasonCode", reason_code)
        _cbc(element, "TaxExemptionReason", reason)
        _cbc(_cac(element, "TaxScheme"), "ID", "VAT")

    def allowances_charges(self, root: etree._Element) -> None:
        amounts = self.doc.allowance_charge_amounts(self.totals)
        for item, amount in zip(self.doc.allowances_charges, amounts, strict=True):
            element = _cac(root, "AllowanceCharge")
            _cbc(element, "ChargeIndicator", "true" if item.is_charge else "false")
            _cbc(element, "AllowanceChargeReasonCode", item.reason_code)
            _cbc(element, "AllowanceChargeReason", item.reason)
            if item.percent is not None:
                _cbc(element, "MultiplierFactorNumeric", fmt_decimal(item.percent))
            self.amount(element, "Amount", amount)
            if item.percent is not None:
                self.amount(element, "BaseAmount", self.totals.line_total)
            self.tax_category(element, "TaxCategory", item.tax_category, item.tax_rate)

    def tax_total(self, root: etree._Element) -> None:
        total = _cac(root, "TaxTotal")
        self.amount(total, "TaxAmount", self.totals.tax_total)
        for row in breakdown_rows(self.doc, self.totals):
            subtotal = _cac(total, "TaxSubtotal")
            self.amount(subtotal, "TaxableAmount", row.subtotal.taxable_amount)
            self.amount(subtotal, "TaxAmount", row.subtotal.tax_amount)
            self.tax_category(subtotal, "TaxCategory", row.subtotal.category, row.subtotal.rate,
                              row.exemption_reason, row.exemption_reason_code)
        in_tax_currency = self.doc.tax_total_in_tax_currency(self.totals)
        if in_tax_currency is not None:  # BT-111: a second TaxTotal, without subtotals (PEPPOL-EN16931-R054)
            _cbc(_cac(root, "TaxTotal"), "TaxAmount", fmt_amount(in_tax_currency, self.doc.tax_currency),
                 currencyID=self.doc.tax_currency)

    def monetary_total(self, root: etree._Element) -> None:
        t = self.totals
        total = _cac(root, "LegalMonetaryTotal")
        self.amount(total, "LineExtensionAmount", t.line_total)
        self.amount(total, "TaxExclusiveAmount", t.tax_exclusive)
        self.amount(total, "TaxInclusiveAmount", t.tax_inclusive)
        if self.doc.allowances_charges:
            self.amount(total, "AllowanceTotalAmount", t.allowance_total)
            self.amount(total, "ChargeTotalAmount", t.charge_total)
        if t.prepaid:
            self.amount(total, "PrepaidAmount", t.prepaid)
        if t.rounding:
            self.amount(total, "PayableRoundingAmount", t.rounding)
        self.amount(total, "PayableAmount", t.payable)

    def line(self, root: etree._Element, line, result) -> None:
        element = _cac(root, "CreditNoteLine" if self.credit else "InvoiceLine")
        _cbc(element, "ID", line.id)
        _cbc(element, "Note", line.note)
        _cbc(element, "CreditedQuantity" if self.credit else "InvoicedQuantity", fmt_decimal(line.quantity),
             unitCode=line.unit_code)
        self.amount(element, "LineExtensionAmount", result.net_amount)
        _cbc(element, "AccountingCost", line.buyer_accounting_ref)
        self.period(element, line.period_start, line.period_end)
        if line.order_line_ref:
            _cbc(_cac(element, "OrderLineReference"), "LineID", line.order_line_ref)
        discount = line_discount(line, result, self.currency)
        if discount is not None:
            allowance = _cac(element, "AllowanceCharge")
            _cbc(allowance, "ChargeIndicator", "false")
            _cbc(allowance, "AllowanceChargeReasonCode", discount.reason_code)
            _cbc(allowance, "AllowanceChargeReason", discount.reason)
            if discount.percent is not None:
                _cbc(allowance, "MultiplierFactorNumeric", fmt_decimal(discount.percent))
            self.amount(allowance, "Amount", discount.amount)
            if discount.base is not None:
                self.amount(allowance, "BaseAmount", discount.base)
        for stated in line.allowances_charges:
            allowance = _cac(element, "AllowanceCharge")
            _cbc(allowance, "ChargeIndicator", "true" if stated.is_charge else "false")
            _cbc(allowance, "AllowanceChargeReasonCode", stated.reason_code)
            _cbc(allowance, "AllowanceChargeReason", stated.reason)
            if stated.percent is not None:
                _cbc(allowance, "MultiplierFactorNumeric", fmt_decimal(stated.percent))
            self.amount(allowance, "Amount", stated.amount)
            if stated.base is not None:
                self.amount(allowance, "BaseAmount", stated.base)
        item = _cac(element, "Item")
        _cbc(item, "Description", line.description)
        _cbc(item, "Name", line.name)
        if line.buyer_item_id:
            _cbc(_cac(item, "BuyersItemIdentification"), "ID", line.buyer_item_id)
        if line.seller_item_id:
            _cbc(_cac(item, "SellersItemIdentification"), "ID", line.seller_item_id)
        if line.standard_item_id:
            _cbc(_cac(item, "StandardItemIdentification"), "ID", line.standard_item_id,
                 schemeID=line.standard_item_scheme)
        self.tax_category(item, "ClassifiedTaxCategory", line.tax_category, line.tax_rate)
        price = _cac(element, "Price")
        _cbc(price, "PriceAmount", fmt_price(line.net_price, self.currency), currencyID=self.currency)
        _cbc(price, "BaseQuantity", fmt_decimal(line.base_quantity), unitCode=line.base_quantity_unit or line.unit_code)
        if line.price_discount is not None or line.gross_price is not None:
            discount = _cac(price, "AllowanceCharge")
            _cbc(discount, "ChargeIndicator", "false")
            _cbc(discount, "Amount", fmt_price(line.price_discount or Decimal(0), self.currency),
                 currencyID=self.currency)
            if line.gross_price is not None:
                _cbc(discount, "BaseAmount", fmt_price(line.gross_price, self.currency), currencyID=self.currency)


def render_ubl(
    doc: InvoiceDocument, *, standard: Standard = Standard.PEPPOL, validate: bool = True, duly_rules: bool = True
) -> bytes:
    """The UBL 2.1 Invoice (or CreditNote, for credit-note type codes) of ``doc``, UTF-8 bytes.

    ``standard`` is :attr:`Standard.PEPPOL` (Peppol BIS Billing 3.0, the default) or
    :attr:`Standard.EN16931` (the bare CEN core, for documents without Peppol endpoints).
    Raises :class:`~duly.domain.errors.MissingDocumentData` /
    :class:`~duly.domain.errors.InvalidDocumentData` before rendering, and
    :class:`~duly.domain.errors.EInvoiceInvalid` if the result breaks Duly's rules or (with
    ``validate``, the default) the UBL 2.1 XSD or the official EN 16931 rules.
    With ``validate`` and :attr:`Standard.PEPPOL`, the OpenPeppol BIS Billing 3.0 rules run too.
    ``duly_rules=False`` skips Duly's issuing rule (due date and payment terms), only for
    re-rendering a document Duly did not issue (e.g. converting a received CII to UBL).
    """
    if standard not in (Standard.PEPPOL, Standard.EN16931):
        raise ValueError(
            f"UBL is rendered for {Standard.PEPPOL.value} or {Standard.EN16931.value}, not {standard.value}")
    writer = _UblWriter(doc, standard, duly_rules=duly_rules)
    return check_output(serialize(writer.build()), doc, validate=validate, duly_rules=duly_rules,
                        peppol=standard is Standard.PEPPOL)
