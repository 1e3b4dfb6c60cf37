"""Writes for organizations, customers, contacts and contracts. Each function is one transaction."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as FieldValueError
from django.db import models, transaction
from django.utils.text import slugify
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from duly.domain.bounds import EARLIEST_STORED_DATE, check_date_range, check_decimal, check_minor
from duly.domain.calendar import check_subdivision
from duly.domain.errors import (
    InvalidChoice,
    InvalidPassword,
    LastOwner,
    NotFound,
    NumberOutOfRange,
    RoleNotAllowed,
    ValidationError,
    ValueOutOfRange,
)
from duly.domain.money import check_currency, round_money, to_decimal, to_minor

from . import roles
from .endpoints import check_electronic_address
from .models import (
    REQUIRED_FIELD_CHOICES,
    Contact,
    Contract,
    Customer,
    Membership,
    Organization,
    StatutoryReferenceRate,
)
from .signals import contract_made, customer_created, organization_created

_HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
REQUIRED_FIELD_CODES = {code for code, _ in REQUIRED_FIELD_CHOICES}


def _after_commit(signal, sender, **kwargs) -> None:
    """Send ``signal`` once the current transaction commits (never if it rolls back); a receiver's error is
    logged by Django (``robust``) and never undoes nor refuses what was written."""
    transaction.on_commit(lambda: signal.send(sender=sender, **kwargs), robust=True)


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


def validate_organization_fields(data: dict) -> dict:
    """Check a seller's details (country, currency, locale, time zone, brand colour, IBAN/BIC); returns them cleaned."""
    if not data.get("name"):
        raise ValidationError("An organization needs a legal name.")
    validate_country(data.get("country", ""), "organization country")
    data["subdivision"] = check_subdivision(data["country"], data.get("subdivision"))
    check_currency(data.get("default_currency", "EUR"))
    validate_locale(data.get("locale", "en"))
    validate_timezone(data.get("timezone", "UTC"))
    color = data.get("brand_color", "#1F4E79")
    if not _HEX_COLOR.match(color):
        raise ValidationError(f"Brand colour must look like #1F4E79, got {color!r}.")
    data["iban"], data["bic"] = validate_bank_details(data.get("iban", ""), data.get("bic", ""))
    _check_endpoint(data, "organization's electronic address")
    if data.get("share_capital_minor") is not None and int(data["share_capital_minor"]) < 0:
        raise ValidationError("The share capital cannot be negative.")
    data["supply_kind"] = data.get("supply_kind") or "services"
    if data["supply_kind"] not in dict(Organization.SUPPLY_KIND_CHOICES):
        raise ValidationError("What the organization sells must be services, goods or mixed.")
    data["tax_number"] = " ".join(str(data.get("tax_number") or "").split())
    return data


def _check_endpoint(data: dict, what: str) -> None:
    """The electronic address (Peppol EAS scheme + identifier), checked by its scheme, when either is given."""
    if "electronic_address_scheme" in data or "electronic_address" in data:
        data["electronic_address_scheme"], data["electronic_address"] = check_electronic_address(
            data.get("electronic_address_scheme", ""), data.get("electronic_address", ""), what)


@transaction.atomic
def create_organization(*, name: str, slug: str | None = None, **fields) -> Organization:
    """Create a seller; the apps above make what it needs (invoicing: its number series) on
    :data:`~duly.customers.signals.organization_created`, in this transaction."""
    data = validate_organization_fields({"name": name, **fields})
    data["slug"] = slug or slugify(name)[:50] or "org"
    if Organization.objects.filter(slug=data["slug"]).exists():
        raise ValidationError(f"An organization with the slug {data['slug']!r} already exists.", code="duplicate")
    org = Organization.objects.create(**data)
    organization_created.send(sender=Organization, organization=org)
    return org


#: Organization fields a back-office user may change (the slug names it in URLs and exports, so it stays).
ORGANIZATION_EDITABLE = ("name", "trading_name", "address_line1", "address_line2", "postcode", "city", "country",
                         "subdivision", "vat_id", "registration_id", "iban", "bic", "bank_name", "email", "phone", "website",
                         "electronic_address_scheme", "electronic_address", "logo", "brand_color", "default_currency", "locale", "timezone",
                         "legal_form", "share_capital_minor", "registry_city", "tax_number", "supply_kind")


@transaction.atomic
def update_organization(org: Organization, **fields) -> Organization:
    """Change a seller's details, validated as at creation. Issued invoices keep the details they were issued with."""
    unknown = sorted(set(fields) - set(ORGANIZATION_EDITABLE))
    if unknown:
        raise ValidationError(f"These organization fields cannot be changed: {', '.join(unknown)}.")
    org = Organization.objects.select_for_update().get(pk=org.pk)
    current = {name: getattr(org, name) for name in ORGANIZATION_EDITABLE}
    data = validate_organization_fields({**current, **fields})
    for name in ORGANIZATION_EDITABLE:
        setattr(org, name, data[name])
    org.save(update_fields=list(ORGANIZATION_EDITABLE))
    return org


def validate_password_for(password: str | None, *, username: str, email: str = "") -> str:
    """Check a new back-office password with Django's configured validators (AUTH_PASSWORD_VALIDATORS)."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    if not password:
        raise InvalidPassword(f"A password is required for the new user {username!r}.")
    try:
        validate_password(password, user=get_user_model()(username=username, email=email))
    except DjangoValidationError as exc:
        raise InvalidPassword(f"The password for {username!r} is refused: {' '.join(exc.messages)}") from None
    return password


def _check_role(role: str) -> None:
    if role not in dict(Membership.ROLE_CHOICES):
        raise InvalidChoice(f"Unknown role {role!r}; choose from {sorted(dict(Membership.ROLE_CHOICES))}.")


def _check_manager(org_id: int, by) -> None:
    """``by`` (the user acting, None for the command line) must be allowed to manage this organization's members."""
    if by is None:
        return
    roles.forget_roles(by)  # read the roles as they are now, not as this user object first saw them
    if not roles.has_permission(by, org_id, "manage_members"):
        raise RoleNotAllowed("Only an owner of the organization manages its members.")


def _owners_left(org_id: int, leaving: Iterable[int]) -> bool:
    return Membership.objects.filter(organization_id=org_id, role=roles.OWNER).exclude(pk__in=list(leaving)).exists()


def _last_owner(membership: Membership) -> LastOwner:
    return LastOwner(f"{membership.user} is the last owner of {membership.organization}: make another member "
                     "owner first.")


def check_member_role_change(membership: Membership, role: str) -> None:
    """Refuse a role that does not exist, or demoting the organization's last owner (:class:`LastOwner`)."""
    _check_role(role)
    if membership.pk is None:
        return
    current = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    if current == roles.OWNER and role != roles.OWNER and not _owners_left(membership.organization_id,
                                                                          [membership.pk]):
        raise _last_owner(membership)


def check_members_removal(memberships: list[Membership]) -> None:
    """Refuse removing memberships that would leave one of their organizations without an owner."""
    by_org: dict[int, list[Membership]] = {}
    for m in memberships:
        by_org.setdefault(m.organization_id, []).append(m)
    for org_id, leaving in by_org.items():
        owners = [m for m in leaving if Membership.objects.filter(pk=m.pk, role=roles.OWNER).exists()]
        if owners and not _owners_left(org_id, [m.pk for m in leaving]):
            raise _last_owner(owners[0])


def _lock_organizations(org_ids: Iterable[int]) -> None:
    """Membership changes of one organization happen one at a time (the last-owner rule reads, then writes)."""
    list(Organization.objects.select_for_update().filter(pk__in=sorted(set(org_ids))).values_list("pk", flat=True))


@transaction.atomic
def add_member(org: Organization, *, username: str, email: str = "", password: str | None = None,
               role: str = "owner", superuser: bool = False, by=None):
    """Give a back-office user access to ``org`` (creating the user, with a validated password, if new).

    ``by``: the back-office user doing it (only an owner may); None from the command line."""
    User = get_user_model()
    if not username or not username.strip():
        raise ValidationError("A back-office user needs a user name.")
    _check_role(role)
    _check_manager(org.pk, by)
    user = User.objects.filter(username=username).first()
    if user is None:
        validate_password_for(password, username=username, email=email)
        user = User.objects.create_user(username=username, email=email, password=password)
    user.is_staff = True
    if superuser:
        user.is_superuser = True
    user.save()
    if not superuser:
        from django.contrib.auth.models import Permission

        perms = Permission.objects.filter(content_type__app_label__in=[
            "customers", "billing", "invoicing", "payments", "collections", "messaging", "insights", "api", "portal",
        ])
        user.user_permissions.add(*perms)
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
    return user


@transaction.atomic
def set_member_role(membership: Membership, role: str, *, by=None) -> Membership:
    """Change what a back-office user may do for one organization (docs/roles.md).

    Refused: an unknown role (``invalid_choice``), ``by`` not an owner (``role_not_allowed``), demoting the
    organization's last owner (``last_owner``)."""
    _check_role(role)
    _lock_organizations([membership.organization_id])
    membership = Membership.objects.select_for_update().select_related("user", "organization").get(pk=membership.pk)
    _check_manager(membership.organization_id, by)
    check_member_role_change(membership, role)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def set_member_language(membership: Membership, language: str, *, by=None) -> Membership:
    """Choose the back office's language for a member (blank: their browser's). The member themselves or an
    owner of the organization may. Refused: an unknown language (``invalid_choice``), anyone else
    (``role_not_allowed``)."""
    from django.conf import settings

    if language and language not in dict(settings.LANGUAGES):
        raise InvalidChoice(f"Unknown language {language!r}; choose from {sorted(dict(settings.LANGUAGES))}.")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if by is not None and by.pk != membership.user_id:
        _check_manager(membership.organization_id, by)
    membership.language = language
    membership.save(update_fields=["language"])
    return membership


@transaction.atomic
def remove_members(memberships: Iterable[Membership], *, by=None) -> int:
    """Take back-office users off organizations, all or none. Refused: ``by`` not an owner of each
    organization (``role_not_allowed``), leaving an organization without an owner (``last_owner``)."""
    ids = [m.pk for m in memberships]
    current = list(Membership.objects.filter(pk__in=ids).select_related("user", "organization"))
    _lock_organizations(m.organization_id for m in current)
    for org_id in {m.organization_id for m in current}:
        _check_manager(org_id, by)
    check_members_removal(current)
    deleted, _ = Membership.objects.filter(pk__in=[m.pk for m in current]).delete()
    return deleted


@transaction.atomic
def set_up_organization(*, admin_username: str, admin_password: str | None, admin_email: str = "",
                        name: str, slug: str | None = None, **fields):
    """``duly init``: an organization and its owner, in one transaction; nothing is written if either is refused.

    The password is checked (Django's validators) before anything is written. An existing user keeps
    their password and is made an owner of the new organization.
    """
    if not admin_username or not admin_username.strip():
        raise ValidationError("An admin user name is required.")
    if not get_user_model().objects.filter(username=admin_username).exists():
        validate_password_for(admin_password, username=admin_username, email=admin_email)
    org = create_organization(name=name, slug=slug, **fields)
    user = add_member(org, username=admin_username, email=admin_email, password=admin_password, role="owner")
    return org, user


_POSITIVE_INTEGER_FIELDS = (models.PositiveIntegerField, models.PositiveSmallIntegerField,
                            models.PositiveBigIntegerField)
#: Longest customer tag accepted.
TAG_MAX_LENGTH = 60


#: Text no database column stores: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _label(field: models.Field) -> str:
    return str(field.verbose_name)


def check_model_values(model: type[models.Model], data: dict, what: str) -> dict:
    """Check values against the model's own field definitions before anything is written.

    Unknown fields, values outside a field's choices, text longer than the column (or holding a NUL
    character or a lone surrogate, which no database stores), negative values of positive fields,
    whole numbers outside the column's range (amounts in minor units: :data:`~duly.domain.bounds.MAX_MINOR`),
    decimals the column does not store exactly (:func:`~duly.domain.bounds.check_decimal`), floats and
    wrong types are refused with a clear message naming ``what`` and the field. Decimals are normalised.
    """
    for name, value in list(data.items()):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            raise ValidationError(f"{what}: unknown field {name!r}.", field=name) from None
        if not field.concrete or field.is_relation:
            continue
        label = _label(field)
        if value is None:
            if not field.null:
                raise ValidationError(f"{what}: {label} cannot be empty.", field=name)
            continue
        if field.choices:
            allowed = [code for code, _ in field.flatchoices]
            if value not in allowed and not (field.blank and value == ""):  # blank: the field's "none chosen"
                raise InvalidChoice(
                    f"{what}: {value!r} is not a valid {label}; choose from {', '.join(repr(a) for a in allowed)}.",
                    field=name, value=str(value),
                )
        if isinstance(field, (models.CharField, models.TextField)):
            if not isinstance(value, str):
                raise ValidationError(f"{what}: {label} must be text, got {value!r}.", field=name)
            if field.max_length and len(value) > field.max_length:
                raise ValueOutOfRange(
                    f"{what}: {label} has {len(value)} characters; at most {field.max_length} are allowed.",
                    field=name,
                )
            if _UNSTORABLE.search(value):
                raise ValidationError(f"{what}: {label} holds a NUL character or text that is not valid UTF-8.",
                                      field=name)
        elif isinstance(field, models.DecimalField):
            try:
                data[name] = check_decimal(value, max_digits=field.max_digits, decimal_places=field.decimal_places,
                                           what=f"{what}: {label}")
            except NumberOutOfRange as exc:
                raise NumberOutOfRange(exc.message, field=name) from None
        elif isinstance(field, models.BooleanField):
            if not isinstance(value, bool):
                raise ValidationError(f"{what}: {label} must be true or false, got {value!r}.", field=name)
        elif isinstance(field, models.IntegerField):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError(f"{what}: {label} must be a whole number, got {value!r}.", field=name)
            if isinstance(field, _POSITIVE_INTEGER_FIELDS) and value < 0:
                raise ValueOutOfRange(f"{what}: {label} cannot be negative ({value}).", field=name)
            if name.endswith("_minor"):
                check_minor(value, f"{what}: {label}")
        elif isinstance(field, models.DateTimeField):
            if not isinstance(value, datetime):
                raise ValidationError(f"{what}: {label} must be a date and time, got {value!r}.", field=name)
            check_date_range(value, f"{what}: {label}", earliest=EARLIEST_STORED_DATE)
        elif isinstance(field, models.DateField):
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ValidationError(f"{what}: {label} must be a date, got {value!r}.", field=name)
            check_date_range(value, f"{what}: {label}", earliest=EARLIEST_STORED_DATE)
        if isinstance(field, models.EmailField):
            continue  # _check_email says more: it names the address and whose it is
        try:
            field.run_validators(data[name])  # the field's own validators (e.g. the contract's billing day)
        except FieldValueError as exc:
            raise ValidationError(f"{what}: {label}: {' '.join(exc.messages)}", field=name) from None
    return data


def _check_text_list(value, what: str, *, max_length: int | None = None) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise ValidationError(f"{what} must be a list of texts, got {value!r}.")
    items = [x.strip() for x in value]
    if any(not x for x in items):
        raise ValidationError(f"{what} cannot contain empty entries.")
    if max_length is not None:
        long = [x for x in items if len(x) > max_length]
        if long:
            raise ValueOutOfRange(f"{what}: {long[0]!r} is longer than {max_length} characters.")
    return list(dict.fromkeys(items))


def _customer_fields(org: Organization, data: dict) -> dict:
    if not data.get("name") or not str(data["name"]).strip():
        raise ValidationError("A customer needs a legal name.")
    what = f"Customer {data['name']}"
    data.setdefault("currency", org.default_currency)
    for protected in ("organization", "id", "created_at", "pay_link_version"):
        if protected in data:
            raise ValidationError(f"{what}: {protected} cannot be set.")
    _check_endpoint(data, f"electronic address of customer {data['name']}")
    check_model_values(Customer, data, what)
    check_currency(data["currency"])
    validate_country(data.get("country", ""), f"country of customer {data['name']}")
    if "subdivision" in data:
        data["subdivision"] = check_subdivision(data["country"], data["subdivision"])
    validate_locale(data.get("locale", "en"))
    validate_timezone(data.get("timezone", "UTC"))
    if "tags" in data:
        data["tags"] = _check_text_list(data["tags"], f"{what}: tags", max_length=TAG_MAX_LENGTH)
    if "custom_required_fields" in data:
        data["custom_required_fields"] = _check_text_list(data["custom_required_fields"],
                                                          f"{what}: custom required fields", max_length=100)
    if "required_fields" in data:
        required = _check_text_list(data["required_fields"], f"{what}: required invoice fields")
        unknown = set(required) - REQUIRED_FIELD_CODES
        if unknown:
            raise InvalidChoice(
                f"Unknown required invoice field(s) {sorted(unknown)}; choose from {sorted(REQUIRED_FIELD_CODES)} "
                "or declare them as custom fields."
            )
        data["required_fields"] = required
    if data.get("email"):
        _check_email(data["email"], what)
    return data


def _check_email(email: str, what: str) -> None:
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.core.validators import validate_email

    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError(f"Invalid email address {email!r} for {what}.", field="email") from None


@transaction.atomic
def create_customer(org: Organization, *, code: str, name: str, contacts: list[dict] = (), **fields) -> Customer:
    if not code or not str(code).strip():
        raise ValidationError("A customer needs a code.")
    data = _customer_fields(org, {"name": name, **fields})
    check_model_values(Customer, {"code": code}, f"Customer {name}")
    if Customer.objects.filter(organization=org, code=code).exists():
        raise ValidationError(f"Customer code {code!r} is already used in {org.name}.", code="duplicate")
    customer = Customer.objects.create(organization=org, code=code, **data)
    for c in contacts:
        add_contact(customer, **c)
    _after_commit(customer_created, Customer, customer=customer)
    return customer


@transaction.atomic
def update_customer(customer: Customer, **fields) -> Customer:
    if "code" in fields and fields["code"] != customer.code:
        code = fields["code"]
        check_model_values(Customer, {"code": code}, f"Customer {customer.name}")
        if not code or Customer.objects.filter(organization_id=customer.organization_id, code=code).exclude(
                pk=customer.pk).exists():
            raise ValidationError(f"Customer code {code!r} is empty or already used.", code="duplicate")
    data = _customer_fields(customer.organization, {"name": customer.name, "country": customer.country,
                                                   "subdivision": customer.subdivision,
                                                   "currency": customer.currency,
                                                   "electronic_address_scheme": customer.electronic_address_scheme,
                                                   "electronic_address": customer.electronic_address, **fields})
    for k, v in data.items():
        setattr(customer, k, v)
    customer.save(update_fields=list(data))  # never the pay link version a concurrent rotation just changed
    return customer


@transaction.atomic
def set_credit_limit(customer: Customer, amount: Decimal | str | None, currency: str | None = None) -> Customer:
    """Set (or with ``None`` lift) the customer's credit limit, in ``currency`` (default: the customer's)."""
    currency = (currency or customer.currency).upper()
    check_currency(currency)
    minor = _minor_or_none(amount, currency, f"Credit limit of customer {customer.name}")
    if minor is not None and minor < 0:
        raise ValidationError("A credit limit cannot be negative.")
    Customer.objects.filter(pk=customer.pk).update(credit_limit_minor=minor,
                                                   credit_limit_currency=currency if minor is not None else "")
    customer.credit_limit_minor, customer.credit_limit_currency = minor, currency if minor is not None else ""
    return customer


@transaction.atomic
def rotate_pay_links(customer: Customer) -> int:
    """Revoke every personal pay link made so far for ``customer``: the links carry the customer's key
    version, which goes up by one. Messages sent from now on carry links of the new version; the
    links printed on documents already issued stop working too (docs/pay-links.md). Returns the new version."""
    updated = Customer.objects.filter(pk=customer.pk, organization_id=customer.organization_id).update(
        pay_link_version=models.F("pay_link_version") + 1)
    if not updated:
        raise NotFound("That customer does not exist.")
    customer.pay_link_version = Customer.objects.values_list("pay_link_version", flat=True).get(pk=customer.pk)
    return customer.pay_link_version


def validate_customer(org: Organization, data: dict, *, code: str | None = None,
                      instance: Customer | None = None) -> dict:
    """The checks :func:`create_customer` / :func:`update_customer` run, for a form to show them first."""
    data = _customer_fields(org, data)
    if code is not None:
        if not code.strip():
            raise ValidationError("A customer needs a code.")
        check_model_values(Customer, {"code": code}, f"Customer {data['name']}")
        taken = Customer.objects.filter(organization=org, code=code)
        if instance is not None and instance.pk:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise ValidationError(f"Customer code {code!r} is already used in {org.name}.", code="duplicate")
    return data


def check_contact(data: dict, customer_name: str = "the customer") -> dict:
    """The checks every contact passes (name, role, email, locale, lengths)."""
    name = data.get("name")
    if not name or not str(name).strip():
        raise ValidationError(f"A contact of {customer_name} needs a name.")
    what = f"Contact {name} of {customer_name}"
    for protected in ("organization", "customer", "id"):
        if protected in data:
            raise ValidationError(f"{what}: {protected} cannot be set.")
    check_model_values(Contact, data, what)
    if data.get("email"):
        _check_email(data["email"], f"contact {name}")
    if data.get("locale"):
        validate_locale(data["locale"])
    return data


@transaction.atomic
def add_contact(customer: Customer, *, name: str, email: str = "", role: str = "billing", **fields) -> Contact:
    data = check_contact({"name": name, "email": email, "role": role, **fields}, customer.name)
    return Contact.objects.create(organization=customer.organization, customer=customer, **data)


@transaction.atomic
def update_contact(contact: Contact, **fields) -> Contact:
    data = check_contact({"name": contact.name, **fields}, contact.customer.name)
    for k, v in data.items():
        setattr(contact, k, v)
    contact.save()
    return contact


@transaction.atomic
def remove_contact(contact: Contact) -> None:
    """Remove a contact; the messages and tasks already addressed to them stay, without the contact link."""
    Contact.objects.filter(pk=contact.pk).delete()


#: Contract amounts given in major units (``late_fixed_fee="40.00"``) and the minor-unit column they fill.
CONTRACT_AMOUNTS = {
    "late_fixed_fee": "late_fixed_fee_minor",
    "late_cap": "late_cap_minor",
    "compensation": "compensation_minor",
    "deposit_amount": "deposit_amount_minor",
}
_CONTRACT_NOT_NULL_AMOUNTS = ("late_fixed_fee_minor", "deposit_amount_minor")


def _minor_or_none(value, currency: str, what: str) -> int | None:
    if value is None or value == "":
        return None
    amount = to_decimal(value)
    if round_money(amount, currency) != amount:
        raise ValueOutOfRange(f"{what}: {amount} has more decimals than {currency} allows.")
    return to_minor(amount, currency)


def _percent_in_range(value, label: str, what: str, *, high: Decimal | None = None) -> None:
    if value is None:
        return
    number = Decimal(value)
    if number < 0 or (high is not None and number > high):
        bound = f"between 0 and {high}" if high is not None else "0 or more"
        raise ValueOutOfRange(f"{what}: {label} must be {bound} percent, got {number.normalize():f}.")


def validate_contract(contract: Contract) -> Contract:
    """Every rule a contract must meet, on an unsaved or changed instance (services and the admin form)."""
    what = f"Contract {contract.reference or '(no reference)'}"
    if not contract.reference or not contract.reference.strip():
        raise ValidationError("A contract needs a reference.")
    check_currency(contract.currency)
    if contract.start_date is None:
        raise ValidationError(f"{what}: a start date is required.")
    for field in Contract._meta.concrete_fields:  # (the admin form saves through here too)
        value = getattr(contract, field.attname)
        if isinstance(field, models.DateField) and isinstance(value, date):
            check_date_range(value, f"{what}: {_label(field)}", earliest=EARLIEST_STORED_DATE)
    if contract.end_date and contract.end_date < contract.start_date:
        raise ValidationError(f"{what}: the end date ({contract.end_date.isoformat()}) is before the start date "
                              f"({contract.start_date.isoformat()}).")
    for name in ("late_fixed_fee_minor", "late_cap_minor", "compensation_minor", "deposit_amount_minor"):
        value = getattr(contract, name)
        if value is not None and value < 0:
            raise ValueOutOfRange(f"{what}: {_label(Contract._meta.get_field(name))} cannot be negative.")
    _percent_in_range(contract.late_rate_percent, "the late-payment rate", what)
    _percent_in_range(contract.late_cap_percent, "the late-charge cap", what)
    _percent_in_range(contract.deposit_percent, "the deposit", what, high=Decimal(100))
    if contract.deposit_kind == "percent" and not Decimal(contract.deposit_percent or 0) > 0:
        raise ValueOutOfRange(f"{what}: a percentage deposit needs a percentage above 0.")
    if contract.deposit_kind == "amount" and not (contract.deposit_amount_minor or 0) > 0:
        raise ValueOutOfRange(f"{what}: a fixed deposit needs an amount above 0.")
    deposit_given = (contract.deposit_amount_minor or 0) or Decimal(contract.deposit_percent or 0)
    if contract.deposit_kind == "none" and deposit_given:
        raise ValidationError(f"{what}: a deposit amount or percentage is given but the deposit kind is 'none'.")
    if contract.customer_id is not None and contract.customer.organization_id != contract.organization_id:
        raise NotFound(f"{what}: the customer is not in this organization.")
    # Building the domain objects validates the terms and the policy (InvalidTerms / ValidationError).
    # An EU statutory contract without its own reference rate follows the recorded rates: none are
    # needed to agree the terms (a missing rate is reported when interest is charged or stated).
    contract.payment_terms()
    contract.late_fee_policy({})
    return contract


def _apply_contract_fields(contract: Contract, fields: dict, amounts: dict) -> None:
    what = f"Contract {fields.get('reference') or contract.reference}"
    for protected in ("organization", "customer", "id", "created_at"):
        if protected in fields:
            raise ValidationError(f"{what}: {protected} cannot be set here.")
    check_model_values(Contract, fields, what)
    for k, v in fields.items():
        setattr(contract, k, v)
    for major, value in amounts.items():
        minor_name = CONTRACT_AMOUNTS[major]
        if value is None:
            continue
        if minor_name in fields:
            raise ValidationError(f"{what}: give either {major} or {minor_name}, not both.")
        minor = _minor_or_none(value, contract.currency, what)
        setattr(contract, minor_name, minor if minor is not None or minor_name not in _CONTRACT_NOT_NULL_AMOUNTS else 0)


@transaction.atomic
def create_contract(org: Organization, customer: Customer, *, reference: str, start_date: date,
                    currency: str | None = None, late_fixed_fee: Decimal | str | None = None,
                    late_cap: Decimal | str | None = None, compensation: Decimal | str | None = None,
                    deposit_amount: Decimal | str | None = None, **fields) -> Contract:
    """Create a contract, validating every value, the terms and the late-fee policy before writing."""
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    currency = currency or customer.currency
    check_currency(currency)
    contract = Contract(organization=org, customer=customer, currency=currency)
    _apply_contract_fields(contract, {"reference": reference, "start_date": start_date, **fields},
                           {"late_fixed_fee": late_fixed_fee, "late_cap": late_cap, "compensation": compensation,
                            "deposit_amount": deposit_amount})
    validate_contract(contract)
    if Contract.objects.filter(organization=org, reference=reference).exists():
        raise ValidationError(f"Contract reference {reference!r} is already used.", code="duplicate")
    contract.save()
    _after_commit(contract_made, Contract, contract=contract)
    return contract


@transaction.atomic
def update_contract(contract: Contract, *, late_fixed_fee: Decimal | str | None = None,
                    late_cap: Decimal | str | None = None, compensation: Decimal | str | None = None,
                    deposit_amount: Decimal | str | None = None, **fields) -> Contract:
    """Change a contract's terms. Invoices already issued keep the terms frozen on them."""
    contract = Contract.objects.select_for_update().select_related("customer").get(pk=contract.pk)
    if "currency" in fields:
        check_currency(fields["currency"] or "")
    _apply_contract_fields(contract, fields, {"late_fixed_fee": late_fixed_fee, "late_cap": late_cap,
                                              "compensation": compensation, "deposit_amount": deposit_amount})
    validate_contract(contract)
    if Contract.objects.filter(organization_id=contract.organization_id, reference=contract.reference).exclude(
            pk=contract.pk).exists():
        raise ValidationError(f"Contract reference {contract.reference!r} is already used.", code="duplicate")
    contract.save()
    return contract


def local_today(org: Organization, now: datetime | None = None) -> date:
    """Today's date where the organization is (its time zone), e.g. for the back office's "today"."""
    from django.utils import timezone

    return (now or timezone.now()).astimezone(ZoneInfo(org.timezone)).date()


def current_contract(customer: Customer, as_of: date) -> Contract | None:
    return (
        Contract.objects.filter(customer=customer, start_date__lte=as_of)
        .exclude(end_date__lt=as_of)
        .order_by("-start_date", "-id")
        .first()
    )


# --- statutory reference rates (public reference data, shared by every organization) -------------
#: The range a central bank reference rate is accepted in, in percent.
REFERENCE_RATE_MIN, REFERENCE_RATE_MAX = Decimal(-5), Decimal(30)


def check_reference_rate(series: str, valid_from: date, rate_percent) -> tuple[str, date, Decimal]:
    """The checks :func:`record_reference_rate` runs (for a form to show them first); the normalised values.

    ``series``: a currency code (its central bank's rate: ``EUR``, ``GBP``, ``PLN``...) or a named series
    (``DE-BASIS``), see :data:`duly.domain.late_fees.REFERENCE_SERIES`."""
    from duly.domain.late_fees import check_series

    series = check_series(series)
    if not isinstance(valid_from, date) or isinstance(valid_from, datetime):
        raise ValidationError(f"The date a reference rate applies from must be a date, got {valid_from!r}.",
                              field="valid_from")
    check_date_range(valid_from, "The date a reference rate applies from")
    try:
        rate = to_decimal(rate_percent)  # a Decimal, an int or a numeric string: never a float
    except ValidationError as exc:
        raise ValidationError(f"{series} reference rate: {exc.message}", field="rate_percent") from None
    if not REFERENCE_RATE_MIN <= rate <= REFERENCE_RATE_MAX:
        raise ValueOutOfRange(
            f"A {series} reference rate must be between {REFERENCE_RATE_MIN} and {REFERENCE_RATE_MAX} percent, "
            f"got {rate.normalize():f}.", field="rate_percent",
        )
    check_model_values(StatutoryReferenceRate, {"rate_percent": rate}, f"{series} reference rate")
    return series, valid_from, rate


class RecordedRate(NamedTuple):
    rate: StatutoryReferenceRate
    #: ``created``, ``updated`` (a correction of the rate recorded for that day) or ``unchanged``.
    outcome: str
    previous_percent: Decimal | None = None


@transaction.atomic
def record_reference_rate(*, valid_from: date, rate_percent, series: str | None = None,
                          currency: str | None = None) -> RecordedRate:
    """Record the reference rate of ``series`` (or of ``currency``'s central bank) from ``valid_from``.

    Recording another rate for the same series and day corrects it (the outcome says so and gives
    the rate it replaced); recording the same rate again changes nothing. Fees already charged keep
    the amounts they were charged at.
    """
    if (series is None) == (currency is None):
        raise ValidationError("Give the series of the reference rate (or the currency whose central bank rate it is).",
                              field="series")
    series, valid_from, rate = check_reference_rate(series if series is not None else check_currency(currency),
                                                    valid_from, rate_percent)
    row, created = StatutoryReferenceRate.objects.select_for_update().get_or_create(
        series=series, valid_from=valid_from, defaults={"rate_percent": rate})
    if created:
        return RecordedRate(row, "created")
    if row.rate_percent == rate:
        return RecordedRate(row, "unchanged")
    previous = row.rate_percent
    row.rate_percent = rate
    row.save(update_fields=["rate_percent", "recorded_at"])
    return RecordedRate(row, "updated", previous)


def list_reference_rates(series: str | None = None) -> list[tuple[StatutoryReferenceRate, date | None]]:
    """Recorded reference rates, by series and newest first, each with the first day of the first
    semester it applies to under the half-year rule of the regimes reading that series (None when a
    later rate replaced it before any semester began)."""
    from duly.domain.late_fees import check_series, first_semester_from, series_fixing

    rows = StatutoryReferenceRate.objects.all()
    if series is not None:
        rows = rows.filter(series=check_series(series))
    listed, newer = [], {}
    for row in rows.order_by("series", "-valid_from"):
        fixing = series_fixing(row.series)
        first = first_semester_from(row.valid_from, fixing)
        replaced = row.series in newer and first_semester_from(newer[row.series], fixing) <= first
        listed.append((row, None if replaced else first))
        newer[row.series] = row.valid_from
    return listed


def reference_rates_for(series: Iterable[str]) -> dict[str, tuple[tuple[date, Decimal], ...]]:
    """The recorded rates of each series as ``(valid_from, rate_percent)`` pairs, oldest first, in ONE
    query (no query for no series): what :meth:`Contract.late_fee_policy` takes."""
    wanted = sorted(set(series))
    rates: dict[str, list[tuple[date, Decimal]]] = {c: [] for c in wanted}
    if wanted:
        for name, valid_from, rate in StatutoryReferenceRate.objects.filter(series__in=wanted).order_by(
                "series", "valid_from").values_list("series", "valid_from", "rate_percent"):
            rates[name].append((valid_from, rate))
    return {c: tuple(pairs) for c, pairs in rates.items()}


def reference_rates_for_contracts(contracts: Iterable[Contract]) -> dict[str, tuple[tuple[date, Decimal], ...]]:
    """:func:`reference_rates_for` the series of the contracts that follow the recorded rates
    (one query at most; none when no contract needs them)."""
    return reference_rates_for({c.reference_series for c in contracts if c is not None and c.uses_reference_rates})
