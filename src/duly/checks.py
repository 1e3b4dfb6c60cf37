"""Duly's own system checks, run by ``duly check`` and ``python -m django check --deploy``."""

from __future__ import annotations

from django.core import checks

from duly.security import public_url_problem, secret_key_problem


@checks.register(checks.Tags.security, deploy=True)
def secret_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = secret_key_problem()
    if problem:
        return [checks.Error(problem, hint="See SECURITY.md, 'What to set for production'.", id="duly.E001")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def public_url_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Issuing refuses to freeze pay links to an unset or loopback DULY_PUBLIC_URL into documents."""
    from django.conf import settings

    if getattr(settings, "DULY_ALLOW_LOOPBACK_LINKS", False):
        return []
    problem = public_url_problem(settings.DULY_PUBLIC_URL)
    if problem:
        return [checks.Error(f"DULY_PUBLIC_URL {problem}: invoices cannot be issued until it is the public address "
                             "of this server.", hint="See SECURITY.md, 'What to set for production'.", id="duly.E002")]
    return []


@checks.register()
def catalogue_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A translation catalogue not compiled (or older than its .po) prints English on translated documents."""
    from duly.translation import stale_catalogues

    stale = stale_catalogues()
    if stale:
        names = ", ".join(f"{p.parents[3].name}/{p.parents[1].name}" for p in stale)
        return [checks.Warning(f"Translation catalogues not compiled: {names}: documents and messages in those "
                               "languages print English.", hint="Run `make messages`.", id="duly.W003")]
    return []
