"""A question or dispute sent from the personal link e-mails the organization's staff, through the outbox, once per
query, delivered by a real SMTP server (aiosmtpd); another organization's staff get nothing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from duly.collections.models import Dispute
from duly.customers import services as customers
from duly.invoicing import services as inv
from duly.messaging.delivery import deliver_outbox
from duly.messaging.links import pay_url
from duly.messaging.models import Message
from duly.messaging.testing import SmtpSink
from duly.portal.models import PortalQuestion

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
PASSWORD = "Quiet-Harbour-Lantern-42"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr("duly.portal.views.clock", lambda: NOW)
    monkeypatch.setattr("duly.portal.selfservice.clock", lambda: NOW)


@pytest.fixture
def smtp(settings, tmp_path):
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", sink.port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DULY_OUTBOX_JOURNAL_DIR = str(tmp_path / "outbox-journal")
    settings.DULY_OUTBOX_JOURNAL_FSYNC = False
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = False
    settings.DULY_PUBLIC_URL = "https://duly.atelier.example"
    yield sink
    sink.stop()


@pytest.fixture
def invoice(org, contract):
    draft = inv.create_draft(org, contract.customer, [inv.LineData("Audit", Decimal(1), Decimal("100")),
                                                      inv.LineData("Travel", Decimal(1), Decimal("40"))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=date(2026, 10, 1))


@pytest.fixture
def base(org, customer):
    return urlsplit(pay_url(org.pk, customer.pk, made_on=NOW.date())).path


@pytest.fixture
def other_staff(other_org):
    """A collector of another organization (which has no address of its own: its members would be told)."""
    return customers.add_member(other_org, username="northwind-collector", email="collector@northwind.example",
                                password=PASSWORD, role="collector")


def _key(html: str) -> str:
    marker = 'name="submission" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def _ask(client, base, invoice, **data):
    form = client.get(f"{base}/invoices/{invoice.pk}/ask").content.decode()
    data.setdefault("submission", _key(form))
    return client.post(f"{base}/invoices/{invoice.pk}/ask", data), data


def test_a_dispute_from_the_link_emails_the_organization_once_with_who_what_and_when(
        client, org, customer, invoice, base, smtp, other_staff):
    travel = invoice.lines.get(description="Travel")
    resp, data = _ask(client, base, invoice, kind="dispute", line=travel.pk,
                      text="We never agreed to <b>travel</b> & fees.")
    assert resp.status_code == 302
    dispute = Dispute.objects.get(invoice=invoice)
    deliver_outbox(NOW)

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert smtp.envelopes[0][1] == ["factures@atelier.example"]  # the organization's own address
    subject = smtp.subject(mail)
    assert "dispute" in subject and "Acme Industries SAS" in subject and invoice.number in subject
    assert "2026-12-10" in subject  # the response-time target: 2 business days of the organization
    text, html = smtp.text_of(mail), smtp.html_of(mail)
    link = f"https://duly.atelier.example/admin/collections/dispute/{dispute.pk}/change/"
    for expected in ("Acme Industries SAS (ACME)", invoice.number, "line 2 (Travel)", "2026-12-10",
                     "We never agreed to <b>travel</b> & fees.", link):
        assert expected in text
    assert "We never agreed to &lt;b&gt;travel&lt;/b&gt; &amp; fees." in html and "<b>travel</b>" not in html
    assert f'href="{link}"' in html

    # the same form again (a retry), then another question joining the open query: no second e-mail
    again = client.post(f"{base}/invoices/{invoice.pk}/ask", data)
    assert again["Location"] == resp["Location"]
    _ask(client, base, invoice, kind="question", text="And the audit line?")
    assert PortalQuestion.objects.count() == 2 and Dispute.objects.count() == 1
    deliver_outbox(NOW)
    assert len(smtp.messages) == 1 and Message.objects.filter(category="staff").count() == 1
    assert not smtp.to("collector@northwind.example")  # another organization's staff: nothing


def test_without_an_organization_address_the_members_who_answer_queries_are_told(
        client, org, customer, invoice, base, smtp, other_staff):
    customers.update_organization(org, email="")
    org.refresh_from_db()
    customers.add_member(org, username="chloe", email="chloe@atelier.example", password=PASSWORD, role="collector")
    customers.add_member(org, username="victor", email="victor@atelier.example", password=PASSWORD, role="viewer")
    gone = customers.add_member(org, username="gone", email="gone@atelier.example", password=PASSWORD,
                                role="bookkeeper")
    gone.is_active = False
    gone.save()

    resp, _ = _ask(client, base, invoice, kind="question", text="Why is travel billed?")
    assert resp.status_code == 302
    deliver_outbox(NOW)
    assert sorted(rcpt for _, rcpts in smtp.envelopes for rcpt in rcpts) == ["chloe@atelier.example"]
    assert "question" in smtp.subject(smtp.messages[0]) and "Why is travel billed?" in smtp.text_of(smtp.messages[0])


def test_a_refused_question_sends_nothing(client, org, customer, invoice, base, smtp):
    inv.void_invoice(org, invoice.pk, reason="Issued by mistake")
    resp, _ = _ask(client, base, invoice, kind="question", text="Is this still due?")
    assert resp.status_code in (200, 400, 404, 409, 422)
    assert not Dispute.objects.exists() and not Message.objects.filter(category="staff").exists()
    deliver_outbox(NOW)
    assert smtp.messages == []
