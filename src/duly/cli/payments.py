"""duly payments record / refund; duly debits export / return / import-status; duly autopay."""

from __future__ import annotations

import click

from duly.cli import DATE, allow_date_option, check_business_date, current_org, handle_errors, org_option
from duly.cli.i18n import _, message


@click.group()
def payments():
    """Record and refund payments."""


@payments.command("record")
@org_option
@click.option("--customer", "customer_code", required=True, help="Customer code")
@click.option("--amount", required=True, help="Amount in major units, e.g. 1200.50")
@click.option("--currency", required=True)
@click.option("--method", required=True, help="card, bank_transfer, sepa_debit, ach_debit, paypal, check, cash")
@click.option("--date", "received_on", type=DATE, required=True, help="Date received (YYYY-MM-DD)")
@click.option("--reference", default="", help="External reference (bank/gateway id)")
@click.option("--invoice", "invoice_numbers", multiple=True,
              help="Allocate to invoice NUMBER[=AMOUNT] (repeatable); default oldest due first")
@allow_date_option
@handle_errors
def record(org_slug, customer_code, amount, currency, method, received_on, reference, invoice_numbers,
           allow_outside_window):
    """Record a payment and allocate it to invoices."""
    from duly.customers.models import Customer
    from duly.domain.errors import NotFound
    from duly.invoicing.services import get_invoice_by_number
    from duly.payments.services import record_payment

    org = current_org(org_slug)
    check_business_date(org, received_on, "The payment date", allow_outside=allow_outside_window)
    customer = Customer.objects.filter(organization=org, code=customer_code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {customer_code!r}.")
    allocations = {}
    for spec in invoice_numbers:
        number, _sep, amt = spec.partition("=")
        inv = get_invoice_by_number(org, number)
        allocations[inv.pk] = amt or str(inv.balance)
    payment = record_payment(org, customer, amount=amount, currency=currency.upper(), method=method,
                             received_on=received_on, external_reference=reference, allocations=allocations or None)
    applied = ", ".join(f"{a.invoice.number} {a.amount_minor}" for a in payment.allocations.select_related("invoice"))
    click.echo(_("Recorded payment {id} of {amount} {currency} from {customer}", id=payment.pk, amount=amount,
                 currency=currency.upper(), customer=customer.name)
               + (_("; applied to {invoices} (minor units)", invoices=applied) if applied else ""))


@payments.command("refund")
@org_option
@click.argument("payment_id", type=int)
@click.option("--amount", required=True, help="Amount to refund in major units, e.g. 200.00")
@click.option("--date", "refunded_on", type=DATE, required=True, help="Date refunded (YYYY-MM-DD)")
@click.option("--reason", required=True, help="Why the money goes back (shown to the customer and in reports)")
@click.option("--reference", default="", help="External reference of the refund (bank/gateway id)")
@allow_date_option
@handle_errors
def refund(org_slug, payment_id, amount, refunded_on, reason, reference, allow_outside_window):
    """Refund (part of) payment PAYMENT_ID: its unapplied part first, then by reopening the invoices it paid."""
    from duly.payments.services import refund_payment

    org = current_org(org_slug)
    check_business_date(org, refunded_on, "The refund date", allow_outside=allow_outside_window)
    refund = refund_payment(org, payment_id, amount=amount, refunded_on=refunded_on,
                            reason=reason, external_reference=reference)
    click.echo(_("Refunded {amount} {currency} of payment {id} on {date}.", amount=amount,
                 currency=refund.payment.currency, id=payment_id, date=f"{refunded_on:%Y-%m-%d}"))


@click.group()
def debits():
    """SEPA direct debits from the organization's own bank (pain.008 files)."""


@debits.command("export")
@org_option
@click.option("--as-of", "as_of", type=DATE, required=True, help="Date the file is made (YYYY-MM-DD)")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, writable=True),
              help="Write the pain.008 file here (default: standard output)")
@click.option("--again", "again_batch", type=int, default=None,
              help="Re-emit the stored batch BATCH byte for byte (nothing new is planned or exported)")
@allow_date_option
@handle_errors
def export_debits(org_slug, as_of, output, again_batch, allow_outside_window):
    """Plan the debits due as of --as-of and export every new one into a pain.008 file."""
    from duly.payments.sepa_services import export_debits as export

    org = current_org(org_slug)
    check_business_date(org, as_of, "The export date", allow_outside=allow_outside_window)
    result = export(org, as_of, again_batch=again_batch)
    if result.batch is None:
        click.echo(message(result.message), err=output is None)
        return
    if output:
        with open(output, "wb") as fh:
            fh.write(result.xml)
        click.echo(message(result.message) + " " + _("Written to {file}.", file=output))
    else:
        click.get_binary_stream("stdout").write(result.xml)
        click.echo(message(result.message), err=True)


@debits.command("return")
@org_option
@click.argument("end_to_end_id")
@click.option("--reason", "reason_code", required=True, help="ISO reason code (AM04, MS03, MD01, AC04, AC06...)")
@click.option("--on", "returned_on", type=DATE, default=None,
              help="Date the bank reported it (YYYY-MM-DD; default: today in the organization's time zone)")
@click.option("--kind", type=click.Choice(["reject", "return", "refusal", "reversal", "refund"]), default="return",
              show_default=True, help="The kind of R-transaction")
@allow_date_option
@handle_errors
def return_debit(org_slug, end_to_end_id, reason_code, returned_on, kind, allow_outside_window):
    """Record that the debit END_TO_END_ID came back with --reason: it fails, its payment is reversed, and it is
    re-presented (AM04, MS03: at most twice) or its mandate blocked (hard codes)."""
    from duly.customers.services import local_today
    from duly.payments.return_services import find_debit, record_debit_return

    org = current_org(org_slug)
    returned_on = returned_on or local_today(org)
    check_business_date(org, returned_on, "The return date", allow_outside=allow_outside_window)
    result = record_debit_return(find_debit(org, end_to_end_id), reason_code, returned_on=returned_on, kind=kind,
                                 source="staff")
    click.echo(message(result.message))


@debits.command("import-status")
@org_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--on", "rejected_on", type=DATE, default=None,
              help="Date of the rejections (default: the report's creation date)")
@allow_date_option
@handle_errors
def import_status(org_slug, path, rejected_on, allow_outside_window):
    """Record the rejections of the pain.002 status report PATH (all or nothing; importing it again changes nothing)."""
    from pathlib import Path

    from duly.payments.return_services import import_status_report

    org = current_org(org_slug)
    if rejected_on is not None:
        check_business_date(org, rejected_on, "The rejection date", allow_outside=allow_outside_window)
    result = import_status_report(org, Path(path).read_bytes(), rejected_on=rejected_on)
    click.echo(message(result.message))


@click.command("autopay")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Charge what falls due on this date (default: today in the organization's time zone)")
@handle_errors
def autopay(org_slug, as_of):
    """Recover interrupted charges, then charge each invoice due (and each retry due) on the customer's saved method."""
    from duly.customers.services import local_today
    from duly.payments.autopay_services import recover_attempts, run_autopay

    org = current_org(org_slug)
    as_of = as_of or local_today(org)
    recovered = recover_attempts(org, as_of)
    report = run_autopay(org, as_of)
    click.echo(f"{message(report.summary())}; {message(recovered.summary())}.")


COMMANDS = [payments, debits, autopay]
