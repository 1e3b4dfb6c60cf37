"""SEPA Core direct debit from the organization's own bank: mandates, planned debits and pain.008 files.

The rules (sequence types, collection dates, creditor identifiers, mandate validity) are in
``duly.domain.sepa``; this module keeps the rows and writes the file with ``sepaxml``, validated against
the XSD it ships. Each public function owns its transaction: on any error nothing is written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Max, Q

from duly.customers.models import Customer, Organization
from duly.domain import sepa
from duly.domain.errors import (
    Conflict,
    CrossOrganization,
    InvalidBankAccount,
    InvalidMandate,
    NotFound,
    SepaFileInvalid,
    SepaNotConfigured,
    ValidationError,
)
from duly.invoicing.models import Invoice

from .models import PAIN_008_VERSIONS, DebitBatch, DirectDebit, Mandate, SepaCreditor

#: SEPA Core debits are in euro.
SEPA_CURRENCY = "EUR"
#: In flight or done: such a debit keeps its invoice from being debited again.
LIVE_STATUSES = (DirectDebit.PENDING, DirectDebit.EXPORTED, DirectDebit.SETTLED)


# --- validation ------------------------------------------------------------------------------------------------

def clean_iban(value: str) -> str:
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return IBAN(value or "").compact
    except (SchwiftyException, ValueError) as exc:
        raise InvalidBankAccount(f"IBAN {value!r} is not valid: {exc}", code="invalid_iban") from None


def clean_bic(value: str) -> str:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    text = "".join((value or "").split()).upper()
    if not text:
        return ""
    try:
        return BIC(text).compact
    except (SchwiftyException, ValueError) as exc:
        raise InvalidBankAccount(f"BIC {value!r} is not valid: {exc}", code="invalid_bic") from None


def snapshot(mandate: Mandate) -> sepa.Mandate:
    """The domain's view of a mandate row."""
    return sepa.Mandate(reference=mandate.reference, signed_on=mandate.signed_on, kind=mandate.kind,
                        signed_at=mandate.signed_at, revoked_on=mandate.revoked_at, presented=mandate.presented,
                        collected=mandate.collected, last_presented_on=mandate.last_presented_on,
                        final_presented=mandate.final_presented)


# --- creditor and mandates -------------------------------------------------------------------------------------

@transaction.atomic
def configure_creditor(org: Organization, *, creditor_id: str, iban: str = "", bic: str = "",
                       pain_version: str = "") -> SepaCreditor:
    """Set ``org``'s SEPA creditor identifier and the account debits are paid into (the organization's own
    IBAN/BIC when none is given)."""
    creditor = sepa.validate_creditor_id(creditor_id)
    account = clean_iban(iban or org.iban)
    bic_text = clean_bic(bic or org.bic)
    version = pain_version or "pain.008.001.08"
    if version not in PAIN_008_VERSIONS:
        raise ValidationError(f"pain.008 version {version!r} is not one Duly writes: use one of "
                              f"{', '.join(PAIN_008_VERSIONS)}.", code="invalid_choice")
    if version == "pain.008.001.02" and not bic_text:
        raise InvalidBankAccount("pain.008.001.02 needs the creditor's BIC.", code="invalid_bic")
    row, _ = SepaCreditor.objects.update_or_create(
        organization=org, defaults={"creditor_id": creditor, "iban": account, "bic": bic_text,
                                    "pain_version": version})
    return row


@transaction.atomic
def create_mandate(org: Organization, customer: Customer, *, reference: str, signed_on: date | None,
                   debtor_name: str, iban: str, bic: str = "", signed_at: str = "",
                   kind: str = Mandate.RECURRENT, as_of: date | None = None) -> Mandate:
    """Record a mandate the customer signed. Refuses (writing nothing) a bad reference, IBAN or BIC, a
    missing or future signature date, and a reference already used in the organization."""
    if customer.organization_id != org.pk:
        raise CrossOrganization("That customer belongs to another organization.")
    ref = sepa.validate_mandate_reference(reference)
    if signed_on is None:
        raise InvalidMandate(f"Mandate {ref} has no signature date.", code="mandate_unsigned", reference=ref)
    if kind not in dict(Mandate.KIND_CHOICES):
        raise InvalidMandate(f"A mandate is recurrent or one_off, got {kind!r}.", code="mandate_invalid")
    account = clean_iban(iban)
    bic_text = clean_bic(bic)
    name = " ".join((debtor_name or customer.name).split())[:140]
    sepa.check_mandate(sepa.Mandate(reference=ref, signed_on=signed_on, kind=kind), as_of or signed_on)
    if Mandate.objects.filter(organization=org, reference=ref).exists():
        raise Conflict(f"Mandate reference {ref} is already used in this organization.",
                       code="mandate_reference_taken", reference=ref)
    return Mandate.objects.create(organization=org, customer=customer, reference=ref, kind=kind,
                                  signed_on=signed_on, signed_at=signed_at.strip()[:100], debtor_name=name,
                                  iban=account, bic=bic_text)


@transaction.atomic
def revoke_mandate(org: Organization, mandate_id: int, *, revoked_on: date) -> Mandate:
    """Revoke a mandate from ``revoked_on``: no debit is planned on it from that day; pending ones fail."""
    mandate = Mandate.objects.select_for_update().filter(organization=org, pk=mandate_id).first()
    if mandate is None:
        raise NotFound(f"No mandate {mandate_id} in this organization.")
    if mandate.revoked_at is None or revoked_on < mandate.revoked_at:
        mandate.revoked_at = revoked_on
        mandate.save(update_fields=["revoked_at"])
    DirectDebit.objects.filter(mandate=mandate, status=DirectDebit.PENDING).update(status=DirectDebit.FAILED)
    return mandate


# --- planning --------------------------------------------------------------------------------------------------

def _end_to_end_id(invoice: Invoice, attempt: int) -> str:
    text = re.sub(r"[^A-Za-z0-9/\-?:().,'+]", "-", invoice.number or f"INV{invoice.pk}")
    return f"{text[:30]}-{attempt}"


@transaction.atomic
def plan_debits(org: Organization, as_of: date, *, horizon_days: int = sepa.DEFAULT_NOTICE_DAYS) -> list[DirectDebit]:
    """Plan a debit (pending) for each open euro invoice falling due by ``as_of`` + ``horizon_days`` of a
    customer with a usable mandate, unless the invoice already has a live debit. The sequence type and the
    collection date come from ``duly.domain.sepa``."""
    from .models import Checkout

    # A one-off mandate signed for a payment from the personal link (a checkout) debits only what the customer
    # chose there: those invoices, those amounts. It is never the customer's mandate for their other invoices.
    scoped: dict[int, tuple[Mandate, dict[int, int]]] = {}  # invoice id -> (mandate, {invoice id: minor})
    for checkout in (Checkout.objects.filter(organization=org, mandate__kind=Mandate.ONE_OFF)
                     .select_related("mandate")):
        try:
            sepa.check_mandate(snapshot(checkout.mandate), as_of)
        except InvalidMandate:
            continue
        plan = {int(k): int(v) for k, v in checkout.plan.items()}
        for invoice_id in plan:
            scoped.setdefault(invoice_id, (checkout.mandate, plan))
    for_checkouts = Mandate.objects.filter(organization=org, kind=Mandate.ONE_OFF, checkouts__isnull=False)
    mandates: dict[int, Mandate] = {}
    for mandate in (Mandate.objects.filter(organization=org).exclude(pk__in=for_checkouts)
                    .order_by("customer_id", "-signed_on", "-pk")):
        if mandate.customer_id in mandates:
            continue
        try:
            sepa.check_mandate(snapshot(mandate), as_of)
        except InvalidMandate:
            continue
        mandates[mandate.customer_id] = mandate
    if not mandates and not scoped:
        return []
    invoices = (Invoice.objects.filter(Q(customer_id__in=list(mandates)) | Q(pk__in=list(scoped)), organization=org,
                                       status__in=Invoice.OPEN_STATUSES, kind=Invoice.KIND_STANDARD,
                                       currency=SEPA_CURRENCY, due_date__lte=as_of + timedelta(days=horizon_days))
                .exclude(sepa_debits__status__in=LIVE_STATUSES).order_by("due_date", "pk"))
    in_flight = {}  # mandate id -> debits planned but not yet counted on the mandate row
    live = [m.pk for m in mandates.values()] + [m.pk for m, _ in scoped.values()]
    for row in DirectDebit.objects.filter(mandate_id__in=live,
                                          status=DirectDebit.PENDING).values("mandate_id"):
        in_flight[row["mandate_id"]] = in_flight.get(row["mandate_id"], 0) + 1
    planned = []
    for invoice in invoices:
        amount = invoice.balance_minor
        if invoice.pk in scoped and scoped[invoice.pk][0].customer_id == invoice.customer_id:
            mandate, plan = scoped[invoice.pk]
            amount = min(amount, plan[invoice.pk])
        elif invoice.customer_id in mandates:
            mandate = mandates[invoice.customer_id]
        else:
            continue
        if amount <= 0:
            continue
        state = snapshot(mandate)
        state = sepa.Mandate(**{**state.__dict__, "collected": state.collected + in_flight.get(mandate.pk, 0)})
        try:
            plan = sepa.collection_plan(state, invoice.due_date, as_of)
        except InvalidMandate:
            continue  # a one-off mandate already used: nothing more to debit on it
        if mandate.revoked_at is not None and mandate.revoked_at <= plan.collection_date:
            continue  # revoked before the money would be collected
        attempt = (DirectDebit.objects.filter(invoice=invoice).aggregate(m=Max("attempt"))["m"] or 0) + 1
        planned.append(DirectDebit.objects.create(
            organization=org, mandate=mandate, invoice=invoice, attempt=attempt, amount_minor=amount,
            currency=invoice.currency, collection_date=plan.collection_date, sequence_type=plan.sequence_type.value,
            end_to_end_id=_end_to_end_id(invoice, attempt)))
        in_flight[mandate.pk] = in_flight.get(mandate.pk, 0) + 1
    return planned


# --- export ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    """What an export did: ``batch`` is None when there was nothing new (``xml`` is then empty)."""

    batch: DebitBatch | None
    xml: bytes
    again: bool = False

    @property
    def message(self) -> str:
        if self.batch is None:
            return "Nothing new to export: every planned debit is already in a batch."
        total = _amount(self.batch.total_minor)
        verb = "Re-emitted" if self.again else "Exported"
        return (f"{verb} batch {self.batch.pk} ({self.batch.message_id}): {self.batch.transactions} debit(s), "
                f"{total} {self.batch.currency}, {self.batch.pain_version}, sha256 {self.batch.file_sha256}.")


def _amount(minor: int) -> str:
    from duly.domain.money import from_minor

    return str(from_minor(minor, SEPA_CURRENCY))


def _build_file(org: Organization, creditor: SepaCreditor, debits: list[DirectDebit]) -> tuple[bytes, str]:
    from sepaxml import SepaDD
    from sepaxml.validation import ValidationError as SepaXmlInvalid

    config = {"name": org.name, "IBAN": creditor.iban, "batch": True, "creditor_id": creditor.creditor_id,
              "currency": SEPA_CURRENCY}
    if creditor.bic:
        config["BIC"] = creditor.bic
    sepa_file = SepaDD(config, schema=creditor.pain_version, clean=True)
    for debit in debits:
        payment = {"name": debit.mandate.debtor_name, "IBAN": debit.mandate.iban, "amount": debit.amount_minor,
                   "type": debit.sequence_type, "collection_date": debit.collection_date,
                   "mandate_id": debit.mandate.reference, "mandate_date": debit.mandate.signed_on,
                   "description": f"Invoice {debit.invoice.number}", "endtoend_id": debit.end_to_end_id}
        if debit.mandate.bic:
            payment["BIC"] = debit.mandate.bic
        sepa_file.add_payment(payment)
    try:
        xml = sepa_file.export(validate=True)
    except SepaXmlInvalid as exc:
        detail = " ".join(str(exc.__cause__ or exc).split())[:300]
        raise SepaFileInvalid(f"The pain.008 file does not validate against {creditor.pain_version}: {detail}")
    return xml, sepa_file.msg_id


@transaction.atomic
def export_debits(org: Organization, as_of: date, again_batch: int | None = None) -> Export:
    """Plan the debits due as of ``as_of`` and write every pending one into a new pain.008 batch (grouped by
    sequence type and collection date, validated against the XSD). A debit is exported once: with nothing
    new, no batch is made. ``again_batch``: the stored batch's exact bytes, nothing planned or written."""
    if again_batch is not None:
        batch = DebitBatch.objects.filter(organization=org, pk=again_batch).first()
        if batch is None:
            raise NotFound(f"No debit batch {again_batch} in this organization.")
        return Export(batch, bytes(batch.xml), again=True)
    creditor = SepaCreditor.objects.filter(organization=org).first()
    if creditor is None:
        raise SepaNotConfigured("Set the organization's SEPA creditor identifier and account first.")
    plan_debits(org, as_of)
    debits = list(DirectDebit.objects.select_for_update().filter(organization=org, status=DirectDebit.PENDING,
                                                                  batch__isnull=True)
                  .select_related("mandate", "invoice").order_by("sequence_type", "collection_date", "pk"))
    stale = [d for d in debits if d.invoice.status not in Invoice.OPEN_STATUSES or d.invoice.balance_minor <= 0]
    if stale:  # settled another way since they were planned: never debited
        DirectDebit.objects.filter(pk__in=[d.pk for d in stale]).update(status=DirectDebit.FAILED)
        debits = [d for d in debits if d not in stale]
    for debit in debits:
        if debit.amount_minor > debit.invoice.balance_minor:  # partly paid since: debit what is still open
            debit.amount_minor = debit.invoice.balance_minor
            debit.save(update_fields=["amount_minor"])
    if not debits:
        return Export(None, b"")
    xml, msg_id = _build_file(org, creditor, debits)
    batch = DebitBatch.objects.create(
        organization=org, as_of=as_of, message_id=msg_id[:35], pain_version=creditor.pain_version,
        file_sha256=hashlib.sha256(xml).hexdigest(), xml=xml, transactions=len(debits),
        total_minor=sum(d.amount_minor for d in debits), currency=SEPA_CURRENCY)
    DirectDebit.objects.filter(pk__in=[d.pk for d in debits]).update(status=DirectDebit.EXPORTED, batch=batch)
    by_mandate: dict[int, list[DirectDebit]] = {}
    for debit in debits:
        by_mandate.setdefault(debit.mandate_id, []).append(debit)
    for mandate in Mandate.objects.select_for_update().filter(pk__in=list(by_mandate)):
        mine = by_mandate[mandate.pk]
        mandate.presented += len(mine)
        mandate.collected += len(mine)
        mandate.last_presented_on = max(d.collection_date for d in mine)
        mandate.final_presented = mandate.final_presented or any(d.sequence_type == "FNAL" for d in mine)
        mandate.save(update_fields=["presented", "collected", "last_presented_on", "final_presented"])
    return Export(batch, xml)
