"""Every message a customer gets from a real walk (each reminder step of the firm policy up to the termination
letter and the final statement, and the thank-you for a payment), through the Django layer and a real SMTP server,
carries no English sentence in French, German, Russian or Spanish, and greets the contact by name."""

from __future__ import annotations

import html
import re
import sys
from datetime import date
from pathlib import Path

import pytest

from duly.collections.services import assign_policy
from duly.messaging.delivery import deliver_outbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "messaging"))
from test_catalogues import GREETINGS, LOCALES, TRANSLATED, _english_in  # noqa: E402


def _plain(smtp, message) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", smtp.html_of(message), flags=re.S)
    text = f"{smtp.subject(message)} {smtp.text_of(message)} {html.unescape(re.sub(r'<[^>]+>', ' ', body))}"
    return " ".join(text.split())


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_whole_walk_and_a_thank_you_read_without_english(lang, org, make_customer, make_contract, make_invoice,
                                                           pay, walk, smtp):
    customer = make_customer(f"N{lang.upper()}", name="Orion Lumen SA", locale=LOCALES[lang], contacts=[
        {"name": "Julien Moreau", "email": f"julien@{lang}.example", "role": "billing"}])
    contract = make_contract(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00")
    assign_policy(org, customer, "firm")
    make_invoice(customer, contract, issued=date(2026, 3, 2), amount="1234.56")  # due 1 April
    paid = make_invoice(customer, contract, issued=date(2026, 3, 2), amount="80.00")
    pay(customer, "80.00", date(2026, 3, 20), allocations={paid.pk: "80.00"})
    deliver_outbox(walk.at(date(2026, 3, 20)))
    walk.firm_steps(until=date(2026, 5, 6))
    messages = smtp.to(f"julien@{lang}.example")
    assert len(messages) >= 5  # reminders, notices, the termination letter, the thank-you
    named = GREETINGS[lang][0]
    for message in messages:
        text = _plain(smtp, message)
        assert _english_in(text) == [], f"{lang}: English in {smtp.subject(message)!r}: {text[:400]}"
        assert named in text, smtp.subject(message)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_late_fee_invoice_states_its_charges_in_the_customers_language(lang, org, make_customer, make_contract,
                                                                        make_invoice):
    from duly.collections.services import assess_late_fees
    from duly.invoicing.models import Invoice

    customer = make_customer(f"F{lang.upper()}", locale=LOCALES[lang])
    contract = make_contract(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00")
    overdue = make_invoice(customer, contract, issued=date(2026, 3, 2), amount="1234.56")  # due 1 April
    assess_late_fees(org, as_of=date(2026, 4, 20))
    fee = Invoice.objects.get(organization=org, kind=Invoice.KIND_LATE_FEE, related_invoice=overdue)
    [line] = fee.lines.all()
    words = {"fr": ("Frais de retard de paiement — facture", "1 avril 2026", "Pénalités de retard sur la facture"),
             "de": ("Verzugsgebühr — Rechnung", "1. April 2026", "Verzugskosten zur Rechnung"),
             "ru": ("Штраф за просрочку оплаты — счёт", "1 апреля 2026", "Пени по счёту"),
             "es": ("Recargo por demora — factura", "1 de abril de 2026", "Recargos por demora de la factura")}[lang]
    assert line.description.startswith(words[0]) and words[1] in line.description
    assert overdue.number in line.description and fee.notes.startswith(words[2])
    for text in (line.description, line.tax_exemption_reason, fee.notes):
        assert _english_in(text) == [], text
