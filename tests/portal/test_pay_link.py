"""The personal pay/view link every invoice and message carries opens the customer's own account."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from duly.invoicing import services as inv
from duly.messaging.links import make_token, pay_url


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def issued(org, customer, contract):
    def make(amount="1000.00", issued=date(2026, 3, 2)):
        draft = inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal(amount))],
                                 contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=issued)

    return make


def test_the_account_link_lists_what_is_open_with_due_dates_references_and_how_to_pay(client, org, customer,
                                                                                     issued, make_customer):
    from duly.payments.services import record_payment

    paid = issued("90.00", date(2026, 2, 2))
    record_payment(org, customer, amount="90.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 2, 10), allocations={paid.pk: "90.00"})
    first = issued("1000.00", date(2026, 3, 2))
    other = make_customer("OTHER")
    make_other = inv.create_draft(org, other, [inv.LineData("Secret work", Decimal(1), Decimal("7777"))])
    inv.issue_invoice(org, make_other.pk, issue_date=date(2026, 3, 2))
    second = issued("250.00", date(2026, 4, 1))

    resp = client.get(_path(pay_url(org.pk, customer.pk, made_on=date.today())))
    assert resp.status_code == 200 and resp["Cache-Control"] == "private, no-store"
    page = resp.content.decode()
    assert "Votre compte chez Atelier Lumière SARL" in page and "Acme Industries SAS" in page
    assert first.number in page and second.number in page and paid.number not in page
    assert "1\u202f000,00\xa0€" in page and "250,00\xa0€" in page and "1\u202f250,00\xa0€" in page  # the total
    assert "1 avril 2026" in page and "jours de retard" in page  # net 30 from 2 March, overdue by now
    rf = first.rf_reference
    assert " ".join(rf[i:i + 4] for i in range(0, len(rf), 4)) in page
    assert "FR1420041010050500013M02606" in page and "factures@atelier.example" in page
    assert "7\u202f777" not in page and "Secret work" not in page  # another customer's invoice never shows


def test_an_invoice_link_opens_that_invoice_and_its_stored_pdf(client, org, customer, issued):
    invoice, other = issued(), issued("5.00")
    url = pay_url(org.pk, customer.pk, invoice.pk)
    page = client.get(_path(url)).content.decode()
    assert f"Facture {invoice.number} de Atelier Lumière SARL" in page and other.number not in page
    pdf = client.get(_path(url) + "/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert client.get(_path(url) + "/pdf").content == pdf.content  # the stored document, rendered once


def test_a_forged_or_altered_link_shows_nothing(client, org, customer, other_org, issued):
    invoice = issued()
    token = make_token(org.pk, customer.pk, invoice.pk)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (f"/p/{altered}", f"/p/{altered}/pdf", "/p/not-a-token"):
        resp = client.get(path)
        assert resp.status_code == 404 and b"This link cannot be opened" in resp.content
        assert invoice.number.encode() not in resp.content
    # a genuine token naming another organization's customer opens nothing
    resp = client.get(f"/p/{make_token(other_org.pk, customer.pk, made_on=date.today())}")
    assert resp.status_code == 404 and b"Acme" not in resp.content
    # an account link has no single PDF
    assert client.get(f"/p/{make_token(org.pk, customer.pk, made_on=date.today())}/pdf").status_code == 404


# --- links expire and can be revoked; every refusal looks the same ----------------------------------------
@pytest.fixture
def at(monkeypatch):
    """Judge links at noon UTC on a given day (the same day in Paris, the customer's time zone)."""
    from datetime import datetime, timezone

    from duly.portal import views

    def set_day(day: date):
        monkeypatch.setattr(views, "clock", lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))

    return set_day


def _status(client, url: str, suffix: str = "") -> int:
    return client.get(_path(url) + suffix).status_code


def test_an_account_link_works_for_180_days_from_the_day_it_was_made(client, org, customer, issued, at, settings):
    issued()
    made = date(2026, 5, 4)
    url = pay_url(org.pk, customer.pk, made_on=made)
    for day, expected in ((made, 200), (made + timedelta(days=180), 200), (made + timedelta(days=181), 404),
                          (made - timedelta(days=2), 404)):  # a day "made" in the future is not one Duly made
        at(day)
        assert _status(client, url) == expected, day
    settings.DULY_ACCOUNT_LINK_DAYS = 30  # configurable
    at(made + timedelta(days=30))
    assert _status(client, url) == 200
    at(made + timedelta(days=31))
    assert _status(client, url) == 404


def test_an_invoice_link_works_while_open_and_for_120_days_after_it_is_paid_or_voided(client, org, customer,
                                                                                     issued, at):
    from django.utils import timezone as tz

    from duly.payments.services import record_payment

    paid, voided, written_off = issued("100.00"), issued("200.00"), issued("300.00")
    links = {inv.pk: pay_url(org.pk, customer.pk, inv.pk) for inv in (paid, voided, written_off)}
    at(date(2030, 1, 1))  # years later, still open: still opens
    assert all(_status(client, url) == 200 for url in links.values())
    record_payment(org, customer, amount="100.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 6, 1), allocations={paid.pk: "100.00"})
    for day, expected in ((date(2026, 9, 29), 200), (date(2026, 9, 30), 404)):  # 1 June + 120 days = 29 Sept
        at(day)
        assert _status(client, links[paid.pk]) == expected and _status(client, links[paid.pk], "/pdf") == expected
    inv.void_invoice(org, voided.pk, reason="wrong customer")
    inv.mark_uncollectible(org, written_off.pk, reason="insolvent")
    closed = tz.localtime(tz.now(), ZoneInfo("Europe/Paris")).date()
    for day, expected in ((closed + timedelta(days=120), 200), (closed + timedelta(days=121), 404)):
        at(day)
        assert _status(client, links[voided.pk]) == expected and _status(client, links[written_off.pk]) == expected


def _refusals(client, urls):
    """Each URL's status and page (also as PDF): one 404 page for all."""
    pages = set()
    for url in urls:
        for suffix in ("", "/pdf"):
            resp = client.get(url + suffix)
            assert resp.status_code == 404, (url, suffix)
            assert resp["Cache-Control"] == "private, no-store"
            pages.add(resp.content)
    assert len(pages) == 1, "a refusal must not say why"
    return pages.pop().decode()


def test_forged_expired_revoked_malformed_and_foreign_links_all_get_the_same_404(client, org, other_org,
                                                                                 customer, make_customer, issued,
                                                                                 at, settings):
    from django.core import signing

    from duly.customers.services import rotate_pay_links
    from duly.messaging.links import SALT

    invoice = issued()
    draft = inv.create_draft(org, customer, [inv.LineData("Not sent yet", Decimal(1), Decimal(5))])
    someone_else = make_customer("OTHER")
    today = date(2026, 12, 1)
    at(today)
    good_invoice, good_account = pay_url(org.pk, customer.pk, invoice.pk), pay_url(org.pk, customer.pk, made_on=today)
    assert _status(client, good_invoice) == _status(client, good_account) == 200

    def signed(payload, key=None):
        return "/p/" + signing.Signer(key=key, salt=SALT).sign_object(payload)

    token = _path(good_invoice).rsplit("/", 1)[1]
    forged = [f"/p/{token[:-3]}abc", "/p/" + token.replace(":", "x"), "/p/not-a-token", "/p/%C3%A9%00",
              "/p/" + "A" * 5000, signed({"o": org.pk, "c": customer.pk, "i": invoice.pk, "v": 1}, key="x" * 50)]
    malformed = [signed(p) for p in (
        [1, 2], "text", 7, None, {}, {"o": org.pk}, {"o": org.pk, "c": customer.pk, "v": 1},  # neither i nor d
        {"o": org.pk, "c": customer.pk, "i": invoice.pk, "d": 20000}, {"o": str(org.pk), "c": customer.pk, "d": 1},
        {"o": True, "c": customer.pk, "i": invoice.pk}, {"o": org.pk, "c": -1, "i": invoice.pk},
        {"o": org.pk, "c": customer.pk, "i": 2**70}, {"o": org.pk, "c": customer.pk, "d": 10**9},
        {"o": org.pk, "c": customer.pk, "i": invoice.pk, "v": "1"}, {"o": org.pk, "c": customer.pk, "i": 1.5},
        {"o": org.pk, "c": customer.pk, "i": invoice.pk, "x": 1}, {"o": {"$gt": 0}, "c": customer.pk, "i": 1},
    )]
    foreign = [pay_url(other_org.pk, customer.pk, invoice.pk, version=1),  # right customer, wrong organization
               pay_url(org.pk, someone_else.pk, invoice.pk, version=1),  # another customer's invoice
               pay_url(org.pk, customer.pk, draft.pk, version=1),  # a draft never opens
               pay_url(org.pk, 10**6, made_on=today, version=1)]  # no such account
    expired = [pay_url(org.pk, customer.pk, made_on=today - timedelta(days=181))]
    refused = _refusals(client, [_path(u) for u in (*forged, *malformed, *foreign, *expired)])
    assert "This link is not valid or has expired." in refused and "Acme" not in refused

    rotate_pay_links(customer)  # revoked: the links made before no longer open, new ones do
    assert _refusals(client, [_path(good_invoice), _path(good_account)]) == refused
    assert _status(client, pay_url(org.pk, customer.pk, invoice.pk)) == 200
    assert _status(client, pay_url(org.pk, customer.pk, made_on=today)) == 200


def test_random_tokens_and_signed_payloads_never_crash_the_page(db, org, customer):
    """Whatever arrives, resolving a link either opens it or refuses it with the one error: never a 500."""
    from datetime import datetime, timezone

    from django.core import signing
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    from duly.domain.errors import PayLinkRefused
    from duly.messaging.links import SALT
    from duly.portal.services import pay_page

    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                               | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                               | st.dictionaries(st.sampled_from(["o", "c", "i", "v", "d", "x"]), inner, max_size=5),
                               max_leaves=8)

    @hsettings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.text(max_size=80), json_values.map(lambda p: signing.Signer(salt=SALT).sign_object(p))))
    def check(token):
        try:
            pay_page(token, now=now)
        except PayLinkRefused as exc:
            assert exc.message == "This link is not valid or has expired."

    check()


def test_staff_rotate_a_customers_links_from_the_command_line(db, org, customer, issued, client):
    from click.testing import CliRunner

    from duly.cli import main

    invoice = issued()
    old = pay_url(org.pk, customer.pk, invoice.pk)
    result = CliRunner().invoke(main, ["customers", "rotate-link", "ACME", "--org", "atelier"])
    assert result.exit_code == 0, result.output
    assert "Rotated the pay links of ACME" in result.output
    assert _status(client, old) == 404 and _status(client, pay_url(org.pk, customer.pk, invoice.pk)) == 200
    customer.refresh_from_db()
    assert customer.pay_link_version == 2
    unknown = CliRunner().invoke(main, ["customers", "rotate-link", "NOPE", "--org", "atelier"])
    assert unknown.exit_code == 2 and unknown.stderr.strip() == "error: No customer with the code 'NOPE' in atelier. [not_found]"
    customer.refresh_from_db()
    assert customer.pay_link_version == 2  # nothing changed


def test_every_message_carries_an_account_link_made_on_its_day_with_the_current_key(org, customer):
    from duly.customers.services import rotate_pay_links
    from duly.messaging.context import base_context
    from duly.messaging.formatting import Formatter
    from duly.messaging.links import read_token

    def link(day):
        ctx = base_context(category="dunning", fmt=Formatter.for_locale("fr_FR"), org={}, org_id=org.pk,
                           customer_id=customer.pk, customer_name="", customer_code="", contact_name="",
                           contact_email="", currency="EUR", today=day)
        return read_token(ctx["pay_link"].rsplit("/", 1)[1])

    first, later = link(date(2026, 3, 1)), link(date(2026, 7, 1))
    assert (first.made_on, later.made_on) == (date(2026, 3, 1), date(2026, 7, 1))  # each message: a fresh link
    rotate_pay_links(customer)
    assert link(date(2026, 7, 2)).version == 2 and first.version == 1


def test_staff_rotate_a_customers_links_in_the_back_office(bookkeeper, org, customer, issued, client):
    from django.urls import reverse

    invoice = issued()
    old_invoice, old_account = pay_url(org.pk, customer.pk, invoice.pk), pay_url(org.pk, customer.pk,
                                                                                   made_on=date.today())
    resp = bookkeeper.post(reverse("admin:customers_customer_changelist"),
                           {"action": "rotate_pay_links", "_selected_action": [customer.pk], "index": "0"},
                           follow=True)
    assert "ACME: the pay links sent so far no longer open; the next messages carry new ones." in \
        resp.content.decode()
    assert _status(client, old_invoice) == _status(client, old_account) == 404
    assert _status(client, pay_url(org.pk, customer.pk, invoice.pk)) == 200
