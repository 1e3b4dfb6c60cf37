"""Fuzzing the importers through the real ``duly`` command (click's CliRunner, in this process).

``duly usage import`` gets random bytes, random JSON lines and random CSV rows; ``duly invoices
import-ubl`` gets random bytes and official EN 16931 examples with random values put in random
places. Whatever the file, the exit status is 0 or 2 (never 1: nothing unexpected), the output never
shows a traceback, and a refused file writes nothing (the database row counts are compared):

- usage import: a file refused as a whole (one ``error:`` line) records no event; otherwise exactly the
  events the report counts as accepted are new.
- import-ubl: exit 0 writes one draft; exit 2 writes no invoice, line, customer or attachment. With
  ``--as-issued`` (migration) exit 0 writes one issued invoice of the migrated series.
- receivables import (CSV migration): exit 0 writes one invoice per row; exit 2 writes nothing.

The example counts are kept moderate (the suite runs on two shared cores); ``DULY_FUZZ_EXAMPLES``
raises them for a longer hunt.
"""

from __future__ import annotations

import json
import os
import string
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from duly.cli import main

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parent / "data" / "en16931-examples"
UBL_EXAMPLES = sorted(p.relative_to(EXAMPLES).as_posix() for p in (EXAMPLES / "ubl").glob("*.xml")) + sorted(
    p.relative_to(EXAMPLES).as_posix() for p in (EXAMPLES / "cii").glob("*.xml"))[:2]
FUZZ = settings(max_examples=int(os.environ.get("DULY_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

#: Values that broke importers somewhere: huge and tiny numbers, dates at the ends of the calendar, odd text.
NASTY = st.sampled_from([
    "1e30", "-1e30", "1E+999999999", "1E-999999999", "NaN", "Infinity", "-0", "0", "00000000000000000001",
    "999999999999999999", "999999999999999999.9999999", "123456789012345678", "0.0000001", "1e-7", "",
    " ", "9999-12-31", "0001-01-01", "1900-01-01", "2100-01-01", "2026-02-30", "99991231", "9999-12-31T23:00:00-05:00",
    "2026-03-05T10:00:00Z", "2026-03-05T10:00:00", "\x00", "\ud800", "é" * 3, "x" * 70_000, "<", "&amp;", "EUR", "XXX",
    "ACME", "api_calls", "[]", "{}", '{"a": 1}', "[" * 3000, "true", "null", "²", "١٢٣",
])
TEXT = st.one_of(NASTY, st.text(max_size=30), st.text(alphabet=string.digits + ".-+eE", max_size=25))


@pytest.fixture
def usage_org(org, customer, contract):
    """ACME, billed in arrears for its API calls."""
    from duly.billing import services

    product = services.create_product(org, code="API", name="API calls")
    metric = services.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    price = services.create_price(org, product, code="api", currency="EUR", quantity_source="usage", metric=metric,
                                  model_config={"model": "per_unit", "unit_price": "0.01"})
    services.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 3, 1), as_of=date(2026, 3, 1),
                                 timing="arrears")
    return org


def _invoke(args):
    out = CliRunner().invoke(main, args)
    text = out.output
    if out.exit_code not in (0, 2) and out.exc_info and not isinstance(out.exception, SystemExit):
        import traceback

        text += "".join(traceback.format_exception(*out.exc_info))  # (with DULY_DEBUG=1)
    assert out.exit_code in (0, 2), f"exit {out.exit_code}: {text[-3000:]}"
    assert "unexpected" not in text and "Traceback" not in text, text[-2000:]
    return out.exit_code, text


# --- usage import ------------------------------------------------------------------------------------------
def _json_value():
    return st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                        max_leaves=12)


@st.composite
def _event(draw):
    """An event-like object: each field good, hostile or missing."""
    good = {"idempotency_key": draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)),
            "customer": "ACME", "metric": "api_calls", "timestamp": "2026-03-05T10:00:00Z", "value": "10"}
    for name in [*good, "properties", "subscription", "extra"]:
        choice = draw(st.integers(0, 9))  # mostly left as they are: many events are recorded
        if choice == 0:
            good.pop(name, None)
        elif choice == 1:
            good[name] = draw(TEXT)
        elif choice == 2:
            good[name] = draw(_json_value())
    return good


def _jsonl_line(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return json.dumps(draw(_event()), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == 1:
        return json.dumps(draw(_json_value())).encode("utf-8", "surrogatepass")
    if kind == 2:
        return draw(st.binary(max_size=80))
    return draw(TEXT).encode("utf-8", "surrogatepass")


@st.composite
def usage_files(draw):
    fmt = draw(st.sampled_from(["jsonl", "csv", "bytes"]))
    if fmt == "bytes":
        return draw(st.sampled_from(["jsonl", "csv"])), draw(st.binary(max_size=400))
    if fmt == "jsonl":
        return "jsonl", b"\n".join(_jsonl_line(draw) for _ in range(draw(st.integers(0, 6))))
    header = draw(st.sampled_from([
        "idempotency_key,customer,metric,timestamp,value,properties,subscription",
        "idempotency_key,customer,metric,timestamp,value", "key,customer,metric,timestamp,value",
        "customer,metric,timestamp,value", "",
    ]))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        fields = [draw(TEXT) if draw(st.booleans()) else value for value in
                  ("k" + draw(st.text(alphabet=string.digits, min_size=1, max_size=4)), "ACME", "api_calls",
                   "2026-03-05T10:00:00Z", "10")]
        rows.append(",".join(f'"{f}"' if draw(st.booleans()) else f for f in fields))
    text = "\n".join([header, *rows])
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # a stray byte somewhere
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return "csv", raw


@FUZZ
@given(usage_files())
def test_usage_import_never_fails_unexpectedly(usage_org, tmp_path_factory, file):
    from duly.billing.models import UsageEvent

    suffix, content = file
    path = tmp_path_factory.mktemp("usage") / f"usage.{suffix}"
    path.write_bytes(content)
    before = UsageEvent.objects.count()
    code, text = _invoke(["usage", "import", str(path), "--org", "atelier", "--format", "json"])
    after = UsageEvent.objects.count()
    if text.strip().splitlines()[-1].startswith("error: "):  # refused as a whole: nothing recorded
        assert code == 2 and after == before
        return
    report = json.loads(text[text.index("\n{") + 1:] if not text.startswith("{") else text)
    assert after - before == report["accepted"]
    assert code == (2 if report["rejected"] else 0)


# --- import-ubl --------------------------------------------------------------------------------------------
@pytest.fixture
def ubl_orgs(db, settings, tmp_path):
    """The organization that issued each example (importing is for one's own invoices)."""
    from duly.customers.services import create_organization
    from duly.invoicing.einvoice.importer import parse_einvoice

    settings.MEDIA_ROOT = tmp_path / "media"
    orgs = {}
    for name in UBL_EXAMPLES:
        document = parse_einvoice((EXAMPLES / name).read_bytes())
        seller, lines = document.seller, list(document.seller.address_lines)
        orgs[name] = create_organization(
            name=seller.name, slug=f"seller-{len(orgs)}", country=seller.country_code, vat_id=seller.vat_id,
            address_line1=lines[0] if lines else "", postcode=seller.postcode, city=seller.city,
            default_currency=document.currency)
    return orgs


@st.composite
def mutated_examples(draw):
    name = draw(st.sampled_from(UBL_EXAMPLES))
    root = etree.fromstring((EXAMPLES / name).read_bytes())
    # A number of its own: a file accepted once is not merely refused as already imported afterwards.
    number = root.find("{*}ID") if name.startswith("ubl/") else root.find("{*}ExchangedDocument/{*}ID")
    number.text = f"FUZZ-{draw(st.integers(0, 10**9))}"
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0]
    for _ in range(draw(st.integers(1, 4))):
        element = draw(st.sampled_from(leaves))
        action = draw(st.integers(0, 5))
        if action == 0 and element.getparent() is not None:
            element.getparent().remove(element)
            leaves.remove(element)
        elif action == 1 and element.attrib:
            element.set(draw(st.sampled_from(sorted(element.attrib))), _xml_text(draw(TEXT)))
        elif action == 2 and element.getparent() is not None:
            element.addnext(etree.fromstring(etree.tostring(element)))
        else:
            element.text = _xml_text(draw(TEXT))
    content = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if draw(st.integers(0, 9)) == 0:  # cut short
        content = content[:draw(st.integers(0, len(content)))]
    return name, content


def _xml_text(text: str) -> str:
    """Text lxml can hold (XML forbids NUL, most control characters and lone surrogates)."""
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c and not "\ud800" <= c <= "\udfff"
                                                           and c not in "\ufffe\uffff"))


def _ubl_counts():
    from duly.customers.models import Customer
    from duly.invoicing.models import Attachment, Invoice, InvoiceAllowanceCharge, InvoiceLine

    return tuple(model.objects.count() for model in (Invoice, InvoiceLine, InvoiceAllowanceCharge, Customer,
                                                     Attachment))


@FUZZ
@given(st.one_of(mutated_examples(), mutated_examples(), mutated_examples(),
                 st.tuples(st.sampled_from(UBL_EXAMPLES), st.binary(max_size=600))))
def test_import_ubl_never_fails_unexpectedly(ubl_orgs, tmp_path_factory, case):
    name, content = case
    path = tmp_path_factory.mktemp("ubl") / "invoice.xml"
    path.write_bytes(content)
    before = _ubl_counts()
    code, text = _invoke(["invoices", "import-ubl", str(path), "--org", ubl_orgs[name].slug])
    after = _ubl_counts()
    if code == 2:
        assert after == before, text
        assert text.strip().startswith("error: ") and len(text.strip().splitlines()) == 1, text
    else:
        assert after[0] == before[0] + 1 and text.startswith("Imported ")


def test_an_imported_payee_without_a_name_is_refused_clearly_or_kept(ubl_orgs, tmp_path):
    """Found by the fuzzer: a payee (BG-10) whose name is empty was stored without one and broke reading
    the draft back ("unexpected TypeError"). It now imports like any other file: one draft, or one clear error
    and nothing written."""
    name = "ubl/ubl-tc434-example2.xml"
    root = etree.fromstring((EXAMPLES / name).read_bytes())
    root.find("{*}ID").text = "PAYEE-WITHOUT-NAME"
    payee = root.find("{*}PayeeParty")
    assert payee is not None
    payee.find("{*}PartyName/{*}Name").text = ""
    path = tmp_path / "invoice.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    before = _ubl_counts()
    code, text = _invoke(["invoices", "import-ubl", str(path), "--org", ubl_orgs[name].slug])
    if code == 2:
        assert _ubl_counts() == before and text.strip().startswith("error: "), text
    else:
        assert _ubl_counts()[0] == before[0] + 1 and text.startswith("Imported "), text


@FUZZ
@given(mutated_examples())
def test_import_ubl_as_issued_never_fails_unexpectedly(ubl_orgs, tmp_path_factory, case):
    from duly.invoicing.models import Invoice

    name, content = case
    path = tmp_path_factory.mktemp("ubl") / "invoice.xml"
    path.write_bytes(content)
    before = _ubl_counts()
    code, text = _invoke(["invoices", "import-ubl", "--as-issued", str(path), "--org", ubl_orgs[name].slug])
    after = _ubl_counts()
    if code == 2:
        assert after == before, text
        assert text.strip().startswith("error: ") and len(text.strip().splitlines()) == 1, text
    else:
        assert after[0] == before[0] + 1 and text.startswith("Imported ")
        assert Invoice.objects.latest("pk").origin == Invoice.ORIGIN_MIGRATED


# --- receivables import (CSV migration) ----------------------------------------------------------------------
CELLS = st.one_of(TEXT, st.sampled_from(["ACME", "EUR", "USD", "2026-01-05", "2026-02-04", "100.00", "0", "20.5",
                                          "OLD-1", "OLD-2", "INV-2026-00001"]))
HEADERS = ["customer,number,issue_date,due_date,amount,currency,paid",
           "customer,number,issue_date,due_date,amount,currency,paid,terms",
           "paid;currency;amount;due_date;issue_date;number;customer"]


@st.composite
def receivable_files(draw):
    header = draw(st.one_of(st.sampled_from(HEADERS), TEXT))
    sep = ";" if ";" in header else ","
    rows = draw(st.lists(st.lists(CELLS, max_size=9), max_size=4))
    text = header + "\n" + "\n".join(sep.join(row) for row in rows)
    return text.encode("utf-8", "surrogatepass")


@FUZZ
@given(st.one_of(receivable_files(), receivable_files(), st.binary(max_size=400)))
def test_receivables_import_never_fails_unexpectedly(org, customer, tmp_path_factory, content):
    from duly.invoicing.models import Invoice

    path = tmp_path_factory.mktemp("receivables") / "export.csv"
    path.write_bytes(content)
    before = Invoice.objects.count()
    code, text = _invoke(["receivables", "import", str(path), "--org", org.slug])
    after = Invoice.objects.count()
    if code == 2:
        assert after == before, text
        assert text.strip().startswith("error: ") and len(text.strip().splitlines()) == 1, text
    else:
        assert text.startswith("Imported ") and after > before
