"""The back office lists the pay-now checkouts customers start from their personal link, read-only and scoped to
the staff user's organization: status, method, amount, the invoices it pays and the payment it became; never the
provider's client secret."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.urls import reverse

from duly.invoicing import services as inv
from duly.payments import checkout_services
from duly.payments.models import Checkout

from .test_payment_methods_admin import login


def issue(org, customer, amount, on):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))])
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def test_checkouts_are_listed_and_shown_read_only_to_their_organization_only(org, other_org, customer,
                                                                            make_customer):
    first, second = issue(org, customer, "100", date(2026, 3, 2)), issue(org, customer, "50", date(2026, 3, 9))
    checkout = checkout_services.start_checkout(org, customer, method="bank_transfer",
                                                invoice_ids=[first.pk, second.pk])
    Checkout.objects.filter(pk=checkout.pk).update(client_secret="pi_x_secret_must_not_show")
    foreign = make_customer("FOREIGN", organization=other_org, name="Foreign Widgets GmbH")
    theirs = issue(other_org, foreign, "70", date(2026, 3, 2))
    checkout_services.start_checkout(other_org, foreign, method="bank_transfer", invoice_ids=[theirs.pk])

    for role in ("owner", "viewer"):
        client = login(org, f"{role}-co", role)
        page = client.get(reverse("admin:payments_checkout_changelist"))
        assert page.status_code == 200
        html = page.content.decode()
        assert customer.name in html and "Foreign Widgets" not in html
        assert "150.00 EUR" in html and f"{first.number}, {second.number}" in html
        assert "Processing" in html and "Bank transfer" in html
        detail = client.get(reverse("admin:payments_checkout_change", args=[checkout.pk]))
        assert detail.status_code == 200
        body = detail.content.decode()
        assert first.number in body and "pi_x_secret_must_not_show" not in body
        assert 'name="_save"' not in body  # read-only: nothing to save
        other = Checkout.objects.get(organization=other_org)
        assert client.get(reverse("admin:payments_checkout_change", args=[other.pk])).status_code in (302, 404)
        assert client.post(reverse("admin:payments_checkout_delete", args=[checkout.pk]),
                           {"post": "yes"}).status_code in (302, 403)
    assert Checkout.objects.filter(organization=org).count() == 1
