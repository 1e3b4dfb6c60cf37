"""duly methods (a customer's saved payment methods and preferred method); duly mandates; duly creditor."""

from __future__ import annotations

import click

from duly.cli import DATE, current_org, handle_errors, org_option
from duly.cli.i18n import _, message

PREFERRED = ["bank_transfer", "card", "sepa_debit", "ach_debit", "paypal", "check", "cash"]


@click.group()
def methods():
    """A customer's payment methods: saved cards and debits (one default, the one autopay charges)."""


@methods.command("list")
@click.argument("customer_code")
@org_option
@click.option("--all", "show_removed", is_flag=True, help="Show removed methods too")
@handle_errors
def methods_list(customer_code, org_slug, show_removed):
    """List CUSTOMER_CODE's saved methods, mandates and preferred method (the default is marked *)."""
    from duly.payments.method_services import customer_methods, find_customer

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    found = customer_methods(org, customer, include_removed=show_removed)
    click.echo(_("{code} ({name}): prefers {method}", code=customer.code, name=customer.name,
                 method=customer.preferred_payment_method))
    for reference, method in found.contracts:
        click.echo("  " + _("contract {reference}: {method}", reference=reference,
                            method=method or _("the customer’s preferred method")))
    if not found.saved:
        click.echo("  " + _("no saved method"))
    for m in found.saved:
        flag = "*" if m.is_default else " "
        state = _(" removed {date}", date=f"{m.removed_at:%Y-%m-%d}") if m.removed_at else ""
        click.echo(f"{flag} {m.pk:>6}  {m.provider:<8} {m.kind:<10} {m.describe()}{state}")
    for mandate in found.mandates:
        state = _("revoked from {date}", date=f"{mandate.revoked_at:%Y-%m-%d}") if mandate.revoked_at else _("active")
        click.echo("  " + _("mandate {reference}: {kind}, signed {date} in {place}, IBAN …{iban}, {state}",
                            reference=mandate.reference, kind=mandate.kind, date=f"{mandate.signed_on:%Y-%m-%d}",
                            place=mandate.signed_at or "?", iban=mandate.iban[-4:], state=state))


@methods.command("default")
@click.argument("customer_code")
@click.argument("method_id", type=int)
@org_option
@handle_errors
def methods_default(customer_code, method_id, org_slug):
    """Make saved method METHOD_ID the one autopay charges for CUSTOMER_CODE."""
    from duly.payments.method_services import find_customer, set_default_method

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    method = set_default_method(org, method_id, customer=customer)
    click.echo(_("{code}: autopay now charges {method} (method {id}).", code=customer.code, method=method.describe(),
                 id=method.pk))


@methods.command("remove")
@click.argument("customer_code")
@click.argument("method_id", type=int)
@org_option
@handle_errors
def methods_remove(customer_code, method_id, org_slug):
    """Stop charging saved method METHOD_ID of CUSTOMER_CODE (the provider is asked to forget it)."""
    from duly.payments.method_services import find_customer, remove_method

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    click.echo(message(remove_method(org, method_id, customer=customer).message))


@methods.command("attach")
@click.argument("customer_code")
@click.argument("payment_method")
@org_option
@click.option("--default/--not-default", "make_default", default=None,
              help="Make it the default (default: only when the customer has none)")
@handle_errors
def methods_attach(customer_code, payment_method, org_slug, make_default):
    """Save PAYMENT_METHOD, a method the provider already holds (on Stripe's test mode: pm_card_visa...), for
    CUSTOMER_CODE through a confirmed SetupIntent. Only the provider's ids, brand, last four and expiry are kept."""
    from duly.payments.method_services import attach_method, find_customer

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    method = attach_method(org, customer, payment_method, make_default=make_default)
    default = _(" (the default)") if method.is_default else ""
    click.echo(_("{code}: saved {method} as method {id}{default}.", code=customer.code, method=method.describe(),
                 id=method.pk, default=default))


@methods.command("setup")
@click.argument("customer_code")
@org_option
@click.option("--kind", type=click.Choice(["card", "sepa_debit"]), default="card", show_default=True,
              help="What the customer may save")
@handle_errors
def methods_setup(customer_code, org_slug, kind):
    """Start saving a method CUSTOMER_CODE finishes in the browser (a Stripe SetupIntent); it is saved when Stripe
    reports the setup succeeded (webhook)."""
    from duly.customers.links import pay_url
    from duly.customers.services import local_today
    from duly.payments.method_services import find_customer, start_setup

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    setup = start_setup(org, customer, kinds=(kind,))
    click.echo(_("{code}: SetupIntent {ref} ({status}) for Stripe customer {customer}. The customer finishes it from "
                 "their personal page: {url}", code=customer.code, ref=setup.setup_ref, status=setup.status,
                 customer=setup.customer_ref, url=pay_url(org.pk, customer.pk, made_on=local_today(org))))


@methods.command("prefer")
@click.argument("customer_code")
@click.argument("method", type=click.Choice(PREFERRED + ["customer"]))
@org_option
@click.option("--contract", "contract_ref", default=None,
              help="Set the method of this contract of the customer instead ('customer': follow the customer's)")
@handle_errors
def methods_prefer(customer_code, method, org_slug, contract_ref):
    """Set how CUSTOMER_CODE prefers to pay (or one contract's method, --contract)."""
    from duly.customers.models import Contract
    from duly.customers.services import update_contract, update_customer
    from duly.domain.errors import NotFound, ValidationError
    from duly.payments.method_services import find_customer

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    if contract_ref is None:
        if method == "customer":
            raise ValidationError("'customer' is a contract's choice: give --contract.", code="invalid_choice")
        update_customer(customer, preferred_payment_method=method)
        click.echo(_("{code} prefers {method}.", code=customer.code, method=method))
        return
    contract = Contract.objects.filter(organization=org, customer=customer, reference=contract_ref).first()
    if contract is None:
        raise NotFound(f"{customer.code} has no contract {contract_ref!r}.")
    value = "" if method == "customer" else method
    update_contract(contract, preferred_payment_method=value)
    click.echo(_("Contract {reference} is paid by {method}.", reference=contract.reference,
                 method=value or _("the customer’s preferred method")))


@click.group()
def mandates():
    """SEPA direct debit mandates customers signed (debited from the organization's own bank)."""


@mandates.command("add")
@click.argument("customer_code")
@org_option
@click.option("--reference", required=True, help="The unique mandate reference (at most 35 characters)")
@click.option("--iban", required=True, help="The debtor's IBAN")
@click.option("--bic", default="", help="The debtor's BIC")
@click.option("--signed-on", "signed_on", type=DATE, required=True, help="Date of signature (YYYY-MM-DD)")
@click.option("--signed-at", "signed_at", required=True, help="Place of signature")
@click.option("--debtor-name", "debtor_name", default="", help="Account holder (default: the customer's name)")
@click.option("--kind", type=click.Choice(["recurrent", "one_off"]), default="recurrent", show_default=True)
@handle_errors
def mandates_add(customer_code, org_slug, reference, iban, bic, signed_on, signed_at, debtor_name, kind):
    """Record a SEPA mandate CUSTOMER_CODE signed."""
    from duly.customers.services import local_today
    from duly.payments.method_services import add_mandate, find_customer

    org = current_org(org_slug)
    customer = find_customer(org, customer_code)
    mandate = add_mandate(org, customer, reference=reference, signed_on=signed_on, signed_at=signed_at, iban=iban,
                          bic=bic, debtor_name=debtor_name, kind=kind, as_of=local_today(org))
    click.echo(_("Mandate {reference} of {code}: {kind}, signed {date} in {place}, IBAN {iban}.",
                 reference=mandate.reference, code=customer.code, kind=mandate.kind,
                 date=f"{mandate.signed_on:%Y-%m-%d}", place=mandate.signed_at, iban=mandate.iban))


@mandates.command("revoke")
@click.argument("reference")
@org_option
@click.option("--on", "revoked_on", type=DATE, default=None, help="Revoked from this date (default: today)")
@handle_errors
def mandates_revoke(reference, org_slug, revoked_on):
    """Revoke mandate REFERENCE: no debit is planned on it from that day; its pending debits fail."""
    from duly.customers.services import local_today
    from duly.payments.method_services import revoke_mandate

    org = current_org(org_slug)
    mandate = revoke_mandate(org, reference, revoked_on=revoked_on or local_today(org))
    click.echo(_("Mandate {reference} is revoked from {date}.", reference=mandate.reference,
                 date=f"{mandate.revoked_at:%Y-%m-%d}"))


@click.group()
def creditor():
    """The organization as a SEPA creditor (identifier, account, name)."""


@creditor.command("set")
@org_option
@click.option("--identifier", required=True, help="SEPA creditor identifier, e.g. DE98ZZZ09999999999")
@click.option("--iban", default="", help="Account the debits are paid into (default: the organization's IBAN)")
@click.option("--bic", default="", help="Its BIC (default: the organization's)")
@click.option("--name", default="", help="Name debtors see (default: the organization's name)")
@click.option("--pain-version", "pain_version", default="",
              help="pain.008 version of the files (default: pain.008.001.08, or the one set before)")
@handle_errors
def creditor_set(org_slug, identifier, iban, bic, name, pain_version):
    """Set the organization's SEPA creditor identifier and account."""
    from duly.payments.method_services import set_creditor

    org = current_org(org_slug)
    row = set_creditor(org, identifier=identifier, iban=iban, bic=bic, name=name, pain_version=pain_version)
    click.echo(_("SEPA creditor {id} ({name}): debits are paid into {account}, files in {version}.", id=row.creditor_id,
                 name=row.name or org.name, account=row.iban + (" / " + row.bic if row.bic else ""),
                 version=row.pain_version))


COMMANDS = [methods, mandates, creditor]
