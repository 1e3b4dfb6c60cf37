"""The secret key every server mode needs, and the demo's own one (see SECURITY.md).

``duly serve``, the WSGI application (``duly.wsgi``) and Celery workers refuse to start, with one
line naming ``DULY_SECRET_KEY``, when it is unset, shorter than :data:`MIN_SECRET_KEY_LENGTH`
characters, or the public default of earlier versions. ``duly demo`` needs no configuration: it
generates a random key once and keeps it in ``<var>/demo-secret-key`` (mode 0600); commands run
in that folder without ``DULY_SECRET_KEY`` use it too, so the links they sign open on the demo.

No Django import at module level: ``settings.py`` reads the demo key through this module.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from duly.domain.errors import InsecureConfiguration

SECRET_KEY_ENV = "DULY_SECRET_KEY"
MIN_SECRET_KEY_LENGTH = 32
#: The key ``settings.py`` fell back to in earlier versions: it is public, so no server accepts it.
OLD_DEFAULT_SECRET_KEY = "duly-insecure-development-key-change-me-in-production"
#: What settings use when no key is configured (tests, one-off commands): public too, refused the same way.
UNSET_SECRET_KEY = "duly-insecure-no-secret-key-configured"
DEMO_KEY_FILE = "demo-secret-key"
GENERATE_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``DULY_SECRET_KEY`` is not fit for a server (one line), or None when it is."""
    key = (os.environ if environ is None else environ).get(SECRET_KEY_ENV, "")
    if not key:
        why = "is not set"
    elif key in (OLD_DEFAULT_SECRET_KEY, UNSET_SECRET_KEY):
        why = "is the public default key"
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        why = f"is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    else:
        return None
    return (f"{SECRET_KEY_ENV} {why}: set it to a random secret of at least {MIN_SECRET_KEY_LENGTH} characters, "
            f"e.g. the output of {GENERATE_HINT} (only `duly demo` runs without one).")


def require_secret_key(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to go on (InsecureConfiguration, one line) unless ``DULY_SECRET_KEY`` is fit for a server."""
    problem = secret_key_problem(environ)
    if problem:
        raise InsecureConfiguration(problem)


def read_demo_secret_key(var_dir: Path) -> str | None:
    """The key ``duly demo`` generated in ``var_dir``, if it did."""
    try:
        key = (Path(var_dir) / DEMO_KEY_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return key if len(key) >= MIN_SECRET_KEY_LENGTH else None


def demo_secret_key(var_dir: Path) -> str:
    """The demo's key: generated once (64 random URL-safe characters) into ``var_dir``, readable by its owner only."""
    existing = read_demo_secret_key(var_dir)
    if existing:
        return existing
    path = Path(var_dir) / DEMO_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return key


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the base of links customers open (unset, not http(s), or a loopback or
    unspecified address such as ``127.0.0.1``, ``localhost`` or ``0.0.0.0``), or None when it can."""
    url = (url or "").strip()
    if not url:
        return "is not set"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return f"is not a URL ({url[:60]!r})"
    if parts.scheme not in ("http", "https") or not host:
        return f"is not an http(s) URL ({url[:60]!r})"
    if host == "localhost" or host.endswith(".localhost"):
        return f"is a loopback address ({url[:60]})"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return f"is a loopback address ({url[:60]})"
    return None
