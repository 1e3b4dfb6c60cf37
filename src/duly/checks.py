"""Duly's own system checks, run by ``duly check`` and ``python -m django check --deploy``."""

from __future__ import annotations

from django.core import checks

from duly.security import secret_key_problem


@checks.register(checks.Tags.security, deploy=True)
def secret_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = secret_key_problem()
    if problem:
        return [checks.Error(problem, hint="See SECURITY.md, 'What to set for production'.", id="duly.E001")]
    return []
