"""Bank statement import speed: a generated camt.053 file of N lines read, checked and written to SQLite.

Run: ``.venv/bin/python bench/bank_import.py [--n 100000]``.

It writes one camt.053.001.08 statement with N booked credit entries (each with a debtor, an IBAN, a structured
RF reference or free text, and its own AcctSvcrRef; every 50th entry a batch of three transactions), balances
that add up, into a throw-away SQLite database with one organization and its account, then measures:

- parse: :func:`duly.payments.statements.parse_bytes` (lxml, lines as dataclasses), lines/s;
- import: :func:`duly.payments.bank_services.import_statement` end to end (parse, checks, one transaction of
  bulk inserts), lines/s;
- a second import of the same file (it writes nothing: "0 new lines");
- peak Python memory of parsing 10,000 lines (tracemalloc, separately: tracing slows every allocation down) and
  the process's maximum resident size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

ROOT = Path(__file__).resolve().parents[1]
IBAN = "NL26VAYB8060476890"


def _setup() -> None:
    _duly.setup("bank")


def make_camt(n: int) -> tuple[bytes, int]:
    """A camt.053.001.08 statement with ``n`` lines (entries, or transactions of a batch); returns (xml, lines)."""
    parts, total, lines, i = [], 0, 0, 0
    while lines < n:
        i += 1
        cents = 1000 + (i * 7919) % 500000
        if i % 50 == 0 and n - lines >= 3:
            shares = [cents, cents + 1, cents + 2]
            txs = "".join(
                f'<TxDtls><Refs><AcctSvcrRef>B{i}-{k}</AcctSvcrRef><EndToEndId>E{i}-{k}</EndToEndId></Refs>'
                f'<Amt Ccy="EUR">{s // 100}.{s % 100:02d}</Amt><RltdPties><Dbtr><Pty><Nm>Customer {i}-{k}</Nm>'
                f"</Pty></Dbtr></RltdPties><RmtInf><Ustrd>INV-2026-{i:06d}-{k}</Ustrd></RmtInf></TxDtls>"
                for k, s in enumerate(shares))
            cents = sum(shares)
            lines += 3
        else:
            remit = (f"<Strd><CdtrRefInf><Ref>RF{i % 97:02d}{i:010d}</Ref></CdtrRefInf></Strd>" if i % 2
                     else f"<Ustrd>Invoice INV-2026-{i:06d} thank you</Ustrd>")
            txs = (f"<TxDtls><Refs><EndToEndId>E{i}</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>Customer {i % 2000}"
                   f"</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>"
                   f"</RltdPties><RmtInf>{remit}</RmtInf></TxDtls>")
            lines += 1
        total += cents
        parts.append(f'<Ntry><Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
                     f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-05</Dt></BookgDt><ValDt><Dt>2026-03-05</Dt>"
                     f"</ValDt><AcctSvcrRef>A{i}</AcctSvcrRef><NtryDtls>{txs}</NtryDtls></Ntry>")
    closing = 100000 + total
    xml = ('<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
           "<BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-03-05T20:00:00</CreDtTm></GrpHdr><Stmt>"
           f"<Id>BENCH-{n}</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
           '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT'
           "</CdtDbtInd><Dt><Dt>2026-03-04</Dt></Dt></Bal>"
           f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing // 100}.{closing % 100:02d}'
           "</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-05</Dt></Dt></Bal>"
           + "".join(parts) + "</Stmt></BkToCstmrStmt></Document>")
    return xml.encode(), lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    _setup()
    from duly.customers.services import create_organization
    from duly.payments.bank_services import add_bank_account, import_statement
    from duly.payments.statements import parse_bytes

    data, n = make_camt(args.n)
    org = create_organization(name="Bench", slug="bench", country="NL", default_currency="EUR")
    add_bank_account(org, iban=IBAN, currency="EUR")
    print(f"camt.053 file: {n} lines, {len(data) / 1e6:.1f} MB")

    start = time.perf_counter()
    parsed = parse_bytes(data)
    parse_s = time.perf_counter() - start
    assert parsed.line_count == n
    del parsed
    print(f"parse:          {parse_s:6.2f} s  {n / parse_s:9.0f} lines/s")
    small, small_n = make_camt(min(n, 10_000))
    tracemalloc.start()  # on a smaller file: tracing slows every allocation down
    parse_bytes(small)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak Python memory of parsing {small_n} lines ({len(small) / 1e6:.1f} MB): {peak / 1e6:.0f} MB")

    start = time.perf_counter()
    result = import_statement(org, data)
    import_s = time.perf_counter() - start
    assert result.new_lines == n, result
    print(f"import (write): {import_s:6.2f} s  {n / import_s:9.0f} lines/s  ({result.message})")

    start = time.perf_counter()
    again = import_statement(org, data)
    again_s = time.perf_counter() - start
    assert again.new_lines == 0
    print(f"import again:   {again_s:6.2f} s  ({again.message})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident size: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
