"""Credit notes never credit more than the invoice they correct: issued and draft notes count, concurrent ones too."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from duly.domain.errors import CreditExceedsInvoiceTotal
from duly.invoicing import services
from duly.invoicing.models import Invoice
from duly.payments.services import credit_balance_minor

L = services.LineData


def issued(org, customer, contract, amount="1950.00", on=date(2026, 3, 2)):
    draft = services.create_draft(org, customer, [L("Brand workshop", Decimal(1), Decimal(amount), tax_rate=Decimal(20))],
                                  contract=contract)
    return services.issue_invoice(org, draft.pk, issue_date=on)


def notes_of(invoice):
    return Invoice.objects.filter(related_invoice=invoice, kind=Invoice.KIND_CREDIT_NOTE)


def test_the_double_credit_note_is_refused(org, customer, contract):
    inv = issued(org, customer, contract)  # 1950 + 20 % = 2340.00
    first = services.create_credit_note(org, inv.pk, reason="Workshop cancelled", issue_date=date(2026, 3, 5))
    assert first.number == "CN-2026-00001" and first.total_minor == 234000
    with pytest.raises(CreditExceedsInvoiceTotal) as err:
        services.create_credit_note(org, inv.pk, reason="Workshop cancelled", issue_date=date(2026, 3, 6))
    assert err.value.code == "credit_exceeds_invoice_total"
    assert "2340.00 EUR is already credited" in err.value.message and "at most 0.00 EUR" in err.value.message
    assert notes_of(inv).count() == 1  # nothing of the second note was written, no number taken
    assert credit_balance_minor(customer, "EUR") == 0  # no phantom credit
    inv.refresh_from_db()
    assert inv.status == Invoice.PAID and inv.balance_minor == 0


def test_a_draft_credit_note_counts_until_it_is_voided(org, customer, contract):
    inv = issued(org, customer, contract)
    draft = services.create_credit_note(org, inv.pk, reason="Workshop cancelled")  # not issued yet
    with pytest.raises(CreditExceedsInvoiceTotal):
        services.create_credit_note(org, inv.pk, reason="Workshop cancelled", issue_date=date(2026, 3, 6))
    services.void_invoice(org, draft.pk, reason="Drafted twice")
    note = services.create_credit_note(org, inv.pk, reason="Workshop cancelled", issue_date=date(2026, 3, 6))
    assert note.total_minor == inv.total_minor


def test_partial_credits_add_up_to_the_total_and_no_further(org, customer, contract):
    inv = issued(org, customer, contract)
    services.create_credit_note(org, inv.pk, reason="One day less", issue_date=date(2026, 3, 5),
                                lines=[L("One day less", Decimal(1), Decimal("1000.00"), tax_rate=Decimal(20))])
    draft = services.create_credit_note(org, inv.pk, reason="Rest",
                                        lines=[L("Rest", Decimal(1), Decimal("900.00"), tax_rate=Decimal(20))])
    # 1200 + 1080 credited of 2340: 60.00 left. A draft changed to more than that is refused, and so are new lines.
    with pytest.raises(CreditExceedsInvoiceTotal, match="at most 1140.00 EUR"):
        services.update_draft(org, draft.pk, lines=[L("Rest", Decimal(1), Decimal("950.01"), tax_rate=Decimal(20))])
    with pytest.raises(CreditExceedsInvoiceTotal):
        services.replace_lines(org, draft.pk, [L("Rest", Decimal(1), Decimal("1000"), tax_rate=Decimal(20))])
    services.update_draft(org, draft.pk, lines=[L("Rest", Decimal(1), Decimal("950.00"), tax_rate=Decimal(20))])
    services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 6))
    with pytest.raises(CreditExceedsInvoiceTotal, match="at most 0.00 EUR"):
        services.create_credit_note(org, inv.pk, reason="More", lines=[L("More", Decimal(1), Decimal("0.01"))])
    assert sum(notes_of(inv).values_list("total_minor", flat=True)) == inv.total_minor == 234000


def test_a_credit_note_drafted_by_hand_is_checked_when_drafted_and_when_issued(org, customer, contract):
    inv = issued(org, customer, contract)
    full = [L("Workshop cancelled", Decimal(1), Decimal("1950.00"), tax_rate=Decimal(20))]
    services.create_draft(org, customer, full, kind=Invoice.KIND_CREDIT_NOTE, contract=contract, related_invoice=inv)
    with pytest.raises(CreditExceedsInvoiceTotal):
        services.create_draft(org, customer, full, kind=Invoice.KIND_CREDIT_NOTE, contract=contract,
                              related_invoice=inv)
    # A second note written past the services (as an import could) is refused when it is issued.
    second = Invoice.objects.create(organization=org, customer=customer, kind=Invoice.KIND_CREDIT_NOTE,
                                    currency="EUR", related_invoice=inv)
    services._write_lines(second, full)
    with pytest.raises(CreditExceedsInvoiceTotal):
        services.issue_invoice(org, second.pk, issue_date=date(2026, 3, 6))
    second.refresh_from_db()
    assert second.status == Invoice.DRAFT and second.number is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_credit_notes_cannot_both_credit_the_invoice_in_full(org, customer, contract):
    inv = issued(org, customer, contract)
    barrier = threading.Barrier(4)
    outcomes = []

    def credit():
        try:
            barrier.wait()
            services.create_credit_note(org, inv.pk, reason="Workshop cancelled", issue_date=date(2026, 3, 5))
            outcomes.append("issued")
        except CreditExceedsInvoiceTotal:
            outcomes.append("refused")
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["issued", "refused", "refused", "refused"]
    assert notes_of(inv).count() == 1 and credit_balance_minor(customer, "EUR") == 0


def test_a_draft_credit_note_of_an_invoice_voided_meanwhile_cannot_be_issued(org, customer, contract):
    from duly.domain.errors import InvalidState

    inv = issued(org, customer, contract)
    draft = services.create_credit_note(org, inv.pk, reason="Workshop cancelled")
    services.void_invoice(org, inv.pk, reason="Issued to the wrong customer")
    with pytest.raises(InvalidState, match="is void: there is nothing left to credit"):
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 6))
    assert credit_balance_minor(customer, "EUR") == 0  # not 2340.00 of credit for an invoice that never was
