"""The collections services are split by job, and what moved out of collections stays below it."""

from __future__ import annotations

import ast
from pathlib import Path

import duly

SRC = Path(duly.__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    """Every module ``path`` imports, inside functions too (relative imports resolved)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.add(node.module or "")
    return found


def _reaches(path: Path, app: str) -> list[str]:
    return sorted(m for m in _imported(path) if m == f"duly.{app}" or m.startswith(f"duly.{app}."))


def test_invoice_mail_and_addressees_are_messaging_and_never_import_collections():
    for name in ("invoice_mail.py", "addressees.py"):
        assert _reaches(SRC / "messaging" / name, "collections") == [], name


def test_price_notice_decisions_are_billing_and_import_neither_messaging_nor_collections():
    path = SRC / "billing" / "notices.py"
    assert _reaches(path, "messaging") == [] and _reaches(path, "collections") == []


def test_each_collections_service_module_holds_one_job_under_1000_lines():
    modules = sorted((SRC / "collections" / "services").glob("*.py"))
    assert {m.stem for m in modules} >= {"fees", "run", "promises", "disputes", "suspension", "greetings"}
    for module in modules:
        assert len(module.read_text().splitlines()) < 1000, module.name


def test_the_public_names_stay_importable_from_the_package():
    from duly.collections import services

    for name in ("payment_recorded", "assess_late_fees", "collect", "send_issued_invoices", "deliver_price_notices",
                 "send_greetings", "record_promise", "open_dispute", "resolve_dispute", "restore_if_cleared",
                 "customer_window", "ensure_setup", "assign_policy", "complete_task", "message_undeliverable"):
        assert callable(getattr(services, name)), name
