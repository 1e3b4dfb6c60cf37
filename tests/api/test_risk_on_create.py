"""A customer created through the REST API gets its red-flag check once committed (issue 17 part 1)."""

from __future__ import annotations

from duly.customers.models import RiskAssessment


def test_a_customer_created_through_the_api_is_checked(make_api, org, django_capture_on_commit_callbacks):
    api = make_api(org)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/customers", {"code": "C1", "name": "Client One SARL", "country": "FR", "city": "Lyon",
                                          "address_line1": "1 rue X", "email": "ap@client-one.fr",
                                          "tax_id": "FR40303265045"})
    assert created.status_code == 201, created.content
    row = RiskAssessment.objects.get(customer_id=created.json()["id"])
    assert row.organization_id == org.pk and row.level == "low"
