"""Fuzzing the statement readers: whatever the bytes, a file is read or refused with StatementMalformed (a clear
message naming the line or element), never another exception. Mutations of the public test files: cut at any
point, bytes replaced, lines dropped or doubled, and random bytes. ``DULY_FUZZ_EXAMPLES`` raises the count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from duly.domain.errors import StatementMalformed
from duly.payments.statements import parse_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "bank-statements"
SEEDS = [p.read_bytes() for p in sorted(DATA.rglob("*"))
         if p.is_file() and (p.suffix in (".sta", ".xml", ".ofx", ".txt") or p.name.startswith("test-camt05"))
         and p.stat().st_size < 30_000]
EXAMPLES = int(os.environ.get("DULY_FUZZ_EXAMPLES", "300"))
CSV_MAPPING = {"booking_date": "Date", "amount": "Amount", "remittance": "Text"}


def _read(data: bytes) -> None:
    try:
        parsed = parse_bytes(data, csv_mapping=CSV_MAPPING, currency="EUR")
    except StatementMalformed as err:
        assert err.message and "Traceback" not in err.message
        return
    for statement in parsed.statements:
        for line in statement.lines:
            assert isinstance(line.amount_minor, int) and line.booking_date is not None and line.unique_key


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["cut", "replace", "drop_line", "double_line", "insert"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "cut":
            data = data[:at]
        elif kind == "replace":
            data[at:at + 1] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"<", b">", b":61:", b"\n:20:X\n", b"&amp;", b"\xff", b"-", b",",
                                                b"</Ntry>", b"<Amt Ccy=\"EUR\">", b"<STMTTRN>", b"9999999999999"]))
        else:
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [] if kind == "drop_line" else [lines[i], lines[i]]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(mutated())
def test_a_mutated_public_file_is_read_or_refused_clearly(data):
    _read(data)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_read_or_refused_clearly(data):
    _read(data)


@pytest.mark.parametrize("prefix", [b"<?xml version='1.0'?><Document>", b":20:X\n:25:Y\n", b"OFXHEADER:100\n<OFX>"])
@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(tail=st.binary(max_size=300))
def test_random_bytes_after_a_known_header_are_read_or_refused_clearly(prefix, tail):
    _read(prefix + tail)
