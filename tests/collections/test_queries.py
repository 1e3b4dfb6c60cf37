"""Queries (disputes): the SLA judged at an explicit instant in the organization's local dates, the
staff queue in the CLI and the worklist, and at most one open query per invoice."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest
from click.testing import CliRunner
from django.db import IntegrityError, transaction

from duly.cli import main
from duly.collections.models import Dispute
from duly.collections.services import open_dispute, resolve_dispute
from duly.collections.worklist import open_queries, worklist

from .conftest import PARIS


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


@pytest.fixture
def query(org, customer, contract, make_invoice):
    invoice = make_invoice(customer, contract, issued=date(2026, 2, 2))  # due 4 March
    dispute = open_dispute(org, invoice.pk, question="Pourquoi 12 heures ?", now=paris(date(2026, 3, 4), 16))
    assert dispute.sla_due_on == date(2026, 3, 6)  # Wednesday + 2 business days
    return dispute


def test_an_answer_on_the_sla_day_in_paris_is_on_time_even_when_it_is_already_saturday_in_utc(org, query):
    # 23:30 on Friday in Paris is 22:30 UTC: on time. (A UTC date would say the same here ...)
    answered = resolve_dispute(org, query.pk, answer="Conforme au devis.", now=paris(date(2026, 3, 6), 23, 30))
    assert answered.answered_late(paris(date(2026, 3, 9), 9)) is False


def test_an_answer_after_midnight_in_paris_is_late_although_it_is_still_friday_in_utc(org, query):
    # ... but 00:30 on Saturday in Paris is 23:30 on Friday in UTC: late, in the organization's own calendar.
    answered = resolve_dispute(org, query.pk, answer="Conforme au devis.",
                               now=datetime(2026, 3, 6, 23, 30, tzinfo=timezone.utc))
    assert answered.answered_late(paris(date(2026, 3, 9), 9)) is True


def test_an_open_query_is_late_from_the_day_after_its_sla_day(org, query):
    assert query.answered_late(paris(date(2026, 3, 6), 16, 59)) is False
    assert query.answered_late(datetime(2026, 3, 6, 23, 30, tzinfo=timezone.utc)) is True  # Saturday in Paris
    assert [late for _, late in open_queries(org, now=paris(date(2026, 3, 6), 12))] == [False]
    assert [late for _, late in open_queries(org, now=paris(date(2026, 3, 7), 12))] == [True]


def test_the_cli_queue_flags_late_queries_at_the_instant_given(org, query):
    on_time = CliRunner().invoke(main, ["collections", "queries", "--as-of", "2026-03-06T16:00+01:00"],
                                 catch_exceptions=False)
    assert on_time.exit_code == 0
    assert on_time.output.startswith(f"#{query.pk} {query.invoice.number} ACME answer by 2026-03-06")
    late = CliRunner().invoke(main, ["collections", "queries", "--as-of", "2026-03-09T09:00+01:00"],
                              catch_exceptions=False)
    assert late.output.startswith(f"LATE #{query.pk} {query.invoice.number}")


def test_the_worklist_counts_late_queries(org, query, customer):
    [row] = worklist(org, as_of=paris(date(2026, 3, 6), 12))
    assert row.late_queries == 0 and row.as_dict()["open_disputes"] == [query.invoice.number]
    [row] = worklist(org, as_of=paris(date(2026, 3, 9), 12))
    assert row.late_queries == 1


def test_an_invoice_has_at_most_one_open_query_in_the_database_itself(org, query):
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(organization=org, customer=query.customer, invoice=query.invoice,
                               opened_at=query.opened_at, question="Twice", sla_due_on=query.sla_due_on)
    resolve_dispute(org, query.pk, answer="Réglé.", now=paris(date(2026, 3, 5), 10))
    again = open_dispute(org, query.invoice_id, question="Encore une question", now=paris(date(2026, 3, 10), 10))
    assert again.status == Dispute.OPEN  # a resolved query does not block a new one
