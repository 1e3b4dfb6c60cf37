"""The self-service pages of the personal link in a real browser (Debian's chromium through Playwright): the history,
a statement download, a disputed line, a change of billing details, the language and keyboard use. Every page is
checked with axe-core (the copy bundled in the pinned ``axe-playwright-python`` package, MPL-2.0, run offline in the
page) and fails on a serious or critical violation. Screenshots of every page are saved under
``var/test-screenshots/portal-selfservice/`` (or ``$DULY_TEST_SCREENSHOTS``)."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from duly.collections.models import Dispute, Task
from duly.invoicing import services as inv
from duly.messaging.links import pay_url
from duly.portal.models import ChangeRequest, PortalQuestion

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("DULY_TEST_SCREENSHOTS")
                   or Path(__file__).resolve().parents[2] / "var" / "test-screenshots") / "portal-selfservice"
#: Impacts that fail the test (axe-core's "minor" and "moderate" are reported, not failed).
FAILING = ("serious", "critical")


def check_page(page, name: str) -> None:
    """Save a full-page screenshot, then run axe-core on the page: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in FAILING]
    assert not bad, f"{name}: axe-core found " + "; ".join(bad)


@pytest.fixture
def account(live_server, org, customer, contract):
    from duly.payments.services import record_payment

    def issue(lines, on):
        draft = inv.create_draft(org, customer, [inv.LineData(text, Decimal(1), Decimal(amount))
                                                 for text, amount in lines], contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=on)

    paid = issue([("Audit", "90.00")], date(2026, 9, 1))
    record_payment(org, customer, amount="90.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 9, 20), allocations={paid.pk: "90.00"})
    disputed = issue([("Consulting", "200.00"), ("Travel", "40.00")], date(2026, 10, 1))
    return {"url": live_server.url + urlsplit(pay_url(org.pk, customer.pk, made_on=date.today())).path,
            "paid": paid, "disputed": disputed}


def test_history_statement_dispute_and_change_request(page, account, customer):
    paid, disputed = account["paid"], account["disputed"]
    page.goto(account["url"])
    check_page(page, "01-account")
    page.click("#history")
    page.wait_for_selector("#invoices")
    check_page(page, "02-history")
    assert page.get_attribute(f"tr[data-invoice='{paid.pk}']", "data-status") == "paid"
    assert "90,00" in page.text_content(f"tr[data-invoice='{paid.pk}']")
    assert paid.number in page.text_content("#payments")
    with page.expect_download() as download:
        page.click(f"tr[data-invoice='{paid.pk}'] a.pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as download:
        page.click("#payments a.receipt")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")

    page.click("#nav-statement")
    page.wait_for_selector("#statement-form")
    check_page(page, "03-statement")
    options = page.eval_on_selector_all("#as_of option", "els => els.map(e => e.value)")
    page.select_option("#as_of", options[1])  # the last month end
    with page.expect_download() as download:
        page.click("#statement-download")
    assert download.value.suggested_filename == f"statement-{options[1]}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")

    page.click("#nav-history")
    page.click(f"tr[data-invoice='{disputed.pk}'] a.ask")
    page.wait_for_selector("#ask-form")
    check_page(page, "04-ask")
    page.check("#kind-dispute")
    page.select_option("#line", label=page.text_content("#line option:nth-child(3)").strip())
    page.fill("#text", "We never agreed to pay for travel.")
    page.click("#send")
    page.wait_for_selector("#confirmation")
    check_page(page, "05-dispute-confirmation")
    dispute = Dispute.objects.get(invoice=disputed)
    assert dispute.status == Dispute.OPEN and "Travel" in dispute.question
    assert PortalQuestion.objects.get().line.description == "Travel"
    assert Task.objects.filter(kind="query", customer=customer).count() == 1
    assert page.text_content("#message").strip() == "We never agreed to pay for travel."
    page.reload()  # a reload of the confirmation writes nothing
    assert PortalQuestion.objects.count() == 1

    page.click("#nav-details")
    page.wait_for_selector("#details-form")
    check_page(page, "06-details")
    page.fill("#contact_name", "Nina Rossi")
    page.fill("#contact_email", "nina@acme.example")
    page.fill("#po_number", "PO-2027-01")
    page.click("#request-change")
    page.wait_for_selector("#change-requested")
    check_page(page, "07-change-requested")
    request = ChangeRequest.objects.get()
    assert (request.status, request.contact_name, request.po_number) == ("pending", "Nina Rossi", "PO-2027-01")


def test_keyboard_skip_link_focus_and_language(page, account):
    page.goto(account["url"] + "/history")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = page.evaluate("(() => { const r = document.activeElement.getBoundingClientRect();"
                        " return [r.left, r.top, r.width]; })()")
    assert box[0] >= 0 and box[1] >= 0 and box[2] > 0  # shown when focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the skip link leads to the content's first control
    assert page.evaluate("document.activeElement.className") == "pdf"
    # from the top, Tab reaches every control of the page in reading order
    page.goto(account["url"] + "/history")
    reached, seen = [], set()
    for _ in range(30):
        page.keyboard.press("Tab")
        element = page.evaluate("document.activeElement.outerHTML")
        if element in seen or page.evaluate("document.activeElement.tagName") == "BODY":
            break
        seen.add(element)
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert reached[:8] == ["skip", "nav-account", "nav-history", "nav-statement", "nav-details", "language-choice",
                           "language-keep", "language-apply"]
    assert reached.count("pdf") == 2 and reached.count("ask") == 2 and "receipt" in reached
    page.select_option("#language-choice", "de")
    page.focus("#language-apply")
    page.keyboard.press("Enter")
    page.wait_for_selector("html[lang=de]")
    check_page(page, "08-history-de")
    assert "Oktober 2026" in page.text_content("#invoices")


def test_the_axe_check_fails_on_a_serious_violation(page, live_server):
    """The check is real: an input without a label and grey-on-grey text fail it."""
    page.goto(live_server.url + "/p/not-a-token")  # any page of the site, then replaced
    page.set_content('<html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
                     '<input type="text" name="x"><p style="color:#aaa;background:#bbb">faint</p></main></body></html>')
    with pytest.raises(AssertionError) as failed:
        check_page(page, "00-axe-self-test")
    assert "label" in str(failed.value) and "color-contrast" in str(failed.value)


def test_the_pay_pages_pass_the_axe_check(page, account, stripe_settings):
    """The pay-now pages of the same link: the choice of invoices and method, a bank transfer's page, the setup of
    future payments, and a refused link."""
    page.goto(account["url"] + "/pay")
    check_page(page, "09-pay-now")
    page.check("input[name=method][value=bank_transfer]")
    page.click("#continue")
    page.wait_for_selector("#status")
    check_page(page, "10-checkout-transfer")
    page.goto(account["url"] + "/methods")
    check_page(page, "11-methods")
    page.goto(account["url"] + "x/history")
    check_page(page, "12-refused")
