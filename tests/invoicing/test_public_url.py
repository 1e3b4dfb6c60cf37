"""Documents never freeze a pay link nobody can open, and find their files from any working directory.

Issuing refuses, with one line naming DULY_PUBLIC_URL, while it is unset or a loopback address, except where
loopback links are explicitly allowed (DULY_ALLOW_LOOPBACK_LINKS: the demo and the test suite). The media
folder is an absolute path (DULY_MEDIA_ROOT): an export with an attachment works from another folder.
"""

from __future__ import annotations

import os
import runpy
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from django.core.exceptions import ImproperlyConfigured

import duly.settings
from duly.cli import main
from duly.security import public_url_problem
from duly.domain.errors import PublicUrlNotSet
from duly.invoicing import services
from duly.invoicing.models import Invoice


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:8000", "http://localhost:8000/", "https://app.localhost",
                                 "http://[::1]:8000", "http://0.0.0.0", "ftp://billing.example.com", "billing"])
def test_unset_and_loopback_urls_are_not_public(url):
    assert public_url_problem(url) is not None


@pytest.mark.parametrize("url", ["https://billing.example.com", "http://10.0.0.5:8000", "https://pay.duly.test/"])
def test_public_urls_are_accepted(url):
    assert public_url_problem(url) is None


@pytest.fixture
def strict(settings):
    """Outside the demo and the tests: loopback links are not allowed."""
    settings.DULY_ALLOW_LOOPBACK_LINKS = False
    return settings


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", ""])
def test_issuing_refuses_a_loopback_or_unset_public_url_and_changes_nothing(strict, org, customer, contract, url):
    strict.DULY_PUBLIC_URL = url
    draft = services.create_draft(org, customer, [services.LineData("Design", Decimal(1), Decimal("100"))],
                                  contract=contract)
    with pytest.raises(PublicUrlNotSet) as err:
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 4, 1))
    assert "DULY_PUBLIC_URL" in err.value.message and "\n" not in err.value.message
    draft.refresh_from_db()
    assert (draft.status, draft.number) == (Invoice.DRAFT, None)

    result = CliRunner().invoke(main, ["invoices", "issue", str(draft.pk), "--date", "2026-04-01",
                                       "--allow-date-outside-window"])
    assert result.exit_code == 2
    assert result.output.startswith("error: DULY_PUBLIC_URL") and len(result.output.strip().splitlines()) == 1

    strict.DULY_PUBLIC_URL = "https://billing.atelier.example"
    issued = services.issue_invoice(org, draft.pk, issue_date=date(2026, 4, 1))
    assert issued.status == Invoice.ISSUED


def test_the_bulk_path_and_the_migration_refuse_it_too(strict, org, customer, contract):
    from django.db import transaction

    from duly.invoicing import bulk
    from duly.invoicing.migration_services import import_receivables

    strict.DULY_PUBLIC_URL = "http://localhost:8000"
    item = bulk.BulkInvoice(customer, contract, [services.LineData("Plan", Decimal(1), Decimal("50"))])
    with pytest.raises(PublicUrlNotSet), transaction.atomic():  # the billing run's path
        bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=date(2026, 5, 1))], issue_date=date(2026, 5, 1))
    with pytest.raises(PublicUrlNotSet):
        import_receivables(org, b"customer,number,issue_date,due_date,amount,currency,paid\n"
                                b"ACME,OLD-1,2026-01-05,2026-02-04,100.00,EUR,0\n")
    assert not Invoice.objects.filter(organization=org).exists()


def test_duly_check_names_a_loopback_public_url(strict):
    from duly.checks import public_url_check

    strict.DULY_PUBLIC_URL = "http://127.0.0.1:8000"
    [error] = public_url_check()
    assert error.id == "duly.E002" and error.msg.startswith("DULY_PUBLIC_URL is a loopback address")
    strict.DULY_PUBLIC_URL = "https://billing.atelier.example"
    assert public_url_check() == []


def test_the_demo_allows_loopback_links_explicitly():
    import inspect

    from duly.cli import customers

    assert "settings.DULY_ALLOW_LOOPBACK_LINKS = True" in inspect.getsource(customers.demo.callback)


def _load_settings(monkeypatch, tmp_path, **env):
    for name in list(os.environ):
        if name.startswith("DULY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DULY_HOME", str(tmp_path / "home"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(duly.settings.__file__)


def test_the_media_folder_is_absolute(monkeypatch, tmp_path):
    assert _load_settings(monkeypatch, tmp_path)["MEDIA_ROOT"] == (tmp_path / "home" / "var" / "media")
    assert _load_settings(monkeypatch, tmp_path, DULY_VAR_DIR="rel-var")["MEDIA_ROOT"].is_absolute()
    with pytest.raises(ImproperlyConfigured, match="^DULY_MEDIA_ROOT must be an absolute path"):
        _load_settings(monkeypatch, tmp_path, DULY_MEDIA_ROOT="var/media")


def test_an_export_with_an_attachment_works_from_another_working_directory(make_invoice, monkeypatch, tmp_path):
    invoice = make_invoice("en")  # two attachments, stored under the (absolute) media folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["invoices", "export", invoice.number, "--format", "ubl", "-o", "inv.xml"])
    assert result.exit_code == 0, result.output
    xml = (elsewhere / "inv.xml").read_bytes()
    assert b"timesheet-march.csv" in xml and b"service-report.pdf" in xml
