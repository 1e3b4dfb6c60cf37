"""Late-payment prediction validated on public data: the IBM accounts-receivable sample (tests/data/ar-payments).

Run: ``.venv/bin/python bench/risk_eval.py [--check]``

- Split by time: train on invoices issued before 2013-07-01, test on the rest.
- Leak-free: the current invoice's Disputed, DaysToSettle, SettledDate and DaysLate are never features; each
  invoice's features come from the customer's earlier invoices whose outcome was known on its issue date
  (``duly.domain.risk_features``). Label: DaysLate > 0. Target of the payment date: DaysToSettle.
- Model: Duly's (``duly.insights.risk_model.train``: logistic regression or gradient boosting, chosen by a time
  split inside the training window; seed 0).
- References in the same run: "always on time" (probability 0, payment on the due date) and a logistic regression
  on the customer's prior late share alone (payment date: the customer's median days to settle, else the terms).
- Printed per model: ROC AUC with a bootstrap 95 % interval (1,000 resamples, seed 2026), Brier score, MAE of the
  expected payment date in days, and a calibration table by decile of predicted probability (Duly's model); then
  time and peak memory (tracemalloc). ``--check`` exits 1 if Duly's AUC is below 0.87.
The data set is synthetic-looking IBM sample data whose licence is unverified (see its README).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# One OpenMP thread: on a shared 2-core machine more threads spin and slow gradient boosting down many times over.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402

from duly.domain.risk_features import FEATURE_NAMES  # noqa: E402
from duly.insights import risk_model  # noqa: E402
from duly.insights.risk_public import feature_rows, read_invoices  # noqa: E402

DATA = ROOT / "tests" / "data" / "ar-payments" / "ibm_accounts_receivable.csv"
SPLIT = date(2013, 7, 1)
CHECK_AUC = 0.87


def bootstrap_auc(y: np.ndarray, p: np.ndarray, *, resamples: int = 1000, seed: int = 2026) -> tuple[float, float]:
    """Percentile interval of the ROC AUC over ``resamples`` resamples with replacement (the Mann-Whitney form of
    the AUC, ties counted half: the same figure as roc_auc_score, without its per-call checks)."""
    rng = np.random.default_rng(seed)
    values = []
    n = len(y)
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        ys, ps = y[idx], p[idx]
        pos = int(ys.sum())
        if 0 < pos < n:
            ranks = rankdata(ps)
            values.append((ranks[ys == 1].sum() - pos * (pos + 1) / 2) / (pos * (n - pos)))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def calibration(y: np.ndarray, p: np.ndarray) -> list[tuple[int, int, float, float]]:
    order = np.argsort(p, kind="stable")
    rows = []
    for k, chunk in enumerate(np.array_split(order, 10), start=1):
        rows.append((k, len(chunk), float(p[chunk].mean()), float(y[chunk].mean())))
    return rows


def evaluate(rows=None) -> dict:
    rows = rows if rows is not None else read_invoices(DATA)
    X = np.asarray(feature_rows(rows))
    y = np.asarray([r.late for r in rows], dtype=int)
    days = np.asarray([r.days_to_settle for r in rows], dtype=float)
    train_mask = np.asarray([r.invoice.issued < SPLIT for r in rows])
    test_mask = ~train_mask
    issued = [r.invoice.issued for r in rows]
    terms = np.asarray([(r.invoice.due - r.invoice.issued).days for r in rows], dtype=float)

    model = risk_model.train(X[train_mask], y[train_mask], days[train_mask],
                             [d for d, m in zip(issued, train_mask) if m], seed=0)
    preds = risk_model.predict(model, X[test_mask])
    p_duly = np.asarray([p.probability for p in preds])
    d_duly = np.asarray([p.days_to_settle for p in preds])

    share = FEATURE_NAMES.index("late_share")
    median = FEATURE_NAMES.index("median_days_to_settle")
    has = FEATURE_NAMES.index("has_history")
    ref = LogisticRegression().fit(X[train_mask][:, [share]], y[train_mask])
    p_share = ref.predict_proba(X[test_mask][:, [share]])[:, 1]
    d_share = np.where(X[test_mask][:, has] > 0, X[test_mask][:, median], terms[test_mask])

    yt, dt = y[test_mask], days[test_mask]
    results = {}
    for name, p, d in (("duly", p_duly, d_duly), ("always on time", np.zeros(len(yt)), terms[test_mask]),
                       ("prior late share (LR)", p_share, d_share)):
        auc = float(roc_auc_score(yt, p))
        lo, hi = bootstrap_auc(yt, p)
        results[name] = {"auc": auc, "auc_ci": (lo, hi), "brier": float(brier_score_loss(yt, p)),
                         "mae_days": float(np.mean(np.abs(d - dt)))}
    results["_calibration"] = calibration(yt, p_duly)
    results["_model"] = model.metrics
    results["_sizes"] = (int(train_mask.sum()), int(test_mask.sum()), float(yt.mean()))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if Duly's AUC is below {CHECK_AUC}")
    args = parser.parse_args(argv)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = evaluate()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_train, n_test, late = res["_sizes"]
    print(f"IBM AR sample: {n_train} training invoices (issued before {SPLIT}), {n_test} test invoices "
          f"({late:.1%} late)")
    print(f"model chosen: {res['_model']['chosen']} (validation AUC inside the window: "
          f"{res['_model']['validation_auc']})")
    print(f"{'model':<24} {'AUC':>6} {'95% CI':>15} {'Brier':>7} {'MAE days':>9}")
    for name in ("duly", "prior late share (LR)", "always on time"):
        r = res[name]
        print(f"{name:<24} {r['auc']:6.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] {r['brier']:7.3f} "
              f"{r['mae_days']:9.2f}")
    print("calibration of duly (deciles of predicted probability): decile, n, mean predicted, observed late")
    for k, n, pm, obs in res["_calibration"]:
        print(f"  {k:2d} {n:4d} {pm:6.3f} {obs:6.3f}")
    print(f"time {elapsed:.2f} s, peak memory {peak / 1e6:.1f} MB (tracemalloc)")
    if args.check and res["duly"]["auc"] < CHECK_AUC:
        print(f"check failed: AUC {res['duly']['auc']:.3f} < {CHECK_AUC}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
