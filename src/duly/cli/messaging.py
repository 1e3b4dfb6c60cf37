"""duly outbox deliver|list|bounce|settle, duly templates save."""

from __future__ import annotations

import json
from pathlib import Path

import click

from duly.cli import DATETIME, current_org, handle_errors, org_option
from duly.cli.i18n import _, message


def _now():
    from django.utils import timezone

    return timezone.now()


@click.group()
def outbox():
    """The outbox: rendered messages waiting for (or done with) delivery."""


@outbox.command("deliver")
@click.option("--now", "now", type=DATETIME, default=None, help="Default: the current time")
@click.option("--limit", default=200, show_default=True, type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def deliver(now, limit, fmt):
    """Send due messages through the configured e-mail backend (at most once each).

    After the summary, each message not sent is listed with the reason stored on it: deferred (and when it is
    tried again), failed (given up), cancelled, or postponed to the customer's sending window.
    """
    from duly.messaging.delivery import deliver_outbox, not_sent_lines

    report = deliver_outbox(now or _now(), limit=limit)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(message(report.summary()))
    for line in not_sent_lines(report):
        click.echo(line)


@outbox.command("list")
@org_option
@click.option("--status", multiple=True, help="queued, sending, sent, failed, bounced, unconfirmed, held")
@click.option("--limit", default=50, show_default=True, type=int)
@handle_errors
def list_(org_slug, status, limit):
    """The latest messages."""
    from duly.messaging.models import Message

    qs = Message.objects.filter(organization=current_org(org_slug)).select_related("customer")
    if status:
        qs = qs.filter(status__in=list(status))
    for m in qs[:limit]:
        note = f" ({m.last_error})" if m.last_error and m.status != Message.SENT else ""
        click.echo(f"#{m.pk} {m.status:11} {m.created_at:%Y-%m-%d %H:%M} {m.customer.code} → "
                   f"{m.to_email or m.to_name}: {m.subject}{note}")


@outbox.command("bounce")
@click.argument("message_id")
@click.option("--reason", default="bounced")
@handle_errors
def bounce(message_id, reason):
    """Record a bounce for the sent message with this Message-ID (or provider id); refused for one not sent."""
    from duly.messaging.services import record_bounce

    outcome = record_bounce(message_id, reason=reason, at=_now())
    msg = outcome.message
    click.echo(_("Message #{id} to {email} marked bounced.", id=msg.pk, email=msg.to_email) if outcome.changed
               else _("Message #{id} to {email} was already marked bounced; nothing changed.", id=msg.pk,
                      email=msg.to_email))


@outbox.command("settle")
@org_option
@click.argument("message_pk", type=int)
@click.option("--delivered/--not-delivered", required=True,
              help="What the mail log shows for a message left unconfirmed by a stopped worker")
@handle_errors
def settle(org_slug, message_pk, delivered):
    """Settle an unconfirmed message: mark it sent, or queue it again."""
    from duly.messaging.services import settle_unconfirmed

    msg = settle_unconfirmed(current_org(org_slug), message_pk, delivered=delivered, now=_now())
    click.echo(_("Message #{id} is now {status}.", id=msg.pk, status=msg.status))


@click.group()
def templates():
    """Message templates of the organization."""


@templates.command("save")
@org_option
@click.argument("name")
@click.argument("language")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--category", default=None, help="For a template of your own: pre_due, dunning, payment...")
@handle_errors
def save(org_slug, name, language, file, category):
    """Validate and save a template (refused with its name and line when broken or not personal)."""
    from duly.messaging.services import save_template

    save_template(current_org(org_slug), name=name, language=language, source=file.read_text(encoding="utf-8"),
                  category=category)
    click.echo(_("Saved {template}.", template=f"{language}/{name}"))


COMMANDS = [outbox, templates]
