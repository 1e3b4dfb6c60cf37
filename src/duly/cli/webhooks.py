"""duly webhooks add|list|update|enable|disable|rotate|deliveries|replay|deliver: outgoing webhooks (docs/api.md)."""

from __future__ import annotations

import click

from duly.cli import current_org, handle_errors, org_option
from duly.cli.i18n import _, message, ngettext


@click.group("webhooks")
def webhooks():
    """Outgoing webhooks: endpoints that receive Duly's events, signed per the Standard Webhooks specification."""


def _event_types():
    from duly.domain.webhooks import EVENT_TYPES

    return list(EVENT_TYPES)


@webhooks.command("add")
@click.argument("url")
@org_option
@click.option("--event", "events", multiple=True, metavar="TYPE",
              help="An event type to receive (repeat it); see `duly webhooks types`")
@click.option("--all-events", is_flag=True, help="Receive every event type")
@click.option("--description", default="", help="What the endpoint is for")
@handle_errors
def add(url, org_slug, events, all_events, description):
    """Add an endpoint at URL (https://). Its signing secret is printed once: store it now."""
    from duly.api.outgoing_services import create_endpoint

    org = current_org(org_slug)
    new = create_endpoint(org, url=url, event_types=_event_types() if all_events else list(events),
                          description=description)
    click.echo(_("Added webhook endpoint {id} for {org}: {url}", id=new.endpoint.pk, org=org.name,
                 url=new.endpoint.url))
    click.echo(_("Events: {events}", events=", ".join(new.endpoint.event_types)))
    click.echo(_("Its signing secret is shown only this once:"))
    click.echo(new.secret)


@webhooks.command("types")
def types():
    """List the event types an endpoint can receive."""
    from duly.domain.webhooks import EVENT_TYPES

    for name, meaning in EVENT_TYPES.items():
        click.echo(f"{name:<24} {meaning}")


@webhooks.command("list")
@org_option
@handle_errors
def list_endpoints(org_slug):
    """List the organization's endpoints (never their secrets)."""
    from duly.api.outgoing_readers import endpoints

    org = current_org(org_slug)
    rows = list(endpoints(org))
    if not rows:
        click.echo(_("No webhook endpoints."))
    for e in rows:
        state = _("enabled") if e.enabled else _("disabled")
        click.echo(f"{e.pk:>6}  {state:<8}  {e.url}  [{', '.join(e.event_types)}]")


@webhooks.command("update")
@click.argument("endpoint_id", type=int)
@org_option
@click.option("--url", default=None)
@click.option("--event", "events", multiple=True, metavar="TYPE", help="Replace the event types (repeat it)")
@click.option("--description", default=None)
@handle_errors
def update(endpoint_id, org_slug, url, events, description):
    """Change an endpoint's URL, event types or description."""
    from duly.api.outgoing_services import update_endpoint

    org = current_org(org_slug)
    e = update_endpoint(org, endpoint_id, url=url, event_types=list(events) if events else None,
                        description=description)
    click.echo(_("Updated webhook endpoint {id}: {url} [{events}]", id=e.pk, url=e.url,
                 events=", ".join(e.event_types)))


def _set_enabled(endpoint_id, org_slug, enabled):
    from duly.api.outgoing_services import set_endpoint_enabled

    org = current_org(org_slug)
    e = set_endpoint_enabled(org, endpoint_id, enabled)
    click.echo(_("Webhook endpoint {id} is enabled.", id=e.pk) if e.enabled
               else _("Webhook endpoint {id} is disabled.", id=e.pk))


@webhooks.command("disable")
@click.argument("endpoint_id", type=int)
@org_option
@handle_errors
def disable(endpoint_id, org_slug):
    """Stop sending to an endpoint: no new deliveries are queued; pending ones wait until it is enabled."""
    _set_enabled(endpoint_id, org_slug, False)


@webhooks.command("enable")
@click.argument("endpoint_id", type=int)
@org_option
@handle_errors
def enable(endpoint_id, org_slug):
    """Send to a disabled endpoint again."""
    _set_enabled(endpoint_id, org_slug, True)


@webhooks.command("rotate")
@click.argument("endpoint_id", type=int)
@org_option
@handle_errors
def rotate(endpoint_id, org_slug):
    """Give an endpoint a new secret, printed once; for 24 hours deliveries are signed with both."""
    from duly.api.outgoing_services import rotate_secret

    org = current_org(org_slug)
    new = rotate_secret(org, endpoint_id)
    click.echo(_("New signing secret of webhook endpoint {id} (the old one signs too for 24 hours); shown only this "
                 "once:", id=new.endpoint.pk))
    click.echo(new.secret)


@webhooks.command("deliveries")
@org_option
@click.option("--endpoint", "endpoint_id", type=int, default=None)
@click.option("--status", type=click.Choice(["pending", "sending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--log", "show_log", is_flag=True, help="Show every attempt (status code, duration, error)")
@handle_errors
def deliveries(org_slug, endpoint_id, status, limit, show_log):
    """The delivery log, newest first."""
    from duly.api.outgoing_readers import attempts, deliveries as deliveries_of

    org = current_org(org_slug)
    rows = list(deliveries_of(org, endpoint_id=endpoint_id, status=status).order_by("-pk")[:limit])
    if not rows:
        click.echo(_("No deliveries."))
    for d in rows:
        nxt = _(", next attempt {time} UTC", time=f"{d.next_attempt_at:%Y-%m-%d %H:%M:%S}") \
            if d.status == "pending" and d.next_attempt_at else ""
        code = _(", last answer {code}", code=d.last_status_code) if d.last_status_code else ""
        error = f", {d.last_error}" if d.last_error else ""
        click.echo(f"{d.pk:>6}  {d.event.event_type:<22} {d.event.event_id}  "
                   + _("endpoint {id}", id=d.endpoint_id) + f"  {d.status} ("
                   + ngettext("{n} failed attempt(s)", "{n} failed attempt(s)", d.attempts) + f"{code}{nxt}{error})")
        if show_log:
            for a in attempts(d):
                click.echo(f"          {a.attempted_at:%Y-%m-%d %H:%M:%S}  {a.status_code or '-':>3}  "
                           f"{a.duration_ms} ms  {'ok' if a.succeeded else a.error}")


@webhooks.command("replay")
@click.argument("delivery_id", type=int, required=False)
@org_option
@click.option("--event", "event_id", default=None, help="Replay an event (msg_…) to the endpoints it went to")
@click.option("--endpoint", "endpoint_id", type=int, default=None, help="With --event: to this endpoint only")
@handle_errors
def replay(delivery_id, org_slug, event_id, endpoint_id):
    """Send a delivery (or an event) again now, with the same event id."""
    from duly.api.outgoing_services import replay as replay_service
    from duly.domain.errors import ValidationError

    org = current_org(org_slug)
    if (delivery_id is None) == (event_id is None):
        raise ValidationError("Give a DELIVERY_ID or --event msg_…, not both.")
    rows = replay_service(org, delivery_id=delivery_id, event_id=event_id, endpoint_id=endpoint_id)
    click.echo(ngettext("Queued {n} delivery(ies) again: ", "Queued {n} delivery(ies) again: ", len(rows))
               + ", ".join(str(d.pk) for d in rows) + ". " + _("`duly webhooks deliver` (or duly serve) sends them."))


@webhooks.command("deliver")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@handle_errors
def deliver(limit):
    """Send the due deliveries now (duly serve does it every minute)."""
    from django.utils import timezone

    from duly.api.outgoing_delivery import deliver_webhooks

    click.echo(message(deliver_webhooks(timezone.now(), limit=limit).summary()))


COMMANDS = [webhooks]
