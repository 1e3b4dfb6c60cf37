"""The optional credit-bureau check of a new customer (issue 17 part 1): off by default and never called then;
turned on, its score is one more red-flag signal, and a bureau that fails is said on the check (which is kept),
never guessed. The bureau is faked at its HTTP boundary, on loopback only."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from duly.customers.models import RiskAssessment
from duly.domain.errors import RiskCheckError
from duly.insights import risk_onboarding as onboarding
from duly.insights.risk_bureau import BureauChecker, bureau_checker

AS_OF = date(2026, 3, 2)


class _Bureau(BaseHTTPRequestHandler):
    answer: tuple = (200, {"score": 80})
    asked: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).asked.append((body, self.headers.get("Authorization")))
        status, answer = type(self).answer
        if status == "hang":
            import time

            time.sleep(2)
            status, answer = 200, {"score": 90}
        raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def bureau_url():
    from socketserver import ThreadingMixIn

    class Server(ThreadingMixIn, HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), _Bureau)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/score"
    server.shutdown()
    server.server_close()


@pytest.fixture
def acme(make_customer):
    return make_customer("ACME", name="Acme SAS", tax_id="FR40303265045", email="ap@acme.fr",
                         preferred_payment_method="sepa_debit")


def test_off_by_default_the_bureau_is_never_called(settings, org, acme, bureau_url, make_customer,
                                                   django_capture_on_commit_callbacks):
    _Bureau.asked = []
    assert settings.DULY_CREDIT_BUREAU_URL == "" and bureau_checker() is None
    row = onboarding.assess_customer(acme, as_of=AS_OF)
    with django_capture_on_commit_callbacks(execute=True):
        make_customer("OTHER", tax_id="FR40303265045", email="ap@other.fr")
    onboarding.assess_new_customers(org, as_of=AS_OF)
    assert _Bureau.asked == [] and row.external == {} and "bureau_low_score" not in [f["code"] for f in row.flags]


def test_turned_on_a_low_score_is_a_red_flag_with_the_bureaus_answer_kept(settings, org, acme, bureau_url):
    settings.DULY_CREDIT_BUREAU_URL, settings.DULY_CREDIT_BUREAU_TOKEN = bureau_url, "s3cret-token"
    _Bureau.asked, _Bureau.answer = [], (200, {"score": 22, "rating": "D", "reference": "rep-77"})
    row = onboarding.assess_customer(acme, as_of=AS_OF)
    assert _Bureau.asked == [({"country": "FR", "vat_id": "FR40303265045", "company_id": "", "name": "Acme SAS"},
                              "Bearer s3cret-token")]
    assert [f["code"] for f in row.flags] == ["bureau_low_score"] and (row.score, row.level) == (25, "medium")
    assert row.external == {"bureau": {"service": "credit_bureau", "score": 22, "rating": "D",
                                       "reference": "rep-77"}}
    _Bureau.answer = (200, {"score": 85})
    better = onboarding.assess_customer(acme, as_of=AS_OF)
    assert better.pk != row.pk and better.flags == [] and better.external["bureau"]["score"] == 85


def test_a_customer_with_nothing_to_look_up_is_not_sent_to_the_bureau(settings, org, make_customer, bureau_url):
    settings.DULY_CREDIT_BUREAU_URL = bureau_url
    _Bureau.asked, _Bureau.answer = [], (200, {"score": 10})
    bare = make_customer("MAILONLY", email="ap@mailonly.fr", contacts=[])
    row = onboarding.assess_customer(bare, as_of=AS_OF)
    assert _Bureau.asked == [] and "bureau_low_score" not in [f["code"] for f in row.flags]


@pytest.mark.parametrize("answer, error", [
    ((503, {"error": "maintenance"}), "The credit bureau answered HTTP 503."),
    ((200, b"<html>login</html>"), "The credit bureau's answer could not be read."),
    ((200, {"rating": "A"}), "The credit bureau's answer could not be read."),
    ((200, {"score": 140}), "The credit bureau's score is not a whole number from 0 to 100."),
    ((200, {"score": "55"}), "The credit bureau's score is not a whole number from 0 to 100."),
])
def test_a_failing_bureau_is_a_clear_error_and_the_check_is_kept_without_it(settings, org, acme, bureau_url,
                                                                             answer, error):
    settings.DULY_CREDIT_BUREAU_URL = bureau_url
    _Bureau.answer = answer
    with pytest.raises(RiskCheckError) as err:
        BureauChecker(bureau_url).check(country="FR", vat_id="FR40303265045", company_id="", name="Acme SAS")
    assert (err.value.code, err.value.message) == ("risk_check_unavailable", error)
    row = onboarding.assess_customer(acme, as_of=AS_OF)
    assert row.external == {"bureau": {"service": "credit_bureau", "error": error}}
    assert row.flags == [] and RiskAssessment.objects.filter(customer=acme).count() == 1


def test_a_bureau_that_does_not_answer_in_time_times_out(org, acme, bureau_url, monkeypatch):
    import urllib3

    from duly.insights import risk_bureau

    monkeypatch.setattr(risk_bureau, "TIMEOUT", urllib3.Timeout(connect=1.0, read=0.3))
    _Bureau.answer = ("hang", None)
    with pytest.raises(RiskCheckError) as err:
        BureauChecker(bureau_url).check(country="FR", vat_id="FR40303265045", company_id="", name="Acme SAS")
    assert err.value.message == "The credit bureau did not answer (ReadTimeoutError)."


def test_a_closed_port_is_said_not_guessed(org, acme):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RiskCheckError) as err:
        BureauChecker(f"http://127.0.0.1:{port}/v1/score").check(country="FR", vat_id="X", company_id="", name="")
    assert err.value.code == "risk_check_unavailable" and "did not answer" in err.value.message
