"""Every environment variable the README documents is honoured, and every one Duly reads is documented.

The README's "Configuration" table is the list: each variable is set here to a distinctive value, the
settings are loaded afresh from that environment (as a new process would), and the test checks that the
value reaches the setting and, where another module reads it, that module's behaviour.
"""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest

import duly.settings

REPO = Path(__file__).resolve().parents[1]
SETTINGS_FILE = duly.settings.__file__
#: Variables only the test suite itself reads (never set in a deployment).
TEST_ONLY = {"DULY_TEST_SQLITE_FILE", "DULY_TEST_KILL_AFTER_SENDS"}


def documented() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.M)


def read_by_duly() -> set[str]:
    """Every environment variable named where Duly reads its environment."""
    pattern = re.compile(r"""(?:environ(?:\.get)?[(\[]|env_(?:bool|int|list)\(|envvar=)\s*["']([A-Z][A-Z0-9_]+)["']""")
    names: set[str] = set()
    for path in (REPO / "src" / "duly").rglob("*.py"):
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return names - TEST_ONLY - {"DJANGO_SETTINGS_MODULE"}


class Env:
    def __init__(self, monkeypatch, tmp_path: Path, settings) -> None:
        self.monkeypatch, self.tmp, self.settings = monkeypatch, tmp_path, settings

    def load(self, **env: str) -> dict:
        """duly/settings.py run afresh with only ``env`` (and DULY_HOME in a temporary folder) set."""
        for name in list(os.environ):
            if name.startswith(("DULY_", "CELERY_")) or name == "DATABASE_URL":
                self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("DULY_HOME", str(self.tmp))
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        return runpy.run_path(SETTINGS_FILE)

    def setting(self, name: str, value: str, setting: str):
        return self.load(**{name: value})[setting]


def _bureau_token(e: Env):
    """The token set is what the bureau is sent (as the adapter builds its request), none without it."""
    from duly.insights.risk_bureau import BureauChecker

    def header(**env):
        loaded = e.load(DULY_CREDIT_BUREAU_URL="https://bureau.example/v1/score", **env)
        checker = BureauChecker(loaded["DULY_CREDIT_BUREAU_URL"], loaded["DULY_CREDIT_BUREAU_TOKEN"])
        sent = {}

        def request(method, url, *, headers, **kw):
            sent.update(headers)
            raise __import__("urllib3").exceptions.NewConnectionError(None, "not sent in this test")

        checker.http.request = request
        try:
            checker.check(country="FR", vat_id="FR40303265045", company_id="", name="Acme")
        except Exception:  # noqa: BLE001 - the request is stopped before it leaves: only its headers matter
            pass
        return sent.get("Authorization")

    return header(DULY_CREDIT_BUREAU_TOKEN="t0k3n"), header()


def _journal(e: Env, **env: str):
    from duly.messaging.delivery import Journal

    loaded = e.load(**env)
    e.settings.DULY_OUTBOX_JOURNAL_DIR = loaded["DULY_OUTBOX_JOURNAL_DIR"]
    e.settings.DULY_OUTBOX_JOURNAL_FSYNC = loaded["DULY_OUTBOX_JOURNAL_FSYNC"]
    return Journal()


def _max_attempts(e: Env) -> int:
    from duly.messaging.delivery import max_attempts

    e.settings.DULY_OUTBOX_MAX_ATTEMPTS = e.setting("DULY_OUTBOX_MAX_ATTEMPTS", "3", "DULY_OUTBOX_MAX_ATTEMPTS")
    return max_attempts()


def _pdf_attachments(e: Env):
    from duly.messaging.attachments import renderer

    e.settings.DULY_MESSAGE_PDF_ATTACHMENTS = e.setting("DULY_MESSAGE_PDF_ATTACHMENTS", "0",
                                                        "DULY_MESSAGE_PDF_ATTACHMENTS")
    return renderer("invoice")


def _message_id(e: Env) -> str:
    from duly.messaging.services import new_message_id

    e.settings.DULY_MESSAGE_ID_DOMAIN = e.setting("DULY_MESSAGE_ID_DOMAIN", "mail.atelier.example",
                                                  "DULY_MESSAGE_ID_DOMAIN")
    return new_message_id()


def _template_dirs(e: Env):
    from duly.invoicing.pdf import template_dirs

    first, second = e.tmp / "one", e.tmp / "two"
    e.settings.DULY_DOCUMENT_TEMPLATE_DIRS = e.setting("DULY_DOCUMENT_TEMPLATE_DIRS", f"{first}{os.pathsep}{second}",
                                                       "DULY_DOCUMENT_TEMPLATE_DIRS")
    return template_dirs()[:2]


def _org(e: Env, request):
    from duly.cli import current_org

    request.getfixturevalue("org")
    other = request.getfixturevalue("other_org")
    e.monkeypatch.setenv("DULY_ORG", other.slug)
    return current_org(None) == other


def _lang(e: Env) -> tuple[str, str]:
    from click.testing import CliRunner

    from duly.cli import main

    e.monkeypatch.setenv("DULY_LANG", "fr")
    return CliRunner().invoke(main, ["--help"], prog_name="duly").stdout.split(" duly ", 1)[0], "Utilisation :"


def _debug(e: Env) -> tuple[bool, bool]:
    from duly.cli import debug_enabled

    loaded = e.setting("DULY_DEBUG", "1", "DEBUG")
    shown = debug_enabled()
    e.monkeypatch.setenv("DULY_DEBUG", "0")
    return loaded, shown and not debug_enabled()


def _loopback(e: Env) -> tuple[bool, bool]:
    """DULY_ALLOW_LOOPBACK_LINKS=1 lets issuing freeze links to a loopback DULY_PUBLIC_URL; unset, it is refused."""
    from duly.customers.links import check_public_url
    from duly.domain.errors import PublicUrlNotSet

    allowed = e.setting("DULY_ALLOW_LOOPBACK_LINKS", "1", "DULY_ALLOW_LOOPBACK_LINKS")
    e.settings.DULY_PUBLIC_URL, e.settings.DULY_ALLOW_LOOPBACK_LINKS = "http://127.0.0.1:8000", allowed
    check_public_url()
    e.settings.DULY_ALLOW_LOOPBACK_LINKS = e.load()["DULY_ALLOW_LOOPBACK_LINKS"]
    try:
        check_public_url()
    except PublicUrlNotSet:
        return allowed, False
    return allowed, True


def _webhook_loopback(e: Env) -> tuple[bool, bool]:
    """DULY_WEBHOOKS_ALLOW_LOOPBACK=1 lets webhook endpoints be URLs of this machine; unset, they are refused."""
    from duly.api.outgoing_services import allow_loopback

    e.settings.DULY_WEBHOOKS_ALLOW_LOOPBACK = e.setting("DULY_WEBHOOKS_ALLOW_LOOPBACK", "1",
                                                        "DULY_WEBHOOKS_ALLOW_LOOPBACK")
    allowed = allow_loopback()
    e.settings.DULY_WEBHOOKS_ALLOW_LOOPBACK = e.load()["DULY_WEBHOOKS_ALLOW_LOOPBACK"]
    return allowed, allow_loopback()


def _stripe(e: Env, name: str, value: str):
    from duly.payments.providers.stripe import StripeProvider

    setattr(e.settings, name, e.setting(name, value, name))
    return StripeProvider()


PG = "postgres://duly:pw@db.example:5433/ledger"
CHECKS = {
    "DATABASE_URL": lambda e, r: (e.setting("DATABASE_URL", PG, "DATABASES")["default"]["NAME"], "ledger"),
    "DULY_HOME": lambda e, r: (e.load(DULY_HOME=str(e.tmp / "h"))["DATABASES"]["default"]["NAME"],
                               str(e.tmp / "h" / "var" / "duly.sqlite3")),
    "DULY_VAR_DIR": lambda e, r: (e.setting("DULY_VAR_DIR", str(e.tmp / "v"), "DATABASES")["default"]["NAME"],
                                  str(e.tmp / "v" / "duly.sqlite3")),
    "DULY_MEDIA_ROOT": lambda e, r: (e.setting("DULY_MEDIA_ROOT", str(e.tmp / "m"), "MEDIA_ROOT"), e.tmp / "m"),
    "DULY_CONN_MAX_AGE": lambda e, r: (e.load(DATABASE_URL=PG, DULY_CONN_MAX_AGE="7")["DATABASES"]["default"][
        "CONN_MAX_AGE"], 7),
    "DULY_SECRET_KEY": lambda e, r: (e.setting("DULY_SECRET_KEY", "k" * 40, "SECRET_KEY"), "k" * 40),
    "DULY_SECRET_KEY_FALLBACKS": lambda e, r: (e.setting("DULY_SECRET_KEY_FALLBACKS", "old-1,old-2",
                                                         "SECRET_KEY_FALLBACKS"), ["old-1", "old-2"]),
    "DULY_DEBUG": lambda e, r: (_debug(e), (True, True)),
    "DULY_ALLOWED_HOSTS": lambda e, r: (e.setting("DULY_ALLOWED_HOSTS", "a.example,b.example", "ALLOWED_HOSTS"),
                                        ["a.example", "b.example"]),
    "DULY_CSRF_TRUSTED_ORIGINS": lambda e, r: (e.setting("DULY_CSRF_TRUSTED_ORIGINS", "https://a.example",
                                                         "CSRF_TRUSTED_ORIGINS"), ["https://a.example"]),
    "DULY_SECURE_SSL_REDIRECT": lambda e, r: (e.setting("DULY_SECURE_SSL_REDIRECT", "1", "SECURE_SSL_REDIRECT"), True),
    "DULY_SECURE_HSTS_SECONDS": lambda e, r: (e.setting("DULY_SECURE_HSTS_SECONDS", "600", "SECURE_HSTS_SECONDS"),
                                              600),
    "DULY_SECURE_HSTS_INCLUDE_SUBDOMAINS": lambda e, r: (e.setting("DULY_SECURE_HSTS_INCLUDE_SUBDOMAINS", "true",
                                                                   "SECURE_HSTS_INCLUDE_SUBDOMAINS"), True),
    "DULY_SECURE_HSTS_PRELOAD": lambda e, r: (e.setting("DULY_SECURE_HSTS_PRELOAD", "1", "SECURE_HSTS_PRELOAD"), True),
    "DULY_SESSION_COOKIE_SECURE": lambda e, r: (e.setting("DULY_SESSION_COOKIE_SECURE", "1",
                                                          "SESSION_COOKIE_SECURE"), True),
    "DULY_CSRF_COOKIE_SECURE": lambda e, r: (e.setting("DULY_CSRF_COOKIE_SECURE", "1", "CSRF_COOKIE_SECURE"), True),
    "DULY_SECURE_PROXY_SSL_HEADER": lambda e, r: (e.setting("DULY_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto",
                                                            "SECURE_PROXY_SSL_HEADER"),
                                                  ("HTTP_X_FORWARDED_PROTO", "https")),
    "DULY_PUBLIC_URL": lambda e, r: (e.setting("DULY_PUBLIC_URL", "https://pay.example", "DULY_PUBLIC_URL"),
                                     "https://pay.example"),
    "DULY_LATE_FEE_MINIMUM": lambda e, r: (str(e.setting("DULY_LATE_FEE_MINIMUM", "2.50", "DULY_LATE_FEE_MINIMUM")),
                                           "2.50"),
    "DULY_ALLOW_LOOPBACK_LINKS": lambda e, r: (_loopback(e), (True, False)),
    "DULY_WEBHOOKS_ALLOW_LOOPBACK": lambda e, r: (_webhook_loopback(e), (True, False)),
    "DULY_ACCOUNT_LINK_DAYS": lambda e, r: (e.setting("DULY_ACCOUNT_LINK_DAYS", "30", "DULY_ACCOUNT_LINK_DAYS"), 30),
    "DULY_VIES_CHECK": lambda e, r: ((e.setting("DULY_VIES_CHECK", "1", "DULY_VIES_CHECK"),
                                      e.load()["DULY_VIES_CHECK"]), (True, False)),
    "DULY_CREDIT_BUREAU_URL": lambda e, r: ((e.setting("DULY_CREDIT_BUREAU_URL", "https://bureau.example/v1/score",
                                                       "DULY_CREDIT_BUREAU_URL"), e.load()["DULY_CREDIT_BUREAU_URL"]),
                                            ("https://bureau.example/v1/score", "")),
    "DULY_CREDIT_BUREAU_TOKEN": lambda e, r: (_bureau_token(e), ("Bearer t0k3n", None)),
    "DULY_EMAIL_BACKEND": lambda e, r: (e.setting("DULY_EMAIL_BACKEND", "anymail.backends.postmark.EmailBackend",
                                                  "EMAIL_BACKEND"), "anymail.backends.postmark.EmailBackend"),
    "DULY_EMAIL_HOST": lambda e, r: (e.setting("DULY_EMAIL_HOST", "smtp.example", "EMAIL_HOST"), "smtp.example"),
    "DULY_EMAIL_PORT": lambda e, r: (e.setting("DULY_EMAIL_PORT", "587", "EMAIL_PORT"), 587),
    "DULY_EMAIL_USER": lambda e, r: (e.setting("DULY_EMAIL_USER", "mailer", "EMAIL_HOST_USER"), "mailer"),
    "DULY_EMAIL_PASSWORD": lambda e, r: (e.setting("DULY_EMAIL_PASSWORD", "pw", "EMAIL_HOST_PASSWORD"), "pw"),
    "DULY_EMAIL_TLS": lambda e, r: (e.setting("DULY_EMAIL_TLS", "1", "EMAIL_USE_TLS"), True),
    "DULY_FROM_EMAIL": lambda e, r: (e.setting("DULY_FROM_EMAIL", "ar@atelier.example", "DEFAULT_FROM_EMAIL"),
                                     "ar@atelier.example"),
    "DULY_MESSAGE_ID_DOMAIN": lambda e, r: (_message_id(e).endswith("@mail.atelier.example>"), True),
    "DULY_ANYMAIL_WEBHOOK_SECRET": lambda e, r: (e.setting("DULY_ANYMAIL_WEBHOOK_SECRET", "hook:pw", "ANYMAIL"),
                                                 {"WEBHOOK_SECRET": "hook:pw"}),
    "DULY_STRIPE_SECRET_KEY": lambda e, r: (_stripe(e, "DULY_STRIPE_SECRET_KEY", "sk_test_env").api_key,
                                            "sk_test_env"),
    "DULY_STRIPE_WEBHOOK_SECRET": lambda e, r: (_stripe(e, "DULY_STRIPE_WEBHOOK_SECRET", "whsec_env").webhook_secret,
                                                "whsec_env"),
    "DULY_STRIPE_API_BASE": lambda e, r: (_stripe(e, "DULY_STRIPE_API_BASE", "http://127.0.0.1:9").api_base,
                                          "http://127.0.0.1:9"),
    "DULY_STRIPE_PUBLISHABLE_KEY": lambda e, r: (e.setting("DULY_STRIPE_PUBLISHABLE_KEY", "pk_test_env",
                                                           "DULY_STRIPE_PUBLISHABLE_KEY"), "pk_test_env"),
    "DULY_STRIPE_JS_URL": lambda e, r: (e.setting("DULY_STRIPE_JS_URL", "http://127.0.0.1:9/v3/",
                                                  "DULY_STRIPE_JS_URL"), "http://127.0.0.1:9/v3/"),
    "DULY_MESSAGE_PDF_ATTACHMENTS": lambda e, r: (_pdf_attachments(e), None),
    "DULY_OUTBOX_JOURNAL_DIR": lambda e, r: (_journal(e, DULY_OUTBOX_JOURNAL_DIR=str(e.tmp / "j")).directory,
                                             e.tmp / "j"),
    "DULY_OUTBOX_JOURNAL_FSYNC": lambda e, r: (_journal(e, DULY_OUTBOX_JOURNAL_FSYNC="0").fsync, False),
    "DULY_OUTBOX_MAX_ATTEMPTS": lambda e, r: (_max_attempts(e), 3),
    "DULY_DOCUMENT_TEMPLATE_DIRS": lambda e, r: (_template_dirs(e), (e.tmp / "one", e.tmp / "two")),
    "DULY_ORG": lambda e, r: (_org(e, r), True),
    "DULY_LANG": lambda e, r: _lang(e),
    # the rate windows then go to this shared cache (tests/api/test_keys.py::test_rate_limit_shared_cache)
    "DULY_CACHE_URL": lambda e, r: (
        (lambda s: (s["DULY_SHARED_CACHE"], s["CACHES"]["default"]["BACKEND"].rsplit(".", 1)[1],
                    s["CACHES"]["default"]["LOCATION"]))(e.load(DULY_CACHE_URL="redis://127.0.0.1:6379/13")),
        (True, "RedisCache", "redis://127.0.0.1:6379/13")),
    "DULY_LOG_LEVEL": lambda e, r: (e.setting("DULY_LOG_LEVEL", "info", "LOGGING")["root"]["level"], "INFO"),
    "CELERY_BROKER_URL": lambda e, r: (e.setting("CELERY_BROKER_URL", "redis://cache:6379/2", "CELERY_BROKER_URL"),
                                       "redis://cache:6379/2"),
    "CELERY_RESULT_BACKEND": lambda e, r: (e.setting("CELERY_RESULT_BACKEND", "redis://cache:6379/3",
                                                     "CELERY_RESULT_BACKEND"), "redis://cache:6379/3"),
    "DULY_PARTITIONS": lambda e, r: (e.setting("DULY_PARTITIONS", "32", "DULY_PARTITIONS"), 32),
    "DULY_CELERY_VISIBILITY_TIMEOUT": lambda e, r: (e.setting("DULY_CELERY_VISIBILITY_TIMEOUT", "7200",
                                                              "DULY_CELERY_VISIBILITY_TIMEOUT"), 7200),
    "DULY_CYCLE_INTERVAL": lambda e, r: (e.setting("DULY_CYCLE_INTERVAL", "60", "DULY_CYCLE_INTERVAL"), 60),
    "CELERY_TASK_ALWAYS_EAGER": lambda e, r: (e.setting("CELERY_TASK_ALWAYS_EAGER", "1", "CELERY_TASK_ALWAYS_EAGER"),
                                              True),
}


def test_the_readme_lists_every_variable_duly_reads_and_no_other():
    listed = documented()
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) == read_by_duly(), "README 'Configuration' and the code disagree"
    assert set(listed) == set(CHECKS), "every documented variable needs a check here"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.django_db) if n == "DULY_ORG" else n
                                  for n in documented()])
def test_each_documented_variable_is_honoured(name, monkeypatch, tmp_path, settings, request):
    got, expected = CHECKS[name](Env(monkeypatch, tmp_path, settings), request)
    assert got == expected
