"""SEPA direct debits seen on the bank statement: returns recorded, collections booked as paid.

:func:`settle_debit_lines` runs before matching (:func:`duly.payments.reconcile_services.reconcile`) over the new
lines and takes those that belong to Duly's own direct debits, so none of them is offered to a customer's invoice
by the matcher or left in review:

- **a return** (camt.054/053 entry with ``RtrInf/Rsn`` and the original ``EndToEndId`` of an exported debit) is
  recorded with :func:`~duly.payments.return_services.record_debit_return` (source ``camt054``, kind ``return``):
  the debit fails, its payment is reversed (the invoice reopens) and the retry rules decide. Recording it again
  changes nothing (one R-transaction per debit);
- **a collection credit**, the money of exported debits arriving, books each debit it covers as collected with
  :func:`~duly.payments.return_services.record_debit_collected` (a payment of the invoice, method ``sepa_debit``,
  referenced by the debit's end-to-end id, so the thank-you, the receipt and the end of chasing follow). A credit
  covers debits when it names them, strongest first:

  1. one debit: the line's ``EndToEndId`` is that debit's and its amount the debit's;
  2. a payment information block of a pain.008 (``PmtInfId``) or a whole file (``MsgId``), from the entry's
     ``NtryDtls/Btch`` or ``Refs``, or written in its text; its amount must be the block's (or file's) total;
  3. the amount and date alone: exactly one exported block (or file) of that total, collected on the booking date
     or up to :data:`DATE_SLACK` days before, and the line carries no structured reference of its own.

  A credit that names a batch but not its total goes to review with the reason.

Each line is one transaction; the line is marked matched with a :class:`~.reconcile_models.BankMatch` (``how``
``returned`` or ``collected``, its debits and payments in the evidence, and under ``undo`` the state the match
changed, so :mod:`.reconcile_undo_services` can take it back exactly). A collection that is later returned arrives
as its own return line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction

from duly.customers.models import Organization
from duly.domain.errors import DomainError, NotFound

from .bank_models import StatementLine
from .models import DebitBatch, DebitReturn, DirectDebit
from .reconcile_models import BankMatch, ReviewEntry
from .reconcile_undo_services import collection_state, return_recorded, return_state
from .return_services import find_debit, record_debit_collected, record_debit_return

#: A collection credit is booked on the collection date or a few days after it (bank holidays, weekends).
DATE_SLACK = 5
_BOOKED = (DirectDebit.EXPORTED, DirectDebit.SETTLED)


@dataclass
class _Block:
    """A group of debits a credit may book together: a pain.008 payment information block, or a whole file."""

    key: str
    batch: DebitBatch
    debits: list[DirectDebit] = field(default_factory=list)

    @property
    def open(self) -> list[DirectDebit]:
        return [d for d in self.debits if d.status == DirectDebit.EXPORTED]

    @property
    def live(self) -> list[DirectDebit]:
        """The debits the credit books (exported, or booked already: booking one again changes nothing)."""
        return [d for d in self.debits if d.status in _BOOKED]

    def totals(self) -> set[int]:
        """The totals the bank may credit for it: every debit, or every debit not rejected before settlement."""
        every = sum(d.amount_minor for d in self.debits)
        rejected = sum(d.amount_minor for d in self.debits
                       if d.status == DirectDebit.FAILED and getattr(d, "_rejected", False))
        return {every, every - rejected}

    @property
    def collected_on(self) -> date:
        return min(d.collection_date for d in self.debits)


class _Debits:
    """The organization's exported debits a run can meet, loaded once per run."""

    def __init__(self, org: Organization):
        self.org = org
        batches = list(DebitBatch.objects.filter(organization=org, debits__status=DirectDebit.EXPORTED).distinct())
        self.blocks: dict[str, _Block] = {}
        self.files: dict[str, _Block] = {}
        if not batches:
            return
        from .sepa_status import payment_infos

        debits = defaultdict(list)
        rejected = set(DebitReturn.objects.filter(debit__batch__in=batches, kind=DebitReturn.REJECT)
                       .values_list("debit_id", flat=True))
        for debit in DirectDebit.objects.filter(batch__in=batches).order_by("pk"):
            debit._rejected = debit.pk in rejected
            debits[debit.batch_id].append(debit)
        for batch in batches:
            by_e2e = {d.end_to_end_id: d for d in debits[batch.pk]}
            self.files[batch.message_id] = _Block(batch.message_id, batch, list(debits[batch.pk]))
            for info_id, e2e_ids in payment_infos(bytes(batch.xml)).items():
                block = _Block(info_id, batch, [by_e2e[e] for e in e2e_ids if e in by_e2e])
                if block.debits:
                    self.blocks[info_id] = block

    def named(self, line: StatementLine) -> _Block | None:
        """The block or file the line names (its batch references, else its text)."""
        raw = line.raw or {}
        for key, table in ((raw.get("batch_pmt_inf_id", ""), self.blocks), (raw.get("batch_msg_id", ""), self.files)):
            if key and key in table:
                return table[key]
        text = " ".join((line.remittance_structured, line.remittance_unstructured, raw.get("additional", ""),
                         raw.get("entry_ref", ""), raw.get("instr_id", "")))
        for table in (self.blocks, self.files):
            for key, block in table.items():
                if len(key) >= 8 and key in text:
                    return block
        return None

    def by_amount_and_date(self, line: StatementLine) -> _Block | None:
        found = {}
        for table in (self.blocks, self.files):
            for block in table.values():
                if (block.open and line.amount_minor in block.totals()
                        and block.collected_on <= line.booking_date <= block.collected_on + timedelta(days=DATE_SLACK)):
                    found[tuple(sorted(d.pk for d in block.open))] = block
        return next(iter(found.values())) if len(found) == 1 else None


def settle_debit_lines(org: Organization, rows: list[StatementLine], *, as_of: date) -> tuple[list[StatementLine], int]:
    """Take the lines of ``rows`` that return or collect the organization's direct debits (see the module).
    Returns the lines left for matching and how many were taken (matched, or sent to review with the reason)."""
    if not rows or not DirectDebit.objects.filter(organization=org).exclude(status=DirectDebit.PENDING).exists():
        return rows, 0
    known: _Debits | None = None
    by_e2e = _debits_by_end_to_end(org, [row for row in rows if row.amount_minor > 0 and row.end_to_end_id])
    rest, taken = [], 0
    for row in rows:
        e2e = row.end_to_end_id if row.end_to_end_id.upper() != "NOTPROVIDED" else ""
        if row.amount_minor < 0:
            if row.return_reason_code and e2e and _return(org, row.pk, e2e, as_of):
                taken += 1
                continue
            rest.append(row)
            continue
        if row.amount_minor == 0 or row.return_reason_code:
            rest.append(row)
            continue
        if e2e:
            debit = next((d for d in by_e2e.get(e2e, ()) if (d.amount_minor, d.currency) == (row.amount_minor,
                                                                                              row.currency)), None)
            if debit is not None:
                _collect(org, row.pk, [debit], "sepa_debit", f"end-to-end id {e2e}", as_of)
                taken += 1
                continue
        if known is None:
            known = _Debits(org)
        if not known.blocks and not known.files:
            rest.append(row)
            continue
        block = known.named(row)
        if block is not None:
            if row.amount_minor in block.totals() and row.currency == block.batch.currency:
                _collect(org, row.pk, block.live, "sepa_batch", f"batch {block.key}", as_of)
            else:
                _to_review(org, row.pk, f"names SEPA batch {block.key} but not its total "
                                        f"({sorted(block.totals())[-1]} minor units): check the collection")
            taken += 1
            continue
        if not row.remittance_structured and row.currency == "EUR":
            block = known.by_amount_and_date(row)
            if block is not None:
                _collect(org, row.pk, block.live, "sepa_batch_amount",
                         f"the total of batch {block.key}, collected on {block.collected_on.isoformat()}", as_of)
                taken += 1
                continue
        rest.append(row)
    return rest, taken


def _debits_by_end_to_end(org: Organization, rows: list[StatementLine]) -> dict[str, list[DirectDebit]]:
    """The exported or settled debits whose end-to-end id a credit line carries, latest first (a few queries)."""
    wanted = sorted({row.end_to_end_id for row in rows})
    found: dict[str, list[DirectDebit]] = defaultdict(list)
    for start in range(0, len(wanted), 5_000):
        for debit in (DirectDebit.objects.filter(organization=org, end_to_end_id__in=wanted[start:start + 5_000],
                                                 status__in=_BOOKED).order_by("-pk")):
            found[debit.end_to_end_id].append(debit)
    return found


def _locked_new(line_id: int) -> StatementLine | None:
    line = StatementLine.objects.select_for_update().get(pk=line_id)
    return line if line.status == StatementLine.NEW else None


@transaction.atomic
def _return(org: Organization, line_id: int, e2e: str, as_of: date) -> bool:
    """Record the return a line reports; False when it names no debit of ``org`` (matching sees it then)."""
    line = _locked_new(line_id)
    if line is None:
        return True
    try:
        debit = find_debit(org, e2e)
    except NotFound:
        return False
    state = return_state(debit)
    try:
        with transaction.atomic():
            result = record_debit_return(debit, line.return_reason_code[:4], returned_on=line.booking_date,
                                         kind=DebitReturn.RETURN, source="camt054",
                                         source_ref=(line.raw or {}).get("acct_svcr_ref") or line.unique_key)
    except DomainError as err:
        _to_review(org, line.pk, f"SEPA return of {e2e} not recorded: {err.message}")
        return True
    ret = result.debit_return
    evidence = {"rule": "sepa_return", "debits": [[debit.pk, debit.end_to_end_id, debit.amount_minor]],
                "debit_return": ret.pk, "reason_code": ret.reason_code, "payments": [],
                "evidence": [["sepa_return", e2e, f"return {ret.reason_code} of debit {e2e}"]],
                "undo": return_recorded(state, debit)}
    _matched(org, line, BankMatch.RETURNED, debit.invoice.customer_id, None, evidence, as_of)
    return True


@transaction.atomic
def _collect(org: Organization, line_id: int, debits: list[DirectDebit], rule: str, detail: str, as_of: date) -> None:
    line = _locked_new(line_id)
    if line is None:
        return
    state = collection_state(debits)
    try:
        with transaction.atomic():
            payments = [record_debit_collected(d, on=line.booking_date) for d in debits]
    except DomainError as err:
        _to_review(org, line.pk, f"SEPA collection not booked: {err.message}")
        return
    customers = {p.customer_id for p in payments}
    evidence = {"rule": rule, "debits": [[d.pk, d.end_to_end_id, d.amount_minor] for d in debits],
                "payments": [p.pk for p in payments],
                "evidence": [[rule, detail, f"{len(debits)} direct debit(s) collected"]], "undo": state}
    _matched(org, line, BankMatch.COLLECTED, customers.pop() if len(customers) == 1 else None,
             payments[0] if len(payments) == 1 else None, evidence, as_of)


def _matched(org, line, how, customer_id, payment, evidence, as_of) -> BankMatch:
    match = BankMatch.objects.create(organization=org, line=line, payment=payment, customer_id=customer_id, how=how,
                                     score=100, rule=evidence["rule"], evidence=evidence, matched_on=as_of)
    line.status = StatementLine.MATCHED
    line.save(update_fields=["status"])
    ReviewEntry.objects.filter(line=line).delete()
    return match


@transaction.atomic
def _to_review(org: Organization, line_id: int, note: str) -> None:
    line = StatementLine.objects.select_for_update().get(pk=line_id)
    if line.status != StatementLine.NEW:
        return
    ReviewEntry.objects.update_or_create(line=line, defaults={"organization": org, "proposals": [],
                                                              "customer": None, "category": "", "note": note[:200]})
    line.status = StatementLine.REVIEW
    line.save(update_fields=["status"])
