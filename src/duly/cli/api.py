"""duly api-keys create|list|revoke: the keys of the REST API v1 (docs/api.md)."""

from __future__ import annotations

import click

from duly.cli import current_org, handle_errors, org_option
from duly.cli.i18n import _

ROLE_NAMES = ["owner", "admin", "bookkeeper", "collector", "viewer"]


@click.group("api-keys")
def api_keys():
    """Keys of the REST API v1: each belongs to one organization and acts with one role's permissions."""


@api_keys.command("create")
@click.argument("name")
@org_option
@click.option("--role", type=click.Choice(ROLE_NAMES), default="viewer", show_default=True,
              help="What the key may do (docs/roles.md)")
@click.option("--rate-limit", type=click.IntRange(1, 100_000), default=600, show_default=True,
              help="Requests a minute")
@handle_errors
def create(name, org_slug, role, rate_limit):
    """Create a key called NAME. The key is printed once: store it now, Duly keeps only its digest."""
    from duly.api.services import create_api_key

    org = current_org(org_slug)
    new = create_api_key(org, name=name, role=role, rate_limit_per_minute=rate_limit)
    click.echo(_("Created API key {id} ({name}, {role}) for {org}. It is shown only this once:", id=new.api_key.pk,
                 name=name, role=role, org=org.name))
    click.echo(new.secret)


@api_keys.command("list")
@org_option
@click.option("--all", "show_revoked", is_flag=True, help="Show revoked keys too")
@handle_errors
def list_keys(org_slug, show_revoked):
    """List the organization's keys (never their secrets)."""
    from duly.api.readers import api_keys as keys_of

    org = current_org(org_slug)
    rows = list(keys_of(org, include_revoked=show_revoked))
    if not rows:
        click.echo(_("No API keys."))
    for k in rows:
        used = (_("last used {time} UTC", time=f"{k.last_used_at:%Y-%m-%d %H:%M}") if k.last_used_at
                else _("never used"))
        state = _(", revoked {time} UTC", time=f"{k.revoked_at:%Y-%m-%d %H:%M}") if k.revoked_at else ""
        click.echo(f"{k.pk:>6}  duly_{k.prefix}_…  {k.role:<10} {k.name}  ({used}{state})")


@api_keys.command("revoke")
@click.argument("key_id", type=int)
@org_option
@handle_errors
def revoke(key_id, org_slug):
    """Revoke key KEY_ID: requests with it are refused from now on (401)."""
    from duly.api.services import revoke_api_key

    org = current_org(org_slug)
    key = revoke_api_key(org, key_id)
    click.echo(_("Revoked API key {id} ({name}).", id=key.pk, name=key.name))


COMMANDS = [api_keys]
