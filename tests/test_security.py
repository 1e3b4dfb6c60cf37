"""Secrets where they matter, a clean deploy check in the documented production configuration, passwords, and
a demo that keeps to itself."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import duly.settings
from duly.security import OLD_DEFAULT_SECRET_KEY

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DULY = str(Path(sys.executable).with_name("duly"))
STRONG = secrets.token_urlsafe(50)
SETTINGS_FILE = duly.settings.__file__


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any Duly or database setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DULY_", "DATABASE_URL", "DJANGO_"))}
    return {**env, "DULY_HOME": str(home), "DJANGO_SETTINGS_MODULE": "duly.settings", **extra}


def production_env() -> dict[str, str]:
    """The lines of SECURITY.md's 'What to set for production' block, with a generated secret key."""
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    section = text.split("## What to set for production", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    env = dict(line.split("=", 1) for line in block.splitlines() if line.strip())
    assert env["DULY_SECRET_KEY"].startswith("<"), "the documented key is a placeholder"
    env["DULY_SECRET_KEY"] = STRONG
    return env


# --- the secret key -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, why", [
    (None, "is not set"),
    ("", "is not set"),
    ("only-31-characters-long-xxxxxxx", "is shorter than 32 characters"),
    (OLD_DEFAULT_SECRET_KEY, "is the public default key"),
])
def test_duly_serve_refuses_a_missing_short_or_public_key_in_one_line(db, monkeypatch, key, why):
    import waitress

    from duly.cli import main

    monkeypatch.setattr(waitress, "serve", lambda *a, **kw: pytest.fail("the server started"))
    if key is None:
        monkeypatch.delenv("DULY_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("DULY_SECRET_KEY", key)
    result = CliRunner().invoke(main, ["serve", "--no-scheduler"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: DULY_SECRET_KEY {why}: set it to a random secret of at least 32 ")
    assert len(result.stderr.splitlines()) == 1 and result.stderr.endswith("[insecure_configuration]\n")


def test_duly_serve_starts_with_a_strong_key(db, monkeypatch):
    import waitress

    from duly.cli import main

    started = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: started.append((app, kw)))
    monkeypatch.setenv("DULY_SECRET_KEY", STRONG)
    result = CliRunner().invoke(main, ["serve", "--no-scheduler", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [(app, options)] = started
    assert callable(app) and options["port"] == 8123


def test_the_wsgi_application_and_celery_workers_refuse_a_weak_key(tmp_path):
    refused = subprocess.run([PYTHON, "-c", "import duly.wsgi"], env=clean_env(tmp_path), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: DULY_SECRET_KEY is not set") and len(refused.stderr.splitlines()) == 1
    loaded = subprocess.run([PYTHON, "-c", "import duly.wsgi; print(callable(duly.wsgi.application))"],
                            env=clean_env(tmp_path, DULY_SECRET_KEY=STRONG), capture_output=True, text=True,
                            timeout=120)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "True", loaded.stderr
    worker = subprocess.run([PYTHON, "-c", "from duly.celery import refuse_a_weak_secret_key as r; r()"],
                            env=clean_env(tmp_path, DULY_SECRET_KEY="short"), capture_output=True, text=True,
                            timeout=120)
    assert worker.returncode == 2 and "DULY_SECRET_KEY is shorter than 32 characters" in worker.stderr


@pytest.mark.parametrize("name, value", [
    ("DULY_SECURE_HSTS_SECONDS", "a year"),
    ("DULY_SESSION_COOKIE_SECURE", "maybe"),
    ("DULY_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
    ("DULY_LOG_LEVEL", "LOUD"),
    ("DULY_EMAIL_PORT", "70000"),
])
def test_a_bad_environment_value_is_refused_naming_the_variable(monkeypatch, tmp_path, name, value):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("DULY_HOME", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=f"^{name} must be "):
        runpy.run_path(SETTINGS_FILE)


def test_a_command_started_with_a_bad_value_says_so_in_one_line(tmp_path):
    proc = subprocess.run([DULY, "check"], env=clean_env(tmp_path, DULY_SECURE_HSTS_SECONDS="a year"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "error: DULY_SECURE_HSTS_SECONDS must be a whole number, not 'a year'.\n"


# --- the documented production configuration ----------------------------------------------------------
def test_check_deploy_is_clean_in_the_documented_production_configuration(tmp_path):
    env = clean_env(tmp_path, **production_env())
    django_check = subprocess.run([PYTHON, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
                                  env=env, capture_output=True, text=True, timeout=180)
    assert django_check.returncode == 0, django_check.stdout + django_check.stderr
    assert "System check identified no issues" in django_check.stdout
    duly_check = subprocess.run([DULY, "check"], env=env, capture_output=True, text=True, timeout=180)
    assert duly_check.returncode == 0, duly_check.stdout + duly_check.stderr
    assert "System check identified no issues" in duly_check.stdout


def test_duly_check_lists_what_a_default_configuration_lacks(tmp_path):
    proc = subprocess.run([DULY, "check"], env=clean_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2
    for issue in ("duly.E001", "security.W004", "security.W008", "security.W012", "security.W016"):
        assert issue in proc.stdout, issue
    assert proc.stderr == ("error: the configuration is not ready for a public deployment (see the issues above "
                           "and SECURITY.md).\n")


def test_the_https_switches_reach_django(monkeypatch, tmp_path):
    for name, value in {**production_env(), "DULY_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    s = runpy.run_path(SETTINGS_FILE)
    assert (s["SECURE_SSL_REDIRECT"], s["SECURE_HSTS_SECONDS"], s["SECURE_HSTS_INCLUDE_SUBDOMAINS"],
            s["SECURE_HSTS_PRELOAD"], s["SESSION_COOKIE_SECURE"], s["CSRF_COOKIE_SECURE"],
            s["SECURE_PROXY_SSL_HEADER"]) == (True, 31536000, True, True, True, True,
                                              ("HTTP_X_FORWARDED_PROTO", "https"))


def test_requests_behind_the_proxy_are_redirected_to_https_with_hsts(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = client.get("/admin/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/admin/login/"
    secure = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200 and secure["Strict-Transport-Security"] == "max-age=31536000"


# --- passwords -------------------------------------------------------------------------------------------
def test_argon2_is_the_production_password_hasher():
    """The suite hashes with MD5 for speed (tests/conftest.py); what Duly ships is Argon2id first."""
    import importlib

    from django.contrib.auth.hashers import Argon2PasswordHasher

    shipped = importlib.import_module("duly.settings")
    assert shipped.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    encoded = Argon2PasswordHasher().encode("correct-horse-battery", Argon2PasswordHasher().salt())
    assert encoded.startswith("argon2$argon2id$") and Argon2PasswordHasher().verify("correct-horse-battery", encoded)
    validators = [v["NAME"].rsplit(".", 1)[1] for v in shipped.AUTH_PASSWORD_VALIDATORS]
    assert validators == ["UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                          "NumericPasswordValidator"]


@pytest.mark.parametrize("password, why", [
    ("password", "too short"),
    ("short-pass1", "too short"),  # 11 characters
    ("password1234", "too common"),
    ("948302175563019", "entirely numeric"),
    ("ysolde.marchetti", "too similar to the username"),
])
def test_duly_init_refuses_a_weak_admin_password_and_writes_nothing(db, password, why):
    from django.contrib.auth import get_user_model

    from duly.cli import main
    from duly.customers.models import Organization

    result = CliRunner().invoke(main, ["init", "--no-input", "--org-name", "Rivet", "--country", "DE", "--currency",
                                       "EUR", "--address", "a", "--city", "b", "--admin-user", "ysolde.marchetti",
                                       "--admin-password", password])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: The password for 'ysolde.marchetti' is refused: ") and why in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not Organization.objects.exists() and not get_user_model().objects.exists()


# --- the demo --------------------------------------------------------------------------------------------
def test_the_demo_refuses_a_database_with_another_organization(org, settings, tmp_path, monkeypatch):
    from duly.cli import main
    from duly.customers.models import Organization

    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("DULY_SECRET_KEY", raising=False)
    result = CliRunner().invoke(main, ["demo", "--no-serve"])
    assert result.exit_code == 2
    assert result.stderr == ("error: This database already holds 1 other organization: duly demo only seeds an empty "
                             "database (set DULY_HOME or DATABASE_URL to another one). [demo_database_in_use]\n")
    assert list(Organization.objects.values_list("slug", flat=True)) == [org.slug]
    assert not (tmp_path / "demo-secret-key").exists()  # nothing written


def test_the_demo_never_changes_an_existing_user(db, settings, tmp_path, monkeypatch):
    from django.contrib.auth import get_user_model

    from duly.cli import main
    from duly.customers.models import Organization

    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("DULY_SECRET_KEY", raising=False)
    user = get_user_model().objects.create_user("admin", password="someone-elses-pass")
    result = CliRunner().invoke(main, ["demo", "--no-serve"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: A user named 'admin' already exists: duly demo never changes an existing")
    assert not Organization.objects.exists()
    same = get_user_model().objects.get()
    assert (same.pk, same.password, same.is_staff, same.is_superuser) == (user.pk, user.password, False, False)
