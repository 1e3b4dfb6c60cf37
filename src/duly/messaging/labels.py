"""Short labels (table headings, buttons, sign-offs) per language, passed to templates as ``t``.

The prose of each message lives in its template file; the labels shared by every message live
here so the tables look the same in every message of a language.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "autopay_failed": "Automatic payment declined",
        "not_due_yet": "Not due yet, to pay by its own due date", "also_sent": "Also sent with this e-mail",
        "credit_note": "Credit note", "deposit_invoice": "Deposit invoice", "late_fee_invoice": "Late-payment invoice", "attached": "Attached", "total": "Total", "prepaid": "Already deducted", "po_number": "PO number", 
        "invoice": "Invoice", "issued": "Issued", "due": "Due date", "amount": "Amount", "balance": "Balance due",
        "days_overdue": "Days overdue", "days_to_due": "Due in (days)", "total_due": "Total due",
        "pay_now": "View and pay online", "view": "View your account", "late_terms": "Late-payment terms",
        "period": "Period", "service_date": "Service date", "regards": "Kind regards,", "payment": "Payment",
        "received_on": "Received on", "paid_for": "What this payment covered", "reference": "Reference",
        "date": "Date", "reminder": "Reminder", "bank": "Bank transfer", "usage": "Usage",
        "credit_left": "Credit remaining on your account", "colon": ":",
        "retainer_left": "Retainer (prepaid) balance",
        "interest_accrued": "Late-payment interest accrued to date, not yet invoiced",
    },
    "fr": {
        "autopay_failed": "Paiement automatique refusé",
        "not_due_yet": "Pas encore échu, à régler à sa propre échéance", "also_sent": "Également envoyé avec ce message",
        "credit_note": "Avoir", "deposit_invoice": "Facture d'acompte", "late_fee_invoice": "Facture de pénalités de retard", "attached": "Pièces jointes", "total": "Total", "prepaid": "Déjà déduit", "po_number": "N° de bon de commande", 
        "invoice": "Facture", "issued": "Émise le", "due": "Échéance", "amount": "Montant",
        "balance": "Reste à payer", "days_overdue": "Jours de retard", "days_to_due": "Échéance dans (jours)",
        "total_due": "Total dû", "pay_now": "Consulter et payer en ligne", "view": "Consulter votre compte",
        "late_terms": "Conditions en cas de retard", "period": "Période", "service_date": "Date de prestation",
        "regards": "Bien cordialement,", "payment": "Paiement", "received_on": "Reçu le",
        "paid_for": "Ce que couvre ce paiement", "reference": "Référence", "date": "Date", "reminder": "Relance",
        "bank": "Virement bancaire", "usage": "Consommation", "credit_left": "Avoir restant sur votre compte",
        "retainer_left": "Solde de votre provision",
        "interest_accrued": "Intérêts de retard courus à ce jour, non encore facturés",
        "colon": "\u00a0:",
    },
    "de": {
        "autopay_failed": "Automatische Zahlung abgelehnt",
        "not_due_yet": "Noch nicht fällig, zahlbar zum eigenen Fälligkeitstermin", "also_sent": "Ebenfalls mit dieser E-Mail",
        "credit_note": "Gutschrift", "deposit_invoice": "Anzahlungsrechnung", "late_fee_invoice": "Rechnung über Verzugskosten", "attached": "Anlagen", "total": "Gesamt", "prepaid": "Bereits abgezogen", "po_number": "Bestellnummer", 
        "invoice": "Rechnung", "issued": "Ausgestellt am", "due": "Fällig am", "amount": "Betrag",
        "balance": "Offener Betrag", "days_overdue": "Tage überfällig", "days_to_due": "Fällig in (Tagen)",
        "total_due": "Gesamt offen", "pay_now": "Online ansehen und bezahlen", "view": "Ihr Kundenkonto ansehen",
        "late_terms": "Bedingungen bei Zahlungsverzug", "period": "Zeitraum", "service_date": "Leistungsdatum",
        "regards": "Mit freundlichen Grüßen", "payment": "Zahlung", "received_on": "Eingegangen am",
        "paid_for": "Wofür diese Zahlung war", "reference": "Referenz", "date": "Datum", "reminder": "Erinnerung",
        "bank": "Überweisung", "usage": "Verbrauch", "credit_left": "Verbleibendes Guthaben", "colon": ":",
        "retainer_left": "Guthaben aus Ihrer Vorauszahlung",
        "interest_accrued": "Bis heute aufgelaufene, noch nicht berechnete Verzugszinsen",
    },
    "ru": {
        "autopay_failed": "Автоплатёж отклонён",
        "not_due_yet": "Срок ещё не наступил, оплатить к своему сроку", "also_sent": "Также в этом письме",
        "credit_note": "Кредит-нота", "deposit_invoice": "Счёт на аванс", "late_fee_invoice": "Счёт на пени", "attached": "Вложения", "total": "Итого", "prepaid": "Уже зачтено", "po_number": "Номер заказа", 
        "invoice": "Счёт", "issued": "Выставлен", "due": "Срок оплаты", "amount": "Сумма",
        "balance": "К оплате", "days_overdue": "Дней просрочки", "days_to_due": "До срока (дней)",
        "total_due": "Итого к оплате", "pay_now": "Открыть и оплатить онлайн", "view": "Открыть ваш счёт",
        "late_terms": "Условия при просрочке", "period": "Период", "service_date": "Дата услуги",
        "regards": "С уважением,", "payment": "Платёж", "received_on": "Получен",
        "paid_for": "Что оплачено", "reference": "Назначение", "date": "Дата", "reminder": "Напоминание",
        "bank": "Банковский перевод", "usage": "Потребление", "credit_left": "Остаток аванса на вашем счёте", "colon": ":",
        "retainer_left": "Остаток вашей предоплаты",
        "interest_accrued": "Пени за просрочку на сегодня, ещё не выставленные",
    },
    "es": {
        "autopay_failed": "Pago automático rechazado",
        "not_due_yet": "Aún no vencido, a pagar en su propio vencimiento", "also_sent": "También enviado con este mensaje",
        "credit_note": "Factura rectificativa", "deposit_invoice": "Factura de anticipo", "late_fee_invoice": "Factura de recargos por demora", "attached": "Adjuntos", "total": "Total", "prepaid": "Ya descontado", "po_number": "N.º de pedido", 
        "invoice": "Factura", "issued": "Emitida", "due": "Vencimiento", "amount": "Importe",
        "balance": "Pendiente", "days_overdue": "Días de retraso", "days_to_due": "Vence en (días)",
        "total_due": "Total pendiente", "pay_now": "Ver y pagar en línea", "view": "Ver su cuenta",
        "late_terms": "Condiciones por pago tardío", "period": "Periodo", "service_date": "Fecha del servicio",
        "regards": "Atentamente,", "payment": "Pago", "received_on": "Recibido el",
        "paid_for": "Qué cubre este pago", "reference": "Referencia", "date": "Fecha", "reminder": "Recordatorio",
        "bank": "Transferencia bancaria", "usage": "Consumo", "credit_left": "Saldo a favor en su cuenta", "colon": ":",
        "retainer_left": "Saldo de su anticipo",
        "interest_accrued": "Intereses de demora devengados hasta hoy, aún no facturados",
    },
}

LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {lang: MappingProxyType(values) for lang, values in _LABELS.items()}
)


def labels(language: str) -> Mapping[str, str]:
    return LABELS.get(language, LABELS["en"])
