"""The staff dashboard in a real browser (Debian's chromium through Playwright): a staff member logs in to the back
office and its home page shows their organization's charts, drawn on the server as inline SVG (no script), each an
image named by its title. Screenshots are saved under ``var/test-screenshots/dashboard/`` (or
``$DULY_TEST_SCREENSHOTS/dashboard/``)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from duly.customers.services import add_member
from duly.invoicing import services as inv

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("DULY_TEST_SCREENSHOTS")
                   or Path(__file__).resolve().parents[2] / "var" / "test-screenshots") / "dashboard"


@pytest.fixture
def receivables(org, customer, contract, make_customer):
    from duly.payments.services import record_payment

    today = date.today()

    def issue(who, amount, days_ago, contract=None):
        draft = inv.create_draft(org, who, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=today - timedelta(days=days_ago))

    issue(customer, "1200", 150, contract)  # 90+ (issued in date order: numbers never go back in time)
    paid = issue(customer, "900", 80, contract)
    issue(customer, "400", 50, contract)    # 1-30
    record_payment(org, customer, amount="900", currency="EUR", method="bank_transfer",
                   received_on=today - timedelta(days=45), allocations={paid.pk: Decimal("900")})
    issue(make_customer("BETA", name="Beta SARL"), "250", 5)
    add_member(org, username="dash-staff", password="dash-pass-123")


def test_the_home_page_shows_the_charts_with_accessible_titles(page, live_server, receivables):
    page.goto(live_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "dash-staff")
    page.fill("#id_password", "dash-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "01-home.png"), full_page=True)
    assert (SCREENSHOTS / "01-home.png").stat().st_size > 10_000
    for title in ("Aging buckets (EUR)", "DSO trend (EUR)", "13-week cash-in forecast (EUR)",
                  "Last quarter's forecast (EUR"):
        chart = page.get_by_role("img", name=title, exact=False)
        assert chart.count() == 1, title
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 80, title
    # the bars are drawn: the aging chart has a bar for each bucket with money in it
    assert page.locator("#aging-EUR rect[fill='#2b6cb0']").count() == 5
    assert page.locator("#aging-EUR desc").text_content().startswith("Open: current 250.00")
    # the top overdue customer links to their page
    link = page.locator(".overdue-table a").first
    assert link.text_content() == "Acme Industries SAS"
    link.click()
    page.wait_for_url("**/customers/customer/*/change/")
    page.screenshot(path=str(SCREENSHOTS / "02-customer.png"))
