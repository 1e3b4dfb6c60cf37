"""A billing run split into partitions of customers (by id range) run at once, and the COPY writes on PostgreSQL.

The partitions of one run bill exactly the invoices one process bills (same customers, lines and amounts),
numbered without a gap or a duplicate: each partition takes its block of numbers in its own commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_run import SCRIPT, _bill, _dump, _pg_databases, _script


def _customer_ids(home: Path, database_url: str) -> list[int]:
    code = ("import django, json; django.setup(); from duly.customers.models import Customer; "
            "print(json.dumps(list(Customer.objects.order_by('id').values_list('id', flat=True))))")
    environ = {**os.environ, "DULY_HOME": str(home), "DATABASE_URL": database_url,
               "DJANGO_SETTINGS_MODULE": "duly.settings"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True)
    return json.loads(out.stdout)


def _by_customer(dump: dict) -> list:
    """The invoices without their numbers (and what follows from them), each with its lines, in customer order."""
    lines: dict[str, list] = {}
    for number, line in zip(dump["line_invoices"], dump["lines"]):
        lines.setdefault(number, []).append(line)
    from duly.invoicing.models import Invoice

    names = [f.attname for f in Invoice._meta.concrete_fields
             if f.attname not in ("id", "issued_at", "created_at", "updated_at")]  # the dump's columns
    numbered = {"number", "rf_reference"}
    invoices = []
    for row in dump["invoices"]:
        values = dict(zip(names, row))
        invoices.append(([v for k, v in values.items() if k not in numbered], lines[values["number"]]))
    return sorted(invoices)


def _partitions_at_once(home: Path, database_url: str, serial_url: str) -> None:
    """Seed (in ``serial_url``'s database, cloned by the caller into ``database_url``), bill in one process there
    and in two partitions at once here, and compare."""
    ids = _customer_ids(home, database_url)
    middle = ids[len(ids) // 2]
    one = _bill(home, "2026-02-01", "5", "-1", "1", database_url=serial_url)["result"]
    environ = {**os.environ, "DULY_HOME": str(home), "DATABASE_URL": database_url,
               "DJANGO_SETTINGS_MODULE": "duly.settings", "WINDOW_BATCHES": "2", "COPY_MIN_ROWS": "1"}
    runs = [subprocess.Popen([sys.executable, str(SCRIPT), "bill", "2026-02-01", "5", "-1", "2"],
                             env={**environ, "ID_RANGE": part}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for part in (f"0:{middle}", f"{middle}:")]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    parts = [json.loads(out.strip().splitlines()[-1])["result"] for out, _ in outputs]
    assert [p["customers"] for p in parts] == [len(ids) // 2, len(ids) - len(ids) // 2]
    assert sum(p["invoices"] for p in parts) == one["invoices"] == 80
    serial, split = _dump(home, serial_url), _dump(home, database_url)
    # Every number once, none missing; each period billed once.
    assert sorted(split["record_invoices"]) == [f"INV-2026-{n:05}" for n in range(1, 81)]
    assert len(split["records"]) == len(serial["records"]) == 80
    # The same invoices and lines as one process (only which number each got may differ).
    assert _by_customer(split) == _by_customer(serial)
    again = [_bill(home, "2026-02-01", "5", "-1", "2", database_url=database_url)["result"]["invoices"]]
    assert again == [0]


def test_two_partitions_at_once_bill_what_one_process_bills_numbered_without_gap(tmp_path, migrated_sqlite):
    serial, split = tmp_path / "serial", tmp_path / "split"
    migrated_sqlite(serial / "crash.sqlite3")
    split.mkdir()
    _script(serial, "seed", "40", "mixed")
    (split / "crash.sqlite3").write_bytes((serial / "crash.sqlite3").read_bytes())
    _partitions_at_once(split, f"sqlite:///{split / 'crash.sqlite3'}", f"sqlite:///{serial / 'crash.sqlite3'}")


@pytest.mark.postgres
def test_copy_writes_exactly_what_inserts_write_on_postgresql(tmp_path):
    with _pg_databases("inserts", "copy") as (urls, clone):
        _script(tmp_path, "seed", "40", "mixed", database_url=urls["inserts"])
        clone("copy")
        environ = os.environ.copy()
        try:
            os.environ["COPY_MIN_ROWS"] = str(10**9)  # never COPY
            one = _bill(tmp_path, "2026-02-01", "5", "-1", "1", database_url=urls["inserts"])["result"]
            os.environ["COPY_MIN_ROWS"] = "1"  # always COPY
            two = _bill(tmp_path, "2026-02-01", "5", "-1", "2", database_url=urls["copy"])["result"]
        finally:
            os.environ.clear()
            os.environ.update(environ)
        assert one["invoices"] == two["invoices"] == 80
        assert _dump(tmp_path, urls["inserts"]) == _dump(tmp_path, urls["copy"])


@pytest.mark.postgres
def test_two_partitions_at_once_on_postgresql_bill_what_one_process_bills(tmp_path):
    with _pg_databases("serial", "split") as (urls, clone):
        _script(tmp_path, "seed", "40", "mixed", database_url=urls["serial"])
        clone("split")
        _partitions_at_once(tmp_path, urls["split"], urls["serial"])
