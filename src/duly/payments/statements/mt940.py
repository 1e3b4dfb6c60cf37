"""SWIFT MT940 with the ``mt-940`` library (wolph/mt940), one statement per ``:20:`` block.

mt-940 keeps one set of statement fields per parse (a second statement's balances overwrite the first's), so the
file is cut at each ``:20:`` and each block parsed on its own. All of the library's opt-in fixes are on
(``Options.all()``: ``RC``, a reversed credit, is money out; ``:86:`` details are not cut). MT940 bank references
(``//...``) are not unique in practice (``NONREF``), so a line's key is the hash of its content.
"""

from __future__ import annotations

import re

import mt940
from mt940.options import Options

from duly.payments.statements import (
    ParsedLine,
    ParsedStatement,
    content_identifier,
    malformed,
    normalize_account,
)

_STATEMENT_START = re.compile(r"^:20:", re.MULTILINE)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 decodes every byte


def _line_no(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _minor(amount, currency: str, where: str) -> int:
    from duly.payments.statements import parse_amount

    if currency:
        return parse_amount(str(amount), currency, where)
    scaled = amount.scaleb(2)  # no currency in the file: cents until the account's currency is known
    if scaled != scaled.to_integral_value():
        raise malformed(f"{where}: {amount} has more than two decimals and the file gives no currency.")
    return int(scaled)


#: Tags of the structured SEPA ``:86:`` the Dutch banks write (``/EREF/.../BENM//NAME/.../REMI/...``).
_SEPA_TAGS = ("EREF", "MARF", "CSID", "CNTP", "REMI", "RTRN", "BENM", "ORDP", "NAME", "IBAN", "BIC", "ISDT", "PREF",
              "ULTB", "ULTD", "TRTP", "PURP", "ADDR", "SVCL", "CITY", "ID")
_SEPA_TAG = re.compile(r"/(" + "|".join(_SEPA_TAGS) + r")/")


def structured_details(details: str) -> dict[str, str]:
    """The sub-fields of a structured ``:86:`` (``/TAG/value/TAG/value``), {} for free text. Lines are joined
    without a space: the bank wraps the field at 65 characters, mid-word."""
    text = details.replace("\r", "").replace("\n", "")
    matches = list(_SEPA_TAG.finditer(text))
    if not matches or matches[0].start() != 0:
        return {}
    fields: dict[str, str] = {}
    for match, following in zip(matches, matches[1:] + [None]):
        value = text[match.end():following.start() if following is not None else len(text)]
        fields.setdefault(match.group(1), value.strip("/").strip())
    if "CNTP" in fields:  # ING: /CNTP/iban/bic/name/city/
        parts = (fields["CNTP"].split("/") + ["", "", ""])[:3]
        fields.setdefault("IBAN", parts[0])
        fields.setdefault("BIC", parts[1])
        fields.setdefault("NAME", parts[2])
    return fields


def _remittance(fields: dict[str, str]) -> tuple[str, str]:
    """(structured creditor reference, free text) of a structured ``:86:``."""
    remi = fields.get("REMI", "")
    if remi.startswith("STRD/"):  # /REMI/STRD/CUR/RF18539007547034/
        return remi.rsplit("/", 1)[-1].strip(), ""
    if remi.startswith("USTD/"):
        remi = remi[5:].lstrip("/")
    return "", remi


def _processors():
    return {"post_transaction_details": [mt940.processors.transaction_details_post_processor]}


def _statement(block: str, text: str, start: int, number: int, fallback_currency: str) -> ParsedStatement:
    transactions = mt940.models.Transactions(processors=_processors(), options=Options.all())
    try:
        transactions.parse(block)
    except RuntimeError as err:
        tag = err.args[1] if len(err.args) > 1 else None
        value = err.args[2] if len(err.args) > 2 else ""
        offset = block.find(value[:40]) if value else -1
        line = _line_no(text, start + max(offset, 0))
        name = f":{tag.id}:" if tag is not None and getattr(tag, "id", None) else "a field"
        raise malformed(f"line {line}: {name} cannot be read ({value[:60]!r}).") from None
    except (ValueError, KeyError, IndexError, ArithmeticError) as err:
        raise malformed(f"statement {number} (line {_line_no(text, start)}): it cannot be read "
                        f"({type(err).__name__}).") from None
    head = transactions.data
    opening = head.get("final_opening_balance") or head.get("intermediate_opening_balance")
    closing = head.get("final_closing_balance") or head.get("intermediate_closing_balance")
    currency = ""
    for balance in (opening, closing):
        if balance is not None and balance.amount.currency:
            currency = balance.amount.currency.upper()
            break
    if not currency:
        currency = next((t.data["amount"].currency.upper() for t in transactions if t.data.get("amount")
                         and t.data["amount"].currency), "") or fallback_currency
    where = f"statement {number} (line {_line_no(text, start)})"
    lines = []
    for index, tx in enumerate(transactions, start=1):
        data = tx.data
        if "amount" not in data:
            continue
        line_where = f"{where}, :61: {index}"
        booking = data.get("entry_date") or data.get("date")
        details = (data.get("transaction_details") or "").strip()
        raw = {k: str(data[k]) for k in ("status", "id", "customer_reference", "bank_reference", "extra_details",
                                         "transaction_details", "gvc", "posting_text", "prima_nota")
               if data.get(k) not in (None, "")}
        purpose = (data.get("purpose") or "").strip()
        sepa = structured_details(details)
        structured, free = _remittance(sepa)
        end_to_end = data.get("end_to_end_reference") or sepa.get("EREF", "")
        lines.append(ParsedLine(
            booking_date=booking, value_date=data.get("date"),
            amount_minor=_minor(data["amount"].amount, currency, line_where), currency=currency,
            end_to_end_id=("" if end_to_end.upper() == "NOTPROVIDED" else end_to_end)[:35],
            counterparty_name=(data.get("applicant_name") or sepa.get("NAME", ""))[:140],
            counterparty_iban=normalize_account(data.get("applicant_iban") or sepa.get("IBAN"))[:34],
            counterparty_bic=(data.get("applicant_bin") or sepa.get("BIC", ""))[:11],
            remittance_structured=structured[:140],
            remittance_unstructured=purpose or free or (details if not sepa else ""),
            bank_transaction_code=(data.get("id") or "")[:64],
            return_reason_code=sepa.get("RTRN", "")[:35],
            where=line_where, raw=raw,
        ))
    ref = (head.get("transaction_reference") or "").strip()
    seq = "/".join(filter(None, [head.get("statement_number"), head.get("sequence_number")]))
    dates = [line.booking_date for line in lines]
    return ParsedStatement(
        format="mt940", account=normalize_account(head.get("account_identification")), currency=currency,
        identifier=content_identifier(" ".join(filter(None, [ref, seq]))[:100], block), lines=tuple(lines),
        opening_balance_minor=_minor(opening.amount.amount, currency, where) if opening is not None else None,
        closing_balance_minor=_minor(closing.amount.amount, currency, where) if closing is not None else None,
        from_date=opening.date if opening is not None else (min(dates) if dates else None),
        to_date=closing.date if closing is not None else (max(dates) if dates else None),
        where=where + (f" :20:{ref}" if ref else ""),
    )


def parse(data: bytes, fallback_currency: str = "") -> tuple[list[ParsedStatement], str]:
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    if not starts:
        starts = [0]
    starts[0] = 0  # what comes before the first :20: (a SWIFT header block) belongs to the first statement
    bounds = list(zip(starts, starts[1:] + [len(text)]))
    statements = [_statement(text[a:b], text, a, n, fallback_currency) for n, (a, b) in enumerate(bounds, start=1)]
    if not any(s.lines or s.opening_balance_minor is not None or s.closing_balance_minor is not None
               for s in statements):
        if not re.search(r"^:(6[012][FM]?|61|86):", text, re.MULTILINE):
            raise malformed("line 1: no MT940 statement (:60F:, :61: or :62F:) was found.")
    return statements, "mt940"
