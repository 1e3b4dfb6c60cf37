"""CSV exports, read with the column mapping saved on the bank account (``BankAccount.csv_mapping``).

The mapping names the columns by their header: ``booking_date`` and either ``amount`` (signed) or ``credit`` and
``debit`` (both positive) are required; ``value_date``, ``currency``, ``counterparty_name``, ``counterparty_iban``,
``remittance``, ``reference`` (the bank's id of the line), ``end_to_end_id`` are optional. Options:
``delimiter`` (default: sniffed among ``,;\\t``), ``date_format`` (default ``%Y-%m-%d``), ``decimal_comma``
(``true`` for ``1.234,56``), ``encoding`` (default ``utf-8``, then ``cp1252``), ``skip_rows`` (lines before
the header). A CSV export has no balances; the whole file is one statement, identified by its content hash.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from duly.payments.statements import (
    ParsedLine,
    ParsedStatement,
    checked_currency,
    content_identifier,
    malformed,
    normalize_account,
    parse_amount,
)

MAPPING_FIELDS = ("booking_date", "value_date", "amount", "credit", "debit", "currency", "counterparty_name",
                  "counterparty_iban", "remittance", "reference", "end_to_end_id")
MAPPING_OPTIONS = ("delimiter", "date_format", "decimal_comma", "encoding", "skip_rows")


def check_mapping(mapping: dict) -> dict:
    """A column mapping as saved on an account: known keys only, the required columns present."""
    if not isinstance(mapping, dict):
        raise malformed("The CSV column mapping must be an object.", code="statement_mapping_missing")
    unknown = sorted(set(mapping) - set(MAPPING_FIELDS) - set(MAPPING_OPTIONS))
    if unknown:
        raise malformed(f"Unknown CSV mapping keys: {', '.join(unknown)}.", code="statement_mapping_missing")
    if not mapping.get("booking_date") or not (mapping.get("amount") or (mapping.get("credit")
                                                                        and mapping.get("debit"))):
        raise malformed("The CSV column mapping needs booking_date and amount (or credit and debit).",
                        code="statement_mapping_missing")
    return mapping


def _decode(data: bytes, encoding: str | None) -> str:
    for candidate in ([encoding] if encoding else ["utf-8-sig", "cp1252"]):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    raise malformed(f"The file is not text in {encoding or 'UTF-8 or Windows-1252'}.")


def _date(value: str, fmt: str, where: str) -> date:
    try:
        return datetime.strptime(value.strip(), fmt).date()
    except ValueError:
        raise malformed(f"{where}: {value!r} is not a date like {fmt}.") from None


def parse(data: bytes, mapping: dict, currency: str) -> list[ParsedStatement]:
    mapping = check_mapping(mapping)
    text = _decode(data, mapping.get("encoding"))
    rows_text = text.splitlines(keepends=True)[int(mapping.get("skip_rows") or 0):]
    body = "".join(rows_text)
    delimiter = mapping.get("delimiter")
    if not delimiter:
        try:
            delimiter = csv.Sniffer().sniff(body[:4096], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.DictReader(io.StringIO(body, newline=""), delimiter=delimiter)
    try:
        header = reader.fieldnames or []
    except csv.Error as err:
        raise malformed(f"line {reader.line_num + int(mapping.get('skip_rows') or 0)}: {err}.") from None
    missing = [mapping[k] for k in MAPPING_FIELDS if mapping.get(k) and mapping[k] not in header]
    if missing:
        raise malformed(f"line 1: the file has no column {', '.join(repr(m) for m in missing)}.")
    fmt = mapping.get("date_format") or "%Y-%m-%d"
    comma = str(mapping.get("decimal_comma", "")).lower() in ("1", "true", "yes")
    base_currency = currency
    lines = []
    offset = int(mapping.get("skip_rows") or 0)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise malformed(f"line {reader.line_num + offset}: {err}.") from None
    for number, row in enumerate(rows, start=2):
        where = f"line {number + offset}"
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        line_currency = checked_currency(row.get(mapping["currency"]) if mapping.get("currency") else base_currency,
                                         f"{where}: currency")
        if mapping.get("amount"):
            amount = parse_amount(row.get(mapping["amount"]), line_currency, f"{where}: amount", comma_decimal=comma)
        else:
            credit = (row.get(mapping["credit"]) or "").strip()
            debit = (row.get(mapping["debit"]) or "").strip()
            amount = (parse_amount(credit, line_currency, f"{where}: credit", comma_decimal=comma) if credit else 0) \
                - (abs(parse_amount(debit, line_currency, f"{where}: debit", comma_decimal=comma)) if debit else 0)
        value = row.get(mapping["value_date"], "") if mapping.get("value_date") else ""
        lines.append(ParsedLine(
            booking_date=_date(row.get(mapping["booking_date"]) or "", fmt, f"{where}: booking date"),
            value_date=_date(value, fmt, f"{where}: value date") if value.strip() else None,
            amount_minor=amount, currency=line_currency,
            bank_reference=(row.get(mapping["reference"]) or "").strip() if mapping.get("reference") else "",
            end_to_end_id=(row.get(mapping.get("end_to_end_id") or "", "") or "").strip()[:35],
            counterparty_name=(row.get(mapping.get("counterparty_name") or "", "") or "").strip()[:140],
            counterparty_iban=normalize_account(row.get(mapping.get("counterparty_iban") or "", ""))[:34],
            remittance_unstructured=(row.get(mapping.get("remittance") or "", "") or "").strip(),
            where=where, raw={},
        ))
    currencies = {line.currency for line in lines} or {base_currency}
    return [ParsedStatement(format="csv", account="", currency=sorted(currencies)[0] if len(currencies) == 1
                            else ",".join(sorted(currencies)), identifier=content_identifier("csv", data),
                            lines=tuple(lines), where="the CSV file",
                            from_date=min((l.booking_date for l in lines), default=None),
                            to_date=max((l.booking_date for l in lines), default=None))]
