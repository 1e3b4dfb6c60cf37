"""What one dunning step writes, decided before anything is written: its message (or its phone task), the
documents sent with it and its staff tasks (:class:`StepWrites`). The dunning run writes them one customer
at a time (:func:`duly.collections.services.run._carry_out`) or for many customers at once
(:mod:`.run_batch`): the same rows either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from duly.domain import dunning
from duly.messaging import attachments
from duly.messaging.models import Message
from duly.messaging.services import new_message

from .. import messages as msgs
from .. import snapshots
from .common import _invoice_attachments, account_window


@dataclass
class TaskPlan:
    """A staff task to create once (by its key); ``with_message``: it refers to the step's message."""

    kind: str
    key: str
    contact: snapshots.ContactRow | None
    description: str
    with_message: bool


@dataclass
class StepWrites:
    """The rows one step writes: its message (not saved; None for a phone step), the documents not sent before
    that go with it (``dispatched``, noted ``dispatch_note``), its tasks in the order they are created."""

    message: Message | None = None
    dispatched: list[int] = field(default_factory=list)
    dispatch_note: str = ""
    tasks: list[TaskPlan] = field(default_factory=list)


def plan_step(rc: snapshots.RunContext, builder: msgs.MessageBuilder, account: snapshots.Account,
              action: dunning.Action, due: list[snapshots.InvoiceRow], upcoming: list[snapshots.InvoiceRow],
              new: list[int], now: datetime, local_today: date,
              known_attachments: dict[int, list[dict[str, Any]]] | None = None) -> StepWrites:
    """The message of one step (or its phone task): ``due`` demanded, ``upcoming`` listed with their due dates;
    ``new`` documents not sent before are attached and recorded as sent with it. Reads (the builder's, the
    attachments' unless ``known_attachments`` holds them), writes nothing."""
    org = rc.org
    customer = account.customer
    contact = account.contacts.get(action.contact_id) if action.contact_id is not None else None
    if action.channel not in ("email", "letter"):
        return StepWrites(tasks=[TaskPlan("phone", f"phone:{action.idempotency_key}", contact,
                                          phone_brief(account, action, due + upcoming, contact), False)])
    name = contact.name if contact is not None else customer.name
    email = contact.email if (contact is not None and action.channel == "email") else ""
    category, rendered = builder.reminder(account, action, due, name, email, contact, now, upcoming=upcoming)
    language = msgs.Formatter.for_locale(msgs.locale_for(customer.locale, contact)).language
    shown = [r.id for r in (*due, *upcoming)]
    files = _invoice_attachments(list(dict.fromkeys([*shown, *new])), known_attachments)
    if action.channel == "letter":
        files = letter_attachments(builder, account, action, due, name, local_today) + files
    message = new_message(
        org, customer=customer.id, contact=contact.id if contact else None, category=message_category(category),
        template=action.template, language=language, rendered=rendered, to_email=email, to_name=name,
        idempotency_key=f"dunning:{action.idempotency_key}", now=now,
        attachments=files, invoice_ids=shown,
        channel=Message.CHANNEL_EMAIL if action.channel == "email" else Message.CHANNEL_LETTER,
        fallback_note=action.fallback_reason or "", window=account_window(account),
        deliver_after=action.scheduled_for,
    )
    writes = StepWrites(message=message)
    if new:
        what = "letter" if action.channel == "letter" else "e-mail"
        writes.dispatched = list(new)
        writes.dispatch_note = f"sent with the {action.step_code} {what} of {local_today.isoformat()}"
    if action.channel == "letter":
        writes.tasks.append(TaskPlan("letter", f"letter:{action.idempotency_key}", contact,
                                     f"Print and post: {rendered.subject}" + (
                                         f" ({action.fallback_reason})" if action.fallback_reason else ""), True))
    return writes


def message_category(template_category: str) -> str:
    return {"termination": "termination", "statement": "termination"}.get(template_category, "dunning")


def already(account, taken: set[int]) -> str:
    numbers = ", ".join(account.invoices[i].number if i in account.invoices else str(i) for i in sorted(taken))
    return f"already done by a concurrent run for {numbers}"


def letter_attachments(builder, account, action, rows, name: str, today: date) -> list[dict[str, Any]]:
    """The PDF letter for post: a reminder, a final notice or a termination letter, listing the
    invoices due (``rows``) with the amounts the message shows (frozen in the reference)."""
    letter = ("termination" if "terminate" in action.actions
              else "final_notice" if "final_notice" in action.actions else "reminder")
    if letter == "termination":
        next_on = None  # the letter's deadline is the restore deadline, as in the message
    else:
        _, next_on = builder.next_consequence(account, action, today)
    deadline = next_on or today + timedelta(days=account.spec.restore_days)
    main_currency = rows[0].currency if rows else account.customer.currency
    listed = [r for r in rows if r.currency == main_currency]
    if not listed:
        return []
    return attachments.letter_refs(account.customer.id, [r.id for r in listed],
                                   letter=letter, on=today, deadline=deadline,
                                   reference=f"{action.step_code}/{account.customer.code}", contact_name=name,
                                   open_minor={r.id: r.balance_minor for r in listed},
                                   reminded_on=builder.reminder_dates(account, {r.id for r in listed}))


def phone_brief(account, action, rows, contact) -> str:
    fmt = msgs.Formatter.for_locale("en")
    who = f"{contact.name} ({contact.phone or 'no phone number'})" if contact is not None else account.customer.name
    items = ", ".join(f"{r.number} {fmt.money(r.balance_minor, r.currency)} due {r.due_date.isoformat()}"
                      for r in rows)
    text = f"Phone {who} about {items}. Why: {action.reason}"
    if action.fallback_reason:
        text += f" [{action.fallback_reason}]"
    return text
