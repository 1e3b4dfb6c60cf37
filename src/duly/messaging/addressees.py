"""Who a message to a customer goes to: the contact chosen by role, and the language it is written in.

Shared by every sender of customer messages (invoice e-mails here in messaging, reminders, thank-yous,
greetings and notices in collections). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from duly.domain import dunning

from .formatting import Formatter


class ContactLike(Protocol):
    """What choosing a contact reads (a :class:`ContactRow`, or the collections run's gathered rows)."""

    id: int
    name: str
    email: str
    role: str
    locale: str
    opted_out: bool


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One contact of a customer, as read for a message (same fields, same order, as the collections run's)."""

    id: int
    customer_id: int
    name: str
    email: str
    phone: str
    role: str
    locale: str
    opted_out: bool


#: The ``values_list`` fields a :class:`ContactRow` is built from, in order.
CONTACT_FIELDS = ("pk", "customer_id", "name", "email", "phone", "role", "locale", "opted_out")


@dataclass(frozen=True)
class Addressee:
    """Who a message goes to, and why (when it is not the first choice)."""

    contact: ContactLike | None
    name: str
    email: str
    fallback_note: str = ""


def locale_for(account_locale: str, contact: ContactLike | None) -> str:
    return (contact.locale if contact is not None and contact.locale else account_locale) or "en"


def language_of(customer, addressee: Addressee) -> str:
    """The language a message to ``addressee`` (a contact of ``customer``) is written in."""
    return Formatter.for_locale(locale_for(customer.locale, addressee.contact)).language


def pick_contact(contacts: Iterable[ContactLike], *, respect_opt_out: bool) -> Addressee | None:
    """The contact for a non-reminder message: by role (accounts payable, billing, owner), with an e-mail.

    ``respect_opt_out`` is for relationship messages (greetings). Returns None when nobody has an
    e-mail address; a fallback note says when the first contact was skipped.
    """
    rank = {role: i for i, role in enumerate(dunning.CONTACT_ROLE_PREFERENCE)}
    ranked = sorted(contacts, key=lambda c: (rank.get(c.role, len(rank)), c.id))
    eligible = [c for c in ranked if not (respect_opt_out and c.opted_out)]
    chosen = next((c for c in eligible if c.email), None)
    if chosen is None:
        return None
    note = ""
    if ranked and ranked[0] is not chosen:
        first = ranked[0]
        problem = "opted out" if (respect_opt_out and first.opted_out) else "has no e-mail address"
        note = f"contact {first.name} {problem}; sent to {chosen.name}"
    return Addressee(contact=chosen, name=chosen.name, email=chosen.email, fallback_note=note)
