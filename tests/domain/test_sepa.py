"""SEPA direct debit rules: creditor identifiers, mandates, sequence types, TARGET dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain.errors import ValidationError
from duly.domain.sepa import (
    TARGET,
    Mandate,
    SequenceType,
    check_mandate,
    collection_plan,
    creditor_id_check_digits,
    earliest_collection_date,
    make_creditor_id,
    mandate_expires_on,
    next_sequence_type,
    pre_notification_date,
    validate_creditor_id,
    validate_mandate_reference,
)

# Public examples. DE98ZZZ09999999999 is the Deutsche Bundesbank's test creditor identifier, used as the
# example in German banks' SEPA documentation and in sepa libraries (sepa_king, php-sepa-xml...). The
# others are the per-country examples of the EPC's "Creditor Identifier Overview" (EPC262-08), as collected
# in the test suite of the open-source jbanking library (fr.marcwrobel.jbanking.creditor).
PUBLIC_CREDITOR_IDS = [
    "DE98ZZZ09999999999", "HR04ZZZ01234567890", "SK19ZZZ70000000022", "NO38ZZZ123456785", "ES59ZZZX1234567L",
    "CY54ZZZ003A", "CZ56ZZZ12345", "IE84ZZZ123456", "FR72ZZZ123456", "PL18ZZZ0123456789", "DK95ZZZ999912345678",
    "DE51ZZZ12345678901", "LT30ZZZ123456789", "MC54ZZZ123456", "GB23ZZZSDDBARC000000ABCD1234",
    "SE41ZZZ1234567890", "ES04ZZZ52840790N", "NL42ZZZ123456780001", "AT61ZZZ01234567890", "LV21ZZZ40003000010",
    "BE68ZZZ0123456789", "GR44ZZZ12345", "IT66ZZZA1B2C3D4E5F6G7H8", "PT73ZZZ123456", "SI02ZZZ12345678",
    "HU56ZZZE12345676", "BE69ZZZ050D000000008", "HU74111A12345676", "BG07ZZZ100064095", "FI22BBB12345678",
    "SM94ZZZA1B2C3D4E5F6G7H8", "ES50ZZZM23456789", "LU27ZZZ0000000000123456789", "CH1312300000012345",
    "MT31ZZZ123456789X", "EE49ZZZEE00012345678",
]


@pytest.mark.parametrize("ci", PUBLIC_CREDITOR_IDS)
def test_public_creditor_ids_are_valid(ci):
    assert validate_creditor_id(ci) == ci
    assert validate_creditor_id(ci.lower()) == ci
    assert creditor_id_check_digits(ci[:2], ci[7:]) == ci[2:4]


def test_creditor_id_with_spaces_and_business_code():
    assert validate_creditor_id(" de98 zzz 0999 9999 999 ") == "DE98ZZZ09999999999"
    # the business code takes no part in the check digits
    assert validate_creditor_id("DE98ABC09999999999") == "DE98ABC09999999999"
    assert make_creditor_id("de", "09999999999") == "DE98ZZZ09999999999"


@pytest.mark.parametrize("bad", ["DE97ZZZ09999999999", "DE98ZZZ09999999998", "D98ZZZ0999", "DE9XZZZ0999",
                                 "", "DE98ZZZ", "DE98ZZZ0999-9999", "DE98ZZZ" + "1" * 29, None])
def test_bad_creditor_ids_are_refused(bad):
    with pytest.raises(ValidationError) as err:
        validate_creditor_id(bad)
    assert err.value.code == "invalid_creditor_id"


@given(st.sampled_from(PUBLIC_CREDITOR_IDS), st.integers(7, 40), st.sampled_from("0123456789"))
def test_one_changed_digit_of_the_national_id_is_caught(ci, position, char):
    # ISO 7064 MOD 97-10 detects every single substituted digit (a letter stands for two digits, so a
    # digit replaced by a letter is not covered by that guarantee).
    i = 7 + position % (len(ci) - 7)
    if ci[i] == char or not ci[i].isdigit():
        return
    changed = ci[:i] + char + ci[i + 1:]
    with pytest.raises(ValidationError):
        validate_creditor_id(changed)


# --- mandates ---------------------------------------------------------------------------------

SIGNED = Mandate("DULY-M-0001", date(2026, 1, 15), signed_at="Lyon")


def test_mandate_reference_rules():
    assert validate_mandate_reference(" DULY-M-0001 ") == "DULY-M-0001"
    for bad in ["", "A" * 36, "has space", "/lead", "trail/", "a//b", "é-accent"]:
        with pytest.raises(ValidationError):
            validate_mandate_reference(bad)


def test_mandate_needs_a_signature_date_not_in_the_future():
    with pytest.raises(ValidationError) as err:
        check_mandate(replace(SIGNED, signed_on=None), date(2026, 2, 1))
    assert err.value.code == "mandate_unsigned"
    with pytest.raises(ValidationError) as err:
        check_mandate(SIGNED, date(2026, 1, 14))
    assert err.value.code == "mandate_signed_in_future"
    assert check_mandate(SIGNED, date(2026, 1, 15)) is SIGNED


def test_revoked_mandate():
    revoked = replace(SIGNED, revoked_on=date(2026, 3, 1))
    assert check_mandate(revoked, date(2026, 2, 28))
    with pytest.raises(ValidationError) as err:
        check_mandate(revoked, date(2026, 3, 1))
    assert err.value.code == "mandate_revoked"


def test_mandate_unused_for_36_months_expires():
    assert mandate_expires_on(SIGNED) == date(2029, 1, 15)
    assert check_mandate(SIGNED, date(2029, 1, 14))
    with pytest.raises(ValidationError) as err:
        check_mandate(SIGNED, date(2029, 1, 15))
    assert err.value.code == "mandate_expired"
    used = replace(SIGNED, presented=3, collected=2, last_presented_on=date(2027, 6, 30))
    assert mandate_expires_on(used) == date(2030, 6, 30)
    assert check_mandate(used, date(2030, 6, 29))


def test_sequence_types():
    assert next_sequence_type(SIGNED) is SequenceType.FRST
    assert next_sequence_type(SIGNED, first_as_rcur=True) is SequenceType.RCUR
    once = replace(SIGNED, collected=1, presented=1)
    assert next_sequence_type(once) is SequenceType.RCUR
    assert next_sequence_type(once, final=True) is SequenceType.FNAL
    # a rejected first collection does not count: the next one is FRST again
    assert next_sequence_type(replace(SIGNED, presented=1, collected=0)) is SequenceType.FRST
    with pytest.raises(ValidationError):
        next_sequence_type(SIGNED, final=True)
    with pytest.raises(ValidationError):
        next_sequence_type(replace(once, final_presented=True))
    one_off = replace(SIGNED, kind="one_off")
    assert next_sequence_type(one_off) is SequenceType.OOFF
    with pytest.raises(ValidationError):
        next_sequence_type(replace(one_off, collected=1))
    with pytest.raises(ValidationError):
        check_mandate(replace(one_off, collected=1), date(2026, 2, 1))


# --- dates ------------------------------------------------------------------------------------

def test_target_calendar():
    for closed in [date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1), date(2026, 12, 25),
                   date(2026, 12, 26), date(2026, 5, 2)]:
        assert not TARGET.is_business_day(closed)
    # national holidays are TARGET days: Ascension, 14 July, Whit Monday
    for open_ in [date(2026, 5, 14), date(2026, 7, 14), date(2026, 5, 25)]:
        assert TARGET.is_business_day(open_)


def test_pre_notification():
    assert pre_notification_date(date(2026, 7, 15)) == date(2026, 7, 1)
    assert pre_notification_date(date(2026, 7, 15), 5) == date(2026, 7, 10)
    for bad in (0, 15, -1, True):
        with pytest.raises(ValidationError):
            pre_notification_date(date(2026, 7, 15), bad)


def test_earliest_collection_date_is_one_target_day_ahead():
    assert earliest_collection_date(date(2026, 4, 2)) == date(2026, 4, 7)  # Thursday before Easter
    assert earliest_collection_date(date(2026, 4, 30)) == date(2026, 5, 4)  # 1 May and the weekend closed
    assert earliest_collection_date(date(2026, 4, 30), submission_days=2) == date(2026, 5, 5)


def test_collection_plan_moves_a_due_date_too_close_for_the_notice():
    plan = collection_plan(SIGNED, date(2026, 7, 15), as_of=date(2026, 7, 1))
    assert (plan.collection_date, plan.notify_by, plan.sequence_type, plan.moved) == (
        date(2026, 7, 15), date(2026, 7, 1), SequenceType.FRST, "")
    late = collection_plan(SIGNED, date(2026, 7, 10), as_of=date(2026, 7, 1))
    assert late.collection_date == date(2026, 7, 15) and "told 14 days before" in late.moved
    short = collection_plan(SIGNED, date(2026, 7, 10), as_of=date(2026, 7, 1), notice_days=2)
    assert short.collection_date == date(2026, 7, 10) and short.notify_by == date(2026, 7, 8)
    holiday = collection_plan(SIGNED, date(2026, 12, 25), as_of=date(2026, 11, 1))
    assert holiday.collection_date == date(2026, 12, 28) and "next TARGET" in holiday.moved
    notified = collection_plan(SIGNED, date(2026, 7, 10), as_of=date(2026, 7, 1), notified_on=date(2026, 6, 20))
    assert notified.collection_date == date(2026, 7, 10)


@given(st.dates(min_value=date(2026, 1, 16), max_value=date(2028, 12, 31)), st.integers(0, 60),
       st.integers(1, 14))
def test_collection_plan_properties(as_of, ahead, notice):
    from datetime import timedelta
    plan = collection_plan(SIGNED, as_of + timedelta(days=ahead), as_of=as_of, notice_days=notice)
    assert TARGET.is_business_day(plan.collection_date)
    assert plan.collection_date >= as_of + timedelta(days=notice)
    assert plan.collection_date >= earliest_collection_date(as_of)
    assert plan.notify_by == plan.collection_date - timedelta(days=notice)


def test_final_collection_only_when_the_mandate_ends_and_nothing_follows():
    from duly.domain.sepa import is_final_collection

    used = Mandate("M-1", date(2026, 1, 1), collected=2)
    on = date(2026, 6, 15)
    assert not is_final_collection(used, on)  # no known end
    assert is_final_collection(replace(used, revoked_on=date(2026, 6, 30)), on)  # revoked after it
    assert not is_final_collection(replace(used, revoked_on=date(2026, 6, 30)), on, later_planned=True)
    assert is_final_collection(used, on, contract_ends_on=date(2026, 6, 15))  # the contract ended by then
    assert not is_final_collection(used, on, contract_ends_on=date(2026, 12, 31))  # it still bills
    # a one-off mandate goes out as OOFF, a first collection as FRST (no first-and-last sequence)
    assert not is_final_collection(replace(used, kind="one_off"), on, contract_ends_on=on)
    assert not is_final_collection(replace(used, collected=0), on, contract_ends_on=on)


def test_a_blocked_mandate_is_not_debited():
    from duly.domain.errors import InvalidMandate

    with pytest.raises(InvalidMandate) as err:
        check_mandate(Mandate("M-1", date(2026, 1, 1), blocked_reason="MD01"), date(2026, 3, 1))
    assert err.value.code == "mandate_blocked" and "MD01" in err.value.message
