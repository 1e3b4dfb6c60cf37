"""Reconciliation at scale on SQLite: a camt.053 of M lines imported and reconciled against N open invoices.

Run: ``.venv/bin/python bench/reconcile_db.py [--invoices 1000000] [--lines 100000] [--seed 2026] [--keep]``
(issue 14, "Speed": 100,000 lines against 1,000,000 open invoices, import and write time beside matching).

On a throw-away SQLite database (bench/_duly.py) it seeds, quickly and outside what is measured:

- one organization, ``--invoices`` / 10 customers (copies of one customer made by ``create_customer``, in bulk);
- ``--invoices`` issued, open invoices: one issued by ``issue_invoice``, the others copies of it inserted in bulk,
  each numbered from the organization's own series (``take_numbers``: the counter moves as if Duly had issued
  them) and given the RF reference Duly gives (``rf_for_invoice(org.slug, number)``), its own customer and its own
  amount (net, tax at 20 % and total; the copies keep the template's lines, tax breakdown and document snapshot);
- a camt.053.001.08 statement of ``--lines`` lines, each paying a different invoice whole or being noise:
  45 % the structured RF reference, 10 % the RF printed in the text, 25 % the invoice number in the text in the
  ways people write it (separators, spaces, "Rechnung 2026/…"), 10 % only the payer's name and the amount, 4 %
  outgoing (salaries, card fees), 6 % unrelated incoming money (tax refund, interest).

Then it measures, in the same process, each with lines/s and the peak resident size so far (counted from the end
of seeding; at full size the whole run takes about 4 minutes and a 1.4 GB database, removed unless ``--keep``):

1. import: ``bank_services.import_statement`` (parse, checks, bulk inserts in one transaction);
2. snapshot: the open items read from SQLite (``reconcile_snapshot.open_items``, ``learned_ibans``) and the
   statement lines to match (``lines_to_match``);
3. matching: the domain (``MatchIndex.build`` over the N items, then ``Matcher.match`` of the M lines);
4. writes: the sure matches applied through the payments services (bulk path of ``reconcile``: payments,
   allocations, invoice statuses, ``payment_recorded`` signals, bank matches) and the rest queued for review.

Phases 2-4 are one real call of ``reconcile_services.reconcile``; the bench only wraps the functions it calls
(by their names in that module) with timers, so nothing is run twice and nothing is skipped.
Beside it, the naive reference of bench/reconcile.py: a per-line scan of the customer's open items (customer
handed to it for free), over the snapshot read in phase 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import shutil
import sys
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

ISSUED = date(2026, 3, 2)
BOOKED = date(2026, 4, 15)
AS_OF = date(2026, 4, 30)
IBAN = "NL26VAYB8060476890"
TARGET_MATCH_S = 10.0
WORDS = ["Schmidt", "Schmid", "Müller", "Meyer", "Weber", "Wagner", "Becker", "Dupont", "Durand", "Martin",
         "Bernard", "Rossi", "Garcia", "Lopez", "Jansen", "Nordic", "Alpine", "Atlas", "Vega", "Orion"]
TRADES = ["Bau", "Logistik", "Consulting", "Software", "Studio", "Design", "Transport", "Immobilien", "Solutions",
          "Services", "Partners", "Technik", "Handel", "Foods", "Media", "Energie", "Pharma"]


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for text in f:
            if text.startswith(key + ":"):
                return int(text.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the process's whole peak


def rss_mib() -> float:
    """Peak resident size (MiB) since :func:`reset_peak` (Linux ``VmHWM``)."""
    return _status("VmHWM")


def reset_peak() -> float:
    """Start the peak again from the current resident size (Linux: ``clear_refs`` 5), so seeding's peak is not
    counted in the phases'; returns the current resident size (MiB)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status("VmRSS")


def seed(n: int, rng: random.Random):
    """The organization, n/10 customers and n issued open invoices (see the module). Returns (org, customers)."""
    from django.db import connection, transaction

    from duly.customers.models import Customer
    from duly.customers.services import create_contract, create_customer, create_organization
    from duly.db.fastpath import insert_rows
    from duly.domain.references import rf_for_invoice
    from duly.invoicing import services
    from duly.invoicing.models import Invoice
    from duly.payments.bank_services import add_bank_account

    org = create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example")
    add_bank_account(org, iban=IBAN, currency="EUR")
    count = max(n // 10, 1)
    first = create_customer(org, code="C000000", name="Schmidt Bau 0", country="FR", city="Lyon",
                            address_line1="3 quai Perrache", postcode="69002", currency="EUR", locale="fr_FR",
                            timezone="Europe/Paris")
    cfields = {f.attname: getattr(first, f.attname) for f in Customer._meta.concrete_fields}
    Customer.objects.bulk_create([
        Customer(**{**cfields, "id": None, "code": f"C{c:06d}",
                    "name": f"{WORDS[c % 20]} {TRADES[(c // 20) % 17]} {c}"})
        for c in range(1, count)], batch_size=2000)
    customers = list(Customer.objects.filter(organization=org).order_by("pk").values_list("pk", "name"))
    contract = create_contract(org, first, reference="CTR-1", start_date=date(2026, 1, 1), terms_kind="net",
                               terms_days=30)
    draft = services.create_draft(org, first, [services.LineData("Service", Decimal(1), Decimal("120.50"))],
                                  contract=contract)
    template = services.issue_invoice(org, draft.pk, issue_date=ISSUED)
    columns = [f.attname for f in Invoice._meta.concrete_fields if f.attname != "id"]
    base = [getattr(template, name) for name in columns]
    at = {name: columns.index(name) for name in ("number", "rf_reference", "customer_id", "line_total_minor",
                                                  "tax_exclusive_minor", "tax_total_minor", "total_minor")}
    chunk = 20_000
    for start in range(1, n, chunk):
        with transaction.atomic():
            numbers = services.take_numbers(org, "invoice", ISSUED, min(chunk, n - start))
            rows = []
            for k, number in enumerate(numbers, start):
                row = list(base)
                net = rng.randrange(1_000, 200_000)
                tax = (net * 20 + 50) // 100
                row[at["number"]], row[at["rf_reference"]] = number, rf_for_invoice(org.slug, number)
                row[at["customer_id"]] = customers[k % count][0]
                row[at["line_total_minor"]] = row[at["tax_exclusive_minor"]] = net
                row[at["tax_total_minor"]], row[at["total_minor"]] = tax, net + tax
                rows.append(row)
            insert_rows(Invoice, columns, rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return org, customers


def _amount(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _number_text(rng: random.Random, number: str) -> str:
    _, year, seq = number.split("-")
    form = rng.choice([f"{number}", f"inv {year} {seq}", f"INV{year}{seq}", f"Rechnung {year}/{seq}",
                       f"Facture n° {year}-{seq}", f"Re: INV {year} - {seq}"])
    return f"{rng.choice(['', 'Zahlung ', 'Payment for ', 'Virement '])}{form}{rng.choice(['', ' thanks', ' merci'])}"


def statement(org, lines: int, rng: random.Random) -> tuple[bytes, list[int | None], dict[str, int]]:
    """The camt.053 (see the module), the customer each line comes from (None: noise), and the mix."""
    from duly.invoicing.models import Invoice

    invoices = list(Invoice.objects.filter(organization=org).values_list("number", "rf_reference", "customer_id",
                                                                          "customer__name", "total_minor"))
    picked = rng.sample(range(len(invoices)), min(lines, len(invoices)))
    parts, truth, mix, total = [], [], defaultdict(int), 0
    for i, k in enumerate(picked):
        number, rf, cid, name, amount = invoices[k]
        roll, debtor, remit = rng.random(), name, ""
        if roll < 0.45:
            kind, remit = "rf_structured", f"<Strd><CdtrRefInf><Ref>{rf}</Ref></CdtrRefInf></Strd>"
        elif roll < 0.55:
            kind = "rf_text"
            remit = f"<Ustrd>{' '.join(rf[j:j + 4] for j in range(0, len(rf), 4))}</Ustrd>"
        elif roll < 0.80:
            kind, remit = "number_text", f"<Ustrd>{_esc(_number_text(rng, number))}</Ustrd>"
        elif roll < 0.90:
            kind = "name_amount"
        elif roll < 0.94:
            kind, cid, debtor = "outgoing", None, rng.choice(["Payroll April", "Card fees", "Lohn Mitarbeiter"])
            amount = -rng.randrange(500, 400_000)
            remit = f"<Ustrd>{debtor}</Ustrd>"
        else:
            kind, cid, debtor = "unrelated_in", None, rng.choice(["Finanzamt Mitte", "Bank interest", "J. Doe"])
            amount = rng.randrange(100, 500_000)
            remit = f"<Ustrd>{rng.choice(['Steuererstattung 2025', 'Interest Q1', 'Privat'])}</Ustrd>"
        mix[kind] += 1
        truth.append(cid)
        total += amount
        party = "Cdtr" if amount < 0 else "Dbtr"
        iban = f"DE{rng.randrange(10**19, 10**20)}"
        parts.append(
            f'<Ntry><Amt Ccy="EUR">{_amount(abs(amount))}</Amt><CdtDbtInd>{"DBIT" if amount < 0 else "CRDT"}'
            f"</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{BOOKED}</Dt></BookgDt><ValDt><Dt>{BOOKED}</Dt>"
            f"</ValDt><AcctSvcrRef>A{i}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E{i}</EndToEndId></Refs>"
            f"<RltdPties><{party}><Pty><Nm>{_esc(debtor)}</Nm></Pty></{party}><{party}Acct><Id><IBAN>{iban}</IBAN>"
            f"</Id></{party}Acct></RltdPties><RmtInf>{remit}</RmtInf></TxDtls></NtryDtls></Ntry>")
    opening = 10_000_000
    closing = opening + total
    xml = ('<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
           "<BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-04-15T20:00:00</CreDtTm></GrpHdr><Stmt>"
           f"<Id>BENCH-{lines}</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
           f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{_amount(opening)}</Amt><CdtDbtInd>'
           "CRDT</CdtDbtInd><Dt><Dt>2026-04-14</Dt></Dt></Bal>"
           f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{_amount(abs(closing))}</Amt>'
           f"<CdtDbtInd>{'DBIT' if closing < 0 else 'CRDT'}</CdtDbtInd><Dt><Dt>{BOOKED}</Dt></Dt></Bal>"
           + "".join(parts) + "</Stmt></BkToCstmrStmt></Document>")
    return xml.encode(), truth, dict(mix)


class Phases:
    """Wall time, CPU time and max resident size per phase, accumulated by the wrapped functions."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.rss: dict[str, float] = {}
        self.kept: dict[str, object] = {}

    def wrap(self, phase: str, fn, keep: str = ""):
        def timed(*args, **kwargs):
            w, c = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            if phase == "snapshot" and not isinstance(out, (dict, list)):
                out = list(out)  # open_items is a generator: read it here, inside the snapshot's time
            self.wall[phase] += time.perf_counter() - w
            self.cpu[phase] += time.process_time() - c
            self.rss[phase] = rss_mib()
            if keep:
                self.kept[keep] = out
            return out
        return timed


def run_reconcile(org, phases: Phases):
    """One real ``reconcile`` call, its snapshot, index and matching timed through its module's names."""
    from duly.domain import matching
    from duly.payments import reconcile_services as rs

    class TimedIndex(matching.MatchIndex):
        build = classmethod(lambda cls, *a, **kw: phases.wrap("index", matching.MatchIndex.build.__func__)(
            cls, *a, **kw))

    class TimedMatcher(matching.Matcher):
        def match(self, lines):
            return phases.wrap("matching", super().match)(lines)

    saved = {name: getattr(rs, name) for name in ("open_items", "learned_ibans", "lines_to_match", "as_line",
                                                   "MatchIndex", "Matcher")}
    rs.open_items = phases.wrap("snapshot", saved["open_items"], keep="items")
    rs.learned_ibans = phases.wrap("snapshot", saved["learned_ibans"])
    rs.lines_to_match = phases.wrap("lines", saved["lines_to_match"])
    rs.MatchIndex, rs.Matcher = TimedIndex, TimedMatcher
    converted = []

    def as_line(row):
        line = saved["as_line"](row)
        converted.append(line)
        return line

    rs.as_line = as_line
    try:
        w, c = time.perf_counter(), time.process_time()
        result = rs.reconcile(org, as_of=AS_OF)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    finally:
        for name, value in saved.items():
            setattr(rs, name, value)
    phases.rss["writes"] = rss_mib()
    return result, wall, cpu, converted


def _profile_writes(path: str) -> None:
    """Run the writes (``apply_planned``) of the coming ``reconcile`` under cProfile."""
    import cProfile
    import pstats

    from duly.payments import reconcile_services as rs

    real = rs.apply_planned

    def profiled(*args, **kwargs):
        profile = cProfile.Profile()
        try:
            return profile.runcall(real, *args, **kwargs)
        finally:
            rs.apply_planned = real
            profile.dump_stats(path)
            pstats.Stats(path).sort_stats("cumulative").print_stats(30)

    rs.apply_planned = profiled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000, help="open invoices (default 1,000,000)")
    parser.add_argument("--lines", type=int, default=100_000, help="statement lines (default 100,000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the throw-away database (1.4 GB at full size)")
    parser.add_argument("--profile", metavar="FILE", help="profile the writes (cProfile; pstats written to FILE, "
                        "the 30 costliest functions by cumulative time printed)")
    args = parser.parse_args()
    home = _duly.setup("reconcile-db")
    from django.conf import settings

    from duly.payments.bank_services import import_statement
    from duly.payments.models import Allocation, Payment

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reconcile import naive  # noqa: E402  (bench/reconcile.py: the same naive reference)

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    org, customers = seed(args.invoices, rng)
    seed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    xml, truth, mix = statement(org, args.lines, rng)
    gen_s = time.perf_counter() - t0
    db = settings.DATABASES["default"]["NAME"]
    db_mib = os.path.getsize(db) / 2**20
    rss_seed = rss_mib()
    rss_base = reset_peak()

    w, c = time.perf_counter(), time.process_time()
    imported = import_statement(org, xml)
    import_s, import_cpu = time.perf_counter() - w, time.process_time() - c
    rss_import = rss_mib()

    phases = Phases()
    if args.profile:
        _profile_writes(args.profile)
    result, total_s, total_cpu, converted = run_reconcile(org, phases)
    timed = ("lines", "snapshot", "index", "matching")
    write_s = total_s - sum(phases.wall[p] for p in timed)
    write_cpu = total_cpu - sum(phases.cpu[p] for p in timed)

    items = phases.kept["items"]
    by_customer = defaultdict(list)
    for item in items:
        by_customer[item.customer_id].append(item)
    by_line = {line.line_id: line for line in converted}
    from duly.payments.bank_models import StatementLine

    order = list(StatementLine.objects.filter(organization=org).order_by("pk").values_list("pk", flat=True))
    lines = [by_line[pk] for pk in order]
    w, c = time.perf_counter(), time.process_time()
    naive_found = naive(lines, truth, by_customer)
    naive_s, naive_cpu = time.perf_counter() - w, time.process_time() - c

    m = args.lines
    match_s = phases.wall["index"] + phases.wall["matching"]
    match_cpu = phases.cpu["index"] + phases.cpu["matching"]
    payments = Payment.objects.filter(organization=org).count()
    allocations = Allocation.objects.filter(payment__organization=org).count()
    print(f"Reconciliation on SQLite: {imported.new_lines:,} camt.053 lines against {len(items):,} invoices of "
          f"{len(customers):,} customers (seeded in {seed_s:.1f} s, statement of {len(xml) / 2**20:.1f} MiB made "
          f"in {gen_s:.1f} s; database {db_mib:,.0f} MiB in {home})")
    print("lines: " + ", ".join(f"{k} {v:,}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])))
    print(f"{'phase':<46}{'wall s':>8}{'CPU s':>8}{'lines/s':>11}{'max RSS MiB':>13}")

    def row(name, wall, cpu, rss):
        print(f"{name:<46}{wall:>8.2f}{cpu:>8.2f}{m / wall:>11,.0f}{rss:>13,.0f}")

    row("import (import_statement)", import_s, import_cpu, rss_import)
    row("lines to match read (lines_to_match)", phases.wall["lines"], phases.cpu["lines"], phases.rss["lines"])
    row("snapshot read (open_items, learned_ibans)", phases.wall["snapshot"], phases.cpu["snapshot"],
        phases.rss["snapshot"])
    row("matching: index (MatchIndex.build)", phases.wall["index"], phases.cpu["index"], phases.rss["index"])
    row("matching: lines (Matcher.match)", phases.wall["matching"], phases.cpu["matching"], phases.rss["matching"])
    row("writes (sure matches applied, review queued)", write_s, write_cpu, phases.rss["writes"])
    row("reconcile end to end (the four above)", total_s, total_cpu, phases.rss["writes"])
    row("naive reference (per-line scan, customer given)", naive_s, naive_cpu, rss_mib())
    print(f"matching (index + lines) {match_s:.2f} s wall, {match_cpu:.2f} s CPU (target under "
          f"{TARGET_MATCH_S:.0f} s: {'met' if match_cpu < TARGET_MATCH_S else 'MISSED'}); snapshot + matching "
          f"{phases.wall['snapshot'] + match_s:.2f} s wall")
    print(f"outcome: {result.matched:,} applied automatically, {result.review:,} in review, {result.outgoing:,} "
          f"outgoing; {payments:,} payments, {allocations:,} allocations written; naive found {naive_found:,}; "
          f"Duly matching / naive (CPU): {match_cpu / naive_cpu:.1f}x")
    print(f"max RSS: the peak resident size since the start of the import (Linux VmHWM, reset after seeding: "
          f"{rss_base:,.0f} MiB resident then, held by Django and what seeding left; seeding's own peak "
          f"{rss_seed:,.0f} MiB); whole process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other processes slow every wall figure down alike; compare the CPU times)")
    ok = result.matched and result.matched + result.review + result.outgoing == imported.new_lines
    if not args.keep:
        from django.db import connection

        connection.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
