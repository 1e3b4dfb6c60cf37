"""Reading a pain.002 customer payment status report (the bank's answer to a pain.008 file). Reads, never writes.

The report says, per original message (``OrgnlGrpInfAndSts``), per payment information block
(``OrgnlPmtInfAndSts/OrgnlPmtInfId``) and per transaction (``TxInfAndSts/OrgnlEndToEndId``) whether it was accepted
or rejected (status ``RJCT``) and why (``StsRsnInf/Rsn/Cd``, an ISO 20022 external status reason code). A rejection
at the group or payment-information level rejects every transaction under it, with that level's reason.

Versions: pain.002.001.03 (SEPA 2009 to 2023) and the later ones (pain.002.001.10...), read by element names
whatever the namespace, as long as it is a pain.002 one. The official ISO 20022 XSD is not shipped with Duly (no
copy with a clear licence was available offline); instead each element Duly relies on is checked here and a
missing or wrong one is named, with its line, in a :class:`SepaStatusReportInvalid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from lxml import etree

from duly.domain.errors import SepaStatusReportInvalid

__all__ = ["Rejection", "StatusReport", "read_status_report", "payment_infos"]

REJECTED = "RJCT"
_NS = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:pain\.002\.\d{3}\.\d{2}$")
_CODE = re.compile(r"^[A-Z0-9]{4}$")
_STATUS = re.compile(r"^[A-Z]{4}$")
_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    """A rejected transaction (``end_to_end_id``), or a whole payment information block (``end_to_end_id`` empty)
    or the whole file (both empty)."""

    reason_code: str
    payment_info_id: str = ""
    end_to_end_id: str = ""
    #: Where it is in the file, for messages.
    element: str = ""


@dataclass(frozen=True)
class StatusReport:
    message_id: str
    created_on: date
    original_message_id: str
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _path(el) -> str:
    parts = []
    while el is not None and isinstance(el.tag, str):
        parent = el.getparent()
        name = _local(el)
        if parent is not None:
            same = _children(parent, name)
            if len(same) > 1:
                name = f"{name}[{same.index(el) + 1}]"
        parts.append(name)
        el = parent
    return "/".join(reversed(parts))


def _fail(el, what: str) -> SepaStatusReportInvalid:
    line = getattr(el, "sourceline", None)
    where = f"{_path(el)} (line {line})" if line else _path(el)
    return SepaStatusReportInvalid(f"The pain.002 status report is not valid: {where}: {what}", element=_path(el))


def _one(el, name: str, *, required: bool = True):
    found = _children(el, name)
    if len(found) > 1:
        raise _fail(found[1], f"{name} appears more than once")
    if not found:
        if required:
            raise _fail(el, f"the element {name} is missing")
        return None
    return found[0]


def _text(el, name: str, *, required: bool = True, limit: int = 35) -> str:
    child = _one(el, name, required=required)
    if child is None:
        return ""
    text = (child.text or "").strip()
    if not text or len(text) > limit or len(child):
        raise _fail(child, f"{name} must hold 1 to {limit} characters of text")
    return text


def _reason(el) -> str:
    """The first StsRsnInf/Rsn/Cd under ``el`` (a rejection without one is refused)."""
    info = _children(el, "StsRsnInf")
    if not info:
        raise _fail(el, "a rejection (RJCT) without StsRsnInf/Rsn/Cd: the reason code is missing")
    rsn = _one(info[0], "Rsn")
    code_el = _one(rsn, "Cd", required=False)
    if code_el is None:
        raise _fail(rsn, "only a coded reason (Rsn/Cd) can be acted on; Rsn/Prtry is not an ISO reason code")
    code = (code_el.text or "").strip().upper()
    if not _CODE.match(code):
        raise _fail(code_el, f"{code[:10]!r} is not an ISO reason code (4 letters or digits, e.g. AM04)")
    return code


def _status(el, name: str) -> str:
    text = _text(el, name, required=False, limit=4)
    if text and not _STATUS.match(text):
        raise _fail(_one(el, name), f"{text!r} is not a status code (ACCP, ACSC, PART, PDNG, RJCT...)")
    return text


def read_status_report(data: bytes) -> StatusReport:
    """The rejections a pain.002 report holds. Raises :class:`SepaStatusReportInvalid` naming the element at fault."""
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        raise SepaStatusReportInvalid("The pain.002 status report is empty.")
    if len(data) > _MAX_BYTES:
        raise SepaStatusReportInvalid("The pain.002 status report is larger than 50 MB.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(bytes(data), parser)
    except etree.XMLSyntaxError as exc:
        raise SepaStatusReportInvalid(f"The pain.002 status report is not well-formed XML (line {exc.lineno}): "
                                      f"{exc.msg}") from None
    namespace = etree.QName(root).namespace or ""
    if _local(root) != "Document" or not _NS.match(namespace):
        raise SepaStatusReportInvalid(
            f"The file is not a pain.002 status report: its root is {_local(root)!r} in namespace "
            f"{namespace[:80]!r} (expected Document in urn:iso:std:iso:20022:tech:xsd:pain.002.001.xx).",
            element=_local(root))
    report = _one(root, "CstmrPmtStsRpt")
    header = _one(report, "GrpHdr")
    message_id = _text(header, "MsgId")
    created_el = _one(header, "CreDtTm")
    created_text = (created_el.text or "").strip()
    try:
        created_on = date.fromisoformat(created_text[:10])
    except ValueError:
        raise _fail(created_el, f"{created_text[:30]!r} is not an ISO date and time") from None
    group = _one(report, "OrgnlGrpInfAndSts")
    original = _text(group, "OrgnlMsgId")
    kind = _text(group, "OrgnlMsgNmId")
    if not kind.lower().startswith("pain.008"):
        raise _fail(_one(group, "OrgnlMsgNmId"), f"the report answers a {kind!r} message, not a pain.008 file")
    rejections: list[Rejection] = []
    if _status(group, "GrpSts") == REJECTED:
        rejections.append(Rejection(_reason(group), element=_path(group)))
    for info in _children(report, "OrgnlPmtInfAndSts"):
        info_id = _text(info, "OrgnlPmtInfId")
        if _status(info, "PmtInfSts") == REJECTED:
            rejections.append(Rejection(_reason(info), payment_info_id=info_id, element=_path(info)))
        for tx in _children(info, "TxInfAndSts"):
            if _status(tx, "TxSts") != REJECTED:
                continue
            end_to_end = _text(tx, "OrgnlEndToEndId")
            rejections.append(Rejection(_reason(tx), payment_info_id=info_id, end_to_end_id=end_to_end,
                                        element=_path(tx)))
    return StatusReport(message_id, created_on, original, tuple(rejections))


def payment_infos(pain008: bytes) -> dict[str, list[str]]:
    """The end-to-end ids of each payment information block (``PmtInfId``) of a stored pain.008 file."""
    root = etree.fromstring(bytes(pain008), etree.XMLParser(resolve_entities=False, no_network=True))
    found: dict[str, list[str]] = {}
    for info in root.iter():
        if isinstance(info.tag, str) and _local(info) == "PmtInf":
            ident = _text(info, "PmtInfId")
            found[ident] = [(e.text or "").strip() for e in info.iter() if isinstance(e.tag, str)
                            and _local(e) == "EndToEndId"]
    return found
