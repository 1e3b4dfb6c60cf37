"""The command line speaks the staff's language (issue 15): ``duly --lang fr``, ``DULY_LANG``, else the environment.

What it prints for people (results, summaries, table headers, ``error: ...`` lines, the domain errors it shows,
help) comes from the catalogue ``src/duly/cli/locale/<lang>/LC_MESSAGES/django.po``, with the plural form the
count takes in the language. What it prints for machines (``--format json``, CSV, exit statuses) is the same in
every language, and English is byte for byte what it was.
"""

from __future__ import annotations

import ast
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import click
import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from duly.cli import main
from duly.cli.i18n import LOCALE_DIR, from_environment, normalize
from duly.invoicing import services as invoicing

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "tests" / "data" / "bank-statements" / "samples" / "camt053" / "camt053.v2.multi.statement.xml"
LANGS = ("fr", "de", "es", "ru")


def cli(*args, env=None):
    """``duly args`` in this process; the environment's own language is never the test's."""
    return CliRunner(env={"DULY_LANG": None, "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None,
                          "LANG": "C.UTF-8", **(env or {})}).invoke(main, [*args], prog_name="duly")


def issue(org, customer, contract, amount="100.00", on=date(2026, 3, 2)):
    line = invoicing.LineData("Audit", Decimal(1), Decimal(amount), tax_rate=Decimal(20))
    draft = invoicing.create_draft(org, customer, [line], contract=contract)
    return invoicing.issue_invoice(org, draft.pk, issue_date=on)


# --- the language ----------------------------------------------------------------------------------------
def test_the_language_comes_from_the_option_then_duly_lang_then_the_environment_as_gettext_reads_it():
    assert normalize("fr_FR.UTF-8") == normalize("FR") == normalize("fr-BE") == "fr"
    assert normalize("it_IT") is None and normalize("C") is None
    assert from_environment({}) == "en"
    assert from_environment({"LANG": "de_DE.UTF-8"}) == "de"
    assert from_environment({"LC_MESSAGES": "es_ES.UTF-8", "LANG": "de_DE.UTF-8"}) == "es"
    assert from_environment({"LC_ALL": "ru_RU.UTF-8", "LANG": "de_DE.UTF-8"}) == "ru"  # LC_ALL before LANG
    assert from_environment({"LANGUAGE": "it:es", "LANG": "de_DE.UTF-8"}) == "es"  # a list: the first Duly speaks
    assert from_environment({"DULY_LANG": "fr", "LC_ALL": "ru_RU.UTF-8"}) == "fr"
    assert from_environment({"LC_ALL": "C.UTF-8", "LANG": "de_DE.UTF-8"}) == "en"  # the first one set decides


def test_help_is_in_the_staff_language_and_a_bad_language_is_refused():
    fr = cli("--lang", "fr", "--help")
    assert fr.exit_code == 0
    assert fr.stdout.startswith("Utilisation : duly [OPTIONS] COMMAND [ARGS]...")
    assert "Duly : faites payer vos factures à temps." in fr.stdout and "Afficher ce message et quitter." in fr.stdout
    de = cli("--help", env={"DULY_LANG": "de"})
    assert de.stdout.startswith("Aufruf: duly") and "Befehle:" in de.stdout
    ru = cli("--help", env={"LANG": "ru_RU.UTF-8"})
    assert ru.stdout.startswith("Использование: duly")
    en = cli("--help")
    assert en.stdout.startswith("Usage: duly [OPTIONS] COMMAND [ARGS]...")
    assert "Show this message and exit." in en.stdout
    bad = cli("--lang", "xx", "bill", "--as-of", "2026-03-02")
    assert bad.exit_code == 2 and "'xx' is not one of en, fr, de, es, ru" in bad.output


# --- commands, in each language ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_issuing_says_how_many_invoices_with_the_plural_of_each_language(org, customer, contract):
    drafts = [invoicing.create_draft(org, customer, [invoicing.LineData("Audit", Decimal(1), Decimal("100"))],
                                     contract=contract).pk for _ in range(2)]
    fr = cli("--lang", "fr", "invoices", "issue", str(drafts[0]), "--date", "2026-03-02")
    assert fr.exit_code == 0, fr.output
    assert fr.stdout == "Émise INV-2026-00001 : 100.00 EUR, échéance 2026-04-01\n1 facture émise.\n"
    ru = cli("invoices", "issue", str(drafts[1]), "--date", "2026-03-02", env={"DULY_LANG": "ru"})
    assert ru.stdout.endswith("\nВыставлен 1 счёт.\n"), ru.output


@pytest.mark.django_db
def test_billing_and_its_json_output(org):
    fr = cli("--lang", "fr", "bill", "--as-of", "2026-03-02")
    assert fr.exit_code == 0, fr.output
    assert fr.stdout == "Rien à facturer au 2026-03-02.\n"
    assert cli("bill", "--as-of", "2026-03-02").stdout == "Nothing to bill as of 2026-03-02.\n"
    as_json = [json.loads(cli(*lang, "bill", "--as-of", "2026-03-02", "--format", "json").stdout)
               for lang in ((), ("--lang", "de"), ("--lang", "ru"))]
    assert as_json[0] == as_json[1] == as_json[2]  # machine output is never translated


@pytest.mark.django_db
def test_a_collections_dry_run_in_german_and_spanish(org, customer, contract):
    issue(org, customer, contract, on=date(2026, 1, 5))  # due 4 February: overdue
    args = ("collect", "--as-of", "2026-03-10T09:00+00:00", "--dry-run", "--all")
    english = cli(*args)
    de = cli("--lang", "de", *args)
    es = cli(*args, env={"DULY_LANG": "es"})
    assert english.exit_code == de.exit_code == es.exit_code == 0, english.output
    assert english.stdout.startswith("Collections as of 2026-03-10T09:00:00+00:00 (dry run: nothing written): "
                                     "would send ")
    assert de.stdout.startswith("Forderungsmanagement zum 2026-03-10T09:00:00+00:00 (Probelauf: nichts gespeichert): "
                                "würde ")
    assert es.stdout.startswith("Cobros a 2026-03-10T09:00:00+00:00 (simulación: no se guarda nada): enviaría ")
    assert "a 1 cliente examinado" in es.stdout.splitlines()[0]
    assert len(de.stdout.splitlines()) == len(english.stdout.splitlines())
    as_json = [json.loads(cli(*lang, *args, "--format", "json").stdout) for lang in ((), ("--lang", "fr"))]
    assert as_json[0] == as_json[1]


@pytest.mark.django_db
def test_a_bank_statement_import_in_russian(org):
    assert cli("bank", "accounts", "add", "NL26 VAYB 8060 4768 90", "--currency", "EUR").exit_code == 0
    ru = cli("--lang", "ru", "bank", "import", str(BANK))
    assert ru.exit_code == 0, ru.output
    assert ru.stdout == "camt.053: 2 выписки, 2 операции: 2 новые операции.\n"
    again = cli("--lang", "fr", "bank", "import", str(BANK))
    assert again.stdout == "camt.053 : 2 relevés, 2 lignes : 0 nouvelle ligne.\n"
    listed = cli("--lang", "de", "bank", "accounts", "list")
    assert "NL26VAYB8060476890\tEUR\t\t2 Kontoauszüge\t2 Buchungen" in listed.stdout


@pytest.mark.django_db
def test_an_export_says_what_it_wrote_in_the_staff_language(org, customer, contract, tmp_path):
    invoice = issue(org, customer, contract)
    out = tmp_path / "invoice.xml"
    de = cli("--lang", "de", "invoices", "export", invoice.number, "--format", "ubl", "-o", str(out))
    assert de.exit_code == 0, de.output
    size = out.stat().st_size
    assert de.stdout.startswith(f"{out} geschrieben (ubl, {size} Bytes, gespeichert, sha256 ")
    again = cli("--lang", "es", "invoices", "export", invoice.number, "--format", "ubl", "-o", str(out))
    assert again.stdout.startswith(f"{out} escrito (ubl, {size} bytes, archivado, sha256 ")
    assert out.stat().st_size == size


@pytest.mark.django_db
def test_errors_are_one_translated_line_with_their_stable_code(org, customer, contract):
    es = cli("--lang", "es", "invoices", "void", "INV-404", "--reason", "x")
    assert es.exit_code == 2
    assert es.stderr == "error: Ninguna factura con el número 'INV-404' en Atelier Lumière SARL. [not_found]\n"
    fr = cli("--lang", "fr", "bill", "--as-of", "2031-01-01")  # beyond the window of business dates
    assert fr.exit_code == 2 and fr.stderr.startswith("erreur : La date de facturation 2031-01-01 est plus de 31 jours "
                                                      "après aujourd’hui (")
    assert fr.stderr.rstrip().endswith(
        "(passez --allow-date-outside-window si c’est bien voulu). [date_outside_window]")
    usage = cli("--lang", "de", "bill")
    assert usage.exit_code == 2 and usage.stderr == "Fehler: Fehlende Option '--as-of'. (siehe `duly bill -h`)\n"
    english = cli("bill", "--as-of", "2031-01-01")
    assert english.stderr.startswith("error: The billing date 2031-01-01 is more than 31 days after today (")


# --- English is what it was; the catalogue is complete ---------------------------------------------------------
def test_the_translated_summaries_are_the_services_own_words_in_english():
    from duly.billing.ingest import UsageResult
    from duly.billing.runner.result import BillingRunResult
    from duly.cli.bank import import_summary
    from duly.cli.billing import run_summary, usage_summary
    from duly.cli.collections import collect_summary, fees_summary
    from duly.collections.services.fees import FeeRunResult
    from duly.collections.services.run import CollectResult
    from duly.payments.bank_services import ImportResult

    run = BillingRunResult(as_of=date(2026, 3, 1), invoices=3, customers=2, slots=4, topups=1,
                           skipped=[("ACME", "no PO")], kept_prices=[("BETA", "late notice")])
    run.add_invoice("EUR", 12000, 12000)
    results = [(run_summary, run), (run_summary, BillingRunResult(as_of=date(2026, 3, 1))),
               (usage_summary, UsageResult(accepted=3, duplicates=1, late=2)),
               (fees_summary, FeeRunResult(as_of=date(2026, 3, 1), assessed=[("INV-1", "1", "40.00", "EUR")],
                                           fee_invoices=["FEE-1"])),
               (fees_summary, FeeRunResult(as_of=date(2026, 3, 1))),
               (import_summary, ImportResult("camt.053", 2, 1, 5, 1))]
    for dry_run in (True, False):
        result = CollectResult(as_of=datetime(2026, 3, 1, tzinfo=timezone.utc), dry_run=dry_run,
                               errors=[("ACME", "boom")], greetings=["x"])
        results.append((collect_summary, result))
    for summary, result in results:
        expected = result.message if isinstance(result, ImportResult) else result.summary()
        assert summary(result) == expected


@click.command()
@click.argument("lang")
def _say(lang):
    from duly.billing.runner.result import BillingRunResult
    from duly.cli.billing import run_summary
    from duly.cli.i18n import set_language

    set_language(click.get_current_context(), lang)
    run = BillingRunResult(as_of=date(2026, 3, 1), invoices=21, customers=1, slots=5,
                           skipped=[("ACME", "no PO")])
    run.add_invoice("EUR", 12000, 12000)
    click.echo(run_summary(run))


@pytest.mark.parametrize("lang, expected", [
    ("fr", "21 factures émises pour 1 client au 2026-03-01 (5 périodes d’abonnement) : 120.00 EUR. "
           "1 client écarté (voir ci-dessous)."),
    ("de", "21 Rechnungen ausgestellt für 1 Kunden zum 2026-03-01 (5 Abonnementzeiträume): 120.00 EUR. "
           "1 Kunde ausgelassen (siehe unten)."),
    ("es", "21 facturas emitidas para 1 cliente a 2026-03-01 (5 periodos de suscripción): 120.00 EUR. "
           "1 cliente omitido (véase abajo)."),
    ("ru", "Выставлен 21 счёт для 1 клиента на 2026-03-01 (5 периодов подписки): 120.00 EUR. "
           "1 клиент пропущен (см. ниже)."),
])
def test_a_billing_summary_takes_each_count_in_its_plural_form(lang, expected):
    assert CliRunner().invoke(_say, [lang], catch_exceptions=False).stdout == expected + "\n"


def _source_msgids() -> set[str]:
    """Every message the command line's code marks: ``_("…")``, ``N_("…")``, ``ngettext("…", "…")``."""
    found = set()
    for path in sorted((ROOT / "src" / "duly" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
                first = node.args[0]
                if node.func.id in ("_", "N_", "ngettext") and isinstance(first, ast.Constant) \
                        and isinstance(first.value, str):
                    found.add(first.value)
                if node.func.id == "map" and isinstance(first, ast.Name) and first.id == "_" \
                        and isinstance(node.args[1], ast.Tuple):
                    found.update(e.value for e in node.args[1].elts if isinstance(e, ast.Constant))
    return found


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_of_the_command_line_is_translated(lang):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "django.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {}
    for message in catalog:
        if message.id:
            strings = message.string if message.pluralizable else (message.string,)
            translated[message.id[0] if message.pluralizable else message.id] = all(s.strip() for s in strings)
    wanted = _source_msgids()
    assert len(wanted) > 200
    assert sorted(wanted - set(translated)) == []  # in the code, not in the catalogue
    assert sorted(set(translated) - wanted) == []  # in the catalogue, no longer in the code
    assert all(translated.values())
    assert (LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo").exists()  # compiled (tests/conftest.py, make messages)


def test_the_command_list_is_in_the_staff_language_and_its_sentences_are_still_the_commands():
    import inspect

    from duly.cli.help_texts import COMMAND_SUMMARIES

    firsts = {click.utils.make_default_short_help(text, len(text) + 1)
              for text in (inspect.cleandoc(c.help or "").partition("\f")[0] for c in main.commands.values())}
    assert sorted(set(COMMAND_SUMMARIES) - firsts) == []  # a help reworded: reword (and translate) it there too
    es = cli("--lang", "es", "--help").stdout
    assert "  invoices       Listar, emitir y anular facturas.\n" in es
    assert "  invoices       List, issue and void invoices.\n" in cli("--help").stdout
