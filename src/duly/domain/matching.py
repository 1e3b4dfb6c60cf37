"""Matching bank statement lines to open invoices: proposals with a score and their evidence.

A snapshot of open items (:class:`OpenItem`), the payers learned from earlier payments (IBAN -> customers) and
statement lines (:class:`StatementLine`) in; one :class:`LineMatch` per line out, with its ranked
:class:`Proposal` s and a :class:`Decision`: apply automatically, send to review, or an outgoing line.

Rules, strongest first (the score a proposal starts from; 0-100):

==========================  ====  =============================================================================
``rf_reference``             100  an ISO 11649 RF reference (structured field or free text) naming an invoice
``structured_reference``      98  the structured (EPC) remittance field holds an invoice number
``invoice_number``            88  an invoice number in the free text (separators, spaces, OCR letters tolerated)
``invoice_number_typo``       80  a number one typing error away from an invoice's number
``number_in_broken_rf``       75  a number inside an RF reference whose check digits fail (a typo somewhere)
``payer_iban``                92  the payer's IBAN, learned from the customer's earlier payments, plus the amount
``payer_name``                84  the payer's name (normalized, fuzzy) plus the amount; +7 when the names are equal
``customer_credit``           55  the payer is known but no amount fits: the money as credit (review)
==========================  ====  =============================================================================

Confirmations move a reference's score: +6 when the amount fits (equal, or short within the tolerance), +4 when
the payer (learned IBAN, or name) is the invoice's customer, -10 when the learned IBAN is another customer's.
A reference proposal for a customer's invoices allocates in the order the invoices are named; an amount rule
finds one open item of that amount (several of the same amount: the oldest due) or a subset of up to
``policy.max_subset`` items summing to it (:func:`~duly.domain.matching_text.subset_sums`, bounded).

Amounts: a payment below the open amount is a partial payment (the invoice stays open), unless the shortfall is
within the policy's tolerance and the policy writes such shortfalls off (``write_off_minor``); a payment above
it pays the invoice and the rest becomes customer credit (``credit_minor``). Several lines paying one invoice
(instalments) each take what the earlier ones left: the lines are matched in booking order and every automatic
match consumes the open amount it applies. A line in another currency than the invoice matches through its
exchange details (the instructed amount in the invoice's currency); without them it goes to review.

Never applied automatically (``blockers``), whatever the score:
- a proposal for an invoice other than the one(s) the line's reference names (``reference_names_other_invoice``),
  including a valid RF reference Duly does not know;
- an invoice that is void, written off, fully credited or already paid (``invoice_void``, ``invoice_written_off``,
  ``invoice_credited``, ``invoice_paid``): the proposal offers the money as the customer's credit instead;
- an invoice with an allocation made by hand (``hand_allocation``);
- several proposals within ``policy.ambiguity_margin`` of the best (``ambiguous``), a line booked after
  ``as_of`` (``booked_after_as_of``), a currency with no exchange details (``currency_differs``).

Outgoing lines (negative amounts) are recognised: a refund to a known customer (its IBAN or an invoice number),
bank fees, salaries, or another transfer; they are never applied to invoices.

Matching is indexed (:class:`MatchIndex`: by RF reference, number keys, learned IBAN, customer and name keys), so
a line costs a few dictionary lookups, never a scan of the open items. The index and the consumed amounts live in
a run-scoped :class:`Matcher`; nothing is cached in the module.
"""

from __future__ import annotations

import gc
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from typing import Iterable, Mapping, Sequence

from .errors import ValidationError
from .matching_text import (
    compact_iban,
    name_keys,
    name_similarity,
    normalize_name,
    number_keys,
    one_edit_variants,
    subset_sums,
    text_keys,
)
from .references import compact_rf, find_rf, is_valid_rf

__all__ = [
    "Allocation", "Decision", "Evidence", "FxDetails", "ItemStatus", "LineMatch", "MatchIndex", "MatchPolicy",
    "Matcher", "OpenItem", "Proposal", "ShortPaymentAction", "StatementLine", "match_lines",
]


class ItemStatus(str, Enum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    WRITTEN_OFF = "written_off"
    CREDITED = "credited"  # fully credited by credit notes


_BLOCKED_STATUS = {
    ItemStatus.PAID: "invoice_paid", ItemStatus.VOID: "invoice_void", ItemStatus.WRITTEN_OFF: "invoice_written_off",
    ItemStatus.CREDITED: "invoice_credited",
}


class ShortPaymentAction(str, Enum):
    WRITE_OFF = "write_off"
    LEAVE_OPEN = "leave_open"


class Decision(str, Enum):
    AUTO = "auto"
    REVIEW = "review"
    OUTGOING = "outgoing"


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice as the matcher sees it. ``open_minor`` is what is still due (0 for a settled one)."""

    invoice_id: int
    number: str
    customer_id: int
    customer_name: str
    currency: str
    open_minor: int
    due_date: date
    status: ItemStatus = ItemStatus.OPEN
    rf_reference: str = ""
    #: Minor units allocated to it by hand (a person chose them): never matched automatically.
    hand_allocated_minor: int = 0


@dataclass(frozen=True, slots=True)
class FxDetails:
    """A line booked in the account's currency for a payment instructed in another (camt ``AmtDtls``/``CcyXchg``)."""

    instructed_currency: str
    instructed_minor: int
    rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_id: int
    #: Signed: incoming money is positive, outgoing negative.
    amount_minor: int
    currency: str
    booked_on: date
    structured_reference: str = ""
    remittance: str = ""
    payer_name: str = ""
    payer_iban: str = ""
    end_to_end_id: str = ""
    fx: FxDetails | None = None


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    #: A proposal with at least this score and no blocker is applied automatically.
    auto_apply_score: int = 90
    #: A shortfall up to this many minor units (and, when set, this percentage of the open amount) is a short
    #: payment (bank fees) rather than a partial payment.
    short_tolerance_minor: int = 0
    short_tolerance_percent: Decimal | None = None
    short_payment: ShortPaymentAction = ShortPaymentAction.LEAVE_OPEN
    max_subset: int = 8
    #: The best proposal must lead the next different one by more than this to be applied automatically.
    ambiguity_margin: int = 5
    #: Lowest name similarity (0-1) that counts as the same payer.
    name_threshold: float = 0.85

    def __post_init__(self):
        if not 0 <= self.auto_apply_score <= 101:
            raise ValidationError("The auto-apply score must be between 0 and 101 (101: never automatic).")
        if self.short_tolerance_minor < 0 or (self.short_tolerance_percent is not None
                                              and self.short_tolerance_percent < 0):
            raise ValidationError("A short-payment tolerance cannot be negative.")
        if not 1 <= self.max_subset <= 12:
            raise ValidationError("One line can pay 1 to 12 invoices.")
        if not isinstance(self.short_payment, ShortPaymentAction):
            object.__setattr__(self, "short_payment", ShortPaymentAction(self.short_payment))

    def within_tolerance(self, shortfall: int, open_minor: int) -> bool:
        if shortfall <= 0 or shortfall > self.short_tolerance_minor:
            return False
        pct = self.short_tolerance_percent
        return pct is None or Decimal(shortfall) * 100 <= pct * open_minor


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_id: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a proposal was made: the rule and what matched (``matched``: the value found on the line)."""

    rule: str
    matched: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    customer_id: int | None
    #: Currency of the allocations (the invoices'); may differ from the line's (exchange details).
    currency: str
    allocations: tuple[Allocation, ...]
    #: Left over after the allocations: becomes the customer's credit.
    credit_minor: int
    #: Shortfall within tolerance written off (policy ``write_off``); 0 otherwise.
    write_off_minor: int
    score: int
    evidence: tuple[Evidence, ...]
    blockers: tuple[str, ...] = ()

    @property
    def invoice_ids(self) -> tuple[int, ...]:
        return tuple(a.invoice_id for a in self.allocations)

    @property
    def rule(self) -> str:
        return self.evidence[0].rule if self.evidence else ""


@dataclass(frozen=True, slots=True)
class LineMatch:
    line_id: int
    decision: Decision
    proposals: tuple[Proposal, ...] = ()
    #: Outgoing lines: ``refund``, ``bank_fee``, ``salary`` or ``transfer``.
    category: str = ""
    #: Outgoing refund: the customer it went to, when known.
    customer_id: int | None = None

    @property
    def best(self) -> Proposal | None:
        return self.proposals[0] if self.proposals else None


# --- the index -------------------------------------------------------------------------------------------------
@dataclass
class MatchIndex:
    """Open items indexed by what a line can name them by. Build once per run with :meth:`build`."""

    items: dict[int, OpenItem]
    by_rf: dict[str, int]
    #: Digits of the number run together -> the invoice id, or a list of ids when several share them.
    by_key: dict[str, int | list[int]]
    key_lengths: set[int]
    by_customer: dict[int, list[int]]
    by_iban: dict[str, tuple[int, ...]]
    names: dict[int, str]
    by_name_key: dict[str, list[int]]
    by_name: dict[str, list[int]]

    #: Groups without leading zeros (``2026.42``) -> invoice ids: built on the first lookup that needs it.
    _by_stripped: dict[str, list[int]] | None = None
    _sorted: set[int] = field(default_factory=set)

    @classmethod
    def build(cls, items: Iterable[OpenItem], learned_ibans: Mapping[str, Iterable[int]] | None = None
              ) -> "MatchIndex":
        with _collector_paused():
            return cls._build(items, learned_ibans)

    @classmethod
    def _build(cls, items: Iterable[OpenItem], learned_ibans: Mapping[str, Iterable[int]] | None) -> "MatchIndex":
        # A million open items: each index is made by a few passes in C (``map``, ``zip``, ``dict``, one regex over
        # all the numbers) rather than by Python statements per item; the result is the same, orders included.
        items = items if isinstance(items, list) else list(items)
        ids = list(map(_INVOICE_ID, items))
        by_id = dict(zip(ids, items))
        by_rf = _rf_index(list(map(_RF_REFERENCE, items)), ids)
        by_key = _key_index(list(map(_NUMBER, items)), ids)
        by_customer, names = _customer_index(list(map(_CUSTOMER_ID, items)), ids, items)
        by_name_key: dict[str, list[int]] = defaultdict(list)
        by_name: dict[str, list[int]] = defaultdict(list)
        normalized: dict[int, str] = {}
        for customer_id, name in names.items():
            norm = normalize_name(name)
            normalized[customer_id] = norm
            by_name[norm].append(customer_id)
            for key in name_keys(norm):
                by_name_key[key].append(customer_id)
        ibans = {compact_iban(iban): tuple(sorted(set(customers)))
                 for iban, customers in (learned_ibans or {}).items() if iban}
        return cls(items=by_id, by_rf=by_rf, by_key=by_key, key_lengths=set(map(len, by_key)),
                   by_customer=by_customer, by_iban=ibans, names=normalized, by_name_key=dict(by_name_key),
                   by_name=dict(by_name))

    def customer_items(self, customer_id: int) -> list[int]:
        """The customer's invoices, oldest due first (sorted on first use: most lines never ask)."""
        ids = self.by_customer.get(customer_id)
        if not ids:
            return []
        if len(ids) > 1 and customer_id not in self._sorted:
            items = self.items
            ids.sort(key=lambda i: (items[i].due_date, i))
            self._sorted.add(customer_id)
        return ids

    def by_stripped(self) -> dict[str, list[int]]:
        if self._by_stripped is None:
            index: dict[str, list[int]] = {}
            for iid, item in self.items.items():
                key = number_keys(item.number)[1]
                if key:
                    index.setdefault(key, []).append(iid)
            self._by_stripped = index
        return self._by_stripped


_DIGITS = re.compile(r"[0-9]+")
_INVOICE_ID = attrgetter("invoice_id")
_RF_REFERENCE = attrgetter("rf_reference")
_NUMBER = attrgetter("number")
_CUSTOMER_ID = attrgetter("customer_id")
_CUSTOMER_NAME = attrgetter("customer_name")
#: Joins the invoice numbers into one text for :data:`_NOT_DIGIT_OR_SEP` (a number holding it takes the slow path).
_SEP = "\x1f"
_NOT_DIGIT_OR_SEP = re.compile(r"[^0-9\x1f]+")
_RF_LIKE = re.compile(r"RF[0-9]{2}[A-Z0-9]+$")


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for one indexing or matching run, back as it was after.

    A run holds a million long-lived open items and makes some ten objects per line that it keeps (its proposals
    and their evidence): the collector's automatic full passes walk every one of them, find no garbage (a run makes
    no reference cycles to speak of) and cost about a third of the matching time. Reference counting still frees
    everything as usual; what a run might leave in a cycle is collected at the next pass after it. A nested run
    leaves the collector to the outer one; a run in another thread at the same time may find it back on before
    it ends (slower, never wrong)."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rf_index(rfs: list[str], ids: list[int]) -> dict[str, int]:
    """Compact RF reference -> invoice id (the last of a reference given twice), in the order first seen."""
    joined = "".join(rfs)
    if not joined:
        return {}
    if joined.isalnum() and joined.isupper():
        # every reference is compact already (compact_rf would return it unchanged): one dict built in C
        by_rf = dict(zip(rfs, ids))
        by_rf.pop("", None)
        return by_rf
    by_rf = {}
    for rf, iid in zip(rfs, ids):
        if rf:
            by_rf[rf if rf.isalnum() and rf.isupper() else compact_rf(rf)] = iid
    return by_rf


def _key_index(numbers: list[str], ids: list[int]) -> dict[str, int | list[int]]:
    """The digits of each number run together -> its invoice id; a key shared by several invoices (INV-2026-1 and
    CN-2026-1) -> their ids in order (one int per key otherwise: a million one-element lists would cost memory
    and collector time)."""
    if not numbers:
        return {}
    joined = _SEP.join(numbers)
    if joined.count(_SEP) == len(numbers) - 1:
        keys = _NOT_DIGIT_OR_SEP.sub("", joined).split(_SEP)  # the digits of every number, in one pass
    else:  # a number holding the separator
        findall = _DIGITS.findall
        keys = ["".join(findall(number)) for number in numbers]
    by_key: dict[str, int | list[int]] = dict(zip(keys, ids))
    if len(by_key) != len(keys):  # keys given more than once: each gets its first id, then a list of them
        shared = {key for key, count in Counter(keys).items() if count > 1}
        # each shared key keeps its place in by_key (where first seen); its value is replaced below
        buckets: dict[str, int | list[int]] = {}
        for key, iid in zip(keys, ids):
            if key in shared:
                bucket = buckets.setdefault(key, iid)
                if bucket != iid:
                    buckets[key] = bucket + [iid] if isinstance(bucket, list) else [bucket, iid]
        by_key.update(buckets)
    by_key.pop("", None)  # a number without digits has no key
    return by_key


def _customer_index(customer_ids: list[int], ids: list[int], items: list[OpenItem]
                    ) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Customer -> their invoice ids (in the order given), and customer -> the name on their first item; both in
    the order customers are first seen."""
    grouped: defaultdict[int, list[int]] = defaultdict(list)
    for customer_id, iid in zip(customer_ids, ids):
        grouped[customer_id].append(iid)
    first = dict(zip(reversed(customer_ids), reversed(range(len(customer_ids)))))
    return dict(grouped), {customer_id: items[first[customer_id]].customer_name for customer_id in grouped}



# --- the run ---------------------------------------------------------------------------------------------------
_SCORE = {"rf_reference": 100, "structured_reference": 98, "invoice_number": 88, "invoice_number_typo": 80,
          "number_in_broken_rf": 75,
          "payer_iban": 92, "payer_name": 84, "customer_credit": 55}
#: Name-key buckets larger than this are too common to find a payer by (a word many customers share).
_MAX_NAME_BUCKET = 200
_FEE_WORDS = ("FEE", "FEES", "GEBUHR", "GEBUEHR", "ENTGELT", "FRAIS", "COMMISSION", "KONTOFUHRUNG", "CHARGES",
              "CARD", "KARTE", "SPESE", "COMISION", "PRICE FOR")
_SALARY_WORDS = ("SALARY", "GEHALT", "LOHN", "SALAIRE", "PAYROLL", "STIPENDIO", "NOMINA", "WAGES")


class Matcher:
    """One matching run: the index plus what this run's automatic matches already consumed."""

    def __init__(self, index: MatchIndex, policy: MatchPolicy, as_of: date):
        self.index = index
        self.policy = policy
        self.as_of = as_of
        self.consumed: dict[int, int] = {}
        self._line: StatementLine | None = None
        self._name: str | None = None

    # -- public
    def match(self, lines: Sequence[StatementLine]) -> list[LineMatch]:
        """Match ``lines`` in booking order (then line id); the results come back in the order given."""
        with _collector_paused():
            return self._match(lines)

    def _match(self, lines: Sequence[StatementLine]) -> list[LineMatch]:
        results: dict[int, LineMatch] = {}
        for line in sorted(lines, key=lambda ln: (ln.booked_on, ln.line_id)):
            result = self.match_line(line)
            results[line.line_id] = result
            if result.decision is Decision.AUTO:
                for alloc in result.proposals[0].allocations:
                    self.consumed[alloc.invoice_id] = self.consumed.get(alloc.invoice_id, 0) + alloc.amount_minor
                best = result.proposals[0]
                if best.write_off_minor:
                    last = best.allocations[-1].invoice_id
                    self.consumed[last] = self.consumed.get(last, 0) + best.write_off_minor
        return [results[line.line_id] for line in lines]

    def _payer_name(self) -> str:
        """The current line's payer name, normalized once and only when a rule asks for it."""
        if self._name is None:
            self._name = normalize_name(self._line.payer_name) if self._line is not None else ""
        return self._name

    def remaining(self, invoice_id: int) -> int:
        item = self.index.items[invoice_id]
        return max(item.open_minor - self.consumed.get(invoice_id, 0), 0)

    def match_line(self, line: StatementLine) -> LineMatch:
        if line.amount_minor < 0:
            return self._outgoing(line)
        if line.amount_minor == 0:
            return LineMatch(line.line_id, Decision.REVIEW)
        self._line, self._name = line, None
        named, unknown_rf, ref_evidence, typo_hits = self._references(line)
        proposals: list[Proposal] = []
        if named:
            proposals.extend(self._reference_proposals(line, named, ref_evidence))
        elif typo_hits:
            proposals.extend(self._typo_proposals(line, typo_hits))
        best = max((p.score for p in proposals if not p.blockers), default=0)
        if best < self.policy.auto_apply_score + self.policy.ambiguity_margin:
            payer = self._payer_customers(line)
            proposals.extend(self._payer_proposals(line, payer))
        referenced = {iid for iid, _ in named}
        if referenced or unknown_rf:
            proposals = [_block(p, "reference_names_other_invoice")
                         if any(a.invoice_id not in referenced for a in p.allocations)
                         or (not p.allocations and not referenced) else p for p in proposals]
        if line.booked_on > self.as_of:
            proposals = [_block(p, "booked_after_as_of") for p in proposals]
        proposals = _dedupe(sorted(proposals, key=_rank))
        return LineMatch(line.line_id, self._decide(proposals), tuple(proposals))

    # -- references
    def _references(self, line: StatementLine):
        """The invoices the line names: ``[(invoice id, evidence)]`` in order, whether a valid RF names none of
        ours, the evidence, and the candidates of a number with one typo (used only when nothing is named)."""
        idx = self.index
        named: list[tuple[int, Evidence]] = []
        seen: set[int] = set()
        unknown_rf = False
        searchable: list[str] = []

        def add(iid: int, evidence: Evidence):
            if iid not in seen:
                seen.add(iid)
                named.append((iid, evidence))

        broken_rf: list[str] = []
        structured = "".join(line.structured_reference.split()).upper()
        if structured:
            iid = idx.by_rf.get(structured) if structured.startswith("RF") else None
            if iid is not None:  # every invoice's RF reference is valid: found is valid
                add(iid, Evidence("rf_reference", structured, "structured creditor reference"))
            elif structured.startswith("RF") and is_valid_rf(structured):
                unknown_rf = True
            elif _RF_LIKE.match(structured):  # RF + digits whose check digits fail: search it, as a broken one
                broken_rf.append(structured)
                searchable.append(structured)
            else:
                hit = self._exact_number(structured, "")
                if hit is not None:
                    add(hit, Evidence("structured_reference", line.structured_reference,
                                      f"names invoice {idx.items[hit].number}"))
                else:
                    searchable.append(line.structured_reference)
        free = " ".join(t for t in (line.remittance, line.end_to_end_id) if t)
        if free:
            found = find_rf(free)
            broken_rf.extend(found.invalid)
            rf_hit = False
            for ref in found.valid:
                iid = idx.by_rf.get(ref)
                if iid is not None:
                    add(iid, Evidence("rf_reference", ref, "RF reference in the remittance text"))
                    rf_hit = True
            if found.valid and not rf_hit:
                unknown_rf = True
            searchable.append(free)
        typo_hits: list[tuple[int, str, str]] = []
        for text in searchable:
            keys = list(text_keys(text))
            for prefix, key, stripped in keys:
                hit = self._lookup_key(key, prefix)
                if hit is None and stripped:
                    hit = self._lookup_key(stripped, prefix, stripped=True)
                if hit is None:
                    continue
                if any(key in bad for bad in broken_rf):  # its RF's check digits fail: a typo may be in the number
                    add(hit, Evidence("number_in_broken_rf", key, f"invoice {idx.items[hit].number} inside an RF "
                                      "reference whose check digits fail"))
                else:
                    add(hit, Evidence("invoice_number", key, f"invoice {idx.items[hit].number} in the text"))
            if not named:
                typo_hits.extend(self._typo_candidates(keys))
        return named, unknown_rf, [e for _, e in named], typo_hits

    def _lookup_key(self, key: str, prefix: str, stripped: bool = False) -> int | None:
        ids = (self.index.by_stripped() if stripped else self.index.by_key).get(key)
        if ids is None:
            return None
        if isinstance(ids, int):
            return ids
        if len(ids) == 1:
            return ids[0]
        if prefix:  # same digits in two series (INV-2026-1, CN-2026-1): the letters before them decide
            fitting = [i for i in ids if _prefix_fits(prefix, _letters(self.index.items[i].number))]
            if len(fitting) == 1:
                return fitting[0]
        return None

    def _exact_number(self, text: str, prefix: str) -> int | None:
        run, stripped = number_keys(text)
        prefix = prefix or _letters(text)
        hit = self._lookup_key(run, prefix) if run else None
        if hit is None and stripped:
            hit = self._lookup_key(stripped, prefix, stripped=True)
        return hit

    def _typo_candidates(self, keys: list[tuple[str, str, str]]) -> list[tuple[int, str, str]]:
        out: list[tuple[int, str, str]] = []
        lengths = self.index.key_lengths
        for prefix, key, _ in keys:
            if len(key) < 6 or not ({len(key) - 1, len(key), len(key) + 1} & lengths):
                continue
            for variant in one_edit_variants(key):
                hit = self._lookup_key(variant, prefix)
                if hit is not None:
                    out.append((hit, key, variant))
        return out

    # -- proposals
    def _reference_proposals(self, line, named, evidence) -> list[Proposal]:
        idx = self.index
        by_customer: dict[int, list[int]] = {}
        for iid, _ in named:
            by_customer.setdefault(idx.items[iid].customer_id, []).append(iid)
        out = []
        several = len(by_customer) > 1
        for customer_id, ids in by_customer.items():
            ev = tuple(e for (iid, e) in named if iid in ids)
            base = min(_SCORE[e.rule] for e in ev)
            proposal = self._allocate(line, customer_id, ids, base, ev, confirm=True)
            out.append(_block(proposal, "references_several_customers") if several else proposal)
        return out

    def _typo_proposals(self, line, hits) -> list[Proposal]:
        by_invoice: dict[int, tuple[str, str]] = {}
        for iid, written, variant in hits:
            by_invoice.setdefault(iid, (written, variant))
        out = []
        for iid, (written, variant) in by_invoice.items():
            item = self.index.items[iid]
            ev = (Evidence("invoice_number_typo", written,
                           f"one typing error from invoice {item.number} ({variant})"),)
            # several invoices one typo away: the amount and the payer must single one out (see _decide's margin)
            out.append(self._allocate(line, item.customer_id, [iid], _SCORE["invoice_number_typo"], ev, confirm=True))
        return out

    def _payer_customers(self, line: StatementLine) -> dict[int, tuple[Evidence, int]]:
        """Customers the payer may be: ``{customer id: (evidence, score)}`` from the learned IBAN and the name."""
        idx = self.index
        out: dict[int, tuple[Evidence, int]] = {}
        iban = compact_iban(line.payer_iban)
        for customer_id in idx.by_iban.get(iban, ()) if iban else ():
            out[customer_id] = (Evidence("payer_iban", iban, "IBAN learned from the customer's earlier payments"),
                                _SCORE["payer_iban"])
        name = self._payer_name()
        if name:
            # a candidate must share at least half of the name's keys (first and last four letters of each word)
            keys = name_keys(name)
            hits: dict[int, int] = dict.fromkeys(idx.by_name.get(name, ()), len(keys))
            for key in keys:
                bucket = idx.by_name_key.get(key)
                if bucket and len(bucket) <= _MAX_NAME_BUCKET:
                    for customer_id in bucket:
                        hits[customer_id] = hits.get(customer_id, 0) + 1
            need = (len(keys) + 1) // 2
            for customer_id in [c for c, n in hits.items() if n >= need]:
                if customer_id in out:
                    continue
                similarity = name_similarity(name, idx.names.get(customer_id, ""))
                if similarity >= self.policy.name_threshold:
                    score = _SCORE["payer_name"] + (7 if similarity == 1.0 else 0)
                    out[customer_id] = (Evidence("payer_name", line.payer_name,
                                                 f"name similarity {similarity:.2f} to {idx.names[customer_id]}"),
                                        score)
        return out

    def _payer_proposals(self, line, payer) -> list[Proposal]:
        out: list[Proposal] = []
        for customer_id, (evidence, score) in payer.items():
            out.extend(self._amount_proposals(line, customer_id, evidence, score))
        by_name = {p.customer_id for p in out if p.allocations and p.rule == "payer_name"}
        if len(by_name) > 1:  # similar names with an amount that fits each: the name cannot choose
            out = [_block(p, "ambiguous") if p.customer_id in by_name else p for p in out]
        return out

    def _amount_proposals(self, line, customer_id, evidence, score) -> list[Proposal]:
        """Open items of the customer that the amount pays: one of that amount (the oldest), or a subset."""
        idx, policy = self.index, self.policy
        items = idx.items
        left = self._payable_remaining(idx.customer_items(customer_id))  # {id: remaining}, payable ones, in order
        ids = list(left)
        currency, amount, fx_ev = self._amount_in(line, ids)
        ids = [i for i in ids if items[i].currency == currency]
        if amount is None:
            return [self._credit(line, customer_id, evidence, fx_ev, "currency_differs")]
        exact = [i for i in ids if left[i] == amount]
        if exact:
            chosen = exact[0]
            ev = (evidence, Evidence("amount", str(amount), "equals the open amount of invoice "
                                     f"{idx.items[chosen].number}" + (f"; oldest of {len(exact)} of that amount"
                                                                       if len(exact) > 1 else ""))) + fx_ev
            return [self._allocate(line, customer_id, [chosen], score - (2 if len(exact) > 1 else 0), ev,
                                   confirm=False)]
        short = [i for i in ids if policy.within_tolerance(left[i] - amount, left[i])]
        if len(short) == 1:
            item = idx.items[short[0]]
            ev = (evidence, Evidence("short_payment", str(amount),
                                     f"{left[short[0]] - amount} short of invoice {item.number}, within "
                                     "tolerance")) + fx_ev
            return [self._allocate(line, customer_id, short, score - 2, ev, confirm=False)]
        remaining = [left[i] for i in ids[:40]]
        subsets, complete = subset_sums(remaining, amount, max_items=policy.max_subset)
        if subsets:
            chosen_ids = [ids[k] for k in subsets[0]]
            numbers = ", ".join(idx.items[i].number for i in chosen_ids)
            ev = (evidence, Evidence("several_invoices", str(amount), f"sum of invoices {numbers}")) + fx_ev
            proposal = self._allocate(line, customer_id, chosen_ids, score - 1, ev, confirm=False)
            if len(subsets) > 1 or not complete:
                proposal = _block(proposal, "ambiguous")
            return [proposal]
        return [self._credit(line, customer_id, evidence, fx_ev, "")]

    def _credit(self, line, customer_id, evidence, fx_ev, blocker) -> Proposal:
        ev = (Evidence("customer_credit", evidence.matched, "no open amount fits: " + evidence.detail),) + fx_ev
        return Proposal(customer_id, line.currency, (), line.amount_minor if not blocker else 0, 0,
                        _SCORE["customer_credit"], ev, ("no_amount_fits",) + ((blocker,) if blocker else ()))

    def _payable_remaining(self, ids: Iterable[int]) -> dict[int, int]:
        """``{id: remaining}`` of the invoices among ``ids`` a payment can go to (open, no allocation by hand,
        something left), in their order."""
        items, consumed = self.index.items, self.consumed
        out: dict[int, int] = {}
        for iid in ids:
            item = items[iid]
            if item.status is ItemStatus.OPEN and not item.hand_allocated_minor:
                left = item.open_minor - consumed.get(iid, 0)
                if left > 0:
                    out[iid] = left
        return out

    def _amount_in(self, line: StatementLine, ids: Sequence[int]):
        """The line's amount in the invoices' currency: its own, or the instructed amount of its exchange
        details. ``(currency, amount or None, evidence)``."""
        items = self.index.items
        if len(ids) == 1 and items[ids[0]].currency == line.currency:
            return line.currency, line.amount_minor, ()
        currencies = {items[i].currency for i in ids}
        if not currencies or line.currency in currencies:
            return line.currency, line.amount_minor, ()
        fx = line.fx
        if fx is not None and fx.instructed_currency in currencies:
            detail = f"booked {line.amount_minor} {line.currency}" + (f" at {fx.rate}" if fx.rate else "")
            return fx.instructed_currency, fx.instructed_minor, (
                Evidence("foreign_currency", f"{fx.instructed_minor} {fx.instructed_currency}", detail),)
        return next(iter(sorted(currencies))), None, ()

    def _allocate(self, line, customer_id, ids, base, evidence, *, confirm) -> Proposal:
        """Allocate the line to ``ids`` in order; the rest is credit, a shortfall within tolerance per policy."""
        idx, policy = self.index, self.policy
        items, consumed = idx.items, self.consumed
        blockers: list[str] = []
        payable: list[int] = []
        rest: dict[int, int] = {}  # what each invoice still awaits (remaining(), read once)
        for iid in ids:
            item = items[iid]
            left_on = item.open_minor - consumed.get(iid, 0)
            rest[iid] = left_on if left_on > 0 else 0
            if item.status is not ItemStatus.OPEN:
                blockers.append(_BLOCKED_STATUS[item.status])
            elif item.hand_allocated_minor:
                blockers.append("hand_allocation")
                payable.append(iid)
            elif left_on <= 0:
                blockers.append("invoice_paid")
            else:
                payable.append(iid)
        currency, amount, fx_ev = self._amount_in(line, payable or ids)
        evidence = tuple(evidence) + tuple(e for e in fx_ev if e not in evidence)
        if amount is None:
            return Proposal(customer_id, currency, (), 0, 0, base, evidence, tuple(blockers) + ("currency_differs",))
        payable = [i for i in payable if items[i].currency == currency]
        left = amount
        allocations: list[Allocation] = []
        for iid in payable:
            if left <= 0:
                break
            take = min(rest[iid], left)
            allocations.append(Allocation(iid, take))
            left -= take
        due = sum([rest[i] for i in payable])
        paid = amount - left
        write_off = 0
        score = base
        notes: list[Evidence] = []
        shortfall = due - paid
        if confirm:
            if allocations and left == 0 and (shortfall == 0 or policy.within_tolerance(shortfall, due)):
                score += 6
                notes.append(Evidence("amount", str(amount), "equals the open amount" if shortfall == 0
                                      else f"{shortfall} short, within tolerance"))
            iban = compact_iban(line.payer_iban)
            iban_customers = idx.by_iban.get(iban, ()) if iban else ()
            if customer_id in iban_customers:
                score += 4
                notes.append(Evidence("payer", iban, "the IBAN was learned from this customer's payments"))
            elif self._payer_name() and (name_similarity(self._payer_name(), idx.names.get(customer_id, ""))
                                         >= policy.name_threshold):
                score += 4
                notes.append(Evidence("payer", line.payer_name, "the payer's name is the customer's"))
            elif iban_customers:
                score -= 10
                notes.append(Evidence("payer", compact_iban(line.payer_iban),
                                      "the IBAN was learned for another customer"))
        if allocations and shortfall > 0:
            if policy.within_tolerance(shortfall, due) and policy.short_payment is ShortPaymentAction.WRITE_OFF:
                write_off = shortfall
                notes.append(Evidence("short_payment", str(shortfall), "written off per policy"))
            else:
                notes.append(Evidence("partial_payment", str(paid), f"{shortfall} stays open"))
        if left > 0:
            notes.append(Evidence("overpayment", str(left), "the rest becomes customer credit"))
        return Proposal(customer_id, currency, tuple(allocations), left, write_off, min(score, 100),
                        evidence + tuple(notes), tuple(dict.fromkeys(blockers)))

    def _decide(self, proposals: list[Proposal]) -> Decision:
        if not proposals:
            return Decision.REVIEW
        best = proposals[0]
        if best.blockers or best.score < self.policy.auto_apply_score or not best.allocations:
            return Decision.REVIEW
        for other in proposals[1:]:
            if other.score > best.score - self.policy.ambiguity_margin and other.allocations != best.allocations:
                return Decision.REVIEW
        return Decision.AUTO

    # -- outgoing
    def _outgoing(self, line: StatementLine) -> LineMatch:
        text = " ".join((line.remittance, line.payer_name, line.structured_reference)).upper()
        iban = compact_iban(line.payer_iban)
        customers = self.index.by_iban.get(iban, ()) if iban else ()
        named, _, _, _ = self._references(line) if line.remittance or line.structured_reference else ([], 0, 0, 0)
        if customers or named:
            customer = customers[0] if customers else self.index.items[named[0][0]].customer_id
            return LineMatch(line.line_id, Decision.OUTGOING, (), "refund", customer)
        plain = " ".join(normalize_name(text).split())
        if any(word in _SALARY_WORDS for word in plain.split()):
            return LineMatch(line.line_id, Decision.OUTGOING, (), "salary")
        if any(word in plain for word in _FEE_WORDS) or (not iban and not line.payer_name):
            return LineMatch(line.line_id, Decision.OUTGOING, (), "bank_fee")
        return LineMatch(line.line_id, Decision.OUTGOING, (), "transfer")


def match_lines(items: Iterable[OpenItem], lines: Sequence[StatementLine], policy: MatchPolicy, as_of: date,
                learned_ibans: Mapping[str, Iterable[int]] | None = None) -> list[LineMatch]:
    """Match ``lines`` against ``items`` (see the module notes); one :class:`LineMatch` per line, in order."""
    return Matcher(MatchIndex.build(items, learned_ibans), policy, as_of).match(lines)


# --- helpers ---------------------------------------------------------------------------------------------------
def _letters(number: str) -> str:
    return "".join(ch for ch in number.upper() if "A" <= ch <= "Z")


def _prefix_fits(written: str, letters: str) -> bool:
    """Letters written before a number (``INVOICE``, ``RE``) fit a series prefix (``INV``) when one starts or ends
    the other."""
    return bool(letters) and (written.startswith(letters) or letters.startswith(written) or written.endswith(letters))


def _block(proposal: Proposal, blocker: str) -> Proposal:
    if blocker in proposal.blockers:
        return proposal
    return Proposal(proposal.customer_id, proposal.currency, proposal.allocations, proposal.credit_minor,
                    proposal.write_off_minor, proposal.score, proposal.evidence, proposal.blockers + (blocker,))


def _rank(p: Proposal):
    return (bool(p.blockers), -p.score, -len(p.allocations))


def _dedupe(proposals: list[Proposal]) -> list[Proposal]:
    """One proposal per outcome (the best ranked), with the evidence of the others that reached it too."""
    kept: dict[tuple, Proposal] = {}
    for p in proposals:
        key = (p.customer_id, p.allocations, p.credit_minor)
        first = kept.get(key)
        if first is None:
            kept[key] = p
        elif p.evidence[0] not in first.evidence:
            kept[key] = Proposal(first.customer_id, first.currency, first.allocations, first.credit_minor,
                                 first.write_off_minor, first.score, first.evidence + (p.evidence[0],), first.blockers)
    return list(kept.values())
