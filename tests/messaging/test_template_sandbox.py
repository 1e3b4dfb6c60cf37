"""Templates are data, never code: known Jinja2 sandbox escapes are refused when saved (service, CLI, back
office) and inert when rendered, even when stored straight in the database; no error carries a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from django.conf import settings as django_settings
from django.urls import reverse

from duly.domain.errors import TemplateError
from duly.messaging.models import MessageTemplate
from duly.messaging.rendering import TEMPLATE_DIR, Renderer, sample_context, template_path
from duly.messaging.services import renderer_for, save_template

MARK = "duly-sandbox-escaped"

#: Known ways out of a Jinja2 template (public write-ups of SSTI on Jinja2/Flask), each aimed at running a
#: command that would create a marker file, reading a secret, or exhausting the server.
PAYLOADS = [
    "{{ lipsum.__globals__['os'].system('touch {mark}') }}",
    "{{ lipsum.__globals__.__builtins__.open('/etc/passwd').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch {mark}').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch {mark}') }}",
    "{{ namespace.__init__.__globals__.os.system('touch {mark}') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
    "{{ c()._module.__builtins__['__import__']('os').system('touch {mark}') }}{% endif %}{% endfor %}",
    "{{ ()|attr('__class__')|attr('__base__')|attr('__subclasses__')() }}",
    "{{ contact|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ '{0.__class__.__init__.__globals__}'|format(contact) }}",
    "{{ '{0.__class__}'.format(contact) }}",
    "{{ ('{0._' ~ '_class_' ~ '_}').format(contact) }}",
    "{{ contact['_' ~ '_class' ~ '_' ~ '_'] }}",
    "{{ config.SECRET_KEY }}",
    "{{ settings.SECRET_KEY }} {{ settings.DATABASES }}",
    "{{ request.environ }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch {mark}') }}",
    "{{ contact.name.__class__.__base__.__subclasses__() }}",
    "{{ range(100000000000)|list|length }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 2 ** 1000000 }}",
    "{{ '%999999999s' % contact.name }}",
    "{{ contact.name.ljust(999999999) }}",
    "{{ contact.update({'name': 'changed'}) }}",
    "{{ contact.name|safe }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
]


def _shipped(name="reminder_firm", language="en") -> str:
    return (TEMPLATE_DIR / template_path(name, language)).read_text(encoding="utf-8")


def with_payload(payload: str, mark: Path) -> str:
    """A real, personal template (so nothing else is wrong with it) carrying the payload in its text and html."""
    code = payload.replace("{mark}", str(mark))
    return _shipped().replace("{{ contact.salutation }}", "{{ contact.salutation }} " + code)


@pytest.fixture
def mark(tmp_path):
    path = tmp_path / MARK
    yield path
    assert not path.exists(), "a template ran a command"


def _no_secret(text: str) -> None:
    assert django_settings.SECRET_KEY not in text
    assert str(django_settings.DATABASES["default"]["NAME"]) not in text
    assert "Traceback" not in text and " at 0x" not in text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_sandbox_escape_is_refused_at_save_and_inert_at_render(org, payload, mark):
    source = with_payload(payload, mark)
    with pytest.raises(TemplateError) as refused:
        save_template(org, name="reminder_firm", language="en", source=source)
    assert refused.value.message.startswith("Template en/reminder_firm.j2, line 4: ")
    _no_secret(refused.value.message)
    assert not MessageTemplate.objects.exists()

    # Stored straight in the database (no validation): it still never runs.
    MessageTemplate.objects.create(organization=org, name="reminder_firm", language="en", category="dunning",
                                   source=source)
    with pytest.raises(TemplateError) as failed:
        renderer_for(org).render("reminder_firm", "en", sample_context("dunning", "en"))
    assert failed.value.message.startswith("Template en/reminder_firm.j2, line 4: ")
    _no_secret(failed.value.message)


def test_the_cli_refuses_each_escape_with_one_line_and_exit_2(org, tmp_path, mark):
    from duly.cli import main

    for payload in PAYLOADS:
        file = tmp_path / "reminder_firm.j2"
        file.write_text(with_payload(payload, mark), encoding="utf-8")
        result = CliRunner().invoke(main, ["templates", "save", "reminder_firm", "en", str(file)])
        assert result.exit_code == 2, (payload, result.output)
        assert result.stderr.startswith("error: Template en/reminder_firm.j2, line 4: "), payload
        assert len(result.stderr.splitlines()) == 1
        _no_secret(result.stderr)
    assert not MessageTemplate.objects.exists()


def test_the_back_office_refuses_each_escape_as_a_form_error(bookkeeper, mark):
    url = reverse("admin:messaging_messagetemplate_add")
    for payload in PAYLOADS:
        resp = bookkeeper.post(url, {"name": "reminder_firm", "language": "en", "category": "dunning",
                                     "source": with_payload(payload, mark)})
        assert resp.status_code == 200, payload  # the form again, not a redirect
        page = resp.content.decode()
        assert "Template en/reminder_firm.j2, line 4: " in page, payload
        _no_secret(page)
    assert not MessageTemplate.objects.exists()


def test_an_error_never_prints_the_secret_key_or_the_database_url(org, settings, monkeypatch):
    """The attack seen: a template turning a secret into an exception's text, shown in the form error."""
    settings.SECRET_KEY = "k" * 40 + "-the-secret-key"
    monkeypatch.setenv("DATABASE_URL", "postgres://duly:db-password@db.internal/duly")
    attempts = [
        "{{ config.SECRET_KEY|int }}",
        "{{ (settings.SECRET_KEY ~ '')|int }}",
        "{{ contact[contact.name] }}",  # Jinja2's own text would name the missing key: the value
        "{{ {customer.name: 1}[contact.name ~ customer.name] }}",
        "{{ range(contact.name) }}",
        "{{ contact.name + 1 }}",
        "{{ invoices[99] }}",
    ]
    for attempt in attempts:
        source = _shipped().replace("{{ contact.salutation }}", "{{ contact.salutation }} " + attempt)
        for error in _errors(org, source):
            assert "the-secret-key" not in error and "db-password" not in error and "db.internal" not in error
            assert "Ysolde" not in error  # not even the sample context's values
            assert error.startswith("Template en/reminder_firm.j2, line 4: ")


def _errors(org, source):
    with pytest.raises(TemplateError) as saved:
        save_template(org, name="reminder_firm", language="en", source=source)
    with pytest.raises(TemplateError) as rendered:
        Renderer({"en/reminder_firm.j2": source}).render("reminder_firm", "en", sample_context("dunning", "en"))
    return saved.value.message, rendered.value.message


def test_a_mistake_still_names_what_the_template_spelt(org):
    source = _shipped().replace("{{ total_due }}, please pay now", "{{ totl_due }}, please pay now")
    with pytest.raises(TemplateError, match=r"^Template en/reminder_firm.j2, line 1: 'totl_due' is undefined$"):
        save_template(org, name="reminder_firm", language="en", source=source)
    field = _shipped().replace("{{ contact.salutation }}", "{{ contact.nom }}", 1)
    with pytest.raises(TemplateError, match=r"line 4: 'dict object' has no attribute 'nom'$"):
        save_template(org, name="reminder_firm", language="en", source=field)


def test_the_documented_filters_and_tests_work_in_the_sandbox(org):
    """What SECURITY.md lists is there: a template may use it, and it renders."""
    extra = ("{{ contact.name|upper|replace('-', ' ')|truncate(40) }} {{ invoices|map(attribute='number')|join(', ') }}"
             " {{ invoices|selectattr('days_overdue', 'gt', 20)|list|length }} {{ range(3)|sum }}"
             " {% if invoices is sequence and contact.name is string %}ok{% endif %}")
    source = _shipped().replace("{{ contact.salutation }}", "{{ contact.salutation }} " + extra)
    save_template(org, name="reminder_firm", language="en", source=source)
    rendered = renderer_for(org).render("reminder_firm", "en", sample_context("dunning", "en"))
    assert "YSOLDE MARCHETTI SAMPLE SMPL-2026-0417, SMPL-2026-0588 1 3 ok" in rendered.text


def test_a_document_override_on_disk_is_sandboxed_too(org, settings, tmp_path, mark):
    from duly.invoicing import pdf

    folder = tmp_path / "templates" / "duly" / "documents" / org.slug
    folder.mkdir(parents=True)
    (folder / "invoice.html").write_text(
        '{% extends "duly/documents/invoice.html" %}{% block footer %}'
        "{{ t.__self__.__class__.__init__.__globals__['os'].system('touch " + str(mark) + "') }}{% endblock %}",
        encoding="utf-8")
    settings.DULY_DOCUMENT_TEMPLATE_DIRS = [str(tmp_path / "templates")]
    with pytest.raises(TemplateError, match=r"^Template duly/documents/atelier/invoice.html, line 1: refused: "):
        pdf.render_document_html("invoice.html", org.slug, {})
    (folder / "invoice.html").write_text(
        '{% extends "duly/documents/invoice.html" %}{% block footer %}'
        "{{ t|attr('__self__') }}{% endblock %}", encoding="utf-8")
    with pytest.raises(TemplateError, match="there is no filter 'attr'"):
        pdf.render_document_html("invoice.html", org.slug, {})
