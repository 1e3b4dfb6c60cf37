"""Shared fixtures: organizations, customers and contracts built through the services."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings

# The suite runs on a shared 2-core machine: hypothesis's per-example time limit would turn a busy CPU into a
# failure that says nothing about behaviour. Every property still runs its full number of examples.
settings.register_profile("duly", deadline=None)
settings.load_profile("duly")

# The gettext catalogues are built, not committed: compile any .po newer than its .mo before a test translates
# (`make messages` does the same), so `pytest` run directly prints translated documents.
from duly.translation import compile_catalogues  # noqa: E402

compile_catalogues()

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

# Tests issue invoices whose documents carry pay links to the loopback DULY_PUBLIC_URL default: they allow it
# explicitly (issuing refuses it elsewhere), for the processes they start too (and in this one, _loopback_links).
# tests/invoicing/test_public_url.py turns it off to check the refusal.
os.environ.setdefault("DULY_ALLOW_LOOPBACK_LINKS", "1")

# The suite is self-contained: a fresh clone has nothing beside it. Any file a test (or the code under test)
# opens in a folder beside the repository (a sibling data folder, say) fails the run, so CI catches it even on a machine
# where that folder happens to exist. Test data lives in tests/data/, with its origin and licence notes.
_REPO = Path(__file__).resolve().parents[1]
_OUTSIDE_READS: list[str] = []


_STARTED = time.time()
_TEMP = os.path.realpath(tempfile.gettempdir()) + os.sep


def _made_by_this_run(path: str) -> bool:
    """A scratch file the run itself wrote in the system's temporary folder (a library's temporary PDF, say): not
    data read from beside the repository, even when the clone itself lives in that folder."""
    if not os.path.realpath(path).startswith(_TEMP):
        return False
    template = os.environ.get("PYTEST_DULY_MIGRATED_TEMPLATE")
    if template and os.path.realpath(path).startswith(os.path.dirname(os.path.realpath(template)) + os.sep):
        return True  # the run's migrated template database (pytest_configure below)
    try:
        return os.stat(path).st_mtime >= _STARTED - 1
    except OSError:  # being created now
        return True


def _audit_outside_reads(event, args):
    if event != "open" or not args or not isinstance(args[0], (str, os.PathLike)):
        return
    path = os.path.abspath(os.fspath(args[0]))
    if path.startswith(str(_REPO.parent) + os.sep) and not path.startswith(str(_REPO) + os.sep) \
            and not _made_by_this_run(path):
        _OUTSIDE_READS.append(path)


sys.addaudithook(_audit_outside_reads)


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its controller reports (pytest_testnodedown below)
        workeroutput["outside_reads"] = sorted(set(_OUTSIDE_READS))
    if _OUTSIDE_READS:
        paths = ", ".join(sorted(set(_OUTSIDE_READS))[:5])
        sys.stderr.write(f"\nerror: the suite read files outside the repository (copy them into tests/data): {paths}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Under pytest-xdist the tests run in worker processes: their outside reads fail the whole run too."""
    _OUTSIDE_READS.extend(getattr(node, "workeroutput", {}).get("outside_reads", []))


# The files that take longest (each runs Duly in processes of its own, or waits on workers or a browser), in the
# order they start: with pytest-xdist handing out whole files in collection order, starting these first keeps
# one process from finishing the suite alone on a long file while the others wait.
LONGEST_FIRST = (
    "tests/scaleout/test_crash_safety.py",
    "tests/test_cli.py",
    "tests/billing/test_run.py",
    "tests/api/test_schemathesis.py",
    "tests/test_admin_languages.py",
    "tests/billing/test_partitions.py",
    "tests/messaging/test_catalogues.py",
    "tests/security/test_roles.py",
    "tests/test_security.py",
    "tests/test_environment.py",
    "tests/payments/test_autopay_killed.py",
    "tests/messaging/test_worker_killed.py",
)


def _longest_first(items) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}

    def key(item):
        path = Path(str(item.path)).resolve().relative_to(_REPO).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: every other file keeps its order, and so does each file's own


def pytest_collection_modifyitems(config, items):
    _longest_first(items)
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://... (make test-postgres)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """Argon2 (the production hasher) costs about 0.4 s a hash on this machine, and tests log in often: they
    hash with MD5 instead. tests/test_security.py proves Argon2 is what `duly init` stores."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _loopback_links():
    """Documents may carry pay links to the loopback DULY_PUBLIC_URL in tests (see DULY_ALLOW_LOOPBACK_LINKS above)."""
    from django.test.utils import override_settings

    with override_settings(DULY_ALLOW_LOOPBACK_LINKS=True):
        yield


@pytest.fixture
def celery_eager():
    """Duly's Celery app running its tasks in the calling process (``delay`` returns an EagerResult).

    The app reads Django's ``CELERY_``-prefixed settings, and a prefixed key wins over a plain one: setting
    ``app.conf.task_always_eager`` has no effect, so the prefixed key is set here and restored afterwards."""
    from duly.celery import app

    key = "CELERY_TASK_ALWAYS_EAGER"
    before = app.conf.get(key)
    app.conf[key] = True
    try:
        yield app
    finally:
        app.conf[key] = before


# One database with every migration applied, made once per run and shared by every test process: migrating from
# nothing costs about 15 s of CPU, which each pytest-xdist worker used to pay for its test database, and again for
# the processes it starts (migrated_sqlite below). The run's first process (the xdist controller, or pytest itself
# without xdist) starts `django migrate` on a file in the background as it configures; the processes wait for it
# only when a test first needs a database, and copy it. The migration is the real one (the same command a
# deployment runs); only its repetition is gone.
_TEMPLATE_ENV = "PYTEST_DULY_MIGRATED_TEMPLATE"
_TEMPLATE_JOB: subprocess.Popen | None = None


def _migrate_env(db: Path) -> dict:
    return {**os.environ, "DULY_HOME": str(db.parent), "DATABASE_URL": f"sqlite:///{db}",
            "DJANGO_SETTINGS_MODULE": "duly.settings"}


def pytest_configure(config):
    global _TEMPLATE_JOB
    if os.environ.get(_TEMPLATE_ENV) or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = Path(tempfile.mkdtemp(prefix="duly-migrated-"))
    template = folder / "migrated.sqlite3"
    log = open(folder / "migrate.log", "w")  # noqa: SIM115 - the job writes to it until it ends
    code = ("import sys, django; django.setup(); from django.core.management import call_command; "
            "call_command('migrate', verbosity=0); from django.db import connections; connections.close_all(); "
            "open(sys.argv[1] + '.done', 'w').close()")  # closed first: the last close folds SQLite's WAL in
    _TEMPLATE_JOB = subprocess.Popen([sys.executable, "-c", code, str(template)], env=_migrate_env(template),
                                     stdout=log, stderr=subprocess.STDOUT)
    os.environ[_TEMPLATE_ENV] = str(template)  # the xdist workers, started after this, inherit it


def pytest_unconfigure(config):
    if _TEMPLATE_JOB is not None:
        if _TEMPLATE_JOB.poll() is None:
            _TEMPLATE_JOB.kill()
        _TEMPLATE_JOB.wait()
        shutil.rmtree(Path(os.environ.pop(_TEMPLATE_ENV)).parent, ignore_errors=True)


def migrated_template() -> Path:
    """The run's migrated database, once its migration has ended (waits for it; fails with its output)."""
    template = Path(os.environ[_TEMPLATE_ENV])
    done = Path(f"{template}.done")
    deadline = time.monotonic() + 600
    while not done.exists():
        if _TEMPLATE_JOB is not None and _TEMPLATE_JOB.poll() not in (None, 0):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not done.exists():
        log = (template.parent / "migrate.log")
        pytest.fail("migrating the suite's template database failed:\n" + (log.read_text() if log.exists() else ""))
    return template


if not ON_POSTGRES:
    @pytest.fixture(scope="session")
    def django_db_setup(django_test_environment, django_db_blocker, django_db_modify_db_settings):
        """The SQLite test database (in memory, one per process) as a copy of the run's migrated template, made
        as Django's ``create_test_db`` makes it but with the migration copied instead of run again."""
        import sqlite3

        from django.conf import settings as django_settings
        from django.db import connections

        template = migrated_template()
        with django_db_blocker.unblock():
            for alias in connections:
                connection = connections[alias]
                test_name = connection.creation._create_test_db(verbosity=0, autoclobber=True, keepdb=False)
                connection.close()
                django_settings.DATABASES[alias]["NAME"] = test_name
                connection.settings_dict["NAME"] = test_name
                connection.ensure_connection()
                source = sqlite3.connect(template)
                try:
                    source.backup(connection.connection)
                finally:
                    source.close()
        yield


@pytest.fixture(scope="session")
def migrated_sqlite():
    """``(path) -> path``: put an SQLite database with every migration applied at ``path``, for the tests that run
    Duly in processes of their own (kill -9, parallel runs, the console script): a copy of the run's migrated
    template (above). The processes under test still run their own ``migrate``, which finds nothing left to
    apply. The demo (tests/test_cli.py) still migrates from nothing."""

    def place(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_template(), path)
        return path

    return place


@pytest.fixture
def mount_webhooks(settings):
    """``mount_webhooks(secret)``: set DULY_ANYMAIL_WEBHOOK_SECRET's setting (None: unset) and read duly.urls again,
    as a server started with that environment would; the original URLs come back after the test."""
    import importlib

    from django.conf import settings as django_settings
    from django.urls import clear_url_caches

    import duly.urls

    def remount(secret: str | None) -> None:
        settings.ANYMAIL = {"WEBHOOK_SECRET": secret} if secret else {}
        importlib.reload(duly.urls)
        clear_url_caches()

    original = django_settings.ANYMAIL.get("WEBHOOK_SECRET")
    yield remount
    remount(original)


@pytest.fixture
def webhook_secret(mount_webhooks):
    """DULY_ANYMAIL_WEBHOOK_SECRET set, as a deployment sets it: /anymail/ is mounted."""
    mount_webhooks("hook:s3cret")
    return "hook:s3cret"


@pytest.fixture
def bookkeeper(org):
    """A logged-in back-office client: a staff member of ``org``."""
    from django.test import Client

    from duly.customers.services import add_member

    add_member(org, username="bk", password="ledger-pass-1")
    client = Client()
    assert client.login(username="bk", password="ledger-pass-1")
    return client


@pytest.fixture
def org(db):
    from duly.customers.services import create_organization

    return create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example",
    )


@pytest.fixture
def other_org(db):
    from duly.customers.services import create_organization

    return create_organization(
        name="Northwind Consulting Ltd", slug="northwind", country="GB", default_currency="GBP",
        address_line1="1 King Street", postcode="EC2V 8AU", city="London", vat_id="GB980780684",
        locale="en_GB", timezone="Europe/London",
    )


@pytest.fixture
def make_customer(org):
    from duly.customers.services import create_customer

    counter = {"n": 0}

    def make(code=None, *, organization=None, **fields):
        counter["n"] += 1
        values = dict(
            name=f"Client {counter['n']} SAS", country="FR", city="Lyon", address_line1="3 quai Perrache",
            postcode="69002", currency="EUR", locale="fr_FR", timezone="Europe/Paris",
            contacts=[{"name": "Camille Martin", "email": f"ap{counter['n']}@client.example",
                       "role": "accounts_payable"}],
        )
        values.update(fields)
        return create_customer(organization or org, code=code or f"C{counter['n']:03}", **values)

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer("ACME", name="Acme Industries SAS")


@pytest.fixture
def make_contract(org):
    from duly.customers.services import create_contract

    def make(customer, reference=None, **fields):
        fields.setdefault("start_date", date(2026, 1, 1))
        return create_contract(org if customer.organization_id == org.id else customer.organization, customer,
                               reference=reference or f"CTR-{customer.code}", **fields)

    return make


@pytest.fixture
def contract(customer, make_contract):
    from decimal import Decimal

    return make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                         late_rate_percent=Decimal("12"), late_fixed_fee="40.00")


# --- imported e-invoices -----------------------------------------------------------------------------------
EN16931_EXAMPLES = _REPO / "tests" / "data" / "en16931-examples"


def _org_for_seller(xml: bytes, slug: str):
    """The organization that issued an example invoice (importing is for one's own invoices)."""
    from duly.customers.services import create_organization
    from duly.invoicing.einvoice.importer import parse_einvoice

    seller = parse_einvoice(xml).seller
    lines = list(seller.address_lines)
    return create_organization(
        name=seller.name, slug=slug, country=seller.country_code, trading_name=seller.trading_name,
        address_line1=lines[0] if lines else "", address_line2=", ".join(lines[1:]), postcode=seller.postcode,
        city=seller.city, vat_id=seller.vat_id, registration_id=seller.legal_registration_id,
        default_currency=parse_einvoice(xml).currency,
    )


@pytest.fixture
def org_for_seller(db):
    """``(xml, slug) -> Organization``: the organization that issued an example invoice."""
    return _org_for_seller


def _rounded_einvoice(number: str = "12115118", rounding: str = "0.67") -> bytes:
    """The official example ubl-tc434-example1 (De Koksmaat to ODIN 59, 250.33 EUR) numbered ``number``, with
    a rounding amount (EN 16931 BT-114): with 0.67, 250.33 becomes 251.00 to pay."""
    from decimal import Decimal

    text = (EN16931_EXAMPLES / "ubl" / "ubl-tc434-example1.xml").read_text(encoding="utf-8")
    payable = Decimal("250.33") + Decimal(rounding)
    text = text.replace("<cbc:ID>12115118</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>", 1).replace(
        '<cbc:PayableAmount currencyID="EUR">250.33</cbc:PayableAmount>',
        f'<cbc:PayableRoundingAmount currencyID="EUR">{rounding}</cbc:PayableRoundingAmount>\n'
        f'        <cbc:PayableAmount currencyID="EUR">{payable}</cbc:PayableAmount>')
    assert "PayableRoundingAmount" in text
    return text.encode()


@pytest.fixture
def rounded_einvoice():
    """``(number="12115118", rounding="0.67") -> bytes``: an official UBL example with a rounding amount."""
    return _rounded_einvoice
