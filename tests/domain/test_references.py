"""ISO 11649 RF creditor references, cross-checked against python-stdnum."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso11649

from duly.domain.errors import InvalidReference, ValidationError
from duly.domain.references import compact_rf, format_rf, is_valid_rf, make_rf, rf_for_invoice

ALNUM = string.ascii_uppercase + string.digits


def test_standard_example():
    # The ISO 11649 example: base 539007547034 → check digits 18.
    # 539007547034 + "RF00" → 539007547034 271500; mod 97 = 80; 98 − 80 = 18.
    assert make_rf("539007547034") == "RF18539007547034"
    assert format_rf("RF18539007547034") == "RF18 5390 0754 7034"
    assert iso11649.validate("RF18539007547034") == "RF18539007547034"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("539007547034", "RF18539007547034"),
        ("5390 0754 7034", "RF18539007547034"),  # spaces ignored
        ("abc123", make_rf("ABC123")),  # case-insensitive
        ("1", "RF741"),  # shortest base: 1 + RF00 → 1271500 mod 97 = 24; 98 − 24 = 74
    ],
)
def test_make_rf(base, expected):
    assert make_rf(base) == expected
    assert iso11649.is_valid(expected)


@pytest.mark.parametrize("base", ["", "   ", "INV-2026", "ÄBC", "A" * 22, "12.5"])
def test_make_rf_rejects_bad_bases(base):
    with pytest.raises(InvalidReference) as exc:
        make_rf(base)
    assert isinstance(exc.value, ValidationError) and exc.value.code == "invalid_reference"


@pytest.mark.parametrize(
    ("ref", "valid"),
    [
        ("RF18539007547034", True),
        ("RF18 5390 0754 7034", True),
        ("rf18 5390 0754 7034", True),
        ("RF19539007547034", False),  # wrong check digits
        ("RF18539007547035", False),  # altered base
        ("RF18", False),  # no base
        ("RF1", False),
        ("XX18539007547034", False),  # not an RF reference
        ("RF" + "00" + "A" * 22, False),  # base too long
        ("", False),
        (None, False),
        (18539007547034, False),
    ],
)
def test_is_valid_rf(ref, valid):
    assert is_valid_rf(ref) is valid
    if isinstance(ref, str):
        assert iso11649.is_valid(ref) is valid


def test_only_whitespace_separates_groups():
    # Stricter than stdnum, which also drops "-" and ".": a reference is printed with spaces only.
    assert not is_valid_rf("RF18-5390-0754-7034")
    assert iso11649.is_valid("RF18-5390-0754-7034")


def test_format_rf():
    assert format_rf("rf18539007547034") == "RF18 5390 0754 7034"
    assert format_rf("RF741") == "RF74 1"
    assert compact_rf(" rf18 5390\t0754 7034 ") == "RF18539007547034"
    with pytest.raises(InvalidReference):
        format_rf("RF19539007547034")
    with pytest.raises(InvalidReference):
        compact_rf(None)  # type: ignore[arg-type]


def test_rf_for_invoice_is_deterministic_and_valid():
    ref = rf_for_invoice("atelier", "INV-2026-00001")
    # Base: ATELIER + INV202600001 (non-alphanumerics stripped, upper case).
    assert ref == make_rf("ATELIERINV202600001")
    assert ref == rf_for_invoice("atelier", "INV-2026-00001")
    assert ref != rf_for_invoice("atelier", "INV-2026-00002")
    assert ref != rf_for_invoice("northwind", "INV-2026-00001")
    assert is_valid_rf(ref) and iso11649.is_valid(ref)
    assert format_rf(ref).startswith(ref[:4] + " ATEL")


def test_rf_for_invoice_shortens_the_prefix_not_the_number():
    ref = rf_for_invoice("very-long-organization-slug", "INV/2026/000123")
    # Number INV2026000123 (13 chars) keeps all; prefix keeps 21 − 13 = 8 chars: VERYLONG.
    assert ref[4:] == "VERYLONGINV2026000123"
    assert iso11649.is_valid(ref)
    # A number of exactly 21 characters leaves no room for the prefix.
    assert rf_for_invoice("atelier", "A" * 21)[4:] == "A" * 21
    # Empty prefix is fine.
    assert rf_for_invoice("", "42") == make_rf("42")


@pytest.mark.parametrize("number", ["", "---", "A" * 22, "2026-" + "9" * 20])
def test_rf_for_invoice_refuses_unusable_numbers(number):
    with pytest.raises(InvalidReference):
        rf_for_invoice("atelier", number)


@given(st.text(alphabet=ALNUM, min_size=1, max_size=21))
def test_every_generated_reference_is_valid_per_stdnum(base):
    ref = make_rf(base)
    assert ref[4:] == base
    assert is_valid_rf(ref)
    assert iso11649.validate(ref) == ref
    assert compact_rf(format_rf(ref)) == ref


@given(st.text(alphabet=ALNUM, min_size=1, max_size=21), st.data())
def test_any_single_character_substitution_is_detected(base, data):
    # MOD 97-10 detects every substitution of a digit by a digit and of a letter by a letter (a letter
    # is a two-digit block 10..35, so the value changes by less than 97 × 10^k).
    ref = make_rf(base)
    position = data.draw(st.integers(min_value=2, max_value=len(ref) - 1))
    alphabet = string.digits if ref[position].isdigit() else string.ascii_uppercase
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != ref[position]]))
    altered = ref[:position] + replacement + ref[position + 1:]
    assert not is_valid_rf(altered)
    assert not iso11649.is_valid(altered)


@given(st.text(min_size=0, max_size=30), st.text(min_size=0, max_size=30))
def test_rf_for_invoice_agrees_with_stdnum(prefix, number):
    try:
        ref = rf_for_invoice(prefix, number)
    except InvalidReference:
        return
    assert iso11649.is_valid(ref)
    assert len(ref) <= 25
