"""duly api-keys create|list|revoke."""

from __future__ import annotations

from click.testing import CliRunner

from .conftest import ApiClient, assert_problem


def test_create_list_revoke(org):
    from duly.api.models import ApiKey
    from duly.cli import main

    created = CliRunner().invoke(main, ["api-keys", "create", "ERP", "--org", org.slug, "--role", "bookkeeper"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    key = ApiKey.objects.get(organization=org)
    assert secret.startswith(f"duly_{key.prefix}_") and key.role == "bookkeeper"
    assert ApiClient(secret).get("/customers").status_code == 200

    listed = CliRunner().invoke(main, ["api-keys", "list", "--org", org.slug])
    assert listed.exit_code == 0 and "ERP" in listed.output and "last used" in listed.output
    assert secret not in listed.output

    revoked = CliRunner().invoke(main, ["api-keys", "revoke", str(key.pk), "--org", org.slug])
    assert revoked.exit_code == 0, revoked.output
    assert_problem(ApiClient(secret).get("/customers"), 401, "unauthenticated")
    assert "No API keys" in CliRunner().invoke(main, ["api-keys", "list", "--org", org.slug]).output
    assert "revoked" in CliRunner().invoke(main, ["api-keys", "list", "--org", org.slug, "--all"]).output


def test_revoke_other_org_key_refused(org, other_org):
    from duly.api.services import create_api_key
    from duly.cli import main

    theirs = create_api_key(other_org, name="theirs", role="viewer")
    result = CliRunner().invoke(main, ["api-keys", "revoke", str(theirs.api_key.pk), "--org", org.slug])
    assert result.exit_code != 0 and "not found" in result.output
    theirs.api_key.refresh_from_db()
    assert theirs.api_key.revoked_at is None
