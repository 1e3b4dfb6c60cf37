"""Writers behind services (docs/conventions.md, docs/architecture.md): only a service module writes to the database.

A *service module* is one of:

- an app's ``services.py``;
- any module inside a ``services/`` package (``duly/collections/services/fees.py``);
- a module whose name ends in ``_services.py`` (``duly/billing/usage_services.py``,
  ``duly/messaging/outbox_services.py``): the name says it is a service, for an app whose ``services.py``
  already exists and whose writes of one kind deserve their own module;
- the modules named in :data:`NAMED_SERVICES`, each with its reason (a writer whose name issue 12 fixes).

Every other module of ``src/duly`` reads and decides, and calls a service to write. This test scans their
syntax trees for ORM writes: ``.save()``, ``.delete()`` and ``.create(...)`` (keyword arguments only: a model
instance's and a manager's signatures; ``storage.save(name, content)`` or ``cache.delete(key)`` take
positional ones), ``bulk_create``, ``bulk_update``, ``get_or_create``, ``update_or_create``, and ``.update(...)``
on a queryset (a chain through ``.objects``/a queryset method, or a name bound to one in the same function;
``dict.update`` is not a write).

Not scanned, with the reason:

- migrations: generated schema history, run by ``migrate``; a data migration writes through the historical
  models (``apps.get_model``), which no service can do;
- :data:`INFRASTRUCTURE`: generic database helpers with no business rule of their own, called by services with
  the rows to write (the ORM fast path of issue 12, ``duly/db/``).

Admin modules are scanned like any other: an admin action or form saves through a service (conventions:
``self.run_service(request, fn, ...)``), so the rule (validation, tenancy, the transaction) lives in one place.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "duly"

#: Folders (from the repository root) of generic database helpers: they write what a service hands them.
INFRASTRUCTURE = ("src/duly/db/",)
#: Service modules by name (path from the repository root -> why), beside the naming rule above.
NAMED_SERVICES = {
    "src/duly/invoicing/lifecycle.py": "the invoice lifecycle: the one writer of Invoice.status, the settled "
                                       "amounts and document_snapshot (issue 12, item 3), called by the services",
}

ALWAYS = {"bulk_create", "bulk_update", "get_or_create", "update_or_create"}
KEYWORDS_ONLY = {"save", "delete", "create"}
#: Manager attributes and queryset methods: a chain through one of them is a queryset (or a manager).
QUERYSET = {
    "objects", "_base_manager", "_default_manager", "all", "filter", "exclude", "select_for_update",
    "select_related", "prefetch_related", "order_by", "only", "defer", "using", "distinct", "annotate", "alias",
    "none", "complex_filter", "extra", "reverse", "union",
}


def is_service_module(path: Path) -> bool:
    rel = path.relative_to(SRC)
    return (path.name == "services.py" or "services" in rel.parts[:-1] or path.stem.endswith("_services")
            or path.relative_to(ROOT).as_posix() in NAMED_SERVICES)


def _exempt(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return "migrations" in path.relative_to(SRC).parts or rel.startswith(INFRASTRUCTURE)


def _chain_is_queryset(node: ast.AST) -> bool:
    """``Model.objects.filter(...)``-like: an attribute chain (through calls) naming a manager or queryset method."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in QUERYSET:
                return True
            node = node.value
        elif isinstance(node, ast.Subscript):  # qs[:10]
            node = node.value
        else:
            return False


class _Scanner(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.querysets: list[set[str]] = [set()]

    def _scope(self, node) -> None:
        self.querysets.append(set())
        self.generic_visit(node)
        self.querysets.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _scope

    def visit_Assign(self, node: ast.Assign) -> None:
        if _chain_is_queryset(node.value):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.querysets[-1].add(target.id)
        self.generic_visit(node)

    def _queryset_receiver(self, receiver: ast.AST) -> bool:
        if _chain_is_queryset(receiver):
            return True
        return isinstance(receiver, ast.Name) and any(receiver.id in scope for scope in self.querysets)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            name, receiver = node.func.attr, node.func.value
            if name in ALWAYS:
                self.found.append((node.lineno, name))
            elif name in KEYWORDS_ONLY and not node.args:
                if name != "create" or node.keywords:
                    self.found.append((node.lineno, name))
            elif name == "update" and self._queryset_receiver(receiver):
                self.found.append((node.lineno, name))
        self.generic_visit(node)


def writes_in(path: Path) -> list[tuple[int, str]]:
    scanner = _Scanner()
    scanner.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return scanner.found


def test_the_scanner_finds_orm_writes_and_ignores_other_saves_and_updates(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(invoice, storage, cache, data):\n"
        "    invoice.save(update_fields=['status'])\n"            # 2: a model instance
        "    Invoice.objects.filter(pk=1).update(status='paid')\n"  # 3: a queryset
        "    qs = Message.objects.filter(status='queued')\n"
        "    qs.update(status='sending')\n"                         # 5: a name bound to a queryset
        "    Reminder.objects.create(step='first')\n"               # 6
        "    Line.objects.bulk_create([])\n"                        # 7
        "    invoice.lines.all().delete()\n"                        # 8
        "    storage.save('a.pdf', b'')\n"                          # file storage: not the ORM
        "    cache.delete('key')\n"
        "    data.update({'a': 1})\n"                               # dict.update
        "    totals = {}\n"
        "    totals.update(a=1)\n"
    )
    assert writes_in(sample) == [(2, "save"), (3, "update"), (5, "update"), (6, "create"), (7, "bulk_create"),
                                 (8, "delete")]


def test_only_service_modules_write():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if is_service_module(path) or _exempt(path):
            continue
        found = writes_in(path)
        if found:
            where = ", ".join(f"{name} (line {line})" for line, name in found[:6])
            more = f" and {len(found) - 6} more" if len(found) > 6 else ""
            offenders.append(f"{path.relative_to(ROOT)}: {where}{more}")
    assert not offenders, ("ORM writes outside a service module (move them behind a service: services.py, "
                           "a services/ package or a *_services.py module):\n  " + "\n  ".join(offenders))
