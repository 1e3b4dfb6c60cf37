"""Every gettext catalogue of every app (src/duly/*/locale) is complete, consistent and compiled (issue 15).

One translation catalogue: a customer reading French, German, Russian or Spanish never meets an English word
because a translation is missing, fuzzy, has the wrong number of plural forms or drops a value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from duly.translation import TRANSLATED, catalogue_dirs, stale_catalogues

_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
POS = sorted(p for d in catalogue_dirs() for p in d.glob("*/LC_MESSAGES/*.po"))


def _read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parents[1].name, abort_invalid=True)


def _name(path: Path) -> str:
    return f"{path.parents[3].name}/{path.parents[1].name}"


def test_there_are_catalogues_and_each_app_has_every_language():
    assert POS, "no catalogue found under src/duly/*/locale"
    for folder in catalogue_dirs():
        langs = sorted(p.parents[1].name for p in folder.glob("*/LC_MESSAGES/django.po"))
        assert langs == sorted(TRANSLATED), (folder, langs)


@pytest.mark.parametrize("path", POS, ids=_name)
def test_catalogue_is_fully_translated_with_valid_plural_forms(path):
    catalog = _read(path)
    expected = Catalog(locale=path.parents[1].name)
    assert catalog.num_plurals == expected.num_plurals and catalog.plural_expr == expected.plural_expr, (
        f"{_name(path)}: Plural-Forms header is {catalog.plural_forms!r}, CLDR says {expected.plural_forms!r}")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        where = f"{_name(path)}: {message.id!r}" + (f" [{message.context}]" if message.context else "")
        if message.fuzzy:
            problems.append(f"{where} is fuzzy")
        strings = message.string if message.pluralizable else (message.string,)
        if message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"{where} has {len(strings)} plural forms, not {catalog.num_plurals}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"{where} is not translated")
            continue
        ids = message.id if message.pluralizable else (message.id,)
        wanted = {name for msgid in ids for name in _PLACEHOLDER.findall(msgid)}
        for s in strings:
            got = set(_PLACEHOLDER.findall(s))
            if got - wanted or (not message.pluralizable and got != wanted):
                problems.append(f"{where}: translation {s!r} has placeholders {sorted(got)}, msgid {sorted(wanted)}")
    assert not catalog.obsolete, f"{_name(path)}: obsolete entries {list(catalog.obsolete)}"
    assert not problems, "\n".join(problems)


def test_one_msgid_means_one_thing_across_apps():
    """Django merges the apps' catalogues of a language into one: the same msgid (and context) translated two
    ways in two apps would print one app's words in the other's documents. Give one of them a msgctxt. (A word
    capitalised in one app, at the start of a label, and not in another, mid-sentence, is the same word.)"""
    seen: dict[tuple[str, object, object], tuple[str, object]] = {}
    clashes = []
    for path in POS:
        for message in _read(path):
            if not message.id:
                continue
            key = (path.parents[1].name, message.context, message.id)
            if key in seen and _casefold(seen[key][1]) != _casefold(message.string):
                clashes.append(f"{key}: {seen[key][0]} says {seen[key][1]!r}, {_name(path)} says {message.string!r}")
            seen.setdefault(key, (_name(path), message.string))
    assert not clashes, "\n".join(clashes)


def _casefold(string: object) -> object:
    return tuple(s.casefold() for s in string) if isinstance(string, tuple) else str(string).casefold()


def test_every_catalogue_is_compiled():
    assert not stale_catalogues()  # tests/conftest.py compiles them, as `make messages` does


def _source_msgids() -> set[tuple[str, str | None, str | None]]:
    """(msgid, plural, context) of every ``text("…")``/``Text("…")`` in src/duly with a literal message."""
    import ast

    found = set()
    for path in sorted((Path(__file__).resolve().parents[1] / "src" / "duly").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("text", "Text")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            keywords = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            found.add((node.args[0].value, keywords.get("plural"), keywords.get("context")))
    return found


def test_every_structured_text_of_the_code_is_translated_in_every_language():
    """What the rules core and the billing run say to customers (duly.domain.text.Text) has a translation."""
    # A msgid of placeholders alone is not looked up (join_text) unless it has a context.
    msgids = {m for m in _source_msgids() if m[2] or re.search(r"[^\W\d_]", _PLACEHOLDER.sub("", m[0]))}
    assert len(msgids) > 10
    for lang in TRANSLATED:
        known = {(m.id[0] if m.pluralizable else m.id, m.context): m for path in POS
                 if path.parents[1].name == lang for m in _read(path) if m.id}
        missing = sorted(m[0] for m in msgids if (m[0], m[2]) not in known)
        assert not missing, f"{lang}: no translation for {missing}"


def test_duly_check_warns_about_a_catalogue_not_compiled(monkeypatch):
    from duly import checks, translation

    assert checks.catalogue_check() == []
    po = POS[0]
    monkeypatch.setattr(translation, "stale_catalogues", lambda: [po])
    (warning,) = checks.catalogue_check()
    assert warning.id == "duly.W003" and "make messages" in warning.hint
    assert f"{po.parents[3].name}/{po.parents[1].name}" in warning.msg
