"""The layers of docs/conventions.md hold: ``lint-imports`` keeps every contract of pyproject.toml's
``[tool.importlinter]`` (a lower layer imports no higher one, not even inside a function; the rules core
imports no framework; sibling apps and the interfaces are independent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} is missing: install the test extras (pip install -e '.[test]')"
    result = subprocess.run(
        [str(lint_imports), "--no-logo", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"an import contract is broken:\n{result.stdout}\n{result.stderr}"


def test_what_lower_layers_ask_of_higher_ones_is_answered_once_the_apps_are_ready():
    """Hooks filled in AppConfig.ready(): invoicing's hooks, messaging's attachment renderers."""
    from duly.invoicing import hooks
    from duly.messaging.attachments import RENDERERS

    unanswered = [h.name for h in vars(hooks).values() if isinstance(h, hooks.Hook) and not h.provided]
    assert unanswered == []
    assert set(RENDERERS) == {"invoice_pdf", "receipt_pdf", "statement_pdf", "letter_pdf"}
