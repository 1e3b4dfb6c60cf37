"""Django settings for Duly.

Embedded default: SQLite at ``./var/duly.sqlite3`` (relative to DULY_HOME, default the current directory).
Production: set ``DATABASE_URL`` (postgres://...). Secrets and hosts come from the environment: every
variable is listed in the README, and SECURITY.md says what a public deployment sets. A bad value is
refused with one line naming the variable (``ImproperlyConfigured``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from duly.env import env_bool, env_int, env_list
from duly.security import UNSET_SECRET_KEY, read_demo_secret_key

PACKAGE_DIR = Path(__file__).resolve().parent
HOME = Path(os.environ.get("DULY_HOME", os.getcwd())).resolve()
VAR_DIR = Path(os.environ.get("DULY_VAR_DIR", HOME / "var"))

# Servers (`duly serve`, duly.wsgi, Celery workers) refuse to start without a strong DULY_SECRET_KEY
# (duly.security); `duly demo` generates its own in VAR_DIR, which commands run beside it use too.
SECRET_KEY = os.environ.get("DULY_SECRET_KEY") or read_demo_secret_key(VAR_DIR) or UNSET_SECRET_KEY
# Older keys still accepted when checking signatures (pay links, sessions) while a new key rolls out.
SECRET_KEY_FALLBACKS = env_list("DULY_SECRET_KEY_FALLBACKS")
DEBUG = env_bool("DULY_DEBUG")
ALLOWED_HOSTS = env_list("DULY_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DULY_CSRF_TRUSTED_ORIGINS")

# HTTPS deployments (see SECURITY.md): with these set, `duly check` (django check --deploy) is clean.
SECURE_SSL_REDIRECT = env_bool("DULY_SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = env_int("DULY_SECURE_HSTS_SECONDS", 0, maximum=2 * 365 * 86400)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DULY_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("DULY_SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = env_bool("DULY_SESSION_COOKIE_SECURE")
CSRF_COOKIE_SECURE = env_bool("DULY_CSRF_COOKIE_SECURE")


def _proxy_ssl_header() -> tuple[str, str] | None:
    """``X-Forwarded-Proto`` → Django's ``("HTTP_X_FORWARDED_PROTO", "https")``: the header the proxy sets."""
    header = os.environ.get("DULY_SECURE_PROXY_SSL_HEADER", "").strip()
    if not header:
        return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", header):
        raise ImproperlyConfigured(f"DULY_SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, "
                                   f"not {header!r}.")
    return f"HTTP_{header.upper().replace('-', '_')}", "https"


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # the API docs page with its vendored Swagger UI (no CDN: it works offline)
    "duly.customers",
    "duly.billing",
    "duly.invoicing",
    "duly.payments",
    "duly.collections",
    "duly.messaging",
    "duly.portal",
    "duly.api",
    "duly.insights",
    "duly.backoffice",  # last: extends the apps' admin pages with what needs the apps above them
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The back office follows the staff user's language (Accept-Language, or Membership.language): a
    # LocaleMiddleware for /admin/ only; the portal and the API choose the customer's language themselves.
    "duly.backoffice.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "duly.urls"
WSGI_APPLICATION = "duly.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        db = dj_database_url.parse(url, conn_max_age=env_int("DULY_CONN_MAX_AGE", 60))
        if db["ENGINE"].endswith("sqlite3"):
            db.setdefault("OPTIONS", {}).update(_SQLITE_OPTIONS)
        return db
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "duly.sqlite3"),
        "OPTIONS": dict(_SQLITE_OPTIONS),
        "TEST": {"NAME": str(VAR_DIR / "test-duly.sqlite3")} if os.environ.get("DULY_TEST_SQLITE_FILE") else {},
    }


# SQLite: WAL for concurrent readers, IMMEDIATE transactions so writers queue instead of failing.
_SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
}

DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id (argon2-cffi) for new passwords; older PBKDF2 hashes still log in and are upgraded then.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch"), ("es", "Español"), ("ru", "Русский")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"


def _media_root() -> Path:
    """The media folder (stored documents, attachments): an absolute path, so that reading a stored file never
    depends on the working directory of the command that reads it."""
    raw = os.environ.get("DULY_MEDIA_ROOT", "").strip()
    if not raw:
        return (VAR_DIR / "media").resolve()
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ImproperlyConfigured(f"DULY_MEDIA_ROOT must be an absolute path (e.g. /srv/duly/media), not {raw!r}.")
    return path


MEDIA_ROOT = _media_root()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Email: SMTP by default (DULY_EMAIL_HOST/PORT); any django-anymail backend via DULY_EMAIL_BACKEND.
EMAIL_BACKEND = os.environ.get("DULY_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("DULY_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("DULY_EMAIL_PORT", 1025, minimum=1, maximum=65535)
EMAIL_HOST_USER = os.environ.get("DULY_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DULY_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DULY_EMAIL_TLS")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DULY_FROM_EMAIL", "billing@duly.localhost")
# Provider webhooks (/anymail/<provider>/tracking/) check HTTP basic auth "user:password" against this secret;
# without it /anymail/ is not mounted at all (duly.urls).
ANYMAIL = {"WEBHOOK_SECRET": os.environ["DULY_ANYMAIL_WEBHOOK_SECRET"]} if os.environ.get(
    "DULY_ANYMAIL_WEBHOOK_SECRET") else {}
# Stripe (duly.payments.providers.stripe): the secret key, the webhook endpoint's signing secret (POST
# /webhooks/stripe/ refuses every event without it), and another API base (a loopback fake in tests).
DULY_STRIPE_SECRET_KEY = os.environ.get("DULY_STRIPE_SECRET_KEY", "")
DULY_STRIPE_WEBHOOK_SECRET = os.environ.get("DULY_STRIPE_WEBHOOK_SECRET", "")
DULY_STRIPE_API_BASE = os.environ.get("DULY_STRIPE_API_BASE", "")
# The publishable key and the Stripe.js the pay-now page loads for Stripe's payment element (duly.portal); the
# tests point the script at the loopback fake's stand-in. Without both keys the page offers no card payment.
DULY_STRIPE_PUBLISHABLE_KEY = os.environ.get("DULY_STRIPE_PUBLISHABLE_KEY", "")
DULY_STRIPE_JS_URL = os.environ.get("DULY_STRIPE_JS_URL", "https://js.stripe.com/v3/")
# The SDK's own retries of a failed request (each with the same idempotency key).
DULY_STRIPE_MAX_NETWORK_RETRIES = 2
# The domain of Message-ID headers (default: the domain of DULY_FROM_EMAIL).
DULY_MESSAGE_ID_DOMAIN = os.environ.get("DULY_MESSAGE_ID_DOMAIN", "")
# The outbox worker's delivery journal (duly.messaging.delivery), fsynced on each accepted message.
DULY_OUTBOX_JOURNAL_DIR = os.environ.get("DULY_OUTBOX_JOURNAL_DIR") or str(VAR_DIR / "outbox-journal")
DULY_OUTBOX_JOURNAL_FSYNC = env_bool("DULY_OUTBOX_JOURNAL_FSYNC", True)
# Attempts at building or sending a message before it is marked failed.
DULY_OUTBOX_MAX_ATTEMPTS = env_int("DULY_OUTBOX_MAX_ATTEMPTS", 8, minimum=1, maximum=100)
# Attach each invoice's PDF to the e-mails that concern it.
DULY_MESSAGE_PDF_ATTACHMENTS = env_bool("DULY_MESSAGE_PDF_ATTACHMENTS", True)
# Folders searched for document template overrides before the shipped ones (duly.invoicing.pdf).
DULY_DOCUMENT_TEMPLATE_DIRS = env_list("DULY_DOCUMENT_TEMPLATE_DIRS", separator=os.pathsep)

# Public base URL used in personal pay/view links (stable format: {BASE}/p/{token}).
DULY_PUBLIC_URL = os.environ.get("DULY_PUBLIC_URL", "http://127.0.0.1:8000")
# Issuing refuses to freeze links to an unset or loopback DULY_PUBLIC_URL into documents, except where loopback
# links are explicitly allowed: `duly demo` sets this for itself, the test suite for its own processes.
DULY_ALLOW_LOOPBACK_LINKS = env_bool("DULY_ALLOW_LOOPBACK_LINKS")
# Outgoing webhook endpoints must be public https:// URLs; this also allows http:// and https:// URLs of this
# machine (loopback): for the test suite and the demo only, never in production.
DULY_WEBHOOKS_ALLOW_LOOPBACK = env_bool("DULY_WEBHOOKS_ALLOW_LOOPBACK")
# Days the account pay link in a message keeps working (invoice links: while open and 120 days after).
DULY_ACCOUNT_LINK_DAYS = env_int("DULY_ACCOUNT_LINK_DAYS", 180, minimum=1, maximum=36600)
# A new customer's VAT number checked with the EU VIES service (an HTTP call to the European Commission): off
# unless turned on; without it only the number's format and check digits are checked (python-stdnum).
DULY_VIES_CHECK = env_bool("DULY_VIES_CHECK")
DULY_VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number"
# A credit bureau asked about a new customer (duly.insights.risk_bureau documents the JSON it must speak): off
# while the URL is empty; the token, if any, is sent as "Authorization: Bearer <token>".
DULY_CREDIT_BUREAU_URL = os.environ.get("DULY_CREDIT_BUREAU_URL", "")
DULY_CREDIT_BUREAU_TOKEN = os.environ.get("DULY_CREDIT_BUREAU_TOKEN", "")



def _late_fee_minimum():
    """``DULY_LATE_FEE_MINIMUM``: late charges under this total, in the invoice's currency, are not invoiced alone."""
    from decimal import Decimal, InvalidOperation

    raw = os.environ.get("DULY_LATE_FEE_MINIMUM", "").strip()
    if not raw:
        return Decimal("5.00")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not 0 <= value <= 1_000_000:
        raise ImproperlyConfigured(f"DULY_LATE_FEE_MINIMUM must be an amount from 0 to 1000000 such as 5.00, "
                                   f"not {raw!r}.")
    return value


# Late charges under this total (default 5.00 in the invoice's currency) are not invoiced alone: they are carried
# until the customer's further charges bring them to it (duly.collections.services.fees).
DULY_LATE_FEE_MINIMUM = _late_fee_minimum()

# Cache: DULY_CACHE_URL (redis://host:port/db) shares one cache between every process, and the API's rate windows
# are then counted in it (atomic increments, no database write per request). Without it: a local-memory cache,
# and the rate windows stay in the database (correct across processes).
DULY_CACHE_URL = os.environ.get("DULY_CACHE_URL", "").strip()
DULY_SHARED_CACHE = bool(DULY_CACHE_URL)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DULY_CACHE_URL,
                      "KEY_PREFIX": "duly"} if DULY_SHARED_CACHE else
          {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery (scale-out, docs/scale-out.md). Without CELERY_BROKER_URL, `duly serve` runs the periodic jobs in-process;
# with it, Celery beat does (`duly beat`) and `duly worker` processes run them. Results (the partitions' counts that
# a chord combines) go to CELERY_RESULT_BACKEND, by default the broker's Redis.
DULY_BROKER_CONFIGURED = bool(os.environ.get("CELERY_BROKER_URL", "").strip())
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip() or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "").strip() or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None)
# Partitions per run (duly.scaleout), seconds before Redis hands a vanished worker's task to another worker, and
# seconds between two cycles of the periodic jobs started by Celery beat.
DULY_PARTITIONS = env_int("DULY_PARTITIONS", 8, minimum=1, maximum=4096)
DULY_CELERY_VISIBILITY_TIMEOUT = env_int("DULY_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1, maximum=7 * 24 * 3600)
DULY_CYCLE_INTERVAL = env_int("DULY_CYCLE_INTERVAL", 300, minimum=1, maximum=24 * 3600)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")

_LOG_LEVEL = os.environ.get("DULY_LOG_LEVEL", "WARNING").strip().upper()
if _LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"DULY_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {_LOG_LEVEL!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
}

# Jobs of the in-process scheduler (`duly serve`); each is `fn(now)` calling an idempotent service.
# Late fees are assessed by the dunning step that carries the fee action (inside scheduled_collect);
# `duly fees assess` (or adding duly.collections.tasks.scheduled_late_fees here) is the batch path
# that charges whatever the contracts allow, whatever the customer's dunning policy.
DULY_SCHEDULED_JOBS = [
    "duly.payments.tasks.scheduled_autopay",  # before the dunning run: what autopay collects today is not chased
    "duly.collections.tasks.scheduled_collect",
    "duly.messaging.tasks.scheduled_deliver",
    "duly.billing.tasks.scheduled_billing",
    "duly.api.tasks.scheduled_purge",  # idempotency records past 24 h, ended rate windows
    "duly.api.tasks.scheduled_overdue_events",  # invoice.overdue webhook events, once per invoice
    "duly.api.tasks.scheduled_webhooks",  # outgoing webhook deliveries due now
    "duly.insights.tasks.scheduled_risk",  # late-payment models: retrain and rescore once a day per organization
]
