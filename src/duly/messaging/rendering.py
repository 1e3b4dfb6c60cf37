"""Message templates: Jinja2 files per language, each with a subject, a plain-text and an HTML part.

Files
    ``templates/messages/<lang>/<name>.j2`` (lang in en, fr, de, ru, es). Each file defines three
    blocks: ``subject``, ``text`` and ``html``. The HTML block is rendered with auto-escaping and
    wrapped in ``templates/messages/_layout.html.j2`` (the organization's colour and footer); the
    subject and text blocks are rendered without escaping. Shared tables and sign-offs are macros
    in ``templates/messages/_macros.j2``; import them inside a block.
    An organization can override any template (``messaging.MessageTemplate``); a language with no
    file falls back to English.

Sandbox
    Every template renders in :class:`duly.templating.DulySandbox` (Jinja2's immutable sandbox with
    the filters, tests and globals SECURITY.md lists); a template reaching Python internals is
    refused when saved and again whenever it is loaded, so one written straight to the database
    never runs either. Render errors name the template and line, never a value (see
    :func:`duly.templating.render_error`).

Strictness
    Every environment uses ``StrictUndefined``: a template that uses a variable the context does
    not have fails. :func:`validate_template` runs at save time (model ``clean`` and the
    ``save_template`` service): it compiles the source, renders every block against a full sample
    context, and checks that each part carries the personal fields its kind requires (the contact's
    name, the invoices with amounts and due dates, the personal link...). A generic blast, an
    undefined variable or a syntax error is refused with the template name and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
from markupsafe import Markup, escape

from duly.domain.errors import TemplateError
from duly.templating import CheckedLoader, DulySandbox, check_source, render_error, template_line

from .context import salutation, within_days
from .formatting import DEFAULT_LANGUAGE, LANGUAGES
from .labels import labels

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "messages"
BLOCKS = ("subject", "text", "html")

# --- the catalogue of message kinds and the personal fields each must carry ---------------------
_INVOICE_CORE = ("contact.name", "invoices[].number", "invoices[].balance", "invoices[].due_date", "late_fee_terms",
                 "pay_link")
CATEGORY_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "pre_due": _INVOICE_CORE,
    "service_date": ("contact.name", "invoices[].number", "invoices[].balance", "invoices[].service_date",
                     "late_fee_terms", "pay_link"),
    "dunning": _INVOICE_CORE + ("invoices[].days_overdue", "total_due"),
    "termination": _INVOICE_CORE + ("invoices[].days_overdue", "total_due", "reminders[].date", "restore_deadline"),
    "statement": _INVOICE_CORE + ("invoices[].days_overdue", "total_due"),
    "payment": ("contact.name", "payment.amount", "payment.date", "paid[].number", "pay_link"),
    "relationship": ("contact.name", "customer.name"),
    "notice": ("contact.name", "change.old_price", "change.new_price", "change.effective_date",
               "change.justification", "pay_link"),
    "dispute": ("contact.name", "dispute.invoice_number", "dispute.answer", "pay_link"),
    "invoice": ("contact.name", "document.number", "document.issue_date", "document.balance", "document.due_date",
                "document.reference", "late_fee_terms", "document.link"),
}

#: Shipped templates: name → category.
TEMPLATE_KINDS: Mapping[str, str] = {
    "coming_due": "pre_due",
    "service_date_reminder": "service_date",
    "reminder_gentle": "dunning",
    "reminder_neutral": "dunning",
    "reminder_firm": "dunning",
    "final_notice": "dunning",
    "suspension_notice": "dunning",
    "termination_letter": "termination",
    "final_statement": "statement",
    "thank_you": "payment",
    "payment_failed": "payment",
    "greeting_birthday": "relationship",
    "greeting_anniversary": "relationship",
    "greeting_special": "relationship",
    "price_increase": "notice",
    "dispute_resolved": "dispute",
    "invoice_issued": "invoice",
}


def category_of(name: str, custom: Mapping[str, str] | None = None) -> str:
    if custom and name in custom:
        return custom[name]
    try:
        return TEMPLATE_KINDS[name]
    except KeyError:
        raise TemplateError(
            f"Unknown message template {name!r}: use one of {', '.join(sorted(TEMPLATE_KINDS))} "
            "or save a custom template with a category first.", template=name,
        ) from None


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def template_path(name: str, language: str) -> str:
    return f"{language}/{name}.j2"


# --- environments --------------------------------------------------------------------------------
def _make_env(autoescape: bool, overrides: Mapping[str, str]) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if overrides:
        loaders.append(jinja2.DictLoader(dict(overrides)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATE_DIR)))
    return DulySandbox(
        loader=CheckedLoader(jinja2.ChoiceLoader(loaders)),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=800,
    )


class Renderer:
    """Renders message templates; one instance per organization (its overrides), reused for a run.

    ``overrides`` maps ``"<lang>/<name>.j2"`` to a template source saved by the organization.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._html = _make_env(True, self.overrides)
        self._text = _make_env(False, self.overrides)
        self._layout = self._html.get_template("_layout.html.j2")
        self._resolved: dict[tuple[str, str], str] = {}

    def _path(self, name: str, language: str) -> str:
        key = (name, language)
        path = self._resolved.get(key)
        if path is None:
            path = template_path(name, language)
            if path not in self.overrides and not (TEMPLATE_DIR / path).is_file():
                path = template_path(name, DEFAULT_LANGUAGE)
                if path not in self.overrides and not (TEMPLATE_DIR / path).is_file():
                    raise TemplateError(f"No message template {name!r} (neither {language} nor English).",
                                        template=name)
            self._resolved[key] = path
        return path

    def _source(self, path: str) -> str:
        """The template's text (to tell, in an error, what it spells itself)."""
        if path in self.overrides:
            return self.overrides[path]
        return _shipped_source(path)

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> RenderedMessage:
        """Render the three parts. Errors name the template and line (:class:`TemplateError`)."""
        path = self._path(name, language if language in LANGUAGES else DEFAULT_LANGUAGE)
        ctx = dict(context)
        ctx.setdefault("t", labels(language))
        text_tpl = self._text.get_template(path)
        html_tpl = self._html.get_template(path)
        source = self._source(path)
        subject = _one_line(_render_block(text_tpl, "subject", ctx, path, source))
        text = _render_block(text_tpl, "text", ctx, path, source).strip() + "\n"
        body = _render_block(html_tpl, "html", ctx, path, source)
        html = self._layout.render(body=Markup(body), subject=subject, org=ctx.get("org", {}),
                                   lang=language)
        return RenderedMessage(subject=subject, text=text, html=html)


_FOLD = re.compile(r"[ \t\r\n]+")


def _one_line(text: str) -> str:
    """Collapse line breaks and runs of ASCII spaces; no-break spaces (French, CLDR) are kept."""
    return _FOLD.sub(" ", text).strip()


def _render_block(tpl: jinja2.Template, block: str, ctx: Mapping[str, Any], path: str, source: str) -> str:
    fn = tpl.blocks.get(block)
    if fn is None:
        raise TemplateError(f"Template {path} has no {{% block {block} %}}.", template=path, block=block)
    try:
        return "".join(fn(tpl.new_context(ctx)))  # new_context copies: blocks never change ``ctx``
    except TemplateError:
        raise
    except Exception as exc:  # noqa: BLE001 - the template's own code: every failure is the template's
        raise render_error(exc, path, line=template_line(exc, tpl.filename or "<template>"),
                           source=source) from None


@lru_cache(maxsize=256)
def _shipped_source(path: str) -> str:
    file = TEMPLATE_DIR / path
    return file.read_text(encoding="utf-8") if file.is_file() else ""


@lru_cache(maxsize=1)
def shipped_renderer() -> Renderer:
    """The renderer of the shipped templates (no organization overrides), shared by the process."""
    return Renderer()


# --- save-time validation ------------------------------------------------------------------------
def _compile(env: jinja2.Environment, source: str, path: str) -> jinja2.Template:
    try:
        code = env.compile(source, name=path, filename=path)
    except jinja2.TemplateSyntaxError as exc:
        raise render_error(exc, path) from None
    return env.template_class.from_code(env, code, env.make_globals(None))


def _lookup(ctx: Mapping[str, Any], path: str) -> list[str]:
    """Sample values a required field path points at (``invoices[].number`` → every number)."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = ctx[head[:-2]]
        return [str(item[rest]) for item in items]
    value: Any = ctx[head]
    for part in rest.split(".") if rest else []:
        value = value[part]
    return [str(value)]


def validate_template(name: str, language: str, source: str, *, category: str | None = None) -> None:
    """Refuse a template that does not compile, uses an undefined variable, or is not personal.

    Raises :class:`TemplateError` whose message names the template (``fr/reminder_firm.j2``) and,
    where it applies, the line.
    """
    path = template_path(name, language)
    category = category or category_of(name)
    if category not in CATEGORY_REQUIRED:
        raise TemplateError(f"Unknown template category {category!r} for {path}.", template=path)
    if language not in LANGUAGES:
        raise TemplateError(f"Template {path}: language {language!r} is not one of {', '.join(LANGUAGES)}.",
                            template=path)
    renderer = Renderer({path: source})
    ctx = dict(sample_context(category, language))
    ctx["t"] = labels(language)
    check_source(renderer._text, source, path, context_keys=ctx)
    text_tpl = _compile(renderer._text, source, path)
    html_tpl = _compile(renderer._html, source, path)
    parts = {
        "subject": _render_block(text_tpl, "subject", ctx, path, source),
        "text": _render_block(text_tpl, "text", ctx, path, source),
        "html": _render_block(html_tpl, "html", ctx, path, source),
    }
    if not parts["subject"].strip():
        raise TemplateError(f"Template {path}: the subject is empty.", template=path)
    for field in CATEGORY_REQUIRED[category]:
        for value in _lookup(ctx, field):
            for part in ("text", "html"):
                needle = str(escape(value)) if part == "html" else value
                if needle not in parts[part]:
                    raise TemplateError(
                        f"Template {path} is not personal: its {part} part does not show {field} "
                        f"(every message must carry the customer's own details; no generic blasts).",
                        template=path, field=field, part=part,
                    )


def shipped_sources(languages: Iterable[str] = LANGUAGES) -> dict[str, str]:
    """Source of every shipped template (``"<lang>/<name>.j2"`` → text), for checks and admin."""
    out = {}
    for lang in languages:
        for name in TEMPLATE_KINDS:
            path = TEMPLATE_DIR / template_path(name, lang)
            if path.is_file():
                out[template_path(name, lang)] = path.read_text(encoding="utf-8")
    return out


# --- the sample context (every variable a template may use) --------------------------------------
#: Context keys every message has, and the extra keys of each category (see ``duly.messaging.context``).
COMMON_KEYS = ("category", "language", "org", "customer", "contact", "today", "pay_link", "currency", "t")
#: ``contact.salutation``: how the message opens, by the contact's name when known (:func:`.context.salutation`).
#: ``restore_period``: ``restore_days`` in words ("within 14 days", :func:`.context.within_days`).
#: ``upcoming``: the customer's invoices a message carries that are not due yet (a late fee, a new
#: invoice sent with a reminder), each with its own due date: listed, never demanded. ``reminders``:
#: the earlier reminders about these invoices that reached the customer (date, subject). ``others``:
#: the other new invoices sent in the same e-mail as an invoice.
CATEGORY_KEYS: Mapping[str, tuple[str, ...]] = {
    "pre_due": ("invoices", "total_due", "late_fee_terms", "step", "upcoming", "pay_manual"),
    "service_date": ("invoices", "total_due", "late_fee_terms", "step", "upcoming"),
    "dunning": ("invoices", "total_due", "late_fee_terms", "step", "next_step", "restore_days", "restore_period",
                "restore_deadline", "upcoming", "reminders"),
    "termination": ("invoices", "total_due", "late_fee_terms", "step", "next_step", "restore_days", "restore_period",
                    "restore_deadline", "reminders", "upcoming"),
    "statement": ("invoices", "total_due", "late_fee_terms", "step", "payments", "credit_left", "retainer_left",
                  "upcoming"),
    "payment": ("payment", "paid", "credit_left", "failure"),
    "relationship": ("occasion",),
    "notice": ("change",),
    "dispute": ("dispute",),
    "invoice": ("document", "late_fee_terms", "others"),
}


def sample_context(category: str, language: str) -> dict[str, Any]:
    """A complete context of ``category`` with distinctive values, to validate templates at save time.

    It has exactly the keys a real message of that category has (:data:`COMMON_KEYS` and
    :data:`CATEGORY_KEYS`), so a template that renders against it renders against a real context,
    and one that uses a variable its kind never has is refused (StrictUndefined).
    """
    invoices = [
        {"number": "SMPL-2026-0417", "issue_date": "3 Feb 2026", "due_date": "5 Mar 2026",
         "total": "EUR 1,810.20", "balance": "EUR 1,610.20", "days_overdue": 47, "days_to_due": -47,
         "service_date": "20 Apr 2026", "period": "1–28 Feb 2026", "interest": "EUR 3.12",
         "payment_failure": "the sample account had insufficient funds", "pay_sentence": "",
         "link": "https://pay.example/p/SMPL-A"},
        {"number": "SMPL-2026-0588", "issue_date": "4 Mar 2026", "due_date": "3 Apr 2026",
         "total": "EUR 905.90", "balance": "EUR 905.90", "days_overdue": 18, "days_to_due": -18,
         "service_date": "22 Apr 2026", "period": "1–31 Mar 2026", "interest": "", "payment_failure": "",
         "pay_sentence": "EUR 905.90 will be charged to Visa •••• 4242 on 3 Apr 2026.",
         "link": "https://pay.example/p/SMPL-B"},
    ]
    upcoming = [
        {"number": "SMPL-2026-0702", "issue_date": "21 Apr 2026", "due_date": "21 May 2026",
         "total": "EUR 40.00", "balance": "EUR 40.00", "days_overdue": 0, "days_to_due": 30,
         "service_date": "", "period": "", "link": "https://pay.example/p/SMPL-C"},
    ]
    everything: dict[str, Any] = {
        "upcoming": upcoming,
        "others": upcoming,
        "category": category,
        "language": language,
        "org": {"name": "Sample Seller Ltd", "email": "billing@seller.example", "phone": "+33 1 23 45 67 89",
                "website": "https://seller.example", "iban": "FR14 2004 1010 0505 0001 3M02 606",
                "bic": "PSSTFRPPPAR", "brand_color": "#1F4E79", "address": "12 rue des Lilas, 75011 Paris"},
        "customer": {"name": "Quintessa Orbital Sample SA", "code": "SMPL"},
        "contact": {"name": "Ysolde Marchetti-Sample", "email": "ysolde@customer.example",
                    "salutation": salutation(language, "Ysolde Marchetti-Sample")},
        "today": "21 Apr 2026",
        "pay_link": "https://pay.example/p/SMPL-TOKEN-7f3a",
        "currency": "EUR",
        "invoices": invoices,
        "total_due": "EUR 2,516.10",
        "pay_manual": True,
        "late_fee_terms": "Late payment: sample interest 10.15 per year plus EUR 40.00 compensation.",
        "step": {"code": "sample", "tone": "firm", "final": True, "offset_days": 14, "anchor": "due_date"},
        "next_step": "Sample hand-over to a collection agency",
        "restore_days": 14,
        "restore_period": within_days(language, 14),
        "restore_deadline": "5 May 2026",
        "reminders": [{"date": "12 Mar 2026", "subject": "Sample reminder one"},
                      {"date": "26 Mar 2026", "subject": "Sample reminder two"}],
        "payments": [{"date": "1 Mar 2026", "amount": "EUR 200.00", "reference": "SMPL-PAY-12"}],
        "payment": {"amount": "EUR 733.31", "date": "19 Apr 2026", "method": "Bank transfer",
                    "reference": "SMPL-PAY-99"},
        "paid": [{"number": "SMPL-2026-0311", "amount": "EUR 733.31", "period": "1–31 Jan 2026",
                  "lines": [{"description": "Sample hosting plan", "period": "1–31 Jan 2026",
                             "usage": "average 41.3 seats", "amount": "EUR 600.00"}]}],
        "credit_left": "EUR 12.00",
        "failure": {"kind": "new_method", "reason": "the sample card can no longer be used", "method": "card",
                    "rail": "card"},
        "retainer_left": "EUR 340.00",
        "occasion": {"kind": "birthday", "label": "Sample founding day", "years": 7, "date": "21 Apr 2026"},
        "change": {"product": "Sample Pro plan", "old_price": "EUR 49.00", "new_price": "EUR 54.00",
                   "effective_date": "1 Jun 2026", "justification": "Sample: faster support and daily backups.",
                   "subscription": "SMPL-SUB-1"},
        "dispute": {"invoice_number": "SMPL-2026-0417", "question": "Sample question about line 2",
                    "answer": "Sample answer: line 2 was corrected.", "opened_on": "10 Apr 2026",
                    "credit_note_number": "SMPL-CN-0009", "credit_note_amount": "EUR 120.00"},
        "document": {"number": "SMPL-2026-0733", "kind": "standard", "title": "Invoice", "credit_note": False,
                     "issue_date": "1 Apr 2026", "due_date": "1 May 2026", "period": "1–30 Apr 2026",
                     "total": "EUR 1,210.00", "prepaid": "EUR 10.00", "balance": "EUR 1,200.00",
                     "reference": "RF18 SMPL 0733", "po_number": "SMPL-PO-42", "link": "https://pay.example/p/SMPL-I",
                     "lines": [{"description": "Sample consulting day", "period": "1–30 Apr 2026",
                                "usage": "average 41.3 seats", "amount": "EUR 1,000.00"}],
                     "attachments": ["sample-timesheet-april.pdf"], "credited_number": "",
                     "pay": {"method": "sepa_debit",
                             "sentence": "EUR 1,200.00 will be debited by SEPA direct debit on 1 May 2026.",
                             "details": [{"label": "Mandate reference", "value": "SMPL-MANDATE-1"}],
                             "note": "This invoice is the pre-notification of the sample debit."}},
    }
    keys = [k for k in COMMON_KEYS if k != "t"] + list(CATEGORY_KEYS[category])
    return {k: everything[k] for k in keys}
