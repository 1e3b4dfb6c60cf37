"""Dunning: which reminder goes to which customer, when, and why, evaluated purely.

As in Kill Bill's overdue engine, a calculator (in the ``collections`` app) gathers the state of
one customer into an :class:`AccountSnapshot`; :func:`evaluate` then decides, against that
snapshot, a :class:`Policy` and an explicit ``as_of`` instant, what Duly does now. Nothing here
reads the clock, touches the database or sends anything: the result is a list of
:class:`Action` records that a service carries out idempotently (``Action.idempotency_key``).

Policies
    A :class:`Policy` is data: ordered :class:`Step` records, each ``offset_days`` from an anchor
    date of the invoice (``due_date``, ``service_date``, ``issue_date`` or ``contract_start``;
    a negative offset is *before* the anchor: a gentle "coming due" note at -3 days, or a hotel
    reminder 7 days before arrival with ``anchor="service_date", offset_days=-7``).
    :func:`policy_to_dict` / :func:`policy_from_dict` give a JSON/YAML-safe form.

The current step of an invoice: one step at a time
    Escalation never jumps. The step due for an invoice is the next one after the last step sent
    for it (steps the customer's conditions exclude, or anchored on a date the invoice lacks, are
    passed over; so are notes meant for on or before the due date once the invoice is overdue).
    It is due once its own date (anchor + offset) has come and, after an earlier chasing step (not
    a courtesy note for before the due date), once that step reached the customer (:attr:`PastReminder.delivered_at`; one that could not be delivered
    counts once staff handled it) and the step's own wait (the time between the two steps' dates)
    has passed since. So on first adoption, on receivables brought over from another system and
    after an outage, the first message is the first overdue reminder, and each later step follows
    after its wait: never a termination out of the blue, never a burst. Suspension and termination
    need a final notice delivered before them (a policy without one is refused), and come no
    earlier than the date it named (:func:`next_consequence`). A step marked ``whatever_sent`` is
    the explicit exception a policy may ask for ("hand over after 90 days, whatever was sent"):
    it comes on its own date. A broken promise to pay (promised date passed, less than the promised
    amount paid by then, no reminder since) brings the next step forward to today, except a step
    that suspends, terminates or hands over. A kept promise (the promised amount paid, even if part
    of the invoice is still open) just ends: the invoice follows its steps again.

One message per customer and step
    All invoices of the customer whose current step is the same step go into ONE message
    (statement style). A plain reminder (a step without actions) going out also lists the overdue
    invoices never chased whose first overdue step it is, even before that step's own date. Different
    steps give different messages; the contact-fatigue limits then space them out.

Never chased
    Paid, void, credited and uncollectible invoices (or a zero open amount). Invoices under
    dispute, and invoices with a promise to pay that has not expired (promised date on or after
    the local date), are reported as ``skip`` actions with the reason. When the customer's
    unreconciled credits in a currency (payments received but not applied yet) cover the overdue
    amount in that currency, the overdue invoices of that currency are skipped with the reason
    ``payment received, awaiting reconciliation``; invoices not overdue yet are skipped too when
    the credits cover them as well.

When a message goes out
    Only on the customer's business days (outside the weekend of ``AccountSnapshot.country`` —
    Friday-Saturday in KW, BH, SA, IL... — and not a public holiday there, or an injected
    ``is_holiday``; see :func:`business_calendar`), inside the sending window in the
    customer's IANA time zone, and at its preferred local hour: the learned ``best_hour``, else
    ``segment_default_hour``, else the start of the window (an hour outside the window is clamped
    into it). Today's slot is used while today's window is open, otherwise the slot of the next
    business day. Contact fatigue (:class:`FatigueLimits`, default at most 2 messages in any
    rolling 7 days and at least 48 h between two) pushes the slot later; it counts every message
    to the customer: reminders, and the invoice e-mails, notices and greetings in
    ``AccountSnapshot.other_messages`` (one contact budget). A ``send`` is emitted
    when ``as_of`` has reached the slot, otherwise a ``defer`` with ``scheduled_for`` set to the
    slot and the reason.

Contacts
    An e-mail goes to the first contact, by role ``accounts_payable``, ``billing``, ``owner``, then
    any other, that has an e-mail address and has not opted out. With no such contact the
    message becomes a ``phone_task``. Letters need no e-mail address.

Every recorded :class:`PastReminder` counts as sent, whatever its ``sent_at``: a reminder is never
sent twice because clocks disagree.

The package
    :mod:`.policy` (policies as data), :mod:`.snapshot` (what the rules see, what they decide),
    :mod:`.clock` (business days, sending windows, slots, contact fatigue), :mod:`.assignment`
    (which invoices go into which step's message), :mod:`.evaluation` (:func:`evaluate` and the
    run-scoped :class:`Evaluator` that holds every memo of a run), :mod:`.choice` (the policy of a
    customer) and :mod:`.worklist` (the collector's summary). Business days come from the domain's
    one calendar, :class:`duly.domain.calendar.HolidayCalendar`.
"""

from __future__ import annotations

from .assignment import contact_hold, next_consequence, promise_outcome
from .choice import (
    CustomerProfile,
    InvoiceRecord,
    PolicyChoice,
    ToneThresholds,
    choose_policy,
    tone_for_history,
)
from .clock import (
    business_calendar,
    fatigue_allows,
    greeting_day,
    is_business_day,
    learn_best_hour,
    next_send_time,
    sla_missed,
    yearly_occurrence,
)
from .evaluation import Evaluator, evaluate
from .policy import (
    ACTION_KINDS,
    ANCHORS,
    CHANNELS,
    CONSEQUENCES,
    CONTACT_ROLE_PREFERENCE,
    ITEM_STATUSES,
    STEP_ACTIONS,
    TONES,
    ActionKind,
    Anchor,
    Channel,
    CustomerId,
    FatigueLimits,
    HolidayCheck,
    InvoiceId,
    ItemStatus,
    Policy,
    Step,
    StepAction,
    StepConditions,
    Tone,
    policy_from_dict,
    policy_to_dict,
    step_from_dict,
)
from .snapshot import (
    AccountSnapshot,
    Action,
    Contact,
    OpenItem,
    PastReminder,
    Promise,
    reminder_key,
)
from .worklist import WorklistEntry, worklist_entry

__all__ = [
    "ACTION_KINDS",
    "ANCHORS",
    "CHANNELS",
    "CONTACT_ROLE_PREFERENCE",
    "ITEM_STATUSES",
    "STEP_ACTIONS",
    "TONES",
    "AccountSnapshot",
    "Action",
    "Contact",
    "Evaluator",
    "CustomerProfile",
    "FatigueLimits",
    "InvoiceRecord",
    "OpenItem",
    "PastReminder",
    "Policy",
    "PolicyChoice",
    "Promise",
    "Step",
    "StepConditions",
    "ToneThresholds",
    "WorklistEntry",
    "CONSEQUENCES",
    "choose_policy",
    "contact_hold",
    "evaluate",
    "fatigue_allows",
    "greeting_day",
    "business_calendar",
    "is_business_day",
    "learn_best_hour",
    "next_consequence",
    "next_send_time",
    "policy_from_dict",
    "policy_to_dict",
    "promise_outcome",
    "step_from_dict",
    "reminder_key",
    "sla_missed",
    "tone_for_history",
    "worklist_entry",
    "yearly_occurrence",
]
