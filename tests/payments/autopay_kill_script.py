"""Helper run in subprocesses by test_autopay_killed.py (not a test): seed due invoices, run autopay for real.

Usage: ``python autopay_kill_script.py seed N | run AS_OF`` with ``DATABASE_URL`` pointing at a throw-away SQLite
file and ``DULY_STRIPE_API_BASE`` at the test's loopback Stripe fake. With ``DULY_TEST_KILL_AFTER_CHARGES=K`` the
process SIGKILLs itself right after Stripe answered the K-th charge, before Duly records it (the checkpoint is
injected here, not built into autopay).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import date
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

import django  # noqa: E402

django.setup()

KILL_ENV = "DULY_TEST_KILL_AFTER_CHARGES"


def seed(n: int) -> None:
    from django.core.management import call_command

    from duly.customers.services import create_contract, create_customer, create_organization
    from duly.invoicing import services
    from duly.payments.models import SavedPaymentMethod
    from duly.payments.providers import registry

    call_command("migrate", verbosity=0)
    org = create_organization(name="Kill Test SAS", slug="kill", country="FR", default_currency="EUR",
                              address_line1="1 rue A", postcode="75001", city="Paris", timezone="Europe/Paris")
    customer = create_customer(org, code="K1", name="Killed Autopay SARL", country="FR", city="Lyon",
                               address_line1="2 rue B", postcode="69002", currency="EUR", timezone="Europe/Paris")
    contract = create_contract(org, customer, reference="CTR-K", start_date=date(2026, 1, 1), terms_kind="net",
                               terms_days=30)
    due = None
    for _ in range(n):
        draft = services.create_draft(org, customer, [services.LineData("Service", Decimal(1), Decimal("120"))],
                                      contract=contract)
        due = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2)).due_date
    v1 = registry.get("stripe").client.v1
    ref = v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
    SavedPaymentMethod.objects.create(organization=org, customer=customer, provider="stripe", customer_ref=ref,
                                      method_ref="pm_card_visa", kind="card", is_default=True)
    print(json.dumps({"due": due.isoformat(), "stripe_customer": ref}))


def run(as_of: str) -> None:
    from duly.customers.models import Organization
    from duly.invoicing.models import Invoice
    from duly.payments.autopay_services import recover_attempts, run_autopay
    from duly.payments.models import ChargeAttempt, Payment
    from duly.payments.providers.stripe import StripeProvider

    kill_after = int(os.environ.get(KILL_ENV) or 0)
    if kill_after:
        charge, calls = StripeProvider.charge, []

        def charge_then_die(self, request):
            result = charge(self, request)
            calls.append(request.idempotency_key)
            if len(calls) == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # Stripe charged; Duly never hears of it
            return result

        StripeProvider.charge = charge_then_die
    org = Organization.objects.get(slug="kill")
    day = date.fromisoformat(as_of)
    recovered = recover_attempts(org, day)
    report = run_autopay(org, day)
    print(json.dumps({
        "recovered": recovered.summary(), "report": report.summary(),
        "attempts": sorted(ChargeAttempt.objects.values_list("status", flat=True)),
        "payments": sorted(Payment.objects.values_list("external_reference", flat=True)),
        "open": Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES).count(),
    }))


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(int(sys.argv[2]))
    else:
        run(sys.argv[2])
