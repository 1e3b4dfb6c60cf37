"""Usage batches, allocation of unapplied payments, payment methods, disputes, promises, statements and aging
through /api/v1."""

from __future__ import annotations

from datetime import timedelta

from .conftest import assert_problem, org_today

EUR = "EUR"


def eur(minor: int) -> dict:
    return {"amount_minor": minor, "currency": EUR}


def _events(n: int, prefix: str = "e", **extra) -> list[dict]:
    return [{"idempotency_key": f"{prefix}-{i}", "customer": "ACME", "metric": "api_calls",
             "timestamp": "2026-03-01T10:00:00+01:00", "value": "2", **extra} for i in range(n)]


def test_usage_batch_is_idempotent_per_event(api, world, org):
    from duly.billing.models import UsageEvent

    first = api.post("/usage_events", {"events": _events(300)})
    assert first.status_code == 200, first.content
    assert first.json() | {"duplicate_positions": []} == {"accepted": 300, "duplicates": 0, "late": 0,
                                                         "rejected": 0, "duplicate_positions": [], "rejections": []}
    # the same events again, with new ones and a bad one: the known keys are duplicates, the bad one is reported
    batch = _events(302) + [{**_events(1, "x")[0], "metric": "unknown"},
                            {**_events(1, "e")[0], "value": "3"}]
    second = api.post("/usage_events", {"events": batch}, idem="u-1").json()
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (2, 300, 2)
    assert {(r["position"], r["code"]) for r in second["rejections"]} == {(303, "unknown_metric"),
                                                                          (304, "duplicate_usage_event")}
    assert UsageEvent.objects.filter(organization=org).count() == 302
    replay = api.post("/usage_events", {"events": batch}, idem="u-1")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == second
    assert_problem(api.post("/usage_events", {"events": _events(1)}, idem="u-1"), 422, "idempotency_conflict")
    assert_problem(api.post("/usage_events", {"events": _events(1001, "big")}), 422, "invalid_input")
    assert_problem(api.post("/usage_events", {"events": [{**_events(1, "f")[0], "source": "x"}]}),
                   422, "unknown_field")
    assert_problem(api.post("/usage_events", {"events": []}), 422, "invalid_input")
    assert UsageEvent.objects.filter(organization=org).count() == 302


def test_allocate_unapplied_payment(api, world, org):
    from duly.invoicing.models import Invoice

    p, second = world["payment"], world["second"]
    path = f"/payments/{p}/allocations"
    # the payment of 120.00 paid invoice 1; a credit note on it gave 30.00 back: unapplied
    assert_problem(api.post(path, {"allocations": [{"invoice_id": second, "amount": {"amount_minor": 100,
                                                                                     "currency": "USD"}}]}),
                   400, "currency_mismatch")
    assert_problem(api.post(path, {"allocations": [{"invoice_id": second, "amount": eur(3001)}]}),
                   400, "allocation_exceeds_unapplied")
    assert_problem(api.post(path, {"allocations": [{"invoice_id": world["invoice"], "amount": eur(100)}]}),
                   400, "invoice_not_open")
    assert_problem(api.post(path, {"allocations": [{"invoice_id": second, "amount": eur(100), "note": "x"}]}),
                   422, "unknown_field")
    assert Invoice.objects.get(pk=second).paid_minor == 0
    done = api.post(path, {"allocations": [{"invoice_id": second, "amount": eur(2000)}]}, idem="a-1")
    assert done.status_code == 201, done.content
    assert done.json()["unapplied"] == eur(1000)
    assert done.json()["allocations"] == [{"invoice_id": second, "amount": eur(2000),
                                           "applied_on": str(org_today(org))}]
    assert api.post(path, {"allocations": [{"invoice_id": second, "amount": eur(2000)}]}, idem="a-1").content == \
        done.content
    assert_problem(api.post(path, {"allocations": [{"invoice_id": second, "amount": eur(1)}]}, idem="a-1"),
                   422, "idempotency_conflict")
    inv = Invoice.objects.get(pk=second)
    assert inv.paid_minor == 2000 and inv.status == "partially_paid"
    # what is left can be refunded; what was allocated cannot be refunded twice as credit
    from duly.payments.services import payment_unapplied_minor
    from duly.payments.models import Payment

    assert payment_unapplied_minor(Payment.objects.get(pk=p)) == 1000


def test_payment_methods(api, world, org, settings):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fakes.stripe_server import StripeFake

    c = world["customer"]
    listed = api.get(f"/customers/{c}/payment_methods").json()["data"]
    assert [(m["id"], m["is_default"], m["last4"]) for m in listed] == [
        (world["method"], True, "4242"), (world["other_method"], False, "4444")]
    assert api.get(f"/customers/{c}/payment_methods/{world['method']}").json()["brand"] == "visa"
    made = api.post(f"/customers/{c}/payment_methods/{world['other_method']}/default", {}, idem="m-1")
    assert made.status_code == 200 and made.json()["is_default"], made.content
    assert api.post(f"/customers/{c}/payment_methods/{world['other_method']}/default", {}, idem="m-1").content == \
        made.content
    assert_problem(api.post(f"/customers/{c}/payment_methods/{world['method']}/default", {}, idem="m-1"),
                   422, "idempotency_conflict")
    assert_problem(api.post(f"/customers/{c}/payment_methods/{world['method']}/default", {"x": 1}),
                   422, "unknown_field")
    with StripeFake("sk_test_duly") as fake:
        fake.point_settings(settings)
        gone = api.client.delete(f"/api/v1/customers/{c}/payment_methods/{world['other_method']}",
                                 headers={"Authorization": f"Bearer {api.secret}"})
    assert gone.status_code == 200, gone.content
    assert gone.json()["default_id"] == world["method"]
    assert [m["id"] for m in api.get(f"/customers/{c}/payment_methods").json()["data"]] == [world["method"]]
    assert_problem(api.get(f"/customers/{c}/payment_methods/{world['other_method']}"), 404, "not_found")
    mandates = api.get(f"/customers/{c}/mandates").json()["data"]
    assert [(m["reference"], m["iban_last4"]) for m in mandates] == [("MDT-1", "2606")]
    assert "FR1420041010050500013M02606" not in str(mandates)


def test_disputes(api, world, org):
    from duly.collections.models import Dispute

    listed = api.get("/disputes", status="open").json()["data"]
    assert [d["id"] for d in listed] == [world["dispute"]]
    assert_problem(api.post("/disputes", {"invoice_id": world["second"], "question": "again?"}), 409,
                   "dispute_already_open")
    made = api.post("/disputes", {"invoice_id": world["invoice"], "question": "Which PO?"}, idem="d-1")
    assert made.status_code == 201 and made.json()["status"] == "open", made.content
    assert api.post("/disputes", {"invoice_id": world["invoice"], "question": "Which PO?"}, idem="d-1").content == \
        made.content
    assert_problem(api.post("/disputes", {"invoice_id": world["invoice"], "question": "Other"}, idem="d-1"),
                   422, "idempotency_conflict")
    assert_problem(api.post("/disputes", {"invoice_id": world["invoice"], "question": "x", "urgent": True}),
                   422, "unknown_field")
    wrong = {"answer": "Yes, one hour", "credit_amount": {"amount_minor": 6000, "currency": "USD"}}
    assert_problem(api.post(f"/disputes/{world['dispute']}/resolve", wrong), 400, "currency_mismatch")
    resolved = api.post(f"/disputes/{world['dispute']}/resolve", {"answer": "Yes, one hour",
                                                                  "credit_amount": eur(6000)})
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["status"] == "resolved" and resolved.json()["credit_note_id"]
    assert_problem(api.post(f"/disputes/{world['dispute']}/resolve", {"answer": "again"}), 409,
                   "dispute_already_resolved")
    assert Dispute.objects.filter(organization=org).count() == 2


def test_promises(api, world, org):
    from duly.collections.models import PromiseToPay

    today = org_today(org)
    got = api.get(f"/promises/{world['promise']}").json()
    assert got["amount"] == eur(5000) and got["state"] == "running" and got["invoice_ids"] == [world["second"]]
    body = {"customer_id": world["customer"], "promised_date": str(today + timedelta(days=3)),
            "amount": eur(10000)}
    made = api.post("/promises", body, idem="pr-1")
    assert made.status_code == 201, made.content
    assert api.post("/promises", body, idem="pr-1").content == made.content
    assert_problem(api.post("/promises", {**body, "note": "x"}, idem="pr-1"), 422, "idempotency_conflict")
    assert_problem(api.post("/promises", {**body, "amount": {"amount_minor": 100, "currency": "USD"}}), 400,
                   "invalid_input")
    assert_problem(api.post("/promises", {**body, "when": "soon"}), 422, "unknown_field")
    assert PromiseToPay.objects.filter(organization=org).count() == 2
    assert [p["id"] for p in api.get("/promises", customer=world["customer"]).json()["data"]] == \
        [world["promise"], made.json()["id"]]


def test_statement_and_aging(api, world, org):
    c = world["customer"]
    later = org_today(org) + timedelta(days=45)
    st = api.get(f"/customers/{c}/statement", as_of=str(later))
    assert st.status_code == 200, st.content
    body = st.json()
    # invoice 1 paid; the workshop invoice (240.00) open, 15 days past due
    assert [(li["total"], li["open"], li["bucket"]) for li in body["lines"]] == [(eur(24000), eur(24000), "1-30")]
    totals = body["totals"][0]
    assert totals["currency"] == EUR and totals["total_open"] == eur(24000)
    assert {b["bucket"]: b["amount"]["amount_minor"] for b in totals["buckets"]}["1-30"] == 24000
    assert body["credit"] == [eur(3000)]
    pdf = api.get(f"/customers/{c}/statement", format="pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    aging = api.get("/aging", as_of=str(later)).json()
    assert aging["totals"][0]["overdue"] == eur(24000) and aging["totals"][0]["invoices"] == 1
    assert [(r["customer_code"], r["total_open"]) for r in aging["customers"]] == [("ACME", eur(24000))]
    mine = api.get(f"/customers/{c}/aging", as_of=str(later)).json()
    assert mine["totals"] == body["totals"]
    assert_problem(api.get("/aging", as_of="yesterday"), 422, "invalid_input")
    assert_problem(api.get(f"/customers/{c}/statement", format="docx"), 422, "invalid_input")
