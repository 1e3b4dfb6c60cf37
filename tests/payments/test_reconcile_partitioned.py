"""Reconciliation split into partitions (duly.payments.reconcile_partition, docs/scale-out.md) gives the books one
process gives: the same payments, allocations, credit, write-offs, matches with their evidence, review entries,
line statuses and thank-you messages, on a seeded statement with instalments, several invoices per line,
overpayments, name-and-amount matches, review and outgoing lines. A partition that dies half-way and is run again
applies each line once."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from django.db import transaction

from duly.invoicing.models import Invoice
from duly.messaging.models import Message
from duly.payments import reconcile_partition as rp
from duly.payments import reconcile_services as rec
from duly.payments.bank_models import StatementLine
from duly.payments.bank_services import import_statement
from duly.payments.models import Allocation, CreditEntry, Payment
from duly.payments.reconcile_models import BankMatch, ReviewEntry

from .test_reconcile import ACCOUNT, AS_OF, account, issue  # noqa: F401 - fixtures

COUNT = 3


def books(org):
    """Every row reconciliation writes, without the ids that depend on commit order (payments, matches)."""
    payments = sorted((p.external_reference, p.customer_id, p.amount_minor, p.currency, p.method, p.received_on,
                       p.note) for p in Payment.objects.filter(organization=org))
    allocations = sorted(Allocation.objects.filter(invoice__organization=org).values_list(
        "payment__external_reference", "invoice_id", "amount_minor", "applied_on"))
    credit = sorted(CreditEntry.objects.filter(organization=org).values_list(
        "payment__external_reference", "customer_id", "currency", "amount_minor", "created_on"))
    invoices = sorted(Invoice.objects.filter(organization=org).values_list("pk", "status", "paid_minor", "paid_on"))
    matches = sorted((m.line_id, m.payment.external_reference, m.customer_id, m.how, m.score, m.rule,
                      str(m.evidence), m.matched_on) for m in BankMatch.objects.filter(organization=org))
    review = sorted((r.line_id, r.customer_id, r.category, r.note, str(r.proposals))
                    for r in ReviewEntry.objects.filter(organization=org))
    lines = sorted(StatementLine.objects.filter(organization=org).values_list("pk", "status"))
    messages = sorted((m.template, m.customer_id, m.status) for m in Message.objects.filter(organization=org))
    return {"payments": payments, "allocations": allocations, "credit": credit, "invoices": invoices,
            "matches": matches, "review": review, "lines": lines, "messages": messages}


def seed(org, contract, make_customer, seed=2026):
    """Twelve customers with one to three open invoices each, and a statement paying them every way."""
    rnd = random.Random(seed)
    rows = []
    for n in range(12):
        cust = make_customer(f"P{n:02d}", name=f"{rnd.choice(['Nord', 'Sud', 'Est', 'Ouest'])} Atelier {n} SARL")
        invoices = [issue(org, cust, None, f"{rnd.randint(40, 900)}.{rnd.randint(0, 99):02d}")
                    for _ in range(rnd.randint(1, 3))]
        first = invoices[0]
        kind = n % 6
        if kind == 0:  # every invoice by its RF reference
            rows += [(str(i.total), cust.name, f"payment {i.rf_reference}") for i in invoices]
        elif kind == 1:  # instalments: two lines for the first invoice, by its number
            half = (first.total / 2).quantize(first.total)
            rows += [(str(half), cust.name, f"acompte {first.number}"),
                     (str(first.total - half), cust.name, f"solde {first.number}")]
        elif kind == 2:  # one line for all of them, naming each number; then an overpayment of another
            rows.append((str(sum(i.total for i in invoices)), cust.name,
                         " ".join(f"inv {i.number}" for i in invoices)))
        elif kind == 3:  # the payer's name and the amount only
            rows.append((str(first.total), cust.name, "virement"))
        elif kind == 4:  # more than owed: the rest is credit
            rows.append((str(first.total + 25), cust.name, f"{first.rf_reference}"))
        else:  # a number one typo away, and an unrelated amount (review)
            rows += [(str(first.total), cust.name, f"facture {first.number[:-1]}"),
                     ("13.37", cust.name, "divers")]
    rows += [("-9.90", "", "frais de tenue de compte"), ("-1200.00", "URSSAF", "cotisations"),
             ("55.00", "Inconnu", "no idea")]
    rnd.shuffle(rows)
    start = date(2026, 3, 1)
    body = "Date,Amount,Payer,IBAN,Text,Ref,Currency\n" + "".join(
        f"{(start + timedelta(days=i // 3)).isoformat()},{amount},{payer},,{text},,EUR\n"
        for i, (amount, payer, text) in enumerate(rows))
    import_statement(org, body.encode(), account=ACCOUNT)
    return len(rows)


def run_both(org, partitioned):
    """The books after one process reconciles, and after ``partitioned(org)`` does, from the same state."""
    sid = transaction.savepoint()
    one = rec.reconcile(org, as_of=AS_OF)
    reference = books(org)
    transaction.savepoint_rollback(sid)
    assert not BankMatch.objects.filter(organization=org).exists()
    counts = partitioned(org)
    return one, reference, counts, books(org)


def test_partitions_apply_exactly_what_one_process_applies(org, contract, make_customer, account):
    total = seed(org, contract, make_customer)

    def partitioned(org):
        lists, debits = rp.plan_partitions(org, as_of=AS_OF, count=COUNT)
        assert sum(len(items) for items in lists) == total and debits == 0
        assert sum(1 for items in lists if items) >= 2  # really spread
        # every sure match of a customer is in that customer's partition
        for index, items in enumerate(lists):
            for item in items:
                result = rp.decode(item)
                assert rp.encode(result) == item  # the plan survives the trip through the broker
                if result.decision.value == "auto":
                    assert result.best.customer_id % COUNT == index
        # partitions in the reverse order: the commit order of the partitions does not matter
        results = [rp.apply_partition(org, items, as_of=AS_OF) for items in reversed(lists)]
        return tuple(sum(getattr(r, f) for r in results) for f in ("matched", "review", "outgoing"))

    one, reference, counts, books_partitioned = run_both(org, partitioned)
    assert counts == (one.matched, one.review, one.outgoing)
    assert one.matched >= 12 and one.review >= 3 and one.outgoing == 2
    evidence = [m.evidence for m in BankMatch.objects.filter(organization=org)]
    assert any(e["credit_minor"] > 0 for e in evidence)  # an overpayment
    assert any(len(e["allocations"]) > 1 for e in evidence)  # a line paying several invoices
    paid = [e["allocations"][0][0] for e in evidence if len(e["allocations"]) == 1]
    assert len(paid) > len(set(paid))  # instalments: two lines for one invoice
    assert books_partitioned == reference


def test_a_partition_killed_half_way_and_run_again_applies_each_line_once(org, contract, make_customer, account,
                                                                          monkeypatch):
    seed(org, contract, make_customer, seed=7)

    def partitioned(org):
        lists, _ = rp.plan_partitions(org, as_of=AS_OF, count=2)
        real, calls = rec._settle_line, {"n": 0}

        def dies_on_the_third(*args, **kwargs):  # the worker dies after two lines committed one by one
            calls["n"] += 1
            if calls["n"] == 3:
                raise SystemExit("worker killed")
            return real(*args, **kwargs)

        biggest = max(lists, key=len)
        monkeypatch.setattr(rec, "_settle_line", dies_on_the_third)
        with pytest.raises(SystemExit):
            rp.apply_partition(org, biggest, as_of=AS_OF)
        monkeypatch.setattr(rec, "_settle_line", real)
        assert BankMatch.objects.filter(organization=org).exists()  # what it committed stays
        for items in lists:  # redelivered (the same arguments), and the other partition
            rp.apply_partition(org, items, as_of=AS_OF)
        rp.apply_partition(org, biggest, as_of=AS_OF)  # a second redelivery changes nothing
        return None

    _, reference, _, after = run_both(org, partitioned)
    assert after == reference
    refs = list(Payment.objects.filter(organization=org).values_list("external_reference", flat=True))
    assert len(refs) == len(set(refs))


def test_the_celery_tasks_plan_once_and_combine_the_partitions(org, contract, make_customer, account, celery_eager):
    from duly import scaleout

    seed(org, contract, make_customer, seed=99)

    def partitioned(org):
        return scaleout.reconcile(org.id, AS_OF, COUNT).apply().get()

    one, reference, combined, after = run_both(org, partitioned)
    assert combined == {"matched": one.matched, "review": one.review, "outgoing": one.outgoing, "debits": 0}
    assert after == reference


def test_cli_reconcile_on_the_workers_books_what_one_process_books(org, contract, make_customer, account,
                                                                   celery_eager):
    from click.testing import CliRunner

    from duly.cli import main

    seed(org, contract, make_customer, seed=5)

    def partitioned(org):
        out = CliRunner().invoke(main, ["bank", "reconcile", "--org", org.slug, "--as-of", AS_OF.isoformat(),
                                        "--partitions", str(COUNT)])
        assert out.exit_code == 0, out.output
        return out.output

    one, reference, output, after = run_both(org, partitioned)
    assert output.strip() == (f"{one.matched} matched automatically, {one.review} sent to review, "
                              f"{one.outgoing} outgoing set aside.")
    assert after == reference


def test_cli_reconcile_on_the_workers_needs_a_broker(org, account, settings):
    from click.testing import CliRunner

    from duly.cli import main

    settings.DULY_BROKER_CONFIGURED = False
    out = CliRunner().invoke(main, ["bank", "reconcile", "--org", org.slug, "--partitions", "4"])
    assert out.exit_code == 2 and "CELERY_BROKER_URL" in out.output
    assert not BankMatch.objects.filter(organization=org).exists()
