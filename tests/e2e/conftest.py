"""Browser tests: Playwright (pinned in the test extra) driving Debian's chromium, never a browser Playwright
downloads. ``make sysdeps`` (run by ``make test``) installs the ``chromium`` package; the tests skip only when it
is not there, saying so."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop running in the test's thread; the ORM calls of the test (building
# rows, checking them) are plain synchronous calls between browser steps, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY, PUBLISHABLE, SECRET = "sk_test_duly", "pk_test_duly", "whsec_test_duly"
NO_CHROMIUM = ("Debian's chromium is not installed and could not be installed here: `make sysdeps` installs the "
               "`chromium` package with apt-get, which needs root and the Debian archive")


def chromium_path() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # as root (containers, CI) chromium refuses to start with its sandbox
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=path, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def stripe_fake():
    with StripeFake(KEY, publishable_key=PUBLISHABLE) as fake:
        yield fake


@pytest.fixture
def stripe_settings(stripe_fake, settings):
    """Duly's Stripe settings pointed at the loopback fake, Stripe.js at the fake's stand-in."""
    stripe_fake.point_settings(settings, webhook_secret=SECRET)
    return stripe_fake
