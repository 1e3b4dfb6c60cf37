"""Customers, contracts and organizations refuse bad values with a stable code, and write nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from duly.customers import services
from duly.customers.models import Contact, Contract, Customer, Membership, Organization
from duly.domain.errors import InvalidChoice, InvalidPassword, ValidationError, ValueOutOfRange


@pytest.mark.parametrize("fields, error, words", [
    ({"deposit_kind": "percent", "deposit_percent": Decimal("-5")}, ValueOutOfRange, "between 0 and 100"),
    ({"deposit_kind": "percent", "deposit_percent": Decimal("120")}, ValueOutOfRange, "between 0 and 100"),
    ({"deposit_kind": "percent", "deposit_percent": Decimal("0")}, ValueOutOfRange, "percentage above 0"),
    ({"deposit_kind": "weird"}, InvalidChoice, "'weird' is not a valid deposit kind"),
    ({"deposit_kind": "amount", "deposit_amount": "0"}, ValueOutOfRange, "amount above 0"),
    ({"deposit_kind": "amount"}, ValueOutOfRange, "amount above 0"),
    ({"deposit_kind": "none", "deposit_amount": "100"}, ValidationError, "deposit kind is 'none'"),
    ({"deposit_kind": "amount", "deposit_amount": "12.345"}, ValueOutOfRange, "more decimals than EUR"),
    ({"billing_frequency": "bogus"}, InvalidChoice, "'bogus' is not a valid billing frequency"),
    ({"terms_kind": "net", "terms_days": -3}, ValueOutOfRange, "cannot be negative"),
    ({"late_fee_kind": "interest_annual", "late_rate_percent": Decimal("-1")}, ValueOutOfRange, "late-payment rate"),
    ({"late_fee_kind": "interest_annual", "late_rate_percent": 8.5}, ValidationError, "never floats"),
    ({"po_number": "P" * 101}, ValueOutOfRange, "at most 100"),
    ({"end_date": date(2025, 12, 31)}, ValidationError, "end date (2025-12-31) is before the start date"),
    ({"colour": "blue"}, ValidationError, "unknown field 'colour'"),
    ({"billing_anchor_day": "32"}, ValidationError, "'32' is not a billing day"),
    ({"billing_anchor_day": "someday"}, ValidationError, "'someday' is not a billing day"),
    ({"deposit_deduction": "never"}, InvalidChoice, "'never' is not a valid deposit deduction"),
])
def test_create_contract_refuses_bad_values(org, customer, fields, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")) as exc:
        services.create_contract(org, customer, reference="CTR-BAD", start_date=date(2026, 1, 1), **fields)
    assert exc.value.code == error.code
    assert not Contract.objects.exists()


def test_error_codes_are_stable():
    assert (InvalidChoice.code, ValueOutOfRange.code, InvalidPassword.code) == (
        "invalid_choice", "value_out_of_range", "invalid_password")


def test_good_contracts_are_created_and_can_be_changed(org, customer):
    ctr = services.create_contract(org, customer, reference="CTR-1", start_date=date(2026, 1, 1),
                                   deposit_kind="percent", deposit_percent=Decimal("25"), billing_frequency="quarterly",
                                   late_fee_kind="fixed_fee", late_fixed_fee="40.00")
    assert (ctr.deposit_percent, ctr.late_fixed_fee_minor, ctr.billing_frequency) == (Decimal("25"), 4000, "quarterly")
    with pytest.raises(ValidationError, match="end date"):
        services.update_contract(ctr, end_date=date(2025, 6, 30))
    with pytest.raises(InvalidChoice):
        services.update_contract(ctr, billing_frequency="fortnightly-ish")
    ctr.refresh_from_db()
    assert ctr.end_date is None and ctr.billing_frequency == "quarterly"
    changed = services.update_contract(ctr, end_date=date(2026, 12, 31), deposit_kind="amount", deposit_percent=0,
                                       deposit_amount="500")
    assert (changed.end_date, changed.deposit_kind, changed.deposit_amount_minor) == (date(2026, 12, 31), "amount",
                                                                                      50000)


@pytest.mark.parametrize("fields, error, words", [
    ({"preferred_payment_method": "bitcoin"}, InvalidChoice, "'bitcoin' is not a valid preferred payment method"),
    ({"tags": "vip"}, ValidationError, "tags must be a list of texts"),
    ({"tags": ["vip", 3]}, ValidationError, "tags must be a list of texts"),
    ({"tags": ["x" * 61]}, ValueOutOfRange, "longer than 60"),
    ({"segment": "s" * 61}, ValueOutOfRange, "industry/segment has 61 characters; at most 60"),
    ({"status": "dormant"}, InvalidChoice, "'dormant' is not a valid status"),
    ({"required_fields": ["po_number", "shoe_size"]}, InvalidChoice, "shoe_size"),
    ({"required_fields": "po_number"}, ValidationError, "must be a list"),
    ({"credit_allowed": "yes"}, ValidationError, "true or false"),
    ({"email": "not-an-address"}, ValidationError, "Invalid email"),
    ({"currency": "XYZ"}, ValidationError, "Unknown currency"),
    ({"favourite_colour": "blue"}, ValidationError, "unknown field 'favourite_colour'"),
])
def test_create_customer_refuses_bad_values(org, fields, error, words):
    values = dict(name="Initech SA", country="FR", city="Lyon", address_line1="1 rue A")
    values.update(fields)
    with pytest.raises(error, match=words):
        services.create_customer(org, code="INI", **values)
    assert not Customer.objects.exists()


def test_a_bad_contact_writes_no_customer_either(org):
    with pytest.raises(InvalidChoice, match="role"):
        services.create_customer(org, code="INI", name="Initech SA", country="FR", city="Lyon", address_line1="1 rue A",
                                 contacts=[{"name": "Ann", "email": "ann@initech.example", "role": "chief"}])
    assert not Customer.objects.exists() and not Contact.objects.exists()


def test_tags_are_cleaned_and_update_checks_too(org, customer):
    updated = services.update_customer(customer, tags=[" vip ", "late", "vip"], segment="retail")
    assert updated.tags == ["vip", "late"]
    with pytest.raises(InvalidChoice):
        services.update_customer(customer, preferred_payment_method="bitcoin")
    customer.refresh_from_db()
    assert customer.preferred_payment_method == "bank_transfer"


ORG = dict(name="Rivet & Co GmbH", slug="rivet", country="DE", default_currency="EUR", address_line1="Hauptstraße 1",
           postcode="10115", city="Berlin")


def test_set_up_organization_checks_the_password_before_writing_anything(db):
    with pytest.raises(InvalidPassword, match="too short"):
        services.set_up_organization(admin_username="owner", admin_password="short", **ORG)
    assert not Organization.objects.exists() and not get_user_model().objects.exists()
    # the same command again, with a good password, works: nothing was left behind
    org, user = services.set_up_organization(admin_username="owner", admin_password="a-long-passphrase", **ORG)
    assert org.slug == "rivet" and user.check_password("a-long-passphrase")
    assert Membership.objects.get(user=user).organization == org and org.number_series.count() == 2


def test_set_up_organization_rolls_back_the_organization_when_the_user_fails(db, monkeypatch):
    def boom(*args, **kwargs):
        raise ValidationError("membership refused")

    monkeypatch.setattr(services, "add_member", boom)
    with pytest.raises(ValidationError):
        services.set_up_organization(admin_username="owner", admin_password="a-long-passphrase", **ORG)
    assert not Organization.objects.exists()


@pytest.mark.parametrize("bic, words", [
    ("PSSTXXPP", "Invalid country code 'XX'"),  # no such country
    ("PSST", "Invalid length '4'"),  # a BIC has 8 or 11 characters
    ("PSSTFRPPPA", "Invalid length '10'"),
])
def test_an_invalid_bic_is_refused_and_writes_nothing(db, bic, words):
    with pytest.raises(ValidationError) as err:
        services.create_organization(name="Rivet & Co GmbH", country="DE", default_currency="EUR",
                                     iban="DE89370400440532013000", bic=bic)
    assert err.value.code == "invalid_bic"
    assert err.value.message.startswith(f"Invalid BIC {bic!r}: ") and words in err.value.message
    assert not Organization.objects.exists()


def test_a_bic_is_stored_compact_and_a_bad_one_leaves_the_seller_unchanged(org):
    org = services.update_organization(org, bic="psst fr pp par")
    assert org.bic == "PSSTFRPPPAR"
    with pytest.raises(ValidationError) as err:
        services.update_organization(org, bic="PSSTXXPP", city="Lyon")
    assert err.value.code == "invalid_bic"
    org.refresh_from_db()
    assert (org.bic, org.city) == ("PSSTFRPPPAR", "Paris")
