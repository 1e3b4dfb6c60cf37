"""The command line starts fast because it imports only what the command needs (issue 18, documents).

What a fresh ``duly`` process imported is read from ``sys.modules`` when it exits. ``duly --help`` needs click and the command
modules, nothing of Django nor of the renderers; a command working on invoices (``duly invoices export``) sets
Django up without the admin site's registrations (every app's admin module, and scikit-learn through the risk
pages) and without the renderers (a stored document is read back, not rendered). Timings are printed by
``bench/render.py``; here only what is imported is asserted (the machine's load decides the wall time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DULY = str(Path(sys.executable).with_name("duly"))
#: Modules ``duly --help`` must not import: each costs tens to hundreds of milliseconds.
HEAVY = ("django", "weasyprint", "lxml", "babel", "celery", "ninja", "pydantic", "sklearn", "numpy", "stripe",
         "jinja2", "schwifty")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DULY_", "DATABASE_URL", "DJANGO_"))}
    return {**env, "DULY_HOME": str(home), "DJANGO_SETTINGS_MODULE": "duly.settings", **extra}


#: Runs the command line as the ``duly`` script does; at exit, writes the names of every imported module.
RUN = """import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "duly"
from duly.cli import main
main()
"""


def imported(args: list[str], home: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``duly args`` in a fresh process: the process and the names of the modules it imported
    (``sys.modules`` at exit: ``-X importtime`` misses what ``importlib.import_module`` loads)."""
    out = home / "modules.json"
    proc = subprocess.run([sys.executable, "-c", RUN, str(out), *args], env=clean_env(home),
                          capture_output=True, text=True, timeout=120)
    return proc, set(json.loads(out.read_text()))


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_help_imports_neither_django_nor_the_renderers(tmp_path):
    proc, names = imported(["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "invoices" in proc.stdout and "Usage: duly" in proc.stdout
    assert "click" in names and "duly.cli.invoicing" in names  # the measurement works
    assert sorted(top_level(names) & set(HEAVY)) == []


def test_a_subcommand_help_imports_no_more(tmp_path):
    proc, names = imported(["invoices", "export", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--format" in proc.stdout
    assert sorted(top_level(names) & set(HEAVY)) == []


def test_invoice_commands_set_django_up_without_the_admin_site_or_the_renderers(tmp_path):
    # An empty database: the command stops at its first query, after Django's whole set-up.
    proc, names = imported(["invoices", "export", "INV-1", "-o", str(tmp_path / "out.pdf")], tmp_path)
    assert proc.returncode == 1 and "duly init" in proc.stderr.splitlines()[-1], proc.stderr[-2000:]
    assert "django" in names and "duly.invoicing.models" in names  # Django was set up
    admin_modules = sorted(n for n in names if n.startswith("duly.") and n.split(".")[-1].startswith("admin"))
    assert admin_modules == []
    assert sorted(top_level(names) & {"weasyprint", "lxml", "sklearn", "celery"}) == []


def test_commands_that_serve_pages_still_load_the_admin_site(tmp_path):
    proc, names = imported(["roles"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "duly.invoicing.admin" in names
