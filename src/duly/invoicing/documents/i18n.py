"""Words and number/date formats of printed documents, in English, French, German, Russian and Spanish.

Labels live in one small catalogue per language (:data:`LABELS`); a missing key falls back to
English, so a new label never breaks a language. Numbers, currencies and dates are formatted by
Babel for the document's full locale (``fr_FR``, ``de_CH``…), so separators follow the country.

Dates are always printed in Babel's *long* form (``30 avril 2026``, ``30. April 2026``): a month
name can never be misread, unlike ``04/05/2026``. A bare ``en`` locale is formatted as ``en_GB``
(``30 April 2026``, like the English terms frozen at issue); ``en_US`` gives ``April 30, 2026``.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.numbers import NumberPattern, parse_pattern

from duly.domain.late_fees import LateFeePolicy
from duly.domain.money import exponent
from duly.domain.payment_terms import PaymentTerms

__all__ = ["LABELS", "LANGUAGES", "UNIT_NAMES", "Localizer", "localizer"]

LANGUAGES = ("en", "fr", "de", "ru", "es")

_DOUBLE_STOP = re.compile(r"(?<=[^.]\.)\.(?=\s|$)")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title.standard": "Invoice",
        "title.deposit": "Deposit invoice",
        "title.credit_note": "Credit note",
        "title.late_fee": "Late-payment invoice",
        "title.receipt": "Payment receipt",
        "title.statement": "Statement of account",
        "draft": "DRAFT",
        "draft_notice": "Draft — not a valid invoice until issued",
        "seller": "From",
        "buyer": "Bill to",
        "number": "Number",
        "issue_date": "Issue date",
        "due_date": "Due date",
        "service_period": "Service period",
        "customer_code": "Customer number",
        "po_number": "PO number",
        "buyer_reference": "Your reference",
        "cost_centre": "Cost centre",
        "ap_contact": "Attention",
        "billing_address": "Billing address",
        "contract": "Contract",
        "vat_id": "VAT ID",
        "registration_id": "Company reg. no.",
        "description": "Description",
        "quantity": "Qty",
        "unit": "Unit",
        "unit_price": "Unit price",
        "discount": "Discount",
        "tax_rate": "VAT",
        "amount": "Amount",
        "line_period": "Period",
        "tax_breakdown": "VAT breakdown",
        "tax_category": "Category",
        "taxable_amount": "Taxable amount",
        "tax_amount": "VAT amount",
        "subtotal": "Subtotal",
        "allowances": "Allowances",
        "charges": "Charges",
        "total_excl_tax": "Total excl. VAT",
        "total_tax": "Total VAT",
        "total_incl_tax": "Total incl. VAT",
        "deposit_deducted": "Deposit / credit deducted",
        "already_paid": "Already paid",
        "retainer_balance": "Retainer balance on {date}",
        "balance_due": "Balance due",
        "amount_credited": "Amount credited",
        "pay_by": "Please pay {amount} by {date}.",
        "nothing_due": "Nothing is due on this document.",
        "payment_instructions": "How to pay",
        "preferred": "preferred",
        "method.bank_transfer": "Bank transfer",
        "method.online": "Pay online",
        "method.sepa_debit": "SEPA direct debit",
        "method.ach_debit": "ACH debit",
        "method.check": "Cheque",
        "method.cash": "Cash",
        "method.card": "Card",
        "method.paypal": "PayPal",
        "method.credit": "Credit on your account",
        "account_holder": "Account holder",
        "iban": "IBAN",
        "bic": "BIC",
        "bank": "Bank",
        "reference": "Reference",
        "reference_hint": "Please quote this reference so that we can match your payment.",
        "pay_online_hint": "Pay online at:",
        "qr_hint": "Scan with your banking app (EPC QR code).",
        "sepa_debit_hint": "The amount will be collected from your account by SEPA direct debit on the due date.",
        "ach_debit_hint": "The amount will be debited from your account by ACH on the due date.",
        "method.card_autopay": "Automatic card payment",
        "card_autopay": "{amount} will be charged to {card} on {date}.",
        "card_autopay_unnamed": "{amount} will be charged to your saved card on {date}.",
        "card_autopay_hint": "Nothing to do: the card you saved with us is charged automatically.",
        "sepa_debit_on": "{amount} will be debited from your account by SEPA direct debit on {date}.",
        "mandate_reference": "Mandate reference",
        "creditor_id": "Creditor identifier",
        "debited_account": "Debited account",
        "debit_date": "Debit date",
        "sepa_prenotification": ("This invoice is the pre-notification of the SEPA direct debit by "
                                 "{name}: please make sure the account is funded on the debit date."),
        "check_hint": "Cheques payable to {name}, quoting the reference, sent to the address above.",
        "cash_hint": "Cash payments at our office against a receipt.",
        "payment_terms": "Payment terms",
        "late_terms": "Late payment",
        "attachments": "Attachments",
        "notes": "Notes",
        "corrects": "This credit note corrects invoice {number} of {date}.",
        "late_fee_for": "Late-payment charges for invoice {number}.",
        "deposit_note": "Deposit to be deducted from the final invoice.",
        "reverse_charge": "Reverse charge: VAT to be accounted for by the recipient.",
        "page": "Page",
        "of": "of",
        "category.S": "Standard rate",
        "category.Z": "Zero rated",
        "category.E": "Exempt",
        "category.AE": "Reverse charge",
        "category.K": "Intra-community supply",
        "category.G": "Export outside the EU",
        "category.O": "Not subject to VAT",
        "category.L": "Canary Islands IGIC",
        "category.M": "Ceuta and Melilla IPSI",
        # payment terms in words
        "terms.due_by": "Payment due by {date} ({terms}).",
        "terms.on_receipt": "Payment due on receipt, by {date}.",
        "terms.net_zero": "net, due on the issue date",
        "terms.net.one": "{n} day net",
        "terms.net.other": "{n} days net",
        "terms.eom": "end of month",
        "terms.eom_plus.one": "end of month + {n} day",
        "terms.eom_plus.other": "end of month + {n} days",
        "terms.day_of_next_month": "day {n} of the following month",
        # late-payment terms in words
        "late.none": "No late-payment charges.",
        "late.intro": "Late payment: {parts}.",
        "late.join": ", plus ",
        "late.interest_annual": "interest at {rate} per year",
        "late.interest_monthly": "interest at {rate} per month ({annual} per year)",
        "late.eu_statutory": "interest at {rate} per year (ECB reference rate {reference} + {margin} points)",
        "late.eu_statutory_current": (
            "statutory interest at the reference rate + {margin} points (currently {rate} per year, "
            "{reference_name} {reference} for the {semester})"
        ),
        "late.reference_ecb": "ECB rate",
        "late.reference_central_bank": "{currency} central bank rate",
        "late.semester_1": "1st half of {year}",
        "late.semester_2": "2nd half of {year}",
        "late.from_due": " from the due date",
        "late.from_grace.one": " from {n} day after the due date",
        "late.from_grace.other": " from {n} days after the due date",
        "late.fixed_fee": "a fixed fee of {amount}",
        "late.compensation": "{amount} fixed compensation for recovery costs",
        "late.statutory_current": (
            "statutory interest under {law} at the {reference_name} + {margin} points (currently {rate} per year, "
            "{reference_name} {reference} for the {semester})"
        ),
        "late.statutory": "interest at {rate} per year ({reference_name} {reference} + {margin} points, {law})",
        "late.compensation_bands": "a fixed compensation for recovery costs of {amounts} by size of debt",
        "late.band_under": "{amount} (debt under {limit})",
        "late.band_between": "{amount} ({low} to {high})",
        "late.band_over": "{amount} ({low} or more)",
        "late.band_or": " or ",
        "late.law.de_statutory_b2b": "§288(2) BGB",
        "late.law.de_statutory_b2c": "§288(1) BGB",
        "late.law.fr_statutory": "art. L441-10 of the French Commercial Code",
        "late.law.uk_statutory": "the Late Payment of Commercial Debts (Interest) Act 1998",
        "late.reference.de_statutory_b2b": "German base rate",
        "late.reference.de_statutory_b2c": "German base rate",
        "late.reference.fr_statutory": "ECB rate",
        "late.reference.uk_statutory": "Bank of England base rate",
        "late.grace.one": "; charged only when payment is more than {n} day late",
        "late.grace.other": "; charged only when payment is more than {n} days late",
        "late.cap": "; total late charges capped at {cap}",
        "late.cap_or": " or ",
        "late.cap_lower": ", whichever is lower",
        "late.cap_percent": "{rate} of the invoice amount",
        # receipts
        "receipt.received": "We received your payment. Thank you.",
        "receipt.received_on": "Received on",
        "receipt.method": "Method",
        "receipt.external_reference": "Payment reference",
        "receipt.amount": "Amount received",
        "receipt.applied_to": "Applied to",
        "receipt.credit": "Kept as credit on your account",
        "receipt.invoice": "Invoice",
        "receipt.open_after": "Still open",
        # statements
        "statement.as_of": "As of",
        "statement.open_items": "Open items",
        "statement.total": "Invoice total",
        "statement.open": "Open amount",
        "statement.days_overdue": "Days overdue",
        "statement.total_open": "Total outstanding",
        "statement.credit": "Credit available",
        "statement.retainer": "Retainer balance",
        "statement.interest": "Interest accrued, not invoiced",
        "statement.interest_total": "Late-payment interest accrued to this date, not yet invoiced",
        "statement.none": "No open items: your account is up to date. Thank you.",
        "statement.not_due": "not yet due",
        # letters
        "letter.date": "Date",
        "letter.our_reference": "Our reference",
        "letter.customer_number": "Customer number",
        "letter.subject.reminder": "Payment reminder",
        "letter.subject.final_notice": "Final notice before further action",
        "letter.subject.termination": "Termination of our services for non-payment",
        "letter.salutation": "Dear Sir or Madam,",
        "letter.salutation_named": "Dear {name},",
        "letter.body.reminder": (
            "According to our records, the following items are overdue. Perhaps this has escaped your "
            "attention; we kindly ask you to pay the total of {total} by {deadline}."
        ),
        "letter.body.final_notice": (
            "Despite our previous reminders, the following items remain unpaid. Please pay the total of "
            "{total} by {deadline}. Without payment by that date we will take further steps to recover "
            "the debt, which may add costs."
        ),
        "letter.body.termination": (
            "Despite our reminders, the following items remain unpaid. We therefore terminate our services "
            "with effect from {effective}. The total of {total} remains due and must be paid by {deadline}."
        ),
        "letter.body.final_notice_first": (
            "The following items remain unpaid. Please pay the total of {total} by {deadline}. Without "
            "payment by that date we will take further steps to recover the debt, which may add costs."
        ),
        "letter.body.termination_first": (
            "The following items remain unpaid. We therefore terminate our services with effect from "
            "{effective}. The total of {total} remains due and must be paid by {deadline}."
        ),
        "letter.reminded_on": "We reminded you on {dates}.",
        "letter.overdue_items": "Overdue items",
        "letter.paid_meanwhile": "If you have paid in the meantime, please disregard this letter.",
        "letter.contact": "For any question about this letter, please contact us at {contact}.",
        "letter.closing": "Yours faithfully,",
        "letter.total": "Total overdue",
        "letter.late_charges": "Late charges",
    },
    "fr": {
        "title.standard": "Facture",
        "title.deposit": "Facture d'acompte",
        "title.credit_note": "Avoir",
        "title.late_fee": "Facture de pénalités de retard",
        "title.receipt": "Reçu de paiement",
        "title.statement": "Relevé de compte",
        "draft": "BROUILLON",
        "draft_notice": "Brouillon — sans valeur de facture avant émission",
        "seller": "Émetteur",
        "buyer": "Facturé à",
        "number": "Numéro",
        "issue_date": "Date d'émission",
        "due_date": "Date d'échéance",
        "service_period": "Période de prestation",
        "customer_code": "N° client",
        "po_number": "N° de bon de commande",
        "buyer_reference": "Votre référence",
        "cost_centre": "Centre de coûts",
        "ap_contact": "À l'attention de",
        "billing_address": "Adresse de facturation",
        "contract": "Contrat",
        "vat_id": "N° TVA",
        "registration_id": "SIREN / RCS",
        "description": "Désignation",
        "quantity": "Qté",
        "unit": "Unité",
        "unit_price": "Prix unitaire HT",
        "discount": "Remise",
        "tax_rate": "TVA",
        "amount": "Montant HT",
        "line_period": "Période",
        "tax_breakdown": "Détail de la TVA",
        "tax_category": "Catégorie",
        "taxable_amount": "Base HT",
        "tax_amount": "Montant TVA",
        "subtotal": "Sous-total HT",
        "allowances": "Remises",
        "charges": "Frais",
        "total_excl_tax": "Total HT",
        "total_tax": "Total TVA",
        "total_incl_tax": "Total TTC",
        "deposit_deducted": "Acompte / avoir déduit",
        "already_paid": "Déjà payé",
        "retainer_balance": "Solde de la provision au {date}",
        "balance_due": "Reste à payer",
        "amount_credited": "Montant crédité",
        "pay_by": "Merci de régler {amount} au plus tard le {date}.",
        "nothing_due": "Aucun montant n'est dû au titre de ce document.",
        "payment_instructions": "Modalités de paiement",
        "preferred": "préféré",
        "method.bank_transfer": "Virement bancaire",
        "method.online": "Paiement en ligne",
        "method.sepa_debit": "Prélèvement SEPA",
        "method.ach_debit": "Prélèvement ACH",
        "method.check": "Chèque",
        "method.cash": "Espèces",
        "method.card": "Carte bancaire",
        "method.paypal": "PayPal",
        "method.credit": "Avoir sur votre compte",
        "account_holder": "Titulaire du compte",
        "iban": "IBAN",
        "bic": "BIC",
        "bank": "Banque",
        "reference": "Référence",
        "reference_hint": "Merci d'indiquer cette référence pour que nous puissions identifier votre paiement.",
        "pay_online_hint": "Payez en ligne sur :",
        "qr_hint": "Scannez avec votre application bancaire (QR code EPC).",
        "sepa_debit_hint": "Le montant sera prélevé sur votre compte par prélèvement SEPA à l'échéance.",
        "ach_debit_hint": "Le montant sera débité de votre compte par ACH à l'échéance.",
        "method.card_autopay": "Paiement automatique par carte",
        "card_autopay": "{amount} seront débités sur votre carte {card} le {date}.",
        "card_autopay_unnamed": "{amount} seront débités sur votre carte enregistrée le {date}.",
        "card_autopay_hint": "Vous n'avez rien à faire : la carte enregistrée chez nous est débitée automatiquement.",
        "sepa_debit_on": "{amount} seront prélevés sur votre compte par prélèvement SEPA le {date}.",
        "mandate_reference": "Référence unique du mandat",
        "creditor_id": "Identifiant créancier SEPA",
        "debited_account": "Compte débité",
        "debit_date": "Date du prélèvement",
        "sepa_prenotification": ("Cette facture vaut pré-notification du prélèvement SEPA de {name} : "
                                 "merci de veiller à ce que le compte soit approvisionné à la date du prélèvement."),
        "check_hint": "Chèque à l'ordre de {name}, en indiquant la référence, à envoyer à l'adresse ci-dessus.",
        "cash_hint": "Paiement en espèces à nos bureaux contre reçu.",
        "payment_terms": "Conditions de paiement",
        "late_terms": "Retard de paiement",
        "attachments": "Pièces jointes",
        "notes": "Remarques",
        "corrects": "Cet avoir rectifie la facture {number} du {date}.",
        "late_fee_for": "Pénalités de retard pour la facture {number}.",
        "deposit_note": "Acompte à déduire de la facture finale.",
        "reverse_charge": "Autoliquidation : TVA due par le preneur.",
        "page": "Page",
        "of": "sur",
        "category.S": "Taux normal",
        "category.Z": "Taux zéro",
        "category.E": "Exonéré",
        "category.AE": "Autoliquidation",
        "category.K": "Livraison intracommunautaire",
        "category.G": "Exportation hors UE",
        "category.O": "Hors champ de la TVA",
        "category.L": "IGIC (Canaries)",
        "category.M": "IPSI (Ceuta et Melilla)",
        "terms.due_by": "Paiement au plus tard le {date} ({terms}).",
        "terms.on_receipt": "Paiement à réception, au plus tard le {date}.",
        "terms.net_zero": "net, exigible à la date d'émission",
        "terms.net.one": "{n} jour net",
        "terms.net.other": "{n} jours net",
        "terms.eom": "fin de mois",
        "terms.eom_plus.one": "fin de mois + {n} jour",
        "terms.eom_plus.other": "fin de mois + {n} jours",
        "terms.day_of_next_month": "le {n} du mois suivant",
        "late.none": "Aucune pénalité de retard.",
        "late.intro": "En cas de retard de paiement : {parts}.",
        "late.join": ", plus ",
        "late.interest_annual": "intérêts au taux de {rate} par an",
        "late.interest_monthly": "intérêts au taux de {rate} par mois ({annual} par an)",
        "late.eu_statutory": (
            "intérêts au taux de {rate} par an (taux de refinancement de la BCE {reference} + {margin} points)"
        ),
        "late.eu_statutory_current": (
            "intérêts légaux au taux de référence majoré de {margin} points (actuellement {rate} par an, "
            "{reference_name} de {reference} pour le {semester})"
        ),
        "late.reference_ecb": "taux de la BCE",
        "late.reference_central_bank": "taux de la banque centrale ({currency})",
        "late.semester_1": "1er semestre {year}",
        "late.semester_2": "2e semestre {year}",
        "late.from_due": " à compter de la date d'échéance",
        "late.from_grace.one": " à compter de {n} jour après l'échéance",
        "late.from_grace.other": " à compter de {n} jours après l'échéance",
        "late.fixed_fee": "des frais fixes de {amount}",
        "late.compensation": "une indemnité forfaitaire pour frais de recouvrement de {amount}",
        "late.statutory_current": (
            "intérêts légaux ({law}) au {reference_name} majoré de {margin} points (actuellement {rate} par an, "
            "{reference_name} de {reference} pour le {semester})"
        ),
        "late.statutory": "intérêts au taux de {rate} par an ({reference_name} {reference} + {margin} points, {law})",
        "late.compensation_bands": (
            "une indemnité forfaitaire pour frais de recouvrement de {amounts} selon le montant dû"
        ),
        "late.band_under": "{amount} (créance inférieure à {limit})",
        "late.band_between": "{amount} (de {low} à {high})",
        "late.band_over": "{amount} ({low} ou plus)",
        "late.band_or": " ou ",
        "late.law.de_statutory_b2b": "§288(2) BGB",
        "late.law.de_statutory_b2c": "§288(1) BGB",
        "late.law.fr_statutory": "art. L441-10 du Code de commerce",
        "late.law.uk_statutory": "Late Payment of Commercial Debts (Interest) Act 1998",
        "late.reference.de_statutory_b2b": "taux de base allemand",
        "late.reference.de_statutory_b2c": "taux de base allemand",
        "late.reference.fr_statutory": "taux de refinancement de la BCE",
        "late.reference.uk_statutory": "taux directeur de la Banque d'Angleterre",
        "late.grace.one": " ; appliqués seulement au-delà de {n} jour de retard",
        "late.grace.other": " ; appliqués seulement au-delà de {n} jours de retard",
        "late.cap": " ; total des pénalités plafonné à {cap}",
        "late.cap_or": " ou ",
        "late.cap_lower": ", le montant le plus bas s'appliquant",
        "late.cap_percent": "{rate} du montant de la facture",
        "receipt.received": "Nous avons bien reçu votre paiement. Merci.",
        "receipt.received_on": "Reçu le",
        "receipt.method": "Moyen de paiement",
        "receipt.external_reference": "Référence du paiement",
        "receipt.amount": "Montant reçu",
        "receipt.applied_to": "Affecté à",
        "receipt.credit": "Conservé en avoir sur votre compte",
        "receipt.invoice": "Facture",
        "receipt.open_after": "Reste dû",
        "statement.as_of": "Au",
        "statement.open_items": "Factures ouvertes",
        "statement.total": "Montant de la facture",
        "statement.open": "Reste dû",
        "statement.days_overdue": "Jours de retard",
        "statement.total_open": "Total dû",
        "statement.credit": "Avoir disponible",
        "statement.retainer": "Solde de la provision",
        "statement.interest": "Intérêts courus, non facturés",
        "statement.interest_total": "Intérêts de retard courus à cette date, non encore facturés",
        "statement.none": "Aucune facture ouverte : votre compte est à jour. Merci.",
        "statement.not_due": "non échu",
        "letter.date": "Date",
        "letter.our_reference": "Notre référence",
        "letter.customer_number": "N° client",
        "letter.subject.reminder": "Relance de paiement",
        "letter.subject.final_notice": "Mise en demeure avant recouvrement",
        "letter.subject.termination": "Résiliation de nos services pour défaut de paiement",
        "letter.salutation": "Madame, Monsieur,",
        "letter.salutation_named": "Madame, Monsieur {name},",
        "letter.body.reminder": (
            "Sauf erreur de notre part, les montants suivants restent impayés à ce jour. Il s'agit peut-être "
            "d'un oubli ; nous vous remercions de régler la somme de {total} au plus tard le {deadline}."
        ),
        "letter.body.final_notice": (
            "Malgré nos précédentes relances, les montants suivants restent impayés. Nous vous mettons en "
            "demeure de régler la somme de {total} au plus tard le {deadline}. À défaut, nous engagerons "
            "des démarches de recouvrement, susceptibles d'entraîner des frais supplémentaires."
        ),
        "letter.body.termination": (
            "Malgré nos relances, les montants suivants restent impayés. Nous résilions donc nos services "
            "à compter du {effective}. La somme de {total} reste due et doit être réglée au plus tard le {deadline}."
        ),
        "letter.body.final_notice_first": (
            "Les montants suivants restent impayés. Nous vous mettons en demeure de régler la somme de {total} "
            "au plus tard le {deadline}. À défaut, nous engagerons des démarches de recouvrement, susceptibles "
            "d'entraîner des frais supplémentaires."
        ),
        "letter.body.termination_first": (
            "Les montants suivants restent impayés. Nous résilions donc nos services à compter du {effective}. "
            "La somme de {total} reste due et doit être réglée au plus tard le {deadline}."
        ),
        "letter.reminded_on": "Nous vous avons relancé le {dates}.",
        "letter.overdue_items": "Montants échus",
        "letter.paid_meanwhile": "Si vous avez réglé entre-temps, merci de ne pas tenir compte de ce courrier.",
        "letter.contact": "Pour toute question concernant ce courrier, contactez-nous : {contact}.",
        "letter.closing": "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
        "letter.total": "Total échu",
        "letter.late_charges": "Pénalités de retard",
    },
    "de": {
        "title.standard": "Rechnung",
        "title.deposit": "Anzahlungsrechnung",
        "title.credit_note": "Gutschrift",
        "title.late_fee": "Rechnung über Verzugskosten",
        "title.receipt": "Zahlungsbestätigung",
        "title.statement": "Kontoauszug",
        "draft": "ENTWURF",
        "draft_notice": "Entwurf — erst nach Ausstellung eine gültige Rechnung",
        "seller": "Rechnungssteller",
        "buyer": "Rechnungsempfänger",
        "number": "Rechnungsnummer",
        "issue_date": "Rechnungsdatum",
        "due_date": "Fälligkeitsdatum",
        "service_period": "Leistungszeitraum",
        "customer_code": "Kundennummer",
        "po_number": "Bestellnummer",
        "buyer_reference": "Ihre Referenz",
        "cost_centre": "Kostenstelle",
        "ap_contact": "z. Hd.",
        "billing_address": "Rechnungsadresse",
        "contract": "Vertrag",
        "vat_id": "USt-IdNr.",
        "registration_id": "Handelsregister",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit": "Einheit",
        "unit_price": "Einzelpreis netto",
        "discount": "Rabatt",
        "tax_rate": "USt.",
        "amount": "Betrag netto",
        "line_period": "Zeitraum",
        "tax_breakdown": "Umsatzsteuer",
        "tax_category": "Kategorie",
        "taxable_amount": "Bemessungsgrundlage",
        "tax_amount": "Steuerbetrag",
        "subtotal": "Zwischensumme netto",
        "allowances": "Nachlässe",
        "charges": "Zuschläge",
        "total_excl_tax": "Gesamt netto",
        "total_tax": "Umsatzsteuer gesamt",
        "total_incl_tax": "Gesamt brutto",
        "deposit_deducted": "Abzüglich Anzahlung / Guthaben",
        "already_paid": "Bereits bezahlt",
        "retainer_balance": "Guthaben aus Vorauszahlung am {date}",
        "balance_due": "Offener Betrag",
        "amount_credited": "Gutgeschriebener Betrag",
        "pay_by": "Bitte überweisen Sie {amount} bis zum {date}.",
        "nothing_due": "Aus diesem Beleg ist kein Betrag zu zahlen.",
        "payment_instructions": "Zahlungsmöglichkeiten",
        "preferred": "bevorzugt",
        "method.bank_transfer": "Überweisung",
        "method.online": "Online bezahlen",
        "method.sepa_debit": "SEPA-Lastschrift",
        "method.ach_debit": "ACH-Lastschrift",
        "method.check": "Scheck",
        "method.cash": "Barzahlung",
        "method.card": "Karte",
        "method.paypal": "PayPal",
        "method.credit": "Guthaben auf Ihrem Konto",
        "account_holder": "Kontoinhaber",
        "iban": "IBAN",
        "bic": "BIC",
        "bank": "Bank",
        "reference": "Verwendungszweck",
        "reference_hint": "Bitte geben Sie diese Referenz an, damit wir Ihre Zahlung zuordnen können.",
        "pay_online_hint": "Online bezahlen unter:",
        "qr_hint": "Mit der Banking-App scannen (EPC-QR-Code, GiroCode).",
        "sepa_debit_hint": "Der Betrag wird zum Fälligkeitsdatum per SEPA-Lastschrift von Ihrem Konto eingezogen.",
        "ach_debit_hint": "Der Betrag wird zum Fälligkeitsdatum per ACH von Ihrem Konto abgebucht.",
        "method.card_autopay": "Automatische Kartenzahlung",
        "card_autopay": "{amount} werden am {date} von Ihrer Karte {card} abgebucht.",
        "card_autopay_unnamed": "{amount} werden am {date} von Ihrer hinterlegten Karte abgebucht.",
        "card_autopay_hint": "Sie müssen nichts tun: Die bei uns hinterlegte Karte wird automatisch belastet.",
        "sepa_debit_on": "{amount} werden am {date} per SEPA-Lastschrift von Ihrem Konto eingezogen.",
        "mandate_reference": "Mandatsreferenz",
        "creditor_id": "Gläubiger-Identifikationsnummer",
        "debited_account": "Belastetes Konto",
        "debit_date": "Einzugsdatum",
        "sepa_prenotification": ("Diese Rechnung ist die Vorabankündigung (Pre-Notification) der "
                                 "SEPA-Lastschrift von {name}: Bitte sorgen Sie zum Einzugsdatum für "
                                 "ausreichende Deckung."),
        "check_hint": "Schecks zahlbar an {name}, unter Angabe der Referenz, an die obige Anschrift.",
        "cash_hint": "Barzahlung in unserem Büro gegen Quittung.",
        "payment_terms": "Zahlungsbedingungen",
        "late_terms": "Zahlungsverzug",
        "attachments": "Anlagen",
        "notes": "Hinweise",
        "corrects": "Diese Gutschrift korrigiert die Rechnung {number} vom {date}.",
        "late_fee_for": "Verzugskosten für die Rechnung {number}.",
        "deposit_note": "Die Anzahlung wird mit der Schlussrechnung verrechnet.",
        "reverse_charge": "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge).",
        "page": "Seite",
        "of": "von",
        "category.S": "Regelsteuersatz",
        "category.Z": "Nullsatz",
        "category.E": "Steuerbefreit",
        "category.AE": "Reverse Charge",
        "category.K": "Innergemeinschaftliche Lieferung",
        "category.G": "Ausfuhr außerhalb der EU",
        "category.O": "Nicht steuerbar",
        "category.L": "IGIC (Kanaren)",
        "category.M": "IPSI (Ceuta und Melilla)",
        "terms.due_by": "Zahlbar bis zum {date} ({terms}).",
        "terms.on_receipt": "Zahlbar sofort nach Erhalt, spätestens am {date}.",
        "terms.net_zero": "netto, fällig am Rechnungsdatum",
        "terms.net.one": "{n} Tag netto",
        "terms.net.other": "{n} Tage netto",
        "terms.eom": "Monatsende",
        "terms.eom_plus.one": "Monatsende + {n} Tag",
        "terms.eom_plus.other": "Monatsende + {n} Tage",
        "terms.day_of_next_month": "am {n}. des Folgemonats",
        "late.none": "Keine Verzugskosten.",
        "late.intro": "Bei Zahlungsverzug: {parts}.",
        "late.join": "; außerdem ",
        "late.interest_annual": "Verzugszinsen von {rate} pro Jahr",
        "late.interest_monthly": "Verzugszinsen von {rate} pro Monat ({annual} pro Jahr)",
        "late.eu_statutory": (
            "Verzugszinsen von {rate} pro Jahr (EZB-Referenzzinssatz {reference} + {margin} Prozentpunkte)"
        ),
        "late.eu_statutory_current": (
            "gesetzliche Verzugszinsen in Höhe des Referenzzinssatzes + {margin} Prozentpunkte (derzeit {rate} pro "
            "Jahr, {reference_name} {reference} für das {semester})"
        ),
        "late.reference_ecb": "EZB-Zinssatz",
        "late.reference_central_bank": "Zinssatz der Zentralbank ({currency})",
        "late.semester_1": "1. Halbjahr {year}",
        "late.semester_2": "2. Halbjahr {year}",
        "late.from_due": " ab dem Fälligkeitsdatum",
        "late.from_grace.one": " ab {n} Tag nach Fälligkeit",
        "late.from_grace.other": " ab {n} Tagen nach Fälligkeit",
        "late.fixed_fee": "eine feste Gebühr von {amount}",
        "late.compensation": "eine Verzugspauschale von {amount}",
        "late.statutory_current": (
            "gesetzliche Verzugszinsen ({law}) von {margin} Prozentpunkten über dem {reference_name} (derzeit "
            "{rate} pro Jahr, {reference_name} {reference} für das {semester})"
        ),
        "late.statutory": "Zinsen von {rate} pro Jahr ({reference_name} {reference} + {margin} Prozentpunkte, {law})",
        "late.compensation_bands": "eine Pauschale für Beitreibungskosten von {amounts} je nach Höhe der Forderung",
        "late.band_under": "{amount} (Forderung unter {limit})",
        "late.band_between": "{amount} ({low} bis {high})",
        "late.band_over": "{amount} (ab {low})",
        "late.band_or": " oder ",
        "late.law.de_statutory_b2b": "§ 288 Abs. 2 BGB",
        "late.law.de_statutory_b2c": "§ 288 Abs. 1 BGB",
        "late.law.fr_statutory": "Art. L441-10 des französischen Handelsgesetzbuchs",
        "late.law.uk_statutory": "Late Payment of Commercial Debts (Interest) Act 1998",
        "late.reference.de_statutory_b2b": "Basiszinssatz",
        "late.reference.de_statutory_b2c": "Basiszinssatz",
        "late.reference.fr_statutory": "EZB-Hauptrefinanzierungssatz",
        "late.reference.uk_statutory": "Leitzins der Bank of England",
        "late.grace.one": "; berechnet erst bei mehr als {n} Tag Verzug",
        "late.grace.other": "; berechnet erst bei mehr als {n} Tagen Verzug",
        "late.cap": "; Verzugskosten insgesamt höchstens {cap}",
        "late.cap_or": " bzw. ",
        "late.cap_lower": ", je nachdem, welcher Betrag niedriger ist",
        "late.cap_percent": "{rate} des Rechnungsbetrags",
        "receipt.received": "Wir haben Ihre Zahlung erhalten. Vielen Dank.",
        "receipt.received_on": "Eingegangen am",
        "receipt.method": "Zahlungsart",
        "receipt.external_reference": "Zahlungsreferenz",
        "receipt.amount": "Erhaltener Betrag",
        "receipt.applied_to": "Verrechnet mit",
        "receipt.credit": "Als Guthaben auf Ihrem Konto",
        "receipt.invoice": "Rechnung",
        "receipt.open_after": "Noch offen",
        "statement.as_of": "Stand",
        "statement.open_items": "Offene Posten",
        "statement.total": "Rechnungsbetrag",
        "statement.open": "Offener Betrag",
        "statement.days_overdue": "Tage überfällig",
        "statement.total_open": "Gesamt offen",
        "statement.credit": "Verfügbares Guthaben",
        "statement.retainer": "Guthaben aus Vorauszahlung",
        "statement.interest": "Aufgelaufene Zinsen, nicht berechnet",
        "statement.interest_total": "Bis zu diesem Datum aufgelaufene, noch nicht berechnete Verzugszinsen",
        "statement.none": "Keine offenen Posten: Ihr Konto ist ausgeglichen. Vielen Dank.",
        "statement.not_due": "noch nicht fällig",
        "letter.date": "Datum",
        "letter.our_reference": "Unser Zeichen",
        "letter.customer_number": "Kundennummer",
        "letter.subject.reminder": "Zahlungserinnerung",
        "letter.subject.final_notice": "Letzte Mahnung",
        "letter.subject.termination": "Kündigung unserer Leistungen wegen Zahlungsverzugs",
        "letter.salutation": "Sehr geehrte Damen und Herren,",
        "letter.salutation_named": "Guten Tag {name},",
        "letter.body.reminder": (
            "nach unseren Unterlagen sind die folgenden Posten überfällig. Sicher haben Sie die Zahlung nur "
            "übersehen; bitte überweisen Sie den Gesamtbetrag von {total} bis zum {deadline}."
        ),
        "letter.body.final_notice": (
            "trotz unserer Erinnerungen sind die folgenden Posten weiterhin offen. Bitte überweisen Sie den "
            "Gesamtbetrag von {total} bis zum {deadline}. Andernfalls leiten wir weitere Schritte zur "
            "Beitreibung ein, die zusätzliche Kosten verursachen können."
        ),
        "letter.body.termination": (
            "trotz unserer Mahnungen sind die folgenden Posten weiterhin offen. Wir kündigen daher unsere "
            "Leistungen mit Wirkung zum {effective}. Der Gesamtbetrag von {total} bleibt fällig und ist bis "
            "zum {deadline} zu zahlen."
        ),
        "letter.body.final_notice_first": (
            "die folgenden Posten sind weiterhin offen. Bitte überweisen Sie den Gesamtbetrag von {total} bis "
            "zum {deadline}. Andernfalls leiten wir weitere Schritte zur Beitreibung ein, die zusätzliche "
            "Kosten verursachen können."
        ),
        "letter.body.termination_first": (
            "die folgenden Posten sind weiterhin offen. Wir kündigen daher unsere Leistungen mit Wirkung zum "
            "{effective}. Der Gesamtbetrag von {total} bleibt fällig und ist bis zum {deadline} zu zahlen."
        ),
        "letter.reminded_on": "Wir haben Sie am {dates} erinnert.",
        "letter.overdue_items": "Überfällige Posten",
        "letter.paid_meanwhile": (
            "Sollten Sie die Zahlung inzwischen geleistet haben, betrachten Sie dieses Schreiben bitte als "
            "gegenstandslos."
        ),
        "letter.contact": "Bei Fragen zu diesem Schreiben erreichen Sie uns unter {contact}.",
        "letter.closing": "Mit freundlichen Grüßen",
        "letter.total": "Gesamt überfällig",
        "letter.late_charges": "Verzugskosten",
    },
    "ru": {
        "title.standard": "Счёт",
        "title.deposit": "Счёт на предоплату",
        "title.credit_note": "Кредит-нота",
        "title.late_fee": "Счёт на пени за просрочку",
        "title.receipt": "Квитанция об оплате",
        "title.statement": "Акт сверки",
        "draft": "ЧЕРНОВИК",
        "draft_notice": "Черновик — не является счётом до выставления",
        "seller": "Поставщик",
        "buyer": "Плательщик",
        "number": "Номер",
        "issue_date": "Дата выставления",
        "due_date": "Срок оплаты",
        "service_period": "Период оказания услуг",
        "customer_code": "Номер клиента",
        "po_number": "Номер заказа",
        "buyer_reference": "Ваша ссылка",
        "cost_centre": "Центр затрат",
        "ap_contact": "Вниманию",
        "billing_address": "Адрес для счетов",
        "contract": "Договор",
        "vat_id": "ИНН / НДС",
        "registration_id": "Рег. номер",
        "description": "Наименование",
        "quantity": "Кол-во",
        "unit": "Ед.",
        "unit_price": "Цена без НДС",
        "discount": "Скидка",
        "tax_rate": "НДС",
        "amount": "Сумма без НДС",
        "line_period": "Период",
        "tax_breakdown": "Расчёт НДС",
        "tax_category": "Категория",
        "taxable_amount": "Облагаемая сумма",
        "tax_amount": "Сумма НДС",
        "subtotal": "Итого без НДС",
        "allowances": "Скидки",
        "charges": "Надбавки",
        "total_excl_tax": "Всего без НДС",
        "total_tax": "Всего НДС",
        "total_incl_tax": "Всего с НДС",
        "deposit_deducted": "Зачтена предоплата / кредит",
        "already_paid": "Уже оплачено",
        "retainer_balance": "Остаток предоплаты на {date}",
        "balance_due": "К оплате",
        "amount_credited": "Сумма к зачёту",
        "pay_by": "Просим оплатить {amount} не позднее {date}.",
        "nothing_due": "По этому документу оплата не требуется.",
        "payment_instructions": "Способы оплаты",
        "preferred": "предпочтительно",
        "method.bank_transfer": "Банковский перевод",
        "method.online": "Оплата онлайн",
        "method.sepa_debit": "Прямое списание SEPA",
        "method.ach_debit": "Списание ACH",
        "method.check": "Чек",
        "method.cash": "Наличные",
        "method.card": "Банковская карта",
        "method.paypal": "PayPal",
        "method.credit": "Аванс на вашем счёте",
        "account_holder": "Получатель",
        "iban": "IBAN",
        "bic": "BIC",
        "bank": "Банк",
        "reference": "Назначение платежа",
        "reference_hint": "Пожалуйста, укажите эту ссылку, чтобы мы могли опознать ваш платёж.",
        "pay_online_hint": "Оплата онлайн:",
        "qr_hint": "Отсканируйте в банковском приложении (QR-код EPC).",
        "sepa_debit_hint": "Сумма будет списана с вашего счёта прямым дебетом SEPA в срок оплаты.",
        "ach_debit_hint": "Сумма будет списана с вашего счёта через ACH в срок оплаты.",
        "method.card_autopay": "Автоматическое списание с карты",
        "card_autopay": "{amount} будут списаны с карты {card} {date}.",
        "card_autopay_unnamed": "{amount} будут списаны с сохранённой карты {date}.",
        "card_autopay_hint": "Вам ничего не нужно делать: оплата автоматически спишется с сохранённой у нас карты.",
        "sepa_debit_on": "{amount} будут списаны с вашего счёта прямым дебетом SEPA {date}.",
        "mandate_reference": "Номер мандата",
        "creditor_id": "Идентификатор кредитора",
        "debited_account": "Счёт списания",
        "debit_date": "Дата списания",
        "sepa_prenotification": ("Этот счёт является предварительным уведомлением о прямом дебете SEPA "
                                 "от {name}: пожалуйста, обеспечьте наличие средств на счёте к дате списания."),
        "check_hint": "Чек на имя {name} с указанием ссылки направьте по адресу выше.",
        "cash_hint": "Оплата наличными в нашем офисе под расписку.",
        "payment_terms": "Условия оплаты",
        "late_terms": "Просрочка оплаты",
        "attachments": "Приложения",
        "notes": "Примечания",
        "corrects": "Эта кредит-нота исправляет счёт {number} от {date}.",
        "late_fee_for": "Пени за просрочку оплаты счёта {number}.",
        "deposit_note": "Предоплата будет зачтена в окончательном счёте.",
        "reverse_charge": "Обратное начисление: НДС уплачивает покупатель.",
        "page": "Стр.",
        "of": "из",
        "category.S": "Стандартная ставка",
        "category.Z": "Нулевая ставка",
        "category.E": "Освобождено от НДС",
        "category.AE": "Обратное начисление",
        "category.K": "Поставка внутри ЕС",
        "category.G": "Экспорт за пределы ЕС",
        "category.O": "Не облагается НДС",
        "category.L": "IGIC (Канары)",
        "category.M": "IPSI (Сеута и Мелилья)",
        "terms.due_by": "Оплата не позднее {date} ({terms}).",
        "terms.on_receipt": "Оплата по получении, не позднее {date}.",
        "terms.net_zero": "в день выставления",
        "terms.net.one": "{n} день",
        "terms.net.few": "{n} дня",
        "terms.net.many": "{n} дней",
        "terms.net.other": "{n} дня",
        "terms.eom": "конец месяца",
        "terms.eom_plus.one": "конец месяца + {n} день",
        "terms.eom_plus.few": "конец месяца + {n} дня",
        "terms.eom_plus.many": "конец месяца + {n} дней",
        "terms.eom_plus.other": "конец месяца + {n} дня",
        "terms.day_of_next_month": "{n}-е число следующего месяца",
        "late.none": "Пени за просрочку не начисляются.",
        "late.intro": "При просрочке оплаты: {parts}.",
        "late.join": ", а также ",
        "late.interest_annual": "проценты по ставке {rate} годовых",
        "late.interest_monthly": "проценты по ставке {rate} в месяц ({annual} годовых)",
        "late.eu_statutory": "проценты по ставке {rate} годовых (ставка ЕЦБ {reference} + {margin} п.п.)",
        "late.eu_statutory_current": (
            "законные проценты по базовой ставке + {margin} п.п. (сейчас {rate} годовых, {reference_name} "
            "{reference} на {semester})"
        ),
        "late.reference_ecb": "ставка ЕЦБ",
        "late.reference_central_bank": "ставка центрального банка ({currency})",
        "late.semester_1": "1-е полугодие {year} г.",
        "late.semester_2": "2-е полугодие {year} г.",
        "late.from_due": " со дня, следующего за сроком оплаты",
        "late.from_grace.one": " через {n} день после срока оплаты",
        "late.from_grace.few": " через {n} дня после срока оплаты",
        "late.from_grace.many": " через {n} дней после срока оплаты",
        "late.from_grace.other": " через {n} дня после срока оплаты",
        "late.fixed_fee": "фиксированный сбор {amount}",
        "late.compensation": "компенсация расходов на взыскание {amount}",
        "late.statutory_current": (
            "законные проценты ({law}) по ставке {reference_name} + {margin} п.п. (сейчас {rate} годовых, "
            "{reference_name} {reference} на {semester})"
        ),
        "late.statutory": "проценты по ставке {rate} годовых ({reference_name} {reference} + {margin} п.п., {law})",
        "late.compensation_bands": (
            "фиксированная компенсация расходов на взыскание {amounts} в зависимости от суммы долга"
        ),
        "late.band_under": "{amount} (долг менее {limit})",
        "late.band_between": "{amount} (от {low} до {high})",
        "late.band_over": "{amount} (от {low})",
        "late.band_or": " или ",
        "late.law.de_statutory_b2b": "§288(2) Германского гражданского уложения",
        "late.law.de_statutory_b2c": "§288(1) Германского гражданского уложения",
        "late.law.fr_statutory": "ст. L441-10 Торгового кодекса Франции",
        "late.law.uk_statutory": "Late Payment of Commercial Debts (Interest) Act 1998",
        "late.reference.de_statutory_b2b": "базовая ставка Германии",
        "late.reference.de_statutory_b2c": "базовая ставка Германии",
        "late.reference.fr_statutory": "ставка ЕЦБ",
        "late.reference.uk_statutory": "базовая ставка Банка Англии",
        "late.grace.one": "; начисляются только при просрочке более {n} дня",
        "late.grace.few": "; начисляются только при просрочке более {n} дней",
        "late.grace.many": "; начисляются только при просрочке более {n} дней",
        "late.grace.other": "; начисляются только при просрочке более {n} дня",
        "late.cap": "; общая сумма не более {cap}",
        "late.cap_or": " или ",
        "late.cap_lower": ", в зависимости от того, что меньше",
        "late.cap_percent": "{rate} от суммы счёта",
        "receipt.received": "Мы получили ваш платёж. Спасибо.",
        "receipt.received_on": "Дата получения",
        "receipt.method": "Способ оплаты",
        "receipt.external_reference": "Ссылка платежа",
        "receipt.amount": "Получено",
        "receipt.applied_to": "Зачтено в оплату",
        "receipt.credit": "Оставлено в качестве аванса",
        "receipt.invoice": "Счёт",
        "receipt.open_after": "Остаток",
        "statement.as_of": "На дату",
        "statement.open_items": "Неоплаченные счета",
        "statement.total": "Сумма счёта",
        "statement.open": "Остаток",
        "statement.days_overdue": "Дней просрочки",
        "statement.total_open": "Итого задолженность",
        "statement.credit": "Доступный аванс",
        "statement.retainer": "Остаток предоплаты",
        "statement.interest": "Начисленные пени, не выставлены",
        "statement.interest_total": "Пени за просрочку на эту дату, ещё не выставленные",
        "statement.none": "Неоплаченных счетов нет. Спасибо.",
        "statement.not_due": "срок не наступил",
        "letter.date": "Дата",
        "letter.our_reference": "Наш номер",
        "letter.customer_number": "Номер клиента",
        "letter.subject.reminder": "Напоминание об оплате",
        "letter.subject.final_notice": "Последнее предупреждение",
        "letter.subject.termination": "Прекращение оказания услуг в связи с неоплатой",
        "letter.salutation": "Уважаемые господа!",
        "letter.salutation_named": "Уважаемый(ая) {name}!",
        "letter.body.reminder": (
            "По нашим данным, следующие счета просрочены. Возможно, оплата была упущена из виду; "
            "просим оплатить общую сумму {total} не позднее {deadline}."
        ),
        "letter.body.final_notice": (
            "Несмотря на наши напоминания, следующие счета остаются неоплаченными. Просим оплатить "
            "общую сумму {total} не позднее {deadline}. В противном случае мы будем вынуждены принять "
            "меры по взысканию задолженности, что может повлечь дополнительные расходы."
        ),
        "letter.body.termination": (
            "Несмотря на наши напоминания, следующие счета остаются неоплаченными. В связи с этим мы "
            "прекращаем оказание услуг с {effective}. Общая сумма {total} остаётся к оплате не позднее {deadline}."
        ),
        "letter.body.final_notice_first": (
            "Следующие счета остаются неоплаченными. Просим оплатить общую сумму {total} не позднее "
            "{deadline}. В противном случае мы будем вынуждены принять меры по взысканию задолженности, что "
            "может повлечь дополнительные расходы."
        ),
        "letter.body.termination_first": (
            "Следующие счета остаются неоплаченными. В связи с этим мы прекращаем оказание услуг с "
            "{effective}. Общая сумма {total} остаётся к оплате не позднее {deadline}."
        ),
        "letter.reminded_on": "Мы напоминали вам об оплате: {dates}.",
        "letter.overdue_items": "Просроченные счета",
        "letter.paid_meanwhile": "Если вы уже произвели оплату, просим не принимать это письмо во внимание.",
        "letter.contact": "По вопросам, связанным с этим письмом, обращайтесь: {contact}.",
        "letter.closing": "С уважением,",
        "letter.total": "Итого просрочено",
        "letter.late_charges": "Пени",
    },
    "es": {
        "title.standard": "Factura",
        "title.deposit": "Factura de anticipo",
        "title.credit_note": "Factura rectificativa",
        "title.late_fee": "Factura de intereses de demora",
        "title.receipt": "Recibo de pago",
        "title.statement": "Extracto de cuenta",
        "draft": "BORRADOR",
        "draft_notice": "Borrador — no es una factura válida hasta su emisión",
        "seller": "Emisor",
        "buyer": "Facturar a",
        "number": "Número",
        "issue_date": "Fecha de emisión",
        "due_date": "Fecha de vencimiento",
        "service_period": "Periodo de servicio",
        "customer_code": "N.º de cliente",
        "po_number": "N.º de pedido",
        "buyer_reference": "Su referencia",
        "cost_centre": "Centro de coste",
        "ap_contact": "A la atención de",
        "billing_address": "Dirección de facturación",
        "contract": "Contrato",
        "vat_id": "NIF / IVA",
        "registration_id": "Registro mercantil",
        "description": "Descripción",
        "quantity": "Cant.",
        "unit": "Unidad",
        "unit_price": "Precio unitario",
        "discount": "Descuento",
        "tax_rate": "IVA",
        "amount": "Importe",
        "line_period": "Periodo",
        "tax_breakdown": "Desglose del IVA",
        "tax_category": "Categoría",
        "taxable_amount": "Base imponible",
        "tax_amount": "Cuota de IVA",
        "subtotal": "Subtotal",
        "allowances": "Descuentos",
        "charges": "Recargos",
        "total_excl_tax": "Total sin IVA",
        "total_tax": "Total IVA",
        "total_incl_tax": "Total con IVA",
        "deposit_deducted": "Anticipo / abono deducido",
        "already_paid": "Ya pagado",
        "retainer_balance": "Saldo del anticipo a {date}",
        "balance_due": "Importe pendiente",
        "amount_credited": "Importe abonado",
        "pay_by": "Le rogamos pague {amount} a más tardar el {date}.",
        "nothing_due": "Este documento no tiene importe pendiente.",
        "payment_instructions": "Formas de pago",
        "preferred": "preferida",
        "method.bank_transfer": "Transferencia bancaria",
        "method.online": "Pago en línea",
        "method.sepa_debit": "Adeudo directo SEPA",
        "method.ach_debit": "Adeudo ACH",
        "method.check": "Cheque",
        "method.cash": "Efectivo",
        "method.card": "Tarjeta",
        "method.paypal": "PayPal",
        "method.credit": "Saldo a su favor",
        "account_holder": "Titular",
        "iban": "IBAN",
        "bic": "BIC",
        "bank": "Banco",
        "reference": "Referencia",
        "reference_hint": "Indique esta referencia para que podamos identificar su pago.",
        "pay_online_hint": "Pague en línea en:",
        "qr_hint": "Escanee con su aplicación bancaria (código QR EPC).",
        "sepa_debit_hint": "El importe se cargará en su cuenta por adeudo directo SEPA en la fecha de vencimiento.",
        "ach_debit_hint": "El importe se cargará en su cuenta por ACH en la fecha de vencimiento.",
        "method.card_autopay": "Cargo automático en tarjeta",
        "card_autopay": "Se cargarán {amount} en su tarjeta {card} el {date}.",
        "card_autopay_unnamed": "Se cargarán {amount} en su tarjeta guardada el {date}.",
        "card_autopay_hint": ("No tiene que hacer nada: cargamos automáticamente la tarjeta que "
                              "tiene guardada con nosotros."),
        "sepa_debit_on": "Se cargarán {amount} en su cuenta por adeudo directo SEPA el {date}.",
        "mandate_reference": "Referencia de la orden de domiciliación",
        "creditor_id": "Identificador del acreedor",
        "debited_account": "Cuenta de cargo",
        "debit_date": "Fecha de cargo",
        "sepa_prenotification": ("Esta factura es la notificación previa del adeudo directo SEPA de "
                                 "{name}: asegúrese de que la cuenta tenga fondos en la fecha de cargo."),
        "check_hint": "Cheques a nombre de {name}, indicando la referencia, a la dirección indicada arriba.",
        "cash_hint": "Pago en efectivo en nuestras oficinas contra recibo.",
        "payment_terms": "Condiciones de pago",
        "late_terms": "Demora en el pago",
        "attachments": "Anexos",
        "notes": "Observaciones",
        "corrects": "Esta factura rectificativa corrige la factura {number} del {date}.",
        "late_fee_for": "Intereses de demora de la factura {number}.",
        "deposit_note": "Anticipo a deducir de la factura final.",
        "reverse_charge": "Inversión del sujeto pasivo: IVA a cargo del destinatario.",
        "page": "Página",
        "of": "de",
        "category.S": "Tipo general",
        "category.Z": "Tipo cero",
        "category.E": "Exento",
        "category.AE": "Inversión del sujeto pasivo",
        "category.K": "Entrega intracomunitaria",
        "category.G": "Exportación fuera de la UE",
        "category.O": "No sujeto a IVA",
        "category.L": "IGIC (Canarias)",
        "category.M": "IPSI (Ceuta y Melilla)",
        "terms.due_by": "Pago a más tardar el {date} ({terms}).",
        "terms.on_receipt": "Pago a la recepción, a más tardar el {date}.",
        "terms.net_zero": "neto, vence en la fecha de emisión",
        "terms.net.one": "{n} día neto",
        "terms.net.other": "{n} días netos",
        "terms.eom": "fin de mes",
        "terms.eom_plus.one": "fin de mes + {n} día",
        "terms.eom_plus.other": "fin de mes + {n} días",
        "terms.day_of_next_month": "el día {n} del mes siguiente",
        "late.none": "Sin recargos por demora.",
        "late.intro": "En caso de demora en el pago: {parts}.",
        "late.join": ", más ",
        "late.interest_annual": "intereses del {rate} anual",
        "late.interest_monthly": "intereses del {rate} mensual ({annual} anual)",
        "late.eu_statutory": "intereses del {rate} anual (tipo de referencia del BCE {reference} + {margin} puntos)",
        "late.eu_statutory_current": (
            "intereses legales al tipo de referencia + {margin} puntos (actualmente {rate} anual, "
            "{reference_name} {reference} para el {semester})"
        ),
        "late.reference_ecb": "tipo del BCE",
        "late.reference_central_bank": "tipo del banco central ({currency})",
        "late.semester_1": "1.er semestre de {year}",
        "late.semester_2": "2.º semestre de {year}",
        "late.from_due": " desde la fecha de vencimiento",
        "late.from_grace.one": " desde {n} día después del vencimiento",
        "late.from_grace.other": " desde {n} días después del vencimiento",
        "late.fixed_fee": "un cargo fijo de {amount}",
        "late.compensation": "una indemnización por costes de cobro de {amount}",
        "late.statutory_current": (
            "intereses legales ({law}) al {reference_name} más {margin} puntos (actualmente {rate} anual, "
            "{reference_name} del {reference} para el {semester})"
        ),
        "late.statutory": "intereses del {rate} anual ({reference_name} {reference} + {margin} puntos, {law})",
        "late.compensation_bands": ("una indemnización fija por costes de cobro de {amounts} según el "
                                    "importe adeudado"),
        "late.band_under": "{amount} (deuda inferior a {limit})",
        "late.band_between": "{amount} (de {low} a {high})",
        "late.band_over": "{amount} ({low} o más)",
        "late.band_or": " o ",
        "late.law.de_statutory_b2b": "§288(2) BGB",
        "late.law.de_statutory_b2c": "§288(1) BGB",
        "late.law.fr_statutory": "art. L441-10 del Código de Comercio francés",
        "late.law.uk_statutory": "Late Payment of Commercial Debts (Interest) Act 1998",
        "late.reference.de_statutory_b2b": "tipo básico alemán",
        "late.reference.de_statutory_b2c": "tipo básico alemán",
        "late.reference.fr_statutory": "tipo de refinanciación del BCE",
        "late.reference.uk_statutory": "tipo oficial del Banco de Inglaterra",
        "late.grace.one": "; solo se aplica con más de {n} día de retraso",
        "late.grace.other": "; solo se aplica con más de {n} días de retraso",
        "late.cap": "; total de recargos limitado a {cap}",
        "late.cap_or": " o ",
        "late.cap_lower": ", el menor de ambos",
        "late.cap_percent": "{rate} del importe de la factura",
        "receipt.received": "Hemos recibido su pago. Gracias.",
        "receipt.received_on": "Recibido el",
        "receipt.method": "Forma de pago",
        "receipt.external_reference": "Referencia del pago",
        "receipt.amount": "Importe recibido",
        "receipt.applied_to": "Aplicado a",
        "receipt.credit": "Saldo a su favor",
        "receipt.invoice": "Factura",
        "receipt.open_after": "Pendiente",
        "statement.as_of": "A fecha de",
        "statement.open_items": "Partidas abiertas",
        "statement.total": "Importe de la factura",
        "statement.open": "Pendiente",
        "statement.days_overdue": "Días de retraso",
        "statement.total_open": "Total pendiente",
        "statement.credit": "Saldo a su favor",
        "statement.retainer": "Saldo del anticipo",
        "statement.interest": "Intereses devengados, no facturados",
        "statement.interest_total": "Intereses de demora devengados a esta fecha, aún no facturados",
        "statement.none": "No hay partidas abiertas: su cuenta está al día. Gracias.",
        "statement.not_due": "no vencido",
        "letter.date": "Fecha",
        "letter.our_reference": "Nuestra referencia",
        "letter.customer_number": "N.º de cliente",
        "letter.subject.reminder": "Recordatorio de pago",
        "letter.subject.final_notice": "Último aviso antes de acciones de cobro",
        "letter.subject.termination": "Resolución de nuestros servicios por impago",
        "letter.salutation": "Estimados señores:",
        "letter.salutation_named": "Estimado/a {name}:",
        "letter.body.reminder": (
            "Según nuestros registros, las siguientes partidas están vencidas. Quizá se le haya pasado por "
            "alto; le rogamos abone el total de {total} a más tardar el {deadline}."
        ),
        "letter.body.final_notice": (
            "A pesar de nuestros recordatorios, las siguientes partidas siguen pendientes. Le rogamos abone "
            "el total de {total} a más tardar el {deadline}. En caso contrario, iniciaremos acciones de "
            "cobro que pueden generar costes adicionales."
        ),
        "letter.body.termination": (
            "A pesar de nuestros recordatorios, las siguientes partidas siguen pendientes. Por ello damos por "
            "terminados nuestros servicios con efecto desde el {effective}. El total de {total} sigue siendo "
            "exigible y debe pagarse a más tardar el {deadline}."
        ),
        "letter.body.final_notice_first": (
            "Las siguientes partidas siguen pendientes. Le rogamos abone el total de {total} a más tardar el "
            "{deadline}. En caso contrario, iniciaremos acciones de cobro que pueden generar costes adicionales."
        ),
        "letter.body.termination_first": (
            "Las siguientes partidas siguen pendientes. Por ello damos por terminados nuestros servicios con "
            "efecto desde el {effective}. El total de {total} sigue siendo exigible y debe pagarse a más "
            "tardar el {deadline}."
        ),
        "letter.reminded_on": "Le enviamos recordatorios el {dates}.",
        "letter.overdue_items": "Partidas vencidas",
        "letter.paid_meanwhile": "Si ya ha efectuado el pago, le rogamos no tenga en cuenta esta carta.",
        "letter.contact": "Para cualquier consulta sobre esta carta, contacte con nosotros: {contact}.",
        "letter.closing": "Atentamente,",
        "letter.total": "Total vencido",
        "letter.late_charges": "Recargos por demora",
    },
}

#: UN/ECE Recommendation 20 units Duly prints by name; other codes are printed as they are.
UNIT_NAMES: dict[str, dict[str, str]] = {
    "en": {"C62": "unit", "H87": "piece", "EA": "each", "HUR": "hour", "DAY": "day", "WEE": "week",
           "MON": "month", "ANN": "year", "MIN": "minute", "KGM": "kg", "MTR": "m", "LTR": "l", "MTK": "m²",
           "KWH": "kWh", "LS": "lump sum", "E48": "service", "XPP": "piece"},
    "fr": {"C62": "unité", "H87": "pièce", "EA": "unité", "HUR": "heure", "DAY": "jour", "WEE": "semaine",
           "MON": "mois", "ANN": "an", "MIN": "minute", "KGM": "kg", "MTR": "m", "LTR": "l", "MTK": "m²",
           "KWH": "kWh", "LS": "forfait", "E48": "prestation", "XPP": "pièce"},
    "de": {"C62": "Stück", "H87": "Stück", "EA": "Stück", "HUR": "Std.", "DAY": "Tag", "WEE": "Woche",
           "MON": "Monat", "ANN": "Jahr", "MIN": "Min.", "KGM": "kg", "MTR": "m", "LTR": "l", "MTK": "m²",
           "KWH": "kWh", "LS": "pauschal", "E48": "Leistung", "XPP": "Stück"},
    "ru": {"C62": "шт.", "H87": "шт.", "EA": "шт.", "HUR": "ч", "DAY": "дн.", "WEE": "нед.", "MON": "мес.",
           "ANN": "год", "MIN": "мин", "KGM": "кг", "MTR": "м", "LTR": "л", "MTK": "м²", "KWH": "кВт·ч",
           "LS": "усл.", "E48": "усл.", "XPP": "шт."},
    "es": {"C62": "unidad", "H87": "pieza", "EA": "unidad", "HUR": "hora", "DAY": "día", "WEE": "semana",
           "MON": "mes", "ANN": "año", "MIN": "minuto", "KGM": "kg", "MTR": "m", "LTR": "l", "MTK": "m²",
           "KWH": "kWh", "LS": "global", "E48": "servicio", "XPP": "pieza"},
}


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    """The parsed Babel locale (parsed once per process: a document formats dozens of numbers)."""
    return Locale.parse(name)


@lru_cache(maxsize=256)
def _number_pattern(pattern: str) -> NumberPattern:
    """A parsed Babel number pattern such as ``#,##0.00``."""
    return parse_pattern(pattern)


def _format_number(value: Decimal, pattern: str, locale: str) -> str:
    """``babel.numbers.format_decimal(value, format=pattern, locale=locale)``, with the locale and
    pattern parsed once."""
    return _number_pattern(pattern).apply(value, _locale(locale), decimal_quantization=True,
                                          group_separator=True, numbering_system="latn")


@lru_cache(maxsize=64)
def _babel_locale(locale: str) -> tuple[str, str]:
    """(language of the labels, Babel locale for formats) for a stored locale such as ``fr_FR``."""
    normalized = (locale or "en").replace("-", "_")
    try:
        parsed = Locale.parse(normalized)
    except (UnknownLocaleError, ValueError, TypeError):
        return "en", "en"
    if parsed.language not in LABELS:
        return "en", "en_GB"
    if str(parsed) == "en":
        # Bare English prints dates as Duly's English sentences do: "30 April 2026".
        return "en", "en_GB"
    return parsed.language, str(parsed)


@dataclass(frozen=True)
class Localizer:
    """Labels and formats of one document language. Instances are cheap and immutable."""

    #: Language of the labels: one of :data:`LANGUAGES`.
    language: str
    #: Babel locale for numbers and dates, e.g. ``fr_FR``.
    locale: str

    # --- words -----------------------------------------------------------------------------
    def t(self, key: str, **values: object) -> str:
        """The label ``key`` in this language (English when missing), with ``values`` filled in."""
        text = LABELS[self.language].get(key)
        if text is None:
            text = LABELS["en"][key]
        if not values:
            return text
        # A sentence ending in a value that ends in a full stop ("… не позднее 30 апреля 2026 г.") ends once.
        return _DOUBLE_STOP.sub("", text.format(**values))

    def plural(self, key: str, n: int, **values: object) -> str:
        """``key.<form>`` for the CLDR plural form of ``n`` (``one``, ``few``, ``many``, ``other``)."""
        form = _locale(self.locale).plural_form(n)
        catalogue = LABELS[self.language]
        for candidate in (f"{key}.{form}", f"{key}.other"):
            if candidate in catalogue:
                return catalogue[candidate].format(n=n, **values)
        return LABELS["en"][f"{key}.{'one' if n == 1 else 'other'}"].format(n=n, **values)

    def unit(self, code: str) -> str:
        return UNIT_NAMES[self.language].get(code, code)

    def country(self, code: str) -> str:
        """The country's name in this language (``FR`` → ``France``, ``Frankreich``…)."""
        return _locale(self.locale).territories.get(code, code) if code else ""

    def has(self, key: str) -> bool:
        """Whether ``key`` is a known label (in English at least)."""
        return key in LABELS["en"]

    def category(self, code: str) -> str:
        return self.t(f"category.{code}") if f"category.{code}" in LABELS["en"] else code

    # --- formats ---------------------------------------------------------------------------
    def money(self, amount: Decimal, currency: str) -> str:
        """``1 234,50 €`` (fr), ``€1,234.50`` (en): the currency's own number of decimals."""
        # babel.numbers.format_currency(amount, currency, locale=…, currency_digits=True), locale parsed once
        return _locale(self.locale).currency_formats["standard"].apply(
            amount, _locale(self.locale), currency=currency, currency_digits=True, decimal_quantization=True,
            group_separator=True, numbering_system="latn")

    def amount(self, amount: Decimal, currency: str) -> str:
        """A bare amount with the currency's decimals, for table columns: ``1 234,50``."""
        digits = exponent(currency)
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return _format_number(amount, pattern, self.locale)

    def number(self, value: Decimal) -> str:
        """A quantity or rate without trailing zeros: ``3,5``; grouped: ``1 000``."""
        decimals = len(format(value.normalize(), "f").partition(".")[2]) if value else 0
        pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
        return _format_number(value, pattern, self.locale)

    def price(self, value: Decimal, currency: str) -> str:
        """A unit price: at least the currency's decimals, more when the price has them (0,0125)."""
        digits = exponent(currency)
        decimals = max(digits, len(format(value.normalize(), "f").partition(".")[2]) if value else 0)
        pattern = "#,##0" + ("." + "0" * digits + "#" * (decimals - digits) if decimals else "")
        return _format_number(value, pattern, self.locale)

    def percent(self, rate: Decimal) -> str:
        """A rate given in percent: ``20 %`` (fr), ``20%`` (en), ``5,5 %``."""
        text = self.number(rate)
        return f"{text}\u00a0%" if self.language in ("fr", "de", "ru", "es") else f"{text}%"

    def date(self, value: date | None) -> str:
        """Long, unambiguous date: ``30 April 2026``, ``30 avril 2026``, ``30. April 2026``."""
        return babel_date(value, format="long", locale=_locale(self.locale)) if value else ""

    def period(self, start: date | None, end: date | None) -> str:
        if start and end:
            return f"{self.date(start)} – {self.date(end)}"
        return self.date(start or end)

    # --- sentences -------------------------------------------------------------------------
    def terms_label(self, terms: PaymentTerms) -> str:
        if terms.kind == "net":
            return self.t("terms.net_zero") if terms.days == 0 else self.plural("terms.net", terms.days)
        if terms.kind == "end_of_month":
            return self.t("terms.eom") if terms.days == 0 else self.plural("terms.eom_plus", terms.days)
        return self.t("terms.day_of_next_month", n=terms.day_of_month)

    def payment_terms(self, terms: PaymentTerms | None, due: date) -> str:
        """``Payment due by 30 April 2026 (30 days net).`` in this language."""
        if terms is None or terms.kind == "on_receipt":
            return self.t("terms.on_receipt", date=self.date(due))
        return self.t("terms.due_by", date=self.date(due), terms=self.terms_label(terms))

    def _reference_name(self, regime, currency: str) -> str:
        if regime.reference is not None:
            return self.t(f"late.reference.{regime.kind}")
        return (self.t("late.reference_ecb") if currency == "EUR"
                else self.t("late.reference_central_bank", currency=currency))

    def _semester(self, day: date) -> str:
        return self.t(f"late.semester_{1 if day.month <= 6 else 2}", year=day.year)

    def compensation_bands(self, bands, currency: str) -> str:
        """``£40.00 (debt under £1,000.00), £70.00 (£1,000.00 to £9,999.99) or £100.00 (£10,000.00 or more)``."""
        from duly.domain.money import quantum

        parts, low = [], None
        for below, amount in bands:
            money = self.money(amount, currency)
            if low is None:
                parts.append(self.t("late.band_under", amount=money, limit=self.money(below, currency)))
            elif below is None:
                parts.append(self.t("late.band_over", amount=money, low=self.money(low, currency)))
            else:
                parts.append(self.t("late.band_between", amount=money, low=self.money(low, currency),
                                    high=self.money(below - quantum(currency), currency)))
            low = below
        return ", ".join(parts[:-1]) + self.t("late.band_or") + parts[-1]

    def late_terms(self, policy: LateFeePolicy | None, currency: str, as_of: date | None = None) -> str:
        """The late-payment terms in words, with the actual rate and amounts (mirrors
        :func:`duly.domain.late_fees.describe_policy`, in this language): a statutory rate following
        the recorded reference rates is stated for the semester of ``as_of`` (the issue date)."""
        if policy is None or policy.kind == "none":
            return self.t("late.none")
        parts: list[str] = []
        if policy.charges_interest:
            rate = policy.annual_rate_on(as_of, currency)
            if rate is None:  # an interest policy always has a rate; keep the sentence honest anyway
                return self.t("late.none")
            if policy.kind == "interest_monthly":
                text = self.t("late.interest_monthly", rate=self.percent(policy.rate_percent),
                              annual=self.percent(rate))
            elif policy.regime is not None:
                # The regime's own words: a national law names itself and its reference rate ("late.law.<kind>",
                # "late.reference.<kind>"); the EU rule names the ECB or the currency's central bank.
                regime = policy.regime
                reference = policy.reference_rate_percent if policy.reference_rate_percent is not None else (
                    rate - regime.margin)
                words = dict(rate=self.percent(rate), reference=self.percent(reference),
                             margin=self.number(regime.margin), reference_name=self._reference_name(regime, currency),
                             law=self.t(f"late.law.{regime.kind}") if regime.names_law else "")
                key = "late.statutory" if regime.names_law else "late.eu_statutory"
                if policy.uses_reference_rates:
                    assert as_of is not None  # annual_rate_on refused a missing date
                    text = self.t(f"{key}_current", **words, semester=self._semester(as_of))
                else:
                    text = self.t(key, **words)
            else:
                text = self.t("late.interest_annual", rate=self.percent(rate))
            if policy.interest_from_due_date or policy.grace_days == 0:
                text += self.t("late.from_due")
            else:
                text += self.plural("late.from_grace", policy.grace_days)
            parts.append(text)
        fixed = policy.fixed_fee_for(currency)
        if fixed > 0:
            parts.append(self.t("late.fixed_fee", amount=self.money(fixed, currency)))
        bands = policy.compensation_bands(currency)
        if len(bands) == 1:
            parts.append(self.t("late.compensation", amount=self.money(bands[0][1], currency)))
        elif bands:
            parts.append(self.t("late.compensation_bands", amounts=self.compensation_bands(bands, currency)))
        if not parts:
            return self.t("late.none")
        body = self.t("late.join").join(parts)
        if policy.grace_days:
            body += self.plural("late.grace", policy.grace_days)
        caps = []
        if policy.cap_percent is not None:
            caps.append(self.t("late.cap_percent", rate=self.percent(policy.cap_percent)))
        if policy.cap_amount is not None:
            caps.append(self.money(policy.cap_amount, currency))
        if caps:
            body += self.t("late.cap", cap=self.t("late.cap_or").join(caps))
            if len(caps) == 2:
                body += self.t("late.cap_lower")
        return self.t("late.intro", parts=body)


def localizer(locale: str) -> Localizer:
    """The :class:`Localizer` for a stored locale (``fr_FR``, ``de``…); unknown languages use English."""
    language, babel_locale = _babel_locale(locale)
    return Localizer(language=language, locale=babel_locale)
