"""Red flags of a new customer on worked examples (duly.domain.risk, issue 17 part 1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.domain.errors import RiskCheckError
from duly.domain.risk import FLAG_CODES, OnboardingSnapshot, OwnHistory, assess

AS_OF = date(2026, 3, 2)


def clean(**changes) -> OnboardingSnapshot:
    base = dict(customer="C1", country="FR", currency="EUR", email="ap@acme.fr", vat_id="FR40303265045",
                vat_valid=True, vat_country="FR", company_id="303265045", company_id_valid=True,
                requested_terms_days=30, usual_terms_days=30, first_invoice_amount=Decimal("1000"),
                typical_invoice_amount=Decimal("1200"), payment_method="sepa_debit")
    base.update(changes)
    return OnboardingSnapshot(**base)


def test_a_clean_customer_has_no_flag_and_a_credit_limit_of_three_typical_invoices():
    a = assess(clean(), as_of=AS_OF)
    assert a.flags == () and a.score == 0 and a.level == "low"
    r = a.recommendation
    assert r.deposit_percent == 0 and r.terms_days is None and not r.require_autopay
    assert r.credit_limit == Decimal("3600.00")
    assert r.words[-1] == "Keep the open balance under 3600.00 EUR."


def test_free_mail_foreign_vat_and_long_terms_worked_example():
    """A Gmail address, a German VAT number with a French address, 60 days asked where 30 are usual, paying
    by transfer: 10 + 20 + 10 + 5 = 45, medium: a 25 % deposit, 14 days, autopay required."""
    a = assess(clean(email="boss@Gmail.com", vat_id="DE136695976", vat_country="DE", requested_terms_days=60,
                     payment_method="bank_transfer"), as_of=AS_OF)
    assert a.codes == ("vat_country_mismatch", "free_mail_domain", "terms_longer_than_usual", "no_autopay")
    assert a.score == 45 and a.level == "medium"
    assert a.flags[0].evidence == {"address_country": "FR", "vat_country": "DE"}
    assert "free-mail provider (gmail.com)" in a.flags[1].words
    assert a.flags[2].words == "60 days' terms requested; this organization usually gives 30."
    r = a.recommendation
    assert (r.deposit_percent, r.terms_days, r.require_autopay, r.credit_limit) == (Decimal(25), 14, True,
                                                                                   Decimal("1200.00"))


def test_invalid_identifiers_a_large_first_invoice_and_a_bad_history_are_high_risk():
    a = assess(clean(vat_valid=False, company_id_valid=False, first_invoice_amount=Decimal("3600"),
                     history=OwnHistory(earlier_accounts=1, unpaid_closed_accounts=1, disputes=2,
                                        settled_invoices=10, late_invoices=3)), as_of=AS_OF)
    assert set(a.codes) == {"vat_invalid", "company_id_invalid", "first_invoice_large", "earlier_account_unpaid",
                            "earlier_disputes", "earlier_late_payments"}
    assert a.score == 100 and a.level == "high"  # 30+20+15+30+15+20 = 130, capped
    assert a.recommendation.deposit_percent == 50 and a.recommendation.terms_days == 7
    assert a.recommendation.credit_limit == Decimal("600.00")
    assert not a.recommendation.require_autopay  # already paying by direct debit
    assert "3 of 10 earlier invoices were paid late." in [f.words for f in a.flags]


def test_a_vat_number_valid_in_form_but_not_registered_in_vies():
    a = assess(clean(vat_registered=False), as_of=AS_OF)
    assert a.codes == ("vat_not_registered",)
    assert assess(clean(vat_registered=True), as_of=AS_OF).codes == ()


def test_history_below_the_late_share_and_a_merely_large_invoice_raise_nothing():
    a = assess(clean(first_invoice_amount=Decimal("3599.99"),
                     history=OwnHistory(settled_invoices=10, late_invoices=2)), as_of=AS_OF)
    assert a.codes == ()


def test_no_identifier_is_a_flag_and_nothing_to_check_at_all_is_an_error():
    a = assess(clean(vat_id="", vat_valid=None, company_id="", company_id_valid=None), as_of=AS_OF)
    assert a.codes == ("identifiers_missing",)
    with pytest.raises(RiskCheckError) as err:
        assess(clean(vat_id="", company_id="", email=""), as_of=AS_OF)
    assert err.value.code == "risk_no_identifiers"


def test_every_flag_code_is_stable_and_the_assessment_serialises():
    assert set(FLAG_CODES) == {
        "identifiers_missing", "vat_invalid", "vat_not_registered", "company_id_invalid", "free_mail_domain",
        "vat_country_mismatch", "terms_longer_than_usual", "first_invoice_large", "no_autopay",
        "earlier_account_unpaid", "earlier_disputes", "earlier_late_payments", "bureau_low_score"}
    d = assess(clean(email="x@yahoo.fr"), as_of=AS_OF).as_dict()
    assert d["flags"][0]["code"] == "free_mail_domain" and d["as_of"] == "2026-03-02"
    assert d["recommendation"]["credit_limit"] == "3600.00"


def test_a_credit_bureau_score_below_40_is_a_flag_and_none_means_not_asked():
    low = assess(clean(bureau_score=25), as_of=AS_OF)
    assert low.codes == ("bureau_low_score",) and (low.score, low.level) == (25, "medium")
    assert low.flags[0].words == "The credit bureau scores this company 25 out of 100 (below 40)."
    assert low.recommendation.deposit_percent == Decimal(25) and low.recommendation.terms_days == 14
    assert assess(clean(bureau_score=40), as_of=AS_OF).codes == ()  # 40 is not below 40
    assert assess(clean(bureau_score=None), as_of=AS_OF).codes == ()  # no bureau asked: no signal, no guess
    for bad in (101, -1, True, "30"):
        with pytest.raises(RiskCheckError) as err:
            assess(clean(bureau_score=bad), as_of=AS_OF)
        assert err.value.code == "risk_bad_input"
