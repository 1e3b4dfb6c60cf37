"""Dunning speed: evaluation of 100,000 open invoices and personalised messages rendered per second.

Run: ``.venv/bin/python bench/dunning_run.py [--invoices 100000] [--render 5000] [--no-db] [--db-only] [--no-real]``

1. *Snapshots*: customers with 1 to 5 open invoices each (100,000 invoices by default), built in
   memory as the calculator builds them: not due yet, due, overdue at every step of the gentle,
   neutral and firm policies, past reminders, disputes, promises to pay, unreconciled credit,
   contacts with and without an e-mail address, learned best hours, five countries and time zones.
2. *Evaluation*: :func:`duly.domain.dunning.evaluate` for every customer at one instant, with one
   :class:`duly.domain.dunning.Evaluator` per run (as a collections run has), after a warm-up on
   200 customers (holiday tables and time zones load once per process; its time is printed). Printed: wall time (median of ``--repeat`` runs, each run listed), invoices/s,
   actions/s. Reference measured in the same run: a plain loop over the same snapshots doing the
   least any evaluation must do (the overdue total per customer and currency).
3. *Rendering*: the first ``--render`` ``send`` actions become personalised messages through the
   Duly path (:class:`duly.collections.messages.MessageBuilder`: Babel money and dates in the
   customer's locale, signed pay links, StrictUndefined Jinja2, subject + text + HTML in the
   layout). Reference: the same template files rendered by plain Jinja2 (no StrictUndefined, no
   Duly code) from the very same, already built contexts.
4. *Through Django* (skipped with ``--no-db``): the same customers and invoices bulk-inserted in a
   temporary SQLite database, then ``collect(dry_run=True)``: batch gathering (a fixed number of
   queries per chunk of customers) + evaluation, end to end; then (unless ``--no-real``) the real run,
   ``collect()``: reminders claimed, messages rendered and written to the outbox, a chunk at a time.
   CPU time is printed beside wall time (less sensitive to other load on the machine). References:
   a raw sqlite3 read of the open invoices and contacts (dry run), a raw sqlite3 ``executemany`` of
   the rows the real run wrote (real run). The seeded data has no past reminders: every step sent is
   a first one (no late fee, suspension or termination: those customers are carried out one at a
   time, see ``duly.collections.services.run_batch``).

Peak memory is the process's resident maximum (``ru_maxrss``). Targets on the 2-core machine:
100,000 invoices evaluated in under 3 s; at least 1,000 personalised messages rendered per second;
through Django, a dry run of 100,000 invoices in under 3 s and a real run in under 10 s (issue 18).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, time as dt_time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 6, 10, 9, 30, tzinfo=timezone.utc)  # a Wednesday, inside every sending window
PLACES = [  # country, time zone, locale, currency
    ("FR", "Europe/Paris", "fr_FR", "EUR"),
    ("DE", "Europe/Berlin", "de_DE", "EUR"),
    ("ES", "Europe/Madrid", "es_ES", "EUR"),
    ("GB", "Europe/London", "en_GB", "GBP"),
    ("FR", "Europe/Paris", "ru_RU", "EUR"),
]


def setup_django(database_url: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="duly-bench-dunning-"))
    os.environ["DULY_HOME"] = str(home)
    os.environ["DULY_PUBLIC_URL"] = "https://billing.bench.example"  # issuing refuses a loopback address
    os.environ["DJANGO_SETTINGS_MODULE"] = "duly.settings"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ------------------------------------------------------------------------------------------
class Data:
    """Customers, invoices and contacts as rows, plus their snapshots (same data for every stage)."""

    def __init__(self, invoices: int, seed: int = 2026) -> None:
        from duly.collections.policies import default_specs
        from duly.collections.snapshots import ContactRow, CustomerRow, InvoiceRow
        from duly.domain import dunning
        from duly.domain.money import from_minor

        rng = random.Random(seed)
        self.specs = default_specs()
        tones = ("gentle", "neutral", "firm")
        self.customers, self.invoices, self.contacts, self.snapshots, self.policy_of = [], {}, {}, [], {}
        today = AS_OF.date()
        cid = inv_id = contact_id = 0
        while inv_id < invoices:
            cid += 1
            country, tz, locale, currency = PLACES[cid % len(PLACES)]
            customer = CustomerRow(cid, f"C{cid:06}", f"Customer {cid} Ltd", locale, tz, country, "", "bank_transfer",
                                   "active", currency)
            self.customers.append(customer)
            policy = self.specs[tones[cid % 3]].policy
            self.policy_of[cid] = tones[cid % 3]
            rows, items, reminders = {}, [], []
            for _ in range(min(rng.randint(1, 4), invoices - inv_id)):
                inv_id += 1
                due = today + timedelta(days=rng.randint(-75, 20))
                total = rng.randint(5_000, 500_000)
                paid = 0 if rng.random() < 0.85 else total // 3
                row = InvoiceRow(inv_id, cid, cid, f"INV-2026-{inv_id:06}", "standard", currency,
                                 due - timedelta(days=30), due, None, None, total, total - paid, date(2025, 1, 1))
                rows[inv_id] = row
                items.append(dunning.OpenItem(
                    invoice_id=inv_id, number=row.number, currency=currency, issue_date=row.issue_date,
                    due_date=due, total=from_minor(total, currency), open_amount=from_minor(total - paid, currency),
                    status="partially_paid" if paid else "issued", contract_start=row.contract_start))
                reached = [s for s in policy.steps if due + timedelta(days=s.offset_days) < today - timedelta(days=3)]
                if reached and rng.random() < 0.7:
                    step = reached[rng.randrange(len(reached))]
                    sent = datetime.combine(due + timedelta(days=step.offset_days), datetime.min.time(),
                                            timezone.utc) + timedelta(hours=9)
                    reminders.append(dunning.PastReminder(step.code, sent, (inv_id,)))
            people = {}
            for role in ("accounts_payable", "billing")[: rng.randint(1, 2)]:
                contact_id += 1
                email = "" if rng.random() < 0.05 else f"{role}.{cid}@customer.example"
                people[contact_id] = ContactRow(contact_id, cid, f"Contact {contact_id}", email, "+33 1 23 45 67 89",
                                                role, "", False)
            ids = list(rows)
            self.invoices[cid], self.contacts[cid] = rows, people
            self.snapshots.append(dunning.AccountSnapshot(
                customer_id=cid, timezone=tz, country=country, open_items=tuple(items), reminders=tuple(reminders),
                disputes=frozenset(ids[:1]) if rng.random() < 0.03 else frozenset(),
                promises=(dunning.Promise((ids[-1],), today + timedelta(days=5), Decimal(10),
                                          AS_OF - timedelta(days=2)),) if rng.random() < 0.03 else (),
                unreconciled_credits={currency: Decimal(50)} if rng.random() < 0.02 else {},
                contacts=tuple(dunning.Contact(id=p.id, name=p.name, email=p.email or None, phone=p.phone,
                                               role=p.role) for p in people.values()),
                best_hour=rng.choice((None, None, 9, 10, 14)),
            ))
        self.invoice_count = inv_id
        self.last_cpu = 0.0


# --- stage 2: evaluation -----------------------------------------------------------------------------
def evaluate_all(data: Data, snapshots=None):
    from duly.domain import dunning

    policies = {code: spec.policy for code, spec in data.specs.items()}
    by_customer = data.policy_of
    started, cpu = time.perf_counter(), time.process_time()
    evaluator = dunning.Evaluator()  # one per run, as collect() has: its memos serve every customer of the run
    results = [dunning.evaluate(s, policies[by_customer[s.customer_id]], AS_OF, evaluator=evaluator)
               for s in (data.snapshots if snapshots is None else snapshots)]
    data.last_cpu = time.process_time() - cpu
    return time.perf_counter() - started, results


def reference_loop(data: Data) -> float:
    """The least any evaluation does: each open amount past due, summed per customer and currency."""
    today = AS_OF.date()
    started = time.perf_counter()
    totals = []
    for snapshot in data.snapshots:
        due: dict[str, Decimal] = {}
        for item in snapshot.open_items:
            if item.due_date < today and item.open_amount > 0:
                due[item.currency] = due.get(item.currency, Decimal(0)) + item.open_amount
        totals.append(due)
    return time.perf_counter() - started


# --- stage 3: rendering ------------------------------------------------------------------------------
def render(data: Data, results, limit: int):
    from django.conf import settings
    from django.core.management import call_command

    from duly.collections.messages import MessageBuilder, locale_for
    from duly.collections.snapshots import Account, RunContext
    from duly.customers.models import Organization
    from duly.domain import dunning
    from duly.domain.late_fees import LateFeePolicy
    from duly.messaging.formatting import Formatter
    from duly.messaging.rendering import shipped_renderer

    org = Organization(id=1, name="Atelier Lumière SARL", slug="atelier", address_line1="12 rue des Lilas",
                       postcode="75011", city="Paris", country="FR", email="factures@atelier.example",
                       iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR")
    rc = RunContext(org=org, send_window=(datetime.min.time().replace(hour=9), datetime.min.time().replace(hour=17)),
                    thresholds=dunning.ToneThresholds(), specs=data.specs, tone_policies={}, segment_policies={},
                    segment_hours={}, sla_business_days=2, greetings_enabled=True, template_categories={})
    fee = LateFeePolicy(kind="interest_annual", rate_percent=Decimal(12), fixed_fee=Decimal(40))
    rc.late_fee_terms = {c.id: fee for c in data.customers}
    # Reminders show the interest accrued on overdue invoices, read from the database (one query per
    # message): the schema must exist, empty here (stage 4 seeds it).
    call_command("migrate", interactive=False, verbosity=0)
    renderer = shipped_renderer()
    builder = MessageBuilder(rc, renderer)
    customers = {c.id: c for c in data.customers}
    snapshots = {s.customer_id: s for s in data.snapshots}
    sends = [a for actions in results for a in actions if a.kind == "send" and a.channel == "email"][:limit]
    contexts = []
    capture = renderer.render

    def keep_context(name, language, context):
        contexts.append((name, language, dict(context)))
        return capture(name, language, context)

    # Warm the template caches (compiling is not rendering).
    for name in {a.template for a in sends}:
        for lang in ("en", "fr", "de", "es", "ru"):
            renderer._text.get_template(renderer._path(name, lang))
            renderer._html.get_template(renderer._path(name, lang))
    started, cpu = time.perf_counter(), time.process_time()
    for action in sends:
        cid = action.customer_id
        account = Account(customer=customers[cid], snapshot=snapshots[cid], spec=data.specs[data.policy_of[cid]],
                          policy_reason="", invoices=data.invoices[cid], contacts=data.contacts[cid], reminders=[])
        contact = data.contacts[cid][action.contact_id]
        rows = [data.invoices[cid][i] for i in action.invoice_ids]
        builder.reminder(account, action, rows, contact.name, contact.email, contact, AS_OF)
    duly_seconds = time.perf_counter() - started
    data.last_cpu = time.process_time() - cpu

    # Reference: plain Jinja2 on the same files and the same contexts, no Duly code in the loop.
    renderer.render = keep_context
    for action in sends[: min(len(sends), 2000)]:
        cid = action.customer_id
        account = Account(customer=customers[cid], snapshot=snapshots[cid], spec=data.specs[data.policy_of[cid]],
                          policy_reason="", invoices=data.invoices[cid], contacts=data.contacts[cid], reminders=[])
        contact = data.contacts[cid][action.contact_id]
        builder.reminder(account, action, [data.invoices[cid][i] for i in action.invoice_ids], contact.name,
                         contact.email, contact, AS_OF)
    renderer.render = capture
    raw_seconds = raw_jinja(contexts)
    languages = {Formatter.for_locale(locale_for(customers[a.customer_id].locale, None)).language for a in sends}
    assert settings.DULY_PUBLIC_URL
    return len(sends), duly_seconds, len(contexts), raw_seconds, sorted(languages)


def raw_jinja(contexts) -> float:
    import jinja2
    from markupsafe import Markup

    from duly.messaging.labels import labels
    from duly.messaging.rendering import TEMPLATE_DIR

    text_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                                  lstrip_blocks=True)
    html_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                                  lstrip_blocks=True, autoescape=True)
    layout = html_env.get_template("_layout.html.j2")
    prepared = []
    for name, language, context in contexts:
        path = f"{language}/{name}.j2"
        context.setdefault("t", labels(language))
        prepared.append((text_env.get_template(path), html_env.get_template(path), context, language))
    started = time.perf_counter()
    for text_tpl, html_tpl, context, language in prepared:
        subject = "".join(text_tpl.blocks["subject"](text_tpl.new_context(context)))
        "".join(text_tpl.blocks["text"](text_tpl.new_context(context)))
        body = "".join(html_tpl.blocks["html"](html_tpl.new_context(context)))
        layout.render(body=Markup(body), subject=subject, org=context["org"], lang=language)
    return time.perf_counter() - started


# --- stage 4: through Django -------------------------------------------------------------------------
def through_django(data: Data, real: bool = False):
    from django.core.management import call_command
    from django.db import connection

    from duly.collections.services import collect
    from duly.customers.models import Contact, Contract, Customer, Organization
    from duly.domain.money import to_minor
    from duly.invoicing.models import Invoice

    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    org = Organization.objects.create(name="Atelier Lumière SARL", slug="atelier", address_line1="12 rue des Lilas",
                                      postcode="75011", city="Paris", country="FR", email="factures@atelier.example")
    batch = 2000
    Customer.objects.bulk_create([
        Customer(id=c.id, organization=org, code=c.code, name=c.name, address_line1="1 main street", city="City",
                 country=c.country, locale=c.locale, timezone=c.timezone, currency=c.currency)
        for c in data.customers], batch_size=batch)
    Contract.objects.bulk_create([
        Contract(id=c.id, organization=org, customer_id=c.id, reference=f"CTR-{c.id}", currency=c.currency,
                 start_date=date(2025, 1, 1), late_fee_kind="interest_annual", late_rate_percent=Decimal(12))
        for c in data.customers], batch_size=batch)
    Contact.objects.bulk_create([
        Contact(id=p.id, organization=org, customer_id=p.customer_id, name=p.name, email=p.email, phone=p.phone,
                role=p.role)
        for people in data.contacts.values() for p in people.values()], batch_size=batch)
    Invoice.objects.bulk_create([
        Invoice(id=r.id, organization=org, customer_id=r.customer_id, contract_id=r.contract_id, number=r.number,
                currency=r.currency, status=Invoice.ISSUED if r.balance_minor == r.payable_minor
                else Invoice.PARTIALLY_PAID, issue_date=r.issue_date, due_date=r.due_date,
                total_minor=r.payable_minor, paid_minor=r.payable_minor - r.balance_minor)
        for rows in data.invoices.values() for r in rows.values()], batch_size=batch)
    seeded = time.perf_counter() - started
    assert Invoice.objects.count() == data.invoice_count and to_minor(Decimal("1.00"), "EUR") == 100
    connection.close()
    runs = []
    for dry_run in (True, False) if real else (True,):
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        result = collect(org, as_of=AS_OF, dry_run=dry_run)
        runs.append((dry_run, time.perf_counter() - started, time.process_time() - cpu, result.counts(), peak_mb()))
    return seeded, runs


def raw_reference() -> tuple[float, float, int]:
    """Raw sqlite3 read of the open invoices and contacts the run gathers (the least a gather does)."""
    from django.db import connection

    connection.ensure_connection()
    cursor = connection.connection.cursor()
    started, cpu = time.perf_counter(), time.process_time()
    n = 0
    for _ in cursor.execute("SELECT id, customer_id, contract_id, number, kind, currency, issue_date, due_date, "
                            "total_minor, paid_minor, status FROM invoicing_invoice WHERE status IN "
                            "('issued', 'partially_paid')"):
        n += 1
    for _ in cursor.execute("SELECT id, customer_id, name, email, phone, role FROM customers_contact"):
        n += 1
    return time.perf_counter() - started, time.process_time() - cpu, n


def raw_write_reference() -> tuple[float, float, int]:
    """Raw sqlite3 writes of what the real run wrote (its messages, reminders and their (invoice, step) rows, read
    back): ``executemany`` into empty copies of the tables, one transaction (the least the writes cost)."""
    from django.db import connection

    tables = ("messaging_message", "collections_reminder", "collections_reminderinvoice")
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    # Times of day come back as datetime.time (Django's converters), which sqlite3 does not bind: as text.
    rows = {t: [tuple(v.isoformat() if isinstance(v, dt_time) else v for v in row)
                for row in cursor.execute(f"SELECT * FROM {t}").fetchall()] for t in tables}
    for t in tables:
        cursor.execute(f"CREATE TEMP TABLE ref_{t} AS SELECT * FROM {t} WHERE 0")
    started, cpu = time.perf_counter(), time.process_time()
    cursor.execute("BEGIN")
    for t in tables:
        if rows[t]:
            cursor.executemany(f"INSERT INTO ref_{t} VALUES ({', '.join('?' * len(rows[t][0]))})", rows[t])
    cursor.execute("COMMIT")
    return time.perf_counter() - started, time.process_time() - cpu, sum(len(r) for r in rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--render", type=int, default=5_000, help="How many send actions to render")
    parser.add_argument("--repeat", type=int, default=3, help="Evaluation runs (the median is reported)")
    parser.add_argument("--no-db", action="store_true", help="Skip the end-to-end run through Django and SQLite")
    parser.add_argument("--db-only", action="store_true", help="Only the end-to-end run through Django and SQLite")
    parser.add_argument("--no-real", dest="real", action="store_false",
                        help="Skip the real run through Django after the dry run (reminders and messages written)")
    args = parser.parse_args()
    db = None if args.no_db else Path(tempfile.mkdtemp(prefix="duly-bench-dunning-db-")) / "bench.sqlite3"
    setup_django(f"sqlite:///{db}" if db else None)

    started = time.perf_counter()
    data = Data(args.invoices)
    built = time.perf_counter() - started
    print(f"snapshots: {len(data.snapshots):,} customers, {data.invoice_count:,} open invoices "
          f"(built in {built:.1f} s, not measured)")

    if args.db_only and db is not None:
        main_db(args, data)
        return
    # Warm-up, not measured: holiday tables and time zones load on first use (once per process).
    cold, _ = evaluate_all(data, data.snapshots[:200])
    gc.collect()
    gc.freeze()  # the input data is built: the collector need not walk it again and again
    runs, cpus = [], []
    for _ in range(args.repeat):
        seconds, results = evaluate_all(data)
        runs.append(seconds)
        cpus.append(data.last_cpu)
    seconds = sorted(runs)[len(runs) // 2]
    actions = sum(len(r) for r in results)
    kinds = {k: sum(1 for r in results for a in r if a.kind == k) for k in ("send", "defer", "skip")}
    reference = reference_loop(data)
    print(f"evaluation: {data.invoice_count:,} invoices in {seconds:.2f} s = {data.invoice_count / seconds:,.0f} "
          f"invoices/s; {actions:,} actions ({kinds['send']:,} send, {kinds['defer']:,} defer, "
          f"{kinds['skip']:,} skip) = {actions / seconds:,.0f} actions/s  [target: < 3 s]")
    print(f"  median of {args.repeat} runs: {', '.join(f'{r:.2f}' for r in runs)} s wall "
          f"({', '.join(f'{c:.2f}' for c in cpus)} s CPU: less sensitive to other load on the machine); "
          f"warm-up of 200 customers (loads holiday tables and time zones): {cold:.2f} s")
    print(f"  reference (plain loop: overdue total per customer): {reference:.2f} s; "
          f"evaluation / reference = {seconds / reference:.1f}x")

    rendered, duly_seconds, raw_count, raw_seconds, languages = render(data, results, args.render)
    print(f"rendering: {rendered:,} personalised messages (subject + text + HTML, {', '.join(languages)}) in "
          f"{duly_seconds:.2f} s = {rendered / duly_seconds:,.0f} messages/s ({rendered / data.last_cpu:,.0f}/s of "
          f"CPU time)  [target: >= 1,000/s]")
    print(f"  reference (plain Jinja2, same templates and contexts): {raw_count / raw_seconds:,.0f} messages/s; "
          f"Duly / raw time per message = {(duly_seconds / rendered) / (raw_seconds / raw_count):.1f}x")

    if db is not None:
        main_db(args, data)
    else:
        print(f"peak memory: {peak_mb():,.0f} MB; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main_db(args, data: Data) -> None:
    seeded, runs = through_django(data, real=args.real)
    for dry_run, wall, cpu, counts, peak in runs:
        what = "dry run: gathering + evaluation" if dry_run else "real run: reminders + messages in the outbox"
        print(f"through Django (SQLite, {what}): {data.invoice_count:,} invoices in {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU = {data.invoice_count / wall:,.0f} invoices/s ({data.invoice_count / cpu:,.0f}/s "
              f"of CPU time); {counts['send']:,} send, {counts['defer']:,} defer, {counts['skip']:,} skip, "
              f"{counts['done']:,} done, {counts['errors']:,} errors; peak memory so far {peak:,.0f} MB  "
              f"[target: < {3 if dry_run else 10} s]")
    raw_wall, raw_cpu, raw_rows = raw_reference()
    print(f"  reference (raw sqlite3 read of the open invoices and contacts, {raw_rows:,} rows): {raw_wall:.2f} s "
          f"wall, {raw_cpu:.2f} s CPU; dry run / reference CPU = {runs[0][2] / raw_cpu:.1f}x "
          f"(seeding in bulk: {seeded:.1f} s, not measured)")
    if len(runs) > 1:
        raw_wall, raw_cpu, raw_rows = raw_write_reference()
        print(f"  reference (raw sqlite3 executemany of the messages, reminders and claims the real run wrote, "
              f"{raw_rows:,} rows): {raw_wall:.2f} s wall, {raw_cpu:.2f} s CPU; real run / reference CPU = "
              f"{runs[1][2] / max(raw_cpu, 1e-6):.1f}x")
    print(f"peak memory: {peak_mb():,.0f} MB; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
