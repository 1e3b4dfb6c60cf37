"""One writer of an invoice's state: only ``duly.invoicing.lifecycle`` assigns ``Invoice.status``, the settled
amounts (``paid_minor``, ``paid_on``) and ``document_snapshot`` (issue 12, "One invoice lifecycle").

The scan reads every module of ``src/duly`` (migrations aside, and the pure ``domain``, which only computes the
values: :mod:`duly.domain.issuing` plans them, :mod:`duly.domain.lifecycle` says what a change leads to) and finds, outside the lifecycle module:

- an assignment (plain, augmented or through a subscript) to ``<anything>.paid_minor``, ``.paid_on``,
  ``.document_snapshot`` or ``.document_snapshot[...]``, or to ``<invoice>.status``;
- a call passing ``document_snapshot=``, ``paid_minor=`` or ``paid_on=``, or ``status=Invoice.<state>``, to a
  ``create``/``update``/``update_or_create``/``get_or_create`` or to ``Invoice(...)``;
- a dict display setting the ``"status"``, ``"paid_minor"``, ``"paid_on"`` or ``"document_snapshot"`` key of a row;
- a field list (``update_fields=``, ``bulk_update``) naming one of those fields.

``status`` is a common name (messages, subscriptions, disputes have one): an attribute assignment counts when
the target is an invoice (a name mentioning ``inv``/``note``/``original``) or the value is ``Invoice.<state>``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import duly

SRC = Path(duly.__file__).resolve().parent
WRITER = SRC / "invoicing" / "lifecycle.py"
FIELDS = {"paid_minor", "paid_on", "document_snapshot"}
INVOICE_STATES = {"DRAFT", "ISSUED", "PARTIALLY_PAID", "PAID", "VOID", "UNCOLLECTIBLE"}
WRITE_CALLS = {"create", "update", "update_or_create", "get_or_create", "Invoice", "bulk_create"}


def _is_invoice_state(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in INVOICE_STATES and isinstance(node.value, ast.Name)
            and node.value.id == "Invoice")


def _invoice_like(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return any(word in text for word in ("inv", "note", "original"))


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def _flatten(target: ast.AST) -> list[ast.AST]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for elt in target.elts for t in _flatten(elt)]
    return [target]


def _field_names(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return {elt.value for elt in node.elts if isinstance(elt, ast.Constant) and isinstance(elt.value, str)}
    return set()


def writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        value = getattr(node, "value", None)
        for target in (t for raw in _targets(node) for t in _flatten(raw)):
            if isinstance(target, ast.Subscript):
                target = target.value
            if not isinstance(target, ast.Attribute):
                continue
            if target.attr in FIELDS:
                found.append((node.lineno, ast.unparse(target)))
            elif target.attr == "status" and (_invoice_like(target.value)
                                              or (value is not None and _is_invoice_state(value))):
                found.append((node.lineno, ast.unparse(target)))
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            for kw in node.keywords:
                if name in WRITE_CALLS and kw.arg in FIELDS:
                    found.append((node.lineno, f"{name}({kw.arg}=...)"))
                elif name in WRITE_CALLS and kw.arg == "status" and _is_invoice_state(kw.value):
                    found.append((node.lineno, f"{name}(status={ast.unparse(kw.value)})"))
                elif kw.arg == "update_fields" and _field_names(kw.value) & (FIELDS | {"status"}) and (
                        _invoice_like(func)):
                    found.append((node.lineno, f"update_fields={ast.unparse(kw.value)}"))
            if name == "bulk_update" and len(node.args) > 1 and _field_names(node.args[1]) & FIELDS:
                found.append((node.lineno, f"bulk_update({ast.unparse(node.args[1])})"))
        if isinstance(node, ast.Dict):
            for key, val in zip(node.keys, node.values):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    continue
                if key.value in FIELDS and not _reads_snapshot_json(node):
                    found.append((node.lineno, f"{{{key.value!r}: ...}}"))
                elif key.value == "status" and _is_invoice_state(val):
                    found.append((node.lineno, f"{{'status': {ast.unparse(val)}}}"))
    return found


def _reads_snapshot_json(node: ast.Dict) -> bool:
    """A document snapshot's own JSON has a ``paid_minor`` key (what was settled at issue): not a column."""
    keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return "v" in keys or "seller" in keys


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts or path == WRITER or "domain" in path.relative_to(SRC).parts:
            continue  # the pure domain writes nothing: it plans the values the writer writes
        yield path


def test_only_the_lifecycle_module_writes_an_invoices_state():
    offenders = []
    for path in _modules():
        for line, what in writes(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(SRC.parent)}:{line}: {what}")
    assert offenders == [], "write these through duly.invoicing.lifecycle:\n" + "\n".join(offenders)


def test_the_scan_sees_each_kind_of_write():
    """The scan is not vacuous: each kind of write it looks for is found in a sample."""
    sample = '''
invoice.status = Invoice.PAID
note.paid_minor += 5
inv.document_snapshot["retainer"] = entry
x.paid_on, y = on, 1
msg.status = Message.SENT
Invoice.objects.filter(pk=1).update(document_snapshot={})
Invoice.objects.filter(pk=1).update(status=Invoice.VOID)
invoice.save(update_fields=["paid_minor", "status"])
Invoice.objects.bulk_update(changed, ["document_snapshot"])
values = {"status": Invoice.ISSUED, "paid_minor": 0}
snapshot = {"v": 1, "seller": {}, "paid_minor": 0}
'''
    found = [line for line, _ in writes(ast.parse(sample))]
    assert found.count(2) == 1 and found.count(3) == 1 and found.count(4) == 1 and found.count(5) == 1
    assert 6 not in found and 12 not in found
    assert {7, 8, 9, 10} <= set(found) and found.count(11) == 2
    # The writer itself is scanned the same way, and writes each field.
    written = {what.rsplit(".", 1)[-1].split("[")[0] for _, what in writes(ast.parse(WRITER.read_text()))}
    assert {"status", "paid_minor", "paid_on", "document_snapshot"} <= written
