"""A world for the scale-out tests and bench/scale.py, in a PostgreSQL database of its own.

Run as a script in a process whose environment names the database (``DATABASE_URL``) and, to dispatch, the broker
(``CELERY_BROKER_URL``): ``python tests/scaleout/world.py <command> [options]``; it prints one JSON document.

- ``seed --customers N``: an organization, N customers (e-mail, contract, a monthly subscription billed in advance
  from 2026-01-01); January is billed (one process, setup). Customers, contracts, subscriptions and items are
  written with COPY. One customer in ``OVERDUE_EVERY`` has net-10 terms, so its January invoice is overdue on
  :data:`COLLECT_AT` and the dunning run writes it a reminder; the others are net 60.
- ``statement --lines N``: a bank statement paying the first N January invoices every way (by RF reference,
  instalments, overpaid, plus lines for review), imported, not reconciled.
- ``single``: the reference, in this one process: billing of February, the dunning run, the outbox (``--stages``;
  ``reconcile``: the reconciliation of the statement).
- ``scaled --partitions P``: the same through Celery (:mod:`duly.scaleout`), each stage a chord, waited for.
- ``fingerprint``: what a user would compare (see :func:`fingerprint`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import resource
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
START = date(2026, 1, 1)
BILL_ON = date(2026, 2, 1)
COLLECT_AT = datetime(2026, 2, 20, 10, 0, tzinfo=PARIS)
DELIVER_AT = datetime(2026, 2, 20, 10, 5, tzinfo=PARIS)
OVERDUE_EVERY = 50
RECONCILE_ON = date(2026, 1, 31)
ACCOUNT = "DE89370400440532013000"


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _copy(model, rows) -> None:
    """COPY ``rows`` (field name -> Python value, ids included; streamed, never a list) into ``model``'s table,
    then move its sequence."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_db_value(f, row.get(f.attname, _default(f)), connection) for f in fields])
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), "
                       f"(SELECT max(id) FROM {table}))")


def _default(field):
    from django.db.models import NOT_PROVIDED

    if field.default is not NOT_PROVIDED:
        return field.get_default()
    if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
        from django.utils import timezone

        return timezone.now()
    return None if field.null else ""


def _db_value(field, value, connection):
    value = field.get_db_prep_save(value, connection)
    if hasattr(value, "dumps"):  # a JSON adapter
        return value.dumps(value.obj)
    return value


def seed(n: int) -> dict:
    from django.db import connection

    from duly.billing import services as billing
    from duly.billing.models import Subscription, SubscriptionItem
    from duly.billing.run import run_billing
    from duly.collections.models import CollectionsSettings
    from duly.collections.services import ensure_setup
    from duly.customers.models import Contact, Contract, Customer
    from duly.customers.services import create_organization

    started = time.perf_counter()
    org = create_organization(
        name="Scale SAS", slug="scale", country="FR", default_currency="EUR", address_line1="1 rue de la Paix",
        postcode="75002", city="Paris", iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR",
        email="billing@scale.example", timezone="Europe/Paris")
    ensure_setup(org)
    CollectionsSettings.objects.filter(organization=org).update(email_invoices=False, greetings_enabled=False)
    product = billing.create_product(org, code="PRO", name="Pro plan", tax_rate="20")
    price = billing.create_price(org, product, code="pro", currency="EUR", model_config={"model": "flat",
                                                                                        "amount": "49.00"})
    first = 1
    ids = range(first, first + n)
    _copy(Customer, (dict(id=i, organization_id=org.id, code=f"C{i:07}", name=f"Customer {i} SAS",
                          email=f"c{i}@customers.example", address_line1="2 rue du Bac", city="Lyon",
                          postcode="69002", country="FR", currency="EUR", locale="fr_FR", timezone="Europe/Paris")
                     for i in ids))
    _copy(Contact, (dict(id=i, organization_id=org.id, customer_id=i, name=f"Alex {i}", email=f"c{i}@customers.example",
                         role="billing") for i in ids))
    _copy(Contract, (dict(id=i, organization_id=org.id, customer_id=i, reference=f"CT{i:07}", currency="EUR",
                          terms_kind="net", terms_days=10 if i % OVERDUE_EVERY == 0 else 60, start_date=START)
                     for i in ids))
    _copy(Subscription, (dict(id=i, organization_id=org.id, customer_id=i, contract_id=i, currency="EUR",
                              interval="monthly", anchor_day="1", timing="advance", start_date=START,
                              next_bill_on=START, reference=f"S{i:07}") for i in ids))
    _copy(SubscriptionItem, (dict(id=i, organization_id=org.id, subscription_id=i, price_id=price.id, quantity=1,
                                  starts_on=START) for i in ids))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    copied = time.perf_counter() - started
    january = run_billing(org, START, workers=1)
    return {"customers": n, "copy_seconds": round(copied, 2), "january_invoices": january.invoices,
            "seconds": round(time.perf_counter() - started, 2)}


def statement(lines: int) -> dict:
    """A statement paying the first ``lines`` January invoices: most by their RF reference (applied in bulk), one in
    three overpaid by 10.00 (credit: applied one by one), one in eight in two instalments quoting the number, and
    one more line for every ten that pays nobody (review)."""
    from duly.customers.models import Organization
    from duly.invoicing.models import Invoice
    from duly.payments.bank_services import add_bank_account, import_statement

    org = Organization.objects.get(slug="scale")
    add_bank_account(org, iban=ACCOUNT, currency="EUR", csv_mapping={
        "booking_date": "Date", "amount": "Amount", "counterparty_name": "Payer", "remittance": "Text",
        "currency": "Currency", "date_format": "%Y-%m-%d"})
    rows = []
    for n, (number, rf, total, name) in enumerate(Invoice.objects.filter(
            organization=org, issue_date=START).order_by("customer_id").values_list(
            "number", "rf_reference", "total_minor", "customer__name")[:lines]):
        if n % 8 == 1:
            half = total // 2
            rows += [(half, name, f"acompte {number}"), (total - half, name, f"solde {number}")]
        elif n % 3 == 0:
            rows.append((total + 1000, name, f"paiement {rf}"))
        else:
            rows.append((total, name, f"virement {rf}"))
        if n % 10 == 5:
            rows.append((1337, "Inconnu", "divers"))
    body = "Date,Amount,Payer,Text,Currency\n" + "".join(
        f"2026-01-{10 + i % 20:02d},{amount // 100}.{amount % 100:02d},{payer},{text},EUR\n"
        for i, (amount, payer, text) in enumerate(rows))
    import_statement(org, body.encode(), account=ACCOUNT)
    return {"lines": len(rows)}


def _smtp(port: int | None) -> None:
    if port:
        from django.conf import settings

        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


def single(smtp_port: int | None, batch_size: int, stages: list[str]) -> dict:
    """The reference: each run in this one process."""
    from duly.billing.run import run_billing
    from duly.collections.services import collect
    from duly.customers.models import Organization
    from duly.messaging.delivery import deliver_outbox
    from duly.payments.reconcile_services import reconcile

    _smtp(smtp_port)
    org = Organization.objects.get(slug="scale")
    timings = {}
    if stages == ["reconcile"]:
        t = time.perf_counter()
        done = reconcile(org, as_of=RECONCILE_ON)
        return {"reconcile": {"matched": done.matched, "review": done.review, "outgoing": done.outgoing},
                "seconds": {"reconcile": round(time.perf_counter() - t, 3)}}
    t = time.perf_counter()
    billed = run_billing(org, BILL_ON, workers=1, batch_size=batch_size)
    timings["billing"] = time.perf_counter() - t
    t = time.perf_counter()
    collected = collect(org, as_of=COLLECT_AT).counts()
    timings["collect"] = time.perf_counter() - t
    t = time.perf_counter()
    sent = 0
    while True:
        report = deliver_outbox(DELIVER_AT)
        sent += len(report.sent)
        if not any(report.as_dict().values()):
            break
    timings["outbox"] = time.perf_counter() - t
    return {"invoices": billed.invoices, "collect": collected, "sent": sent,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _wait(result, deadline: float):
    """The chord's result; rides out a broker (or result backend) that restarts meanwhile."""
    while time.monotonic() < deadline:
        try:
            if result.ready():
                return result.get(timeout=10, propagate=True)
        except (ConnectionError, OSError) as exc:  # the backend is restarting: ask again
            print(f"waiting: {type(exc).__name__}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - redis' own ConnectionError does not derive from the builtin
            if "onnection" not in type(exc).__name__:
                raise
            print(f"waiting: {type(exc).__name__}", file=sys.stderr)
        time.sleep(0.1)
    raise TimeoutError("the partitioned run did not finish in time")


def scaled(partitions: int, batch_size: int, stages: list[str], timeout: float) -> dict:
    """The same runs through Celery workers: each stage a chord of ``partitions`` tasks, the next stage after it."""
    import duly.celery  # noqa: F401 - configures the Celery app from the settings
    from duly import scaleout
    from duly.customers.models import Organization

    org = Organization.objects.get(slug="scale")
    out: dict = {"seconds": {}}
    deadline = time.monotonic() + timeout
    build = {"billing": lambda: scaleout.billing(org.id, BILL_ON, partitions, batch_size=batch_size),
             "collect": lambda: scaleout.collect(org.id, COLLECT_AT, partitions),
             "outbox": lambda: scaleout.outbox(DELIVER_AT, partitions),
             "reconcile": lambda: scaleout.reconcile(org.id, RECONCILE_ON, partitions)}
    for stage in stages:
        t = time.perf_counter()
        print(f"stage {stage}", file=sys.stderr, flush=True)
        out[stage] = _wait(build[stage]().apply_async(), deadline)
        out["seconds"][stage] = round(time.perf_counter() - t, 3)
    return out


def fingerprint() -> dict:
    """What must be the same whichever way the runs ran: the invoices (customer, dates, amounts, lines), their
    numbers (gapless, none twice), the reminders, the messages (with invoice numbers masked: the order in which
    partitions commit decides who gets which number), their states, and the payments' allocations."""
    from django.db import connection

    from duly.billing.models import BillingRecord
    from duly.collections.models import Reminder
    from duly.invoicing.models import Invoice, InvoiceLine
    from duly.messaging.models import Message
    from duly.payments.bank_models import StatementLine
    from duly.payments.models import Allocation, CreditEntry, Payment
    from duly.payments.reconcile_models import BankMatch

    invoices = list(Invoice.objects.order_by("id").values_list(
        "id", "customer__code", "kind", "issue_date", "due_date", "total_minor", "prepaid_minor", "status", "number"))
    lines: dict[int, list] = {}
    for inv, desc, qty, price in InvoiceLine.objects.order_by("invoice_id", "position", "id").values_list(
            "invoice_id", "description", "quantity", "unit_price"):
        lines.setdefault(inv, []).append([desc, str(qty), str(price)])
    numbers = [row[8] for row in invoices]
    key_of = {row[8]: f"{row[1]}@{row[3]}" for row in invoices}
    seq = sorted(int(re.search(r"(\d+)$", n).group(1)) for n in numbers if n)
    used = set(seq)
    # Every word that is an invoice number, looked up (one alternation of 2,000,000 numbers would not compile).
    token = re.compile(r"[^\s,;:()\[\]<>\"']+")

    def word(m: re.Match) -> str:
        text = m.group(0)
        bare = text.rstrip(".")
        return key_of[bare] + text[len(bare):] if bare in key_of else text

    def mask(text: str) -> str:
        return token.sub(word, text or "")

    invoice_rows = sorted(json.dumps([r[1], r[2], str(r[3]), str(r[4]), r[5], r[6], r[7], lines.get(r[0], [])])
                          for r in invoices)
    reminders = sorted(json.dumps([c, s, sorted(key_of.get(n, n) for n in nums)]) for c, s, nums in (
        (r.customer.code, r.step_code, list(r.covered.values_list("invoice__number", flat=True)))
        for r in Reminder.objects.select_related("customer")))
    messages = sorted(json.dumps([c, cat, st, to, mask(subj), hashlib.sha256(mask(body).encode()).hexdigest()])
                      for c, cat, st, to, subj, body in Message.objects.values_list(
                          "customer__code", "category", "status", "to_email", "subject", "text"))
    allocations = sorted(json.dumps([key_of.get(n, n), a]) for n, a in Allocation.objects.values_list(
        "invoice__number", "amount_minor"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) - count(DISTINCT (subscription_id, period_start)) FROM "
                       + BillingRecord._meta.db_table)
        duplicate_records = cursor.fetchone()[0]
    return {
        "invoices": len(invoices), "invoices_sha": hashlib.sha256("\n".join(invoice_rows).encode()).hexdigest(),
        "numbers_unique": len(set(numbers)) == len(numbers),
        "gaps": [n for n in range(1, len(seq) + 1) if n not in used][:10],
        "duplicate_numbers": len(seq) - len(set(seq)), "duplicate_billing_records": duplicate_records,
        "per_customer_period_max": max([sum(1 for r in invoices if (r[1], r[3]) == k)
                                        for k in {(r[1], r[3]) for r in invoices[-50:]}] or [0]),
        "reminders": len(reminders), "reminders_sha": hashlib.sha256("\n".join(reminders).encode()).hexdigest(),
        "messages": len(messages), "messages_sha": hashlib.sha256("\n".join(messages).encode()).hexdigest(),
        "messages_by_status": dict(Message.objects.values_list("status").annotate(
            n=__import__("django.db.models", fromlist=["Count"]).Count("id")).order_by()),
        "allocations": len(allocations),
        "allocations_sha": hashlib.sha256("\n".join(allocations).encode()).hexdigest(),
        "lines_by_status": dict(StatementLine.objects.values_list("status").annotate(
            n=__import__("django.db.models", fromlist=["Count"]).Count("id")).order_by()),
        "bank_matches": BankMatch.objects.count(), "payments": Payment.objects.count(),
        "credit_sha": hashlib.sha256(json.dumps(sorted(CreditEntry.objects.values_list(
            "customer__code", "currency", "amount_minor"))).encode()).hexdigest(),
        "duplicate_payment_refs": Payment.objects.count() - Payment.objects.values(
            "external_reference").distinct().count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed", "statement", "single", "scaled", "fingerprint"])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--smtp-port", type=int, default=None)
    parser.add_argument("--stages", default="billing,collect,outbox")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--fingerprint", action="store_true", help="single, scaled: add the fingerprint afterwards")
    args = parser.parse_args(argv)
    _django()
    started, cpu = time.perf_counter(), time.process_time()
    if args.command == "seed":
        out = seed(args.customers)
    elif args.command == "statement":
        out = statement(args.lines)
    elif args.command == "single":
        out = single(args.smtp_port, args.batch_size, args.stages.split(","))
    elif args.command == "scaled":
        out = scaled(args.partitions, args.batch_size, args.stages.split(","), args.timeout)
    else:
        out = fingerprint()
    if args.fingerprint and args.command in ("single", "scaled"):
        out["fingerprint"] = fingerprint()
    out["process"] = {"wall": round(time.perf_counter() - started, 3), "cpu": round(time.process_time() - cpu, 3),
                      "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    json.dump(out, sys.stdout, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
