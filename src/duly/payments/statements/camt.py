"""ISO 20022 camt.052 / camt.053 / camt.054 (every version from .001.02 on), read with lxml.

Elements are matched by local name, so one reader serves every version: version 2 writes ``Dbtr/Nm`` and
``FinInstnId/BIC``, version 8 and later ``Dbtr/Pty/Nm`` and ``FinInstnId/BICFI``; both are read.

A batch entry (``NtryDtls`` with several ``TxDtls``) is split into one line per transaction, each with its own
amount (``TxDtls/AmtDtls/TxAmt/Amt``, else ``TxDtls/Amt`` in the account's currency). When the transactions'
amounts are missing or do not add up to the entry's amount, the entry is kept as one line: splitting it would
invent amounts (the mistake OCA's importer makes, bank-statement-import #157).
"""

from __future__ import annotations

import io
import re
from datetime import date

from lxml import etree

from duly.payments.statements import (
    ParsedLine,
    ParsedStatement,
    checked_currency,
    content_identifier,
    malformed,
    normalize_account,
    parse_amount,
)

_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True,
                       remove_pis=True)
#: Balance types that open and close a statement (ISO 20022 external balance type codes).
_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)
_ROOTS = {"BkToCstmrStmt": ("Stmt", "camt.053"), "BkToCstmrDbtCdtNtfctn": ("Ntfctn", "camt.054"),
          "BkToCstmrAcctRpt": ("Rpt", "camt.053")}


def _local(el) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _strip_namespaces(root) -> None:
    """Name every element by its local name (every camt version has its own namespace)."""
    for el in root.iter():
        tag = el.tag
        if isinstance(tag, str) and tag[:1] == "{":
            el.tag = tag.rsplit("}", 1)[-1]


def _child(el, *path):
    """The first descendant along ``path`` of local names, or None."""
    if el is None:
        return None
    return el.find("/".join(path))


def _children(el, name):
    return el.findall(name) if el is not None else []


def _text(el, *path) -> str:
    found = _child(el, *path)
    return (found.text or "").strip() if found is not None else ""


def _where(el) -> str:
    return f"line {el.sourceline}: <{_local(el)}>"


def _date(el, where: str) -> date | None:
    """``<Dt>2024-01-05</Dt>`` or ``<DtTm>2024-01-05T10:00:00</DtTm>`` inside ``el``."""
    if el is None:
        return None
    text = _text(el, "Dt") or _text(el, "DtTm")[:10]
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise malformed(f"{where}: {text!r} is not a date.") from None


def _signed_amount(amt_el, indicator: str, where: str) -> tuple[int, str]:
    if amt_el is None:
        raise malformed(f"{where} has no <Amt>.")
    currency = checked_currency(amt_el.get("Ccy"), f"{_where(amt_el)} Ccy")
    minor = parse_amount(amt_el.text, currency, _where(amt_el))
    if minor < 0:
        raise malformed(f"{_where(amt_el)}: amounts are written without sign (CdtDbtInd gives it).")
    if indicator == "DBIT":
        return -minor, currency
    if indicator == "CRDT":
        return minor, currency
    raise malformed(f"{where}: <CdtDbtInd> is {indicator!r}, not CRDT or DBIT.")


def _bic(agent) -> str:
    return _text(agent, "FinInstnId", "BICFI") or _text(agent, "FinInstnId", "BIC")


def _party_name(parties, role) -> str:
    return _text(parties, role, "Pty", "Nm") or _text(parties, role, "Nm")


def _account_id(acct) -> str:
    return _text(acct, "Id", "IBAN") or _text(acct, "Id", "Othr", "Id")


def _code(bktxcd) -> str:
    if bktxcd is None:
        return ""
    domain = _child(bktxcd, "Domn")
    if domain is not None:
        parts = [_text(domain, "Cd"), _text(domain, "Fmly", "Cd"), _text(domain, "Fmly", "SubFmlyCd")]
        return "-".join(p for p in parts if p)
    return _text(bktxcd, "Prtry", "Cd")


def _tx_amount(tx, currency: str, indicator: str):
    """The transaction's amount in the account's currency, or None; plus its instructed (original) amount."""
    details = _child(tx, "AmtDtls")
    amount = None
    for path in (("TxAmt", "Amt"), ("CntrValAmt", "Amt")):
        el = _child(details, *path)
        if el is not None and el.get("Ccy") == currency:
            amount = el
            break
    if amount is None:
        el = _child(tx, "Amt")
        if el is not None and el.get("Ccy") == currency:
            amount = el
    original = None
    instructed = _child(details, "InstdAmt", "Amt")
    if instructed is not None and instructed.get("Ccy") and instructed.get("Ccy") != currency:
        original = instructed
    rate_text = ""
    for path in (("InstdAmt", "CcyXchg", "XchgRate"), ("TxAmt", "CcyXchg", "XchgRate"),
                 ("CntrValAmt", "CcyXchg", "XchgRate")):
        rate_text = rate_text or _text(details, *path)
    tx_indicator = _text(tx, "CdtDbtInd") or indicator
    value = None
    if amount is not None:
        value, _ = _signed_amount(amount, tx_indicator, _where(tx))
    return value, original, rate_text


def _line_from(entry, tx, amount_minor: int, currency: str, where: str, entry_ref: str) -> ParsedLine:
    from decimal import Decimal, InvalidOperation

    booking = _date(_child(entry, "BookgDt"), _where(entry)) or _date(_child(entry, "ValDt"), _where(entry))
    if booking is None:
        raise malformed(f"{_where(entry)} has neither <BookgDt> nor <ValDt>.")
    value_date = _date(_child(entry, "ValDt"), _where(entry))
    incoming = amount_minor >= 0
    parties = _child(tx, "RltdPties")
    agents = _child(tx, "RltdAgts")
    other, other_acct, other_agent = ("Dbtr", "DbtrAcct", "DbtrAgt") if incoming else ("Cdtr", "CdtrAcct", "CdtrAgt")
    remittance = _child(tx, "RmtInf")
    unstructured = " ".join(filter(None, (((u.text or "").strip()) for u in _children(remittance, "Ustrd"))))
    structured = ""
    for strd in _children(remittance, "Strd"):
        structured = structured or _text(strd, "CdtrRefInf", "Ref") or _text(strd, "RfrdDocInf", "Nb")
    if not unstructured:
        unstructured = _text(tx, "AddtlTxInf") or _text(entry, "AddtlNtryInf")
    return_info = _child(tx, "RtrInf")
    reason = _text(return_info, "Rsn", "Cd") or _text(return_info, "Rsn", "Prtry")
    end_to_end = _text(tx, "Refs", "EndToEndId")
    if end_to_end.upper() == "NOTPROVIDED":
        end_to_end = ""
    original_minor = original_currency = ""
    rate = None
    if tx is not None:
        _, original, rate_text = _tx_amount(tx, currency, "CRDT" if incoming else "DBIT")
        if original is not None:
            original_currency = checked_currency(original.get("Ccy"), _where(original))
            original_minor = parse_amount(original.text, original_currency, _where(original))
            original_minor = original_minor if incoming else -original_minor
            if rate_text:
                try:
                    rate = Decimal(rate_text)
                except InvalidOperation:
                    raise malformed(f"{_where(tx)}: exchange rate {rate_text!r} is not a number.") from None
    raw = {"entry_ref": _text(entry, "NtryRef"), "acct_svcr_ref": _text(entry, "AcctSvcrRef"),
           "status": _text(entry, "Sts") or _text(entry, "Sts", "Cd"),
           "reversal": _text(entry, "RvslInd").lower() == "true", "instr_id": _text(tx, "Refs", "InstrId"),
           "mandate_id": _text(tx, "Refs", "MndtId"), "tx_acct_svcr_ref": _text(tx, "Refs", "AcctSvcrRef"),
           "additional": _text(tx, "AddtlTxInf") or _text(entry, "AddtlNtryInf"), "source_line": entry.sourceline,
           # the batch a collection credit books (a pain.008's MsgId and PmtInfId), for the SEPA debits it settles
           "batch_msg_id": _text(entry, "NtryDtls", "Btch", "MsgId") or _text(tx, "Refs", "MsgId"),
           "batch_pmt_inf_id": _text(entry, "NtryDtls", "Btch", "PmtInfId") or _text(tx, "Refs", "PmtInfId")}
    return ParsedLine(
        booking_date=booking, value_date=value_date, amount_minor=amount_minor, currency=currency,
        bank_reference=entry_ref, end_to_end_id=end_to_end[:35],
        counterparty_name=_party_name(parties, other)[:140],
        counterparty_iban=normalize_account(_account_id(_child(parties, other_acct)))[:34],
        counterparty_bic=_bic(_child(agents, other_agent))[:11],
        remittance_structured=structured[:140], remittance_unstructured=unstructured,
        bank_transaction_code=(_code(_child(tx, "BkTxCd")) or _code(_child(entry, "BkTxCd")))[:64],
        return_reason_code=reason[:35],
        original_amount_minor=original_minor if original_currency else None, original_currency=original_currency,
        exchange_rate=rate, where=where, raw={k: v for k, v in raw.items() if v not in ("", None, False)},
    )


def _entry_lines(entry, index: int, currency: str) -> list[ParsedLine]:
    where = _where(entry)
    indicator = _text(entry, "CdtDbtInd")
    amount, entry_currency = _signed_amount(_child(entry, "Amt"), indicator, where)
    if entry_currency != currency:
        raise malformed(f"{where}: the entry is in {entry_currency}, the account in {currency}.")
    txs = [tx for details in _children(entry, "NtryDtls") for tx in _children(details, "TxDtls")]
    entry_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    if len(txs) > 1:
        amounts = [_tx_amount(tx, currency, indicator)[0] for tx in txs]
        if all(a is not None for a in amounts) and sum(amounts) == amount:
            lines = []
            for n, (tx, tx_amount) in enumerate(zip(txs, amounts), start=1):
                tx_ref = _text(tx, "Refs", "AcctSvcrRef")
                ref = f"{entry_ref}/{n}" if entry_ref else ""
                if tx_ref and tx_ref != entry_ref:
                    ref = f"{entry_ref}/{tx_ref}" if entry_ref else tx_ref
                lines.append(_line_from(entry, tx, tx_amount, currency, f"Ntry {index} TxDtls {n}", ref))
            return lines
    if len(txs) > 1:
        # kept whole: no one transaction's payer or reference speaks for the batch (the review shows its parts)
        line = _line_from(entry, None, amount, currency, f"Ntry {index}", entry_ref)
        parts = [{"name": _party_name(_child(tx, "RltdPties"), "Dbtr" if amount >= 0 else "Cdtr"),
                  "text": " ".join((u.text or "").strip() for u in _children(_child(tx, "RmtInf"), "Ustrd")),
                  "reference": _text(tx, "RmtInf", "Strd", "CdtrRefInf", "Ref"),
                  "amount": _text(tx, "Amt") or _text(tx, "AmtDtls", "TxAmt", "Amt")} for tx in txs]
        line.raw["batch_parts"] = parts
        return [line]
    return [_line_from(entry, txs[0] if txs else None, amount, currency, f"Ntry {index}", entry_ref)]


def _balance(statement, codes, currency: str):
    for bal in _children(statement, "Bal"):
        code = _text(bal, "Tp", "CdOrPrtry", "Cd") or _text(bal, "Tp", "CdOrPrtry", "Prtry")
        if code in codes:
            minor, bal_currency = _signed_amount(_child(bal, "Amt"), _text(bal, "CdtDbtInd"), _where(bal))
            if bal_currency != currency:
                continue  # a balance in another currency is no balance of this account (not checked)
            return minor, _date(_child(bal, "Dt"), _where(bal)) if _child(bal, "Dt") is not None else None
    return None, None


def _account_and_currency(el, known: str = "") -> tuple[str, str]:
    acct = _child(el, "Acct")
    if acct is None:
        raise malformed(f"{_where(el)} has no <Acct>.")
    currency_text = _text(acct, "Ccy") or known
    if not currency_text:
        first = next((c for c in el.iter("Amt", "{*}Amt") if c.get("Ccy")), None)
        currency_text = first.get("Ccy") if first is not None else ""
    if not currency_text:
        raise malformed(f"{_where(el)}: the account's currency is not given (<Acct><Ccy>).")
    return normalize_account(_account_id(acct)), checked_currency(currency_text, f"{_where(acct)} <Ccy>")


def _statement(el, fmt: str, number: int, lines: list[ParsedLine], currency: str = "") -> ParsedStatement:
    """The statement ``el`` (its entries already read into ``lines``, in ``currency``, and removed from the
    tree)."""
    account, currency = _account_and_currency(el, currency)
    opening, opening_date = _balance(el, _OPENING, currency)
    closing, closing_date = _balance(el, _CLOSING, currency)
    period = _child(el, "FrToDt")
    if period is not None:
        from_text = _text(period, "FrDtTm")[:10] or _text(period, "FrDt")
        to_text = _text(period, "ToDtTm")[:10] or _text(period, "ToDt")
        try:
            from_date = date.fromisoformat(from_text) if from_text else None
            to_date = date.fromisoformat(to_text) if to_text else None
        except ValueError:
            raise malformed(f"{_where(period)}: the period's dates are not dates.") from None
    else:
        dates = [line.booking_date for line in lines]
        from_date = opening_date or (min(dates) if dates else None)
        to_date = closing_date or (max(dates) if dates else None)
    stmt_id = _text(el, "Id")
    identifier = stmt_id[:140] if stmt_id else content_identifier(
        fmt, etree.tostring(el) + "|".join(line.content_key() for line in lines).encode())
    return ParsedStatement(format=fmt, account=account, currency=currency, identifier=identifier, lines=tuple(lines),
                           opening_balance_minor=opening, closing_balance_minor=closing, from_date=from_date,
                           to_date=to_date, where=f"<{_local(el)}> {number} ({stmt_id or 'no Id'})")


#: The default namespace declaration of a camt document (one per version). Dropping it before parsing (the
#: element names and lines stay the same) spares renaming every element afterwards, a third of the reading time.
_DEFAULT_NS = re.compile(rb'\sxmlns="urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.001\.[0-9]{2}"')
_STATEMENT_TAGS = {tag for tag, _ in _ROOTS.values()}


def parse(data: bytes) -> tuple[list[ParsedStatement], str]:
    """Read the file as a stream: each entry is turned into lines and dropped from the tree at its end tag, so a
    large statement never sits in memory as a whole tree (a 47 MB file: ~390 MB less)."""
    head = data[:4096]
    match = _DEFAULT_NS.search(head)
    if match is not None and head.count(b'xmlns="') == 1:
        data = data[:match.start()] + data[match.end():]
    events = etree.iterparse(io.BytesIO(data), events=("end",), tag=("{*}Ntry", "{*}Stmt", "{*}Ntfctn", "{*}Rpt"),
                             **_PARSER_OPTIONS)
    statements: list[ParsedStatement] = []
    fmt = None
    current = None  # (statement element, its currency, its lines, entry count)
    try:
        for _, el in events:
            if el.tag[:1] == "{":
                _strip_namespaces(el)
            parent = el.getparent()
            if el.tag == "Ntry":
                if parent is None or _local(parent) not in _STATEMENT_TAGS:
                    continue
                if current is None or current[0] is not parent:
                    if parent.tag[:1] == "{":
                        _strip_namespaces(parent)  # its account and balances, read now
                    current = (parent, _account_and_currency(parent)[1], [], [0])
                current[3][0] += 1
                status = _text(el, "Sts") or _text(el, "Sts", "Cd")
                if not status or status == "BOOK":  # pending or information-only entries have not moved money
                    current[2].extend(_entry_lines(el, current[3][0], current[1]))
                parent.remove(el)
            elif parent is not None and _local(parent) in _ROOTS and _ROOTS[_local(parent)][0] == el.tag:
                fmt = _ROOTS[_local(parent)][1]
                ours = current is not None and current[0] is el
                statements.append(_statement(el, fmt, len(statements) + 1, current[2] if ours else [],
                                             current[1] if ours else ""))
                current = None
                parent.remove(el)
        root = events.root
    except etree.XMLSyntaxError as err:
        line = err.lineno or (err.position[0] if err.position else "?")
        raise malformed(f"line {line}: the file is not well-formed XML ({err.msg}).") from None
    if not statements:
        if root.tag[:1] == "{":
            _strip_namespaces(root)
        body = root if _local(root) in _ROOTS else next((c for c in root if _local(c) in _ROOTS), None)
        if body is None:
            raise malformed(f"line {root.sourceline}: <{_local(root)}> holds no camt.052, camt.053 or camt.054 "
                            "message.")
        raise malformed(f"{_where(body)} holds no <{_ROOTS[_local(body)][0]}>.")
    return statements, fmt
