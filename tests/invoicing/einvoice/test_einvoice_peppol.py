"""The OpenPeppol BIS Billing 3.0 rules (release 3.0.19), vendored and run offline with saxonche.

* Every official Peppol example passes the Peppol rules and the CEN rules: the validator works.
* A Duly UBL with an e-mail endpoint (scheme ``EM``) fails PEPPOL-EN16931-CL008, and the same
  document with Peppol participant identifiers (SIREN 0002, GLN 0088) passes: the rule bites.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from duly.domain.errors import EInvoiceInvalid
from duly.invoicing.einvoice.ubl import render_ubl
from duly.invoicing.einvoice.validate import PEPPOL_RELEASE, validate_einvoice, validate_peppol

PEPPOL_EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "peppol-bis-3.0.19-examples"
EXAMPLE_NAMES = sorted(p.name for p in PEPPOL_EXAMPLES.glob("*.xml"))


def test_the_vendored_rules_are_release_3_0_19_with_its_nine_examples():
    assert PEPPOL_RELEASE == "3.0.19"
    assert len(EXAMPLE_NAMES) == 9


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_official_peppol_examples_pass_peppol_and_cen_rules(name):
    xml = (PEPPOL_EXAMPLES / name).read_bytes()
    assert validate_einvoice(xml, layers=("xsd", "en16931", "peppol")) == []


def test_an_email_endpoint_fails_cl008_and_a_peppol_participant_passes(make_doc, parties):
    email = replace(parties["buyer"], electronic_address="ap@acme.example", electronic_address_scheme="EM")
    xml = render_ubl(make_doc(buyer=email), validate=False)
    assert "PEPPOL-EN16931-CL008" in {v.rule_id for v in validate_peppol(xml)}
    with pytest.raises(EInvoiceInvalid) as refused:  # the renderer never hands it out for Peppol
        render_ubl(make_doc(buyer=email))
    assert "PEPPOL-EN16931-CL008" in refused.value.context["rule_ids"]
    seller = replace(parties["seller"], electronic_address="303265045", electronic_address_scheme="0002")
    buyer = replace(parties["buyer"], electronic_address="5790000435968", electronic_address_scheme="0088")
    assert validate_peppol(render_ubl(make_doc(seller=seller, buyer=buyer))) == []
