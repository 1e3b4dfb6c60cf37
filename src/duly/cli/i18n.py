"""The staff's language on the command line: what ``duly`` prints for people, from a gettext catalogue.

- The language: ``duly --lang fr``, else ``DULY_LANG``, else the environment as gettext reads it (``LANGUAGE``,
  ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``fr_FR.UTF-8`` is French), else English. English is the msgid
  language: it prints the msgids themselves.
- The words: :func:`_` and :func:`ngettext` (a count picks the plural form of the language) look messages up in
  ``src/duly/cli/locale/<lang>/LC_MESSAGES/django.po`` (compiled by ``make messages``) with the standard library's
  gettext: ``duly --help`` imports neither Django nor Babel (issue 18).
- Messages from the services (a domain error's message, a reason a customer was left out) are English sentences
  with values in them; :func:`message` translates those the catalogue knows (``duly.cli.service_messages``,
  templates with ``{values}``), and leaves any other as it is.
- Help: :class:`HelpFormatter` translates the commands' and options' help texts and click's own words (``Usage:``,
  ``Options``) when the help is printed.

Machine output (``--format json``, CSV, exit statuses) is never translated.
"""

from __future__ import annotations

import gettext
import inspect
import os
import re
from functools import lru_cache
from pathlib import Path

import click

#: The languages the command line speaks (English is the msgid language).
LANGUAGES = ("en", "fr", "de", "es", "ru")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_META_KEY = "duly.language"
_ENVIRONMENT = ("DULY_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def N_(msgid: str) -> str:  # noqa: N802 - the usual name of gettext's "mark for translation, translate later"
    """Mark ``msgid`` for the catalogue; it is translated where it is printed."""
    return msgid


#: Click's own words in a help page (click prints them in English; the formatter translates them).
CLICK_WORDS = (N_("Usage:"), N_("Options"), N_("Commands"), N_("Arguments"), N_("Show this message and exit."),
               N_("Show the version and exit."), N_("default"), N_("required"))


def normalize(value: str | None) -> str | None:
    """``fr`` for ``fr``, ``fr_FR``, ``fr-FR``, ``fr_FR.UTF-8``, ``FR``; None for a language Duly does not speak."""
    if not value:
        return None
    code = re.split(r"[_.@-]", value.strip(), maxsplit=1)[0].lower()
    return code if code in LANGUAGES else None


def from_environment(environ=None) -> str:
    """The language the environment asks for: ``DULY_LANG``, then what gettext reads (the first variable set
    decides; ``LANGUAGE`` may list several, ``fr:de``), English when it names none Duly speaks (``C``)."""
    environ = os.environ if environ is None else environ
    for name in _ENVIRONMENT:
        value = environ.get(name)
        if value:
            for item in value.split(":"):
                if normalize(item):
                    return normalize(item)
            return "en"
    return "en"


def set_language(ctx: click.Context, value: str | None) -> str:
    """Use ``value`` (``--lang``) or the environment's language for this command line."""
    language = normalize(value) if value else from_environment()
    if value and language is None:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(LANGUAGES)}", ctx=ctx, param_hint="'--lang'")
    ctx.meta[_META_KEY] = language
    return language


def language() -> str:
    """The language of what is printed now (the running command line's, else the environment's)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_META_KEY):
        return ctx.meta[_META_KEY]
    return from_environment()


@lru_cache(maxsize=8)
def catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (none for English, or before ``make messages``: the msgids)."""
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation("django", localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def _(msgid: str, **values) -> str:
    """``msgid`` in the staff's language, its ``{values}`` filled."""
    text = catalogue(language()).gettext(msgid)
    return text.format(**values) if values else text


def pgettext(context: str, msgid: str, **values) -> str:
    """``msgid`` in the staff's language, where ``context`` tells which of its meanings it has."""
    text = catalogue(language()).pgettext(context, msgid)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, **values) -> str:
    """The form of ``singular``/``plural`` for the count ``n`` in the staff's language, ``{n}`` and ``values``
    filled (French ``1 facture``, Russian ``2 счёта``, ``5 счетов``)."""
    text = catalogue(language()).ngettext(singular, plural, n)
    return text.format(n=n, **values)


# --- messages from the services ---------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_value(part)})" for i, part in enumerate(parts))
    return re.compile(regex + r"\Z", re.DOTALL)


def _value(name: str) -> str:
    """What a template's ``{name}`` matches: an ISO date, a whole number, or any text."""
    if name in ("date", "day", "first", "today"):
        return r"\d{4}-\d{2}-\d{2}"
    if name == "n" or name.endswith("_n"):
        return r"-?\d+"
    return ".+?"


def message(text: str) -> str:
    """A service's English sentence in the staff's language, when the catalogue has it (else as it is)."""
    lang = language()
    if not isinstance(text, str):  # structured text (duly.domain.text.Text) of the rules core
        from duly.translation import render

        return render(text, lang)
    if lang == "en" or not text:
        return text
    from duly.cli.service_messages import SERVICE_MESSAGES

    found = catalogue(lang)
    for template in SERVICE_MESSAGES:
        match = _pattern(template).match(text)
        if match:
            values = {name: message(value) for name, value in match.groupdict().items()}
            return found.gettext(template).format(**values)
    return text


# --- help --------------------------------------------------------------------------------------------------
class HelpFormatter(click.HelpFormatter):
    """Click's help formatter, writing the help texts and headings in the staff's language."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, prefix=_("Usage:") + " " if prefix is None else _(prefix))

    def write_heading(self, heading: str) -> None:
        super().write_heading(_(heading))

    def write_text(self, text: str) -> None:
        super().write_text(help_text(text))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(first, help_text(second)) for first, second in rows], col_max, col_spacing)


_SUFFIX = re.compile(r"\s*(\[[^\[\]]*\])\s*\Z")


def help_text(text: str) -> str:
    """A help text in the staff's language (click's ``[default: …]``/``[required]`` suffixes included)."""
    if language() == "en" or not text:
        return text
    found = catalogue(language())
    translated = found.gettext(text)
    if translated != text:
        return translated
    suffix = _SUFFIX.search(text)  # "Organization slug  [required]", "... [default: text]"
    if suffix:
        head = text[:suffix.start()]
        tail = re.sub(r"\[(\w[\w ]*)(:?)", lambda m: "[" + found.gettext(m.group(1)) + m.group(2), suffix.group(1))
        return (help_text(head) + "  " if head else "") + tail
    return text


def short_help(command: click.Command, limit: int = 45) -> str:
    """``command``'s one-line help, from its translated help (click's own, in English)."""
    if language() == "en":
        return click.Command.get_short_help_str(command, limit)
    if command.short_help:
        return help_text(command.short_help)
    english = inspect.cleandoc(command.help or "").partition("\f")[0]
    text = help_text(english)
    if text == english:  # the whole help is not in the catalogue: its first sentence may be (duly.cli.help_texts)
        text = help_text(click.utils.make_default_short_help(english, len(english) + 1))
    return click.utils.make_default_short_help(text, limit) if text else ""


class Context(click.Context):
    formatter_class = HelpFormatter
