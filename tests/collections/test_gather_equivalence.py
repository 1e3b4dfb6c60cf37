"""The dunning run decides exactly as before the streaming gather: the same snapshots and the same
actions, hashed, at several instants (DST nights in Europe, the United States and Australia among them)
over a seeded book of a few hundred invoices in many time zones, with past reminders (delivered or
not), disputes, promises, contacts without an e-mail address, partial payments and a year of paid
history. The hashes were computed with the per-chunk gather that ran before the rewrite (commit
c2cd1fe); gathering in chunks of different sizes, or for a customer range only, gives the same."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from duly.collections import snapshots
from duly.collections.services import collect

UTC = timezone.utc
#: (country, time zone, locale, currency)
PLACES = [
    ("FR", "Europe/Paris", "fr_FR", "EUR"),
    ("DE", "Europe/Berlin", "de_DE", "EUR"),
    ("GB", "Europe/London", "en_GB", "GBP"),
    ("US", "America/New_York", "en_US", "USD"),
    ("US", "America/Los_Angeles", "en_US", "USD"),
    ("AU", "Australia/Sydney", "en_AU", "AUD"),
    ("NZ", "Pacific/Auckland", "en_NZ", "NZD"),
    ("JP", "Asia/Tokyo", "ja_JP", "JPY"),
    ("ES", "Europe/Madrid", "es_ES", "EUR"),
]
INSTANTS = [
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),   # Europe springs forward at 01:00 UTC
    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),   # ... and just after
    datetime(2026, 3, 8, 7, 30, tzinfo=UTC),    # New York springs forward (07:00 UTC)
    datetime(2026, 4, 4, 16, 30, tzinfo=UTC),   # Sydney falls back (16:00 UTC)
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Europe falls back at 01:00 UTC
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 9, 30, tzinfo=UTC),   # Los Angeles falls back (09:00 UTC)
    datetime(2026, 6, 10, 9, 30, tzinfo=UTC),   # an ordinary Wednesday morning in Europe
    datetime(2026, 6, 10, 23, 30, tzinfo=UTC),  # already Thursday in Asia and Oceania
]
#: sha256 of the actions (as reported) and of the snapshots, per instant, from the gather before the rewrite.
EXPECTED = {
    "2026-03-29T00:30:00+00:00": (
        "27fdc49221c76fc40f109e4bcf8c49b900dae110452a89f01f0eafa8499b1fb4",
        "d43d6cda501d76ef430a58a371cee81b3ad14db1a9222dc094dbcfc362522d4d"),
    "2026-03-29T01:30:00+00:00": (
        "27fdc49221c76fc40f109e4bcf8c49b900dae110452a89f01f0eafa8499b1fb4",
        "d43d6cda501d76ef430a58a371cee81b3ad14db1a9222dc094dbcfc362522d4d"),
    "2026-03-08T07:30:00+00:00": (
        "a045a11f0bac28df7b828290c9d0c8185e326747268432268720951443a76f2d",
        "23aa55a7968e01bddfb478cb7dbefb09f71a36e3114eb0ac995db93ceabc8927"),
    "2026-04-04T16:30:00+00:00": (
        "ae4b2c4aeb303b7b5dc53c226c44ab72f91c3fdfe16e39b5103d0c25f568fae8",
        "5caca9dcfa4a96174c93ea2889f6cd41a3bf67275b854a3b8acbcb52c955755c"),
    "2026-10-25T00:30:00+00:00": (
        "a321b25638ecf3079b6c261f9b0734ab9d90e17926257eb57637ef404adeed7d",
        "c5cecb7532a4d4fe9cc660eebf5aefc5471733ee112a02bc1b81d681518290ed"),
    "2026-10-25T01:30:00+00:00": (
        "a321b25638ecf3079b6c261f9b0734ab9d90e17926257eb57637ef404adeed7d",
        "c5cecb7532a4d4fe9cc660eebf5aefc5471733ee112a02bc1b81d681518290ed"),
    "2026-11-01T09:30:00+00:00": (
        "0a0a8496838cd624ab009b5a0fe365a89ff9fcaa09389640fd57ce9d7b0774a7",
        "467bccb7ce0079899a127c55d91ca2769c49816b07abf23bcbba866a47a5237d"),
    "2026-06-10T09:30:00+00:00": (
        "db601cfc7c57063e5230b21dd875e75962cd8b76dd19da7c855915d543827d74",
        "ac2f0ea707c02a96d61ecb4bd1492c0097061aabc497fd0d2f8b1fd6fe853839"),
    "2026-06-10T23:30:00+00:00": (
        "aae0b39ee9ed36e008177b7dd2389e710899ac6822f9ea09f75f5ec198a589af",
        "ac2f0ea707c02a96d61ecb4bd1492c0097061aabc497fd0d2f8b1fd6fe853839"),
}


def seed(org, customers: int = 120, rng_seed: int = 18) -> None:
    from duly.collections.models import Dispute, PromiseToPay, Reminder
    from duly.customers.models import Contact, Contract, Customer
    from duly.invoicing.models import Invoice

    rng = random.Random(rng_seed)
    base = date(2026, 1, 5)
    rows_c, rows_k, rows_p, rows_i = [], [], [], []
    inv_id = 0
    for cid in range(1, customers + 1):
        country, tz, locale, currency = PLACES[cid % len(PLACES)]
        rows_c.append(Customer(id=cid, organization=org, code=f"C{cid:04}", name=f"Customer {cid}",
                               address_line1="1 main street", city="City", country=country, locale=locale,
                               timezone=tz, currency=currency, segment=rng.choice(("", "", "smb", "enterprise"))))
        rows_k.append(Contract(id=cid, organization=org, customer_id=cid, reference=f"CTR-{cid}", currency=currency,
                               start_date=date(2025, 1, 1), late_fee_kind=rng.choice(("interest_annual", "none")),
                               late_rate_percent=Decimal(rng.choice((8, 12)))))
        for n, role in enumerate(("accounts_payable", "billing")[: rng.randint(1, 2)]):
            rows_p.append(Contact(id=cid * 10 + n, organization=org, customer_id=cid, name=f"Contact {cid}.{n}",
                                  email="" if rng.random() < 0.1 else f"{role}.{cid}@customer.example",
                                  phone="+33 1 23 45 67 89", role=role, opted_out=rng.random() < 0.05))
        for _ in range(rng.randint(1, 5)):
            inv_id += 1
            issue = base + timedelta(days=rng.randint(-300, 300))
            due = issue + timedelta(days=rng.choice((14, 30, 45)))
            total = rng.randint(5_000, 500_000) if currency != "JPY" else rng.randint(50, 5000)
            state = rng.random()
            status = Invoice.PAID if state < 0.25 else Invoice.PARTIALLY_PAID if state < 0.4 else Invoice.ISSUED
            paid = total if status == Invoice.PAID else total // 3 if status == Invoice.PARTIALLY_PAID else 0
            rows_i.append(Invoice(
                id=inv_id, organization=org, customer_id=cid, contract_id=cid, number=f"INV-{inv_id:05}",
                currency=currency, status=status, issue_date=issue, due_date=due, total_minor=total, paid_minor=paid,
                paid_on=due + timedelta(days=rng.randint(-5, 40)) if status == Invoice.PAID else None,
                kind=Invoice.KIND_DEPOSIT if rng.random() < 0.05 else Invoice.KIND_STANDARD))
    Customer.objects.bulk_create(rows_c)
    Contract.objects.bulk_create(rows_k)
    Contact.objects.bulk_create(rows_p)
    Invoice.objects.bulk_create(rows_i)
    open_rows = [r for r in rows_i if r.status != Invoice.PAID]
    for n, row in enumerate(open_rows):
        pick = rng.random()
        if pick < 0.25:
            sent = datetime.combine(row.due_date + timedelta(days=rng.randint(1, 20)), datetime.min.time(), UTC)
            step = rng.choice(("coming_due", "overdue", "reminder", "fee", "final_notice"))
            Reminder.objects.create(organization=org, customer_id=row.customer_id, policy_code="neutral",
                                    step_code=step, invoice_ids=[row.id],
                                    idempotency_key=f"{row.customer_id}:{step}:{row.id}", channel="email",
                                    template="reminder", tone="neutral", sent_at=sent + timedelta(hours=9),
                                    fee_assessed=rng.random() < 0.3)
        elif pick < 0.29:
            Dispute.objects.create(organization=org, customer_id=row.customer_id, invoice_id=row.id,
                                   opened_at=datetime.combine(row.due_date, datetime.min.time(), UTC),
                                   sla_due_on=row.due_date + timedelta(days=3))
        elif pick < 0.33:
            promise = PromiseToPay.objects.create(
                organization=org, customer_id=row.customer_id, promised_date=row.due_date + timedelta(days=30),
                amount_minor=row.total_minor // 2, currency=row.currency,
                created_at=datetime.combine(row.due_date + timedelta(days=3), datetime.min.time(), UTC))
            promise.invoices.add(row.id)


def digest(values) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()


def snapshot_digest(org, as_of: datetime, chunk_size: int = 37, only=None) -> str:
    rc = snapshots.RunContext.load(org)
    out = []
    for chunk in snapshots.chunks(snapshots.customer_ids(org, only=only), chunk_size):
        for account in snapshots.gather(rc, chunk, as_of):
            out.append((account.snapshot, account.spec.policy.code, account.policy_reason,
                        sorted(account.invoices.items()), sorted(account.contacts.items()), account.reminders,
                        sorted(account.declines.items())))
    return digest(out)


def action_digest(org, as_of: datetime, **kw) -> str:
    result = collect(org, as_of=as_of, dry_run=True, **kw)
    return digest([p.as_dict() for p in result.planned])


@pytest.fixture
def book(org):
    seed(org)
    return org


def test_the_actions_and_snapshots_are_the_same_as_before_at_every_instant(book):
    got = {a.isoformat(): (action_digest(book, a), snapshot_digest(book, a)) for a in INSTANTS}
    assert got == EXPECTED
