"""The ``duly`` command line. Every command is a thin call into a service.

Errors print one clear line (``error: ...``) on stderr and exit non-zero:
2 for bad input (a DomainError, or a bad option value), 1 for anything unexpected. A run that did its work
but had to leave some of it out (``duly bill`` leaving customers out) exits 3 (:data:`EXIT_INCOMPLETE`),
after listing what was left out and how to fix it.
Each business area has its commands in its own module of this package, ``duly.cli.<app>`` (see
``COMMAND_MODULES``): the command line is an entry point, above every app it calls (docs/conventions.md).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from datetime import date, datetime

import click

from duly.cli.i18n import N_, Context, _, message, set_language, short_help

COMMAND_MODULES = [
    "duly.cli.customers",
    "duly.cli.invoicing",
    "duly.cli.payments",
    "duly.cli.methods",
    "duly.cli.bank",
    "duly.cli.collections",
    "duly.cli.insights",
    "duly.cli.risk",
    "duly.cli.billing",
    "duly.cli.subscriptions",
    "duly.cli.messaging",
    "duly.cli.api",
    "duly.cli.webhooks",
    "duly.cli.scaleout",
]

EXIT_BAD_INPUT = 2
#: The run did its work but left some of it out (listed, each with what to fix): fix and run it again.
EXIT_INCOMPLETE = 3


#: Command groups that never use the back office (admin pages, URLs): their process skips importing every app's
#: admin module (Django's admin autodiscovery: about half of Django's set-up, scikit-learn and schwifty included).
WITHOUT_ADMIN = frozenset({"invoices", "receivables"})


def setup_django(*, admin: bool = True) -> None:
    """Load the settings; a bad environment variable is one line and exit 2 (it names the variable).

    ``admin=False``: the admin site's registrations are not loaded (its checks still are), for a command that
    neither serves pages nor reads the back office's registry. Only this process is affected."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    if not admin:
        from django.contrib.admin.apps import AdminConfig, SimpleAdminConfig

        AdminConfig.ready = SimpleAdminConfig.ready  # what "django.contrib.admin.apps.SimpleAdminConfig" does
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        fail(_one_line(exc))


def debug_enabled() -> bool:
    """``DULY_DEBUG=1``: show the traceback of an unexpected error (0, unset or empty: one line)."""
    return os.environ.get("DULY_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def fail(message: str, code: int = EXIT_BAD_INPUT):
    click.echo(_("error: {message}", message=message), err=True)
    sys.exit(code)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def handle_errors(fn):
    """Map every error to one line on stderr and a non-zero exit: 2 for bad input, 1 for anything else.

    Click's own errors (usage, bad parameters, aborts) keep their usual handling. Set ``DULY_DEBUG=1``
    to see the traceback of an unexpected error instead.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from django.db import OperationalError, ProgrammingError

        from duly.domain.errors import DomainError

        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            fail(f"{message(_one_line(exc.message))} [{exc.code}]")
        except click.exceptions.ClickException:
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (OperationalError, ProgrammingError) as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                fail(_("the database is not initialised; run `duly init` first."), 1)
            _unexpected(exc)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become one clear line
            _unexpected(exc)

    return wrapper


def progress_display(*, auto_refresh: bool = True):
    """The project's one progress display: rich bars on stderr, so stdout stays clean for --format json.

    ``auto_refresh=False``: no refresh thread (the caller refreshes on each update), for work that forks
    processes (forking a threaded process is unsafe)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), auto_refresh=auto_refresh)


def progress_bar(description: str, total: int | None, *, auto_refresh: bool = True):
    """A progress display with one bar: ``(progress, task)``; use ``with progress:`` around the work."""
    progress = progress_display(auto_refresh=auto_refresh)
    return progress, progress.add_task(description, total=total)


def _unexpected(exc: Exception):
    if debug_enabled():
        raise exc
    detail = _one_line(str(exc)) or _("no details")
    fail(_("unexpected {error}: {detail} (set DULY_DEBUG=1 to see the traceback)", error=type(exc).__name__,
           detail=detail), 1)


class DateType(click.ParamType):
    """A date (YYYY-MM-DD) within Duly's absolute bounds (see duly.domain.bounds)."""

    name = "DATE"

    def convert(self, value, param, ctx):
        from duly.domain.bounds import check_date_range
        from duly.domain.errors import DomainError

        if not isinstance(value, date):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                self.fail(_("{value} is not a date (use YYYY-MM-DD)", value=repr(value)), param, ctx)
        try:
            return check_date_range(value, "the date")
        except DomainError as exc:
            self.fail(f"{message(exc.message)} [{exc.code}]", param, ctx)


class DateTimeType(click.ParamType):
    name = "DATETIME"

    def convert(self, value, param, ctx):
        from datetime import timezone as tz

        from duly.domain.bounds import check_datetime_range
        from duly.domain.errors import DomainError

        if isinstance(value, datetime):
            dt = value
        else:
            try:
                dt = datetime.fromisoformat(value)
            except ValueError:
                self.fail(_("{value} is not a date-time (use YYYY-MM-DDTHH:MM[+ZZ:ZZ])", value=repr(value)), param, ctx)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz.utc)
        try:
            return check_datetime_range(dt, "the time")
        except DomainError as exc:
            self.fail(f"{message(exc.message)} [{exc.code}]", param, ctx)


DATE = DateType()
DATETIME = DateTimeType()


def current_org(slug: str | None):
    """The organization a command works on: --org/DULY_ORG, or the only one there is."""
    from duly.customers.models import Organization
    from duly.domain.errors import NotFound, ValidationError

    slug = slug or os.environ.get("DULY_ORG")
    if slug:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise NotFound(f"No organization with the slug {slug!r}.")
        return org
    orgs = list(Organization.objects.all()[:2])
    if not orgs:
        raise ValidationError("No organization yet: run `duly init` (or `duly demo`).", code="no_organization")
    if len(orgs) > 1:
        raise ValidationError("Several organizations exist: choose one with --org SLUG or DULY_ORG.",
                              code="organization_required")
    return orgs[0]


#: Commands that record or bill by a business date take this flag (see :func:`check_business_date`).
allow_date_option = click.option(
    "--allow-date-outside-window", "allow_outside_window", is_flag=True,
    help="Accept a date outside the organization's window of business dates (from a year before its first "
         "invoice to 31 days after today)")


def business_window(org):
    """``org``'s window of business dates (duly.domain.bounds) as of now: this reads the clock (today where
    the organization is) and the date of its first issued invoice."""
    from duly.customers.services import local_today
    from duly.domain.bounds import date_window
    from duly.invoicing.services import first_invoice_date

    return date_window(today=local_today(org), first_invoice_date=first_invoice_date(org))


def check_business_date(org, value: date | datetime, what: str, *, allow_outside: bool) -> None:
    """Refuse a business date outside ``org``'s window, unless ``allow_outside`` (then only the absolute bounds)."""
    from zoneinfo import ZoneInfo

    from duly.domain.bounds import check_date_range

    if isinstance(value, datetime):  # an instant: its date where the organization is
        value = value.astimezone(ZoneInfo(org.timezone)).date()
    if allow_outside:
        check_date_range(value, what)
    else:
        business_window(org).check(value, what)


org_option = click.option("--org", "org_slug", envvar="DULY_ORG", help="Organization slug (when there are several).")


class _Group(click.Group):
    """The ``duly`` group: a bad option value or argument of a command is one line too (``error: ...``, exit 2)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            where = _(" (see `{command} -h`)", command=exc.ctx.command_path) if exc.ctx is not None else ""
            fail(f"{message(_one_line(exc.format_message()))}{where}")


def _language_option(ctx, param, value):
    set_language(ctx, value)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="duly")
@click.option("--lang", envvar="DULY_LANG", metavar="LANG", expose_value=False, is_eager=True,
              callback=_language_option,
              help=N_("Language of the messages: en, fr, de, es or ru [default: DULY_LANG, else LC_ALL, LC_MESSAGES "
                      "or LANG, else en]"))
def main() -> None:
    """Duly: get invoices paid on time."""


N_("Duly: get invoices paid on time.")  # main's help: the help formatter prints it in the staff's language


def _with_django(callback, *, admin: bool):
    """``callback`` (a command's), setting Django up first: when the command runs, not when the command line
    is parsed, so ``--help`` at any depth and a usage error never pay for Django's set-up."""

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        from django.apps import apps

        if not apps.ready:
            setup_django(admin=admin)
        return callback(*args, **kwargs)

    return wrapper


def _set_up_on_run(command: click.Command, admin: bool) -> None:
    """Give each command under ``command`` (a group's own callback only parses options) Django on run, and its
    help in the staff's language (duly.cli.i18n)."""
    _translated_help(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _set_up_on_run(sub, admin)
    elif command.callback is not None:
        command.callback = _with_django(command.callback, admin=admin)


def _translated_help(command: click.Command) -> None:
    command.context_class = Context
    command.get_short_help_str = functools.partial(short_help, command)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for command in getattr(module, "COMMANDS", []):
            _set_up_on_run(command, admin=command.name not in WITHOUT_ADMIN)
            main.add_command(command)


_translated_help(main)
_register()

if __name__ == "__main__":  # pragma: no cover
    main()
