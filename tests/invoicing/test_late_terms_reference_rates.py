"""The late-payment terms on an invoice state the statutory rate in force on its issue date.

An EU statutory contract without an agreed rate follows the recorded reference rates: the rate of a
semester is the one in force on 1 January / 1 July. The rates are made up for the tests.
"""

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from duly.billing import services as billing
from duly.customers.services import record_reference_rate
from duly.domain.errors import ReferenceRateMissing
from duly.domain.late_fees import LateFeePolicy
from duly.invoicing import bulk, services
from duly.invoicing.documents import build_printable
from duly.invoicing.documents.i18n import localizer
from duly.invoicing.models import Invoice
from duly.invoicing.pdf import invoice_context

L = services.LineData


def draft_for(org, customer, contract, amount="100"):
    return services.create_draft(org, customer, [L("Consulting", D(1), D(amount))], contract=contract)


@pytest.fixture
def table_contract(customer, make_contract):
    return make_contract(customer, reference="CTR-EU", late_fee_kind="eu_statutory")


@pytest.fixture
def rates(db):
    record_reference_rate(currency="EUR", valid_from=date(2025, 6, 11), rate_percent="2.15")
    record_reference_rate(currency="EUR", valid_from=date(2026, 3, 12), rate_percent="2.65")  # from 1 July 2026


def test_the_terms_state_the_rate_of_the_issue_dates_semester(org, customer, table_contract, rates):
    march = services.issue_invoice(org, draft_for(org, customer, table_contract).pk, issue_date=date(2026, 3, 31))
    assert march.late_terms_text == (  # in the customer's language (French), its numbers in the French way
        "En cas de retard de paiement : intérêts légaux au taux de référence majoré de 8 points (actuellement "
        "10,15\xa0% par an, taux de la BCE de 2,15\xa0% pour le 1er semestre 2026) à compter de la date d'échéance, "
        "plus une indemnité forfaitaire pour frais de recouvrement de 40,00\xa0€."
    )  # 2.15 (in force on 1 January 2026; the 12 March change counts from 1 July) + 8 = 10.15
    july = services.issue_invoice(org, draft_for(org, customer, table_contract).pk, issue_date=date(2026, 7, 1))
    assert ("(actuellement 10,65\xa0% par an, taux de la BCE de 2,65\xa0% pour le 2e semestre 2026)"
            in july.late_terms_text)


def test_an_invoice_whose_semester_has_no_rate_is_not_issued(org, customer, table_contract):
    record_reference_rate(currency="EUR", valid_from=date(2026, 7, 1), rate_percent="2.15")
    draft = draft_for(org, customer, table_contract)
    with pytest.raises(ReferenceRateMissing, match="No EUR reference rate is recorded for the 1st half of 2026"):
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 31))
    draft.refresh_from_db()
    assert (draft.status, draft.number) == (Invoice.DRAFT, None)
    issued = services.issue_invoice(org, draft.pk, issue_date=date(2026, 7, 2))
    assert issued.number == "INV-2026-00001"  # the refused attempt used no number


def test_the_printed_terms_in_french_and_english_state_the_current_rate(org, customer, make_customer, make_contract,
                                                                        table_contract, rates):
    fr = services.issue_invoice(org, draft_for(org, customer, table_contract).pk, issue_date=date(2026, 3, 31))
    assert customer.locale == "fr_FR"
    printed = invoice_context(build_printable(fr), org)["late_terms"]
    assert printed == fr.late_terms_text  # the PDF prints the words frozen at issue (the UBL/CII note's)
    text = " ".join(printed.replace("\xa0", " ").split())
    assert text == (
        "En cas de retard de paiement : intérêts légaux au taux de référence majoré de 8 points (actuellement "
        "10,15 % par an, taux de la BCE de 2,15 % pour le 1er semestre 2026) à compter de la date d'échéance, plus "
        "une indemnité forfaitaire pour frais de recouvrement de 40,00 €."
    )
    english = make_customer("ENG", locale="en_GB")
    en_contract = make_contract(english, reference="CTR-EN", late_fee_kind="eu_statutory")
    en = services.issue_invoice(org, draft_for(org, english, en_contract).pk, issue_date=date(2026, 7, 31))
    assert invoice_context(build_printable(en), org)["late_terms"] == en.late_terms_text == (
        "Late payment: statutory interest at the reference rate + 8 points (currently 10.65% per year, ECB rate "
        "2.65% for the 2nd half of 2026) from the due date, plus EUR 40.00 fixed compensation."
    )


def test_the_bulk_path_states_the_same_terms_as_the_one_by_one_path(org, customer, table_contract, rates):
    one = services.issue_invoice(org, draft_for(org, customer, table_contract).pk, issue_date=date(2026, 7, 2))
    item = bulk.BulkInvoice(customer=customer, contract=table_contract, lines=[L("Consulting", D(1), D(100))])
    with transaction.atomic():
        (many,) = bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=date(2026, 7, 2))],
                                      issue_date=date(2026, 7, 2))
    assert Invoice.objects.get(pk=many.pk).late_terms_text == one.late_terms_text
    assert "10,65\xa0%" in one.late_terms_text  # in French


def test_the_billing_run_states_the_rate_of_its_date(org, customer, make_customer, make_contract, table_contract,
                                                     rates):
    plan = billing.create_product(org, code="PRO", name="Pro plan", tax_category="S", tax_rate=D("20"))
    flat = billing.create_price(org, plan, code="pro-flat", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    billing.create_subscription(org, customer, [(flat, 1)], start_date=date(2026, 6, 1), as_of=date(2026, 6, 1),
                                contract=table_contract)
    # An English customer whose contract has the same terms: the run words them once per language.
    english = make_customer("ENG", locale="en_GB")
    billing.create_subscription(org, english, [(flat, 1)], start_date=date(2026, 6, 1), as_of=date(2026, 6, 1),
                                contract=make_contract(english, reference="CTR-EN", late_fee_kind="eu_statutory"))
    billing.run_billing(org, date(2026, 7, 1))
    texts = dict(Invoice.objects.filter(issue_date=date(2026, 7, 1)).values_list("customer__locale",
                                                                                  "late_terms_text"))
    assert texts == {
        "fr_FR": "En cas de retard de paiement : intérêts légaux au taux de référence majoré de 8 points (actuellement "
                 "10,65\xa0% par an, taux de la BCE de 2,65\xa0% pour le 2e semestre 2026) à compter de la date "
                 "d'échéance, plus une indemnité forfaitaire pour frais de recouvrement de 40,00\xa0€.",
        "en_GB": "Late payment: statutory interest at the reference rate + 8 points (currently 10.65% per year, ECB "
                 "rate 2.65% for the 2nd half of 2026) from the due date, plus EUR 40.00 fixed compensation."}


def test_issuing_several_reads_the_rates_once(org, customer, table_contract, rates):
    drafts = [draft_for(org, customer, table_contract).pk for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        issued = services.issue_invoices(org, drafts, issue_date=date(2026, 3, 31))
    assert len({i.late_terms_text for i in issued}) == 1 and "10,15\xa0%" in issued[0].late_terms_text  # French
    assert sum("customers_statutoryreferencerate" in q["sql"] for q in queries.captured_queries) == 1


# --- the words in every language (no database) -------------------------------------------------------------

TABLE = LateFeePolicy("eu_statutory", reference_rates=((date(2026, 1, 1), D("2.15")), (date(2026, 7, 1), D("2"))),
                      grace_days=3)


@pytest.mark.parametrize(("locale", "day", "expected"), [
    ("en", date(2026, 3, 31),
     "Late payment: statutory interest at the reference rate + 8 points (currently 10.15% per year, ECB rate 2.15% "
     "for the 1st half of 2026) from the due date, plus €40.00 fixed compensation for recovery costs; charged only "
     "when payment is more than 3 days late."),
    ("fr_FR", date(2026, 9, 1),
     "En cas de retard de paiement : intérêts légaux au taux de référence majoré de 8 points (actuellement 10 % par "
     "an, taux de la BCE de 2 % pour le 2e semestre 2026) à compter de la date d'échéance, plus une indemnité "
     "forfaitaire pour frais de recouvrement de 40,00 € ; appliqués seulement au-delà de 3 jours de retard."),
    ("de_DE", date(2026, 3, 31),
     "Bei Zahlungsverzug: gesetzliche Verzugszinsen in Höhe des Referenzzinssatzes + 8 Prozentpunkte (derzeit "
     "10,15 % pro Jahr, EZB-Zinssatz 2,15 % für das 1. Halbjahr 2026) ab dem Fälligkeitsdatum; außerdem eine "
     "Verzugspauschale von 40,00 €; berechnet erst bei mehr als 3 Tagen Verzug."),
    ("ru_RU", date(2026, 3, 31),
     "При просрочке оплаты: законные проценты по базовой ставке + 8 п.п. (сейчас 10,15 % годовых, ставка ЕЦБ "
     "2,15 % на 1-е полугодие 2026 г.) со дня, следующего за сроком оплаты, а также компенсация расходов на "
     "взыскание 40,00 €; начисляются только при просрочке более 3 дней."),
    ("es_ES", date(2026, 12, 31),
     "En caso de demora en el pago: intereses legales al tipo de referencia + 8 puntos (actualmente 10 % anual, "
     "tipo del BCE 2 % para el 2.º semestre de 2026) desde la fecha de vencimiento, más una indemnización por "
     "costes de cobro de 40,00 €; solo se aplica con más de 3 días de retraso."),
])
def test_statutory_terms_following_the_table_in_every_language(locale, day, expected):
    text = localizer(locale).late_terms(TABLE, "EUR", as_of=day)
    assert " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split()) == expected


def test_another_currency_names_its_central_bank():
    policy = LateFeePolicy("eu_statutory", reference_rates=((date(2026, 1, 1), D("5.75")),),
                           compensation_amount=D("170"))
    text = localizer("fr_FR").late_terms(policy, "PLN", as_of=date(2026, 2, 1)).replace("\xa0", " ")
    assert "(actuellement 13,75 % par an, taux de la banque centrale (PLN) de 5,75 % pour le 1er semestre 2026)" \
        in text
