"""Peppol electronic addresses (EAS scheme + identifier) on customers and organizations: checked by
their scheme with python-stdnum; a bad one is refused with a clear message and writes nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from duly.customers import services
from duly.customers.models import Customer
from duly.domain.errors import ValidationError


@pytest.mark.parametrize("scheme, identifier, stored", [
    ("0002", "303 265 045", "303265045"),  # SIREN
    ("0009", "732 829 320 00074", "73282932000074"),  # SIRET
    ("0088", "5790000435968", "5790000435968"),  # GLN
    ("0208", "0403.019.261", "0403019261"),  # Belgian enterprise number
    ("0192", "974 760 673", "974760673"),  # Norwegian organization number
    ("9930", "DE 136695976", "DE136695976"),  # German VAT number
    ("9957", "FR40303265045", "FR40303265045"),  # French VAT number
    ("0060", "123456789", "123456789"),  # DUNS (no check digit)
])
def test_a_valid_address_is_stored_normalized(org, scheme, identifier, stored):
    customer = services.create_customer(org, code="P1", name="Peppol SA", country="FR", city="Lyon",
                                        address_line1="1 rue", electronic_address_scheme=scheme,
                                        electronic_address=identifier)
    customer.refresh_from_db()
    assert (customer.electronic_address_scheme, customer.electronic_address) == (scheme, stored)


@pytest.mark.parametrize("scheme, identifier, words", [
    ("0002", "303265046", "'303265046' is not a valid SIREN (France)"),
    ("0002", "30326504", "not a valid SIREN (France)"),
    ("0009", "73282932000075", "not a valid SIRET (France)"),
    ("0088", "5790000435969", "'5790000435969' is not a valid GLN"),
    ("0088", "579000043596", "not a valid GLN"),
    ("9930", "FR40303265045", "not a valid VAT number (Germany)"),
    ("EM", "ap@acme.example", "'EM' is not an Electronic Address Scheme Peppol accepts"),
    ("1234", "42", "'1234' is not an Electronic Address Scheme"),
    ("0002", "", "needs both a scheme"),
    ("", "303265045", "needs both a scheme"),
])
def test_a_bad_address_is_refused_and_nothing_is_written(org, customer, scheme, identifier, words):
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")) as refused:
        services.create_customer(org, code="BAD", name="Bad SA", country="FR", city="Lyon", address_line1="1 rue",
                                 electronic_address_scheme=scheme, electronic_address=identifier)
    assert refused.value.code == "invalid_electronic_address"
    assert not Customer.objects.filter(code="BAD").exists()
    with pytest.raises(ValidationError):
        services.update_customer(customer, electronic_address_scheme=scheme, electronic_address=identifier)
    customer.refresh_from_db()
    assert (customer.electronic_address_scheme, customer.electronic_address) == ("", "")


def test_the_organization_address_is_checked_too(org):
    with pytest.raises(ValidationError, match="not a valid SIREN") as refused:
        services.update_organization(org, electronic_address_scheme="0002", electronic_address="123456789")
    assert refused.value.code == "invalid_electronic_address"
    org.refresh_from_db()
    assert org.electronic_address == ""
    org = services.update_organization(org, electronic_address_scheme="0002", electronic_address="303 265 045")
    assert (org.electronic_address_scheme, org.electronic_address) == ("0002", "303265045")


def test_the_command_line_sets_and_removes_an_address_and_explains_a_refusal(org, customer):
    from duly.cli import main

    ok = CliRunner().invoke(main, ["customers", "set-address", "ACME", "0088", "5790000435968", "--org", "atelier"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "Peppol electronic address of ACME (Acme Industries SAS): 0088:5790000435968."
    bad = CliRunner().invoke(main, ["customers", "set-address", "ACME", "0002", "303265046", "--org", "atelier"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == ("error: '303265046' is not a valid SIREN (France) for the electronic address of "
                                  "customer Acme Industries SAS: The number's checksum or check digit is invalid. "
                                  "[invalid_electronic_address]")
    customer.refresh_from_db()
    assert customer.electronic_address == "5790000435968"  # unchanged
    own = CliRunner().invoke(main, ["customers", "set-address", "@org", "0002", "303265045", "--org", "atelier"])
    assert own.exit_code == 0 and "0002:303265045" in own.output
    gone = CliRunner().invoke(main, ["customers", "set-address", "ACME", "-", "-", "--org", "atelier"])
    assert gone.exit_code == 0 and "has no Peppol electronic address now" in gone.output
    customer.refresh_from_db()
    assert (customer.electronic_address_scheme, customer.electronic_address) == ("", "")
