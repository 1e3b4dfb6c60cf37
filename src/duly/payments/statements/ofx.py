"""OFX 1.x (SGML, leaf elements without closing tags) and OFX 2.x (XML) bank and credit-card statements.

A small tolerant reader of its own (docs/bank-statements.md says why not ofxtools or ofxparse): it builds the
element tree from the tags, reads every ``STMTRS`` / ``CCSTMTRS`` and refuses what it cannot read with the line
number. ``FITID`` is the bank's unique id of a transaction in the account (OFX spec 11.4.3), so it is the key.
``LEDGERBAL`` is the closing balance; OFX gives no opening balance.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from duly.payments.statements import (
    ParsedLine,
    ParsedStatement,
    checked_currency,
    content_identifier,
    malformed,
    normalize_account,
    parse_amount,
)

_TOKEN = re.compile(r"<(/?)([A-Za-z0-9._]+)>([^<]*)")
_MAX_DEPTH = 64


class _Node:
    __slots__ = ("name", "line", "children", "fields")

    def __init__(self, name: str, line: int):
        self.name, self.line, self.children, self.fields = name, line, [], {}

    def find(self, *path):
        node = self
        for name in path:
            node = next((c for c in node.children if c.name == name), None)
            if node is None:
                return None
        return node

    def find_all(self, name):
        for child in self.children:
            if child.name == name:
                yield child
            yield from child.find_all(name)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, (default, 0))[0]


def _tree(text: str) -> _Node:
    start = text.upper().find("<OFX>")
    if start < 0:
        raise malformed("line 1: no <OFX> element was found.")
    root = _Node("ROOT", 1)
    stack = [root]
    line = text.count("\n", 0, start) + 1
    pos = start
    last_leaf = None
    for match in _TOKEN.finditer(text, start):
        line += text.count("\n", pos, match.start())
        pos = match.start()
        closing, name, value = match.group(1), match.group(2).upper(), match.group(3).strip()
        if closing:
            if last_leaf == name:
                last_leaf = None
                continue
            names = [n.name for n in stack]
            if name not in names[1:]:
                raise malformed(f"line {line}: </{name}> closes an element that is not open.")
            while stack[-1].name != name:
                stack.pop()
            stack.pop()
            last_leaf = None
        elif value:
            if "&" in value:  # OFX escapes these three in SGML and XML alike
                value = value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            stack[-1].fields[name] = (value, line)
            last_leaf = name
        else:
            node = _Node(name, line)
            stack[-1].children.append(node)
            stack.append(node)
            last_leaf = None
            if len(stack) > _MAX_DEPTH:
                raise malformed(f"line {line}: elements are nested too deeply.")
    if len(stack) > 1:  # every aggregate closes, in SGML too: one still open means the file was cut
        raise malformed(f"line {line}: the file ends inside <{stack[-1].name}> (truncated?).")
    ofx = root.find("OFX")
    if ofx is None:
        raise malformed("line 1: no <OFX> element was found.")
    return ofx


def _date(node: _Node, name: str, required: bool = True) -> date | None:
    value, line = node.fields.get(name, ("", node.line))
    if not value:
        if required:
            raise malformed(f"line {node.line}: <{node.name}> has no <{name}>.")
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise malformed(f"line {line}: <{name}> {value!r} is not a date.") from None


def _amount(node: _Node, name: str, currency: str) -> int:
    value, line = node.fields.get(name, ("", node.line))
    if not value:
        raise malformed(f"line {node.line}: <{node.name}> has no <{name}>.")
    return parse_amount(value, currency, f"line {line}: <{name}>")


def _statement(rs: _Node, number: int, text: str) -> ParsedStatement:
    currency = checked_currency(rs.get("CURDEF"), f"line {rs.fields.get('CURDEF', ('', rs.line))[1]}: <CURDEF>")
    acct = rs.find("BANKACCTFROM") or rs.find("CCACCTFROM")
    if acct is None:
        raise malformed(f"line {rs.line}: <{rs.name}> has no <BANKACCTFROM>.")
    account = normalize_account(acct.get("ACCTID"))
    if not account:
        raise malformed(f"line {acct.line}: <{acct.name}> has no <ACCTID>.")
    tranlist = rs.find("BANKTRANLIST")
    lines = []
    for index, tx in enumerate(tranlist.find_all("STMTTRN") if tranlist is not None else [], start=1):
        where = f"line {tx.line}: <STMTTRN>"
        amount = _amount(tx, "TRNAMT", currency)
        posted = _date(tx, "DTPOSTED")
        payee = tx.find("PAYEE")
        name = tx.get("NAME") or (payee.get("NAME") if payee is not None else "")
        original_currency, original_minor, rate = "", None, None
        foreign = tx.find("ORIGCURRENCY") or tx.find("CURRENCY")
        if foreign is not None and foreign.get("CURSYM") and foreign.get("CURSYM").upper() != currency:
            original_currency = checked_currency(foreign.get("CURSYM"), f"line {foreign.line}: <CURSYM>")
            try:
                rate = Decimal(foreign.get("CURRATE").replace(",", "."))
            except InvalidOperation:
                raise malformed(f"line {foreign.line}: <CURRATE> is not a number.") from None
        bank_acct = tx.find("BANKACCTTO")
        raw = {k: tx.get(k) for k in ("TRNTYPE", "FITID", "CHECKNUM", "REFNUM", "SIC", "PAYEEID", "CORRECTFITID")
               if tx.get(k)}
        raw["source_line"] = tx.line
        lines.append(ParsedLine(
            booking_date=posted, value_date=_date(tx, "DTUSER", required=False) or posted,
            amount_minor=amount, currency=currency, bank_reference=tx.get("FITID")[:180],
            counterparty_name=name[:140],
            counterparty_iban=normalize_account(bank_acct.get("ACCTID"))[:34] if bank_acct is not None else "",
            remittance_unstructured=tx.get("MEMO"), bank_transaction_code=tx.get("TRNTYPE")[:64],
            original_amount_minor=original_minor, original_currency=original_currency, exchange_rate=rate,
            where=where, raw=raw,
        ))
    ledger = rs.find("LEDGERBAL")
    closing = _amount(ledger, "BALAMT", currency) if ledger is not None else None
    from_date = _date(tranlist, "DTSTART", required=False) if tranlist is not None else None
    to_date = _date(tranlist, "DTEND", required=False) if tranlist is not None else None
    block = "|".join(line.unique_key or line.bank_reference or str(line.amount_minor) for line in lines)
    return ParsedStatement(
        format="ofx", account=account, currency=currency,
        identifier=content_identifier(f"{from_date or ''}..{to_date or ''}", f"{account}|{block}|{closing}"),
        lines=tuple(lines), opening_balance_minor=None, closing_balance_minor=closing, from_date=from_date,
        to_date=to_date, where=f"line {rs.line}: <{rs.name}> {number}",
    )


def parse(data: bytes) -> tuple[list[ParsedStatement], str]:
    text = data.decode("utf-8", errors="replace") if b"UTF-8" in data[:300].upper() else data.decode("cp1252",
                                                                                                       "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    ofx = _tree(text)
    statements = list(ofx.find_all("STMTRS")) + list(ofx.find_all("CCSTMTRS"))
    if not statements:
        raise malformed(f"line {ofx.line}: the file holds no bank statement (<STMTRS>).")
    return [_statement(rs, n, text) for n, rs in enumerate(statements, start=1)], "ofx"
