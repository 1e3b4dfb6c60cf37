"""Dunning policies: the shipped defaults set up, YAML import and export, admin edits, and a customer's policy.

Policies are validated by the domain (:mod:`duly.domain.dunning`) and each step's message template
must exist before anything is written: a bad file changes nothing.
"""

from __future__ import annotations

from django.db import transaction

from duly.customers.models import Customer, Organization
from duly.domain import dunning
from duly.domain.errors import InvalidDunningPolicy, NotFound
from duly.messaging.services import template_exists

from .. import policies as policies_mod
from .. import snapshots
from ..models import CollectionsSettings, CustomerProfile, Policy, Step
from .common import _profile


@transaction.atomic
def ensure_setup(org: Organization) -> CollectionsSettings:
    """Create the organization's collections settings and the shipped policies it does not have yet."""
    conf, _ = CollectionsSettings.objects.get_or_create(organization=org)
    existing = set(Policy.objects.filter(organization=org).values_list("code", flat=True))
    for data in policies_mod.DEFAULT_POLICIES:
        if data["code"] not in existing:
            _write_policy(org, policies_mod.spec_from_dict(data))
    return conf


def _write_policy(org: Organization, spec: policies_mod.PolicySpec) -> Policy:
    p = spec.policy
    row, _ = Policy.objects.update_or_create(
        organization=org, code=p.code,
        defaults=dict(name=p.name, max_per_window=p.fatigue.max_per_window, window_days=p.fatigue.window_days,
                      min_gap_hours=p.fatigue.min_gap_hours, restore_days=spec.restore_days),
    )
    row.steps.all().delete()
    conditions = [step.get("conditions", {}) for step in dunning.policy_to_dict(p)["steps"]]
    Step.objects.bulk_create([
        Step(policy=row, code=s.code, order=s.order, offset_days=s.offset_days, anchor=s.anchor, channel=s.channel,
             template=s.template, tone=s.tone, actions=list(s.actions), whatever_sent=s.whatever_sent,
             conditions=conditions[i])
        for i, s in enumerate(p.steps)
    ])
    return row


def _check_templates(org: Organization, spec: policies_mod.PolicySpec) -> None:
    for step in spec.policy.steps:
        if step.channel != "phone_task" and not template_exists(org, step.template):
            raise InvalidDunningPolicy(
                f"Policy {spec.policy.code!r}, step {step.code!r}: no message template named {step.template!r}.",
                step=step.code, template=step.template,
            )


@transaction.atomic
def import_policies(org: Organization, text: str) -> list[Policy]:
    """Create or replace policies from YAML (validated first: a bad file changes nothing)."""
    specs = policies_mod.parse_yaml(text)
    for spec in specs:
        _check_templates(org, spec)
    return [_write_policy(org, spec) for spec in specs]


def export_policies(org: Organization) -> str:
    """The organization's policies (shipped defaults included until it has its own) as YAML."""
    rc = snapshots.RunContext.load(org)
    return policies_mod.dump_yaml(sorted(rc.specs.values(), key=lambda s: s.policy.code))


@transaction.atomic
def save_policy_from_admin(policy: Policy) -> dunning.Policy:
    """Validate a policy edited in admin through the domain (raises InvalidDunningPolicy)."""
    domain = policy.to_domain()
    _check_templates(policy.organization, policies_mod.PolicySpec(domain, policy.restore_days))
    return domain


@transaction.atomic
def assign_policy(org: Organization, customer: Customer, policy_code: str | None) -> CustomerProfile:
    """Set (or clear, with None) the customer's explicit policy."""
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    policy = None
    if policy_code:
        ensure_setup(org)
        policy = Policy.objects.filter(organization=org, code=policy_code).first()
        if policy is None:
            raise NotFound(f"No dunning policy {policy_code!r} in {org.name}.", policy=policy_code)
    profile = _profile(org, customer.pk)
    profile.policy = policy
    profile.save(update_fields=["policy"])
    return profile
