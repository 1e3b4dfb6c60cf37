"""Equivalence harness: a dump of every table after the billing run and after a dunning run.

Run: ``.venv/bin/python bench/equivalence.py [--n 2000] [--out DIR] [--compare DIR]``

Issue 12 ("behaviour is unchanged") asks that the database Duly leaves behind compares equal before and
after a refactoring. This script builds that database from nothing, always the same way, in one process:

1. A fresh SQLite database under ``var/equivalence/`` (deleted first), with a fixed secret key, the
   in-memory e-mail backend and no ``DULY_*`` setting from the caller's environment.
2. *Seed*: :func:`bench.billing_run.generate` (the billing bench's own data set: N customers mixing every
   price model, usage events and licence snapshots, a seeded random generator), so the data is the one
   ``make bench`` measures.
3. *Bill*: ``run_billing(org, billing_run.AS_OF)`` (2026-02-01, planning processes as ``duly bill`` runs
   them), then once more to show it bills nothing twice. **Dump 1** (``billing.jsonl``).
4. *Dunning set-up*, deterministic, after the dump: contacts for the customers (a few without an e-mail
   address), late-fee terms on some contracts (fixed fee, annual and monthly interest), a usage import
   through ``billing.services.record_usage`` (January events that arrive late, February events, a
   duplicate and rejected rows), and payments for some of the invoices through
   ``payments.services.record_payment`` (full, partial, overpaid).
5. *Dunning run*: ``collections.services.collect(org, as_of=dunning_run.AS_OF)`` (2026-06-10 09:30 UTC,
   the dunning bench's instant, inside every sending window; not a dry run: reminders, messages queued
   in the outbox, invoices e-mailed, tasks), then the late-fee job ``assess_late_fees`` on that day
   (fee and interest invoices), then one pass of the outbox worker (``deliver_outbox`` at that instant,
   the first :data:`DELIVER` messages, the in-memory e-mail backend). **Dump 2** (``dunning.jsonl``).

The dump
    Every table: each Django model (auto-created many-to-many tables included), read through its base
    manager, ordered by primary key, one JSON object per row ``{"table", "pk", "row"}``; then every other
    table the database holds read with plain SQL in primary-key order, except ``django_migrations``: keyed
    by (app, name), since its id and ``applied`` are only the order and the moment ``migrate`` ran them.
    Values: Decimal and date/time as text, JSON as JSON (keys sorted), bytes as their SHA-256.

What is normalized, and why (nothing is dropped; a normalized value keeps its null-ness and its identity)
    - *Wall-clock moments*: a date-time that falls between the start of this script and the moment of
      the dump (minus/plus a minute) is the clock of the machine, not a business time (``created_at``,
      an invoice's ``issued_at``, a run's ``started_at``/``finished_at``, a migration's ``applied``). The
      data's business times end in June 2026 (the dunning instant) and the script refuses to run on a
      machine whose clock is not past July 2026, so the two cannot be confused. Shown as
      ``<wall-clock>``; a date equal to the wall-clock day is *not* normalized (no business date of this
      data set is today's).
    - *Random identifiers*: :data:`RANDOM_PATTERNS` (the ``Message-ID`` chosen with ``secrets`` when a
      message is queued, wherever it appears: its column, or another row's text or JSON) and
      :data:`RANDOM_FIELDS` (the outbox worker's ``uuid4`` lease token, empty once a message is settled).
      Each distinct value becomes ``<random:kind#k>``, ``k`` numbering the values in the dump's order, so
      two rows sharing one value still share it. Pay links and portal tokens are signed, not random: with
      the fixed secret key they compare as they are. Found by running the script twice and diffing.
    - *Paths*: the run's own home directory becomes ``<home>``.

``--out DIR`` writes the two dumps (and ``summary.json``: rows per table); ``--compare DIR`` compares this
run's dumps with the ones in ``DIR``, prints the first differences and exits 1 on any (both may be given).

Before/after check (the merger's recipe, see docs/architecture.md)::

    git worktree add --detach ../wt-baseline <base-commit> && (cd ../wt-baseline && make .venv/.installed)
    cp bench/equivalence.py ../wt-baseline/bench/
    (cd ../wt-baseline && .venv/bin/python bench/equivalence.py --out /tmp/baseline-dumps)
    .venv/bin/python bench/equivalence.py --compare /tmp/baseline-dumps
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from datetime import date, datetime, time as clock_time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import billing_run  # noqa: E402  (the billing bench: its data set and dates)
import dunning_run  # noqa: E402  (the dunning bench: its instant)

HOME = ROOT / "var" / "equivalence"
DUMPS = ("billing", "dunning")
SECRET_KEY = "equivalence-harness-fixed-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
MAX_SHOWN = 20
#: Messages the outbox pass delivers (each renders its PDF attachments: a few, not thousands).
DELIVER = 40

#: Values chosen at random by the code under test, wherever they appear (a column, or inside another row's text or
#: JSON): kind -> pattern. Each distinct value becomes ``<random:kind#k>`` (see the module docstring).
RANDOM_PATTERNS: dict[str, re.Pattern] = {
    # messaging.services.new_message_id: "<duly.{secrets.token_hex(20)}@{domain}>", chosen when a message is queued.
    "message-id": re.compile(r"<duly\.[0-9a-f]{40}@[^<>\s]+>"),
}
#: Whole columns chosen at random: "table.column" -> kind. The outbox worker's lease token (uuid4().hex) while a
#: message is being sent ("" otherwise).
RANDOM_FIELDS: dict[str, str] = {
    "messaging_message.lease_token": "lease-token",
}


# --- set-up ------------------------------------------------------------------------------------------------
def setup_django() -> Path:
    """A fresh home under var/ with its SQLite database; settings that do not depend on the caller."""
    if HOME.exists():
        shutil.rmtree(HOME)
    HOME.mkdir(parents=True)
    for name in [k for k in os.environ if k.startswith("DULY_") or k == "DATABASE_URL"]:
        del os.environ[name]
    os.environ.update({
        "DULY_HOME": str(HOME),
        "DATABASE_URL": f"sqlite:///{HOME / 'equivalence.sqlite3'}",
        "DULY_SECRET_KEY": SECRET_KEY,
        "DULY_ALLOW_LOOPBACK_LINKS": "1",  # the same documents as before issuing refused a loopback public URL
        "DULY_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_SETTINGS_MODULE": "duly.settings",
        "TZ": "UTC",
    })
    time.tzset()
    import django

    django.setup()
    return HOME


def bill(n: int) -> None:
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    billing_run.generate(n)
    org = Organization.objects.get(slug="bench")
    result = run_billing(org, billing_run.AS_OF)
    if result.skipped or result.invoices != n:
        raise SystemExit(f"billing run: {result.invoices} invoices for {n} customers, left out: {result.skipped[:5]}")
    again = run_billing(org, billing_run.AS_OF)
    if again.invoices:
        raise SystemExit(f"the second billing run issued {again.invoices} invoices: not idempotent")


def prepare_dunning() -> None:
    """Contacts, late-fee terms and payments, the same every time (no random generator: index arithmetic)."""
    from django.db import transaction

    from duly.customers.models import Contact, Contract, Customer, Organization
    from duly.domain.money import from_minor
    from duly.invoicing.models import Invoice
    from duly.payments.services import record_payment

    org = Organization.objects.get(slug="bench")
    customers = list(Customer.objects.filter(organization=org).order_by("id"))
    with transaction.atomic():
        contacts = []
        for i, c in enumerate(customers):
            contacts.append(Contact(organization=org, customer=c, name=f"Compta {i}",
                                    email="" if i % 29 == 0 else f"compta.{i}@customer.example",
                                    phone="+33 4 72 00 00 00", role="accounts_payable"))
            if i % 4 == 0:
                contacts.append(Contact(organization=org, customer=c, name=f"Owner {i}",
                                        email=f"owner.{i}@customer.example", role="owner"))
        Contact.objects.bulk_create(contacts)
        contracts = list(Contract.objects.filter(organization=org).order_by("id"))
        for i, contract in enumerate(contracts):
            if i % 6 == 1:
                contract.late_fee_kind, contract.late_fixed_fee_minor = "fixed_fee", 1500
            elif i % 6 == 2:
                contract.late_fee_kind, contract.late_rate_percent = "interest_annual", Decimal("12")
            elif i % 6 == 3:
                contract.late_fee_kind, contract.late_rate_percent = "interest_monthly", Decimal("1.5")
                contract.late_grace_days = 10
        Contract.objects.bulk_update(contracts, ["late_fee_kind", "late_fixed_fee_minor", "late_rate_percent",
                                                 "late_grace_days"])
    record_usage_import(org)
    invoices = list(Invoice.objects.filter(organization=org).select_related("customer").order_by("id"))
    for i, inv in enumerate(invoices):
        share = {0: 1, 1: 0.5, 2: 1.25}.get(i % 7)  # paid, half paid, overpaid; the others stay open
        if share is None or inv.total_minor <= 0:
            continue
        amount = from_minor(int(inv.total_minor * Decimal(str(share))), inv.currency)
        record_payment(org, inv.customer, amount=amount, currency=inv.currency, method="bank_transfer",
                       received_on=date(2026, 3, 1) + timedelta(days=i % 40), external_reference=f"EQ-{inv.pk}")


def record_usage_import(org) -> None:
    """Usage rows as a file would bring them: billing_run's customers of kind 2 (API calls) and 3 (storage and
    payments), one in seven; January events (already billed: late adjustments) and February ones."""
    from duly.billing.services import record_usage

    rows = []
    n = _customer_count(org)
    for i in range(2, n, 35):  # i % 5 == 2 and i % 7 == 2
        for k, (metric, value) in enumerate((("api_calls", 1500 + i), ("api_calls", 40))):
            day = 20 + k
            rows.append({"idempotency_key": f"EQ-{i}-{k}", "customer": f"C{i:06}", "metric": metric,
                         "timestamp": f"2026-0{1 + k}-{day}T10:00:00+00:00", "value": str(value)})
    for i in range(3, n, 35):
        rows.append({"idempotency_key": f"EQ-{i}-s", "customer": f"C{i:06}", "metric": "storage_gb",
                     "timestamp": "2026-01-25T08:30:00+01:00", "value": "1200"})
        rows.append({"idempotency_key": f"EQ-{i}-p", "customer": f"C{i:06}", "metric": "payments",
                     "timestamp": "2026-02-03T08:30:00Z", "value": "99.99"})
    rows.append(dict(rows[0]))  # a duplicate
    rows.append({**rows[1], "value": "41"})  # the same key for a different event: rejected
    rows.append({"idempotency_key": "EQ-bad", "customer": "C000002", "metric": "nope",
                 "timestamp": "2026-02-01T00:00:00Z", "value": "1"})  # unknown metric: rejected
    result = record_usage(org, rows, recorded_at=datetime(2026, 3, 2, 12, tzinfo=timezone.utc))
    print(f"usage import: {result.summary()}")


def _customer_count(org) -> int:
    from duly.customers.models import Customer

    return Customer.objects.filter(organization=org).count()


def dunning() -> None:
    from duly.collections.services import assess_late_fees, collect
    from duly.customers.models import Organization
    from duly.messaging.delivery import deliver_outbox

    org = Organization.objects.get(slug="bench")
    result = collect(org, as_of=dunning_run.AS_OF)
    if result.errors:
        raise SystemExit(f"dunning run errors: {result.errors[:5]}")
    fees = assess_late_fees(org, as_of=dunning_run.AS_OF.date())
    report = deliver_outbox(dunning_run.AS_OF, limit=DELIVER)
    print(f"outbox: {report.summary()}")
    print(f"dunning run: {result.counts()}; late fees: {len(fees.assessed)} on {len(fees.fee_invoices)} invoices")


# --- the dump ------------------------------------------------------------------------------------------------
class Dumper:
    def __init__(self, started: datetime) -> None:
        self.started = started - timedelta(minutes=1)
        self.aliases: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.home = str(HOME)

    def _alias(self, kind: str, value: str) -> str:
        if value not in self.aliases:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            self.aliases[value] = f"<random:{kind}#{self.counters[kind]}>"
        return self.aliases[value]

    def value(self, v: Any, random_kind: str | None = None) -> Any:
        if v is None:
            return None
        if random_kind and v != "":
            return self._alias(random_kind, str(v))
        if isinstance(v, datetime):
            if v.tzinfo is not None and self.started <= v <= self.ended:
                return "<wall-clock>"
            return v.isoformat()
        if isinstance(v, (date, clock_time)):
            return v.isoformat()
        if isinstance(v, (Decimal, UUID, timedelta)):
            return str(v)
        if isinstance(v, (bytes, memoryview)):
            return "sha256:" + hashlib.sha256(bytes(v)).hexdigest()
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {str(k): self.value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
        if isinstance(v, (list, tuple)):
            return [self.value(x) for x in v]
        if isinstance(v, float):
            return repr(v)
        return v

    def text(self, v: str) -> str:
        if self.home in v:
            v = v.replace(self.home, "<home>")
        for kind, pattern in RANDOM_PATTERNS.items():
            v = pattern.sub(lambda m, kind=kind: self._alias(kind, m.group(0)), v)
        return v

    def rows(self) -> Iterator[dict]:
        from django.apps import apps
        from django.db import connection

        self.ended = datetime.now(timezone.utc) + timedelta(minutes=1)
        models = sorted((m for m in apps.get_models(include_auto_created=True) if not m._meta.proxy),
                        key=lambda m: m._meta.db_table)
        seen = set()
        for model in models:
            table = model._meta.db_table
            seen.add(table)
            fields = model._meta.concrete_fields
            names = [f.attname for f in fields]
            kinds = [RANDOM_FIELDS.get(f"{table}.{f.column}") for f in fields]
            for values in model._base_manager.order_by("pk").values_list(*names).iterator(chunk_size=5000):
                row = {f.column: self.value(v, k) for f, v, k in zip(fields, values, kinds)}
                yield {"table": table, "pk": row[model._meta.pk.column], "row": row}
        with connection.cursor() as cur:
            for table in sorted(set(connection.introspection.table_names()) - seen):
                if table == "django_migrations":
                    # Keyed by (app, name): its id is only the order migrate applied them in (the dependency
                    # graph's), so a migration added upstream shows as one row, not as every later id shifted.
                    cur.execute('SELECT app, name FROM "django_migrations" ORDER BY app, name')
                    for app, name in cur.fetchall():
                        yield {"table": table, "pk": f"{app}.{name}",
                               "row": {"app": app, "name": name, "id": "<applied order>", "applied": "<wall-clock>"}}
                    continue
                cur.execute(f'SELECT * FROM "{table}" ORDER BY 1')
                cols = [c[0] for c in cur.description]
                for values in cur.fetchall():
                    row = {c: self.value(v) for c, v in zip(cols, values)}
                    yield {"table": table, "pk": row[cols[0]], "row": row}


def dump(started: datetime) -> list[str]:
    return [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in Dumper(started).rows()]


# --- comparing ------------------------------------------------------------------------------------------------
def _index(lines: list[str]) -> tuple[list[tuple[str, str]], dict[tuple[str, str], dict]]:
    order, rows = [], {}
    for line in lines:
        r = json.loads(line)
        key = (r["table"], json.dumps(r["pk"]))
        order.append(key)
        rows[key] = r["row"]
    return order, rows


def compare(name: str, ours: list[str], theirs: list[str], shown: list[str]) -> int:
    """Differences between two dumps (0 when equal); the first ones are appended to ``shown``."""
    if ours == theirs:
        return 0
    order_a, a = _index(theirs)
    order_b, b = _index(ours)
    diffs = 0
    tables_a = {t for t, _ in order_a}
    tables_b = {t for t, _ in order_b}
    for t in sorted(tables_a - tables_b):
        diffs += 1
        shown.append(f"{name}: table {t} only in the reference ({sum(1 for x, _ in order_a if x == t)} rows)")
    for t in sorted(tables_b - tables_a):
        diffs += 1
        shown.append(f"{name}: table {t} only in this run ({sum(1 for x, _ in order_b if x == t)} rows)")
    counts_a = {t: sum(1 for x, _ in order_a if x == t) for t in tables_a & tables_b}
    counts_b = {t: sum(1 for x, _ in order_b if x == t) for t in tables_a & tables_b}
    for t in sorted(counts_a):
        if counts_a[t] != counts_b[t]:
            diffs += 1
            shown.append(f"{name}: {t}: {counts_a[t]} rows in the reference, {counts_b[t]} in this run")
    for key in order_a:
        if key[0] not in tables_b:
            continue
        if key not in b:
            diffs += 1
            shown.append(f"{name}: {key[0]} pk={key[1]} only in the reference: {_short(a[key])}")
            continue
        ra, rb = a[key], b[key]
        if ra != rb:
            diffs += 1
            cols = sorted(set(ra) | set(rb))
            changed = [f"{c}: {_short(ra.get(c, '<missing>'))} -> {_short(rb.get(c, '<missing>'))}"
                       for c in cols if ra.get(c, "<missing>") != rb.get(c, "<missing>")]
            shown.append(f"{name}: {key[0]} pk={key[1]}: " + "; ".join(changed))
    for key in order_b:
        if key[0] in tables_a and key not in a:
            diffs += 1
            shown.append(f"{name}: {key[0]} pk={key[1]} only in this run: {_short(b[key])}")
    return max(diffs, 1)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"


def _summary(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        table = json.loads(line)["table"]
        counts[table] = counts.get(table, 0) + 1
    return counts


# --- main ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="customers (default 2,000)")
    parser.add_argument("--out", type=Path, help="write the dumps to this directory")
    parser.add_argument("--compare", type=Path, help="compare with the dumps in this directory; exit 1 on any "
                                                     "difference")
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    if started.date() <= date(2026, 7, 1):
        raise SystemExit("the machine's clock is inside the data set's business dates: wall-clock moments "
                         "could not be told apart from business times")
    setup_django()
    t0 = time.perf_counter()
    bill(args.n)
    dumps = {"billing": dump(started)}
    t1 = time.perf_counter()
    prepare_dunning()
    dunning()
    dumps["dunning"] = dump(started)
    t2 = time.perf_counter()
    for name in DUMPS:
        counts = _summary(dumps[name])
        shown = ", ".join(f"{t} {c}" for t, c in sorted(counts.items()) if not t.startswith(("auth_", "django_")))
        print(f"{name}: {len(dumps[name]):,} rows in {len(counts)} tables ({shown})")
    print(f"billing {t1 - t0:.1f} s, dunning {t2 - t1:.1f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in DUMPS:
            (args.out / f"{name}.jsonl").write_text("\n".join(dumps[name]) + "\n", encoding="utf-8")
        (args.out / "summary.json").write_text(json.dumps({n: _summary(dumps[n]) for n in DUMPS}, indent=1,
                                                          sort_keys=True) + "\n", encoding="utf-8")
        print(f"dumps written to {args.out}")
    if args.compare:
        shown: list[str] = []
        total = 0
        for name in DUMPS:
            theirs = (args.compare / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            total += compare(name, dumps[name], theirs, shown)
        if total:
            print(f"DIFFERENT from {args.compare}: {total} difference(s) (tables, row counts, rows); "
                  f"the first {min(len(shown), MAX_SHOWN)}:")
            for line in shown[:MAX_SHOWN]:
                print("  " + line)
            return 1
        print(f"equal to {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
