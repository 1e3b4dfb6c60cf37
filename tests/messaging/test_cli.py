"""duly outbox deliver|list|bounce|settle and duly templates save, in process."""

from __future__ import annotations

from click.testing import CliRunner

from duly.cli import main
from duly.messaging.models import Message


def cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_outbox_commands(org, queue, smtp):
    [msg] = queue(1)
    result = cli("outbox", "deliver", "--now", "2026-06-01T10:00+00:00")
    assert result.exit_code == 0 and "Outbox: 1 sent" in result.output
    listing = cli("outbox", "list", "--status", "sent").output
    assert "sent" in listing and "Reminder test 0" in listing
    assert "marked bounced" in cli("outbox", "bounce", msg.message_id, "--reason", "550 unknown").output
    assert Message.objects.get(pk=msg.pk).status == Message.BOUNCED
    refused = CliRunner().invoke(main, ["outbox", "settle", str(msg.pk), "--delivered"])
    assert refused.exit_code == 2 and "is bounced, not unconfirmed" in refused.output


def test_templates_save_refuses_a_broken_template_with_its_line(org, tmp_path):
    path = tmp_path / "thank_you.j2"
    path.write_text("{% block subject %}Thanks{% endblock %}\n{% block text %}{{ payment.amont }}{% endblock %}\n"
                    "{% block html %}{% endblock %}")
    result = CliRunner().invoke(main, ["templates", "save", "thank_you", "en", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: Template en/thank_you.j2, line 2:")


def test_outbox_deliver_prints_the_stored_reason_of_each_deferral(org, queue, smtp):
    queue(3)
    smtp.stop()
    result = cli("outbox", "deliver", "--now", "2026-06-01T08:00+00:00")
    assert result.exit_code == 0 and "Outbox: 0 sent, 3 deferred, 0 failed." in result.output
    lines = result.output.splitlines()[1:]
    assert len(lines) == 3
    for msg in Message.objects.all():
        line = next(x for x in lines if f"#{msg.pk} " in x)
        assert line == (f"  deferred #{msg.pk} to {msg.to_email}: {msg.last_error} "
                        "(next attempt 2026-06-01T08:01+00:00)")
        assert msg.last_error.startswith("mail server unreachable")
