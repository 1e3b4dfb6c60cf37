"""Keys, scopes, problem documents, money and pages of the REST API v1."""

from __future__ import annotations

from .conftest import assert_problem


def test_customer_roundtrip(api, org):
    created = api.post("/customers", {"code": "C1", "name": "Client One SARL", "country": "FR", "city": "Lyon",
                                      "address_line1": "1 rue X"})
    assert created.status_code == 201, created.content
    cid = created.json()["id"]
    assert api.get(f"/customers/{cid}").json()["name"] == "Client One SARL"
    patched = api.patch(f"/customers/{cid}", {"city": "Paris"})
    assert patched.status_code == 200, patched.content
    assert patched.json()["city"] == "Paris"
    listed = api.get("/customers").json()
    assert [c["code"] for c in listed["data"]] == ["C1"] and listed["has_more"] is False


def test_invoice_flow(api, org, customer, contract):
    draft = api.post("/invoices", {"customer_id": customer.pk, "contract_id": contract.pk, "lines": [
        {"description": "Design", "quantity": "3", "unit_price": "80.00", "tax_rate": "20"}]})
    assert draft.status_code == 201, draft.content
    body = draft.json()
    assert body["status"] == "draft" and body["total"] == {"amount_minor": 28800, "currency": "EUR"}
    issued = api.post(f"/invoices/{body['id']}/issue", {})
    assert issued.status_code == 200, issued.content
    assert issued.json()["number"] and issued.json()["status"] == "issued"
    pdf = api.get(f"/invoices/{body['id']}/document", format="pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    paid = api.post("/payments", {"customer_id": customer.pk, "amount": {"amount_minor": 28800, "currency": "EUR"},
                                  "method": "bank_transfer", "allocations": [
                                      {"invoice_id": body["id"], "amount": {"amount_minor": 28800, "currency": "EUR"}}]})
    assert paid.status_code == 201, paid.content
    assert api.get(f"/invoices/{body['id']}").json()["status"] == "paid"
    refund = api.post(f"/payments/{paid.json()['id']}/refunds",
                      {"amount": {"amount_minor": 800, "currency": "EUR"}, "reason": "goodwill"})
    assert refund.status_code == 201, refund.content
    assert api.get(f"/invoices/{body['id']}").json()["balance"] == {"amount_minor": 800, "currency": "EUR"}


def test_missing_key(org):
    from .conftest import ApiClient

    assert_problem(ApiClient(None).get("/customers"), 401, "unauthenticated")
    assert_problem(ApiClient("duly_abc_def").get("/customers"), 401, "unauthenticated")


def test_credit_note(api, org, issued_invoice):
    from duly.invoicing.models import Invoice

    whole = api.post(f"/invoices/{issued_invoice.pk}/credit_notes", {"reason": "cancelled project"}, idem="cn-1")
    assert whole.status_code == 201, whole.content
    note = whole.json()
    assert note["kind"] == "credit_note" and note["number"] and note["total"] == {"amount_minor": 12000,
                                                                                  "currency": "EUR"}
    # crediting more than the invoice is refused, and writes nothing
    again = api.post(f"/invoices/{issued_invoice.pk}/credit_notes", {"reason": "twice"})
    assert_problem(again, 400, "credit_exceeds_invoice_total")
    assert Invoice.objects.filter(kind="credit_note").count() == 1
