"""Late-payment prediction in Duly: train a model per organization, score its open invoices (the writers).

- ``train_risk_model(org, as_of)``: once the organization has at least ``MIN_SETTLED_INVOICES`` settled invoices
  over at least ``MIN_CUSTOMERS`` customers, trains on them (features as of each invoice's issue date) and stores
  the model (``RiskModel``). Idempotent: the same data gives the same bytes, hence the same sha256 and no new row.
  With less history nothing is stored and the result says the global prior is used.
- ``score_open_invoices(org, as_of)``: scores every open invoice with the model in use, or the global prior, and
  stores probability, expected payment date and reasons (``InvoiceRisk``, one row per invoice, updated in place).
  A stored model that is corrupt or foreign is refused with its error, and the previous good model stays in use.

Every query is scoped to one organization: one organization's history never feeds another's model or scores.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction

from duly.collections.models import Dispute
from duly.collections.services import PublishedScore, publish_late_payment_scores
from duly.customers.models import Organization
from duly.domain.errors import RiskModelError
from duly.domain.money import from_minor
from duly.domain.risk_features import FEATURE_NAMES, FEATURES_VERSION, NewInvoice, PastInvoice, feature_vector, \
    invoice_features
from duly.insights import risk_model
from duly.insights.models import InvoiceRisk, RiskModel
from duly.invoicing.models import Invoice

#: Minimum history before an organization gets its own model (else the global prior scores its invoices).
MIN_SETTLED_INVOICES = 200
MIN_CUSTOMERS = 30
AUTOPAY_METHODS = ("card", "sepa_debit", "ach_debit")
_KINDS = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT)
_ISSUED = (Invoice.ISSUED, Invoice.PARTIALLY_PAID, Invoice.PAID)


@dataclass
class TrainResult:
    status: str  # "trained", "unchanged" or "prior"
    message: str
    model: RiskModel | None = None


@dataclass
class ScoreResult:
    source: str
    scored: int = 0
    errors: list[str] = field(default_factory=list)


def _history(org: Organization) -> dict[int, list[tuple[Invoice, PastInvoice]]]:
    """Every issued invoice of ``org`` per customer, with its outcome (paid_on) and whether it was disputed."""
    disputed = set(Dispute.objects.filter(organization=org).values_list("invoice_id", flat=True))
    out: dict[int, list[tuple[Invoice, PastInvoice]]] = defaultdict(list)
    qs = (Invoice.objects.filter(organization=org, kind__in=_KINDS, status__in=_ISSUED,
                                 issue_date__isnull=False, due_date__isnull=False)
          .select_related("customer").order_by("issue_date", "id"))
    for inv in qs:
        settled = inv.paid_on if inv.status == Invoice.PAID else None
        out[inv.customer_id].append((inv, PastInvoice(
            issued=inv.issue_date, due=inv.due_date, amount=from_minor(inv.total_minor, inv.currency),
            settled=settled, disputed=inv.pk in disputed)))
    return out


def _new(inv: Invoice) -> NewInvoice:
    return NewInvoice(issued=inv.issue_date, due=inv.due_date, amount=from_minor(inv.total_minor, inv.currency),
                      autopay=inv.customer.preferred_payment_method in AUTOPAY_METHODS)


def _features(inv: Invoice, history: list[tuple[Invoice, PastInvoice]]) -> list[float]:
    return feature_vector(invoice_features(_new(inv), [p for other, p in history if other.pk != inv.pk]))


def train_risk_model(org: Organization, *, as_of: date, seed: int = 0) -> TrainResult:
    history = _history(org)
    rows = [(inv, p) for items in history.values() for inv, p in items if p.settled is not None and p.settled < as_of]
    customers = {inv.customer_id for inv, _ in rows}
    if len(rows) < MIN_SETTLED_INVOICES or len(customers) < MIN_CUSTOMERS:
        return TrainResult("prior", f"Not enough settled history to train ({len(rows)} settled invoices over "
                           f"{len(customers)} customers; {MIN_SETTLED_INVOICES} over {MIN_CUSTOMERS} needed): "
                           "the global prior scores this organization's invoices.")
    # Only what was known on as_of: outcomes after it are not read (the rows are settled before as_of).
    X = [feature_vector(invoice_features(_new(inv), [q for o, q in history[inv.customer_id]
                                                     if o.pk != inv.pk and q.issued < as_of]))
         for inv, _ in rows]
    late = [int(p.settled > p.due) for _, p in rows]
    days = [(p.settled - p.issued).days for _, p in rows]
    issued = [p.issued for _, p in rows]
    model = risk_model.train(X, late, days, issued, seed=seed)
    blob = risk_model.dump(model, organization=org.pk)
    digest = risk_model.sha256(blob)
    with transaction.atomic():
        row, created = RiskModel.objects.get_or_create(organization=org, sha256=digest, defaults=dict(
            format_version=risk_model.FORMAT, features_version=FEATURES_VERSION,
            sklearn_version=risk_model.sklearn.__version__, feature_names=list(FEATURE_NAMES), kind=model.kind,
            window_start=min(issued), window_end=max(issued), metrics=model.metrics, blob=blob))
        RiskModel.objects.filter(organization=org).exclude(pk=row.pk).update(in_use=False)
        if not row.in_use:
            RiskModel.objects.filter(pk=row.pk).update(in_use=True)
            row.in_use = True
    status = "trained" if created else "unchanged"
    return TrainResult(status, f"{'Trained' if created else 'Unchanged'}: {model.kind} on {len(rows)} settled "
                       f"invoices ({row.window_start}..{row.window_end}), sha256 {digest[:12]}.", row)


def model_in_use(org: Organization) -> tuple[RiskModel | None, risk_model.Model | None, list[str]]:
    """The model that scores ``org``: the one marked in use, else (if it is refused) the newest one that loads.
    Returns (row, model, errors of the refused ones)."""
    errors = []
    for row in RiskModel.objects.filter(organization=org).order_by("-in_use", "-id"):
        try:
            return row, risk_model.load(bytes(row.blob), organization=org.pk, expected_sha256=row.sha256), errors
        except RiskModelError as exc:
            errors.append(f"model {row.pk}: {exc.message} [{exc.code}]")
    return None, None, errors


def score_open_invoices(org: Organization, *, as_of: date) -> ScoreResult:
    row, model, errors = model_in_use(org)
    history = _history(org)
    open_invoices = [inv for items in history.values() for inv, p in items
                     if inv.status in Invoice.OPEN_STATUSES]
    result = ScoreResult(source=InvoiceRisk.SOURCE_MODEL if model else InvoiceRisk.SOURCE_PRIOR, errors=errors)
    if not open_invoices:
        return result
    X = [_features(inv, history[inv.customer_id]) for inv in open_invoices]
    preds = risk_model.predict(model, X) if model else risk_model.prior_predict(X)
    published: list[PublishedScore] = []
    with transaction.atomic():
        for inv, pred in zip(open_invoices, preds):
            expected = inv.issue_date + timedelta(days=round(pred.days_to_settle))
            values = dict(
                organization=org, model=row, source=result.source,
                probability=Decimal(str(pred.probability)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN),
                expected_payment_date=expected, expected_days_late=max(0, (expected - inv.due_date).days),
                reasons=pred.reasons, scored_on=as_of)
            # The first prediction is kept as it was: a rescoring updates the rest, never it.
            risk, _ = InvoiceRisk.objects.update_or_create(invoice=inv, defaults=values, create_defaults=dict(
                values, first_expected_payment_date=expected, first_scored_on=as_of))
            result.scored += 1
            published.append(PublishedScore(invoice_id=inv.pk, probability=risk.probability,
                                             expected_days_late=risk.expected_days_late))
        # Handed down to collections (below insights) for its step conditions and worklist.
        publish_late_payment_scores(org, published, scored_on=as_of)
    return result


def expected_loss(risk: InvoiceRisk, open_amount: Decimal) -> Decimal:
    """Amount x probability x expected days late (the worklist's sort key; a money-days figure, not money)."""
    return open_amount * risk.probability * max(1, risk.expected_days_late)


def predicted_dates(org: Organization) -> dict[int, date]:
    """Invoice id -> expected payment date, for the open invoices of ``org`` with a late-payment score (the cash-in
    forecast uses these instead of the due dates)."""
    return dict(InvoiceRisk.objects.filter(organization=org, invoice__status__in=Invoice.OPEN_STATUSES)
                .values_list("invoice_id", "expected_payment_date"))


def predictions_known_on(org: Organization, day: date) -> dict[int, date]:
    """Invoice id -> its first expected payment date, for the invoices of ``org`` first scored by ``day``: the
    predictions as they were then (whatever the invoices became since), for judging a past forecast."""
    return dict(InvoiceRisk.objects.filter(organization=org, first_scored_on__lte=day,
                                           first_expected_payment_date__isnull=False)
                .values_list("invoice_id", "first_expected_payment_date"))


def prediction_words(invoice: Invoice) -> str | None:
    """The invoice's late-payment prediction in words for its admin page (None: not scored)."""
    risk = InvoiceRisk.objects.filter(invoice_id=invoice.pk, organization_id=invoice.organization_id).first()
    if risk is None:
        return None
    late = f" ({risk.expected_days_late} days late)" if risk.expected_days_late else ""
    source = "the organization's model" if risk.source == InvoiceRisk.SOURCE_MODEL else "the global prior"
    reasons = "; ".join(r.get("text", "") for r in risk.reasons[:3])
    return (f"{risk.probability * 100:.0f} % likely to be paid late; expected payment on "
            f"{risk.expected_payment_date.isoformat()}{late}, by {source} on {risk.scored_on.isoformat()}. "
            f"Top reasons: {reasons or 'none'}.")
