"""Writes for organizations, customers, contacts and contracts. Each function is one transaction."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from duly.domain.errors import NotFound, ValidationError
from duly.domain.money import check_currency, to_minor, round_money

from .models import REQUIRED_FIELD_CHOICES, Contact, Contract, Customer, Membership, Organization

_HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
REQUIRED_FIELD_CODES = {code for code, _ in REQUIRED_FIELD_CHOICES}


def validate_country(code: str, what: str = "country") -> str:
    import holidays  # the holidays package knows the ISO 3166 list we rely on for calendars

    if not isinstance(code, str) or len(code) != 2 or not code.isalpha() or not code.isupper():
        raise ValidationError(f"{what} must be an ISO 3166-1 alpha-2 code such as FR or US, got {code!r}.")
    known = set(holidays.list_supported_countries())
    from babel import Locale as _L

    if code not in known and code not in _L("en").territories:
        raise ValidationError(f"Unknown {what} code {code!r}.")
    return code


def validate_locale(value: str) -> str:
    try:
        Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValidationError(f"Unknown locale {value!r}: use a code such as en, fr_FR or de_DE.") from None
    return value


def validate_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"Unknown time zone {value!r}: use an IANA name such as Europe/Paris.") from None
    return value


def validate_bank_details(iban: str, bic: str) -> tuple[str, str]:
    """Validate with schwifty; returns the normalised (compact) forms."""
    iban_c = bic_c = ""
    if iban:
        try:
            iban_c = IBAN(iban).compact
        except SchwiftyException as exc:
            raise ValidationError(f"Invalid IBAN {iban!r}: {exc}", code="invalid_iban") from None
    if bic:
        try:
            bic_c = BIC(bic).compact
        except SchwiftyException as exc:
            raise ValidationError(f"Invalid BIC {bic!r}: {exc}", code="invalid_bic") from None
    return iban_c, bic_c


def _validate_org_fields(data: dict) -> dict:
    if not data.get("name"):
        raise ValidationError("An organization needs a legal name.")
    validate_country(data.get("country", ""), "organization country")
    check_currency(data.get("default_currency", "EUR"))
    validate_locale(data.get("locale", "en"))
    validate_timezone(data.get("timezone", "UTC"))
    color = data.get("brand_color", "#1F4E79")
    if not _HEX_COLOR.match(color):
        raise ValidationError(f"Brand colour must look like #1F4E79, got {color!r}.")
    data["iban"], data["bic"] = validate_bank_details(data.get("iban", ""), data.get("bic", ""))
    return data


@transaction.atomic
def create_organization(*, name: str, slug: str | None = None, **fields) -> Organization:
    from duly.invoicing.services import ensure_number_series

    data = _validate_org_fields({"name": name, **fields})
    data["slug"] = slug or slugify(name)[:50] or "org"
    if Organization.objects.filter(slug=data["slug"]).exists():
        raise ValidationError(f"An organization with the slug {data['slug']!r} already exists.", code="duplicate")
    org = Organization.objects.create(**data)
    ensure_number_series(org)
    return org


@transaction.atomic
def add_member(org: Organization, *, username: str, email: str = "", password: str | None = None,
               role: str = "owner", superuser: bool = False):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password or len(password) < 8:
            raise ValidationError("The admin password must have at least 8 characters.")
        user = User.objects.create_user(username=username, email=email, password=password)
    user.is_staff = True
    if superuser:
        user.is_superuser = True
    user.save()
    if not superuser:
        from django.contrib.auth.models import Permission

        perms = Permission.objects.filter(content_type__app_label__in=[
            "customers", "billing", "invoicing", "payments", "collections", "messaging", "insights",
        ])
        user.user_permissions.add(*perms)
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
    return user


def _customer_fields(org: Organization, data: dict) -> dict:
    if not data.get("name"):
        raise ValidationError("A customer needs a legal name.")
    data.setdefault("currency", org.default_currency)
    check_currency(data["currency"])
    validate_country(data.get("country", ""), f"country of customer {data['name']}")
    validate_locale(data.get("locale", "en"))
    validate_timezone(data.get("timezone", "UTC"))
    unknown = set(data.get("required_fields", [])) - REQUIRED_FIELD_CODES
    if unknown:
        raise ValidationError(
            f"Unknown required invoice field(s) {sorted(unknown)}; choose from {sorted(REQUIRED_FIELD_CODES)} "
            "or declare them as custom fields."
        )
    if data.get("status", Customer.STATUS_ACTIVE) not in dict(Customer.STATUS_CHOICES):
        raise ValidationError(f"Unknown customer status {data.get('status')!r}.")
    return data


@transaction.atomic
def create_customer(org: Organization, *, code: str, name: str, contacts: list[dict] = (), **fields) -> Customer:
    data = _customer_fields(org, {"name": name, **fields})
    if Customer.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Customer code {code!r} is already used in {org.name}.", code="duplicate")
    customer = Customer.objects.create(organization=org, code=code, **data)
    for c in contacts:
        add_contact(customer, **c)
    return customer


@transaction.atomic
def update_customer(customer: Customer, **fields) -> Customer:
    data = _customer_fields(customer.organization, {"name": customer.name, "country": customer.country,
                                                   "currency": customer.currency, **fields})
    for k, v in data.items():
        setattr(customer, k, v)
    customer.save()
    return customer


def add_contact(customer: Customer, *, name: str, email: str = "", role: str = "billing", **fields) -> Contact:
    if not name:
        raise ValidationError(f"A contact of {customer.name} needs a name.")
    if role not in dict(Contact.ROLE_CHOICES):
        raise ValidationError(f"Unknown contact role {role!r}.")
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        raise ValidationError(f"Invalid email address {email!r} for contact {name}.")
    return Contact.objects.create(organization=customer.organization, customer=customer, name=name, email=email,
                                  role=role, **fields)


def _minor_or_none(value, currency: str) -> int | None:
    if value is None or value == "":
        return None
    return to_minor(round_money(value, currency), currency)


@transaction.atomic
def create_contract(org: Organization, customer: Customer, *, reference: str, start_date: date,
                    currency: str | None = None, late_fixed_fee: Decimal | str | None = None,
                    late_cap: Decimal | str | None = None, compensation: Decimal | str | None = None,
                    deposit_amount: Decimal | str | None = None, **fields) -> Contract:
    """Create a contract, validating terms and late-fee policy through the pure domain classes."""
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    currency = currency or customer.currency
    check_currency(currency)
    if Contract.objects.filter(organization=org, reference=reference).exists():
        raise ValidationError(f"Contract reference {reference!r} is already used.", code="duplicate")
    contract = Contract(
        organization=org, customer=customer, reference=reference, start_date=start_date, currency=currency,
        late_fixed_fee_minor=_minor_or_none(late_fixed_fee, currency) or 0,
        late_cap_minor=_minor_or_none(late_cap, currency),
        compensation_minor=_minor_or_none(compensation, currency),
        deposit_amount_minor=_minor_or_none(deposit_amount, currency) or 0,
        **fields,
    )
    if contract.end_date and contract.end_date < contract.start_date:
        raise ValidationError(f"Contract {reference}: the end date is before the start date.")
    # Building the domain objects validates them (InvalidTerms / ValidationError with a clear message).
    contract.customer = customer
    contract.payment_terms()
    contract.late_fee_policy()
    contract.save()
    return contract


def current_contract(customer: Customer, as_of: date) -> Contract | None:
    return (
        Contract.objects.filter(customer=customer, start_date__lte=as_of)
        .exclude(end_date__lt=as_of)
        .order_by("-start_date", "-id")
        .first()
    )
