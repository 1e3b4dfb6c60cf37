"""Relationship messages: contacts' birthdays, contract anniversaries and customers' special dates.

Greetings come last in a run (:func:`.run.collect`), so they see every other message of the run in
the customer's contact budget, and wait while the customer's situation calls for no greeting
(:func:`duly.domain.dunning.contact_hold`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

from django.db import transaction

from duly.customers.models import Contact, Contract, Customer, Organization
from duly.db.functions import MonthDay
from duly.domain import dunning
from duly.messaging.services import queue_message, renderer_for

from .. import messages as msgs
from .. import snapshots
from ..models import Greeting, SpecialDate
from .common import _aware, _language, account_window

GREETING_GRACE_DAYS = 3


@dataclass(frozen=True)
class _Occasion:
    customer_id: int
    kind: str
    key: str
    label: str
    month: int
    day: int
    years: int
    contact_id: int | None


def send_greetings(org: Organization, *, now: datetime, dry_run: bool = False,
                   rc: snapshots.RunContext | None = None, held: list[str] | None = None) -> list[str]:
    """Queue today's greetings: contacts' birthdays, contract anniversaries, customers' special dates.

    A greeting goes out on the occasion (or within 3 days when that day is not a business day), on
    a business day inside the sending window, to a contact who has not opted out, and only when
    the customer's contact budget allows one more message (reminders, invoice e-mails, notices and
    greetings all count). It waits while the customer is suspended or terminated, has a query open
    or an invoice at a final step (:func:`duly.domain.dunning.contact_hold`); ``held`` collects why.
    Once per contact, occasion and year.
    """
    now = _aware(now)
    rc = rc or snapshots.RunContext.load(org)
    if not rc.greetings_enabled:
        return []
    # Candidate days around the UTC date (customers' local dates differ by at most a day); the
    # domain's greeting_day then decides on each customer's own local date.
    days = [now.astimezone(dt_timezone.utc).date() + timedelta(days=d) for d in range(-GREETING_GRACE_DAYS - 1, 2)]

    month_days = sorted({d.strftime("%m-%d") for d in days})

    def on_days(model, field: str):
        """``model``'s rows whose ``field`` falls (month and day) on one of ``days``, whatever the year."""
        return model.objects.alias(_month_day=MonthDay(field)).filter(_month_day__in=month_days)

    occasions: list[_Occasion] = []
    for pk, cid, name, born in (on_days(Contact, "birthday").filter(organization=org, opted_out=False)
                                .exclude(email="").values_list("pk", "customer_id", "name", "birthday")):
        occasions.append(_Occasion(cid, "birthday", f"birthday:{pk}", name, born.month, born.day, 0, pk))
    for pk, cid, start, ref in (on_days(Contract, "start_date").filter(organization=org,
                                                                       start_date__lt=date(now.year, 1, 1))
                                .exclude(end_date__lt=now.date()).values_list("pk", "customer_id", "start_date",
                                                                              "reference")):
        occasions.append(_Occasion(cid, "anniversary", f"anniversary:{pk}", ref, start.month, start.day,
                                   start.year, None))
    for pk, cid, label, on in on_days(SpecialDate, "date").filter(organization=org).values_list(
            "pk", "customer_id", "label", "date"):
        occasions.append(_Occasion(cid, "special", f"special:{pk}", label, on.month, on.day, 0, None))
    if not occasions:
        return []
    accounts = {a.customer.id: a for a in snapshots.gather(rc, sorted({o.customer_id for o in occasions}), now)}
    keys = [f"{o.key}:{year}" for o in occasions for year in (now.year - 1, now.year, now.year + 1)]
    already = set(Greeting.objects.filter(organization=org, key__in=keys).values_list("key", flat=True))
    single = None if dry_run else msgs.SingleMessages(org, renderer_for(org))
    done: list[str] = []
    for occ in occasions:
        account = accounts.get(occ.customer_id)
        if account is None or account.customer.status != Customer.STATUS_ACTIVE:
            continue
        local = now.astimezone(ZoneInfo(account.snapshot.timezone))
        on = dunning.greeting_day(occ.month, occ.day, local.date(), GREETING_GRACE_DAYS)
        if on is None or account_window(account).next_slot(now) != now:
            continue  # not its day, or not a business day inside the customer's window
        key = f"{occ.key}:{on.year}"
        if key in already:
            continue
        snap = account.snapshot
        why = dunning.contact_hold(snap, account.policy)
        if why is None and not dunning.fatigue_allows([*(r.sent_at for r in snap.reminders), *snap.other_messages],
                                                      account.policy.fatigue, now):
            why = "the contact budget is spent (contact-fatigue limits)"
        if why is not None:
            if held is not None:
                held.append(f"{account.customer.code}: {occ.kind} {occ.label} waits: {why}")
            continue
        if occ.contact_id is not None:
            contact = account.contacts.get(occ.contact_id)
            addressee = (msgs.Addressee(contact, contact.name, contact.email)
                         if contact is not None and contact.email and not contact.opted_out else None)
        else:
            addressee = msgs.pick_contact(account.contacts.values(), respect_opt_out=True)
        if addressee is None:
            continue
        done.append(f"{account.customer.code}: {occ.kind} {occ.label} ({on.isoformat()}) → {addressee.name}")
        if dry_run:
            continue
        assert single is not None
        years = on.year - occ.years if occ.kind == "anniversary" else 0
        rendered = single.greeting(_customer_obj(account.customer.id), addressee, kind=occ.kind, label=occ.label,
                                   years=years, on=on, today=local.date())
        _queue_greeting(org, account, occ, key, addressee, rendered, now)
    return done


def _customer_obj(customer_id: int) -> Customer:
    return Customer.objects.get(pk=customer_id)


@transaction.atomic
def _queue_greeting(org, account, occ: _Occasion, key: str, addressee: msgs.Addressee, rendered, now) -> None:
    greeting, created = Greeting.objects.get_or_create(
        organization=org, key=key,
        defaults=dict(customer_id=account.customer.id, contact_id=addressee.contact.id if addressee.contact else None,
                      kind=occ.kind, sent_at=now),
    )
    if not created:
        return
    greeting.message, _ = queue_message(
        org, customer=account.customer.id, contact=addressee.contact.id if addressee.contact else None,
        category="relationship", template=f"greeting_{occ.kind}",
        language=_language(account.customer, addressee), rendered=rendered, to_email=addressee.email,
        to_name=addressee.name, idempotency_key=f"greeting:{key}", now=now, fallback_note=addressee.fallback_note,
        window=account_window(account),
    )
    greeting.save(update_fields=["message"])
