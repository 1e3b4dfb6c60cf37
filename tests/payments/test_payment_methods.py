"""Payment methods per customer as staff set them up (issue 13, part 4): saved cards through Stripe SetupIntents on
the loopback fake (ids, brand, last four, expiry; never card data), exactly one default, removal, SEPA mandates and
the creditor through the CLI with clear errors that change nothing."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import IntegrityError, transaction

from duly.cli import main
from duly.domain.errors import Conflict, InvalidMandate, NotFound, ProviderError, ValidationError
from duly.payments import method_services as methods
from duly.payments.models import Mandate, SavedPaymentMethod, SepaCreditor
from duly.payments.providers.stripe import StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY = "sk_test_duly"


@pytest.fixture
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return StripeProvider(api_key=KEY, api_base=fake.url, max_network_retries=0)


@pytest.fixture
def stripe_settings(settings, fake):
    fake.point_settings(settings)
    return settings


def cli(*args):
    return CliRunner().invoke(main, list(args))


def rows():
    return sorted(SavedPaymentMethod.objects.values_list("method_ref", "is_default", "removed_at"))


def test_staff_attach_cards_the_first_is_the_default_and_only_ids_and_display_data_are_kept(org, customer, provider,
                                                                                           fake):
    visa = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    master = methods.attach_method(org, customer, "pm_card_mastercard", provider=provider)
    assert (visa.is_default, master.is_default) == (True, False)
    assert (visa.brand, visa.last4, visa.exp_month, visa.exp_year, visa.kind) == ("visa", "4242", 12, 2034, "card")
    assert visa.describe() == "Visa •••• 4242 (12/2034)" and master.describe().startswith("Mastercard •••• 4444")
    # one Stripe customer for both, the setup confirmed on the fake, and the intent names the Duly customer
    assert visa.customer_ref == master.customer_ref and visa.customer_ref.startswith("cus_")
    seti = next(o for o in fake.objects("seti_") if o["id"] == visa.setup_ref)
    assert seti["status"] == "succeeded" and seti["metadata"]["duly_customer"] == str(customer.pk)
    stored = {f.name for f in SavedPaymentMethod._meta.fields}
    assert not stored & {"number", "card_number", "cvc", "pan"}
    # attaching the same method again returns the saved row, writes nothing new
    assert methods.attach_method(org, customer, "pm_card_visa", provider=provider).pk == visa.pk
    assert SavedPaymentMethod.objects.count() == 2


def test_exactly_one_default_per_customer_moves_with_set_default_and_is_enforced_by_the_database(
        org, customer, make_customer, provider):
    visa = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    amex = methods.attach_method(org, customer, "pm_card_amex", provider=provider)
    other = methods.attach_method(org, make_customer("OTHER"), "pm_card_mastercard", provider=provider)
    methods.set_default_method(org, amex.pk)
    assert dict(SavedPaymentMethod.objects.filter(customer=customer).values_list("method_ref", "is_default")) == {
        "pm_card_visa": False, "pm_card_amex": True}
    assert SavedPaymentMethod.objects.get(pk=other.pk).is_default  # another customer's default is untouched
    with pytest.raises(IntegrityError), transaction.atomic():
        SavedPaymentMethod.objects.filter(pk=visa.pk).update(is_default=True)
    # a method of another customer named with this customer is refused, nothing changes
    with pytest.raises(NotFound):
        methods.set_default_method(org, other.pk, customer=customer)
    assert SavedPaymentMethod.objects.get(pk=amex.pk).is_default


def test_removing_the_default_hands_it_to_the_newest_left_and_detaches_it_at_stripe(org, customer, provider, fake):
    visa = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    master = methods.attach_method(org, customer, "pm_card_mastercard", provider=provider)
    removal = methods.remove_method(org, visa.pk, provider=provider)
    assert removal.detached and removal.new_default.pk == master.pk
    assert "The default is Mastercard •••• 4444" in removal.message
    visa.refresh_from_db()
    assert visa.removed_at is not None and not visa.is_default and SavedPaymentMethod.objects.get(pk=master.pk).is_default
    assert fake.objects("pm_card_visa")[0]["customer"] is None  # Stripe no longer keeps it for the customer
    with pytest.raises(ValidationError):  # removed: not the default again until saved again
        methods.set_default_method(org, visa.pk)
    last = methods.remove_method(org, master.pk, provider=provider)
    assert last.new_default is None and "autopay will not charge" in last.message
    # saving it again brings it back, as the default since none is left
    again = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    assert again.pk == visa.pk and again.is_default and again.removed_at is None
    assert fake.objects("pm_card_visa")[0]["customer"] == again.customer_ref  # attached again, not a replay


def test_autopay_charges_the_default_staff_chose_and_never_a_removed_method(org, customer, contract, provider, fake):
    from decimal import Decimal

    from duly.invoicing import services as inv
    from duly.payments.autopay_services import run_autopay

    def due_invoice(day):
        draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("80"))],
                                 contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=day)

    visa = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    master = methods.attach_method(org, customer, "pm_card_mastercard", provider=provider)
    methods.set_default_method(org, master.pk)
    first = due_invoice(date(2026, 3, 2))
    assert run_autopay(org, first.due_date, provider=provider).succeeded == 1
    assert [pi["payment_method"] for pi in fake.objects("pi_")] == ["pm_card_mastercard"]
    methods.remove_method(org, master.pk, provider=provider)  # the default goes back to the visa
    second = due_invoice(date(2026, 3, 3))
    assert run_autopay(org, second.due_date, provider=provider).succeeded == 1
    assert [pi["payment_method"] for pi in fake.objects("pi_")] == ["pm_card_mastercard", "pm_card_visa"]
    methods.remove_method(org, visa.pk, provider=provider)
    third = due_invoice(date(2026, 3, 4))
    report = run_autopay(org, third.due_date, provider=provider)
    assert (report.attempted, report.skipped) == (0, 1) and len(fake.objects("pi_")) == 2


def test_a_method_stays_removed_when_the_provider_cannot_be_reached(org, customer, provider, fake):
    visa = methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    fake.fail_next(1, status=500)
    removal = methods.remove_method(org, visa.pk, provider=provider)
    assert not removal.detached and "still holds it" in removal.message
    assert SavedPaymentMethod.objects.get(pk=visa.pk).removed_at is not None


def test_a_card_that_cannot_be_saved_or_an_unknown_id_is_refused_and_nothing_is_saved(org, customer, provider):
    with pytest.raises(ProviderError, match="refused to save the card"):
        methods.attach_method(org, customer, "pm_card_chargeDeclined", provider=provider)
    with pytest.raises(ProviderError):
        methods.attach_method(org, customer, "pm_does_not_exist", provider=provider)
    assert rows() == []


def test_a_method_saved_for_one_customer_is_refused_for_another(org, customer, make_customer, provider):
    methods.attach_method(org, customer, "pm_card_visa", provider=provider)
    with pytest.raises(Conflict):
        methods.attach_method(org, make_customer("OTHER"), "pm_card_visa", provider=provider)


def test_start_setup_gives_the_browser_its_client_secret_and_writes_nothing(org, customer, provider):
    setup = methods.start_setup(org, customer, provider=provider)
    assert setup.setup_ref.startswith("seti_") and setup.client_secret.startswith(setup.setup_ref)
    assert setup.status == "requires_payment_method" and rows() == []


def test_cli_methods_list_default_remove(org, customer, stripe_settings):
    assert cli("methods", "attach", customer.code, "pm_card_visa").exit_code == 0
    out = cli("methods", "attach", customer.code, "pm_card_amex", "--default")
    assert out.exit_code == 0 and "(the default)" in out.output
    amex = SavedPaymentMethod.objects.get(method_ref="pm_card_amex")
    visa = SavedPaymentMethod.objects.get(method_ref="pm_card_visa")
    listed = cli("methods", "list", customer.code)
    assert listed.exit_code == 0
    assert f"* {amex.pk:>6}  stripe" in listed.output and "American Express •••• 0005" in listed.output
    assert cli("methods", "default", customer.code, str(visa.pk)).output.endswith(
        f"autopay now charges Visa •••• 4242 (12/2034) (method {visa.pk}).\n")
    removed = cli("methods", "remove", customer.code, str(visa.pk))
    assert removed.exit_code == 0 and "The default is American Express" in removed.output
    # bad input: a clear line, exit 2, nothing changed
    before = rows()
    for args in (["methods", "default", customer.code, "999999"], ["methods", "remove", "NOPE", str(amex.pk)],
                 ["methods", "remove", customer.code, str(visa.pk)]):
        result = cli(*args)
        assert result.exit_code == 2 and result.stderr.startswith("error: "), args
    assert rows() == before


def test_cli_prefer_sets_the_customers_and_a_contracts_method(org, customer, contract):
    assert cli("methods", "prefer", customer.code, "sepa_debit").exit_code == 0
    assert cli("methods", "prefer", customer.code, "card", "--contract", contract.reference).exit_code == 0
    customer.refresh_from_db()
    contract.refresh_from_db()
    assert (customer.preferred_payment_method, contract.preferred_payment_method) == ("sepa_debit", "card")
    assert cli("methods", "prefer", customer.code, "customer", "--contract", contract.reference).exit_code == 0
    contract.refresh_from_db()
    assert contract.preferred_payment_method == ""
    listed = cli("methods", "list", customer.code).output
    assert "prefers sepa_debit" in listed and f"contract {contract.reference}: the customer’s preferred" in listed
    bad = cli("methods", "prefer", customer.code, "customer")
    assert bad.exit_code == 2 and "give --contract" in bad.stderr


def test_cli_mandates_add_and_revoke(org, customer):
    result = cli("mandates", "add", customer.code, "--reference", "MDT-001", "--iban", "DE89 3704 0044 0532 0130 00",
                 "--bic", "COBADEFFXXX", "--signed-on", "2026-03-01", "--signed-at", "Berlin")
    assert result.exit_code == 0, result.output
    mandate = Mandate.objects.get()
    assert (mandate.reference, mandate.iban, mandate.signed_at, mandate.signed_on) == (
        "MDT-001", "DE89370400440532013000", "Berlin", date(2026, 3, 1))
    assert "mandate MDT-001: recurrent" in cli("methods", "list", customer.code).output
    revoked = cli("mandates", "revoke", "MDT-001", "--on", "2026-04-01")
    assert revoked.exit_code == 0 and revoked.output == "Mandate MDT-001 is revoked from 2026-04-01.\n"
    assert Mandate.objects.get().revoked_at == date(2026, 4, 1)
    missing = cli("mandates", "revoke", "NOPE")
    assert missing.exit_code == 2 and "No mandate with the reference 'NOPE'" in missing.stderr


@pytest.mark.parametrize("change, message", [
    ({"--iban": "DE89370400440532013001"}, "[invalid_iban]"),
    ({"--bic": "NOTABIC"}, "[invalid_bic]"),
    ({"--signed-at": " "}, "no place of signature. [mandate_place_missing]"),
    ({"--reference": "TAKEN-1"}, "already used in this organization. [mandate_reference_taken]"),
    ({"--signed-on": "2099-01-01"}, "[mandate_signed_in_future]"),
])
def test_cli_a_bad_mandate_is_refused_with_a_clear_error_and_nothing_is_written(org, customer, change, message):
    methods.add_mandate(org, customer, reference="TAKEN-1", signed_on=date(2026, 1, 5), signed_at="Paris",
                        iban="FR1420041010050500013M02606")
    options = {"--reference": "MDT-NEW", "--iban": "DE89370400440532013000", "--bic": "COBADEFFXXX",
               "--signed-on": "2026-03-01", "--signed-at": "Berlin", **change}
    args = ["mandates", "add", customer.code] + [x for kv in options.items() for x in kv]
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert list(Mandate.objects.values_list("reference", flat=True)) == ["TAKEN-1"]


def test_a_mandate_needs_its_signature_date(org, customer):
    with pytest.raises(InvalidMandate) as err:
        methods.add_mandate(org, customer, reference="MDT-2", signed_on=None, signed_at="Lyon",
                            iban="DE89370400440532013000")
    assert err.value.code == "mandate_unsigned" and not Mandate.objects.exists()
    result = cli("mandates", "add", customer.code, "--reference", "MDT-2", "--iban", "DE89370400440532013000",
                 "--signed-at", "Lyon")
    assert result.exit_code == 2 and "--signed-on" in result.stderr and not Mandate.objects.exists()


def test_cli_creditor_set_validates_the_identifier_and_keeps_the_name(org):
    bad = cli("creditor", "set", "--identifier", "DE99ZZZ09999999999", "--iban", "DE89370400440532013000")
    assert bad.exit_code == 2 and "[invalid_creditor_id]" in bad.stderr and not SepaCreditor.objects.exists()
    bad_iban = cli("creditor", "set", "--identifier", "DE98ZZZ09999999999", "--iban", "DE00123")
    assert bad_iban.exit_code == 2 and "[invalid_iban]" in bad_iban.stderr and not SepaCreditor.objects.exists()
    ok = cli("creditor", "set", "--identifier", "de98 zzz 0999 9999 999", "--iban", "DE89370400440532013000",
             "--bic", "COBADEFFXXX", "--name", "Acme Debits")
    assert ok.exit_code == 0, ok.output
    row = SepaCreditor.objects.get()
    assert (row.creditor_id, row.iban, row.bic, row.name, row.pain_version) == (
        "DE98ZZZ09999999999", "DE89370400440532013000", "COBADEFFXXX", "Acme Debits", "pain.008.001.08")
    too_long = cli("creditor", "set", "--identifier", "DE98ZZZ09999999999", "--name", "x" * 71)
    assert too_long.exit_code == 2 and SepaCreditor.objects.get().name == "Acme Debits"


def test_the_creditor_name_is_the_one_in_the_pain008_file(org, customer, contract):
    from decimal import Decimal

    from duly.invoicing import services as inv
    from duly.payments.sepa_services import export_debits

    methods.set_creditor(org, identifier="DE98ZZZ09999999999", iban="DE89370400440532013000", name="Acme Debits")
    methods.add_mandate(org, customer, reference="MDT-9", signed_on=date(2026, 1, 5), signed_at="Paris",
                        iban="FR1420041010050500013M02606")
    customer.preferred_payment_method = "sepa_debit"  # its invoice pre-notifies the debit
    customer.save(update_fields=["preferred_payment_method"])
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("50"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    export = export_debits(org, invoice.due_date)
    assert export.batch is not None and b"<Nm>Acme Debits</Nm>" in export.xml


def test_cli_setup_starts_a_setupintent_and_prints_the_customers_personal_link(org, customer, stripe_settings, fake):
    result = cli("methods", "setup", customer.code)
    assert result.exit_code == 0, result.output
    assert "SetupIntent seti_" in result.output and "/p/" in result.output and rows() == []
    seti = fake.objects("seti_")[0]
    assert seti["metadata"] == {"duly_customer": str(customer.pk), "duly_organization": str(org.pk)}
