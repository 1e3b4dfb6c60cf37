"""UN/CEFACT CII D16B in the Factur-X EN 16931 profile, and Factur-X PDF/A-3 embedding.

:func:`render_cii` checks the document (:meth:`InvoiceDocument.require`), builds the XML in
the element order of the CII D16B schema (as restricted by the Factur-X EN 16931 XSD), and
before returning checks Duly's own rules and, by default, the Factur-X XSD and the official
CEN EN 16931 CII rules (see :mod:`.validate`).

:func:`render_facturx_pdf` embeds that XML into a PDF (a PDF/A-3 made by WeasyPrint) with
the ``factur-x`` package, which also writes the XMP metadata Factur-X requires.
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
from .xmlutil import QDT, RAM, RSM, UDT, fmt_amount, fmt_date_cii, fmt_decimal, fmt_price

__all__ = ["FACTURX_EN16931_GUIDELINE", "check_duly_rules", "render_cii", "render_facturx_pdf"]

#: BT-24 specification identifier of the EN 16931 core (the Factur-X "EN 16931" profile).
FACTURX_EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"

_NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}


def _ram(parent: etree._Element, tag: str, text: str | None = None, /, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RAM}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = str(text)
    return element


def _text(parent: etree._Element, tag: str, text: str | None, /, **attrs: str) -> None:
    """A text element, or nothing when ``text`` is empty."""
    if text is not None and str(text).strip():
        _ram(parent, tag, str(text), **attrs)


def _date(parent: etree._Element, tag: str, value: date | None, *, qualified: bool = False) -> None:
    if value is None:
        return
    holder = _ram(parent, tag)
    ns = QDT if qualified else UDT
    element = etree.SubElement(holder, f"{{{ns}}}DateTimeString", format="102")
    element.text = fmt_date_cii(value)


def _indicator(parent: etree._Element, value: bool) -> None:
    holder = _ram(parent, "ChargeIndicator")
    etree.SubElement(holder, f"{{{UDT}}}Indicator").text = "true" if value else "false"


class _CiiWriter:
    def __init__(self, doc: InvoiceDocument, *, duly_rules: bool) -> None:
        self.doc = doc
        self.totals = doc.require(Standard.FACTURX, duly_rules=duly_rules)
        self.currency = doc.currency
        self.vat_ids = states_vat_ids(doc)

    def amount(self, parent: etree._Element, tag: str, value: Decimal, *, with_currency: bool = False) -> None:
        attrs = {"currencyID": self.currency} if with_currency else {}
        _ram(parent, tag, fmt_amount(value, self.currency), **attrs)

    def build(self) -> etree._Element:
        doc = self.doc
        root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=_NSMAP)
        context = etree.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
        if doc.business_process:  # BT-23 (the French billing framework, BR-FR-08)
            _ram(_ram(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", doc.business_process)
        _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", FACTURX_EN16931_GUIDELINE)

        header = etree.SubElement(root, f"{{{RSM}}}ExchangedDocument")
        _ram(header, "ID", doc.number)
        _ram(header, "TypeCode", doc.type_code)
        _date(header, "IssueDateTime", doc.issue_date)
        for note in document_notes(doc, Standard.FACTURX, coded=False):
            _ram(_ram(header, "IncludedNote"), "Content", note)
        for code, text in doc.coded_notes:  # BT-22 with its subject code BT-21
            if text.strip():
                included = _ram(header, "IncludedNote")
                _ram(included, "Content", text.strip())
                _ram(included, "SubjectCode", code)

        transaction = etree.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
        for line, result in zip(doc.lines, self.totals.lines, strict=True):
            self.line(transaction, line, result)
        self.agreement(_ram(transaction, "ApplicableHeaderTradeAgreement"))
        self.delivery(_ram(transaction, "ApplicableHeaderTradeDelivery"))
        self.settlement(_ram(transaction, "ApplicableHeaderTradeSettlement"))
        return root

    # --- lines ------------------------------------------------------------------------------

    def line(self, transaction: etree._Element, line, result) -> None:
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        document = _ram(item, "AssociatedDocumentLineDocument")
        _ram(document, "LineID", line.id)
        if line.note:
            _ram(_ram(document, "IncludedNote"), "Content", line.note)
        product = _ram(item, "SpecifiedTradeProduct")
        _text(product, "GlobalID", line.standard_item_id, schemeID=line.standard_item_scheme)
        _text(product, "SellerAssignedID", line.seller_item_id)
        _text(product, "BuyerAssignedID", line.buyer_item_id)
        _ram(product, "Name", line.name)
        _text(product, "Description", line.description)

        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        if line.order_line_ref:
            _ram(_ram(agreement, "BuyerOrderReferencedDocument"), "LineID", line.order_line_ref)
        base_unit = line.base_quantity_unit or line.unit_code
        if line.gross_price is not None:
            gross = _ram(agreement, "GrossPriceProductTradePrice")
            _ram(gross, "ChargeAmount", fmt_price(line.gross_price, self.currency))
            if line.base_quantity != 1 or line.base_quantity_unit:
                _ram(gross, "BasisQuantity", fmt_decimal(line.base_quantity), unitCode=base_unit)
            if line.price_discount is not None:
                discount = _ram(gross, "AppliedTradeAllowanceCharge")
                _indicator(discount, False)
                _ram(discount, "ActualAmount", fmt_price(line.price_discount, self.currency))
        price = _ram(agreement, "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", fmt_price(line.net_price, self.currency))
        if line.base_quantity != 1 or line.base_quantity_unit:
            _ram(price, "BasisQuantity", fmt_decimal(line.base_quantity), unitCode=base_unit)

        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", fmt_decimal(line.quantity), unitCode=line.unit_code)

        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", line.tax_category)
        if line.tax_category not in NO_RATE_CATEGORIES:
            _ram(tax, "RateApplicablePercent", fmt_decimal(line.tax_rate))
        self.period(settlement, line.period_start, line.period_end)
        discount = line_discount(line, result, self.currency)
        if discount is not None:
            allowance = _ram(settlement, "SpecifiedTradeAllowanceCharge")
            _indicator(allowance, False)
            if discount.percent is not None:
                _ram(allowance, "CalculationPercent", fmt_decimal(discount.percent))
            if discount.base is not None:
                self.amount(allowance, "BasisAmount", discount.base)
            self.amount(allowance, "ActualAmount", discount.amount)
            _text(allowance, "ReasonCode", discount.reason_code)
            _text(allowance, "Reason", discount.reason)
        for stated in line.allowances_charges:
            allowance = _ram(settlement, "SpecifiedTradeAllowanceCharge")
            _indicator(allowance, stated.is_charge)
            if stated.percent is not None:
                _ram(allowance, "CalculationPercent", fmt_decimal(stated.percent))
            if stated.base is not None:
                self.amount(allowance, "BasisAmount", stated.base)
            self.amount(allowance, "ActualAmount", stated.amount)
            _text(allowance, "ReasonCode", stated.reason_code)
            _text(allowance, "Reason", stated.reason)
        self.amount(_ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation"), "LineTotalAmount",
                    result.net_amount)
        if line.buyer_accounting_ref:
            _ram(_ram(settlement, "ReceivableSpecifiedTradeAccountingAccount"), "ID", line.buyer_accounting_ref)

    def period(self, parent: etree._Element, start: date | None, end: date | None) -> None:
        if start or end:
            period = _ram(parent, "BillingSpecifiedPeriod")
            _date(period, "StartDateTime", start)
            _date(period, "EndDateTime", end)

    # --- header -----------------------------------------------------------------------------

    def agreement(self, agreement: etree._Element) -> None:
        doc = self.doc
        _text(agreement, "BuyerReference", doc.buyer_reference)
        self.party(_ram(agreement, "SellerTradeParty"), doc.seller, seller=True)
        self.party(_ram(agreement, "BuyerTradeParty"), doc.buyer, seller=False)
        representative = doc.tax_representative
        if representative is not None:
            element = _ram(agreement, "SellerTaxRepresentativeTradeParty")
            _ram(element, "Name", representative.name)
            self.postal_address(element, representative)
            if representative.vat_id and self.vat_ids:
                _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", representative.vat_id, schemeID="VA")
        if doc.order_reference:
            _ram(_ram(agreement, "BuyerOrderReferencedDocument"), "IssuerAssignedID", doc.order_reference)
        if doc.contract_reference:
            _ram(_ram(agreement, "ContractReferencedDocument"), "IssuerAssignedID", doc.contract_reference)
        for attachment in doc.attachments:
            reference = _ram(agreement, "AdditionalReferencedDocument")
            _ram(reference, "IssuerAssignedID", attachment.reference)
            _ram(reference, "TypeCode", "916")
            _text(reference, "Name", attachment.description)
            _ram(reference, "AttachmentBinaryObject", base64.b64encode(attachment.content).decode("ascii"),
                 mimeCode=attachment.mime_code, filename=attachment.filename)

    def party(self, element: etree._Element, party: Party, *, seller: bool) -> None:
        if party.identifier:
            if party.identifier_scheme:
                _ram(element, "GlobalID", party.identifier, schemeID=party.identifier_scheme)
            else:
                _ram(element, "ID", party.identifier)
        _ram(element, "Name", party.name)
        if seller:
            _text(element, "Description", party.additional_legal_info)
        if party.legal_registration_id or party.trading_name:
            legal = _ram(element, "SpecifiedLegalOrganization")
            _text(legal, "ID", party.legal_registration_id, schemeID=party.legal_registration_scheme)
            _text(legal, "TradingBusinessName", party.trading_name)
        if party.contact_name or party.contact_phone or party.contact_email:
            contact = _ram(element, "DefinedTradeContact")
            _text(contact, "PersonName", party.contact_name)
            if party.contact_phone:
                _ram(_ram(contact, "TelephoneUniversalCommunication"), "CompleteNumber", party.contact_phone)
            if party.contact_email:
                _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", party.contact_email)
        self.postal_address(element, party)
        if party.electronic_address:
            _ram(_ram(element, "URIUniversalCommunication"), "URIID", party.electronic_address,
                 schemeID=party.electronic_address_scheme)
        if party.vat_id and self.vat_ids:
            _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
        if seller and party.tax_registration_id:
            _ram(_ram(element, "SpecifiedTaxRegistration"), "ID", party.tax_registration_id, schemeID="FC")

    def postal_address(self, element: etree._Element, party: Party) -> None:
        address = _ram(element, "PostalTradeAddress")
        _text(address, "PostcodeCode", party.postcode)
        for tag, text in zip(("LineOne", "LineTwo", "LineThree"), party.address_lines, strict=False):
            _text(address, tag, text)
        _text(address, "CityName", party.city)
        _ram(address, "CountryID", party.country_code)
        _text(address, "CountrySubDivisionName", party.subdivision)

    def delivery(self, delivery: etree._Element) -> None:
        """BG-13. The CII XSD requires ``ApplicableHeaderTradeDelivery`` while PEPPOL-EN16931-R008 forbids an
        empty element: a document that states neither a delivery date nor a deliver-to country names the
        buyer's country as the deliver-to country (BT-80), which is what the absence of a delivery address
        means (the FNFE's advice for Factur-X EN 16931); the importer reads that filler back as absent."""
        doc = self.doc
        country = doc.deliver_to_country or ("" if doc.delivery_date else doc.buyer.country_code)
        if country:
            _ram(_ram(_ram(delivery, "ShipToTradeParty"), "PostalTradeAddress"), "CountryID", country)
        if doc.delivery_date:
            _date(_ram(delivery, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", doc.delivery_date)

    def settlement(self, settlement: etree._Element) -> None:
        doc, totals = self.doc, self.totals
        means = doc.payment_means
        if means is not None:
            _text(settlement, "CreditorReferenceID", means.creditor_id)
            _text(settlement, "PaymentReference", means.remittance_information)
        if doc.tax_currency:  # BT-6
            _ram(settlement, "TaxCurrencyCode", doc.tax_currency)
        _ram(settlement, "InvoiceCurrencyCode", self.currency)
        payee = doc.payee
        if payee is not None:
            element = _ram(settlement, "PayeeTradeParty")
            if payee.identifier:
                if payee.identifier_scheme:
                    _ram(element, "GlobalID", payee.identifier, schemeID=payee.identifier_scheme)
                else:
                    _ram(element, "ID", payee.identifier)
            _ram(element, "Name", payee.name)
            if payee.legal_registration_id:
                _ram(_ram(element, "SpecifiedLegalOrganization"), "ID", payee.legal_registration_id,
                     schemeID=payee.legal_registration_scheme)
        if means is not None:
            self.payment_means(settlement)

        for row in breakdown_rows(doc, totals):
            tax = _ram(settlement, "ApplicableTradeTax")
            self.amount(tax, "CalculatedAmount", row.subtotal.tax_amount)
            _ram(tax, "TypeCode", "VAT")
            _text(tax, "ExemptionReason", row.exemption_reason)
            self.amount(tax, "BasisAmount", row.subtotal.taxable_amount)
            _ram(tax, "CategoryCode", row.subtotal.category)
            _text(tax, "ExemptionReasonCode", row.exemption_reason_code)
            if row.subtotal.category not in NO_RATE_CATEGORIES:
                _ram(tax, "RateApplicablePercent", fmt_decimal(row.subtotal.rate))

        self.period(settlement, doc.period_start, doc.period_end)

        amounts = doc.allowance_charge_amounts(totals)
        for item, amount in zip(doc.allowances_charges, amounts, strict=True):
            element = _ram(settlement, "SpecifiedTradeAllowanceCharge")
            _indicator(element, item.is_charge)
            if item.percent is not None:
                _ram(element, "CalculationPercent", fmt_decimal(item.percent))
                self.amount(element, "BasisAmount", totals.line_total)
            self.amount(element, "ActualAmount", amount)
            _text(element, "ReasonCode", item.reason_code)
            _text(element, "Reason", item.reason)
            tax = _ram(element, "CategoryTradeTax")
            _ram(tax, "TypeCode", "VAT")
            _ram(tax, "CategoryCode", item.tax_category)
            if item.tax_category not in NO_RATE_CATEGORIES:
                _ram(tax, "RateApplicablePercent", fmt_decimal(item.tax_rate))

        if doc.payment_terms or doc.due_date or (means is not None and means.mandate_reference):
            terms = _ram(settlement, "SpecifiedTradePaymentTerms")
            _text(terms, "Description", doc.payment_terms)
            _date(terms, "DueDateDateTime", doc.due_date)
            if means is not None:
                _text(terms, "DirectDebitMandateID", means.mandate_reference)

        summation = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
        self.amount(summation, "LineTotalAmount", totals.line_total)
        if doc.allowances_charges:
            self.amount(summation, "ChargeTotalAmount", totals.charge_total)
            self.amount(summation, "AllowanceTotalAmount", totals.allowance_total)
        self.amount(summation, "TaxBasisTotalAmount", totals.tax_exclusive)
        self.amount(summation, "TaxTotalAmount", totals.tax_total, with_currency=True)
        in_tax_currency = doc.tax_total_in_tax_currency(totals)
        if in_tax_currency is not None:  # BT-111
            _ram(summation, "TaxTotalAmount", fmt_amount(in_tax_currency, doc.tax_currency),
                 currencyID=doc.tax_currency)
        if totals.rounding:
            self.amount(summation, "RoundingAmount", totals.rounding)
        self.amount(summation, "GrandTotalAmount", totals.tax_inclusive)
        if totals.prepaid:
            self.amount(summation, "TotalPrepaidAmount", totals.prepaid)
        self.amount(summation, "DuePayableAmount", totals.payable)

        if doc.preceding_invoice:
            reference = _ram(settlement, "InvoiceReferencedDocument")
            _ram(reference, "IssuerAssignedID", doc.preceding_invoice)
            _date(reference, "FormattedIssueDateTime", doc.preceding_invoice_date, qualified=True)
        if doc.buyer_accounting_ref:
            _ram(_ram(settlement, "ReceivableSpecifiedTradeAccountingAccount"), "ID", doc.buyer_accounting_ref)

    def payment_means(self, settlement: etree._Element) -> None:
        means = self.doc.payment_means
        assert means is not None
        element = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(element, "TypeCode", means.code)
        _text(element, "Information", means.text)
        if means.card_number:
            card = _ram(element, "ApplicableTradeSettlementFinancialCard")
            _ram(card, "ID", means.card_number)
            _text(card, "CardholderName", means.card_holder)
        if means.debited_account:
            _ram(_ram(element, "PayerPartyDebtorFinancialAccount"), "IBANID", means.debited_account.replace(" ", ""))
        if means.iban:
            account = _ram(element, "PayeePartyCreditorFinancialAccount")
            _ram(account, "IBANID", means.iban.replace(" ", ""))
            _text(account, "AccountName", means.account_name)
            if means.bic:
                _ram(_ram(element, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", means.bic)


def render_cii(doc: InvoiceDocument, *, validate: bool = True, duly_rules: bool = True) -> bytes:
    """The Factur-X EN 16931 (CII D16B) XML of ``doc``, UTF-8 bytes.

    Raises :class:`~duly.domain.errors.MissingDocumentData` /
    :class:`~duly.domain.errors.InvalidDocumentData` before rendering, and
    :class:`~duly.domain.errors.EInvoiceInvalid` if the result breaks Duly's rules or (with
    ``validate``, the default) the Factur-X XSD or the official EN 16931 CII rules.
    ``duly_rules=False`` skips Duly's issuing rule (due date and payment terms), only for
    re-rendering a document Duly did not issue.
    """
    writer = _CiiWriter(doc, duly_rules=duly_rules)
    return check_output(serialize(writer.build()), doc, validate=validate, duly_rules=duly_rules)


#: The producer ``factur-x`` writes into the XMP metadata (pdf:Producer): pypdf writes the final file.
FACTURX_XMP_PRODUCER = "pypdf"

_XMP_NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "pdf": "http://ns.adobe.com/pdf/1.3/",
           "xmp": "http://ns.adobe.com/xap/1.0/"}


def _pdf_date(xmp_date: str) -> str:
    """``2026-12-07T16:45:02+00:00`` → ``D:20261207164502+00'00'`` (the Info dictionary's form of the XMP date)."""
    from datetime import datetime, timedelta

    moment = datetime.fromisoformat(xmp_date)
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{moment:D:%Y%m%d%H%M%S}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


_XPACKET = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n', b'\n<?xpacket end="w"?>')


def _info_as_in_xmp(pdf_bytes: bytes) -> bytes:
    """The Factur-X PDF with its document-information dictionary and its XMP metadata stating the same facts.

    ``factur-x`` replaces the XMP (pdf:Producer "pypdf", xmp:CreatorTool, dates) but keeps WeasyPrint's
    Producer in the Info dictionary, reads the clock a second time for the Info dates and writes the keywords
    in the Info dictionary only. PDF/A wants each Info entry to equal its XMP property, so the Info
    dictionary's Producer, Creator and dates are taken from the XMP, and the keywords are added to the XMP.
    """
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes)))
    stream = writer.root_object["/Metadata"].get_object()
    xmp = etree.fromstring(stream.get_data())

    def prop(name: str) -> etree._Element:
        [element] = xmp.xpath(f"//{name}", namespaces=_XMP_NS)
        return element

    producer = prop("pdf:Producer")
    keywords = str((writer.metadata or {}).get("/Keywords", "") or "")
    if keywords and not xmp.xpath("//pdf:Keywords", namespaces=_XMP_NS):
        etree.SubElement(producer.getparent(), f"{{{_XMP_NS['pdf']}}}Keywords").text = keywords
        stream.set_data(_XPACKET[0] + etree.tostring(xmp, encoding="utf-8") + _XPACKET[1])
    writer.add_metadata({
        "/Producer": producer.text,
        "/Creator": prop("xmp:CreatorTool").text,
        "/CreationDate": _pdf_date(prop("xmp:CreateDate").text),
        "/ModDate": _pdf_date(prop("xmp:ModifyDate").text),
    })
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def render_facturx_pdf(pdf_bytes: bytes, doc: InvoiceDocument, *, validate: bool = True) -> bytes:
    """Embed the CII of ``doc`` into ``pdf_bytes`` (a PDF/A-3) as a Factur-X EN 16931 invoice.

    The XML is rendered (and validated) by :func:`render_cii`; ``factur-x`` checks it against
    the Factur-X XSD again, attaches it as ``factur-x.xml`` and writes the XMP metadata.
    """
    from facturx import generate_from_binary

    xml = render_cii(doc, validate=validate)
    return _info_as_in_xmp(generate_from_binary(
        pdf_bytes,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": doc.seller.name,
            "keywords": "Factur-X, Invoice",
            "title": f"{doc.seller.name}: {doc.kind.capitalize()} {doc.number}",
            "subject": (f"Factur-X {doc.kind} {doc.number} dated {doc.issue_date.isoformat()} "
                        f"issued by {doc.seller.name}"),
        },
    ))
