"""The tone rule reads the late-payment prediction (issue 17 part 4): an organization that turns it on has a
customer whose open invoice is predicted likely to be paid late chased firmly, whatever its clean history."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from duly.collections import snapshots
from duly.collections.models import CollectionsSettings
from duly.collections.services import ensure_setup
from duly.collections.services.risk_scores import PublishedScore, publish_late_payment_scores


def test_a_predicted_late_invoice_makes_the_tone_firm_once_the_organization_turns_it_on(
        org, other_org, make_customer, make_contract, make_invoice, pay):
    ensure_setup(org)
    good = make_customer("GOOD")
    contract = make_contract(good, terms_kind="net", terms_days=30)
    for month in (1, 2):  # two invoices paid on time: the history says gentle
        make_invoice(good, contract, issued=date(2026, month, 1))
        pay(good, "1000.00", date(2026, month, 15))
    open_invoice = make_invoice(good, contract, issued=date(2026, 3, 1))
    as_of = datetime(2026, 3, 10, 10, 0, tzinfo=timezone.utc)

    def chosen():
        [account] = snapshots.gather(snapshots.RunContext.load(org), [good.pk], as_of)
        return account.policy.code, account.policy_reason

    assert chosen()[0] == "gentle"
    publish_late_payment_scores(org, [PublishedScore(open_invoice.pk, Decimal("0.8100"), 12)],
                                scored_on=date(2026, 3, 2))
    assert chosen()[0] == "gentle"  # off by default: the prediction alone does not change the tone
    CollectionsSettings.objects.update_or_create(organization=org, defaults={"firm_from_probability": Decimal("0.7")})
    code, reason = chosen()
    assert code == "firm" and "predicted 81% likely to be paid late (firm from 70%) -> firm" in reason
    publish_late_payment_scores(org, [PublishedScore(open_invoice.pk, Decimal("0.5000"), 0)],
                                scored_on=date(2026, 3, 3))
    assert chosen()[0] == "gentle"  # rescored lower: back to what the history says
    # Another organization's prediction for this invoice is ignored (one organization's scores never leak).
    assert publish_late_payment_scores(other_org, [PublishedScore(open_invoice.pk, Decimal("0.99"), 30)],
                                       scored_on=date(2026, 3, 4)) == 0
    assert chosen()[0] == "gentle"
