"""Django settings for Duly.

Embedded default: SQLite at ``./var/duly.sqlite3`` (relative to DULY_HOME, default the current directory).
Production: set ``DATABASE_URL`` (postgres://...). Secrets and hosts come from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
HOME = Path(os.environ.get("DULY_HOME", os.getcwd())).resolve()
VAR_DIR = Path(os.environ.get("DULY_VAR_DIR", HOME / "var"))

SECRET_KEY = os.environ.get("DULY_SECRET_KEY", "duly-insecure-development-key-change-me-in-production")
DEBUG = os.environ.get("DULY_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DULY_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DULY_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "duly.customers",
    "duly.billing",
    "duly.invoicing",
    "duly.payments",
    "duly.collections",
    "duly.messaging",
    "duly.portal",
    "duly.api",
    "duly.insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
        db = dj_database_url.parse(url, conn_max_age=int(os.environ.get("DULY_CONN_MAX_AGE", "60")))
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
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
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
MEDIA_ROOT = Path(os.environ.get("DULY_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Email: SMTP by default (DULY_EMAIL_HOST/PORT); any django-anymail backend via DULY_EMAIL_BACKEND.
EMAIL_BACKEND = os.environ.get("DULY_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("DULY_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("DULY_EMAIL_PORT", "1025"))
EMAIL_HOST_USER = os.environ.get("DULY_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DULY_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("DULY_EMAIL_TLS", "0") == "1"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DULY_FROM_EMAIL", "billing@duly.localhost")
# Provider webhooks (/anymail/<provider>/tracking/) check HTTP basic auth "user:password" against this secret.
ANYMAIL = {"WEBHOOK_SECRET": os.environ["DULY_ANYMAIL_WEBHOOK_SECRET"]} if os.environ.get(
    "DULY_ANYMAIL_WEBHOOK_SECRET") else {}

# Public base URL used in personal pay/view links (stable format: {BASE}/p/{token}).
DULY_PUBLIC_URL = os.environ.get("DULY_PUBLIC_URL", "http://127.0.0.1:8000")

# Celery (scale-out). Embedded default runs tasks in-process via the `duly serve` scheduler.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DULY_LOG_LEVEL", "WARNING")},
}

# Jobs of the in-process scheduler (`duly serve`); each is `fn(now)` calling an idempotent service.
# Late fees are assessed by the dunning step that carries the fee action (inside scheduled_collect);
# `duly fees assess` (or adding duly.collections.tasks.scheduled_late_fees here) is the batch path
# that charges whatever the contracts allow, whatever the customer's dunning policy.
DULY_SCHEDULED_JOBS = [
    "duly.collections.tasks.scheduled_collect",
    "duly.messaging.tasks.scheduled_deliver",
    "duly.billing.tasks.scheduled_billing",
]
