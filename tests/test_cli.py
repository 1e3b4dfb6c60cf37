"""The `duly` console script end to end on a fresh SQLite database (separate processes, real files)."""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

DULY = [str(Path(sys.executable).with_name("duly"))]


def run(args, home: Path, check=True, **kw):
    env = {**os.environ, "DULY_HOME": str(home), "DJANGO_SETTINGS_MODULE": "duly.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("DULY_SECRET_KEY", None)  # as after a fresh clone: the demo makes its own
    proc = subprocess.run(DULY + args, capture_output=True, text=True, env=env, timeout=300, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"duly {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("duly-demo")
    proc = run(["demo", "--no-serve", "--as-of", "2026-11-20"], home)
    (home / "demo-stdout.txt").write_text(proc.stdout)
    (home / "demo-stderr.txt").write_text(proc.stderr)
    return home


def demo_db(home: Path):
    return sqlite3.connect(home / "var" / "duly.sqlite3")


def test_demo_seeds_a_realistic_organization(demo_home):
    rows = json.loads(run(["invoices", "list", "--format", "json"], demo_home).stdout)
    customers = {r["customer"] for r in rows}
    assert len(customers) == 30
    assert len(rows) >= 150
    statuses = {r["status"] for r in rows}
    assert {"paid", "partially_paid", "issued"} <= statuses


def test_demo_customers_terms_and_payers_are_varied(demo_home):
    db = demo_db(demo_home)
    countries, languages, customers = db.execute(
        "select count(distinct country), count(distinct substr(locale, 1, 2)), count(*) from customers_customer"
    ).fetchone()
    assert 25 <= customers <= 35 and countries >= 4 and languages >= 4
    terms = db.execute("select count(distinct terms_kind || ':' || terms_days || ':' || "
                       "coalesce(terms_day_of_month, '')) from customers_contract").fetchone()[0]
    policies = db.execute("select count(distinct late_fee_kind) from customers_contract").fetchone()[0]
    assert terms >= 4 and policies >= 4
    assert db.execute("select count(*) from customers_contract where late_fee_kind = 'eu_statutory'").fetchone()[0]
    # reliably late payers: at least 3 paid invoices, every one of them paid after its due date
    late_payers = db.execute(
        "select c.code from invoicing_invoice i join customers_customer c on c.id = i.customer_id "
        "where i.status = 'paid' and i.kind = 'standard' group by c.code "
        "having count(*) >= 3 and sum(i.paid_on > i.due_date) = count(*)").fetchall()
    on_time = db.execute(
        "select c.code from invoicing_invoice i join customers_customer c on c.id = i.customer_id "
        "where i.status = 'paid' and i.kind = 'standard' group by c.code "
        "having count(*) >= 3 and sum(i.paid_on > i.due_date) = 0").fetchall()
    assert len(late_payers) >= 3 and len(on_time) >= 3
    # partial payments: payments that covered only part of the invoice they were applied to
    partial = db.execute(
        "select count(*) from payments_allocation a join invoicing_invoice i on i.id = a.invoice_id "
        "where a.payment_id is not null and a.amount_minor < i.total_minor - i.prepaid_minor").fetchone()[0]
    partially_paid = db.execute("select count(*) from invoicing_invoice where status = 'partially_paid'").fetchone()[0]
    assert partial >= 5 and partially_paid >= 3
    # about six months of invoices
    first, last = db.execute("select min(issue_date), max(issue_date) from invoicing_invoice").fetchone()
    assert (date.fromisoformat(last) - date.fromisoformat(first)).days >= 150


def test_demo_shows_progress_on_stderr_and_the_summary_on_stdout(demo_home):
    stderr = (demo_home / "demo-stderr.txt").read_text()
    assert "Customers" in stderr and "30/30" in stderr and "Invoices" in stderr and "Payments" in stderr
    assert "Seeded Brightwave Studio SAS: 30 customers" in (demo_home / "demo-stdout.txt").read_text()


def test_demo_keeps_its_own_key_and_prints_a_random_admin_password_once(demo_home):
    import re
    import stat

    from django.contrib.auth.hashers import Argon2PasswordHasher

    key_file = demo_home / "var" / "demo-secret-key"
    key = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key.strip()) >= 50
    stdout = (demo_home / "demo-stdout.txt").read_text()
    password = re.search(r"Admin login: admin / (\S+) \(generated now and shown once: note it\)", stdout).group(1)
    [encoded] = demo_db(demo_home).execute("select password from auth_user where username = 'admin'").fetchone()
    assert Argon2PasswordHasher().verify(password, encoded)
    again = run(["demo", "--no-serve"], demo_home)
    assert again.stdout == ("Demo organization Brightwave Studio SAS already exists; log in as admin with the password "
                            "printed when it was seeded.\n")
    assert demo_db(demo_home).execute("select password from auth_user").fetchall() == [(encoded,)]
    assert key_file.read_text() == key
    # a command run beside the demo without DULY_SECRET_KEY signs with the demo's key (its links open there)
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    env = {**os.environ, "DULY_HOME": str(demo_home), "DJANGO_SETTINGS_MODULE": "duly.settings"}
    env.pop("DULY_SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == key.strip()


def test_the_demos_first_collections_run_starts_gently_with_one_reminder_per_customer(demo_home):
    """Six months of history and no reminder ever sent: the first run is no day of terminations. Each
    customer's first message is the first overdue reminder, listing every overdue invoice."""
    result = json.loads(run(["collect", "--dry-run", "--as-of", "2026-11-20T10:00+01:00", "--format", "json"],
                            demo_home).stdout)
    planned = [a for a in result["actions"] if a["kind"] in ("send", "defer")]
    assert planned and result["counts"]["errors"] == 0
    drastic = {"final_notice", "suspend", "terminate", "handover", "assess_late_fee"}
    assert [a for a in planned if drastic & set(a["actions"])] == []
    assert {a["step"] for a in planned} <= {"coming_due", "overdue"}
    assert len({a["customer"] for a in planned if a["step"] == "overdue"}) == sum(
        1 for a in planned if a["step"] == "overdue")  # one overdue reminder per customer
    invoices = json.loads(run(["invoices", "list", "--format", "json"], demo_home).stdout)
    for action in planned:
        if action["step"] == "overdue":
            overdue = {i["number"] for i in invoices if i["customer"] == action["customer_name"]
                       and i["status"] in ("issued", "partially_paid") and i["due_date"] < "2026-11-20"}
            assert set(action["invoices"]) == overdue, action["customer"]
    # The termination letter's "we reminded you on these dates" can never be empty: nothing was sent yet.
    assert not any("terminat" in a["template"] for a in planned)


def test_demo_as_of_must_be_a_date(tmp_path):
    proc = run(["demo", "--no-serve", "--as-of", "bogus"], tmp_path, check=False)
    assert proc.returncode == 2
    assert "'bogus' is not a date (use YYYY-MM-DD)" in proc.stderr and "Traceback" not in proc.stderr


def test_aging_json_agrees_with_open_invoices(demo_home):
    report = json.loads(run(["report", "aging", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    rows = json.loads(run(["invoices", "list", "--format", "json"], demo_home).stdout)
    from decimal import Decimal

    expected: dict[str, Decimal] = {}
    for r in rows:
        if r["status"] in ("issued", "partially_paid"):
            expected[r["currency"]] = expected.get(r["currency"], Decimal(0)) + Decimal(r["balance"])
    got = {cur: Decimal(t["total_open"]) for cur, t in report["totals"].items()}
    assert got == {k: v for k, v in expected.items() if v}
    for cur, t in report["totals"].items():
        assert sum(Decimal(v) for v in t["buckets"].values()) == Decimal(t["total_open"])
    per_customer = sum(Decimal(c["total_open"]) for c in report["customers"] if c["currency"] == "EUR")
    assert per_customer == got["EUR"]


def test_errors_are_one_line_and_non_zero(demo_home):
    proc = run(["payments", "record", "--customer", "LUMEN", "--amount", "10", "--currency", "XXX",
                "--method", "card", "--date", "2026-11-20"], demo_home, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    proc = run(["invoices", "void", "INV-1999-00001", "--reason", "x"], demo_home, check=False)
    assert proc.returncode == 2 and "INV-1999-00001" in proc.stderr
    proc = run(["fees", "assess", "--as-of", "not-a-date"], demo_home, check=False)
    assert proc.returncode == 2


def test_fees_assess_is_idempotent_from_the_cli(demo_home):
    first = json.loads(run(["fees", "assess", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    second = json.loads(run(["fees", "assess", "--as-of", "2026-11-20", "--format", "json"], demo_home).stdout)
    assert first["fee_invoices"], "the demo has late payers: some fees are due"
    assert second["fee_invoices"] == [] and second["assessed"] == []


def test_init_creates_org_and_admin_from_flags(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "var" / "duly.sqlite3")  # `duly init` migrates: here nothing is left to apply
    proc = run(["init", "--no-input", "--org-name", "Rivet & Co GmbH", "--country", "DE", "--currency", "EUR",
                "--address", "Hauptstraße 1", "--city", "Berlin", "--admin-user", "owner",
                "--admin-password", "s3cret-passphrase", "--iban", "DE89370400440532013000"], tmp_path)
    assert "Rivet & Co GmbH" in proc.stdout
    # the production hasher: Argon2id (argon2-cffi), not the fast one the in-process tests use
    [stored] = demo_db(tmp_path).execute("select password from auth_user where username = 'owner'").fetchone()
    assert stored.startswith("argon2$argon2id$")
    bad = run(["init", "--no-input", "--org-name", "X", "--country", "DE", "--currency", "EUR", "--address", "a",
               "--city", "b", "--admin-user", "u", "--admin-password", "s3cret-passphrase", "--slug", "x2",
               "--iban", "DE00370400440532013000"], tmp_path, check=False)
    assert bad.returncode == 2 and "IBAN" in bad.stderr


INIT = ["init", "--no-input", "--org-name", "Rivet & Co GmbH", "--country", "DE", "--currency", "EUR",
        "--address", "Hauptstraße 1", "--city", "Berlin", "--admin-user", "owner"]


def test_init_with_a_refused_password_writes_nothing_and_can_be_run_again(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "var" / "duly.sqlite3")  # `duly init` migrates: here nothing is left to apply
    bad = run(INIT + ["--admin-password", "short"], tmp_path, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    assert "too short" in bad.stderr and "[invalid_password]" in bad.stderr
    db = demo_db(tmp_path)
    assert db.execute("select count(*) from customers_organization").fetchone()[0] == 0
    good = run(INIT + ["--admin-password", "a-long-passphrase"], tmp_path, check=False)
    assert good.returncode == 0, good.stderr
    assert "Created organization Rivet & Co GmbH (rivet-co-gmbh)" in good.stdout


@click.command()
@click.option("--what", default="boom")
def _failing(what):
    """A command failing the way a bug would."""
    from duly.cli import handle_errors

    @handle_errors
    def body():
        if what == "domain":
            from duly.domain.errors import ValidationError

            raise ValidationError("the amount is not a number")
        raise RuntimeError("something broke\nin two lines")

    body()


def test_unexpected_errors_print_one_line_and_exit_1(monkeypatch):
    monkeypatch.delenv("DULY_DEBUG", raising=False)
    result = CliRunner().invoke(_failing, [])
    assert result.exit_code == 1
    assert result.stderr == "error: unexpected RuntimeError: something broke in two lines " \
                            "(set DULY_DEBUG=1 to see the traceback)\n"
    assert "Traceback" not in result.output
    domain = CliRunner().invoke(_failing, ["--what", "domain"])
    assert domain.exit_code == 2 and domain.stderr == "error: the amount is not a number [invalid_input]\n"
    monkeypatch.setenv("DULY_DEBUG", "1")
    debug = CliRunner().invoke(_failing, [])
    assert isinstance(debug.exception, RuntimeError)


def test_invoices_issue_is_all_or_nothing(org, customer, contract, make_customer, make_contract):
    from duly.cli import main
    from duly.invoicing import services as inv
    from duly.invoicing.models import Invoice

    strict = make_customer("PO", name="Globex SA", required_fields=["po_number"])
    lines = [inv.LineData("Audit", Decimal(1), Decimal("100"))]
    ok = inv.create_draft(org, customer, lines, contract=contract)
    refused = inv.create_draft(org, strict, lines, contract=make_contract(strict))
    result = CliRunner().invoke(main, ["invoices", "issue", str(ok.pk), str(refused.pk), "--date", "2026-03-02"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: invoice {refused.pk}: Globex SA requires the field 'PO number'")
    assert "Nothing was issued (all or nothing)." in result.stderr and len(result.stderr.splitlines()) == 1
    assert not Invoice.objects.exclude(status=Invoice.DRAFT).exists()
    result = CliRunner().invoke(main, ["invoices", "issue", str(ok.pk), "--date", "2026-03-02"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Issued INV-2026-00001: 100.00 EUR, due 2026-04-01\n1 invoice issued.\n"


def test_payments_record_then_refund_from_the_cli(org, customer, contract):
    from duly.cli import main
    from duly.invoicing import services as inv
    from duly.payments.models import Payment

    issued = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal(100))],
                                                     contract=contract).pk, issue_date=date(2026, 3, 2))
    paid = CliRunner().invoke(main, ["payments", "record", "--customer", customer.code, "--amount", "150.00",
                                     "--currency", "EUR", "--method", "bank_transfer", "--date", "2026-03-10",
                                     "--invoice", issued.number])
    assert paid.exit_code == 0, paid.output
    payment = Payment.objects.get()
    too_much = CliRunner().invoke(main, ["payments", "refund", str(payment.pk), "--amount", "500.00",
                                         "--date", "2026-03-12", "--reason", "Duplicate transfer"])
    assert too_much.exit_code == 2 and too_much.stderr.startswith("error: ") and "[refund_exceeds_payment]" in too_much.stderr
    done = CliRunner().invoke(main, ["payments", "refund", str(payment.pk), "--amount", "50.00",
                                     "--date", "2026-03-12", "--reason", "Overpaid"])
    assert done.exit_code == 0, done.output
    assert "Refunded 50.00 EUR of payment" in done.output
    issued.refresh_from_db()
    assert issued.balance == 0  # the unapplied 50.00 went back first; the invoice stays paid
    assert payment.refunds.get().amount_minor == 5000


# --- duly report aging: CSV and table -------------------------------------------------------------------
def _aged_book(org, customer, contract, make_customer, make_contract):
    """As of 15 April 2026: ACME owes 1,000.00 (due 4 Feb, 61-90 days) and 250.00 (due 1 April, 1-30);
    Beta owes 400.00 not yet due; ACME paid 300.00 ten days late in February."""
    from duly.invoicing import services as inv
    from duly.payments.services import record_payment

    def issue(cust, ctr, amount, on):
        draft = inv.create_draft(org, cust, [inv.LineData("Audit", Decimal(1), Decimal(amount))], contract=ctr)
        return inv.issue_invoice(org, draft.pk, issue_date=on)

    paid = issue(customer, contract, "300.00", date(2026, 1, 2))  # due 1 February
    record_payment(org, customer, amount="300.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 2, 11))
    issue(customer, contract, "1000.00", date(2026, 1, 5))  # due 4 February
    issue(customer, contract, "250.00", date(2026, 3, 2))  # due 1 April
    beta = make_customer("BETA", name="Beta Logistique SARL")
    issue(beta, make_contract(beta, terms_kind="net", terms_days=30), "400.00", date(2026, 4, 1))  # due 1 May
    assert paid.pk


def test_report_aging_csv_has_a_row_per_customer_and_a_total_per_currency(org, customer, contract, make_customer,
                                                                           make_contract):
    import csv
    import io

    from duly.cli import main

    _aged_book(org, customer, contract, make_customer, make_contract)
    result = CliRunner().invoke(main, ["report", "aging", "--as-of", "2026-04-15", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["code", "customer", "currency", "current", "1-30", "31-60", "61-90", "90+", "total_open"],
        ["ACME", "Acme Industries SAS", "EUR", "0.00", "250.00", "0.00", "1000.00", "0.00", "1250.00"],
        ["BETA", "Beta Logistique SARL", "EUR", "400.00", "0.00", "0.00", "0.00", "0.00", "400.00"],
        ["", "TOTAL", "EUR", "400.00", "250.00", "0.00", "1000.00", "0.00", "1650.00"],
    ]


def test_report_aging_table_shows_buckets_totals_dso_and_days_late(org, customer, contract, make_customer,
                                                                    make_contract):
    from duly.cli import main

    _aged_book(org, customer, contract, make_customer, make_contract)
    result = CliRunner().invoke(main, ["report", "aging", "--as-of", "2026-04-15"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Aged receivables as of 2026-04-15" in result.stdout

    def cells(label):
        """The cells of the one table row whose first cell is ``label``."""
        rows = [[c.strip() for c in line.replace("┃", "│").strip().strip("│").split("│")] for line in lines
                if "│" in line or "┃" in line]
        [row] = [r for r in rows if r[0] == label]
        return row

    assert cells("Customer") == ["Customer", "Cur", "current", "1-30", "31-60", "61-90", "90+", "Total open"]
    assert cells("Acme Industries SAS") == ["Acme Industries SAS", "EUR", "0.00", "250.00", "0.00", "1000.00",
                                            "0.00", "1250.00"]
    assert cells("Beta Logistique SARL") == ["Beta Logistique SARL", "EUR", "400.00", "0.00", "0.00", "0.00",
                                             "0.00", "400.00"]
    assert cells("Total") == ["Total", "EUR", "400.00", "250.00", "0.00", "1000.00", "0.00", "1650.00"]
    assert "DSO (90 days): EUR " in result.stdout
    assert "Average days late (EUR): 10" in result.stdout and "over 1 paid invoices" in result.stdout


# --- duly invoices void ---------------------------------------------------------------------------------
def test_invoices_void_from_the_cli_then_a_second_void_is_refused(org, customer, contract):
    from duly.cli import main
    from duly.invoicing import services as inv
    from duly.invoicing.models import Invoice

    issued = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal(100))],
                                                     contract=contract).pk, issue_date=date(2026, 3, 2))
    result = CliRunner().invoke(main, ["invoices", "void", issued.number, "--reason", "Sent to the wrong entity"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Voided {issued.number}: Sent to the wrong entity\n"
    issued.refresh_from_db()
    assert issued.status == Invoice.VOID and issued.void_reason == "Sent to the wrong entity" and issued.voided_at
    again = CliRunner().invoke(main, ["invoices", "void", issued.number, "--reason", "Again"])
    assert again.exit_code == 2
    assert again.stderr == f"error: Invoice {issued.number} is already void. [invoice_already_void]\n"
    issued.refresh_from_db()
    assert issued.void_reason == "Sent to the wrong entity"


# --- duly init: prompts for what the flags did not give ---------------------------------------------------
def test_init_prompts_for_each_missing_value_and_asks_the_password_twice(db):
    from django.contrib.auth import get_user_model

    from duly.cli import main
    from duly.customers.models import Organization, Membership

    answers = "\n".join([
        "de",  # Country (upper-cased)
        "eur",  # Currency (upper-cased)
        "Hauptstraße 1",  # Address
        "owner",  # Admin user
        "a-long-passphrase", "a-typo-passphrase",  # Admin password + a confirmation that differs: asked again
        "a-long-passphrase", "a-long-passphrase",
    ]) + "\n"
    result = CliRunner().invoke(main, ["init", "--org-name", "Rivet & Co GmbH", "--city", "Berlin"], input=answers)
    assert result.exit_code == 0, result.output
    prompts = [line.split(":")[0] for line in result.output.splitlines() if ":" in line]
    # the flags given are not asked for; the password is hidden (not echoed) and confirmed
    assert "Org name" not in prompts and "City" not in prompts
    assert "Country" in prompts and "Currency" in prompts and "Address" in prompts and "Admin user" in prompts
    assert "a-long-passphrase" not in result.output
    assert "do not match" in result.output
    assert "Created organization Rivet & Co GmbH (rivet-co-gmbh) and admin user owner." in result.output
    org = Organization.objects.get()
    assert (org.name, org.country, org.default_currency, org.address_line1, org.city) == (
        "Rivet & Co GmbH", "DE", "EUR", "Hauptstraße 1", "Berlin")
    user = get_user_model().objects.get(username="owner")
    assert user.check_password("a-long-passphrase")
    assert Membership.objects.filter(organization=org, user=user).exists()


def test_init_without_input_names_the_missing_flag(db):
    from duly.cli import main
    from duly.customers.models import Organization

    result = CliRunner().invoke(main, ["init", "--no-input", "--org-name", "Rivet & Co GmbH"], input="DE\n")
    assert result.exit_code == 2
    assert result.stderr == "error: --country is required with --no-input. [invalid_input]\n"
    assert not Organization.objects.exists()


def test_the_demo_has_cards_on_file_mandates_and_transfer_customers_and_its_debits_export(demo_home, tmp_path):
    """Without a Stripe key the demo saves its cards offline (demo ids, brand and last four only) and says so; its
    direct-debit customers have mandates and the organization a creditor, so `duly debits export` works on it."""
    stdout = (demo_home / "demo-stdout.txt").read_text()
    assert "customers with a card on file" in stdout and "under demo ids" in stdout
    db = demo_db(demo_home)
    by_method = dict(db.execute("select preferred_payment_method, count(*) from customers_customer "
                                "group by preferred_payment_method").fetchall())
    cards = db.execute("select c.preferred_payment_method, m.is_default, m.last4, m.method_ref from "
                       "payments_savedpaymentmethod m join customers_customer c on c.id = m.customer_id").fetchall()
    assert len(cards) == by_method["card"] >= 3 and {c[0] for c in cards} == {"card"}
    assert all(is_default and len(last4) == 4 and ref.startswith("pm_demo_") for _, is_default, last4, ref in cards)
    mandates = db.execute("select count(distinct m.customer_id) from payments_mandate m join customers_customer c "
                          "on c.id = m.customer_id where c.preferred_payment_method = 'sepa_debit'").fetchone()[0]
    assert mandates == by_method["sepa_debit"] >= 3 and by_method["bank_transfer"] >= 3
    code = db.execute("select c.code from payments_savedpaymentmethod m join customers_customer c "
                      "on c.id = m.customer_id order by c.code").fetchone()[0]
    assert "* " in run(["methods", "list", code], demo_home).stdout
    out = tmp_path / "debits.xml"
    proc = run(["debits", "export", "--as-of", "2026-11-20", "-o", str(out)], demo_home)
    assert proc.stdout.startswith("Exported batch ") and out.read_bytes().count(b"<DrctDbtTxInf>") >= 1


def test_the_demos_invoices_state_the_method_that_will_actually_be_used(demo_home):
    """The mandates and cards exist (and the customers prefer them) before the first invoice is issued, so every
    direct-debit customer's invoice is the debit's pre-notification and every card customer's names the card."""
    from duly.domain.payment_instructions import PaymentInstruction

    db = demo_db(demo_home)
    rows = db.execute("select c.code, c.preferred_payment_method, c.currency, i.document_snapshot from "
                      "invoicing_invoice i join customers_customer c on c.id = i.customer_id "
                      "where i.kind = 'standard'").fetchall()
    stated = {}
    for code, preferred, currency, snapshot in rows:
        stated.setdefault((code, preferred, currency), []).append(
            PaymentInstruction.from_json(json.loads(snapshot).get("payment")))
    sepa = {k: v for k, v in stated.items() if k[1] == "sepa_debit"}
    cards = {k: v for k, v in stated.items() if k[1] == "card"}
    assert len(sepa) >= 3 and len(cards) >= 3
    for (code, _, _), instructions in sepa.items():
        assert {(i.method, i.mandate_reference, i.creditor_id) for i in instructions} == {
            ("sepa_debit", f"BW-MDT-{code}", "FR72ZZZ123456")}, code
        assert all(i.debit_date and i.debtor_iban for i in instructions), code
    labels = {}
    for (code, _, _), instructions in cards.items():
        assert {i.method for i in instructions} == {"card"}, code
        assert all(i.charge_date for i in instructions), code
        labels[code] = {i.card_label for i in instructions}
    assert {"Visa •••• 4242"} in labels.values()
    assert all(len(label) == 1 and "•••• " in next(iter(label)) for label in labels.values())


def test_exporting_a_stored_document_again_gives_the_same_bytes_and_line_without_setting_django_up(demo_home,
                                                                                                   tmp_path):
    """The second export of an issued invoice's PDF (stored by the first) is served by the quick start-up path
    (duly.cli.start: settings, one query, no Django set-up): the same bytes and the same line; an unknown number,
    a draft's id or an option the quick path does not know still get the full command's answers."""
    number = demo_db(demo_home).execute(
        "select i.number from invoicing_invoice i where i.status != 'draft' and not exists (select 1 from "
        "invoicing_storeddocument d where d.invoice_id = i.id) order by i.id limit 1").fetchone()[0]
    first = run(["invoices", "export", number, "-o", str(tmp_path / "first.pdf")], demo_home)
    second = run(["invoices", "export", number, "--format=pdf", "-o", str(tmp_path / "second.pdf")], demo_home)
    assert (tmp_path / "first.pdf").read_bytes() == (tmp_path / "second.pdf").read_bytes()
    assert first.stdout.replace("first", "second") == second.stdout and "stored, sha256" in second.stdout
    env = {**os.environ, "DULY_HOME": str(demo_home)}
    env.pop("DATABASE_URL", None)
    piped = subprocess.run(DULY + ["invoices", "export", number, "-o", "-"], env=env, capture_output=True, check=True)
    assert piped.stdout == (tmp_path / "first.pdf").read_bytes()
    probe = ("import sys; from duly.cli.start import stored_export; "
             f"ok = stored_export(['invoices', 'export', {number!r}, '-o', {str(tmp_path / 'third.pdf')!r}]); "
             "print(ok, 'django.db.models' in sys.modules, 'duly.invoicing.models' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "True False False"  # served, and neither the ORM nor an app was imported

    missing = run(["invoices", "export", "NO-SUCH-1"], demo_home, check=False)
    assert missing.returncode == 2 and "No invoice numbered 'NO-SUCH-1'" in missing.stderr
    dated = run(["invoices", "export", number, "--date", "2026-01-01", "-o", str(tmp_path / "dated.pdf")], demo_home)
    assert (tmp_path / "dated.pdf").read_bytes() == (tmp_path / "first.pdf").read_bytes()  # full path: stored PDF
