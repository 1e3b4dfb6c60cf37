"""duly invoices list|issue|void."""

from __future__ import annotations

import json

import click

from duly.cli import DATE, allow_date_option, check_business_date, current_org, handle_errors, org_option
from duly.cli.i18n import _, ngettext


@click.group()
def invoices():
    """List, issue and void invoices."""


@invoices.command("list")
@org_option
@click.option("--status", multiple=True, help="Filter by status (repeatable)")
@click.option("--customer", "customer_code", help="Customer code")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def list_(org_slug, status, customer_code, fmt):
    """List invoices."""
    from rich.console import Console
    from rich.table import Table

    from duly.customers.models import Customer
    from duly.domain.errors import NotFound
    from duly.domain.money import from_minor
    from duly.invoicing.services import invoices_for

    org = current_org(org_slug)
    customer = None
    if customer_code:
        customer = Customer.objects.filter(organization=org, code=customer_code).first()
        if customer is None:
            raise NotFound(f"No customer with the code {customer_code!r}.")
    rows = [
        {
            "id": inv.pk,
            "number": inv.number,
            "customer": inv.customer.name,
            "kind": inv.kind,
            "status": inv.status,
            "issue_date": inv.issue_date.isoformat() if inv.issue_date else None,
            "due_date": inv.due_date.isoformat() if inv.due_date else None,
            "currency": inv.currency,
            "total": str(from_minor(inv.total_minor, inv.currency)),
            "balance": str(inv.balance),
        }
        for inv in invoices_for(org, status=status or None, customer=customer).order_by("issue_date", "id")
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(*map(_, ("ID", "Number", "Customer", "Kind", "Status", "Issued", "Due", "Total", "Balance")))
    for r in rows:
        table.add_row(str(r["id"]), r["number"] or "(draft)", r["customer"], r["kind"], r["status"],
                      r["issue_date"] or "", r["due_date"] or "", f"{r['total']} {r['currency']}",
                      f"{r['balance']} {r['currency']}")
    Console().print(table)


@invoices.command("issue")
@org_option
@click.argument("invoice_ids", nargs=-1, type=int, required=True)
@click.option("--date", "issue_date", type=DATE, required=True, help="Issue date (YYYY-MM-DD)")
@allow_date_option
@handle_errors
def issue(org_slug, invoice_ids, issue_date, allow_outside_window):
    """Issue draft invoices (by id), all or nothing.

    They are issued in one transaction, numbered in the order given. If any one is refused (a
    missing required field, a terminated customer...), none is issued and the error names it.
    """
    from duly.invoicing.services import issue_invoices

    org = current_org(org_slug)
    check_business_date(org, issue_date, "The issue date", allow_outside=allow_outside_window)
    issued = issue_invoices(org, invoice_ids, issue_date=issue_date)
    for inv in issued:
        due = _(", due {date}", date=inv.due_date.isoformat()) if inv.due_date else ""
        click.echo(_("Issued {number}: {amount} {currency}{due}", number=inv.number, amount=inv.total,
                     currency=inv.currency, due=due))
    click.echo(ngettext("{n} invoice issued.", "{n} invoices issued.", len(issued)))


@invoices.command("void")
@org_option
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is void")
@handle_errors
def void(org_slug, number, reason):
    """Void an issued invoice (by number)."""
    from duly.invoicing.services import get_invoice_by_number, void_invoice

    org = current_org(org_slug)
    inv = void_invoice(org, get_invoice_by_number(org, number).pk, reason=reason)
    click.echo(_("Voided {number}: {reason}", number=inv.number, reason=inv.void_reason))


COMMANDS = [invoices]


# --- documents: export and import (duly.invoicing.documents) -------------------------------------
EXPORT_FORMATS = ["pdf", "ubl", "facturx", "cii"]


def _invoice_for_export(org, number: str):
    """An invoice by number, or a draft by its id (drafts have no number yet)."""
    from duly.domain.errors import NotFound
    from duly.invoicing.models import Invoice
    from duly.invoicing.services import get_invoice_by_number

    try:
        return get_invoice_by_number(org, number)
    except NotFound:
        draft_id = number.removeprefix("#").removeprefix("draft-")
        if draft_id.isdigit():
            draft = (Invoice.objects.select_related("customer", "contract", "organization")
                     .filter(organization=org, pk=int(draft_id), status=Invoice.DRAFT).first())
            if draft is not None:
                return draft
        raise


@invoices.command("export")
@org_option
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="pdf", show_default=True,
              help="pdf (PDF/A-3b), ubl (UBL 2.1, Peppol BIS 3.0), facturx (PDF/A-3 with CII), cii")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              help="File to write ('-' for standard output); default: the document's own file name")
@click.option("--date", "as_of", type=DATE, help="Drafts: preview as issued on this date (default: today)")
@handle_errors
def export(org_slug, number, fmt, output, as_of):
    """Export an invoice's document (by NUMBER, or a draft by its id).

    An issued invoice's documents are rendered once and stored: every export returns the same bytes.
    A draft is rendered on the fly as a PDF watermarked DRAFT, and never stored.
    """
    from datetime import date as _date

    from duly.invoicing.documents import document_bytes

    org = current_org(org_slug)
    invoice = _invoice_for_export(org, number)
    rendered = document_bytes(invoice, fmt, as_of=as_of or _date.today())
    if output == "-":
        click.get_binary_stream("stdout").write(rendered.content)
        return
    path = output or rendered.filename
    with open(path, "wb") as fh:
        fh.write(rendered.content)
    state = _("stored") if rendered.stored else _("draft, not stored")
    size = ngettext("{n} byte", "{n} bytes", len(rendered.content))
    click.echo(_("Wrote {path} ({format}, {size}, {state}, sha256 {sha256}…)", path=path, format=fmt, size=size,
                 state=state, sha256=rendered.sha256[:16]))


@invoices.command("render-pdfs")
@org_option
@click.option("--jobs", type=click.IntRange(1, 8), default=None,
              help="Rendering processes (default: one per CPU; 1 renders in this process)")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many invoices")
@handle_errors
def render_pdfs(org_slug, jobs, limit):
    """Render and store the PDFs of issued invoices that have none yet (e.g. after a billing run).

    Documents are otherwise rendered the first time they are needed; this renders them ahead, in parallel
    processes. Running it again renders only what is still missing.
    """
    import time

    from duly.invoicing.documents import render_pending_pdfs

    org = current_org(org_slug)
    started = time.perf_counter()
    result = render_pending_pdfs(org, jobs=jobs, limit=limit)
    seconds = time.perf_counter() - started
    rate = f", {result.rendered / seconds:.1f}/s" if result.rendered and seconds > 0 else ""
    click.echo(_("{rendered} with {processes} in {seconds} s{rate}", rendered=ngettext(
                   "Rendered {n} PDF", "Rendered {n} PDFs", result.rendered), processes=ngettext(
                   "{n} process", "{n} processes", result.workers), seconds=f"{seconds:.1f}", rate=rate)
               + (ngettext("; {n} stored meanwhile by someone else", "; {n} stored meanwhile by someone else",
                           result.already_stored) if result.already_stored else "")
               + ".")


@invoices.command("import-ubl")
@org_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as-issued", is_flag=True,
              help="Migration: keep it issued, with the source's number, dates, due date and terms (not a draft)")
@handle_errors
def import_ubl(org_slug, file, as_issued):
    """Import an EN 16931 invoice (UBL 2.1 or CII XML) into a draft, matching or creating the customer.

    With --as-issued, the invoice is an open receivable migrated from another system: it keeps its number
    (in Duly's separate migrated series), issue date, due date and terms. The same invoice is never
    imported twice.
    """
    from duly.domain.money import from_minor
    from duly.invoicing.documents import import_einvoice
    from duly.invoicing.migration_services import import_einvoice_as_issued

    org = current_org(org_slug)
    with open(file, "rb") as fh:
        data = fh.read()
    result = import_einvoice_as_issued(org, data) if as_issued else import_einvoice(org, data)
    inv = result.invoice
    customer = (_("{name} (new customer {code})") if result.customer_created else "{name} ({code})").format(
        name=result.customer.name, code=result.customer.code)
    total = _("total {amount} {currency}", amount=from_minor(inv.total_minor, inv.currency), currency=inv.currency)
    if as_issued:
        click.echo(_("Imported {kind} {number} ({syntax}) as issued on {issued}, due {due}, for {customer}: {total}, "
                     "open {open} {currency}", kind=result.source.kind, number=inv.number,
                     syntax=result.syntax.upper(), issued=inv.issue_date.isoformat(), due=inv.due_date.isoformat(),
                     customer=customer, total=total, open=inv.balance, currency=inv.currency))
        return
    click.echo(_("Imported {kind} {number} ({syntax}) as draft #{id} for {customer}: {lines}, {total}",
                 kind=result.source.kind, number=result.source.number, syntax=result.syntax.upper(), id=inv.pk,
                 customer=customer, lines=ngettext("{n} lines", "{n} lines", inv.lines.count()), total=total))


@click.group()
def receivables():
    """Migrate open receivables from another invoicing tool."""


@receivables.command("import")
@org_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@handle_errors
def receivables_import(org_slug, file):
    """Import invoices issued elsewhere from a CSV export, all or nothing (columns: docs/input.md).

    Columns: customer (code), number, issue_date, due_date (YYYY-MM-DD), amount (including tax),
    currency, paid (already paid), and optionally terms. Each becomes an issued invoice with its own
    number, dates and open amount; a bad row imports nothing and names its row and column.
    """
    from duly.invoicing.migration_services import import_receivables

    org = current_org(org_slug)
    with open(file, "rb") as fh:
        imported = import_receivables(org, fh.read())
    open_total: dict[str, object] = {}
    for inv in imported:
        open_total[inv.currency] = open_total.get(inv.currency, 0) + inv.balance
    amounts = ", ".join(f"{amount} {cur}" for cur, amount in sorted(open_total.items()))
    click.echo(ngettext("Imported {n} receivable: {amounts} open.", "Imported {n} receivables: {amounts} open.",
                        len(imported), amounts=amounts))


COMMANDS.append(receivables)
