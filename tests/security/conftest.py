"""An organization with at least one row behind every back-office page, built through the services.

The role matrix and the isolation suites walk every admin URL over these rows. Every name, code and
text of the organization contains ``Zephyr`` (or ``ZEPH``), so a page that shows any of it to a user of
another organization is caught by a plain text search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

PASSWORD = "matrix-password-2026"
#: Strings that identify the walked organization: none may appear on another organization's pages.
MARKERS = ("Zephyr", "ZEPH", "zeph")


@dataclass
class World:
    org: object
    customer: object
    invoice: object  # issued, open, overdue
    draft: object
    payment: object
    dispute: object
    message: object
    task: object


def build_world(org) -> World:
    from django.utils import timezone

    from duly.billing import services as billing
    from duly.billing.usage_services import record_licence_counts, record_usage_event
    from duly.collections import services as collections
    from duly.collections.models import Policy, SegmentRule, SpecialDate, Task
    from duly.customers import services as customers
    from duly.invoicing import services as inv
    from duly.messaging.models import Message
    from duly.messaging.rendering import TEMPLATE_DIR, template_path
    from duly.messaging.services import save_template
    from duly.payments import sepa_services as sepa
    from duly.payments import services as payments

    paris = ZoneInfo("Europe/Paris")
    now = timezone.now()
    today = now.astimezone(paris).date()
    customer = customers.create_customer(
        org, code="ZEPH1", name="Zephyrine Holdings SAS", country="FR", city="Lyon", address_line1="3 quai Zephyr",
        postcode="69002", currency="EUR", locale="fr_FR", timezone="Europe/Paris", segment="zephyr-segment",
        contacts=[{"name": "Zelda Zephyr", "email": "zelda@zephyr.example", "role": "accounts_payable",
                   "phone": "+33 1 23 45 67 89"}])
    # a second customer, with nothing owed: paid in advance (customer credit) and greeted on the contact's birthday
    prepaid = customers.create_customer(
        org, code="ZEPH2", name="Zephyr Studio SARL", country="FR", city="Lyon", address_line1="5 quai Zephyr",
        currency="EUR", locale="fr_FR", timezone="Europe/Paris",
        contacts=[{"name": "Zoe Zephyr", "email": "zoe@zephyr.example", "birthday": today.replace(year=1985)}])
    contract = customers.create_contract(
        org, customer, reference="ZEPH-CTR-1", start_date=date(2026, 1, 1), terms_kind="net", terms_days=30,
        late_fee_kind="interest_annual", late_rate_percent=Decimal("12"), billing_frequency="monthly")
    customers.record_reference_rate(currency="EUR", valid_from=date(2026, 1, 1), rate_percent="2.15")
    from duly.invoicing.exchange_rate_services import record_exchange_rate

    record_exchange_rate(org, currency="USD", accounting_currency="EUR", rate="0.92", rate_date=date(2026, 1, 1),
                         source="Zephyr bank rate of the day")
    # an outgoing webhook endpoint, made first, so the business actions below queue deliveries to it
    from duly.api.outgoing_services import create_endpoint
    from duly.domain.webhooks import EVENT_TYPES

    create_endpoint(org, url="https://hooks.zephyr.example/duly", event_types=list(EVENT_TYPES),
                    description="Zephyr ERP")

    product = billing.create_product(org, code="ZEPHPROD", name="Zephyr hosting", tax_rate=Decimal("20"))
    metric = billing.create_metric(org, code="zeph_calls", name="Zephyr calls", aggregation="sum")
    billing.create_metric(org, code="zeph_minutes", name="Zephyr minutes", aggregation="sum")
    flat = billing.create_price(org, product, code="zeph-flat", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    usage = billing.create_price(org, product, code="zeph-usage", currency="EUR", quantity_source="usage",
                                 metric=metric, model_config={"model": "per_unit", "unit_price": "0.10"})
    seats = billing.create_price(org, product, code="zeph-seats", currency="EUR", quantity_source="licences",
                                 model_config={"model": "per_unit", "unit_price": "5.00"})
    sub = billing.create_subscription(org, customer, [(flat, 1), (usage, 1), (seats, 1)], start_date=date(2026, 10, 1),
                                      as_of=date(2026, 10, 1), contract=contract, reference="ZEPH-SUB-1")
    billing.run_billing(org, date(2026, 10, 1))
    record_usage_event(org, idempotency_key="zeph-event-1", customer="ZEPH1", metric="zeph_calls",
                       timestamp="2026-10-15T10:00:00Z", value=5)
    record_licence_counts(org, sub, {date(2026, 10, 15): 3})
    billing.add_item(org, sub, flat, 1, on=date(2026, 10, 20), as_of=date(2026, 10, 20))  # a pending charge
    billing.start_retainer(org, contract, topup_amount="500", threshold="100", as_of=date(2026, 10, 1))
    billing.schedule_price_change(org, flat, effective_date=today + timedelta(days=60),
                                  new_model_config={"model": "flat", "amount": "120.00"},
                                  justification="Zephyr hosting costs went up", as_of=today, notice_days=30)

    # Issued after the billing run's invoices of 1 October: numbers follow issue dates.
    def issue(amount, on, text):
        draft = inv.create_draft(org, customer, [inv.LineData(text, Decimal(1), Decimal(amount))], contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=on)

    invoice = issue("1000.00", date(2026, 10, 21), "Zephyr audit")
    queried = issue("40.00", date(2026, 10, 22), "Zephyr support")
    paid = issue("60.00", date(2026, 10, 23), "Zephyr training")
    # SEPA direct debit from the organization's own bank: a mandate, an invoice that pre-notified its debit (the
    # customer chose direct debit for it), then (below) the debit and the batch that carried it
    sepa.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    sepa.create_mandate(org, customer, reference="ZEPH-MANDATE-1", signed_on=date(2026, 9, 30), signed_at="Lyon",
                        debtor_name="Zephyrine Holdings SAS", iban="DE89370400440532013000", bic="COBADEFFXXX")
    customer.preferred_payment_method = "sepa_debit"
    customer.save(update_fields=["preferred_payment_method"])
    issue("30.00", date(2026, 10, 24), "Zephyr direct debit")
    customer.preferred_payment_method = "bank_transfer"
    customer.save(update_fields=["preferred_payment_method"])
    draft = inv.create_draft(org, customer, [inv.LineData("Zephyr draft work", Decimal(1), Decimal(7))])
    payment = payments.record_payment(org, customer, amount="80.00", currency="EUR", method="bank_transfer",
                                      received_on=date(2026, 10, 25), allocations={paid.pk: "60.00"},
                                      external_reference="ZEPH-WIRE-1")  # 20.00 becomes credit
    payments.record_payment(org, prepaid, amount="25.00", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 10, 26), external_reference="ZEPH-WIRE-2")
    payments.refund_payment(org, payment.pk, amount="5.00", refunded_on=date(2026, 10, 30), reason="Zephyr refund")
    from django.test.utils import override_settings

    with override_settings(DULY_LATE_FEE_MINIMUM=Decimal(0)):  # a few days' interest: the world needs a late fee row
        collections.assess_late_fees(org, as_of=today, invoice_ids=[invoice.pk])

    conf = collections.ensure_setup(org)
    conf.email_invoices = True
    conf.save()
    for policy in Policy.objects.filter(organization=org):  # names a filter or a choice list would show
        Policy.objects.filter(pk=policy.pk).update(name=f"Zephyr {policy.name}")
    policy = Policy.objects.filter(organization=org).order_by("pk").first()
    SegmentRule.objects.create(organization=org, segment="zephyr-segment", policy=policy, default_hour=10)
    SpecialDate.objects.create(organization=org, customer=customer, label="Zephyr founding day", date=today)
    collections.assign_policy(org, customer, policy.code)
    dispute = collections.open_dispute(org, queried.pk, question="Why is Zephyr support billed?", now=now)
    collections.record_promise(org, customer, promised_date=today + timedelta(days=10), amount="10.00",
                               invoice_ids=[invoice.pk], note="Zephyr promise", now=now)
    shipped = (TEMPLATE_DIR / template_path("reminder_gentle", "en")).read_text(encoding="utf-8")
    save_template(org, name="reminder_gentle", language="en",
                  source=shipped.replace("{% block subject %}", "{% block subject %}Zephyr · ", 1))
    collections.collect(org, as_of=datetime.combine(today, time(10), paris))
    customers.add_member(org, username="zeph-owner", password=PASSWORD, role="owner")
    message = Message.objects.filter(organization=org).order_by("pk").first()
    sepa.export_debits(org, today)  # the direct debit pre-notified by its invoice, in a batch
    # a card saved with Stripe (ids and what is shown only) and a webhook event Duly received
    from duly.payments import method_services
    from duly.payments.models import ProviderEvent
    from duly.payments.providers.base import SavedMethod

    method_services.save_method(org, customer, SavedMethod("stripe", "pm_zeph_visa", "cus_zeph", "card", brand="visa",
                                                           last4="4242", exp_month=12, exp_year=2034))
    ProviderEvent.objects.create(organization=org, provider="stripe", event_id="evt_zeph_1",
                                 type="payment_intent.succeeded", object_ref="pi_zeph_1", received_at=now,
                                 processed_at=now, outcome="Zephyr payment recorded", payload={"id": "evt_zeph_1"})
    # ... and an R-transaction of one of them (re-presented: AM04)
    from duly.payments import return_services
    from duly.payments.models import DirectDebit

    return_services.record_debit_return(DirectDebit.objects.filter(organization=org, batch__isnull=False)
                                        .order_by("pk").first(), "AM04", returned_on=today)
    # A bank account and a statement imported for it (CSV with the account's column mapping)
    from duly.payments import bank_services as bank

    bank.add_bank_account(org, iban="FR7630006000011234567890189", currency="EUR", name="Zephyr main account",
                          csv_mapping={"booking_date": "Date", "amount": "Amount", "counterparty_name": "Payer",
                                       "remittance": "Text"})
    bank.import_statement(org, b"Date,Amount,Payer,Text\n2026-12-01,42.00,Zephyrine Holdings SAS,Zephyr invoice\n",
                          account="FR7630006000011234567890189")
    # Reconciliation: lines in review (one kept there) and a match (a line assigned to the customer as credit)
    from duly.payments import reconcile_services as reconcile
    from duly.payments.bank_models import StatementLine

    bank.import_statement(org, b"Date,Amount,Payer,Text\n2026-12-02,13.00,Unknown payer,misc\n"
                               b"2026-12-03,17.00,Unknown payer,more\n", account="FR7630006000011234567890189")
    reconcile.reconcile(org, as_of=today)
    waiting = StatementLine.objects.filter(organization=org, status=StatementLine.REVIEW, amount_minor=1700).get()
    reconcile.assign_credit(org, waiting.pk, customer_id=customer.pk, as_of=today)
    # a short payment whose rest a bank match wrote off, the match undone: the write-off's reversal is audited
    from duly.domain.matching import MatchPolicy, ShortPaymentAction
    from duly.payments.reconcile_models import BankMatch

    short = issue("50.00", today, "Zephyr workshop")
    short.refresh_from_db()
    paid = short.balance_minor - 100  # 1.00 short of what is open (the customer's credit went to it on issue)
    bank.import_statement(org, f"Date,Amount,Payer,Text\n2026-12-04,{Decimal(paid) / 100:.2f},Zephyrine Holdings SAS,"
                               f"{short.rf_reference}\n".encode(), account="FR7630006000011234567890189")
    reconcile.reconcile(org, as_of=today, policy=MatchPolicy(short_tolerance_minor=200,
                                                             short_payment=ShortPaymentAction.WRITE_OFF))
    written_off = BankMatch.objects.get(organization=org, line__amount_minor=paid)
    assert written_off.evidence.get("written_off"), written_off.evidence  # the world needs its reversal
    reconcile.undo(org, written_off.pk, reason="Zephyr payer asked", as_of=today)
    # a pay-now checkout the customer started from their personal link (a transfer, so it waits for the bank)
    from duly.payments import checkout_services

    checkout_services.start_checkout(org, customer, method="bank_transfer", invoice_ids=[invoice.pk])
    task = Task.objects.create(organization=org, customer=customer, kind="phone", key="zeph-task-1",
                               description="Phone Zelda Zephyr", due_at=now)
    from duly.api.services import create_api_key

    create_api_key(org, name="Zephyr ERP sync", role="bookkeeper")
    # a change of billing details the customer asked for from their personal link, waiting for staff
    from duly.portal import selfservice_services as portal

    portal.request_change(portal.Scope(token="", customer=customer), submission="zephyr-change-request-0001",
                          now=now, contact_name="Zelda Zephyr-Martin", po_number="ZEPH-PO-7")
    # late-payment scores of the open invoices (the global prior: the world has little history)
    from duly.insights.risk_services import score_open_invoices

    score_open_invoices(org, as_of=now.date())
    # the red-flag check of the customer, waiting for staff's decision
    from duly.insights.risk_onboarding import assess_customer

    assess_customer(customer, as_of=now.date())
    return World(org=org, customer=customer, invoice=invoice, draft=draft, payment=payment, dispute=dispute,
                 message=message, task=task)


#: The world's clock: a Tuesday morning in Paris, before the 10:00 collections run. On the real clock the world
#: changed with the day and the hour: on a Sunday nothing is sent, and after 10:00 the invoices issued "now" are
#: not yet due for e-mailing, so pages lost their rows.
WORLD_START = datetime(2026, 12, 8, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def world_clock(monkeypatch):
    """Time starts at ``WORLD_START`` and runs at the real pace, so rows keep their order."""
    from django.utils import timezone

    real_now = timezone.now
    offset = WORLD_START - real_now()
    monkeypatch.setattr("django.utils.timezone.now", lambda: real_now() + offset)


@pytest.fixture
def world(org, settings, tmp_path, world_clock):
    settings.DULY_OUTBOX_JOURNAL_DIR = str(tmp_path / "journal")
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = False
    return build_world(org)


def admin_models():
    from django.contrib import admin

    return sorted(admin.site._registry, key=lambda m: m._meta.label_lower)


@pytest.fixture
def fast_passwords(settings):
    """Users in these suites log in many times: a fast hasher keeps the walk short (passwords are not under test)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fingerprint() -> dict[str, int]:
    """A hash of every row of every table except sessions, the admin log and users' last login: equal before and
    after means nothing was written."""
    from django.apps import apps

    skip = {"sessions.session", "admin.logentry"}
    out = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in skip or model._meta.proxy:
            continue
        rows = sorted(repr(sorted((k, v) for k, v in r.items() if k != "last_login"))
                      for r in model._default_manager.values())
        out[label] = hash(tuple(rows))
    return out


def admin_url(model, what: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{what}", args=args)


def custom_view_url(model_admin, name: str, obj, world) -> str:
    """The URL of a custom admin view, its arguments filled from ``obj`` (pk) or the world's customer."""
    from django.urls import reverse

    pattern = next(p for p in model_admin.get_urls() if getattr(p, "name", None) == name)
    values = {"pk": getattr(obj, "pk", None), "id": getattr(obj, "pk", None), "customer_id": world.customer.pk}
    kwargs = {}
    for arg in pattern.pattern.converters:
        assert values.get(arg) is not None, f"{name}: no value for the URL argument {arg!r} (extend custom_view_url)"
        kwargs[arg] = values[arg]
    return reverse(f"admin:{name}", kwargs=kwargs)
