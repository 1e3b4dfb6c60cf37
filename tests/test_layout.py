"""A layout that shows the architecture (issue 12): no source module in src/duly over 1,000 lines.

A module that long holds several ideas; split it by job (see docs/architecture.md). Exempt, and only these:

- migrations (``src/duly/*/migrations/*.py``): generated schema history, never edited by hand;
- pure data tables, listed in :data:`DATA_TABLES` by path with the names of their tables and the reason. Only
  the lines of those module-level assignments are exempt, and only while each is a pure literal (text, numbers,
  dicts, lists, tuples: what ``ast.literal_eval`` accepts): the code around a table still counts, so a
  module cannot grow code behind its data.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "duly"
LIMIT = 1000

#: path (from the repository root) -> (module-level names of pure literal tables, why they are data).
DATA_TABLES: dict[str, tuple[tuple[str, ...], str]] = {}


def _is_migration(path: Path) -> bool:
    return "migrations" in path.relative_to(SRC).parts


def _table_lines(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Lines spanned by each named module-level assignment; AssertionError when one is missing or not a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    spans: dict[str, int] = {}
    for node in tree.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target = node.target.id
        if target in names:
            try:
                ast.literal_eval(node.value)
            except ValueError:
                raise AssertionError(f"{path.relative_to(ROOT)}: {target} is exempt as a data table but is not a "
                                     "pure literal") from None
            spans[target] = node.end_lineno - node.lineno + 1
    missing = set(names) - set(spans)
    assert not missing, f"{path.relative_to(ROOT)}: no module-level table named {sorted(missing)}; update DATA_TABLES"
    return spans


def counted_lines(path: Path) -> int:
    """The module's lines, less those of its exempt data tables."""
    total = len(path.read_text(encoding="utf-8").splitlines())
    rel = path.relative_to(ROOT).as_posix()
    if rel in DATA_TABLES:
        total -= sum(_table_lines(path, DATA_TABLES[rel][0]).values())
    return total


def test_every_data_table_exemption_names_an_existing_module_and_pure_literals():
    for rel, (names, reason) in DATA_TABLES.items():
        path = ROOT / rel
        assert path.is_file(), f"{rel} is exempt but does not exist; remove it from DATA_TABLES"
        assert reason
        _table_lines(path, names)


def test_no_source_module_over_1000_lines():
    too_long = []
    for path in sorted(SRC.rglob("*.py")):
        if _is_migration(path):
            continue
        lines = counted_lines(path)
        if lines > LIMIT:
            too_long.append(f"{path.relative_to(ROOT)}: {lines:,} lines")
    assert not too_long, (f"modules over {LIMIT:,} lines (split them by job, see docs/architecture.md):\n  "
                          + "\n  ".join(too_long))
