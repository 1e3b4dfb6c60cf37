"""The red-flag check of a new customer in Duly (issue 17 part 1): the facts gathered from the organization's own
records, the stored check, staff's accepted or overridden recommendation (audited), and the EU VIES check that is
off by default and faked here at the HTTP boundary on loopback."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from duly.customers import risk_services as decisions
from duly.customers.models import Contract, RiskAssessment, RiskDecision
from duly.domain.errors import RiskCheckError
from duly.insights import risk_onboarding as onboarding
from duly.insights.risk_vies import ViesChecker, vies_checker
from duly.invoicing import services as inv

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _usual_business(org, make_customer, make_contract):
    """Three established customers on 30 days, each with an issued invoice of 1,000-1,200 EUR."""
    for n, amount in enumerate(("1000", "1100", "1200")):
        c = make_customer(f"OLD{n}", tax_id="FR40303265045" if n == 0 else "")
        contract = make_contract(c, terms_kind="net", terms_days=30)
        draft = inv.create_draft(org, c, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
        inv.issue_invoice(org, draft.pk, issue_date=date(2026, 1, 5 + n))


@pytest.fixture
def newcomer(org, make_customer, make_contract):
    _usual_business(org, make_customer, make_contract)
    c = make_customer("NEW", email="boss@gmail.com", tax_id="DE136695976", country="FR")
    contract = make_contract(c, reference="CTR-NEW", terms_kind="net", terms_days=60,
                             preferred_payment_method="bank_transfer", start_date=date(2026, 3, 1))
    return c, contract


def test_worked_example_flags_from_the_organizations_own_records(org, newcomer):
    customer, contract = newcomer
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    assert [f["code"] for f in row.flags] == ["vat_country_mismatch", "free_mail_domain", "terms_longer_than_usual",
                                              "no_autopay"]
    assert row.flags[2]["words"] == "60 days' terms requested; this organization usually gives 30."
    assert (row.score, row.level, row.decision) == (45, "medium", "pending")
    assert row.recommendation["deposit_percent"] == "25" and row.recommendation["terms_days"] == 14
    assert row.recommendation["credit_limit"] == "1100.00"  # the typical invoice (the median of 1,000-1,200)
    assert row.external == {}  # VIES is off: nothing was asked
    again = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    assert again.pk == row.pk and RiskAssessment.objects.count() == 1  # same facts, one row


def test_history_counts_earlier_accounts_of_this_organization_only(org, other_org, make_customer, make_contract):
    _usual_business(org, make_customer, make_contract)
    # In this organization the same VAT number had an account, terminated with an invoice still open.
    old = make_customer("GONE", tax_id="FR40303265045")
    draft = inv.create_draft(org, old, [inv.LineData("Service", Decimal(1), Decimal("900"))])
    inv.issue_invoice(org, draft.pk, issue_date=date(2026, 1, 20))
    from duly.customers.services import update_customer

    update_customer(old, status="terminated")
    again = make_customer("BACK", tax_id="fr40303265045", email="ap@acme.fr")
    flags = {f["code"]: f for f in onboarding.assess_customer(again, as_of=AS_OF).flags}
    assert "earlier_account_unpaid" in flags and flags["earlier_account_unpaid"]["evidence"] == {"accounts": 1}
    # The same company in another organization starts clean: one organization's history never counts for another.
    elsewhere = make_customer("BACK", organization=other_org, tax_id="FR40303265045", email="ap@acme.fr")
    codes = [f["code"] for f in onboarding.assess_customer(elsewhere, as_of=AS_OF).flags]
    assert "earlier_account_unpaid" not in codes


def test_accepting_sets_the_contract_through_the_services(org, newcomer, django_user_model):
    from duly.customers.services import add_member

    customer, contract = newcomer
    staff = add_member(org, username="anna", password="pw-anna-12345", role="bookkeeper")
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    decisions.accept_recommendation(row, user=staff, now=NOW)
    contract = Contract.objects.get(pk=contract.pk)
    assert (contract.deposit_kind, contract.deposit_percent, contract.terms_days) == ("percent", Decimal(25), 14)
    decision = RiskDecision.objects.get(assessment=row)
    assert (decision.action, decision.decided_by, decision.decided_at) == ("accepted", staff, NOW)
    assert RiskAssessment.objects.get(pk=row.pk).decision == "accepted"


def test_an_override_needs_a_note_and_is_kept_with_who_when_and_why(org, newcomer):
    from duly.customers.services import add_member

    customer, contract = newcomer
    staff = add_member(org, username="bea", password="pw-bea-123456", role="bookkeeper")
    viewer = add_member(org, username="vic", password="pw-vic-123456", role="viewer")
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    with pytest.raises(RiskCheckError) as err:
        decisions.override_recommendation(row, user=staff, now=NOW, note="  ", terms_days=45)
    assert err.value.code == "risk_override_note_missing"
    with pytest.raises(RiskCheckError) as err:
        decisions.override_recommendation(row, user=viewer, now=NOW, note="friend of the boss", terms_days=45)
    assert err.value.code == "risk_decision_forbidden"
    assert not RiskDecision.objects.exists() and Contract.objects.get(pk=contract.pk).terms_days == 60
    decisions.override_recommendation(row, user=staff, now=NOW, note="Known to us for ten years; bank reference",
                                      deposit_percent=Decimal(10), terms_days=45, credit_limit="5000")
    kept = RiskDecision.objects.get(assessment=row)
    assert (kept.action, kept.decided_by.username, kept.decided_at) == ("overridden", "bea", NOW)
    assert kept.note == "Known to us for ten years; bank reference"
    assert kept.terms == {"deposit_percent": "10", "terms_days": 45, "require_autopay": False, "credit_limit": "5000"}
    contract = Contract.objects.get(pk=contract.pk)
    assert (contract.deposit_percent, contract.terms_days) == (Decimal(10), 45)
    assert RiskAssessment.objects.get(pk=row.pk).decision == "overridden"


def test_a_customer_with_nothing_to_check_is_refused_clearly(org, make_customer):
    bare = make_customer("BARE", contacts=[])
    with pytest.raises(RiskCheckError) as err:
        onboarding.assess_customer(bare, as_of=AS_OF)
    assert err.value.code == "risk_no_identifiers" and "BARE" in err.value.message
    assert not RiskAssessment.objects.exists()


def test_the_scheduled_pass_checks_new_customers_and_new_contracts_once(org, newcomer, make_customer):
    from duly.insights.tasks import scheduled_risk

    make_customer("BARE", contacts=[])
    scheduled_risk(NOW)
    customer, contract = newcomer
    assert RiskAssessment.objects.filter(customer=customer, contract=contract).count() == 1
    assert RiskAssessment.objects.filter(customer__code__startswith="OLD").count() == 3
    assert not RiskAssessment.objects.filter(customer__code="BARE").exists()  # refused, nothing half-written
    # BARE's refusal is remembered on its facts: the next pass does not try (and refuse) it again.
    assert onboarding.assess_new_customers(org, as_of=AS_OF) == {"checked": 0, "refused": 0, "unchanged": 1}


def test_the_customer_page_shows_the_check(bookkeeper, newcomer):
    from django.urls import reverse

    customer, contract = newcomer
    onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    html = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "red-flag check" in html.lower() and "free-mail provider (gmail.com)" in html
    assert "Ask for a deposit of 25% of the first invoice." in html


def test_staff_override_from_the_admin_page(bookkeeper, newcomer):
    from django.urls import reverse

    customer, contract = newcomer
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    url = reverse("admin:customers_riskassessment_change", args=[row.pk])
    form = {"take": "override", "note": "", "terms_days": "40", "deposit_percent": "", "credit_limit": "",
            "decisions-TOTAL_FORMS": "0", "decisions-INITIAL_FORMS": "0"}
    page = bookkeeper.post(url, form, follow=True)
    assert "a note is required" in page.content.decode() and not RiskDecision.objects.exists()
    bookkeeper.post(url, {**form, "note": "Paid upfront last year"}, follow=True)
    kept = RiskDecision.objects.get()
    assert (kept.decided_by.username, kept.note, kept.terms["terms_days"]) == ("bk", "Paid upfront last year", 40)


# --- the EU VIES check: off by default, faked at the HTTP boundary ----------------------------------------------


class _Vies(BaseHTTPRequestHandler):
    answers: dict = {}
    asked: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).asked.append(body)
        status, answer = type(self).answers.get(body["vatNumber"], (200, {"valid": False}))
        raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def vies_server():
    server = HTTPServer(("127.0.0.1", 0), _Vies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/taxation_customs/vies/rest-api/check-vat-number"
    server.shutdown()
    server.server_close()


def test_vies_is_off_by_default_and_nothing_is_asked(settings, org, newcomer, vies_server):
    _Vies.asked = []
    settings.DULY_VIES_URL = vies_server
    assert settings.DULY_VIES_CHECK is False and vies_checker() is None
    customer, contract = newcomer
    onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    assert _Vies.asked == []


def test_vies_on_an_unregistered_number_is_a_flag_and_an_outage_is_said_not_guessed(settings, org, newcomer,
                                                                                     vies_server):
    settings.DULY_VIES_CHECK, settings.DULY_VIES_URL = True, vies_server
    _Vies.asked = []
    _Vies.answers = {"136695976": (200, {"countryCode": "DE", "vatNumber": "136695976", "valid": False,
                                         "name": "---"})}
    customer, contract = newcomer
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    assert _Vies.asked == [{"countryCode": "DE", "vatNumber": "136695976"}]
    assert "vat_not_registered" in [f["code"] for f in row.flags]
    assert row.external == {"service": "vies", "country": "DE", "number": "136695976", "valid": False, "name": ""}
    _Vies.answers = {"136695976": (200, {"valid": True, "name": "Bundeszentralamt"})}
    assert ViesChecker(vies_server).check("DE", "136695976").name == "Bundeszentralamt"
    for status, answer in ((500, {"error": "down"}), (200, b"<html>maintenance</html>"),
                           (200, {"valid": False, "userError": "MS_UNAVAILABLE"})):
        _Vies.answers = {"136695976": (status, answer)}
        with pytest.raises(RiskCheckError) as err:
            ViesChecker(vies_server).check("DE", "136695976")
        assert err.value.code == "risk_check_unavailable"
    _Vies.answers = {"136695976": (503, {})}
    row = onboarding.assess_customer(customer, as_of=AS_OF, contract=contract)
    assert row.external == {"service": "vies", "error": "The EU VIES service answered HTTP 503."}
    assert "vat_not_registered" not in [f["code"] for f in row.flags]


def test_cli_check_prints_the_flags_and_refuses_a_customer_with_nothing_to_check(org, newcomer, make_customer):
    from click.testing import CliRunner

    from duly.cli import main

    make_customer("BARE", contacts=[])
    runner = CliRunner()
    out = runner.invoke(main, ["risk", "check", "--org", org.slug, "--customer", "NEW", "--as-of", "2026-03-02"])
    assert out.exit_code == 0, out.output
    assert "NEW: medium risk (score 45)." in out.output  # with its current contract: 60 days asked
    assert "free-mail provider (gmail.com)" in out.output and "[vat_country_mismatch]" in out.output
    out = runner.invoke(main, ["risk", "check", "--org", org.slug, "--customer", "BARE"])
    assert out.exit_code != 0 and "nothing to check" in out.output
    out = runner.invoke(main, ["risk", "check", "--org", org.slug, "--as-of", "2026-03-02"])
    assert out.exit_code == 0 and "Checked 3 customers or contracts; 1 had nothing to check." in out.output
