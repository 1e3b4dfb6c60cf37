"""What the customer hears when a SEPA direct debit comes back, as for a declined card: a hard return asks once for a
new mandate or card with the personal pay link, in their language; reminders wait while a re-presentation is under
way, and the next one after the last return explains its reason. Through the real dunning run and outbox."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from duly.collections.services import collect
from duly.messaging.declines import _REASONS, _SEPA_GROUPS, decline_text
from duly.messaging.formatting import LANGUAGES
from duly.messaging.models import Message
from duly.payments import return_services as returns
from duly.payments import sepa_services as sepa
from duly.payments.models import DebitReturn, DirectDebit

from .test_sepa_debits import DEBTOR_IBAN, creditor, issue, mandate  # noqa: F401 - fixtures

PARIS = ZoneInfo("Europe/Paris")


def noon(day):
    return datetime.combine(day, time(12), PARIS)


def reminders(invoice):
    return [m for m in Message.objects.filter(category="dunning").order_by("pk") if invoice.pk in (m.invoice_ids or [])]


def failed_messages():
    return list(Message.objects.filter(template="payment_failed").order_by("pk"))


def exported(org, customer, contract, issued, as_of):
    invoice = issue(org, customer, contract, "120", issued)
    result = sepa.export_debits(org, as_of)
    return invoice, DirectDebit.objects.get(batch=result.batch, invoice=invoice)


@pytest.mark.parametrize("code,words", [("MD01", "le mandat de prélèvement n'est plus valable"),
                                        ("AC04", "le compte bancaire est clôturé"),
                                        ("AC06", "le compte bancaire est clôturé, bloqué")])
def test_a_hard_return_asks_once_for_a_new_mandate_or_card_with_the_pay_link_in_the_customers_language(
        org, customer, contract, creditor, mandate, code, words):
    invoice, debit = exported(org, customer, contract, date(2026, 2, 13), date(2026, 3, 1))  # debited 16 March
    returns.record_debit_collected(debit, on=date(2026, 3, 16))
    result = returns.record_debit_return(debit, code, returned_on=date(2026, 3, 19))
    assert result.debit_return.action == "new_method"
    [message] = failed_messages()
    assert message.language == "fr" and message.to_email == "ap1@client.example"
    assert "n'a pas abouti" in message.subject and "120,00" in message.subject
    assert words in message.text and words.replace("'", "&#39;") in message.html
    assert "prélèvement SEPA" in message.text  # the method that will not be tried again
    assert "nouveau mandat de prélèvement ou enregistrer une carte" in message.text
    assert "/p/" in message.text and invoice.number in message.text
    assert message.idempotency_key == f"sepa-new_method:{result.debit_return.pk}"
    assert message.invoice_ids == [invoice.pk]

    # the same return reported again (the bank's camt.054 after staff typed it): nothing more is sent
    again = returns.record_debit_return(debit, code, returned_on=date(2026, 3, 19), source="camt054")
    assert not again.created and len(failed_messages()) == 1

    # chasing goes on and the next reminder explains the return, in French
    assert returns.debit_holds([invoice.pk], date(2026, 3, 20)) == (set(), {invoice.pk: ("sepa", code)})
    first = None
    for offset in range(0, 40):
        day = date(2026, 3, 20) + timedelta(days=offset)
        collect(org, as_of=noon(day))
        if reminders(invoice):
            first = reminders(invoice)[0]
            break
    assert first is not None
    assert words in first.text and words.replace("'", "&#39;") in first.html
    assert len(failed_messages()) == 1


def test_an_english_customer_is_asked_in_english(org, make_customer, make_contract, creditor):
    customer = make_customer(locale="en_GB", timezone="Europe/London", country="GB", city="London",
                             postcode="SW1A 1AA")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    sepa.create_mandate(org, customer, reference="EN-MANDATE-1", signed_on=date(2026, 1, 10), signed_at="London",
                        debtor_name=customer.name, iban=DEBTOR_IBAN, bic="COBADEFFXXX")
    _, debit = exported(org, customer, contract, date(2026, 2, 13), date(2026, 3, 1))
    returns.record_debit_return(debit, "AC04", returned_on=date(2026, 3, 18), kind="reject", source="pain002")
    [message] = failed_messages()
    assert message.language == "en" and "did not go through" in message.subject
    assert "the bank account is closed, blocked or does not accept direct debits" in message.text
    assert "We will not try this direct debit again" in message.text
    assert "sign a new direct debit mandate or save a card" in message.text


def test_reminders_wait_while_a_re_presentation_is_under_way_and_the_next_one_explains_the_last_return(
        org, customer, contract, creditor, mandate):
    # issued 13 February, due 15 March, debited 16 March; AM04 twice (re-presented twice), then MS03: given up
    invoice, debit = exported(org, customer, contract, date(2026, 2, 13), date(2026, 3, 1))
    events = {
        date(2026, 3, 18): lambda: returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 18),
                                                               kind="reject", source="pain002"),
        date(2026, 3, 19): lambda: sepa.export_debits(org, date(2026, 3, 19)),
        date(2026, 4, 3): lambda: returns.record_debit_return(
            DirectDebit.objects.get(invoice=invoice, attempt=2), "AM04", returned_on=date(2026, 4, 3)),
        date(2026, 4, 6): lambda: sepa.export_debits(org, date(2026, 4, 6)),
        date(2026, 4, 24): lambda: returns.record_debit_return(
            DirectDebit.objects.get(invoice=invoice, attempt=3), "MS03", returned_on=date(2026, 4, 24)),
    }
    held_days, sent_while_held, first_after = [], [], None
    day = date(2026, 3, 18)
    while day <= date(2026, 6, 30):
        if day in events:
            events[day]()
        held, _ = returns.debit_holds([invoice.pk], day)
        before = len(reminders(invoice))
        collect(org, as_of=noon(day))
        if held:
            held_days.append(day)
            if len(reminders(invoice)) > before:
                sent_while_held.append(day)
        elif day >= date(2026, 4, 24) and len(reminders(invoice)) > before:
            first_after = reminders(invoice)[-1]
            break
        day += timedelta(days=1)
    assert [r.action for r in DebitReturn.objects.order_by("pk")] == ["retry", "retry", "give_up"]
    assert held_days[0] == date(2026, 3, 18) and date(2026, 4, 23) in held_days
    assert sent_while_held == [], f"reminders went out on {sent_while_held} while a re-presentation was under way"
    assert first_after is not None and first_after.created_at is not None
    # the last return's reason (MS03: the bank gave none) in the customer's language (fr_FR)
    assert "votre banque a refusé le paiement sans en donner la raison" in first_after.text
    assert failed_messages() == []  # soft returns send nothing of their own


def test_every_sepa_reason_code_is_explained_in_every_language():
    from duly.domain.retries import SEPA_REASONS

    assert set(SEPA_REASONS) <= set(_SEPA_GROUPS)
    assert set(_SEPA_GROUPS.values()) <= set(_REASONS)
    for language in LANGUAGES:
        other = decline_text(language, "sepa", "no such code")  # the catch-all sentence
        for code in SEPA_REASONS:
            assert decline_text(language, "sepa", code) != other, (language, code)
    assert decline_text("de", "sepa", "ms02") == "der Lastschrift wurde auf Ihrem Konto widersprochen, oder ihre " \
                                                 "Erstattung verlangt"
