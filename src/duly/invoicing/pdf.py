"""Printed documents: Jinja2 HTML templates rendered to PDF/A-3b by WeasyPrint.

Templates
    Every document is an HTML template under ``duly/documents/``: ``invoice.html`` (standard,
    deposit, credit-note and late-fee invoices), ``receipt.html``, ``statement.html`` and the
    letters ``letter_<kind>.html`` (``reminder``, ``final_notice``, ``termination``), which
    extend ``letter.html``. Shared parts: ``base.html`` (page, header, footer, watermark) and
    ``documents.css`` (static, parsed once per process; the colour, font and page labels of each
    document are CSS variables set in ``base.html``).

Per-organization templates
    A template is looked up first as ``duly/documents/<organization slug>/<name>`` and then as
    ``duly/documents/<name>``, in every directory of ``settings.DULY_DOCUMENT_TEMPLATE_DIRS``
    (a list of paths; optional) and then in the package's own ``templates`` directory. An
    organization override usually ``{% extends "duly/documents/invoice.html" %}`` and replaces
    a block (``header``, ``parties``, ``lines``, ``summary``, ``payment``, ``terms``, ``footer``)
    or adds CSS in the block ``extra_style`` (which wins over ``documents.css``); an organization
    may also ship its own ``duly/documents/<slug>/documents.css``. The logo and brand colour come
    from the organization, the font and footer text from its
    :class:`~duly.invoicing.models.DocumentBranding`. Rendered documents of issued invoices are
    stored (:mod:`duly.invoicing.documents.store`), so a template change never alters them.

Sandbox
    Every document template, shipped or overridden, renders in :class:`duly.templating.DulySandbox`
    (Jinja2's immutable sandbox with the filters, tests and globals SECURITY.md lists, plus
    ``css_string`` and ``css_color``): one reaching Python internals is refused when it is loaded.

Errors
    A template that does not parse or fails while rendering raises
    :class:`~duly.domain.errors.TemplateError` naming the template and the line, e.g.
    ``Template duly/documents/atelier/invoice.html, line 3: unexpected '}'``. Templates use
    strict undefined variables, so a misspelt name fails instead of printing nothing.

Renderers
    This module renders invoices and letters. The apps above invoicing render their own documents with
    :func:`render_org_document` and the templates here: receipts in :mod:`duly.payments.documents`,
    statements of account in :mod:`duly.insights.documents` (invoicing imports neither).

Resources
    Logos and fonts are embedded as ``data:`` URIs (read through Django's storage, so any storage
    backend works). Only ``data:`` URIs and files inside the template directories and
    ``MEDIA_ROOT`` are loaded: a template cannot make the renderer fetch anything from the network.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from django.conf import settings
from markupsafe import Markup

from duly.domain.errors import TemplateError, ValidationError
from duly.templating import CheckedLoader, DulySandbox, safe_detail

from .documents.i18n import Localizer, localizer

__all__ = [
    "LETTER_KINDS",
    "PDF_VARIANT",
    "html_to_pdf",
    "render_document_html",
    "render_invoice_pdf",
    "render_letter",
    "render_org_document",
]

PACKAGE_TEMPLATES = Path(__file__).resolve().with_name("templates")
TEMPLATE_PREFIX = "duly/documents"
#: Every PDF is a PDF/A-3b: archivable, and ready to carry a Factur-X XML.
PDF_VARIANT = "pdf/a-3b"
LETTER_KINDS = ("reminder", "final_notice", "termination")

_render_lock = threading.Lock()


# --- templates ------------------------------------------------------------------------------------
def template_dirs() -> tuple[Path, ...]:
    """Directories searched for document templates, the organization's own first."""
    extra = getattr(settings, "DULY_DOCUMENT_TEMPLATE_DIRS", ()) or ()
    return (*(Path(d).resolve() for d in extra), PACKAGE_TEMPLATES)


_CSS_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\A ", "<": "\\3C ", ">": "\\3E "}
_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
DEFAULT_COLOR = "#1F4E79"


def css_string(value: object) -> Markup:
    """A quoted CSS string, safe inside a <style> element: ``l'équipe "A"`` → ``"l'équipe \\"A\\""``."""
    text = "".join(_CSS_ESCAPES.get(ch, ch) for ch in str(value))
    return Markup(f'"{text}"')


def css_color(value: object) -> Markup:
    """A ``#RRGGBB`` colour, or Duly's default blue for anything else."""
    text = str(value)
    return Markup(text if _HEX_COLOR.fullmatch(text) else DEFAULT_COLOR)


@lru_cache(maxsize=8)
def _environment(dirs: tuple[Path, ...]) -> jinja2.Environment:
    return DulySandbox(
        loader=CheckedLoader(jinja2.FileSystemLoader([str(d) for d in dirs])),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
        filters={"css_string": css_string, "css_color": css_color},
    )


def environment() -> jinja2.Environment:
    return _environment(template_dirs())


def _template_name(filename: str) -> str:
    """``/…/templates/duly/documents/invoice.html`` → ``duly/documents/invoice.html``."""
    path = Path(filename).resolve()
    for root in template_dirs():
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return filename


def _template_error(exc: Exception, fallback_name: str) -> TemplateError:
    """A :class:`TemplateError` naming the template and line where ``exc`` happened."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        name = exc.name or (_template_name(exc.filename) if exc.filename else fallback_name)
        line = exc.lineno
        detail = exc.message or str(exc)
    else:
        name, line, source = fallback_name, None, None
        roots = [str(d) for d in template_dirs()]
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if any(frame.filename.startswith(root) for root in roots) and not frame.filename.endswith(".py"):
                name, line = _template_name(frame.filename), frame.lineno
                try:
                    source = Path(frame.filename).read_text(encoding="utf-8")
                except OSError:
                    source = None
                break
        detail = safe_detail(exc, source)
    where = f"Template {name}" + (f", line {line}" if line else "")
    return TemplateError(f"{where}: {detail}", template=name, line=line)


def select_template(name: str, org_slug: str | None) -> jinja2.Template:
    """The organization's ``name`` template when it has one, else the default."""
    candidates = [f"{TEMPLATE_PREFIX}/{org_slug}/{name}"] if org_slug else []
    candidates.append(f"{TEMPLATE_PREFIX}/{name}")
    try:
        return environment().select_template(candidates)
    except jinja2.TemplatesNotFound:
        raise TemplateError(f"No document template {name!r} (looked for {', '.join(candidates)}).",
                            template=name) from None
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(exc, candidates[0]) from None


def render_document_html(name: str, org_slug: str | None, context: Mapping[str, Any]) -> str:
    """Render the document template ``name`` (organization override first) to HTML."""
    template = select_template(name, org_slug)
    try:
        return template.render(**context)
    except jinja2.TemplateSyntaxError as exc:  # an included or extended template
        raise _template_error(exc, template.name or name) from None
    except (jinja2.TemplateError, ArithmeticError, AttributeError, KeyError, LookupError, TypeError, ValueError) as exc:
        error = _template_error(exc, template.name or name)
        if error.context.get("line") is None and not isinstance(exc, jinja2.TemplateError):
            raise  # not a template problem: a bug to see in full
        raise error from None


# --- HTML → PDF ---------------------------------------------------------------------------------------
def _allowed_roots() -> tuple[Path, ...]:
    return (*template_dirs(), Path(settings.MEDIA_ROOT).resolve())


def _url_fetcher(url: str, *args, **kwargs):
    """Load ``data:`` URIs and local files under the template directories and MEDIA_ROOT only."""
    from weasyprint import default_url_fetcher

    if url.startswith("data:"):
        return default_url_fetcher(url, *args, **kwargs)
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(url).path)).resolve()
        if any(path.is_relative_to(root) for root in _allowed_roots()):
            return default_url_fetcher(url, *args, **kwargs)
    raise ValidationError(f"Documents may not load {url!r}: only local logos, fonts and data URIs.")


STYLESHEET = "documents.css"
_stylesheets: dict[tuple, Any] = {}

#: The document's own values of the stylesheet's variables, as ``base.html`` declares them.
_ROOT_VARIABLES = re.compile(
    r':root \{ --brand: (#[0-9A-Fa-f]{6}); --font: ("(?:[^"\\]|\\.)*"); --page: ("(?:[^"\\]|\\.)*"); '
    r'--of: ("(?:[^"\\]|\\.)*"); \}')
_VARIABLE_NAMES = ("brand", "font", "page", "of")
_VARIABLE_DEFINITION = re.compile(r"--(?:brand|font|page|of)\s*:")


def document_variables(html: str) -> tuple[str, ...] | None:
    """The values of ``--brand``, ``--font``, ``--page`` and ``--of`` the document declares once, on
    ``:root``, as ``base.html`` does; None when it declares them otherwise (or more than once)."""
    found = _ROOT_VARIABLES.findall(html)
    if len(found) != 1 or len(_VARIABLE_DEFINITION.findall(html)) != len(_VARIABLE_NAMES):
        return None
    return found[0]


def document_stylesheet(org_slug: str | None, variables: tuple[str, ...] | None = None):
    """The parsed ``documents.css`` (the organization's own first), cached until the file changes.

    With ``variables`` (see :func:`document_variables`), the stylesheet's ``var(--brand)``,
    ``var(--font)``, ``var(--page)`` and ``var(--of)`` are replaced by the document's values before
    parsing (one parsed sheet per set of values): WeasyPrint otherwise substitutes and re-parses
    each ``var()`` for every element using it. The result is the same, so this is done only
    when the stylesheet defines these variables nowhere but in its own ``:root`` defaults.
    """
    import weasyprint

    names = ([f"{TEMPLATE_PREFIX}/{org_slug}/{STYLESHEET}"] if org_slug else []) + [f"{TEMPLATE_PREFIX}/{STYLESHEET}"]
    for name in names:
        for root in template_dirs():
            path = root / name
            if path.is_file():
                key = (str(path), path.stat().st_mtime_ns, variables)
                sheet = _stylesheets.get(key)
                if sheet is None:
                    sheet = _parse_stylesheet(path, variables)
                    if len(_stylesheets) >= 64:
                        _stylesheets.clear()
                    _stylesheets[key] = sheet
                return sheet
    raise TemplateError(f"No document stylesheet (looked for {', '.join(names)}).", template=STYLESHEET)


def _parse_stylesheet(path: Path, variables: tuple[str, ...] | None):
    import weasyprint

    if variables is not None:
        text = path.read_text(encoding="utf-8")
        defaults = re.findall(r":root\s*\{[^}]*\}", text)
        if len(_VARIABLE_DEFINITION.findall(text)) == len(_VARIABLE_NAMES) == sum(
                len(_VARIABLE_DEFINITION.findall(block)) for block in defaults):
            for name, value in zip(_VARIABLE_NAMES, variables, strict=True):
                text = text.replace(f"var(--{name})", value)
            return weasyprint.CSS(string=text, base_url=str(path), url_fetcher=_url_fetcher)
    return weasyprint.CSS(filename=str(path), url_fetcher=_url_fetcher)


_font_configs: dict[str, Any] = {}


def _font_config(font_uri: str):
    """One WeasyPrint font configuration per custom font (or none): its Pango caches stay warm
    from one render to the next, and one organization's @font-face never leaks into another's."""
    from weasyprint.text.fonts import FontConfiguration

    key = hashlib.sha256(font_uri.encode()).hexdigest() if font_uri else ""
    config = _font_configs.get(key)
    if config is None:
        if len(_font_configs) >= 32:
            _font_configs.clear()
        config = _font_configs[key] = FontConfiguration()
    return config


#: WeasyPrint's image cache, shared by renders (one at a time, under ``_render_lock``): an
#: organization's logo is decoded once, not for every document. WeasyPrint keeps decoded images
#: and their PDF data in it under keys that refer to each other, so it is never trimmed during a
#: render: it is emptied before one once it holds more than ``_IMAGE_CACHE_ENTRIES`` entries or
#: about ``_IMAGE_CACHE_BYTES`` of URIs and image data.
class _ImageCache(dict):
    """Keeps images given as ``data:`` URIs (their key is their content), never a file's, which may change."""

    size = 0

    def __setitem__(self, key, value):
        if isinstance(key, str) and key.startswith(("file:", "http:", "https:")):
            return
        self.size += (len(key) if isinstance(key, str) else 0) + (
            len(value) if isinstance(value, (bytes, bytearray)) else 0)
        super().__setitem__(key, value)

    def clear(self) -> None:
        self.size = 0
        super().clear()


_image_cache = _ImageCache()
_IMAGE_CACHE_ENTRIES = 64
_IMAGE_CACHE_BYTES = 16 * 2**20


class _CharsUntilRegexes(dict):
    """tinyhtml5's cache of ``chars_until`` regular expressions, keyed as its lookups are.

    tinyhtml5 (WeasyPrint's HTML parser) means to compile each "characters until" class once, but
    stores it under the compiled pattern (``characters = cache[(characters, opposite)] = regex``
    rebinds ``characters`` first), so every lookup misses and rebuilds the pattern: about a third
    of the time it takes to parse an invoice. This dictionary builds the very same pattern on a
    miss and keeps it under the key looked up.
    """

    def __missing__(self, key):
        characters, opposite = key
        regex = "".join([f"\\x{ord(character):02x}" for character in characters])
        if not opposite:
            regex = f"^{regex}"
        value = self[key] = re.compile(f"[{regex}]+")
        return value


def _fix_html_parser_cache() -> None:
    from tinyhtml5 import inputstream

    if type(getattr(inputstream, "characters_until_regex", None)) is dict:
        inputstream.characters_until_regex = _CharsUntilRegexes()


def html_to_pdf(html: str, *, org_slug: str | None = None, font_uri: str = "",
                variant: str | None = PDF_VARIANT) -> bytes:
    """PDF bytes of ``html`` styled by ``documents.css`` (PDF/A-3b by default).

    The stylesheet is given to WeasyPrint as a *user* stylesheet: the document's own ``<style>``
    (the organization's ``extra_style`` block) wins over it. Relative URLs resolve against the
    package templates. ``font_uri`` is the custom font the document loads with @font-face, if any.
    """
    import weasyprint

    stylesheet = document_stylesheet(org_slug, document_variables(html))
    _fix_html_parser_cache()
    # Without HarfBuzz's subsetter WeasyPrint subsets fonts with fontTools, raising its logger to
    # DEBUG meanwhile (weasyprint.logger.capture_logs): thousands of lines per PDF would reach the
    # root logger's console. WeasyPrint re-logs fontTools' warnings under its own logger.
    logging.getLogger("fontTools").propagate = False
    # WeasyPrint's font configuration is not shared between threads: one render at a time.
    with _render_lock, _gc_paused():
        if len(_image_cache) > _IMAGE_CACHE_ENTRIES or _image_cache.size > _IMAGE_CACHE_BYTES:
            _image_cache.clear()
        document = weasyprint.HTML(string=html, base_url=str(PACKAGE_TEMPLATES), url_fetcher=_url_fetcher)
        options: dict[str, Any] = {"stylesheets": [stylesheet], "font_config": _font_config(font_uri),
                                   "cache": _image_cache}
        if variant:
            options["pdf_variant"] = variant
        return document.write_pdf(**options)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while WeasyPrint builds a document.

    A render allocates hundreds of thousands of short-lived objects; collections in the middle of
    it scan the whole heap again and again (about a fifth of the render time, measured with
    ``bench/render.py``). Once the render is over, one young-generation collection frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def common_context(loc: Localizer, branding, org, *, is_draft: bool = False) -> dict[str, Any]:
    """What every document template reads besides its own values: ``t``, ``loc``, ``lang``, ``brand``, ``org``
    and ``is_draft``."""
    return {
        "t": loc.t,
        "loc": loc,
        "lang": loc.language,
        "brand": branding,
        "org": _org_view(org),
        "is_draft": is_draft,
    }


def _org_view(org) -> dict[str, Any]:
    """The seller's legal details printed in headers, letterheads and footers."""
    return {
        "name": org.name,
        "trading_name": org.trading_name,
        "address_lines": list(org.address_lines),
        "country": org.country,
        "vat_id": org.vat_id,
        "registration_id": org.registration_id,
        "email": org.email,
        "phone": org.phone,
        "website": org.website,
        "iban": org.iban,
        "bic": org.bic,
        "bank_name": org.bank_name,
    }


# --- invoices ---------------------------------------------------------------------------------------
def invoice_context(printable, org) -> dict[str, Any]:
    """The template context of an invoice-like document (see ``invoice.html``)."""
    loc = localizer(printable.locale)
    doc = printable.document
    context = common_context(loc, printable.branding, org, is_draft=printable.is_draft)
    if printable.seller_page:  # the seller as frozen at issue (live for a draft)
        context["org"] = printable.seller_page
    lines = [
        {"line": line, "result": result, "details": _line_details(loc, line, result, doc.currency)}
        for line, result in zip(doc.lines, printable.totals.lines, strict=True)
    ]
    payment_terms, late_terms = _terms_in_words(loc, printable)
    facts = []
    if doc.period_start or doc.period_end:
        facts.append((loc.t("service_period"), loc.period(doc.period_start, doc.period_end)))
    for ref in printable.references:
        label = ref.custom_label if ref.label_key == "custom" else loc.t(ref.label_key)
        facts.append((label, ref.value))  # a field the customer requires is printed like any other
    if printable.rf_reference and not doc.is_credit_note:  # the reference to quote when paying
        facts.append((loc.t("reference"), printable.rf_reference))
    context.update(
        p=printable,
        doc=doc,
        facts=facts,
        totals=printable.totals,
        lines=lines,
        allowances_charges=list(
            zip(doc.allowances_charges, doc.allowance_charge_amounts(printable.totals), strict=True)
        ),
        title=loc.t(f"title.{printable.kind}"),
        payment_terms=payment_terms,
        late_terms=late_terms,
        has_reverse_charge="AE" in doc.tax_categories(),
        exemptions=doc.exemption_reasons(),
    )
    context.update(national_mentions(loc, printable, context["org"]))
    context["vat_in_accounting"] = _vat_in_accounting(loc, printable)
    return context


def _vat_in_accounting(loc: Localizer, printable) -> dict[str, str] | None:
    """The total VAT in the VAT accounting currency (BT-111; a UK VAT invoice in a foreign currency: sterling)
    and the rate it was converted at, frozen at issue, in the document's language; None when not needed."""
    doc = printable.document
    amount = doc.tax_total_in_tax_currency(printable.totals)
    if amount is None:
        return None
    facts = printable.vat_accounting or {}
    return {"currency": doc.tax_currency, "amount": loc.money(amount, doc.tax_currency),
            "rate": f"1 {doc.currency} = {loc.number(doc.tax_currency_rate)} {doc.tax_currency}",
            "date": loc.date(date.fromisoformat(facts["date"])) if facts.get("date") else "",
            "source": facts.get("source", "")}


def national_mentions(loc: Localizer, printable, org_view: Mapping[str, Any]) -> dict[str, Any]:
    """The seller country's mandatory mentions (:mod:`~duly.invoicing.documents.mentions`) in the document's
    language: ``legal_mentions`` (sentences), ``rate_name`` (a VAT rate's own name) and ``reverse_charge_key``."""
    from duly.domain.money import from_minor

    from .documents import mentions

    doc = printable.document
    country = doc.seller.country_code
    legal = org_view.get("legal") or {}
    values: dict[str, Any] = {
        "siren": doc.seller.legal_registration_id if doc.seller.legal_registration_scheme == "0002" else "",
        "legal_form": legal.get("legal_form", ""),
        "registry_city": legal.get("registry_city", ""),
        "share_capital": "",
        "indemnity": loc.money(Decimal(40), "EUR"),
        "late_rate": "",
        "time_of_supply": loc.date(doc.period_end or doc.issue_date),
    }
    if capital := legal.get("share_capital"):
        values["share_capital"] = loc.money(from_minor(capital["minor"], capital["currency"]), capital["currency"])
    if not doc.is_credit_note:
        values["late_rate"] = mentions.late_rate_words(loc, printable.late_policy, doc.issue_date, doc.currency)
    buyer_is_business = bool(doc.buyer.vat_id.strip() or doc.buyer.legal_registration_id.strip())
    has_period = bool(doc.period_start or doc.period_end or any(line.period_start for line in doc.lines))
    applicable = mentions.applicable(country, buyer_is_business=buyer_is_business, has_period=has_period,
                                     values=values)
    if doc.is_credit_note:  # nothing is due: no late-payment, indemnity or discount mentions
        applicable = [m for m in applicable if not m.b2b_only]
    table = mentions.MENTIONS.get(country)

    def rate_name(category: str, rate: Decimal) -> str:
        key = mentions.rate_name_key(country, category, rate)
        return loc.t(key) if key else loc.category(category)

    return {
        "legal_mentions": [loc.t(m.key, **{name: values[name] for name in m.needs}) for m in applicable],
        "rate_name": rate_name,
        "reverse_charge_key": table.reverse_charge if table else "reverse_charge",
    }


def _terms_in_words(loc: Localizer, printable) -> tuple[str, str]:
    """(payment terms, late-payment terms) in the document's language.

    The words frozen at issue are printed as they are: an invoice freezes both in its customer's language
    (an imported invoice keeps its source's words), so the PDF reads what the UBL/CII notes carry. Only an
    invoice issued before the terms were translated (English words that are Duly's own wording of the terms)
    and a draft have the same facts (exact due date, rate, fee) put in the document's language.
    """
    from duly.domain.late_fees import describe_policy
    from duly.domain.payment_terms import describe as describe_terms

    doc = printable.document
    frozen_terms, frozen_late = printable.payment_terms_text, printable.late_terms_text
    payment_terms = ""
    if doc.due_date is not None:
        own = printable.terms is not None and describe_terms(printable.terms, doc.issue_date) == frozen_terms
        if frozen_terms and (loc.language == "en" or not own):
            payment_terms = frozen_terms.rstrip(".") + "."
        else:
            payment_terms = loc.payment_terms(printable.terms, doc.due_date)
    if doc.is_credit_note:
        return payment_terms, ""
    policy = printable.late_policy
    own = policy is not None and describe_policy(policy, doc.currency, as_of=doc.issue_date) == frozen_late
    if frozen_late and (loc.language == "en" or not own):
        return payment_terms, frozen_late
    return payment_terms, loc.late_terms(policy, doc.currency, as_of=doc.issue_date)


def _line_details(loc: Localizer, line, result, currency: str) -> list[str]:
    """What a line shows under its description: its period, its discount, how its price was computed."""
    details = []
    if line.period_start or line.period_end:
        details.append(f"{loc.t('line_period')}{loc.colon} {loc.period(line.period_start, line.period_end)}")
    if line.allowances_charges:  # an imported line: each allowance and charge as its source stated it
        for item in line.allowances_charges:
            label = item.reason or loc.t("charges" if item.is_charge else "allowances")
            sign = "+" if item.is_charge else "−"
            details.append(f"{label}{loc.colon} {sign}{loc.amount(item.amount, currency)}")
    elif result.discount_amount:
        rate = f" {loc.percent(line.discount_percent)}" if line.discount_percent is not None else ""
        details.append(f"{loc.t('discount')}{rate}{loc.colon} −{loc.amount(abs(result.discount_amount), currency)}")
    if line.note:
        details.append(line.note)
    return details


def render_invoice_pdf(invoice, *, as_of: date | None = None) -> bytes:
    """The PDF of an invoice, credit note, deposit or late-fee invoice.

    A draft is rendered on the fly as issued on ``as_of`` and watermarked DRAFT; use
    :func:`duly.invoicing.documents.document_bytes` for issued invoices (rendered once, stored).
    """
    from .documents.adapter import build_printable

    printable = build_printable(invoice, as_of=as_of)
    html = render_document_html("invoice.html", printable.org_slug, invoice_context(printable, invoice.organization))
    return html_to_pdf(html, org_slug=printable.org_slug, font_uri=printable.branding.font_uri)


# --- documents of the apps above invoicing (receipts, statements) ---------------------------------------
def render_org_document(name: str, org, loc: Localizer, values: Mapping[str, Any]) -> bytes:
    """The PDF of ``org``'s document template ``name`` (e.g. ``receipt.html``) in ``loc``'s language: the
    :func:`common_context` with ``org``'s branding, plus ``values``."""
    from .documents.adapter import branding_for

    context = common_context(loc, branding_for(org), org)
    context.update(values)
    return html_to_pdf(render_document_html(name, org.slug, context), org_slug=org.slug,
                       font_uri=context["brand"].font_uri)


# --- letters ------------------------------------------------------------------------------------------
def render_letter(kind: str, customer, context: Mapping[str, Any]) -> bytes:
    """A formal letter for post: address window, reference line, subject, the overdue items.

    ``kind`` is one of :data:`LETTER_KINDS` (``reminder``, ``final_notice``, ``termination``);
    the template is ``letter_<kind>.html`` (organization override first). ``context``:

    ``date`` (date, required)
        The letter's date.
    ``invoices`` (required)
        The overdue :class:`~duly.invoicing.models.Invoice` objects to list.
    ``deadline`` (date, required)
        The date by which to pay.
    ``reference`` (str)
        Our reference (e.g. the dunning run or step id).
    ``effective`` (date)
        Termination letters: the date the services end (defaults to ``date``).
    ``late_charges`` (Decimal)
        Late charges to add to the total, in the invoices' currency.
    ``contact_name`` (str)
        The person addressed; defaults to the accounts-payable contact.
    ``reminded_on`` (list of dates)
        Final notices and termination letters: the dates earlier reminders about these invoices
        reached the customer. The letter names them; without any it never says "despite our
        reminders" (default: none).
    ``open_minor`` (mapping invoice id -> minor units)
        The open amount of each invoice as the message the letter goes with stated it (the
        letter then shows those figures); default: each invoice's balance now.

    Any other keys are passed on to the template.
    """
    from duly.domain.money import from_minor
    from duly.domain.references import format_rf

    from .documents.adapter import branding_for
    from .hooks import scheduled_collections

    if kind not in LETTER_KINDS:
        raise ValidationError(f"Unknown letter {kind!r}: use one of {', '.join(LETTER_KINDS)}.")
    for key in ("date", "invoices", "deadline"):
        if key not in context:
            raise ValidationError(f"A {kind.replace('_', ' ')} letter needs {key!r} in its context.")
    org = customer.organization
    loc = localizer(customer.locale)
    letter_date: date = context["date"]
    items = []
    currencies: set[str] = set()
    frozen = context.get("open_minor") or {}
    for inv in context["invoices"]:
        currencies.add(inv.currency)
        items.append({
            "number": inv.number,
            "issue_date": inv.issue_date,
            "due_date": inv.due_date,
            "days_overdue": max((letter_date - inv.due_date).days, 0) if inv.due_date else 0,
            "total": from_minor(inv.total_minor, inv.currency),
            "open": from_minor(frozen[inv.pk], inv.currency) if inv.pk in frozen else inv.balance,
            "currency": inv.currency,
            "reference": format_rf(inv.rf_reference) if inv.rf_reference else inv.number,
            "auto": "",
        })
    # How each item will actually be paid: an automatic collection still ahead is said (card, date; debit, mandate,
    # creditor identifier, date); the rest is the customer's to transfer, with each invoice's RF reference.
    scheduled = scheduled_collections(list(context["invoices"]), letter_date)
    for inv, item in zip(context["invoices"], items):
        if inv.pk in scheduled:
            item["auto"] = _collection_sentence(loc, scheduled[inv.pk], item["open"], inv.currency)
    what = kind.replace("_", " ")
    if not items:
        raise ValidationError(f"A {what} letter to {customer.name} needs at least one overdue invoice.")
    if len(currencies) > 1:
        raise ValidationError(
            f"A letter lists items of one currency; {customer.name} has overdue items in "
            f"{', '.join(sorted(currencies))}."
        )
    currency = currencies.pop()
    late_charges = Decimal(context.get("late_charges") or 0)
    total = sum((i["open"] for i in items), Decimal(0)) + late_charges
    contacts = sorted(customer.contacts.all(), key=lambda c: (c.role != "accounts_payable", c.pk))
    contact_name = context.get("contact_name", contacts[0].name if contacts else "")
    address = ([x.strip() for x in customer.invoice_address.splitlines() if x.strip()]
               if customer.invoice_address.strip() else list(customer.address_lines))
    values = common_context(loc, branding_for(org), org)
    values.update(
        kind=kind,
        subject=loc.t(f"letter.subject.{kind}"),
        customer=customer,
        contact_name=contact_name,
        address=address,
        country_name=_country_name(customer.country, loc) if customer.country != org.country else "",
        date=letter_date,
        reference=context.get("reference", ""),
        items=items,
        currency=currency,
        late_charges=late_charges,
        total=total,
        deadline=context["deadline"],
        effective=context.get("effective", letter_date),
        reminded_on=sorted(context.get("reminded_on") or ()),
    )
    values["reminded_dates"] = ", ".join(loc.date(d) for d in values["reminded_on"])
    values.update({k: v for k, v in context.items() if k not in values})
    return html_to_pdf(render_document_html(f"letter_{kind}.html", org.slug, values), org_slug=org.slug,
                       font_uri=values["brand"].font_uri)


def _collection_sentence(loc: Localizer, payment: dict, amount: Decimal, currency: str) -> str:
    """``€100.00 will be charged to Visa •••• 4242 on 15 July 2026.`` or the direct debit's sentence with its
    mandate reference and creditor identifier, in the letter's language."""
    from duly.domain.payment_instructions import CARD, PaymentInstruction

    chosen = PaymentInstruction.from_json(payment)
    money = loc.money(amount, currency)
    if chosen.method == CARD:
        when = loc.date(chosen.charge_date)
        return (loc.t("card_autopay", amount=money, card=chosen.card_label, date=when) if chosen.card_label
                else loc.t("card_autopay_unnamed", amount=money, date=when))
    return (f"{loc.t('sepa_debit_on', amount=money, date=loc.date(chosen.debit_date))} "
            f"{loc.t('mandate_reference')}{loc.colon} {chosen.mandate_reference}, {loc.t('creditor_id')}{loc.colon} "
            f"{chosen.creditor_id}.")


def _country_name(code: str, loc: Localizer) -> str:
    from babel import Locale

    return Locale.parse(loc.locale).territories.get(code, code).upper() if code else ""
