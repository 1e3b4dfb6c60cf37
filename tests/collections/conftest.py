"""Collections fixtures: a real SMTP server (aiosmtpd), invoices, and a calendar walk through the Django layer."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from duly.messaging.testing import SmtpSink

PARIS = ZoneInfo("Europe/Paris")
#: The days the shipped firm policy takes its steps for an invoice due Wednesday 1 April 2026, one at a
#: time, each after its wait: overdue, fee, final notice, suspension, termination.
FIRM_STEP_DAYS = (date(2026, 4, 2), date(2026, 4, 8), date(2026, 4, 15), date(2026, 4, 22), date(2026, 5, 6))


@pytest.fixture
def smtp(settings, tmp_path):
    """A real SMTP server on 127.0.0.1 (free port); Django's SMTP backend points at it."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DULY_OUTBOX_JOURNAL_DIR = str(tmp_path / "outbox-journal")
    settings.DULY_OUTBOX_JOURNAL_FSYNC = False
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = False
    yield sink
    sink.stop()


@pytest.fixture
def make_invoice(org):
    from duly.invoicing import services as inv

    def make(customer, contract, *, issued: date, amount="1000.00", service: tuple[date, date] | None = None,
             description="Consulting"):
        draft = inv.create_draft(org, customer, [inv.LineData(description, Decimal(1), Decimal(amount),
                                                              period_start=service[0] if service else None,
                                                              period_end=service[1] if service else None)],
                                 contract=contract, service_period=service)
        return inv.issue_invoice(org, draft.pk, issue_date=issued)

    return make


@pytest.fixture
def pay(org):
    from duly.payments.services import record_payment

    def do(customer, amount, on: date, **kw):
        return record_payment(org, customer, amount=str(amount), currency=customer.currency,
                              method=kw.pop("method", "bank_transfer"), received_on=on, **kw)

    return do


class Walk:
    """Runs Duly day by day: the dunning run at ``hour`` local time, then the outbox worker."""

    def __init__(self, org, smtp: SmtpSink, zone=PARIS):
        self.org = org
        self.smtp = smtp
        self.zone = zone
        self.results = {}

    def at(self, day: date, hour: int = 10, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), self.zone)

    def run(self, day: date, hour: int = 10):
        from duly.collections.services import collect
        from duly.messaging.delivery import deliver_outbox

        now = self.at(day, hour)
        result = collect(self.org, as_of=now)
        deliver_outbox(now)
        self.results[day] = result
        return result

    def days(self, start: date, end: date, hour: int = 10, on_day=None):
        """Run every day from ``start`` to ``end`` inclusive; ``on_day(day)`` runs first (events)."""
        day = start
        while day <= end:
            if on_day is not None:
                on_day(day)
            self.run(day, hour)
            day += timedelta(days=1)

    def firm_steps(self, until: date, hour: int = 10):
        """Run (and deliver) on each of :data:`FIRM_STEP_DAYS` up to ``until``: escalation goes one step at a time."""
        for day in FIRM_STEP_DAYS:
            if day <= until:
                self.run(day, hour)

    def received(self, address: str) -> list:
        return self.smtp.to(address)


@pytest.fixture
def walk(org, smtp):
    return Walk(org, smtp)
