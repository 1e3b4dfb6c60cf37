"""Late-payment features of one invoice, from the customer's history as it stood on the invoice's issue date.

Pure: stdlib only, no clock. ``invoice_features(invoice, history)`` reads only what was known on
``invoice.issued``:

- an earlier invoice counts as *issued* (its amount, its channel, whether it is still open) only if it was issued
  strictly before this one;
- its *outcome* (settled date, days late, dispute) counts only if it settled strictly before this invoice's issue
  date; until then it is an open invoice, whatever happened to it later.

So appending later invoices, or outcomes that happened on or after the issue date, never changes the features
(tests/domain/test_risk_features.py checks exactly that). The current invoice's own outcome is never read.

Every feature is a float, in the fixed order of ``FEATURE_NAMES`` (models store that list and refuse another).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

#: Version of the feature definitions; a stored model trained on another version is refused.
FEATURES_VERSION = "risk-features-1"

#: Weight kept by each older settled invoice in the exponentially weighted figures (recent ones weigh more).
EWM_DECAY = 0.7


@dataclass(frozen=True)
class PastInvoice:
    """One invoice of the customer, with its outcome if it has one (``settled`` None = still open)."""

    issued: date
    due: date
    amount: Decimal
    settled: date | None = None
    disputed: bool = False
    paperless: bool | None = None


@dataclass(frozen=True)
class NewInvoice:
    """The invoice being scored, as known on its issue date."""

    issued: date
    due: date
    amount: Decimal
    paperless: bool | None = None
    autopay: bool = False


FEATURE_NAMES: tuple[str, ...] = (
    "settled_count",
    "has_history",
    "late_share",
    "ewm_late_share",
    "ewm_days_to_settle",
    "ewm_days_late",
    "mean_days_late",
    "max_days_late",
    "median_days_to_settle",
    "std_days_to_settle",
    "mean_settle_vs_terms",
    "recent_late_share",
    "late_trend",
    "same_channel_late_share",
    "disputed_share",
    "disputed_late_share",
    "last_late",
    "last_days_to_settle",
    "amount_ratio",
    "amount",
    "paperless",
    "month",
    "weekday",
    "open_count",
    "open_amount",
    "oldest_open_age",
    "open_overdue_count",
    "customer_age_days",
    "days_since_last_payment",
    "terms_days",
    "autopay",
)

#: Feature names in words (English now; the keys are stable for translation).
FEATURE_WORDS: dict[str, str] = {
    "settled_count": "number of earlier invoices paid",
    "has_history": "whether the customer has paid an invoice before",
    "late_share": "share of earlier invoices paid late",
    "ewm_late_share": "recent invoices paid late",
    "ewm_days_to_settle": "days recent invoices took to be paid",
    "ewm_days_late": "days recent invoices were late",
    "mean_days_late": "average days late on earlier invoices",
    "max_days_late": "longest delay on an earlier invoice",
    "median_days_to_settle": "usual days to pay",
    "std_days_to_settle": "how irregular the customer's payment times are",
    "mean_settle_vs_terms": "days to pay compared with the terms",
    "recent_late_share": "share of the last five invoices paid late",
    "late_trend": "whether lateness is rising or falling",
    "same_channel_late_share": "late share of earlier invoices sent the same way",
    "disputed_share": "share of earlier invoices disputed",
    "disputed_late_share": "share of earlier invoices disputed and paid late",
    "last_late": "whether the last invoice was paid late",
    "last_days_to_settle": "days the last invoice took to be paid",
    "amount_ratio": "amount compared with the customer's usual invoice",
    "amount": "invoice amount",
    "paperless": "sent electronically rather than on paper",
    "month": "month of issue",
    "weekday": "weekday of issue",
    "open_count": "invoices still open",
    "open_amount": "amount still open",
    "oldest_open_age": "age of the oldest open invoice",
    "open_overdue_count": "open invoices already overdue",
    "customer_age_days": "how long the customer has been invoiced",
    "days_since_last_payment": "days since the last payment",
    "terms_days": "payment terms",
    "autopay": "automatic payment",
}


def _days_to_settle(inv: PastInvoice) -> int:
    return (inv.settled - inv.issued).days  # type: ignore[operator]


def _days_late(inv: PastInvoice) -> int:
    return max(0, (inv.settled - inv.due).days)  # type: ignore[operator]


def _ewm(values: list[float]) -> float:
    """Exponentially weighted mean, the last value weighing most (values in time order)."""
    weight, total, norm = 1.0, 0.0, 0.0
    for value in reversed(values):
        total += weight * value
        norm += weight
        weight *= EWM_DECAY
    return total / norm if norm else 0.0


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def invoice_features(invoice: NewInvoice, history: list[PastInvoice] | tuple[PastInvoice, ...]) -> dict[str, float]:
    """The features of ``invoice`` from ``history`` (the customer's other invoices, in any order, possibly
    including later ones: they are ignored). Returns a dict in ``FEATURE_NAMES`` order."""
    as_of = invoice.issued
    issued_before = [h for h in history if h.issued < as_of]
    # Settled before the issue date, ordered by when the outcome became known.
    settled = sorted((h for h in issued_before if h.settled is not None and h.settled < as_of),
                     key=lambda h: (h.settled, h.issued))
    still_open = [h for h in issued_before if h.settled is None or h.settled >= as_of]

    late = [_days_late(h) > 0 for h in settled]
    days_late = [float(_days_late(h)) for h in settled]
    to_settle = [float(_days_to_settle(h)) for h in settled]
    terms = [float((h.due - h.issued).days) for h in settled]
    same_channel = [_days_late(h) > 0 for h in settled if h.paperless == invoice.paperless]
    recent = late[-5:]

    amounts = [float(h.amount) for h in issued_before]
    amount = float(invoice.amount)
    mean_amount = sum(amounts) / len(amounts) if amounts else 0.0
    late_share = _share(late)
    ewm_late = _ewm([float(x) for x in late])

    features = {
        "settled_count": float(len(settled)),
        "has_history": 1.0 if settled else 0.0,
        "late_share": late_share,
        "ewm_late_share": ewm_late,
        "ewm_days_to_settle": _ewm(to_settle),
        "ewm_days_late": _ewm(days_late),
        "mean_days_late": statistics.fmean(days_late) if days_late else 0.0,
        "max_days_late": max(days_late) if days_late else 0.0,
        "median_days_to_settle": statistics.median(to_settle) if to_settle else 0.0,
        "std_days_to_settle": statistics.pstdev(to_settle) if len(to_settle) > 1 else 0.0,
        "mean_settle_vs_terms": statistics.fmean(d - t for d, t in zip(to_settle, terms)) if to_settle else 0.0,
        "recent_late_share": _share(recent),
        "late_trend": ewm_late - late_share,
        "same_channel_late_share": _share(same_channel),
        "disputed_share": _share([h.disputed for h in settled]),
        "disputed_late_share": _share([h.disputed and _days_late(h) > 0 for h in settled]),
        "last_late": 1.0 if late and late[-1] else 0.0,
        "last_days_to_settle": to_settle[-1] if to_settle else 0.0,
        "amount_ratio": amount / mean_amount if mean_amount else 1.0,
        "amount": amount,
        "paperless": 1.0 if invoice.paperless else 0.0,
        "month": float(as_of.month),
        "weekday": float(as_of.weekday()),
        "open_count": float(len(still_open)),
        "open_amount": sum(float(h.amount) for h in still_open),
        "oldest_open_age": float(max(((as_of - h.issued).days for h in still_open), default=0)),
        "open_overdue_count": float(sum(1 for h in still_open if h.due < as_of)),
        "customer_age_days": float((as_of - min(h.issued for h in issued_before)).days) if issued_before else 0.0,
        "days_since_last_payment": float((as_of - settled[-1].settled).days) if settled else -1.0,
        "terms_days": float((invoice.due - invoice.issued).days),
        "autopay": 1.0 if invoice.autopay else 0.0,
    }
    assert tuple(features) == FEATURE_NAMES
    for name, value in features.items():
        if not math.isfinite(value):  # pragma: no cover - defensive: every branch above is finite
            features[name] = 0.0
    return features


def feature_vector(features: dict[str, float]) -> list[float]:
    return [features[name] for name in FEATURE_NAMES]
