"""Invoice composition with plain values: lines, price changes, late usage, prepaid deductions and notes."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from duly.domain.billing_plan import SubscriptionPlan, slots
from duly.domain.compose import (
    InvoiceNote,
    PriceBook,
    PrepaidInvoice,
    apply_prepaid,
    compose_invoices,
    late_lines,
    render_note,
    render_notes,
)
from duly.domain.compose import notes as N
from duly.domain.compose.inputs import (
    DEPOSIT,
    RETAINER,
    BatchSnapshot,
    BilledWindow,
    CatalogSnapshot,
    ContractInput,
    EventSeries,
    ItemInput,
    LateEvent,
    MetricInfo,
    NoticeState,
    PendingChargeInput,
    PrepaidBalances,
    PriceChangeInfo,
    PriceInfo,
    ProductInfo,
    RetainerInput,
    SubscriptionInput,
)
from duly.domain.errors import RequiredFieldMissing
from duly.domain.usage import UsageEvent

AS_OF = date(2026, 2, 1)
PRO = ProductInfo(1, "Pro plan", "C62", "S", Decimal("20"), "")
API = ProductInfo(2, "API calls", "C62", "S", Decimal("20"), "")
FLAT = PriceInfo(10, 1, "pro", "", "EUR", "quantity", None, {"model": "flat", "amount": "49.00"})
SEAT = PriceInfo(11, 1, "seat", "annual", "EUR", "quantity", None, {"model": "per_unit", "unit_price": "9.50"})
CALLS = PriceInfo(12, 2, "calls", "", "EUR", "usage", 100, {"model": "per_unit", "unit_price": "0.01"})
FEES = PriceInfo(13, 2, "fees", "", "EUR", "usage", 101, {"model": "percentage", "rate": "2"})
METRICS = {100: MetricInfo(100, "api_calls", "API calls", "sum", ""),
           101: MetricInfo(101, "payments", "payments", "sum", "")}


def book(changes=None, announced=None) -> PriceBook:
    return PriceBook({1: PRO, 2: API}, {p.id: p for p in (FLAT, SEAT, CALLS, FEES)}, METRICS, changes or {},
                     announced)


def subscription(pk: int, customer: int, *, timing: str = "advance", start: date = date(2026, 1, 1),
                 last: date | None = date(2026, 1, 1), end: date | None = None, metered: bool = False,
                 as_of: date = AS_OF, anchor: int | None = None) -> SubscriptionInput:
    plan = SubscriptionPlan(start=start, interval="monthly", timing=timing, end=end, metered=metered, anchor=anchor)
    due, nxt = slots(plan, last_key=last, as_of=as_of)
    return SubscriptionInput(pk, customer, 1000 + customer, f"SUB-{pk}", "EUR", "Europe/Paris", end, last, plan,
                             tuple(due), nxt)


def snapshot(subs, items, *, customers=None, events=None, pending=None, late=None, windows=None, notices=None,
             prepaid=None, contracts=None, running=None, as_of=AS_OF, late_events=None) -> BatchSnapshot:
    customers = customers or {s.customer_id: "Europe/Paris" for s in subs}
    return BatchSnapshot(
        as_of=as_of, catalog=CatalogSnapshot({}, {}, {}, {}), customers=customers,
        contracts=contracts or {1000 + c: ContractInput(1000 + c, "EUR", "next_invoices") for c in customers},
        subscriptions=subs, items=items,
        running=running if running is not None else {s.contract_id: frozenset({s.pk}) for s in subs},
        events=events or {}, late_window_events=late_events or {}, licences={}, pending=pending or {},
        late=late or {}, late_windows=windows or {}, notices=notices or {}, prepaid=prepaid or PrepaidBalances(),
    )


def totals(group) -> int:
    return int(sum(line.quantity * line.unit_price for line in group.lines) * 100)


def item(pk: int, price: PriceInfo, quantity: str = "1", starts_on: date = date(2026, 1, 1)) -> ItemInput:
    return ItemInput(pk, price, Decimal(quantity), starts_on, None)


# --- lines -------------------------------------------------------------------------------------------------
def test_a_flat_and_a_per_unit_price_make_one_invoice_per_customer_and_date():
    sub = subscription(1, 7)
    plan = compose_invoices(snapshot([sub], {1: [item(1, FLAT), item(2, SEAT, "3")]}), book(), totals)
    (group,) = plan.invoiced
    assert (group.customer_id, group.contract_id, group.billing_date) == (7, 1007, date(2026, 2, 1))
    flat, seats = group.lines
    assert (str(flat.description), flat.quantity, flat.unit_price) == ("Pro plan, 1–28 February 2026", 1, Decimal("49.00"))
    assert (str(seats.description), seats.quantity, seats.unit_price) == (
        "Pro plan (annual) × 3, 1–28 February 2026", Decimal(3), Decimal("9.50"))
    assert (flat.period_start, flat.period_end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert group.slots == [(1, sub.due[0], 0, 2, {})]
    assert plan.cursors[1].last_key == date(2026, 2, 1) and plan.cursors[1].next_billing_date == date(2026, 3, 1)
    assert not plan.failed and group.prepaid.prepaid_minor == 0 and group.notes == []


def test_customers_on_the_same_plan_share_one_line_object():
    the_book = book()
    subs = [subscription(1, 7), subscription(2, 8)]
    plan = compose_invoices(snapshot(subs, {1: [item(1, FLAT)], 2: [item(2, FLAT)]}), the_book, totals)
    first, second = plan.invoiced
    assert first.lines[0] is second.lines[0]
    again = compose_invoices(snapshot([subscription(3, 9)], {3: [item(3, FLAT)]}), the_book, totals)
    assert again.invoiced[0].lines[0] is first.lines[0]  # the book is the run's: shared across batches


def test_a_stub_period_is_prorated_and_says_why():
    sub = subscription(1, 7, start=date(2026, 1, 15), last=None, as_of=date(2026, 1, 15), anchor=1)
    plan = compose_invoices(snapshot([sub], {1: [item(1, FLAT, starts_on=date(2026, 1, 15))]},
                                     as_of=date(2026, 1, 15)), book(), totals)
    (line,) = plan.invoiced[0].lines
    assert line.quantity == 1 and line.unit_price == Decimal("26.87")
    assert "17 of 31 days" in str(line.explanation)


def test_usage_is_aggregated_over_the_local_window_and_percentages_take_each_transaction():
    sub = subscription(1, 7, timing="arrears", metered=True, last=None)
    tz_times = [datetime(2026, 1, 10, 12, tzinfo=timezone.utc), datetime(2026, 1, 20, 12, tzinfo=timezone.utc),
                datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)]  # the last is 1 February in Paris
    calls = EventSeries(tuple(tz_times), (None, 1, None), tuple(
        UsageEvent(f"c{i}", t, "api_calls", Decimal(v)) for i, (t, v) in enumerate(zip(tz_times, [100, 50, 7]))))
    pays = EventSeries(tuple(tz_times[:2]), (None, 2), tuple(
        UsageEvent(f"p{i}", t, "payments", Decimal(v)) for i, (t, v) in enumerate(zip(tz_times[:2], [100, 80]))))
    plan = compose_invoices(snapshot([sub], {1: [item(1, CALLS), item(2, FEES)]},
                                     events={(7, 100): calls, (7, 101): pays}), book(), totals)
    (group,) = plan.invoiced
    calls_line, fees_line = group.lines
    assert calls_line.quantity == 150 and calls_line.unit_price == Decimal("0.01")
    assert fees_line.unit_price == Decimal("2.00")  # 2 % of the one payment of this subscription's (100)
    assert group.slots[0][4] == {"api_calls": {"quantity": "150", "amount": "1.50"},
                                 "payments": {"quantity": "100", "amount": "2.00"}}


def test_a_minimum_commitment_on_part_of_a_period_is_prorated_and_remembered_for_late_usage():
    committed = PriceInfo(14, 2, "min", "", "EUR", "usage", 100, {
        "model": "minimum_commitment", "minimum": "31.00", "charge": {"model": "per_unit", "unit_price": "0.01"}})
    the_book = PriceBook({1: PRO, 2: API}, {14: committed}, METRICS, {})
    sub = subscription(1, 7, timing="arrears", metered=True, last=None)
    plan = compose_invoices(snapshot([sub], {1: [ItemInput(1, committed, Decimal(1), date(2026, 1, 17), None)]}),
                            the_book, totals)
    (line,) = plan.invoiced[0].lines
    assert line.unit_price == Decimal("15.00")  # 31.00 × 15/31 days
    assert plan.invoiced[0].slots[0][4]["api_calls"] == {"quantity": "0", "amount": "15.00", "share": [15, 31]}


# --- price changes ------------------------------------------------------------------------------------------
CHANGE = PriceChangeInfo(50, 10, None, date(2026, 2, 1), {"model": "flat", "amount": "59.00"}, 30,
                         "Costs went up. ")


def test_a_new_price_whose_notice_went_out_in_time_is_billed_and_said_once():
    announced = {(50, 7): NoticeState("sent", date(2025, 12, 20), date(2025, 12, 20))}
    the_book = book({10: [CHANGE]}, announced)
    subs = [subscription(1, 7), subscription(2, 7)]
    plan = compose_invoices(snapshot(subs, {1: [item(1, FLAT)], 2: [item(2, FLAT)]}, notices={(50, 7): 900}),
                            the_book, totals)
    (group,) = plan.invoiced
    first, second = group.lines
    sentence = ("Pro plan: new price from 1 February 2026: 59.00 EUR per period (previously 49.00 EUR per period). "
                "Why: Costs went up.")
    assert first.unit_price == second.unit_price == Decimal("59.00")
    assert str(first.explanation).startswith(sentence + " — ") and not str(second.explanation).startswith(sentence)
    assert [n for n, _ in group.notices] == [900]
    assert group.notes == [InvoiceNote.of(N.PRICE_CHANGE, product="Pro plan", effective_date=date(2026, 2, 1),
                                          new="59.00 EUR per period", previous="49.00 EUR per period",
                                          justification="Costs went up. ")]
    assert render_notes(group.notes) == sentence  # a sentence gets its full stop once
    assert plan.kept == []


def test_a_new_price_whose_notice_is_late_is_not_billed_and_the_plan_says_why():
    announced = {(50, 7): NoticeState("queued", None, date(2026, 1, 20))}
    plan = compose_invoices(snapshot([subscription(1, 7)], {1: [item(1, FLAT)]}, notices={(50, 7): 900}),
                            book({10: [CHANGE]}, announced), totals)
    assert plan.invoiced[0].lines[0].unit_price == Decimal("49.00") and plan.invoiced[0].notices == []
    assert plan.kept == [(7, "Pro plan: kept the previous price for the period from 2026-02-01, not the new price "
                              "from 2026-02-01: its notice (planned for 2026-01-20) has not been sent yet")]


# --- pending charges, late usage, failures -------------------------------------------------------------------
def test_pending_charges_go_on_the_first_invoice_and_a_customer_with_nothing_due_gets_its_own():
    charge = PendingChargeInput(70, 1008, "Added: Seats", 1250, "EUR", "C62", "S", Decimal("20"), "",
                                date(2026, 1, 15), date(2026, 1, 31), "17 days")
    plan = compose_invoices(snapshot([subscription(1, 7)], {1: [item(1, FLAT)]}, customers={7: "UTC", 8: "UTC"},
                                     pending={8: [charge]}), book(), totals)
    assert [(g.customer_id, g.contract_id, g.billing_date) for g in plan.invoiced] == [
        (7, 1007, AS_OF), (8, 1008, AS_OF)]
    assert plan.invoiced[1].pending == [70] and plan.invoiced[1].lines[0].unit_price == Decimal("12.50")


def test_late_usage_is_billed_as_the_difference_and_the_window_re_priced():
    window = BilledWindow(300, 1, 7, 1007, "EUR", "UTC", date(2026, 1, 1), date(2026, 2, 1),
                          {"api_calls": {"quantity": "100", "amount": "1.00"}}, "INV-2026-00001")
    ts = [datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2026, 1, 6, tzinfo=timezone.utc)]
    events = EventSeries(tuple(ts), (None, None), (UsageEvent("a", ts[0], "api_calls", Decimal(100)),
                                                   UsageEvent("b", ts[1], "api_calls", Decimal(40))))
    late = late_lines(book(), [LateEvent(5, None, 100, ts[1]), LateEvent(6, None, 101, ts[1])], [window],
                      {1: [item(1, CALLS)]}, {(7, 100): events})
    (line,) = late.lines
    assert (str(line.description), line.quantity, line.unit_price) == (
        "Late usage adjustment — API calls, 1–31 January 2026", 1, Decimal("0.40"))
    assert str(line.explanation) == ("1 API calls event(s) of 1–31 January 2026 arrived after that period was invoiced "
                                "(invoice INV-2026-00001). Billed 100 → now 140: 1.40 − 1.00 = 0.40.")
    assert late.handled == [5, 6] and late.contract_id == 1007
    assert late.touched == [(300, {"api_calls": {"quantity": "140", "amount": "1.40"}})]
    assert window.usage == {"api_calls": {"quantity": "100", "amount": "1.00"}}  # inputs are not changed


def test_a_customer_whose_invoice_cannot_be_issued_is_left_out_whole():
    def refuse_eight(group):
        if group.customer_id == 8:
            raise RequiredFieldMissing("Bob requires the field 'PO number' on every invoice; it is missing.")
        return totals(group)

    plan = compose_invoices(snapshot([subscription(1, 7), subscription(2, 8)], {1: [item(1, FLAT)], 2: [item(2, FLAT)]}),
                            book(), refuse_eight)
    assert [g.customer_id for g in plan.invoiced] == [7]
    assert plan.failed == {8: "Bob requires the field 'PO number' on every invoice; it is missing."}
    assert [g.customer_id for g in plan.groups] == [7, 8]


# --- prepaid ------------------------------------------------------------------------------------------------
def test_deposits_are_deducted_from_the_next_invoices_until_used_up():
    balances = PrepaidBalances({(1, DEPOSIT): 6000}, frozenset(), {1: "DEP-1"}, {})
    contracts = {1: ContractInput(1, "EUR", "next_invoices")}
    first, second = apply_prepaid([PrepaidInvoice(1, "EUR", 5000, False), PrepaidInvoice(1, "EUR", 5000, False)],
                                  balances, contracts)
    assert (first.prepaid_minor, first.drawdowns) == (5000, [(DEPOSIT, 5000)])
    assert (second.prepaid_minor, second.drawdowns) == (1000, [(DEPOSIT, 1000)])
    assert render_notes(second.notes) == "Deposit deducted: 10.00 EUR (deposit invoice DEP-1)."
    assert balances.available == {(1, DEPOSIT): 6000}


def test_a_deposit_held_until_the_final_invoice_is_said_then_deducted_and_the_rest_owed_back():
    balances = PrepaidBalances({(1, DEPOSIT): 8000}, frozenset(), {1: "DEP-1"}, {})
    contracts = {1: ContractInput(1, "EUR", "final_invoice")}
    held, final = apply_prepaid([PrepaidInvoice(1, "EUR", 5000, False), PrepaidInvoice(1, "EUR", 5000, True)],
                                balances, contracts)
    assert held.prepaid_minor == 0
    assert render_notes(held.notes) == ("Deposit held until the final invoice under this contract: 80.00 EUR "
                                        "(deposit invoice DEP-1).")
    assert final.prepaid_minor == 5000
    assert render_notes(final.notes) == ("Deposit deducted: 50.00 EUR (deposit invoice DEP-1).\n"
                                         "Deposit left after this final invoice: 30.00 EUR, owed back to you.")


def test_a_retainer_is_drawn_down_and_topped_up_once_below_its_threshold():
    retainer = RetainerInput(1, 3000, 10000, "EUR")
    balances = PrepaidBalances({(1, RETAINER): 6000}, frozenset(), {}, {1: retainer})
    contracts = {1: ContractInput(1, "EUR", "next_invoices")}
    first, second = apply_prepaid([PrepaidInvoice(1, "EUR", 4000, False), PrepaidInvoice(1, "EUR", 4000, False)],
                                  balances, contracts)
    assert (first.prepaid_minor, first.topup) == (4000, (retainer, 2000))
    assert render_notes(first.notes) == ("Retainer drawdown: 40.00 EUR.\nRetainer balance after this invoice: "
                                         "20.00 EUR.\nA retainer top-up of 100.00 EUR is invoiced separately.")
    assert (second.prepaid_minor, second.topup) == (2000, None)  # one top-up open at a time
    assert render_notes(second.notes) == "Retainer drawdown: 20.00 EUR.\nRetainer balance after this invoice: 0.00 EUR."


def test_every_note_code_has_its_wording():
    values = dict(product="P", effective_date=date(2026, 1, 1), new="1", previous="2", justification="x",
                  amount_minor=100, currency="EUR", deposit_invoice="D")
    for code in N.NOTE_CODES:
        assert render_note(InvoiceNote(code, tuple(values.items()))).endswith(".")
    with pytest.raises(ValueError):
        render_note(InvoiceNote.of("unknown"))


def test_the_composition_is_pure():
    code = ("import sys, duly.domain.compose; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django',) or m.startswith('duly.') "
            "and not m.startswith('duly.domain')); print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
