"""The customer's own date decides, not UTC's: the tone rule counts what is late on their local day."""

from __future__ import annotations

from datetime import date, datetime, timezone

from duly.collections import snapshots
from duly.collections.services import ensure_setup


def test_the_tone_rule_judges_lateness_on_the_customers_local_date(org, make_customer, make_contract, make_invoice):
    ensure_setup(org)
    kiwi = make_customer("KIWI", name="Kiwi Ltd", timezone="Pacific/Auckland", country="NZ")
    make_invoice(kiwi, make_contract(kiwi, terms_kind="net", terms_days=28), issued=date(2026, 2, 1))  # due 1 March
    # 12:00 UTC on 1 March is already 01:00 on 2 March in Auckland: the invoice is one day late there.
    as_of = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    [account] = snapshots.gather(snapshots.RunContext.load(org), [kiwi.pk], as_of)
    assert account.policy.code == "firm"
    assert account.policy_reason.startswith("tone rule: 1 of 1 invoices")
