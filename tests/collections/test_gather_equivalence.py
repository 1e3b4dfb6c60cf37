"""The dunning run decides exactly as before the streaming gather: the same snapshots and the same
actions, hashed, at several instants (DST nights in Europe, the United States and Australia among them)
over a seeded book of a few hundred invoices in many time zones, with past reminders (delivered or
not), disputes, promises, contacts without an e-mail address, partial payments and a year of paid
history. The hashes were computed with the per-chunk gather that ran before the rewrite (commit
c2cd1fe; the snapshot hashes again at d483de2, whose open items gained the late-payment prediction fields); gathering in chunks of different sizes, or for a customer range only, gives the same."""

from __future__ import annotations

import dataclasses
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
        "aec77dfac49c563d9511e66e727e15dcddbabb4b4092fe6cc4b54d5a5c2efe32",
        "4b72ee1c58dfbf5b193ee2b444fefb4f17b9619e9b69de4ddc1baa1b683c4764"),
    "2026-03-29T01:30:00+00:00": (
        "aec77dfac49c563d9511e66e727e15dcddbabb4b4092fe6cc4b54d5a5c2efe32",
        "4b72ee1c58dfbf5b193ee2b444fefb4f17b9619e9b69de4ddc1baa1b683c4764"),
    "2026-03-08T07:30:00+00:00": (
        "8c344de6fcdcfc5dd0c7c8fe58de42b66f518e8dd4fa3f86d4f555c97fd16757",
        "a6346199314ac5064bcb699801fad77ddcf11b5eba2b42140fe63836270b30a9"),
    "2026-04-04T16:30:00+00:00": (
        "65fda7f9e06876160d8853041fc1044eeec5e30210e99d1434bca3a402f305b9",
        "ef46d2e15d731946049558203a8a7cca25308a086c591eb27105279869911651"),
    "2026-10-25T00:30:00+00:00": (
        "360b7873b3878ec044aa08b1120abf12acbd809a2ac9bb8a0e75ace7491a240e",
        "2470549b011d55894260577a15185e492e6741ce0a9ce914deaf35fb50beb927"),
    "2026-10-25T01:30:00+00:00": (
        "360b7873b3878ec044aa08b1120abf12acbd809a2ac9bb8a0e75ace7491a240e",
        "2470549b011d55894260577a15185e492e6741ce0a9ce914deaf35fb50beb927"),
    "2026-11-01T09:30:00+00:00": (
        "3cb5f63f530d9720b817f594d397470d6d933e1ce640bfb323c273c600da34fa",
        "6eac307adaeecf839dede0e23b2e8f0ce77ecba54f87304f3703bb28c3649975"),
    "2026-06-10T09:30:00+00:00": (
        "58cfb039a9936ad7dad53f25e597baa807841c52bbc75f7e85e31669596b00d0",
        "ab60ace32e5237d13dcbf36558389dff07a46d40715b174d5635d0095184cd7f"),
    "2026-06-10T23:30:00+00:00": (
        "15d404cd99b164a876f28e5e94a7a69991f9c9b4abf48ee72cee8a3104a91034",
        "ab60ace32e5237d13dcbf36558389dff07a46d40715b174d5635d0095184cd7f"),
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


def canonical(value):
    """``value`` with sets sorted and dataclasses spelled out: a repr that does not depend on the
    process's string hashing (the order of a frozenset of strings does)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, canonical(getattr(value, f.name)))
                                            for f in dataclasses.fields(value)))
    if isinstance(value, (set, frozenset)):
        return ("set", sorted((canonical(v) for v in value), key=repr))
    if isinstance(value, dict):
        return ("dict", sorted(((canonical(k), canonical(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    return value


def digest(values) -> str:
    return hashlib.sha256(repr(canonical(values)).encode()).hexdigest()


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


def test_chunks_of_any_size_and_partitions_by_customer_range_decide_as_one_run(book):
    # The same decisions (customers come in the order of their names within a chunk, so sort them).
    as_of = INSTANTS[-2]

    def decisions(**kw):
        return sorted((repr(p.as_dict()) for p in collect(book, as_of=as_of, dry_run=True, **kw).planned))

    whole = decisions()
    assert whole and decisions(chunk_size=7) == whole
    parts = [d for first, last in ((1, 40), (41, 90), (91, 10**9)) for d in decisions(customer_id_range=(first, last))]
    assert sorted(parts) == whole
