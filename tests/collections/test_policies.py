"""Dunning policies are data: YAML export/import (validated), admin editing, and how a customer's
policy is chosen (explicit, by segment, or by the tone rule with configurable thresholds)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from django.test import Client
from django.urls import reverse

from duly.cli import main
from duly.collections import snapshots
from duly.collections.models import CollectionsSettings, Policy, SegmentRule, Step
from duly.collections.services import assign_policy, ensure_setup, import_policies
from duly.domain.errors import InvalidDunningPolicy


def at(day):
    return datetime.combine(day, time(10), ZoneInfo("Europe/Paris"))


def test_policies_round_trip_through_yaml_from_the_cli(org, tmp_path):
    path = tmp_path / "policies.yaml"
    result = CliRunner().invoke(main, ["collections", "policy", "export", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(path.read_text())
    codes = [p["code"] for p in data["policies"]]
    assert codes == ["firm", "gentle", "hotel", "neutral"]
    firm = next(p for p in data["policies"] if p["code"] == "firm")
    fee = next(s for s in firm["steps"] if s["code"] == "fee")
    fee["offset_days"] = 10
    firm["steps"].append({"code": "agency", "order": 7, "offset_days": 60, "channel": "phone_task",
                          "tone": "firm", "actions": ["handover"], "conditions": {"min_balance": "500"}})
    firm["fatigue"]["min_gap_hours"] = 72
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = CliRunner().invoke(main, ["collections", "policy", "import", str(path)], catch_exceptions=False)
    assert result.exit_code == 0 and "Imported 4 policies" in result.output
    policy = Policy.objects.get(organization=org, code="firm").to_domain()
    assert policy.step("fee").offset_days == 10 and policy.fatigue.min_gap_hours == 72
    assert policy.step("agency").actions == ("handover",)
    assert policy.step("agency").conditions.min_balance == Decimal("500")


def test_an_invalid_policy_file_changes_nothing_and_says_why(org, tmp_path):
    ensure_setup(org)
    before = list(Step.objects.values_list("pk", "offset_days"))
    bad = {"policies": [{"code": "firm", "name": "Firm", "steps": [
        {"code": "overdue", "order": 1, "offset_days": 1, "actions": ["sue"]}]}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(main, ["collections", "policy", "import", str(path)])
    assert result.exit_code == 2
    assert "Step 'overdue': unknown action 'sue'" in result.output and "[invalid_dunning_policy]" in result.output
    with pytest.raises(InvalidDunningPolicy, match="no message template named 'nope'"):
        import_policies(org, yaml.safe_dump({"policies": [{"code": "x", "name": "X", "steps": [
            {"code": "a", "order": 1, "offset_days": 1, "template": "nope"}]}]}))
    with pytest.raises(InvalidDunningPolicy, match="not valid YAML at line 3, column 1: expected ',' or ']'"):
        import_policies(org, "policies:\n  - code: [unclosed\n")
    assert list(Step.objects.values_list("pk", "offset_days")) == before


def _history(make_invoice, pay, customer, contract, late: int, on_time: int):
    issued = date(2026, 1, 5)
    for i in range(late + on_time):
        invoice = make_invoice(customer, contract, issued=issued + timedelta(days=7 * i), amount="100.00")
        pay(customer, "100.00", invoice.due_date + timedelta(days=10 if i < late else -5))


def _chosen(org, customer):
    rc = snapshots.RunContext.load(org)
    [account] = snapshots.gather(rc, [customer.pk], at(date(2026, 6, 1)))
    return account.policy.code, account.policy_reason


def test_the_tone_rule_thresholds_are_configurable(org, make_customer, make_contract, make_invoice, pay):
    customer = make_customer("TONE")
    contract = make_contract(customer)
    _history(make_invoice, pay, customer, contract, late=1, on_time=5)  # 1 in 6 late: 16.7 %
    assert _chosen(org, customer)[0] == "gentle"  # default: under 25 % -> gentle
    conf = ensure_setup(org)
    conf.gentle_below, conf.firm_above = Decimal(10), Decimal(15)
    conf.save()
    code, reason = _chosen(org, customer)
    assert code == "firm" and "1 of 6 invoices" in reason and "16.7%" in reason
    conf.firm_above = Decimal(50)
    conf.save()
    assert _chosen(org, customer)[0] == "neutral"
    conf.neutral_policy = Policy.objects.get(organization=org, code="gentle")
    conf.save()
    assert _chosen(org, customer)[0] == "gentle"  # the neutral tone mapped to another policy
    assert CollectionsSettings.objects.count() == 1


def test_explicit_policy_beats_segment_which_beats_the_tone_rule(org, make_customer):
    ensure_setup(org)
    customer = make_customer("SEG", segment="hospitality")
    assert _chosen(org, customer)[0] == "neutral"  # no history
    SegmentRule.objects.create(organization=org, segment="hospitality",
                               policy=Policy.objects.get(organization=org, code="hotel"), default_hour=11)
    assert _chosen(org, customer) == ("hotel", "policy 'hotel' of segment 'hospitality'")
    assign_policy(org, customer, "gentle")
    assert _chosen(org, customer) == ("gentle", "policy 'gentle' set on the customer")
    assign_policy(org, customer, None)
    assert _chosen(org, customer)[0] == "hotel"


def test_a_step_with_an_unknown_action_is_a_form_error_in_admin(org):
    from duly.customers.services import add_member

    ensure_setup(org)
    add_member(org, username="bk", password="ledger-pass-1")
    client = Client()
    assert client.login(username="bk", password="ledger-pass-1")
    policy = Policy.objects.get(organization=org, code="gentle")
    steps = list(policy.steps.all())
    data = {"code": policy.code, "name": policy.name, "max_per_window": "2", "window_days": "7",
            "min_gap_hours": "48", "restore_days": "14", "steps-TOTAL_FORMS": str(len(steps)),
            "steps-INITIAL_FORMS": str(len(steps)), "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000"}
    for i, s in enumerate(steps):
        data.update({f"steps-{i}-id": s.pk, f"steps-{i}-policy": policy.pk, f"steps-{i}-order": s.order,
                     f"steps-{i}-code": s.code, f"steps-{i}-offset_days": s.offset_days, f"steps-{i}-anchor": s.anchor,
                     f"steps-{i}-channel": s.channel, f"steps-{i}-template": s.template, f"steps-{i}-tone": s.tone,
                     f"steps-{i}-actions": '["sue"]' if i == 1 else "[]", f"steps-{i}-conditions": "{}"})
    url = reverse("admin:collections_policy_change", args=[policy.pk])
    resp = client.post(url, data)
    assert resp.status_code == 200 and "unknown action &#x27;sue&#x27;" in resp.content.decode()
    data["steps-1-actions"] = '["assess_late_fee"]'
    resp = client.post(url, data, follow=True)
    assert "its steps are valid" in resp.content.decode()
    assert Policy.objects.get(pk=policy.pk).to_domain().steps[1].actions == ("assess_late_fee",)
