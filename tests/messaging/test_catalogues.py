"""One translation catalogue for messages and the portal: the gettext catalogues of messaging, collections and
portal are complete, and every message kind reads right in all five languages.

English is the source (the message ids); a message in French, German, Russian or Spanish must carry no English
sentence: neither a message id of the catalogues nor a sentence of the English templates (names and numbers
excepted, which the checks leave out by comparing only words the English sources spell)."""

from __future__ import annotations

import html as html_lib
import io
import re
from datetime import date
from functools import cache
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract, extract_from_dir
from babel.messages.pofile import read_po
from django.utils.translation.template import templatize

from duly.collections.messages import NEXT_STEP_WORDS, _next_step_words
from duly.domain.late_fees import LateFeePolicy
from duly.messaging.context import salutation, within_days
from duly.messaging.declines import decline_text, method_word
from duly.messaging.formatting import LANGUAGES, Formatter, late_fee_terms
from duly.messaging.labels import labels, method_name
from duly.messaging.rendering import TEMPLATE_DIR, TEMPLATE_KINDS, sample_context, shipped_renderer

SRC = Path(__file__).resolve().parents[2] / "src" / "duly"
APPS = ("messaging", "collections", "portal")
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")
KEYWORDS = {"_": None, "gettext": None, "gettext_lazy": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "pgettext_lazy": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}
LOCALES = {"en": "en_GB", "fr": "fr_FR", "de": "de_DE", "ru": "ru_RU", "es": "es_ES"}


def _catalogue(app: str, lang: str):
    with (SRC / app / "locale" / lang / "LC_MESSAGES" / "django.po").open("rb") as f:
        return read_po(f, locale=lang)


def _template_messages(app: str):
    """(context, message) of every ``{% translate %}`` / ``{% blocktranslate %}`` in the app's Django templates, read
    the way Django's ``makemessages`` reads them (``templatize`` turns a template into gettext calls)."""
    for path in sorted((SRC / app).glob("templates/**/*.html")):
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        for _line, message, _comments, context in extract("python", io.BytesIO(code.encode("utf-8")),
                                                          keywords=KEYWORDS):
            yield context, message


@cache  # the sources do not change during a run; each test of the module reads them
def _source_ids(app: str) -> set[tuple[str | None, str]]:
    """(context, singular id) of every translatable string the app's code and templates spell."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            SRC / app, method_map=[("**.py", "python")], keywords=KEYWORDS):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    for context, message in _template_messages(app):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


@cache  # the sources do not change during a run; each test of the module reads them
def _domain_literals() -> set[str]:
    """Every string the rules core spells: sentences it hands to ``text()`` as data (a statutory regime's fixed-sum
    title, a reference rate's name) are asked for too, though no ``text("…")`` call spells them."""
    import ast

    return {node.value for path in sorted((SRC / "domain").rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


@cache  # the sources do not change during a run; each test of the module reads them
def _structured_ids() -> set[tuple[str | None, str]]:
    """(context, msgid) of every ``text("…")``/``Text("…")`` in src/duly: the rules core's sentences are asked for
    by whichever app renders them (collections renders the late-fee explanations of ``duly.domain.late_fees``), so
    an app's catalogue may hold them; tests/test_catalogues.py checks each is translated somewhere."""
    import ast

    found = set()
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("text", "Text")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                context = next((k.value.value for k in node.keywords
                                if k.arg == "context" and isinstance(k.value, ast.Constant)), None)
                found.add((context, node.args[0].value))
    return found


def _placeholders(text: str) -> set[str]:
    return {brace or percent for brace, percent in re.findall(r"{(\w+)}|%\((\w+)\)[sd]", text)}


def test_the_source_reading_sees_the_templates():
    """A string only a template spells is asked for too (the self-service pages' words are all in templates)."""
    templates = {context_id for context_id in (
        (context, message[0] if isinstance(message, tuple) else message)
        for context, message in _template_messages("portal"))}
    assert ("portal", "Download the statement (PDF)") in templates
    assert ("portal", "Page %(number)s of %(total)s") in templates
    assert templates <= _source_ids("portal")


# --- the catalogues ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("app", APPS)
def test_each_catalogue_holds_exactly_what_the_code_asks_for_fully_translated(app):
    wanted = _source_ids(app)
    assert wanted, f"{app} asks for no translation"
    for lang in TRANSLATED:
        catalogue = _catalogue(app, lang)
        present = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalogue if m.id}
        assert wanted - present == set(), f"{app}/{lang}: missing translations"
        stale = {(c, m) for c, m in present - wanted - _structured_ids() if m not in _domain_literals()}
        assert stale == set(), f"{app}/{lang}: translations the code no longer asks for"
        for message in catalogue:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert not message.fuzzy, (app, lang, message.id)
            assert all(s.strip() for s in strings), f"{app}/{lang}: untranslated {message.id!r}"
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            for s in strings:  # a translation keeps every placeholder its English source has
                assert _placeholders(s) == _placeholders(ids[-1]), (app, lang, message.id, s)


@pytest.mark.parametrize("app", APPS)
def test_plural_forms_are_right_for_each_language(app):
    for lang, forms in (("fr", 2), ("de", 2), ("es", 2), ("ru", 3)):
        catalogue = _catalogue(app, lang)
        assert catalogue.num_plurals == forms, (app, lang)
        for message in catalogue:
            if isinstance(message.id, tuple):
                assert len(message.string) == forms, (app, lang, message.id)


def test_plurals_read_right():
    assert [within_days("fr", n) for n in (1, 2)] == ["sous 1 jour", "sous 2 jours"]
    assert [within_days("de", n) for n in (1, 14)] == ["innerhalb von 1 Tag", "innerhalb von 14 Tagen"]
    assert [within_days("ru", n) for n in (1, 3, 5, 21)] == [
        "в течение 1 дня", "в течение 3 дней", "в течение 5 дней", "в течение 21 дня"]
    assert [within_days("es", n) for n in (1, 30)] == ["en un plazo de 1 día", "en un plazo de 30 días"]
    assert [within_days("en", n) for n in (1, 2)] == ["within 1 day", "within 2 days"]
    fmt = Formatter.for_locale("fr_FR")
    one = late_fee_terms(LateFeePolicy(kind="fixed_fee", fixed_fee=Decimal("40"), grace_days=1), "EUR", fmt)
    assert "au-delà de 1 jour de retard" in one
    ru = late_fee_terms(LateFeePolicy(kind="fixed_fee", fixed_fee=Decimal("40"), grace_days=2), "EUR",
                        Formatter.for_locale("ru_RU"))
    assert "более 2 дней" in ru


# --- greetings ------------------------------------------------------------------------------------------------
GREETINGS = {
    "en": ("Dear Julien Moreau,", "Dear Sir or Madam,"),
    "fr": ("Bonjour Julien Moreau,", "Madame, Monsieur,"),
    "de": ("Guten Tag Julien Moreau,", "Sehr geehrte Damen und Herren,"),
    "ru": ("Здравствуйте, Julien Moreau!", "Уважаемые господа!"),
    "es": ("Estimado/a Julien Moreau:", "Estimados señores:"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_message_greets_the_contact_by_name_or_formally_never_both(lang):
    named, unknown = GREETINGS[lang]
    assert salutation(lang, "Julien Moreau") == named
    assert salutation(lang, "") == unknown and salutation(lang, "  ") == unknown
    assert "Monsieur Julien" not in salutation(lang, "Julien Moreau")
    # and the shipped templates open with it
    for name in ("reminder_neutral", "thank_you"):
        ctx = _context(TEMPLATE_KINDS[name], lang)
        rendered = shipped_renderer().render(name, lang, ctx)
        assert rendered.text.startswith(named), rendered.text[:80]
        ctx["contact"] = dict(ctx["contact"], name="", salutation=salutation(lang, ""))
        rendered = shipped_renderer().render(name, lang, ctx)
        assert rendered.text.startswith(unknown) and f"<p>{html_lib.escape(unknown)}</p>" in rendered.html


# --- every message kind in every language -----------------------------------------------------------------
def _context(category: str, lang: str, *, failure_kind: str = "new_method") -> dict:
    """The sample context of ``category``, with every word Duly writes produced by the real code in ``lang`` and
    every value the staff or the customer typed (names, descriptions, answers) left as a name-like value."""
    fmt = Formatter.for_locale(LOCALES[lang])
    ctx = sample_context(category, lang)
    ctx["t"] = labels(lang)
    name = "Julien Moreau"
    ctx["contact"] = {"name": name, "email": "julien@client.example", "salutation": salutation(lang, name)}
    ctx["today"] = fmt.date(date(2026, 4, 21))
    policy = LateFeePolicy(kind="fixed_fee", fixed_fee=Decimal("40"), grace_days=5)
    if "late_fee_terms" in ctx:
        ctx["late_fee_terms"] = late_fee_terms(policy, "EUR", fmt, as_of=date(2026, 4, 21))
    for key in ("invoices", "upcoming", "others"):
        if key in ctx:
            ctx[key] = [dict(inv, payment_failure=decline_text(lang, "card", "insufficient_funds"),
                             pay_sentence="", due_date=fmt.date(date(2026, 3, 5)), period="", service_date="")
                        for inv in ctx[key]]
    if "next_step" in ctx:
        ctx["next_step"] = _next_step_words(lang, "suspend")
        ctx["restore_period"] = within_days(lang, 14)
    if "reminders" in ctx:
        ctx["reminders"] = [{"date": fmt.date(date(2026, 3, 12)), "subject": "SMPL-2026-0417"}]
    if "payment" in ctx:
        ctx["payment"] = dict(ctx["payment"], method=method_name(lang, "bank_transfer"))
        ctx["paid"] = [dict(p, period="", lines=[dict(line, description="Orion", usage="", period="")
                                                 for line in p["lines"]]) for p in ctx["paid"]]
    if "failure" in ctx:
        ctx["failure"] = {"kind": failure_kind, "reason": decline_text(lang, "sepa", "AM04"),
                          "method": method_word(lang, "sepa"), "rail": "sepa"}
    if "occasion" in ctx:
        ctx["occasion"] = dict(ctx["occasion"], label="Orion")
    if "change" in ctx:
        ctx["change"] = dict(ctx["change"], product="Orion Pro", justification="Orion")
    if "dispute" in ctx:
        ctx["dispute"] = dict(ctx["dispute"], question="Orion?", answer="Orion.")
    if "document" in ctx:
        doc = ctx["document"]
        ctx["document"] = dict(doc, title=labels(lang)["invoice"], period="",
                               lines=[dict(line, description="Orion", usage="", period="") for line in doc["lines"]],
                               pay={"method": "bank_transfer", "sentence": "", "details": [], "note": ""})
    return ctx


@cache  # the sources do not change during a run; each test of the module reads them
def _english_fragments() -> set[str]:
    """Runs of three or more English words the English sources spell: the message ids of the catalogues and the
    literal text of the English templates."""
    texts: list[str] = []
    for app in APPS:
        catalogue = _catalogue(app, "fr")
        for message in catalogue:
            if message.id:
                texts.extend(message.id if isinstance(message.id, tuple) else (message.id,))
    for path in (TEMPLATE_DIR / "en").glob("*.j2"):
        source = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", "\n", path.read_text(encoding="utf-8"), flags=re.S)
        texts.append(re.sub(r"<[^>]+>", "\n", source))
    fragments = set()
    for text in texts:
        for piece in re.split(r"{\w+}|%\(\w+\)[sd]|[\n.:;,!?()\"“”]", text):
            words = piece.split()
            if len(words) >= 3 and all(re.fullmatch(r"[A-Za-z'’-]+", w) for w in words):
                fragments.add(" ".join(words))
    return fragments


ENGLISH = _english_fragments()


def _plain(rendered) -> str:
    body = re.sub(r"<[^>]+>", " ", rendered.html)
    return " ".join(f"{rendered.subject} {rendered.text} {html_lib.unescape(body)}".split())


def _english_in(text: str) -> list[str]:
    return sorted(f for f in ENGLISH if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text))


def test_the_english_detector_finds_english():
    assert len(ENGLISH) > 100
    rendered = shipped_renderer().render("reminder_neutral", "en", _context("dunning", "en"))
    assert _english_in(_plain(rendered))


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("name", sorted(TEMPLATE_KINDS))
def test_every_message_kind_reads_without_english(name, lang):
    variants = ["new_method", "authenticate"] if name == "payment_failed" else ["new_method"]
    for kind in variants:
        rendered = shipped_renderer().render(name, lang, _context(TEMPLATE_KINDS[name], lang, failure_kind=kind))
        text = _plain(rendered)
        assert _english_in(text) == [], f"{lang}/{name}: English in {text[:300]}"
        assert text.count("Julien Moreau") >= 2  # addressed by name in the text and the html


@pytest.mark.parametrize("lang", TRANSLATED)
def test_words_duly_writes_into_messages_are_translated(lang):
    english = {
        "labels": dict(labels("en")), "next": {k: _next_step_words("en", k) for k in NEXT_STEP_WORDS},
    }
    ours = {"labels": dict(labels(lang)), "next": {k: _next_step_words(lang, k) for k in NEXT_STEP_WORDS}}
    same_everywhere = {"total", "date", "colon", "period", "reference"}  # identical words in some languages
    for table in english:
        for key, text in english[table].items():
            if key not in same_everywhere:
                assert ours[table][key] != text, (lang, table, key)
    assert method_name(lang, "bank_transfer") != "Bank transfer"
    assert decline_text(lang, "card", "insufficient_funds") != decline_text("en", "card", "insufficient_funds")
    fmt = Formatter.for_locale(LOCALES[lang])
    assert late_fee_terms(None, "EUR", fmt) != "No late-payment charges apply."
