"""The official CEN examples (release 1.3.16) and the derived negative examples.

* The official UBL and CII examples validate with zero errors (rules and schema).
* The negative examples fail with exactly the rule ids the examples README lists.
* The ``*_no_duedate_no_terms`` examples pass the official rules (CEN dropped BR-CO-25) and
  fail Duly's own check: DULY-DUE-01 (no due date) and DULY-DUE-02 (no payment terms).
"""

from __future__ import annotations

import pytest
from lxml import etree

from duly.domain.errors import ValidationError
from duly.invoicing.einvoice.duly_rules import check_duly_rules
from duly.invoicing.einvoice.validate import VALIDATION_RELEASE, Violation, parse_svrl, svrl_report
from duly.invoicing.einvoice.xmlutil import detect_syntax

OFFICIAL = [
    "ubl/ubl-tc434-example1.xml",
    "ubl/ubl-tc434-example2.xml",
    "ubl/ubl-tc434-creditnote1.xml",
    "cii/CII_example1.xml",
    "cii/CII_example2.xml",
    "cii/CII_example4.xml",
]

NEGATIVE = {
    "negative/ubl_wrong_payable.xml": {"BR-CO-16"},
    "negative/ubl_wrong_taxinclusive.xml": {"BR-CO-15", "BR-CO-16"},
    "negative/ubl_no_issuedate.xml": {"BR-03"},
    "negative/cii_wrong_grandtotal.xml": {"BR-CO-15", "BR-CO-16"},
    "negative/cii_wrong_duepayable.xml": {"BR-CO-16"},
    "negative/ubl_no_duedate_no_terms.xml": set(),
    "negative/cii_no_duedate_no_terms.xml": set(),
}


def test_rules_are_the_release_the_examples_were_checked_with():
    assert VALIDATION_RELEASE == "1.3.16"


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_examples_validate_with_zero_errors(name, official_rules, example_bytes):
    assert official_rules(example_bytes(name)) == []


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_negative_examples_fail_with_the_expected_rules(name, official_rules, example_bytes):
    violations = official_rules(example_bytes(name), layers=("en16931",))
    assert {v.rule_id for v in violations} == NEGATIVE[name]
    assert all(v.flag == "fatal" and v.text.startswith(f"[{v.rule_id}]") and v.location for v in violations)


def test_missing_issue_date_also_breaks_the_ubl_schema(official_rules, example_bytes):
    violations = official_rules(example_bytes("negative/ubl_no_issuedate.xml"), layers=("xsd",))
    assert [v.rule_id for v in violations] == ["XSD"]
    assert "InvoiceTypeCode" in violations[0].text or "IssueDate" in violations[0].text


@pytest.mark.parametrize("name", ["negative/ubl_no_duedate_no_terms.xml", "negative/cii_no_duedate_no_terms.xml"])
def test_duly_rejects_an_amount_due_without_due_date_and_terms(name, official_rules, example_bytes):
    xml = example_bytes(name)
    assert official_rules(xml) == []  # CEN no longer checks BR-CO-25 …
    assert check_duly_rules(xml) == ["DULY-DUE-01", "DULY-DUE-02"]  # … Duly does.
    assert [v.rule_id for v in official_rules(xml, layers=("duly",))] == ["DULY-DUE-01", "DULY-DUE-02"]


def test_duly_rule_names_each_missing_part(example_bytes):
    """ubl-tc434-example1 has a due date but no payment terms; example2 has both."""
    assert check_duly_rules(example_bytes("ubl/ubl-tc434-example1.xml")) == ["DULY-DUE-02"]
    assert check_duly_rules(example_bytes("cii/CII_example1.xml")) == ["DULY-DUE-02"]
    assert check_duly_rules(example_bytes("ubl/ubl-tc434-example2.xml")) == []
    assert check_duly_rules(example_bytes("cii/CII_example2.xml")) == []


def test_duly_rule_ignores_credit_notes_and_nothing_due(example_bytes):
    assert check_duly_rules(example_bytes("ubl/ubl-tc434-creditnote1.xml")) == []
    xml = example_bytes("negative/ubl_no_duedate_no_terms.xml").replace(b">250.33</cbc:PayableAmount>",
                                                                        b">0.00</cbc:PayableAmount>")
    assert check_duly_rules(xml) == []


def test_svrl_warnings_are_not_violations(example_bytes):
    report = svrl_report(example_bytes("ubl/ubl-tc434-example1.xml"))
    root = etree.fromstring(report)
    assert root.tag == "{http://purl.oclc.org/dsdl/svrl}schematron-output"
    assert parse_svrl(report) == []
    warning = (b'<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl">'
               b'<svrl:failed-assert id="BR-X" flag="warning" location="/"><svrl:text>w</svrl:text>'
               b'</svrl:failed-assert><svrl:failed-assert id="BR-Y" flag="fatal" location="/a">'
               b'<svrl:text> broken   rule </svrl:text></svrl:failed-assert></svrl:schematron-output>')
    assert parse_svrl(warning) == [Violation("BR-Y", "fatal", "broken rule", "/a")]


def test_documents_with_a_doctype_are_refused():
    xxe = (b'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&x;</Invoice>')
    with pytest.raises(ValidationError, match="DOCTYPE"):
        detect_syntax(xxe)
    with pytest.raises(ValidationError, match="Not an EN 16931 invoice"):
        detect_syntax(b"<html/>")
