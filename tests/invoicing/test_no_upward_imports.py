"""Invoicing sits below billing and payments, payments below collections (issue 12's layers:
domain <- customers <- invoicing <- billing | payments <- messaging <- collections <- ...).

Issuing, the invoice life cycle and the frozen documents import no app above invoicing, not even inside a
function: they ask through ``duly.invoicing.hooks`` (filled by payments' and billing's ``ready()``). Payments
tells collections about a payment through its ``payment_recorded`` signal. (The whole-repository contracts are
import-linter's; this guards the modules of the issuing and life-cycle work.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import duly

SRC = Path(duly.__file__).resolve().parent
ABOVE_INVOICING = ("billing", "payments", "messaging", "collections", "insights", "portal", "api", "cli")
ABOVE_PAYMENTS = ("messaging", "collections", "insights", "portal", "api", "cli")
GUARDED = {
    "invoicing/services.py": ABOVE_INVOICING,
    "invoicing/bulk.py": ABOVE_INVOICING,
    "invoicing/lifecycle.py": ABOVE_INVOICING,
    "invoicing/hooks.py": ABOVE_INVOICING,
    "invoicing/models.py": ABOVE_INVOICING,
    "invoicing/documents/snapshot.py": ABOVE_INVOICING,
    "invoicing/documents/imports.py": ABOVE_INVOICING,
    "invoicing/documents/store.py": ABOVE_INVOICING,
    "payments/services.py": ABOVE_PAYMENTS,
    "payments/models.py": ABOVE_PAYMENTS,
    "payments/signals.py": ABOVE_PAYMENTS,
    "domain/issuing.py": ABOVE_INVOICING + ("customers", "invoicing", "db"),
    "domain/lifecycle.py": ABOVE_INVOICING + ("customers", "invoicing", "db"),
}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function (relative imports resolved)."""
    package = ".".join(("duly", *path.relative_to(SRC).parent.parts))
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            names.add(module)
    return names


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_no_import_of_a_higher_app(name):
    above = {f"duly.{app}" for app in GUARDED[name]}
    upward = sorted(m for m in imported(SRC / name) if m in above or any(m.startswith(a + ".") for a in above))
    assert upward == [], f"{name} imports {upward}: ask through duly.invoicing.hooks or a signal instead"


def test_the_scan_sees_function_local_and_relative_imports():
    names = imported(SRC / "invoicing" / "documents" / "store.py")
    assert "duly.invoicing.services" in names and "duly.invoicing.pdf" in names
