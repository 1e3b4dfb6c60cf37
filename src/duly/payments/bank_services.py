"""Bank accounts and statement import: the writers of BankAccount, BankStatement and StatementLine.

``import_statement`` reads the whole file and checks every statement in it before writing anything: a malformed
file, a statement for an account the organization has not added, a statement in another currency than its account,
or one whose opening balance plus its movements is not its closing balance is refused with a clear
``DomainError`` and nothing is written. Then, in one transaction, each statement is stored once per account and
identifier and each line once per account and unique key (the database's unique constraints): importing a file
twice adds nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from duly.customers.models import Organization
from duly.db.fastpath import insert_rows
from duly.domain.errors import (
    StatementCurrencyMismatch,
    StatementMalformed,
    StatementUnbalanced,
    UnknownBankAccount,
    ValidationError,
)
from duly.domain.money import check_currency, from_minor

from .bank_models import BankAccount, BankStatement, StatementLine
from .sepa_services import clean_bic, clean_iban
from .statements import ParsedFile, ParsedStatement, normalize_account, parse_bytes
from .statements.csv import check_mapping

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_ACCOUNT_NUMBER = re.compile(r"^[A-Z0-9/.\-~]{1,34}$")
_INSERT_BATCH = 2000


@dataclass(frozen=True)
class ImportResult:
    format: str
    statements: int
    new_statements: int
    lines: int
    new_lines: int

    @property
    def message(self) -> str:
        return (f"{self.format}: {self.statements} statement(s), {self.lines} line(s): "
                f"{self.new_lines} new line{'' if self.new_lines == 1 else 's'}.")


def clean_account_number(value: str) -> str:
    """An IBAN (checked, compact) or, for a bank without IBANs, its account number as its statements write it."""
    text = normalize_account(value)
    if _IBAN_SHAPE.match(text):
        return clean_iban(text)
    if not _ACCOUNT_NUMBER.match(text):
        raise ValidationError(f"{value!r} is neither an IBAN nor an account number.", code="invalid_iban")
    return text


@transaction.atomic
def add_bank_account(org: Organization, *, iban: str, currency: str, name: str = "", bic: str = "",
                     csv_mapping: dict | None = None) -> BankAccount:
    """Add one of the organization's bank accounts. Adding the same IBAN again with the same currency changes
    nothing, except that a CSV mapping given replaces the saved one."""
    number = clean_account_number(iban)
    currency = check_currency((currency or "").upper())
    mapping = check_mapping(csv_mapping) if csv_mapping else {}
    account, created = BankAccount.objects.get_or_create(
        organization=org, iban=number,
        defaults=dict(name=(name or "")[:100], bic=clean_bic(bic), currency=currency, csv_mapping=mapping))
    if not created and account.currency != currency:
        raise StatementCurrencyMismatch(f"Account {number} exists already, kept in {account.currency}.",
                                        code="currency_mismatch")
    if not created and mapping and mapping != account.csv_mapping:
        account.csv_mapping = mapping
        account.save(update_fields=["csv_mapping"])
    return account


@transaction.atomic
def set_csv_mapping(org: Organization, account_id: int, mapping: dict) -> BankAccount:
    account = BankAccount.objects.select_for_update().get(organization=org, pk=account_id)
    account.csv_mapping = check_mapping(mapping)
    account.save(update_fields=["csv_mapping"])
    return account


def _candidates(number: str) -> list[str]:
    """How a statement may name an account: as is, without a trailing currency (Rabobank ``...348EUR``), the part
    after a bank code (``50880050/0194774600888``, ``TRIODOSBANK/0390123456``)."""
    out = [number]
    if len(number) > 3 and number[-3:].isalpha() and not number[-4:-3].isalpha():
        out.append(number[:-3])
    if "/" in number:
        out.append(number.rsplit("/", 1)[-1])
    return out


def _resolve(org: Organization, statement: ParsedStatement, given: BankAccount | None,
             accounts: dict[str, BankAccount]) -> BankAccount:
    named = statement.account
    if given is not None:
        if named and given.iban not in _candidates(named) and named != given.iban:
            raise UnknownBankAccount(f"{statement.where} is for account {named}, not {given.iban}: nothing was "
                                     "imported.", account=named)
        return given
    if not named:
        raise UnknownBankAccount(f"{statement.where} names no account: import it with --account IBAN. "
                                 "Nothing was imported.")
    for candidate in _candidates(named):
        if candidate in accounts:
            return accounts[candidate]
    raise UnknownBankAccount(f"{statement.where} is for account {named}, which this organization has not added "
                             "(duly bank accounts add): nothing was imported.", account=named)


def _check(statement: ParsedStatement, account: BankAccount) -> None:
    if statement.format == "mt940" and statement.opening_balance_minor is not None \
            and statement.closing_balance_minor is None:
        # MT940 has no closing tag: a statement that opens (:60F:) but never closes (:62F:/:62M:) was cut
        raise StatementMalformed(f"{statement.where} has an opening balance (:60F:) but no closing balance "
                                 "(:62F:): the file looks truncated. Nothing was imported.")
    currency = statement.currency or account.currency
    if currency != account.currency:
        raise StatementCurrencyMismatch(f"{statement.where} is in {currency}, account {account.iban} is kept in "
                                        f"{account.currency}: nothing was imported.")
    for line in statement.lines:
        if line.currency and line.currency != account.currency:
            raise StatementCurrencyMismatch(f"{line.where} is in {line.currency}, account {account.iban} is kept "
                                            f"in {account.currency}: nothing was imported.")
    opening, closing = statement.opening_balance_minor, statement.closing_balance_minor
    if opening is not None and closing is not None:
        moved = sum(line.amount_minor for line in statement.lines)
        if opening + moved != closing:
            c = account.currency
            raise StatementUnbalanced(
                f"{statement.where} contradicts its balances: opening {from_minor(opening, c)} + movements "
                f"{from_minor(moved, c)} = {from_minor(opening + moved, c)}, but the closing balance is "
                f"{from_minor(closing, c)} {c}. Nothing was imported.")


def parse_for(org: Organization, data: bytes, account: BankAccount | None = None) -> ParsedFile:
    """Read a file for this organization (CSV needs the account's mapping; MT940 without currency takes the
    account's)."""
    return parse_bytes(data, csv_mapping=account.csv_mapping if account is not None else None,
                       currency=account.currency if account is not None else "")


def import_statement(org: Organization, data: bytes, *, account: str | None = None) -> ImportResult:
    """Import a camt.053/054, MT940, OFX or CSV file; ``account`` (IBAN) forces the account (needed for CSV)."""
    given = None
    if account:
        number = normalize_account(account)
        given = BankAccount.objects.filter(organization=org, iban__in=[number, *_candidates(number)]).first()
        if given is None:
            raise UnknownBankAccount(f"Account {number} has not been added to this organization "
                                     "(duly bank accounts add): nothing was imported.", account=number)
    parsed = parse_for(org, data, given)
    if not parsed.statements:
        raise StatementMalformed("The file holds no statement.")
    accounts = {a.iban: a for a in BankAccount.objects.filter(organization=org)}
    plan = []
    for statement in parsed.statements:
        target = _resolve(org, statement, given, accounts)
        _check(statement, target)
        plan.append((statement, target))
    return _write(org, parsed, plan)


_LINE_COLUMNS = ["organization_id", "account_id", "statement_id", "booking_date", "value_date", "amount_minor",
                 "currency", "unique_key", "end_to_end_id", "counterparty_name", "counterparty_iban",
                 "counterparty_bic", "remittance_structured", "remittance_unstructured", "bank_transaction_code",
                 "return_reason_code", "original_amount_minor", "original_currency", "exchange_rate", "status", "raw"]


def _write(org: Organization, parsed: ParsedFile, plan) -> ImportResult:
    """Store what is new, in one transaction. Two imports of one file at once: the second meets the first's lines
    in the unique constraint, its transaction rolls back, and it runs once more (then finding them stored)."""
    for attempt in (1, 2):
        try:
            return _write_once(org, parsed, plan)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def _write_once(org: Organization, parsed: ParsedFile, plan) -> ImportResult:
    new_statements = new_lines = total = 0
    for statement, account in plan:
        row, created = BankStatement.objects.get_or_create(
            account=account, identifier=statement.identifier,
            defaults=dict(organization=org, format=parsed.format if parsed.format != "camt.052" else "camt.053",
                          opening_balance_minor=statement.opening_balance_minor,
                          closing_balance_minor=statement.closing_balance_minor, from_date=statement.from_date,
                          to_date=statement.to_date, file_sha256=parsed.sha256))
        new_statements += created
        keys = [line.unique_key for line in statement.lines]
        total += len(keys)
        existing = set()
        for start in range(0, len(keys), _INSERT_BATCH):
            existing.update(StatementLine.objects.filter(account=account,
                                                         unique_key__in=keys[start:start + _INSERT_BATCH])
                            .values_list("unique_key", flat=True))
        rows = [[org.pk, account.pk, row.pk, line.booking_date, line.value_date, line.amount_minor, account.currency,
                 line.unique_key, line.end_to_end_id, line.counterparty_name, line.counterparty_iban,
                 line.counterparty_bic, line.remittance_structured, line.remittance_unstructured,
                 line.bank_transaction_code, line.return_reason_code, line.original_amount_minor,
                 line.original_currency, line.exchange_rate, StatementLine.NEW, {"where": line.where, **line.raw}]
                for line in statement.lines if line.unique_key not in existing]
        insert_rows(StatementLine, _LINE_COLUMNS, rows)
        new_lines += len(rows)
    return ImportResult(format=parsed.format, statements=len(plan), new_statements=new_statements, lines=total,
                        new_lines=new_lines)
