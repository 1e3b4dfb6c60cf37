"""The `duly` console script end to end on a fresh SQLite database (separate processes, real files)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DULY = [str(Path(sys.executable).with_name("duly"))]


def run(args, home: Path, check=True, **kw):
    env = {**os.environ, "DULY_HOME": str(home), "DJANGO_SETTINGS_MODULE": "duly.settings"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(DULY + args, capture_output=True, text=True, env=env, timeout=300, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"duly {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("duly-demo")
    run(["demo", "--no-serve", "--as-of", "2026-11-20"], home)
    return home


def test_demo_seeds_a_realistic_organization(demo_home):
    rows = json.loads(run(["invoices", "list", "--format", "json"], demo_home).stdout)
    customers = {r["customer"] for r in rows}
    assert len(customers) == 30
    assert len(rows) >= 150
    statuses = {r["status"] for r in rows}
    assert {"paid", "partially_paid", "issued"} <= statuses


def test_aging_json_agrees_with_open_invoices(demo_home):
    report = json.loads(run(["report", "aging", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    rows = json.loads(run(["invoices", "list", "--format", "json"], demo_home).stdout)
    from decimal import Decimal

    expected: dict[str, Decimal] = {}
    for r in rows:
        if r["status"] in ("issued", "partially_paid"):
            expected[r["currency"]] = expected.get(r["currency"], Decimal(0)) + Decimal(r["balance"])
    got = {cur: Decimal(t["total_open"]) for cur, t in report["totals"].items()}
    assert got == {k: v for k, v in expected.items() if v}
    for cur, t in report["totals"].items():
        assert sum(Decimal(v) for v in t["buckets"].values()) == Decimal(t["total_open"])
    per_customer = sum(Decimal(c["total_open"]) for c in report["customers"] if c["currency"] == "EUR")
    assert per_customer == got["EUR"]


def test_errors_are_one_line_and_non_zero(demo_home):
    proc = run(["payments", "record", "--customer", "LUMEN", "--amount", "10", "--currency", "XXX",
                "--method", "card", "--date", "2026-11-20"], demo_home, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    proc = run(["invoices", "void", "INV-1999-00001", "--reason", "x"], demo_home, check=False)
    assert proc.returncode == 2 and "INV-1999-00001" in proc.stderr
    proc = run(["fees", "assess", "--as-of", "not-a-date"], demo_home, check=False)
    assert proc.returncode == 2


def test_fees_assess_is_idempotent_from_the_cli(demo_home):
    first = json.loads(run(["fees", "assess", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    second = json.loads(run(["fees", "assess", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    assert first["fee_invoices"], "the demo has late payers: some fees are due"
    assert second["fee_invoices"] == [] and second["assessed"] == []


def test_init_creates_org_and_admin_from_flags(tmp_path):
    proc = run(["init", "--no-input", "--org-name", "Rivet & Co GmbH", "--country", "DE", "--currency", "EUR",
                "--address", "Hauptstraße 1", "--city", "Berlin", "--admin-user", "owner",
                "--admin-password", "s3cret-pass", "--iban", "DE89370400440532013000"], tmp_path)
    assert "Rivet & Co GmbH" in proc.stdout
    bad = run(["init", "--no-input", "--org-name", "X", "--country", "DE", "--currency", "EUR", "--address", "a",
               "--city", "b", "--admin-user", "u", "--admin-password", "s3cret-pass", "--slug", "x2",
               "--iban", "DE00370400440532013000"], tmp_path, check=False)
    assert bad.returncode == 2 and "IBAN" in bad.stderr
