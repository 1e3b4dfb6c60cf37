"""A customer's payment methods as staff set them up: saved provider methods (one default), SEPA mandates and the
organization's SEPA creditor.

- Saved methods (cards, wallets, Stripe SEPA Debit) are saved through the provider's setup (Stripe: a
  SetupIntent). Staff either start one the customer finishes in the browser (:func:`start_setup`) or attach a
  method the provider already holds (:func:`attach_method`: on Stripe's test mode or the loopback fake, a test
  method such as ``pm_card_visa``). Only the provider's ids and what is shown (brand, last four digits, expiry)
  are stored, never card data.
- A customer has at most one default method, the one autopay charges: a partial unique constraint holds it, and
  :func:`set_default_method` moves it in one transaction. The first method saved becomes the default; removing
  the default hands it to the newest method left.
- Mandates and the creditor go through :mod:`.sepa_services` (IBAN/BIC checked with schwifty, the creditor
  identifier's check digits, a unique reference); staff add a signed mandate with its date *and* place.

Each public function owns its transaction; bad input raises a :class:`~duly.domain.errors.DomainError` and
writes nothing.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone as dj_timezone

from duly.customers.models import Contract, Customer, Organization
from duly.domain.errors import Conflict, CrossOrganization, InvalidMandate, NotFound, ProviderError, ValidationError

from . import sepa_services
from .models import Mandate, SavedPaymentMethod, SepaCreditor
from .providers import registry
from .providers.base import MethodKind, Provider, SavedMethod, SetupRequest, SetupResult
from .webhook_services import CUSTOMER_METADATA, ORGANIZATION_METADATA

__all__ = [
    "CustomerMethods",
    "Removal",
    "add_mandate",
    "attach_method",
    "check_mandate",
    "customer_methods",
    "find_customer",
    "find_mandate",
    "remove_method",
    "revoke_mandate",
    "save_method",
    "set_creditor",
    "set_default_method",
    "start_setup",
]

log = logging.getLogger(__name__)

DEFAULT_PROVIDER = "stripe"


# --- reading -------------------------------------------------------------------------------------------------

def find_customer(org: Organization, code: str) -> Customer:
    customer = Customer.objects.filter(organization=org, code=code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {code!r}.")
    return customer


def find_mandate(org: Organization, reference: str) -> Mandate:
    text = " ".join((reference or "").split())
    mandate = Mandate.objects.filter(organization=org, reference=text).select_related("customer").first()
    if mandate is None:
        raise NotFound(f"No mandate with the reference {text!r} in this organization.")
    return mandate


@dataclass(frozen=True)
class CustomerMethods:
    """Everything a customer can be paid by, as staff see it."""

    customer: Customer
    saved: list[SavedPaymentMethod]
    mandates: list[Mandate]
    #: (contract reference, the method it prefers or "" for the customer's)
    contracts: list[tuple[str, str]]

    @property
    def default(self) -> SavedPaymentMethod | None:
        return next((m for m in self.saved if m.is_default), None)


def customer_methods(org: Organization, customer: Customer, *, include_removed: bool = False) -> CustomerMethods:
    if customer.organization_id != org.pk:
        raise CrossOrganization("That customer belongs to another organization.")
    saved = SavedPaymentMethod.objects.filter(organization=org, customer=customer)
    if not include_removed:
        saved = saved.filter(removed_at__isnull=True)
    mandates = Mandate.objects.filter(organization=org, customer=customer).order_by("-signed_on", "-pk")
    contracts = list(Contract.objects.filter(organization=org, customer=customer).order_by("reference")
                     .values_list("reference", "preferred_payment_method"))
    return CustomerMethods(customer, list(saved.order_by("-is_default", "-created_at", "-pk")), list(mandates),
                           contracts)


# --- saved provider methods ----------------------------------------------------------------------------------

def _provider(code: str, given: Provider | None) -> Provider:
    return given if given is not None else registry.get(code)


def _customer_ref(org: Organization, customer: Customer, provider: str) -> str:
    """The provider's customer id this customer already has (their methods share it), or ""."""
    return (SavedPaymentMethod.objects.filter(organization=org, customer=customer, provider=provider)
            .exclude(customer_ref="").order_by("created_at", "pk").values_list("customer_ref", flat=True).first()
            or "")


def _check_customer(org: Organization, customer: Customer) -> None:
    if customer.organization_id != org.pk:
        raise CrossOrganization("That customer belongs to another organization.")


def _setup_request(org: Organization, customer: Customer, key: str, provider_code: str, *,
                   kinds: tuple[str, ...], method_ref: str = "") -> SetupRequest:
    email = customer.contacts.exclude(email="").order_by("pk").values_list("email", flat=True).first() or ""
    return SetupRequest(key, customer_ref=_customer_ref(org, customer, provider_code), email=email,
                        name=customer.name, method_kinds=tuple(MethodKind(k) for k in kinds),
                        metadata={CUSTOMER_METADATA: str(customer.pk), ORGANIZATION_METADATA: str(org.pk)},
                        method_ref=method_ref)


def start_setup(org: Organization, customer: Customer, *, kinds: tuple[str, ...] = ("card",),
                provider_code: str = DEFAULT_PROVIDER, provider: Provider | None = None) -> SetupResult:
    """Start saving a method the customer finishes in the browser (Stripe: a SetupIntent and its client secret).
    When they do, the provider's ``setup_intent.succeeded`` webhook saves it (:mod:`.webhook_services`).
    Writes nothing in Duly."""
    _check_customer(org, customer)
    key = f"setup:{org.pk}:{customer.pk}:{secrets.token_hex(8)}"
    return _provider(provider_code, provider).create_setup(
        _setup_request(org, customer, key, provider_code, kinds=kinds))


def attach_method(org: Organization, customer: Customer, method_ref: str, *, provider_code: str = DEFAULT_PROVIDER,
                  provider: Provider | None = None, make_default: bool | None = None) -> SavedPaymentMethod:
    """Save ``method_ref`` (a method the provider already holds, e.g. Stripe's test ``pm_card_visa``) for
    ``customer`` through a confirmed setup, and record it with what the provider says of it. Saving it again
    returns the row already saved; a method saved for another customer is refused."""
    _check_customer(org, customer)
    ref = (method_ref or "").strip()
    if not ref or len(ref) > 255:
        raise ValidationError("Give the provider's payment method id (for example pm_card_visa on Stripe's test "
                              "mode).", code="required_field_missing")
    existing = SavedPaymentMethod.objects.filter(organization=org, provider=provider_code, method_ref=ref).first()
    if existing is not None:
        _same_customer(existing, customer)
        if existing.removed_at is None:
            return existing
    prov = _provider(provider_code, provider)
    described = prov.saved_method(ref)  # an unknown id is refused here, before anything is set up
    kinds = ("sepa_debit",) if described.kind is MethodKind.SEPA_DEBIT else ("card",)
    # a method saved again after its removal (detached at the provider) is a new setup, not a replay of the first
    again = f":{int(existing.removed_at.timestamp())}" if existing is not None and existing.removed_at else ""
    key = f"attach:{org.pk}:{customer.pk}:{ref}{again}"[:255]
    setup = prov.create_setup(_setup_request(org, customer, key, provider_code, kinds=kinds, method_ref=ref))
    if setup.status != "succeeded" or not setup.method_ref:
        raise ProviderError(f"The provider did not save the method (setup {setup.setup_ref} is {setup.status}): "
                            "the customer must finish it in the browser.", provider=provider_code)
    if setup.method_ref != ref:  # the provider saved a copy of it (Stripe does for its test methods)
        described = prov.saved_method(setup.method_ref)
    described = SavedMethod(**{**described.__dict__, "customer_ref": setup.customer_ref})
    return save_method(org, customer, described, setup_ref=setup.setup_ref, make_default=make_default)


def _same_customer(row: SavedPaymentMethod, customer: Customer) -> None:
    if row.customer_id != customer.pk:
        raise Conflict(f"Payment method {row.method_ref} is saved for another customer.",
                       code="payment_method_taken", method=row.method_ref)


@transaction.atomic
def save_method(org: Organization, customer: Customer, method: SavedMethod, *, setup_ref: str = "",
                make_default: bool | None = None) -> SavedPaymentMethod:
    """Record a method the provider saved for ``customer`` (ids, brand, last four, expiry), once per
    (provider, method id). It becomes the default when asked, or when the customer has no default yet."""
    _check_customer(org, customer)
    if not method.customer_ref:
        raise ValidationError("A saved method needs the provider's customer id.", code="required_field_missing")
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one default change at a time
    row = (SavedPaymentMethod.objects.select_for_update()
           .filter(organization=org, provider=method.provider, method_ref=method.method_ref).first())
    fields = {"customer_ref": method.customer_ref[:255], "kind": method.kind.value,
              "brand": (method.wallet or method.brand)[:32], "last4": method.last4,
              "exp_month": method.exp_month, "exp_year": method.exp_year}
    if row is not None:
        _same_customer(row, customer)
        for name, value in fields.items():
            setattr(row, name, value)
        row.removed_at = None
        if setup_ref:
            row.setup_ref = setup_ref[:255]
        row.save()
    else:
        row = SavedPaymentMethod.objects.create(organization=org, customer=customer, provider=method.provider,
                                                method_ref=method.method_ref[:255], setup_ref=setup_ref[:255],
                                                **fields)
    has_default = SavedPaymentMethod.objects.filter(customer=customer, is_default=True).exclude(pk=row.pk).exists()
    if make_default or (make_default is None and not has_default):
        _make_default(customer, row)
    return row


def _make_default(customer: Customer, row: SavedPaymentMethod) -> None:
    # clear the old default first: the partial unique constraint allows one per customer at every moment
    SavedPaymentMethod.objects.filter(customer=customer, is_default=True).exclude(pk=row.pk).update(is_default=False)
    if not row.is_default:
        row.is_default = True
        row.save(update_fields=["is_default"])


def _method(org: Organization, method_id: int) -> SavedPaymentMethod:
    row = (SavedPaymentMethod.objects.select_for_update().select_related("customer")
           .filter(organization=org, pk=method_id).first())
    if row is None:
        raise NotFound(f"No saved payment method {method_id} in this organization.")
    return row


@transaction.atomic
def set_default_method(org: Organization, method_id: int, *, customer: Customer | None = None) -> SavedPaymentMethod:
    """Make saved method ``method_id`` the one autopay charges for its customer (the previous default stays saved).
    ``customer``: refuse a method of anyone else (the CLI names both)."""
    row = _method(org, method_id)
    if customer is not None and row.customer_id != customer.pk:
        raise NotFound(f"{customer.code} has no saved payment method {method_id}.")
    if row.removed_at is not None:
        raise ValidationError(f"Payment method {method_id} was removed; save it again before making it the default.",
                              code="payment_method_removed")
    Customer.objects.select_for_update().filter(pk=row.customer_id).first()
    _make_default(row.customer, row)
    return row


@dataclass(frozen=True)
class Removal:
    method: SavedPaymentMethod
    #: The method that is the default now (None: the customer has no saved method left).
    new_default: SavedPaymentMethod | None
    detached: bool
    note: str = ""

    @property
    def message(self) -> str:
        text = f"Removed {self.method.describe()} (method {self.method.pk}) of {self.method.customer.code}."
        if self.new_default is not None:
            text += f" The default is {self.new_default.describe()} (method {self.new_default.pk})."
        else:
            text += " No saved method is left: autopay will not charge this customer."
        if self.note:
            text += f" {self.note}"
        return text


def remove_method(org: Organization, method_id: int, *, customer: Customer | None = None,
                  provider: Provider | None = None) -> Removal:
    """Stop charging a saved method: it is kept (its charges point to it) but marked removed and never the default
    again; the newest method left becomes the default if it was. Then the provider is asked to forget it
    (Stripe: detach); if that fails, the removal stands and the note says so."""
    with transaction.atomic():
        row = _method(org, method_id)
        if customer is not None and row.customer_id != customer.pk:
            raise NotFound(f"{customer.code} has no saved payment method {method_id}.")
        if row.removed_at is not None:
            raise ValidationError(f"Payment method {method_id} is already removed.", code="payment_method_removed")
        Customer.objects.select_for_update().filter(pk=row.customer_id).first()
        was_default = row.is_default
        row.is_default, row.removed_at = False, dj_timezone.now()
        row.save(update_fields=["is_default", "removed_at"])
        successor = None
        if was_default:
            successor = (SavedPaymentMethod.objects.filter(customer_id=row.customer_id, removed_at__isnull=True)
                         .order_by("-created_at", "-pk").first())
            if successor is not None:
                _make_default(row.customer, successor)
        else:
            successor = SavedPaymentMethod.objects.filter(customer_id=row.customer_id, is_default=True).first()
    try:
        _provider(row.provider, provider).detach_method(row.method_ref)
    except ProviderError as err:
        log.warning("saved method %s removed in Duly, not detached: %s", row.pk, err.message)
        return Removal(row, successor, False, f"The provider still holds it ({err.message}).")
    return Removal(row, successor, True)


# --- SEPA mandates and creditor (through sepa_services) -------------------------------------------------------

def _check_place(reference: str, signed_at: str) -> str:
    place = " ".join((signed_at or "").split())
    if not place:
        ref = " ".join((reference or "").split())
        raise InvalidMandate(f"Mandate {ref} has no place of signature.", code="mandate_place_missing", reference=ref)
    return place


def check_mandate(org: Organization, customer: Customer, *, reference: str, signed_on: date | None, signed_at: str,
                  iban: str, bic: str = "", debtor_name: str = "", kind: str = Mandate.RECURRENT,
                  as_of: date | None = None) -> dict:
    """What :func:`add_mandate` checks, without writing (the admin form shows each error on its field)."""
    place = _check_place(reference, signed_at)
    return sepa_services.check_mandate_data(org, customer, reference=reference, signed_on=signed_on,
                                            debtor_name=debtor_name, iban=iban, bic=bic, signed_at=place, kind=kind,
                                            as_of=as_of)


def add_mandate(org: Organization, customer: Customer, *, reference: str, signed_on: date | None, signed_at: str,
                iban: str, bic: str = "", debtor_name: str = "", kind: str = Mandate.RECURRENT,
                as_of: date | None = None) -> Mandate:
    """Record a mandate staff received signed: the signature date and place are both required (the EPC
    rulebook's mandate data); the rest is :func:`.sepa_services.create_mandate`'s (IBAN/BIC with schwifty,
    a unique reference, no future signature)."""
    place = _check_place(reference, signed_at)
    return sepa_services.create_mandate(org, customer, reference=reference, signed_on=signed_on,
                                        debtor_name=debtor_name, iban=iban, bic=bic, signed_at=place, kind=kind,
                                        as_of=as_of)


def revoke_mandate(org: Organization, reference: str, *, revoked_on: date) -> Mandate:
    """Revoke the mandate ``reference`` from ``revoked_on`` (its pending debits fail, none is planned again)."""
    return sepa_services.revoke_mandate(org, find_mandate(org, reference).pk, revoked_on=revoked_on)


def set_creditor(org: Organization, *, identifier: str, iban: str = "", bic: str = "", name: str = "",
                 pain_version: str = "") -> SepaCreditor:
    """Set the organization's SEPA creditor (:func:`.sepa_services.configure_creditor`): identifier checked,
    the account (the organization's own when none is given), the name debtors see."""
    if not pain_version:
        current = SepaCreditor.objects.filter(organization=org).values_list("pain_version", flat=True).first()
        pain_version = current or ""
    return sepa_services.configure_creditor(org, creditor_id=identifier, iban=iban, bic=bic, name=name,
                                            pain_version=pain_version)
