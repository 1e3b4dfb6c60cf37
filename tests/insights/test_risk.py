"""Late-payment prediction in Duly: per-organization models, the global prior, refusals, isolation, CLI."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from duly.domain.errors import RiskModelError
from duly.insights import risk_model, risk_services
from duly.insights.models import InvoiceRisk, RiskModel
from duly.insights.risk_public import feature_rows, read_invoices
from duly.invoicing import services as inv
from duly.payments.services import record_payment

DATA = Path(__file__).resolve().parents[1] / "data" / "ar-payments" / "ibm_accounts_receivable.csv"


@pytest.fixture(scope="module")
def public():
    rows = read_invoices(DATA)[:900]
    return (np.asarray(feature_rows(rows)), [r.late for r in rows], [r.days_to_settle for r in rows],
            [r.invoice.issued for r in rows])


def test_two_trainings_give_identical_bytes(public):
    a = risk_model.dump(risk_model.train(*public, seed=0), organization=1)
    b = risk_model.dump(risk_model.train(*public, seed=0), organization=1)
    assert a == b
    model = risk_model.load(a, organization=1, expected_sha256=risk_model.sha256(a))
    preds = risk_model.predict(model, public[0][:5])
    assert all(0 <= p.probability <= 1 and p.days_to_settle >= 0 and p.reasons for p in preds)
    assert all(r["words"] and r["text"] for p in preds for r in p.reasons)


def test_corrupt_and_foreign_bytes_are_refused(public):
    blob = risk_model.dump(risk_model.train(*public, seed=0), organization=1)
    with pytest.raises(RiskModelError) as exc:
        risk_model.load(blob[:-10] + b"0123456789", organization=1, expected_sha256=risk_model.sha256(blob))
    assert exc.value.code == "risk_model_corrupt"
    with pytest.raises(RiskModelError) as exc:
        risk_model.load(b"garbage", organization=1)
    assert exc.value.code == "risk_model_corrupt"
    with pytest.raises(RiskModelError) as exc:
        risk_model.load(blob, organization=2)
    assert exc.value.code == "risk_model_foreign" and "another organization" in exc.value.message
    import pickle

    payload = pickle.loads(blob)
    payload["sklearn"] = "0.1"
    with pytest.raises(RiskModelError, match="scikit-learn 0.1"):
        risk_model.load(pickle.dumps(payload), organization=1)
    payload["sklearn"], payload["feature_names"] = risk_model.sklearn.__version__, ["amount"]
    with pytest.raises(RiskModelError, match="other features"):
        risk_model.load(pickle.dumps(payload), organization=1)


# --- in the database -------------------------------------------------------------------------------------

START = date(2025, 1, 6)
AS_OF = date(2026, 1, 15)


def _history(org, make_customer, make_contract, *, customers=4, per_customer=6, prefix="R"):
    """Per customer, monthly invoices: odd customers pay 20 days late, even ones on time; the last one stays open."""
    custs = []
    for c in range(customers):
        cust = make_customer(f"{prefix}{c}", organization=org)
        custs.append((cust, make_contract(cust, start_date=date(2025, 1, 1), terms_kind="net", terms_days=30), []))
    for k in range(per_customer):  # numbers never go back in time: issue in date order
        for c, (cust, contract, issued_list) in enumerate(custs):
            draft = inv.create_draft(org, cust, [inv.LineData("Service", Decimal(1), Decimal(100 + 10 * c))],
                                     contract=contract)
            issued_list.append(inv.issue_invoice(org, draft.pk, issue_date=START + timedelta(days=30 * k + c)))
    for c, (cust, _, issued_list) in enumerate(custs):
        for invoice in issued_list[:-1]:  # oldest first: each payment settles the oldest open invoice
            paid = invoice.due_date + timedelta(days=20 if c % 2 else -5)
            record_payment(org, cust, amount=str(Decimal(invoice.total_minor) / 100), currency=invoice.currency,
                           method="bank_transfer", received_on=paid)


@pytest.fixture
def small_minimum(monkeypatch):
    monkeypatch.setattr(risk_services, "MIN_SETTLED_INVOICES", 12)
    monkeypatch.setattr(risk_services, "MIN_CUSTOMERS", 3)


def test_too_little_history_uses_the_global_prior_and_says_so(org, make_customer, make_contract):
    _history(org, make_customer, make_contract, customers=2, per_customer=3)
    result = risk_services.train_risk_model(org, as_of=AS_OF)
    assert result.status == "prior" and "global prior" in result.message and "200" in result.message
    assert not RiskModel.objects.exists()
    scored = risk_services.score_open_invoices(org, as_of=AS_OF)
    assert scored.source == "prior" and scored.scored == 2
    assert set(InvoiceRisk.objects.values_list("source", flat=True)) == {"prior"}


def test_train_is_idempotent_and_scores_are_stored(org, make_customer, make_contract, small_minimum):
    _history(org, make_customer, make_contract)
    first = risk_services.train_risk_model(org, as_of=AS_OF)
    second = risk_services.train_risk_model(org, as_of=AS_OF)
    assert (first.status, second.status) == ("trained", "unchanged")
    assert RiskModel.objects.count() == 1 and first.model.sha256 == second.model.sha256
    assert first.model.metrics["train_rows"] == 20
    scored = risk_services.score_open_invoices(org, as_of=AS_OF)
    again = risk_services.score_open_invoices(org, as_of=AS_OF)
    assert scored.source == again.source == "model" and scored.scored == again.scored == 4
    risks = {r.invoice.customer.code: r for r in InvoiceRisk.objects.select_related("invoice__customer")}
    assert len(risks) == 4 and InvoiceRisk.objects.count() == 4
    assert risks["R1"].probability > risks["R0"].probability  # the late payer is riskier
    assert risks["R1"].expected_payment_date > risks["R0"].expected_payment_date
    assert risks["R1"].reasons and risks["R1"].reasons[0]["text"]


def test_a_corrupt_or_foreign_model_is_refused_and_the_previous_stays(org, other_org, make_customer, make_contract,
                                                                        small_minimum):
    _history(org, make_customer, make_contract)
    good = risk_services.train_risk_model(org, as_of=AS_OF).model
    _history(other_org, make_customer, make_contract, prefix="N")
    foreign = risk_services.train_risk_model(other_org, as_of=AS_OF).model
    RiskModel.objects.filter(organization=org).update(in_use=False)
    bad = RiskModel.objects.create(
        organization=org, format_version=good.format_version, features_version=good.features_version,
        sklearn_version=good.sklearn_version, feature_names=good.feature_names, kind=good.kind,
        window_start=good.window_start, window_end=good.window_end, blob=bytes(good.blob)[:-5] + b"xxxxx",
        sha256=good.sha256[:-1] + "0", in_use=True)
    result = risk_services.score_open_invoices(org, as_of=AS_OF)
    assert result.source == "model" and any("corrupt" in e for e in result.errors)
    assert set(InvoiceRisk.objects.filter(organization=org).values_list("model", flat=True)) == {good.pk}
    # Another organization's bytes under this organization's row: refused as foreign.
    RiskModel.objects.filter(pk=bad.pk).update(blob=bytes(foreign.blob), sha256=foreign.sha256 + "")
    result = risk_services.score_open_invoices(org, as_of=AS_OF)
    assert any("another organization" in e for e in result.errors)
    assert set(InvoiceRisk.objects.filter(organization=org).values_list("model", flat=True)) == {good.pk}


def test_scores_never_leak_between_organizations(org, other_org, make_customer, make_contract, small_minimum):
    _history(org, make_customer, make_contract)
    _history(other_org, make_customer, make_contract, customers=2, per_customer=3, prefix="N")
    assert risk_services.train_risk_model(org, as_of=AS_OF).status == "trained"
    assert risk_services.train_risk_model(other_org, as_of=AS_OF).status == "prior"  # org's history not counted
    assert risk_services.score_open_invoices(other_org, as_of=AS_OF).source == "prior"
    risk_services.score_open_invoices(org, as_of=AS_OF)
    for risk in InvoiceRisk.objects.select_related("invoice", "model"):
        assert risk.organization_id == risk.invoice.organization_id
        assert risk.model is None or risk.model.organization_id == risk.organization_id
    assert InvoiceRisk.objects.filter(organization=other_org, model__isnull=False).count() == 0


def test_cli_train_and_score(org, make_customer, make_contract):
    from duly.cli import main

    _history(org, make_customer, make_contract, customers=2, per_customer=3)
    runner = CliRunner()
    out = runner.invoke(main, ["risk", "train", "--org", org.slug, "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    assert "global prior" in out.output
    out = runner.invoke(main, ["risk", "score", "--org", org.slug, "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0 and "Scored 2 open invoices (prior)" in out.output
    out = runner.invoke(main, ["risk", "score", "--org", "nope"])
    assert out.exit_code == 2 and "error:" in out.output


def test_bench_splits_by_time_and_passes_its_check():
    """bench/risk_eval.py: training rows all issued before 2013-07-01, test rows on or after; AUC >= 0.87."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "bench" / "risk_eval.py"), "--check"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1930 training invoices (issued before 2013-07-01), 536 test invoices" in out.stdout
    assert "prior late share (LR)" in out.stdout and "always on time" in out.stdout


def test_staff_see_scores_and_reasons_sorted_by_expected_loss(bookkeeper, org, make_customer, make_contract,
                                                             small_minimum):
    from django.urls import reverse

    _history(org, make_customer, make_contract)
    risk_services.train_risk_model(org, as_of=AS_OF)
    risk_services.score_open_invoices(org, as_of=AS_OF)
    page = bookkeeper.get(reverse("admin:insights_invoicerisk_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    risks = sorted(InvoiceRisk.objects.select_related("invoice"), key=lambda r: -risk_services.expected_loss(
        r, Decimal(r.invoice.total_minor - r.invoice.paid_minor) / 100))
    positions = [html.index(r.invoice.number) for r in risks]
    assert positions == sorted(positions)  # the largest expected loss first
    assert risks[0].reasons[0]["text"].split(":")[0] in html
