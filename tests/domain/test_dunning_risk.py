"""A dunning step condition on the predicted lateness of each invoice (issue 17 part 4): an earlier "coming due"
note only for the invoices likely to be paid late; the worklist's expected loss (no database)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from duly.domain.dunning import (
    AccountSnapshot,
    Contact,
    OpenItem,
    Policy,
    Step,
    StepConditions,
    evaluate,
    policy_from_dict,
    policy_to_dict,
    worklist_entry,
)
from duly.domain.errors import InvalidDunningPolicy

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
POLICY = Policy("risky", "Earlier for the risky", (
    Step("early-nudge", 0, -10, tone="gentle", conditions=StepConditions(min_late_probability=Decimal("0.6"))),
    Step("coming-due", 1, -3, tone="gentle"),
    Step("reminder-1", 2, 3),
))


def item(invoice_id, probability=None, days_late=None, due="2026-03-20", amount="100.00") -> OpenItem:
    due_date = date.fromisoformat(due)
    return OpenItem(invoice_id=invoice_id, number=f"INV-{invoice_id}", currency="EUR",
                    issue_date=due_date - timedelta(days=30), due_date=due_date, total=Decimal(amount),
                    open_amount=Decimal(amount), late_probability=probability, expected_days_late=days_late)


def snap(*items) -> AccountSnapshot:
    return AccountSnapshot(customer_id="C-1", timezone="Europe/Paris", country="FR", open_items=items,
                           contacts=(Contact(1, "Ana", "ana@client.example"),))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(UTC)


def test_the_early_nudge_goes_only_to_invoices_likely_to_be_paid_late():
    # Ten days before the due date (Tuesday 10 March): only the 0.75 invoice gets the early note; the 0.59
    # and the unscored ones wait for the ordinary coming-due note.
    actions = evaluate(snap(item(1, Decimal("0.75")), item(2, Decimal("0.59")), item(3)), POLICY,
                       at("2026-03-10 10:00"))
    assert [(a.kind, a.step_code, a.invoice_ids) for a in actions] == [("send", "early-nudge", (1,))]
    # On the coming-due day the others get theirs (the risky one's early note not recorded here: it gets it too).
    later = evaluate(snap(item(2, Decimal("0.59")), item(3)), POLICY, at("2026-03-17 10:00"))
    assert [(a.step_code, a.invoice_ids) for a in later if a.kind == "send"] == [("coming-due", (2, 3))]


def test_the_same_invoice_with_a_memo_warm_from_an_unscored_one_still_gets_its_own_plan():
    # Two customers in one run share the policy memo: the unscored invoice's plan must not be reused.
    from duly.domain.dunning import Evaluator

    ev = Evaluator()
    first = evaluate(snap(item(3)), POLICY, at("2026-03-10 10:00"), evaluator=ev)
    second = evaluate(snap(item(1, Decimal("0.9"))), POLICY, at("2026-03-10 10:00"), evaluator=ev)
    assert first == [] and [a.step_code for a in second] == ["early-nudge"]


def test_the_condition_round_trips_and_refuses_a_probability_outside_0_1():
    again = policy_from_dict(policy_to_dict(POLICY))
    assert again.steps[0].conditions.min_late_probability == Decimal("0.6")
    assert policy_to_dict(POLICY)["steps"][0]["conditions"] == {"min_late_probability": "0.6"}
    with pytest.raises(InvalidDunningPolicy):
        StepConditions(min_late_probability=Decimal("1.5"))


def test_the_worklist_carries_the_expected_loss_amount_x_probability_x_days():
    entry = worklist_entry(snap(item(1, Decimal("0.5"), 10, due="2026-03-01", amount="200.00"),
                                item(2, Decimal("0.2"), 0, due="2026-03-01"), item(3, due="2026-03-01")),
                           POLICY, at("2026-03-10 10:00"))
    assert entry.expected_loss == {"EUR": Decimal("1020.0000")}  # 200 x 0.5 x 10 + 100 x 0.2 x 1
    assert worklist_entry(snap(item(3)), POLICY, at("2026-03-10 10:00")).expected_loss == {}


# --- the tone rule reads the prediction too -------------------------------------------------------------------


def _tone_choice(probability, thresholds):
    from duly.domain.dunning import CustomerProfile, InvoiceRecord, choose_policy

    policies = [Policy(code, code.title(), (Step("reminder-1", 1, 3, tone=code),))
                for code in ("gentle", "neutral", "firm")]
    # Three invoices of the last year, all paid on time: the history alone says gentle.
    history = [InvoiceRecord(i, date(2026, m, 1), date(2026, m, 28), paid_date=date(2026, m, 20))
               for i, m in ((1, 1), (2, 2), (3, 3))]
    return choose_policy(CustomerProfile("C-1"), policies, history, date(2026, 4, 10), thresholds,
                         late_probability=probability)


def test_the_tone_rule_turns_firm_for_a_customer_whose_open_invoice_is_predicted_late():
    from duly.domain.dunning import ToneThresholds

    rule = ToneThresholds(25, 50, firm_from_probability=Decimal("0.6"))
    firm = _tone_choice(Decimal("0.75"), rule)
    assert (firm.policy.code, firm.tone) == ("firm", "firm")
    assert firm.reason == ("tone rule: 0 of 3 invoices of the last 12 months paid late (0.0%) -> gentle; but an "
                           "open invoice is predicted 75% likely to be paid late (firm from 60%) -> firm")
    assert _tone_choice(Decimal("0.6"), rule).tone == "firm"  # the threshold itself counts
    assert _tone_choice(Decimal("0.59"), rule).tone == "gentle"
    assert _tone_choice(None, rule).tone == "gentle"  # not scored: the history alone decides
    off = _tone_choice(Decimal("0.99"), ToneThresholds(25, 50))
    assert off.tone == "gentle" and off.reason.endswith("(0.0%) -> gentle")  # off by default


def test_the_probability_threshold_is_above_0_and_at_most_1():
    from duly.domain.dunning import ToneThresholds
    from duly.domain.errors import ValidationError

    for bad in (Decimal(0), Decimal("1.5"), Decimal("-0.2")):
        with pytest.raises(ValidationError):
            ToneThresholds(firm_from_probability=bad)
    assert ToneThresholds(firm_from_probability=Decimal(1)).firm_from_probability == Decimal(1)
