"""SEPA Core direct debit from the organization's own bank: mandates, planned debits and pain.008 files.

The rules (sequence types, collection dates, creditor identifiers, mandate validity) are in
``duly.domain.sepa``; this module keeps the rows and writes the file with ``sepaxml``, validated against
the XSD it ships. Each public function owns its transaction: on any error nothing is written.

Pre-notification
    Only an invoice that told the customer it would be debited is debited: its document snapshot states a SEPA
    debit on that mandate (:mod:`duly.payments.instructions`, frozen at issue), and that invoice is the
    debit's pre-notification (mandate, creditor identifier, amount, date). The debit is planned on the date the
    invoice stated, never earlier than the notice period after the invoice's date (``notified_on`` +
    ``notice_days``, 14 calendar days unless the contract agreed shorter), and later only when the file itself
    comes too late for that date (the debtor then has more notice, never less). An invoice that stated a transfer
    (no mandate at issue, another preferred method) is never debited: the customer was told to transfer.
    :func:`export_debits` checks it again for every pending debit before it goes into a file: a debit whose
    collection date is not at least the notice period after its invoice's pre-notification (planned before this
    rule, or its invoice never stated it) is not exported; it is marked failed and never reaches the bank.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

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
from duly.domain.payment_instructions import SEPA_DEBIT, PaymentInstruction
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
                        final_presented=mandate.final_presented, blocked_reason=mandate.blocked_reason)


# --- creditor and mandates -------------------------------------------------------------------------------------

def check_creditor(org: Organization, *, creditor_id: str, iban: str = "", bic: str = "", pain_version: str = "",
                   name: str = "") -> dict:
    """The creditor's fields, checked and normalised (what :func:`configure_creditor` writes); a DomainError names
    the first bad one (codes ``invalid_creditor_id``, ``invalid_iban``, ``invalid_bic``...)."""
    creditor = sepa.validate_creditor_id(creditor_id)
    name_text = " ".join((name or "").split())
    if len(name_text) > 70:
        raise ValidationError(f"The creditor name has {len(name_text)} characters; a SEPA file takes at most 70.",
                              code="value_too_long")
    account = clean_iban(iban or org.iban)
    bic_text = clean_bic(bic or org.bic)
    version = pain_version or "pain.008.001.08"
    if version not in PAIN_008_VERSIONS:
        raise ValidationError(f"pain.008 version {version!r} is not one Duly writes: use one of "
                              f"{', '.join(PAIN_008_VERSIONS)}.", code="invalid_choice")
    if version == "pain.008.001.02" and not bic_text:
        raise InvalidBankAccount("pain.008.001.02 needs the creditor's BIC.", code="invalid_bic")
    return {"creditor_id": creditor, "iban": account, "bic": bic_text, "pain_version": version, "name": name_text}


@transaction.atomic
def configure_creditor(org: Organization, *, creditor_id: str, iban: str = "", bic: str = "",
                       pain_version: str = "", name: str = "") -> SepaCreditor:
    """Set ``org``'s SEPA creditor identifier, the account debits are paid into (the organization's own
    IBAN/BIC when none is given) and the name debtors see (the organization's when blank)."""
    values = check_creditor(org, creditor_id=creditor_id, iban=iban, bic=bic, pain_version=pain_version, name=name)
    row, _ = SepaCreditor.objects.update_or_create(organization=org, defaults=values)
    return row


def check_mandate_data(org: Organization, customer: Customer, *, reference: str, signed_on: date | None,
                       debtor_name: str, iban: str, bic: str = "", signed_at: str = "",
                       kind: str = Mandate.RECURRENT, as_of: date | None = None) -> dict:
    """A new mandate's fields, checked and normalised (what :func:`create_mandate` writes): a bad reference, IBAN
    or BIC, a missing or future signature date, or a reference already used raise a DomainError."""
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
    return {"reference": ref, "kind": kind, "signed_on": signed_on, "signed_at": (signed_at or "").strip()[:100],
            "debtor_name": name, "iban": account, "bic": bic_text}


@transaction.atomic
def create_mandate(org: Organization, customer: Customer, *, reference: str, signed_on: date | None,
                   debtor_name: str, iban: str, bic: str = "", signed_at: str = "",
                   kind: str = Mandate.RECURRENT, as_of: date | None = None) -> Mandate:
    """Record a mandate the customer signed. Refuses (writing nothing) a bad reference, IBAN or BIC, a
    missing or future signature date, and a reference already used in the organization."""
    values = check_mandate_data(org, customer, reference=reference, signed_on=signed_on, debtor_name=debtor_name,
                                iban=iban, bic=bic, signed_at=signed_at, kind=kind, as_of=as_of)
    return Mandate.objects.create(organization=org, customer=customer, **values)


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

def end_to_end_id(invoice: Invoice, attempt: int) -> str:
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
    invoices = list(Invoice.objects.filter(Q(customer_id__in=list(mandates)) | Q(pk__in=list(scoped)),
                                            organization=org, status__in=Invoice.OPEN_STATUSES,
                                            kind=Invoice.KIND_STANDARD, currency=SEPA_CURRENCY,
                                            due_date__lte=as_of + timedelta(days=horizon_days))
                    .exclude(sepa_debits__status__in=LIVE_STATUSES).select_related("contract")
                    .order_by("due_date", "pk"))
    # A debit returned on a mandate is re-presented only by record_debit_return (AM04/MS03, at most twice):
    # planning never debits that invoice on that mandate again (a new mandate may).
    returned = set(DirectDebit.objects.filter(invoice__in=[i.pk for i in invoices], debit_return__isnull=False)
                   .values_list("invoice_id", "mandate_id"))
    in_flight: dict[int, int] = {}  # mandate id -> debits planned but not yet counted on the mandate row
    last_pending: dict[int, date] = {}
    live = [m.pk for m in mandates.values()] + [m.pk for m, _ in scoped.values()]
    for row in DirectDebit.objects.filter(mandate_id__in=live,
                                          status=DirectDebit.PENDING).values("mandate_id", "collection_date"):
        in_flight[row["mandate_id"]] = in_flight.get(row["mandate_id"], 0) + 1
        day = row["collection_date"]
        last_pending[row["mandate_id"]] = max(day, last_pending.get(row["mandate_id"], day))
    by_mandate: dict[int, list[tuple[Invoice, PaymentInstruction | None, int]]] = {}
    mandate_of: dict[int, Mandate] = {}
    for invoice in invoices:
        amount = invoice.balance_minor
        if invoice.pk in scoped and scoped[invoice.pk][0].customer_id == invoice.customer_id:
            mandate, chosen = scoped[invoice.pk]
            amount, stated = min(amount, chosen[invoice.pk]), None  # chosen on the pay page, which told the debit
        elif invoice.customer_id in mandates:
            mandate = mandates[invoice.customer_id]
            stated = stated_debit(invoice, mandate)
            if stated is None:
                continue  # the invoice did not pre-notify a debit on this mandate: the customer was told otherwise
        else:
            continue
        if amount <= 0 or (invoice.pk, mandate.pk) in returned:
            continue
        mandate_of[mandate.pk] = mandate
        by_mandate.setdefault(mandate.pk, []).append((invoice, stated, amount))
    planned = []
    for mandate_pk, queue in by_mandate.items():
        mandate = mandate_of[mandate_pk]
        for position, (invoice, stated, amount) in enumerate(queue):
            state = snapshot(mandate)
            state = sepa.Mandate(**{**state.__dict__, "collected": state.collected + in_flight.get(mandate_pk, 0)})
            day = stated.debit_date if stated else invoice.due_date
            when = dict(notice_days=stated.notice_days, notified_on=stated.notified_on) if stated else {}
            try:
                plan = sepa.collection_plan(state, day, as_of, **when)
                later = position < len(queue) - 1 or last_pending.get(mandate_pk, plan.collection_date) > \
                    plan.collection_date
                if sepa.is_final_collection(state, plan.collection_date, later_planned=later,
                                            contract_ends_on=invoice.contract.end_date if invoice.contract else None):
                    plan = sepa.collection_plan(state, day, as_of, final=True, **when)
            except InvalidMandate:
                break  # a one-off mandate already used, or one whose final collection is planned
            if mandate.revoked_at is not None and mandate.revoked_at <= plan.collection_date:
                continue  # revoked before the money would be collected
            attempt = (DirectDebit.objects.filter(invoice=invoice).aggregate(m=Max("attempt"))["m"] or 0) + 1
            planned.append(DirectDebit.objects.create(
                organization=org, mandate=mandate, invoice=invoice, attempt=attempt, amount_minor=amount,
                currency=invoice.currency, collection_date=plan.collection_date,
                sequence_type=plan.sequence_type.value, end_to_end_id=end_to_end_id(invoice, attempt)))
            in_flight[mandate_pk] = in_flight.get(mandate_pk, 0) + 1
            if plan.sequence_type in (sepa.SequenceType.FNAL, sepa.SequenceType.OOFF):
                break  # nothing more is collected on this mandate
    return planned


def stated_debit(invoice: Invoice, mandate: Mandate) -> PaymentInstruction | None:
    """The SEPA debit ``invoice`` pre-notified on ``mandate`` (its payment instruction frozen at issue), or None
    when it stated another method, another mandate, or nothing (an invoice issued before instructions)."""
    stated = PaymentInstruction.from_json((invoice.document_snapshot or {}).get("payment"))
    if stated is None or stated.method != SEPA_DEBIT or stated.mandate_reference != mandate.reference \
            or stated.debit_date is None or stated.notified_on is None or not stated.notice_days:
        return None
    return stated


def pre_notified(debit: DirectDebit) -> bool:
    """Whether the debtor was told of ``debit`` (by its invoice) at least the notice period before its collection
    date."""
    if debit.mandate.kind == Mandate.ONE_OFF and debit.mandate.checkouts.exists():
        return True  # signed on the pay page for this payment, planned no sooner than the notice from then
    stated = stated_debit(debit.invoice, debit.mandate)
    if stated is None:
        return False
    try:
        return stated.notified_on <= sepa.pre_notification_date(debit.collection_date, stated.notice_days)
    except InvalidMandate:  # a notice period outside 1 to 14 days
        return False


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


_SCHEMAS: dict[str, object] = {}


def _schema(version: str):
    """The XSD sepaxml ships for ``version``, parsed once per process by lxml (libxml2 validates a 10,000-debit
    file in a fraction of a second; sepaxml's own check, with the pure-Python xmlschema, takes seconds)."""
    if version not in _SCHEMAS:
        import sepaxml
        from lxml import etree

        path = Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd"
        _SCHEMAS[version] = etree.XMLSchema(etree.parse(str(path)))
    return _SCHEMAS[version]


def validate_pain008(xml: bytes, version: str) -> None:
    """Refuse (:class:`SepaFileInvalid`) a pain.008 file that does not validate against its XSD, naming the first
    error's line and element."""
    from lxml import etree

    schema = _schema(version)
    try:
        document = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise SepaFileInvalid(f"The pain.008 file is not well-formed XML: {exc.msg}") from None
    if not schema.validate(document):
        error = schema.error_log.last_error
        detail = " ".join(str(error.message).split())[:300] if error is not None else "unknown error"
        raise SepaFileInvalid(f"The pain.008 file does not validate against {version}: line "
                              f"{getattr(error, 'line', '?')}: {detail}")


def _build_file(org: Organization, creditor: SepaCreditor, debits: list[DirectDebit]) -> tuple[bytes, str]:
    from sepaxml import SepaDD

    config = {"name": creditor.name or org.name, "IBAN": creditor.iban, "batch": True, "creditor_id": creditor.creditor_id,
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
    xml = sepa_file.export(validate=False)
    validate_pain008(xml, creditor.pain_version)  # the same XSD sepaxml ships, checked by libxml2
    return xml, sepa_file.msg_id


#: What a file never needs of an invoice (its frozen text; the snapshot is read: it holds the pre-notification).
_INVOICE_BULK = ("invoice__additional_parties", "invoice__custom_fields",
                 "invoice__tax_breakdown", "invoice__notes", "invoice__payment_terms_text")


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
                  .select_related("mandate", "invoice").defer(*_INVOICE_BULK)
                  .order_by("sequence_type", "collection_date", "pk"))
    stale = [d for d in debits if d.invoice.status not in Invoice.OPEN_STATUSES or d.invoice.balance_minor <= 0
             or not pre_notified(d)]
    if stale:  # settled another way since they were planned, or not pre-notified in time: never debited
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
