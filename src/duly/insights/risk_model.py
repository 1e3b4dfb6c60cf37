"""Late-payment models: training (scikit-learn), prediction with reasons, and a stored form that refuses foreign data.

- ``train(X, late, days, issued, seed=0)`` fits two candidates, a logistic regression (standardised) and a
  histogram gradient boosting classifier, on the earlier 75 % of the training window (by issue date), keeps the one
  with the better ROC AUC on the later 25 % (a time split inside the window), and refits it on the whole window.
  The expected days to settle come from a gradient-boosting regression of the median (absolute error).
  Everything is seeded: the same data gives the same model, byte for byte (``dump``).
- ``predict(model, X)`` gives, per row, the probability of paying late, the expected days to settle and the top
  reasons: for the logistic regression the largest contributions (coefficient x standardised value), for gradient
  boosting the change in probability when the feature is set to its training median.
- ``prior_predict(X)`` is the global prior used before an organization has enough history: the customer's own
  late share shrunk towards a fixed prior, and its median days to settle (else the terms).
- ``dump`` / ``load``: the stored bytes carry a format version, the feature list and version, and the
  scikit-learn version; ``load`` refuses anything else with :class:`~duly.domain.errors.RiskModelError`.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass, field

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from duly.domain.errors import RiskModelError
from duly.domain.risk_features import FEATURE_NAMES, FEATURE_WORDS, FEATURES_VERSION

FORMAT = "duly-risk-model-1"
#: Share of the training window (the latest invoices) used to choose between the candidates.
VALIDATION_SHARE = 0.25
#: Prior for a customer with no history: late share and its weight in invoices.
PRIOR_LATE_SHARE = 0.3
PRIOR_WEIGHT = 3.0


def _candidates(seed: int) -> dict:
    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=5000)),
        "boosting": HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_leaf_nodes=15,
                                                   min_samples_leaf=20, l2_regularization=1.0,
                                                   early_stopping=False, random_state=seed),
    }


def _regressor(seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(loss="absolute_error", learning_rate=0.05, max_iter=200,
                                         max_leaf_nodes=15, min_samples_leaf=20, early_stopping=False,
                                         random_state=seed)


@dataclass
class Model:
    kind: str
    classifier: object
    regressor: object
    medians: list[float]
    metrics: dict = field(default_factory=dict)
    feature_names: tuple[str, ...] = FEATURE_NAMES


@dataclass(frozen=True)
class Prediction:
    probability: float
    days_to_settle: float
    reasons: list[dict]  # [{"feature", "words", "value", "effect"}], largest first, effect > 0 raises the risk


def _auc(y, p) -> float:
    return float(roc_auc_score(y, p)) if len(set(y)) == 2 else float("nan")


def train(X, late, days, issued, *, seed: int = 0) -> Model:
    """Fit and choose (see the module doc). ``issued`` orders the rows in time (dates or ordinals).
    One OpenMP thread: the data sets are small, and on a busy machine spinning threads cost many times more."""
    with threadpool_limits(limits=1):
        return _train(X, late, days, issued, seed=seed)


def _train(X, late, days, issued, *, seed: int) -> Model:
    X = np.asarray(X, dtype=float)
    y = np.asarray(late, dtype=int)
    d = np.asarray(days, dtype=float)
    order = np.argsort(np.asarray([getattr(x, "toordinal", lambda x=x: x)() for x in issued]), kind="stable")
    X, y, d = X[order], y[order], d[order]
    if len(set(y.tolist())) < 2:
        raise RiskModelError("The training window needs both late and on-time invoices.", code="risk_history_short")
    cut = int(len(y) * (1 - VALIDATION_SHARE))
    scores = {}
    if 0 < cut < len(y) and len(set(y[:cut].tolist())) == 2:
        for name, est in _candidates(seed).items():
            est.fit(X[:cut], y[:cut])
            scores[name] = _auc(y[cut:], est.predict_proba(X[cut:])[:, 1])
    kind = max(scores, key=lambda k: (scores[k] if scores[k] == scores[k] else -1.0, k == "logistic")) \
        if scores else "logistic"
    classifier = _candidates(seed)[kind].fit(X, y)
    regressor = _regressor(seed).fit(X, d)
    metrics = {"validation_auc": {k: round(v, 4) for k, v in scores.items()}, "chosen": kind,
               "train_rows": int(len(y)), "train_late_share": round(float(y.mean()), 4)}
    return Model(kind=kind, classifier=classifier, regressor=regressor,
                 medians=[float(v) for v in np.median(X, axis=0)], metrics=metrics)


def _reason(name: str, value: float, effect: float) -> dict:
    return {"feature": name, "words": FEATURE_WORDS[name], "value": round(float(value), 4),
            "effect": round(float(effect), 4),
            "text": f"{FEATURE_WORDS[name]}: {value:g} ({'raises' if effect > 0 else 'lowers'} the risk)"}


def _contributions(model: Model, X: np.ndarray, proba: np.ndarray) -> np.ndarray:
    if model.kind == "logistic":
        scaler, lr = model.classifier[0], model.classifier[-1]
        return scaler.transform(X) * lr.coef_[0]
    # Gradient boosting: how much the probability drops when one feature is set to its training median.
    n, k = X.shape
    out = np.zeros((n, k))
    for j in range(k):
        Xj = X.copy()
        Xj[:, j] = model.medians[j]
        out[:, j] = proba - model.classifier.predict_proba(Xj)[:, 1]
    return out


def predict(model: Model, X, *, top: int = 3) -> list[Prediction]:
    with threadpool_limits(limits=1):
        return _predict(model, X, top=top)


def _predict(model: Model, X, *, top: int) -> list[Prediction]:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(model.feature_names):
        raise RiskModelError("The rows do not have the model's features.", code="risk_model_foreign")
    proba = model.classifier.predict_proba(X)[:, 1]
    days = model.regressor.predict(X)
    contrib = _contributions(model, X, proba)
    out = []
    for i in range(len(X)):
        ranked = sorted(range(X.shape[1]), key=lambda j: (-abs(contrib[i, j]), j))[:top]
        reasons = [_reason(model.feature_names[j], X[i, j], contrib[i, j]) for j in ranked if contrib[i, j] != 0]
        out.append(Prediction(probability=float(proba[i]), days_to_settle=max(0.0, float(days[i])),
                              reasons=reasons))
    return out


def prior_predict(X) -> list[Prediction]:
    """The global prior: no training, the customer's own record shrunk towards ``PRIOR_LATE_SHARE``."""
    idx = {name: j for j, name in enumerate(FEATURE_NAMES)}
    out = []
    for row in np.asarray(X, dtype=float):
        n, share = row[idx["settled_count"]], row[idx["late_share"]]
        p = (share * n + PRIOR_LATE_SHARE * PRIOR_WEIGHT) / (n + PRIOR_WEIGHT)
        days = row[idx["median_days_to_settle"]] if n else row[idx["terms_days"]]
        name = "late_share" if n else "has_history"
        reason = _reason(name, row[idx[name]], p - PRIOR_LATE_SHARE if n else 0.0)
        if not n:
            reason["text"] = "no paid invoice yet: the general prior applies"
        out.append(Prediction(probability=float(p), days_to_settle=float(days), reasons=[reason]))
    return out


def dump(model: Model, *, organization: int | None = None) -> bytes:
    """The model's stored bytes; ``organization`` (its id) is kept so another organization's model is refused."""
    payload = {"format": FORMAT, "organization": organization, "features_version": FEATURES_VERSION,
               "feature_names": list(model.feature_names),
               "sklearn": sklearn.__version__, "kind": model.kind, "classifier": model.classifier,
               "regressor": model.regressor, "medians": model.medians, "metrics": model.metrics}
    return pickle.dumps(payload, protocol=4)


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


class _Restricted(pickle.Unpickler):
    """Unpickles only numpy, scikit-learn and builtins: stored bytes are data, not code."""

    ALLOWED = ("numpy", "sklearn", "scipy", "builtins", "collections", "copyreg", "_codecs")

    def find_class(self, module, name):
        if module.split(".")[0] in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


def load(blob: bytes, *, organization: int | None = None, expected_sha256: str | None = None) -> Model:
    """The model stored in ``blob``; :class:`RiskModelError` if it is corrupt or was made for other features or
    another scikit-learn version."""
    if expected_sha256 is not None and sha256(blob) != expected_sha256:
        raise RiskModelError("The stored risk model is corrupt (its checksum does not match).",
                             code="risk_model_corrupt")
    try:
        payload = _Restricted(io.BytesIO(blob)).load()
    except Exception:
        raise RiskModelError("The stored risk model is corrupt (it cannot be read).", code="risk_model_corrupt")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RiskModelError("The stored risk model is not a Duly risk model.", code="risk_model_corrupt")
    if payload.get("organization") != organization:
        raise RiskModelError("The stored risk model belongs to another organization.", code="risk_model_foreign")
    if payload.get("features_version") != FEATURES_VERSION or tuple(payload.get("feature_names", ())) != FEATURE_NAMES:
        raise RiskModelError("The stored risk model was trained on other features; retrain it.",
                             code="risk_model_foreign")
    if payload.get("sklearn") != sklearn.__version__:
        raise RiskModelError(f"The stored risk model was made with scikit-learn {payload.get('sklearn')}, "
                             f"not {sklearn.__version__}; retrain it.", code="risk_model_foreign")
    return Model(kind=payload["kind"], classifier=payload["classifier"], regressor=payload["regressor"],
                 medians=payload["medians"], metrics=payload["metrics"], feature_names=FEATURE_NAMES)
