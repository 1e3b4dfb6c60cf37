"""Reading bank remittance text for matching: invoice-number keys, OCR repairs, payer names, subset sums.

Pure helpers of :mod:`duly.domain.matching` (stdlib only, no state between calls).

Invoice numbers
    A number such as ``INV-2026-00042`` is known by two keys: its digits run together (``202600042``) and its
    digit groups without leading zeros (``2026.42``). A payer may write ``INV202600042``, ``inv 2026 00042``,
    ``2026/42`` or ``2O26-0OO42`` (OCR or typing: O, D, Q read as 0; I, L as 1; S as 5; B as 8; Z as 2): the text is
    split into chains of digit groups (letters that look like digits are read as digits when they sit in a group
    with digits), and every run of consecutive groups of a chain is looked up under both keys. A key that is not
    found may have one typing error: :func:`one_edit_variants` gives the keys one substitution, transposition,
    insertion or deletion away.

Names
    :func:`normalize_name` upper-cases, strips accents, drops legal forms (GmbH, SARL, Ltd...) and punctuation;
    :func:`name_similarity` is a normalized similarity in [0, 1] (1: same normalized name), the better of the
    sequence ratio of the sorted tokens and the share of tokens that match (each allowing one typo).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator, Sequence

__all__ = [
    "MAX_CHAIN", "compact_iban", "digit_chains", "name_keys", "name_similarity", "normalize_name", "number_keys",
    "one_edit_variants", "subset_sums",
]

#: Consecutive digit groups of a chain looked up together (``2026 00042`` is two groups).
MAX_CHAIN = 4

_OCR = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8", "Z": "2"})
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OCR_BODY = re.compile(r"[0-9ODQILSBZ|]+")
_TOKEN = re.compile(r"[A-Z0-9|]+|[^A-Z0-9|\s]+|\s+")
_GROUP = re.compile(r"[0-9]+")
#: Separators a number may be written with between its digit groups.
_JOINERS = frozenset(" -/._:#")

LEGAL_FORMS = frozenset(
    "GMBH MBH AG KG OHG UG EK EV GBR SE SA SAS SASU SARL EURL SCI SNC SRL SPA SPRL BV BVBA NV VOF LTD LIMITED PLC "
    "LLP LLC INC CORP CORPORATION CO COMPANY OY OYJ AB AS APS ASA KFT SRO ZOO SP".split()
)
STOPWORDS = frozenset("THE AND UND ET DER DIE DAS LE LA LES DE DU VON VAN & + Y E".split())
_NON_WORD = re.compile(r"[^A-Z0-9]+")


def number_keys(number: str) -> tuple[str, str]:
    """The lookup keys of an invoice number: its digits run together, and its groups without leading zeros.

    ``INV-2026-00042`` -> ``("202600042", "2026.42")``; a number with one group has no second key (``""``):
    ``A-0042`` -> ``("0042", "")``. A number without digits has neither.
    """
    groups = _GROUP.findall(number)
    if not groups:
        return "", ""
    if len(groups) == 1:
        return groups[0], ""
    return "".join(groups), ".".join([g.lstrip("0") or "0" for g in groups])


def _ocr_repair(token: str) -> str:
    """A token that mixes digits with letters that look like digits, read as digits (``2O26`` -> ``2026``).

    A leading run of letters is a series prefix (``INV2026``) and stays; so does a token without any digit."""
    if token.isdigit() or token.isalpha():
        return token
    body = token.lstrip(_LETTERS)
    if not body or body.isdigit():
        return token
    if _OCR_BODY.fullmatch(body):
        return token[: len(token) - len(body)] + body.translate(_OCR)
    return token


def digit_chains(text: str) -> list[tuple[str, list[str]]]:
    """The chains of digit groups in ``text`` with the letters just before each chain (its series prefix).

    ``"Inv 2026-00042, INV2026/43"`` -> ``[("INV", ["2026", "00042"]), ("INV", ["2026", "43"])]``.
    Groups separated by one or two of ``space - / . _ : #`` belong to one chain; anything else ends it.
    """
    chains: list[tuple[str, list[str]]] = []
    current: list[str] = []
    prefix = ""
    last_letters = ""
    gap_ok = False
    for part in _TOKEN.findall(text.upper()):
        if part[0].isspace() or part[0] in _JOINERS and all(ch in _JOINERS for ch in part):
            gap_ok = gap_ok and len(part.strip()) <= 2
            continue
        if not (part[0].isalnum() or part[0] == "|"):
            gap_ok = False
            continue
        repaired = _ocr_repair(part)
        groups = _GROUP.findall(repaired)
        if not groups:
            if current:
                chains.append((prefix, current))
                current = []
            last_letters = part
            gap_ok = False
            continue
        letters = repaired[: len(repaired) - len(repaired.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))]
        if current and gap_ok and not letters:
            current.extend(groups)
        else:
            if current:
                chains.append((prefix, current))
            prefix = letters or last_letters
            current = list(groups)
        last_letters = ""
        gap_ok = repaired[-1].isdigit()
    if current:
        chains.append((prefix, current))
    return chains


def text_keys(text: str) -> Iterator[tuple[str, str, str]]:
    """Every number ``text`` may hold: ``(series prefix, digits run together, groups without leading zeros)`` for
    each run of up to :data:`MAX_CHAIN` consecutive groups of a chain (the last is ``""`` for a single group)."""
    for prefix, groups in digit_chains(text):
        n = len(groups)
        for start in range(n):
            for stop in range(start + 1, min(n, start + MAX_CHAIN) + 1):
                run = groups[start:stop]
                joined = "".join(run)
                if len(joined) >= 4:
                    stripped = ".".join(g.lstrip("0") or "0" for g in run) if len(run) > 1 else ""
                    yield prefix if start == 0 else "", joined, stripped


def one_edit_variants(key: str) -> Iterator[str]:
    """The digit strings one typing error away from ``key``: a digit substituted, two neighbours swapped, a digit
    missing, a digit too many."""
    digits = "0123456789"
    n = len(key)
    seen = {key}
    for i in range(n):
        for d in digits:
            if d != key[i]:
                yield key[:i] + d + key[i + 1:]
    for i in range(n - 1):
        if key[i] != key[i + 1]:
            swapped = key[:i] + key[i + 1] + key[i] + key[i + 2:]
            if swapped not in seen:
                seen.add(swapped)
                yield swapped
    for i in range(n):
        shorter = key[:i] + key[i + 1:]
        if shorter not in seen:
            seen.add(shorter)
            yield shorter
    for i in range(n + 1):
        for d in digits:
            longer = key[:i] + d + key[i:]
            if longer not in seen:
                seen.add(longer)
                yield longer


def compact_iban(iban: str) -> str:
    """An IBAN without spaces, upper case (the key learned payers are known by); validation is the importer's."""
    return "".join(iban.split()).upper() if iban else ""


def normalize_name(name: str) -> str:
    """``"Müller & Söhne GmbH"`` -> ``"MULLER SOHNE"``: no accents, punctuation, legal forms or small words."""
    if not name:
        return ""
    plain = name.upper()
    if not plain.isascii():
        plain = unicodedata.normalize("NFKD", plain.replace("ß", "SS"))
        plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    words = [w for w in _NON_WORD.split(plain) if w and w not in LEGAL_FORMS and w not in STOPWORDS]
    return " ".join(words)


def name_keys(normalized: str) -> set[str]:
    """Index keys of a normalized name: each word's first four and last four letters (a typo in the middle of a
    word keeps both; one at either end keeps the other)."""
    keys: set[str] = set()
    for word in normalized.split():
        if len(word) <= 4:
            keys.add(word)
        else:
            keys.add(word[:4] + "<")
            keys.add(">" + word[-4:])
    return keys


def _one_typo(a: str, b: str) -> bool:
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1 or min(la, lb) < 4:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def name_similarity(a: str, b: str) -> float:
    """Similarity of two normalized names in [0, 1]; 1 only when they are equal.

    The share of the words of the longer name that the other has, each allowing one typo (words of at least four
    letters), times 0.98 so that anything but equality reads below 1: ``MULLER SOHNE`` / ``SOHNE MULLER`` 0.98,
    ``MULER SOHNE`` / ``MULLER SOHNE`` 0.98, ``MULLER`` / ``MULLER SOHNE`` 0.49. Words count once each.
    """
    if a == b:
        return 1.0 if a else 0.0
    if not a or not b:
        return 0.0
    wa, wb = a.split(), b.split()
    longer, shorter = (wa, wb) if len(wa) >= len(wb) else (wb, wa)
    unused = list(shorter)
    hits = 0
    for word in longer:
        if word in unused:
            unused.remove(word)
            hits += 1
            continue
        for other in unused:
            if _one_typo(word, other):
                unused.remove(other)
                hits += 1
                break
    return 0.98 * hits / len(longer)


def subset_sums(amounts: Sequence[int], target: int, max_items: int = 8, budget: int = 20000,
                want: int = 2) -> tuple[list[tuple[int, ...]], bool]:
    """Subsets (index tuples, at most ``max_items``) of positive ``amounts`` summing exactly to ``target``.

    Amounts are tried largest first, equal amounts in their given order (so among equal amounts the earliest
    given is chosen) and a subset of equal amounts is found once. Stops after ``want`` subsets or ``budget``
    steps; returns the subsets and whether the search finished (False: the budget ran out, so there may be more).
    """
    order = sorted(range(len(amounts)), key=lambda i: -amounts[i])
    values = [amounts[i] for i in order]
    suffix = [0] * (len(values) + 1)
    for i in range(len(values) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + values[i]
    found: list[tuple[int, ...]] = []
    steps = 0
    complete = True
    chosen: list[int] = []

    def walk(start: int, left: int) -> bool:
        nonlocal steps, complete
        if left == 0:
            found.append(tuple(sorted(order[i] for i in chosen)))
            return len(found) >= want
        if len(chosen) >= max_items:
            return False
        previous = None
        for i in range(start, len(values)):
            steps += 1
            if steps > budget:
                complete = False
                return True
            v = values[i]
            if v == previous or v > left:
                continue
            if suffix[i] < left:
                return False
            previous = v
            chosen.append(i)
            if walk(i + 1, left - v):
                chosen.pop()
                return True
            chosen.pop()
        return False

    if target > 0:
        walk(0, target)
    return found, complete
