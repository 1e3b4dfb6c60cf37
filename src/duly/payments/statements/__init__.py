"""Bank statement readers: a file's bytes in, plain dataclasses out (no database, no Django).

``parse_bytes(data)`` recognises camt.052/053/054, MT940 and OFX by their content; CSV needs the account's column
mapping (``parse_bytes(data, csv_mapping=..., currency=...)``). A file that cannot be read raises
:class:`~duly.domain.errors.StatementMalformed` naming the line or element at fault. Amounts are signed integer
minor units in the statement's currency (+ money in, - money out).

Every line gets a ``unique_key``: the bank's own reference for it where the format has one (camt AcctSvcrRef or
NtryRef, OFX FITID), else a hash of its content; a key met twice in one file gets ``#2``, ``#3``... so two
identical card payments on one day stay two lines, and importing the same file again yields the same keys.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from duly.domain.errors import StatementMalformed, ValidationError
from duly.domain.money import check_currency, to_minor

_MT940_TAG = re.compile(rb"(?m)^:(20|25|28C?|6[0-5][FM]?|86|NS):")
FORMATS = ("camt.053", "camt.054", "mt940", "ofx", "csv")
#: Refuse larger files before reading them (a month of a busy account is a few MB).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Raw fields left out of a line's content hash: where it was in the file, and fields read since the first imports
#: (so a file imported before them hashes to the same keys and is not imported twice).
_NOT_HASHED = frozenset({"source_line", "batch_msg_id", "batch_pmt_inf_id"})


@dataclass(frozen=True)
class ParsedLine:
    booking_date: date
    amount_minor: int
    currency: str
    value_date: date | None = None
    #: The bank's reference for this movement ("" when the format or the bank gives none).
    bank_reference: str = ""
    end_to_end_id: str = ""
    counterparty_name: str = ""
    counterparty_iban: str = ""
    counterparty_bic: str = ""
    remittance_structured: str = ""
    remittance_unstructured: str = ""
    bank_transaction_code: str = ""
    return_reason_code: str = ""
    original_amount_minor: int | None = None
    original_currency: str = ""
    exchange_rate: Decimal | None = None
    #: Where in the file the line came from ("line 12", "Ntry 3 TxDtls 2") and its raw fields (JSON-safe).
    where: str = ""
    raw: dict = field(default_factory=dict, compare=False)
    unique_key: str = ""

    def content_key(self) -> str:
        parts = [self.booking_date.isoformat(), str(self.amount_minor), self.currency, self.end_to_end_id,
                 self.counterparty_name, self.counterparty_iban, self.remittance_structured,
                 self.remittance_unstructured, self.bank_transaction_code,
                 repr(sorted((k, v) for k, v in self.raw.items() if k not in _NOT_HASHED))]
        return "h:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class ParsedStatement:
    format: str
    #: The account as the file names it (IBAN, or the bank's account number); "" when the file has none.
    account: str
    currency: str
    #: The bank's statement id, or a hash of the statement's content where it has none that is unique.
    identifier: str
    lines: tuple[ParsedLine, ...]
    opening_balance_minor: int | None = None
    closing_balance_minor: int | None = None
    from_date: date | None = None
    to_date: date | None = None
    where: str = ""


@dataclass(frozen=True)
class ParsedFile:
    format: str
    sha256: str
    statements: tuple[ParsedStatement, ...]

    @property
    def line_count(self) -> int:
        return sum(len(s.lines) for s in self.statements)


def malformed(message: str, *, code: str = "statement_malformed") -> StatementMalformed:
    return StatementMalformed(message, code=code)


def parse_amount(text: str | None, currency: str, where: str, *, comma_decimal: bool = False) -> int:
    """A decimal amount as written in a statement ("1234.50", "1234,50", "-7") -> minor units of ``currency``."""
    value = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if comma_decimal or ("," in value and "." not in value):
        value = value.replace(".", "").replace(",", ".")
    if value.endswith("."):
        value += "0"
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise malformed(f"{where}: {text!r} is not an amount.") from None
    if not amount.is_finite():
        raise malformed(f"{where}: {text!r} is not an amount.")
    try:
        if currency not in _KNOWN:  # a withdrawn currency (DEM, FRF...) in an old file: two decimals
            scaled = amount.scaleb(2)
            if scaled != scaled.to_integral_value():
                raise malformed(f"{where}: {text!r} has more than two decimals.")
            return int(scaled)
        return to_minor(amount, currency)
    except ValidationError as err:
        raise malformed(f"{where}: {err.message}") from None


def checked_currency(code: str | None, where: str) -> str:
    """An ISO 4217 code; a withdrawn one (DEM) is kept as written, the import then refuses it for the account."""
    value = (code or "").strip().upper()
    if len(value) == 3 and value.isalpha() and value.isascii():
        return value
    raise malformed(f"{where}: {code!r} is not an ISO 4217 currency code.")


def _is_active(code: str) -> bool:
    try:
        check_currency(code)
    except ValidationError:
        return False
    return True


class _Known(dict):
    def __missing__(self, code):
        self[code] = _is_active(code)
        return self[code]

    def __contains__(self, code):
        return self[code]


_KNOWN = _Known()


def normalize_account(value: str | None) -> str:
    return "".join((value or "").split()).upper()


_TEXT_FIELDS = ("bank_reference", "end_to_end_id", "counterparty_name", "counterparty_iban", "counterparty_bic",
                "remittance_structured", "remittance_unstructured", "bank_transaction_code", "return_reason_code")


def _no_nul(value):
    """Text without NUL characters (PostgreSQL stores none, in text or JSON), in nested raw fields too."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nul(v) for v in value]
    return value


def _clean(line: ParsedLine) -> ParsedLine:
    import dataclasses

    changes = {name: _no_nul(getattr(line, name)) for name in _TEXT_FIELDS if "\x00" in getattr(line, name)}
    raw = _no_nul(line.raw)
    if raw != line.raw:
        changes["raw"] = raw
    return dataclasses.replace(line, **changes) if changes else line


def assign_keys(statements: list[ParsedStatement]) -> tuple[ParsedStatement, ...]:
    """Give every line its ``unique_key``: the bank reference or the content hash, made unique within the file."""
    import dataclasses

    seen: dict[tuple[str, str], int] = {}
    out = []
    for statement in statements:
        lines = []
        for line in map(_clean, statement.lines):
            base = f"r:{line.bank_reference}" if line.bank_reference else line.content_key()
            slot = (statement.account, base)
            seen[slot] = seen.get(slot, 0) + 1
            key = base if seen[slot] == 1 else f"{base}#{seen[slot]}"
            lines.append(dataclasses.replace(line, unique_key=key[:200]))
        out.append(dataclasses.replace(statement, lines=tuple(lines)))
    return tuple(out)


def content_identifier(prefix: str, content: bytes | str) -> str:
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(content).hexdigest()[:24]
    return f"{prefix} {digest}".strip()[:140]


def detect_format(data: bytes) -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = head.lower()
    if head.startswith(b"<") or b"<?xml" in lowered:
        if b"camt.054" in lowered or b"bktocstmrdbtcdtntfctn" in lowered:
            return "camt.054"
        if b"camt.05" in lowered or b"bktocstmr" in lowered:
            return "camt.053"
        if b"<ofx>" in lowered or b"<?ofx" in lowered:
            return "ofx"
    if b"ofxheader" in lowered or b"<ofx>" in lowered:
        return "ofx"
    if _MT940_TAG.search(head) or b"{1:" in head:
        return "mt940"
    return "csv"


def parse_bytes(data: bytes, *, csv_mapping: dict | None = None, currency: str = "",
                format: str | None = None) -> ParsedFile:
    """Read one statement file. ``format`` forces a reader; else it is recognised from the content."""
    if len(data) > MAX_FILE_BYTES:
        raise malformed(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if not data.strip():
        raise malformed("The file is empty.")
    if data[:4] == b"PK\x03\x04" and format is None:
        return _parse_zip(data, csv_mapping=csv_mapping, currency=currency)
    fmt = format or detect_format(data)
    if fmt in ("camt.053", "camt.054", "camt.052"):
        from duly.payments.statements import camt as reader
    elif fmt == "mt940":
        from duly.payments.statements import mt940 as reader
    elif fmt == "ofx":
        from duly.payments.statements import ofx as reader
    elif fmt == "csv":
        if not csv_mapping:
            raise malformed("This file is not camt, MT940 or OFX; a CSV file needs the account's column mapping "
                            "(import it with --account).", code="statement_format_unknown")
        from duly.payments.statements import csv as csv_reader

        statements, fmt = csv_reader.parse(data, csv_mapping, currency), "csv"
        return ParsedFile(fmt, hashlib.sha256(data).hexdigest(), assign_keys(statements))
    else:
        raise malformed(f"Unknown statement format {fmt!r}.", code="statement_format_unknown")
    statements, fmt = reader.parse(data, currency) if fmt == "mt940" else reader.parse(data)
    return ParsedFile(fmt, hashlib.sha256(data).hexdigest(), assign_keys(statements))


#: At most this many files in a zip archive (banks deliver a day's or a month's camt files zipped).
MAX_ZIP_MEMBERS = 1000


def _parse_zip(data: bytes, **options) -> ParsedFile:
    """Each file of the archive is read as a file of its own (keys made unique per file, so a statement delivered
    twice in one archive is imported once); an error names the file inside the archive."""
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                   and not m.filename.rsplit("/", 1)[-1].startswith(".")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise malformed("The zip archive cannot be read (cut or damaged).") from None
    if not members:
        raise malformed("The zip archive holds no file.")
    if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_FILE_BYTES:
        raise malformed(f"The zip archive unpacks to more than {MAX_FILE_BYTES // (1024 * 1024)} MB or "
                        f"{MAX_ZIP_MEMBERS} files.")
    statements, formats, total = [], [], 0
    for member in members:
        name = member.filename[-80:]
        try:
            with archive.open(member) as handle:
                content = handle.read(MAX_FILE_BYTES + 1)  # never trust the size the archive declares
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError):
            raise malformed(f"{name} (in the zip archive) cannot be unpacked.") from None
        total += len(content)
        if total > MAX_FILE_BYTES:
            raise malformed(f"The zip archive unpacks to more than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        if content[:4] == b"PK\x03\x04":
            raise malformed(f"{name} (in the zip archive) is itself a zip archive.")
        try:
            parsed = parse_bytes(content, **options)
        except StatementMalformed as err:
            raise StatementMalformed(f"{name} (in the zip archive): {err.message}", code=err.code) from None
        statements.extend(parsed.statements)
        formats.append(parsed.format)
    return ParsedFile(formats[0], hashlib.sha256(data).hexdigest(), tuple(statements))
