"""A realistic demo organization: ~30 customers in 5 countries and languages, 6 months of history.

Everything is created through the services, exactly as a bookkeeper would, so the demo also proves
the whole chain works. The data is reproducible (seeded random) and ends on ``as_of``.

The demo keeps to itself: it refuses a database that holds any other organization, never changes an
existing user, and its admin gets a random password, printed once (only its hash is stored).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from dateutil.relativedelta import relativedelta
from django.db import transaction

DEMO_SLUG = "demo"
DEMO_USER = "admin"

# (code, name, country, city, postcode, street, currency, locale, timezone, segment, payer profile)
CUSTOMERS = [
    ("LUMEN", "Lumen Architectes SARL", "FR", "Paris", "75003", "8 rue de Bretagne", "EUR", "fr_FR", "Europe/Paris", "agency", "reliable"),
    ("BOULANG", "Boulangeries Réunies SA", "FR", "Lyon", "69002", "14 quai Saint-Antoine", "EUR", "fr_FR", "Europe/Paris", "retail", "late"),
    ("VERDON", "Hôtel du Verdon", "FR", "Castellane", "04120", "2 place Marcel Sauvaire", "EUR", "fr_FR", "Europe/Paris", "hospitality", "reliable"),
    ("ORCA", "Orca Logistique SAS", "FR", "Marseille", "13002", "40 boulevard des Dames", "EUR", "fr_FR", "Europe/Paris", "logistics", "chronic"),
    ("PIXEL", "Pixel & Papier SAS", "FR", "Nantes", "44000", "5 rue Kervégan", "EUR", "fr_FR", "Europe/Paris", "agency", "partial"),
    ("MIRABEL", "Clinique Mirabel", "FR", "Bordeaux", "33000", "21 cours de l'Intendance", "EUR", "fr_FR", "Europe/Paris", "healthcare", "reliable"),
    ("KRAFT", "Kraftwerk Maschinenbau GmbH", "DE", "Stuttgart", "70173", "Königstraße 10", "EUR", "de_DE", "Europe/Berlin", "manufacturing", "reliable"),
    ("HANSE", "Hanse Logistik AG", "DE", "Hamburg", "20095", "Mönckebergstraße 7", "EUR", "de_DE", "Europe/Berlin", "logistics", "late"),
    ("BERGER", "Berger & Söhne KG", "DE", "München", "80331", "Marienplatz 1", "EUR", "de_DE", "Europe/Berlin", "retail", "reliable"),
    ("SPREE", "Spree Software GmbH", "DE", "Berlin", "10117", "Friedrichstraße 68", "EUR", "de_DE", "Europe/Berlin", "saas", "partial"),
    ("RHEIN", "Rheinhotel Düsseldorf GmbH", "DE", "Düsseldorf", "40213", "Königsallee 11", "EUR", "de_DE", "Europe/Berlin", "hospitality", "chronic"),
    ("ALPEN", "Alpen Consulting GmbH", "DE", "Freiburg", "79098", "Kaiser-Joseph-Straße 200", "EUR", "de_DE", "Europe/Berlin", "consulting", "reliable"),
    ("SOLMAR", "Solmar Hoteles SL", "ES", "Málaga", "29001", "Calle Larios 5", "EUR", "es_ES", "Europe/Madrid", "hospitality", "late"),
    ("IBERIA", "Iberia Diseño SL", "ES", "Madrid", "28013", "Gran Vía 32", "EUR", "es_ES", "Europe/Madrid", "agency", "reliable"),
    ("TAPAS", "Grupo Tapas y Más SA", "ES", "Barcelona", "08002", "La Rambla 100", "EUR", "es_ES", "Europe/Madrid", "retail", "chronic"),
    ("OLIVO", "Olivo Energía SL", "ES", "Sevilla", "41004", "Avenida de la Constitución 20", "EUR", "es_ES", "Europe/Madrid", "energy", "reliable"),
    ("FARO", "Faro Abogados SLP", "ES", "Valencia", "46002", "Calle de la Paz 8", "EUR", "es_ES", "Europe/Madrid", "legal", "partial"),
    ("THAMES", "Thames Analytics Ltd", "GB", "London", "EC2A 4BX", "20 Worship Street", "GBP", "en_GB", "Europe/London", "saas", "reliable"),
    ("PENNINE", "Pennine Outdoor Ltd", "GB", "Leeds", "LS1 5AX", "12 Park Row", "GBP", "en_GB", "Europe/London", "retail", "late"),
    ("HARBOUR", "Harbour View Hotels plc", "GB", "Bristol", "BS1 4QA", "1 Harbourside", "GBP", "en_GB", "Europe/London", "hospitality", "reliable"),
    ("CASTLE", "Castle & Crown Legal LLP", "GB", "Edinburgh", "EH1 2NG", "3 Castle Street", "GBP", "en_GB", "Europe/London", "legal", "chronic"),
    ("HUDSON", "Hudson Creative Inc.", "US", "New York", "10013", "250 Hudson Street", "USD", "en_US", "America/New_York", "agency", "reliable"),
    ("PRAIRIE", "Prairie Foods LLC", "US", "Chicago", "60601", "150 N Michigan Ave", "USD", "en_US", "America/Chicago", "retail", "late"),
    ("SIERRA", "Sierra Cloud Systems Inc.", "US", "San Francisco", "94105", "101 Mission Street", "USD", "en_US", "America/Los_Angeles", "saas", "partial"),
    ("BAYOU", "Bayou Events LLC", "US", "New Orleans", "70130", "600 Decatur Street", "USD", "en_US", "America/Chicago", "events", "reliable"),
    ("NEVA", "Neva Digital LLC", "RU", "Saint Petersburg", "191186", "Nevsky Prospekt 28", "EUR", "ru_RU", "Europe/Moscow", "agency", "reliable"),
    ("VOLGA", "Volga Trade LLC", "RU", "Kazan", "420111", "Baumana Street 9", "EUR", "ru_RU", "Europe/Moscow", "logistics", "late"),
    ("TAIGA", "Taiga Hotels JSC", "RU", "Moscow", "125009", "Tverskaya Street 3", "EUR", "ru_RU", "Europe/Moscow", "hospitality", "chronic"),
    ("ADRIA", "Adria Yachting d.o.o.", "FR", "Nice", "06000", "10 quai des États-Unis", "EUR", "en_GB", "Europe/Paris", "hospitality", "reliable"),
    ("NORD", "Nordlicht Medien GmbH", "DE", "Köln", "50667", "Hohe Straße 52", "EUR", "de_DE", "Europe/Berlin", "agency", "late"),
]

TERMS = [
    dict(terms_kind="net", terms_days=30),
    dict(terms_kind="net", terms_days=14),
    dict(terms_kind="end_of_month", terms_days=30),
    dict(terms_kind="day_of_next_month", terms_day_of_month=10),
    dict(terms_kind="net", terms_days=45, business_day_adjustment="following"),
    dict(terms_kind="on_receipt", terms_days=0),
]
LATE_POLICIES = [
    dict(late_fee_kind="eu_statutory"),  # follows the recorded reference rates (see _seed_reference_rate)
    dict(late_fee_kind="interest_annual", late_rate_percent=Decimal("10"), late_grace_days=5),
    dict(late_fee_kind="interest_monthly", late_rate_percent=Decimal("1.5"), late_cap_percent=Decimal("15")),
    dict(late_fee_kind="fixed_fee", late_fixed_fee="25"),
    dict(late_fee_kind="none"),
]
SERVICES = {
    "agency": [("Brand design retainer", "MON", "2400"), ("Campaign production", "HUR", "95"), ("Stock licences", "C62", "35")],
    "retail": [("Point-of-sale support plan", "MON", "450"), ("On-site technician", "HUR", "80")],
    "hospitality": [("Booking engine subscription", "MON", "690"), ("Channel manager add-on", "MON", "120"), ("Staff training", "DAY", "780")],
    "logistics": [("Fleet tracking seats", "C62", "19"), ("Route optimisation", "MON", "850")],
    "healthcare": [("Patient portal hosting", "MON", "1200"), ("Support hours", "HUR", "110")],
    "manufacturing": [("Maintenance contract", "MON", "3100"), ("Engineering consultancy", "HUR", "140")],
    "saas": [("Analytics platform seats", "C62", "49"), ("Premium support", "MON", "300")],
    "consulting": [("Advisory days", "DAY", "1150"), ("Workshop facilitation", "DAY", "900")],
    "energy": [("Metering data service", "MON", "1750"), ("Consulting hours", "HUR", "125")],
    "legal": [("Document automation licence", "MON", "980"), ("Implementation hours", "HUR", "150")],
    "events": [("Event ticketing platform", "MON", "520"), ("On-site staff", "DAY", "600")],
}
VAT = {"FR": Decimal("20"), "DE": Decimal("19"), "ES": Decimal("21")}
FIRST_NAMES = {"FR": ["Camille", "Julien", "Élodie"], "DE": ["Anna", "Lukas", "Jürgen"], "ES": ["Lucía", "Javier", "María"],
               "GB": ["Olivia", "James", "Harriet"], "US": ["Emily", "Michael", "Dana"], "RU": ["Anna", "Dmitry", "Olga"]}
LAST_NAMES = {"FR": ["Moreau", "Lefèvre"], "DE": ["Schmidt", "Weber"], "ES": ["García", "Fernández"],
              "GB": ["Taylor", "Evans"], "US": ["Johnson", "Rivera"], "RU": ["Ivanova", "Petrov"]}


@dataclass
class DemoSummary:
    organization: str
    username: str
    #: The admin password generated by this run (None when the demo was seeded before).
    password: str | None
    customers: int = 0
    invoices: int = 0
    payments: int = 0
    subscriptions: int = 0
    already_seeded: bool = False
    open_by_currency: dict = field(default_factory=dict)
    #: Customers with a card on file, with a SEPA mandate, and paying by transfer.
    cards: int = 0
    mandates: int = 0
    transfers: int = 0
    #: Cards saved under demo ids, offline (no Stripe key, or Stripe refused): autopay cannot charge them.
    cards_offline: int = 0

    def text(self) -> str:
        if self.already_seeded:
            return (f"Demo organization {self.organization} already exists; log in as {self.username} with the "
                    "password printed when it was seeded.")
        cards = (f"{self.cards - self.cards_offline} saved through Stripe" if self.cards_offline < self.cards else "")
        if self.cards_offline:
            cards += (", " if cards else "") + (f"{self.cards_offline} under demo ids: autopay charges a card only "
                                                "once DULY_STRIPE_SECRET_KEY is set and it is saved with Stripe")
        return (f"Seeded {self.organization}: {self.customers} customers, {self.invoices} invoices, "
                f"{self.payments} payments, {self.subscriptions} subscriptions. Admin login: {self.username} / "
                f"{self.password} (generated now and shown once: note it)\n"
                f"Payment methods: {self.cards} customers with a card on file ({cards}), {self.mandates} with a SEPA "
                f"mandate (duly debits export --as-of DATE writes their pain.008), {self.transfers} paying by "
                f"transfer.")


def _tax(country_seller: str, customer_country: str) -> tuple[str, Decimal, str]:
    """VAT for a French seller: domestic 20%, EU B2B reverse charge, export outside the EU."""
    if customer_country == country_seller:
        return "S", VAT[country_seller], ""
    if customer_country in ("DE", "ES"):
        return "AE", Decimal(0), "Reverse charge (Article 196, Directive 2006/112/EC)"
    return "G", Decimal(0), "Export outside the EU"


#: ``progress(stage, done, total)``: called as the seeding goes (the CLI draws a progress bar from it).
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def seed_demo(*, as_of: date, seed: int = 2026, progress: Progress | None = None) -> DemoSummary:
    from duly.customers.models import Organization

    report = progress or _no_progress
    refuse_a_database_in_use()
    existing = Organization.objects.filter(slug=DEMO_SLUG).first()
    if existing:
        return DemoSummary(existing.name, DEMO_USER, None, already_seeded=True)
    rng = random.Random(seed)
    password = _new_password()
    org = _seed_org(password)
    summary = DemoSummary(org.name, DEMO_USER, password)
    start = (as_of - relativedelta(months=6)).replace(day=1)
    _seed_reference_rate(start)
    accounts = []
    for i, row in enumerate(CUSTOMERS):
        accounts.append((*_seed_customer(org, row, i, start, rng), row[-1]))
        summary.customers += 1
        report("Customers", i + 1, len(CUSTOMERS))
    _seed_payment_methods(org, [customer for customer, _contract, _profile in accounts], start, summary, report)
    # Month by month across all customers, so invoice numbers follow issue dates (a legal requirement in the EU).
    months = []
    month = start
    while month + relativedelta(months=1) <= as_of:
        months.append(month)
        month += relativedelta(months=1)
    pending = []
    total_invoices = len(months) * len(accounts)
    for month in months:
        for customer, contract, profile in accounts:
            invoice = _seed_invoice(org, customer, contract, month, rng)
            summary.invoices += 1
            pending.append((invoice, profile))
            report("Invoices", summary.invoices, total_invoices)
    summary.payments = _seed_payments(org, pending, as_of, rng, report)
    report("Billing run", 0, 1)
    summary.subscriptions, billed = _seed_billing(org, as_of)
    summary.invoices += billed
    report("Billing run", 1, 1)
    from duly.collections.services import ensure_setup

    ensure_setup(org)  # the shipped dunning policies, editable in the back office
    return summary


#: Stripe's test payment methods (docs.stripe.com/testing), one per card customer, and how each is shown: some
#: decline once saved, so autopay's retries and requests for a new card show too. Without a Stripe key the demo records them
#: under demo ids with the same brand, last four digits and expiry (no card data either way).
DEMO_CARDS = [
    ("pm_card_visa", "visa", "4242"),
    ("pm_card_mastercard", "mastercard", "4444"),
    ("pm_card_amex", "amex", "0005"),
    ("pm_card_visa_debit", "visa", "5556"),
    ("pm_card_chargeCustomerFail", "visa", "0341"),
    ("pm_card_authenticationRequired", "visa", "3184"),
]
#: DEMO DATA: the demo organization's SEPA creditor identifier (valid check digits, not a real creditor).
DEMO_CREDITOR_ID = "FR72ZZZ123456"


def _demo_iban(customer, n: int) -> str:
    """A valid, made-up IBAN in the customer's country (Germany for a country outside SEPA's IBAN formats)."""
    from schwifty import IBAN

    if customer.country == "FR":
        return IBAN.generate("FR", bank_code="30006", branch_code="00001", account_code=f"{4711 + n:011d}").compact
    if customer.country == "ES":
        return IBAN.generate("ES", bank_code="2100", branch_code="0418", account_code=f"{4711 + n:010d}").compact
    return IBAN.generate("DE", bank_code="37040044", account_code=f"{4711 + n:010d}").compact


def _seed_payment_methods(org, customers, start: date, summary: DemoSummary, report: Progress) -> None:
    """Cards on file for the customers who pay by card, mandates (and the creditor) for those paying by direct
    debit; the others pay by transfer. With ``DULY_STRIPE_SECRET_KEY`` set (Stripe's test mode, or the loopback
    fake through ``DULY_STRIPE_API_BASE``) each card is saved through a SetupIntent; without it, offline."""
    from django.conf import settings

    from duly.domain.errors import DomainError
    from duly.payments import method_services
    from duly.payments.providers.base import SavedMethod

    method_services.set_creditor(org, identifier=DEMO_CREDITOR_ID, name=org.trading_name or org.name)
    online = bool(getattr(settings, "DULY_STRIPE_SECRET_KEY", ""))
    for n, customer in enumerate(customers):
        report("Payment methods", n + 1, len(customers))
        method = customer.preferred_payment_method
        if method == "card":
            pm, brand, last4 = DEMO_CARDS[summary.cards % len(DEMO_CARDS)]
            saved = None
            if online:
                try:
                    saved = method_services.attach_method(org, customer, pm)
                except DomainError:  # Stripe unreachable, or the fake's test method already saved for another
                    saved = None
            if saved is None:
                summary.cards_offline += 1
                code = customer.code.lower()
                method_services.save_method(org, customer, SavedMethod(
                    "stripe", f"pm_demo_{code}", f"cus_demo_{code}", "card", brand=brand, last4=last4, exp_month=12,
                    exp_year=start.year + 4))
            summary.cards += 1
        elif method == "sepa_debit":
            method_services.add_mandate(org, customer, reference=f"BW-MDT-{customer.code}", signed_on=start,
                                        signed_at=customer.city, iban=_demo_iban(customer, n), as_of=start)
            summary.mandates += 1
        elif method == "bank_transfer":
            summary.transfers += 1


SEAT_TIERS = [("10", "49"), ("50", "39"), (None, "29")]  # EUR per seat per month, graduated


def _seed_billing(org, as_of: date) -> tuple[int, int]:
    """Seat subscriptions for French customers, billed in advance from the start of the current month."""
    from duly.billing import services as billing
    from duly.billing.run import run_billing
    from duly.customers.models import Customer

    product = billing.create_product(org, code="SEATS", name="Analytics platform seats", unit="C62",
                                     tax_category="S", tax_rate=VAT[org.country])
    price = billing.create_price(org, product, code="SEATS-EUR", currency="EUR", model_config={
        "model": "graduated", "tiers": [{"up_to": up, "unit_price": p} for up, p in SEAT_TIERS],
    })
    start = as_of.replace(day=1)
    customers = Customer.objects.filter(organization=org, country=org.country, segment__in=["agency", "healthcare"])
    subs = 0
    for i, customer in enumerate(customers.order_by("code")):
        billing.create_subscription(org, customer, [(price, 8 + 23 * i)], start_date=start, as_of=as_of,
                                    interval="monthly", anchor_day=1, reference=f"SUB-{customer.code}")
        subs += 1
    return subs, run_billing(org, as_of).invoices


#: DEMO DATA, not an official figure: a plausible ECB main refinancing operations rate, so the demo's EU
#: statutory contracts can state and charge their interest. Real rates are entered by the user
#: (`duly rates set` or the admin); the demo records this one only where no EUR rate is recorded.
DEMO_EUR_REFERENCE_RATE = Decimal("2.15")


def _seed_reference_rate(start: date) -> None:
    """Record the demo EUR reference rate from the semester the demo history starts in, unless the
    (shared) table already has a EUR rate in force then."""
    from duly.customers.models import StatutoryReferenceRate
    from duly.customers.services import record_reference_rate
    from duly.domain.late_fees import semester_start

    first = semester_start(start)
    if not StatutoryReferenceRate.objects.filter(series="EUR", valid_from__lte=first).exists():
        record_reference_rate(currency="EUR", valid_from=first, rate_percent=DEMO_EUR_REFERENCE_RATE)


def refuse_a_database_in_use() -> None:
    """The demo seeds an empty database or its own, and never touches a user it did not create."""
    from django.contrib.auth import get_user_model

    from duly.customers.models import Organization
    from duly.domain.errors import DemoDatabaseInUse

    others = Organization.objects.exclude(slug=DEMO_SLUG).count()
    if others:
        raise DemoDatabaseInUse(
            f"This database already holds {others} other organization{'s' if others > 1 else ''}: duly demo only "
            "seeds an empty database (set DULY_HOME or DATABASE_URL to another one).")
    if (not Organization.objects.filter(slug=DEMO_SLUG).exists()
            and get_user_model().objects.filter(username=DEMO_USER).exists()):
        raise DemoDatabaseInUse(
            f"A user named {DEMO_USER!r} already exists: duly demo never changes an existing user "
            "(set DULY_HOME or DATABASE_URL to an empty database).")


def _new_password() -> str:
    """A random admin password the password validators accept (16 URL-safe characters)."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    while True:
        password = secrets.token_urlsafe(12)
        try:
            validate_password(password)
        except DjangoValidationError:
            continue
        return password


@transaction.atomic
def _seed_org(password: str):
    from duly.customers import services

    org = services.create_organization(
        name="Brightwave Studio SAS", slug=DEMO_SLUG, trading_name="Brightwave", country="FR",
        default_currency="EUR", address_line1="27 rue du Faubourg Saint-Antoine", postcode="75011", city="Paris",
        vat_id="FR40303265045", registration_id="RCS Paris 303 265 045", iban="FR1420041010050500013M02606",
        bic="PSSTFRPPPAR", bank_name="La Banque Postale", email="billing@brightwave.example",
        phone="+33 1 84 88 00 00", website="https://brightwave.example", brand_color="#0B6E4F", locale="fr_FR",
        timezone="Europe/Paris",
    )
    services.add_member(org, username=DEMO_USER, email="admin@brightwave.example", password=password,
                        role="owner", superuser=True)
    return org


def _seed_customer(org, row, i, start, rng):
    from duly.customers import services

    code, name, country, city, postcode, street, currency, locale, tz, segment, profile = row
    first, last = FIRST_NAMES[country], LAST_NAMES[country]
    contacts = [
        {"name": f"{first[i % 3]} {last[i % 2]}", "email": f"ap@{code.lower()}.example", "role": "accounts_payable",
         "birthday": date(1980 + i % 20, 1 + i % 12, 1 + i % 28)},
        {"name": f"{first[(i + 1) % 3]} {last[(i + 1) % 2]}", "email": f"finance@{code.lower()}.example",
         "role": "billing"},
    ]
    required = []
    if i % 5 == 0:
        required.append("po_number")
    if i % 7 == 0:
        required.append("cost_centre")
    customer = services.create_customer(
        org, code=code, name=name, country=country, city=city, postcode=postcode, address_line1=street,
        currency=currency, locale=locale, timezone=tz, segment=segment, tags=[profile], contacts=contacts,
        required_fields=required, cost_centre=f"CC-{100 + i}" if "cost_centre" in required else "",
        tax_id={"FR": f"FR{10 + i}123456789", "DE": f"DE{100000000 + i * 7919}", "ES": f"ESB{10000000 + i}",
                "GB": f"GB{100000000 + i * 31}"}.get(country, ""),
        preferred_payment_method=["bank_transfer", "sepa_debit", "card", "bank_transfer"][i % 4]
        if currency == "EUR" else ["bank_transfer", "card", "ach_debit"][i % 3],
    )
    contract = services.create_contract(
        org, customer, reference=f"CTR-2026-{i + 1:03}", start_date=start, currency=currency,
        billing_frequency="monthly", po_number=f"PO-{4500 + i * 13}" if "po_number" in required else "",
        **TERMS[i % len(TERMS)],
        **(LATE_POLICIES[i % len(LATE_POLICIES)] if currency == "EUR" or i % len(LATE_POLICIES) != 0
           else LATE_POLICIES[1]),
    )
    return customer, contract


def _seed_invoice(org, customer, contract, month: date, rng):
    from duly.invoicing import services as inv_services

    category, rate, reason = _tax(org.country, customer.country)
    period_end = month + relativedelta(months=1) - timedelta(days=1)
    catalog = SERVICES[customer.segment]
    lines = []
    for desc, unit, price in rng.sample(catalog, k=min(len(catalog), rng.randint(1, 2))):
        qty = Decimal(1) if unit == "MON" else Decimal(rng.randint(2, 12 if unit == "DAY" else 40))
        lines.append(inv_services.LineData(
            description=f"{desc} — {month:%B %Y}", quantity=qty, unit=unit, unit_price=Decimal(price),
            tax_category=category, tax_rate=rate, tax_exemption_reason=reason, period_start=month,
            period_end=period_end,
        ))
    draft = inv_services.create_draft(org, customer, lines, contract=contract, service_period=(month, period_end))
    return inv_services.issue_invoice(org, draft.pk, issue_date=period_end + timedelta(days=1))


def _seed_payments(org, pending, as_of: date, rng, report: Progress = _no_progress) -> int:
    from duly.domain.money import round_money
    from duly.payments.services import record_payment

    plans = []
    for invoice, profile in pending:
        paid_on, fraction = _payment_plan(profile, invoice.due_date, rng)
        if paid_on is not None and paid_on <= as_of:
            plans.append((paid_on, invoice, fraction))
    count = 0
    for done, (paid_on, invoice, fraction) in enumerate(sorted(plans, key=lambda p: (p[0], p[1].pk)), 1):
        report("Payments", done, len(plans))
        invoice.refresh_from_db()
        if invoice.balance <= 0:
            continue
        amount = invoice.balance if fraction >= 1 else round_money(invoice.balance * fraction, invoice.currency,
                                                                    ROUND_HALF_UP)
        if amount > 0:
            record_payment(org, invoice.customer, amount=amount, currency=invoice.currency,
                           method=invoice.customer.preferred_payment_method, received_on=paid_on,
                           external_reference=f"DEMO-{invoice.number}", allocations={invoice.pk: amount})
            count += 1
    return count


def _payment_plan(profile: str, due: date, rng: random.Random) -> tuple[date | None, Decimal]:
    if profile == "reliable":
        return due - timedelta(days=rng.randint(0, 6)), Decimal(1)
    if profile == "late":
        return due + timedelta(days=rng.randint(8, 35)), Decimal(1)
    if profile == "partial":
        return due + timedelta(days=rng.randint(-3, 20)), Decimal(rng.choice(["0.5", "0.6", "1", "1"]))
    # chronic: often very late, sometimes never
    if rng.random() < 0.35:
        return None, Decimal(0)
    return due + timedelta(days=rng.randint(30, 90)), Decimal(rng.choice(["0.4", "1"]))
