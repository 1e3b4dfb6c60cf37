"""Late-payment features use only what was known on the invoice's issue date (issue 17, part 2)."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from duly.domain.risk_features import FEATURE_NAMES, NewInvoice, PastInvoice, invoice_features
from duly.insights.risk_public import LEAKY_COLUMNS, feature_rows, read_invoices

DATA = Path(__file__).resolve().parents[1] / "data" / "ar-payments" / "ibm_accounts_receivable.csv"


def _inv(issued, settled=None, amount="100", disputed=False):
    return PastInvoice(issued=issued, due=issued + timedelta(days=30), amount=Decimal(amount), settled=settled,
                       disputed=disputed, paperless=True)


def test_only_outcomes_known_on_the_issue_date_count():
    new = NewInvoice(issued=date(2024, 6, 1), due=date(2024, 7, 1), amount=Decimal("150"), paperless=True)
    history = [
        _inv(date(2024, 1, 1), settled=date(2024, 2, 20)),                    # late, known
        _inv(date(2024, 3, 1), settled=date(2024, 3, 20)),                    # on time, known
        _inv(date(2024, 4, 1), settled=date(2024, 6, 1), disputed=True),      # settled ON the issue date: not known
        _inv(date(2024, 5, 1)),                                              # open
    ]
    f = invoice_features(new, history)
    assert tuple(f) == FEATURE_NAMES
    assert f["settled_count"] == 2 and f["late_share"] == 0.5 and f["last_late"] == 0.0
    assert f["disputed_share"] == 0.0  # the dispute is known only once that invoice settled
    assert f["open_count"] == 2 and f["open_amount"] == 200.0 and f["open_overdue_count"] == 2
    assert f["oldest_open_age"] == (date(2024, 6, 1) - date(2024, 4, 1)).days
    assert f["days_since_last_payment"] == (date(2024, 6, 1) - date(2024, 3, 20)).days
    assert f["amount_ratio"] == 1.5 and f["terms_days"] == 30


def test_no_feature_uses_information_after_the_issue_date():
    """Compute the features, then add future invoices and change every outcome known only later: identical."""
    rows = read_invoices(DATA)
    by_customer = {}
    for r in rows:
        by_customer.setdefault(r.customer, []).append(r.past)
    checked = 0
    for r in rows[::7]:
        as_of = r.invoice.issued
        # What a clerk saw that day: earlier invoices, with outcomes only if they had settled by then.
        known = [p if p.settled < as_of else replace(p, settled=None, disputed=False)
                 for p in by_customer[r.customer] if p.issued < as_of]
        before = invoice_features(r.invoice, known)
        full = [p for p in by_customer[r.customer] if p is not r.past]  # the truth, future included
        other_future = [replace(p, settled=p.settled + timedelta(days=97), disputed=not p.disputed)
                        if p.settled >= as_of else p for p in full]
        extra = [_inv(as_of + timedelta(days=k), settled=as_of + timedelta(days=k + 90), amount="9999")
                 for k in range(0, 40, 5)]
        assert invoice_features(r.invoice, full) == before, r.number
        assert invoice_features(r.invoice, other_future + extra) == before, r.number
        checked += 1
    assert checked > 300


def test_the_public_rows_never_read_the_current_invoices_outcome(tmp_path):
    """Flip every invoice's Disputed: the invoice scored carries no outcome, and only the two dispute figures
    of the history move (earlier invoices' disputes, once settled, are history)."""
    text = DATA.read_text(encoding="ascii")
    lines = text.splitlines()
    header = lines[0].split(",")
    idx = {name: header.index(name) for name in LEAKY_COLUMNS}
    changed = []
    for line in lines[1:]:
        if not line:
            changed.append(line)
            continue
        cells = line.split(",")
        cells[idx["Disputed"]] = "Yes" if cells[idx["Disputed"]] == "No" else "No"
        changed.append(",".join(cells))
    altered = tmp_path / "altered.csv"
    altered.write_text("\r\n".join([lines[0], *changed]), encoding="ascii")
    base, alt = read_invoices(DATA), read_invoices(altered)
    fb, fa = feature_rows(base), feature_rows(alt)
    disputed = FEATURE_NAMES.index("disputed_share")
    for b, a, x, y in zip(base, alt, fb, fa):
        assert b.number == a.number and b.invoice == a.invoice  # the invoice scored carries no outcome
        # Only history-derived dispute figures may move (earlier invoices' disputes are history).
        assert [v for k, v in enumerate(x) if k not in (disputed, disputed + 1)] == \
               [v for k, v in enumerate(y) if k not in (disputed, disputed + 1)]


def test_vendored_copy_is_the_documented_file():
    import hashlib

    assert hashlib.sha256(DATA.read_bytes()).hexdigest() == \
        "f5d488eaa4c1cc843b478b6f1068c553c5394aab4b64d587e4b9ad811d845c19"
    assert "not verified" in (DATA.parent / "README.md").read_text()
