"""What the services say to staff in English, as the command line translates it (duly.cli.i18n.message).

A domain error's message and a run's reasons are English sentences with values in them. Each template here is
one such sentence with ``{name}`` where a value stands; the catalogue translates the template and the values are
put back (a value that is itself a sentence of this list is translated too). A value named ``date``, ``day``,
``first`` or ``today`` is an ISO date; ``n`` and names ending in ``_n`` are whole numbers. A sentence matching no
template prints as it is: list here the ones staff meet often. Longer templates come before those they extend.
"""

from __future__ import annotations

from duly.cli.i18n import N_

SERVICE_MESSAGES = [
    # click's usage errors (the command line prints them as one line)
    N_("No such option: {option} Did you mean {other}?"),
    N_("No such option: {option}"),
    N_("Missing option {option}."),
    N_("Missing argument {argument}."),
    N_("No such command {command}."),
    N_("Invalid value for {param}: {detail}"),
    # the organization, customers, invoices looked up by the command line
    N_("No organization with the slug {slug}."),
    N_("No organization yet: run `duly init` (or `duly demo`)."),
    N_("Several organizations exist: choose one with --org SLUG or DULY_ORG."),
    N_("No customer with the code {code} in {org}."),
    N_("No customer with the code {code}."),
    N_("No customer {code} in {org}."),
    N_("No invoice numbered {number} in {org}."),
    N_("No subscription with the id or reference {ref}."),
    N_("No price with the code {code}."),
    N_("No contract with the reference {ref}."),
    N_("Invoice {invoice} is already void."),
    N_("{invoice} is not issued: its documents are not stored."),
    # dates (duly.domain.bounds)
    N_("{what} {day} is {why}; business dates are accepted {window} "
       "(pass --allow-date-outside-window if it is really meant)."),
    N_("{what} {day} is out of range: Duly accepts dates from {first} to {date}."),
    N_("more than {days_n} days after today ({date})"),
    N_("more than {days_n} days before the first invoice ({date})"),
    N_("from {first} to {date}"),
    N_("up to {date}"),
    N_("The billing date"),
    N_("The issue date"),
    N_("The collections date"),
    N_("The assessment date"),
    N_("The refund date"),
    N_("The export date"),
    N_("The return date"),
    N_("The rejection date"),
    N_("the date"),
    N_("the time"),
    # SEPA direct debits, autopay
    N_("Nothing new to export: every planned debit is already in a batch."),
    N_("Exported batch {batch} ({message_id}): {count_n} debit(s), {amount} {currency}, {version}, sha256 {sha256}."),
    N_("Re-emitted batch {batch} ({message_id}): {count_n} debit(s), {amount} {currency}, {version}, "
       "sha256 {sha256}."),
    N_("Status report {id}: no rejected debit."),
    N_("Autopay {date}: {attempted_n} charged, {succeeded_n} succeeded, {failed_n} declined ({retries_n} retries "
       "scheduled), {unknown_n} unknown, {pending_n} pending, {skipped_n} without a saved method, {old_n} too old "
       "to charge automatically (over {days_n} days late: charge them by hand)"),
    N_("Autopay {date}: {attempted_n} charged, {succeeded_n} succeeded, {failed_n} declined ({retries_n} retries "
       "scheduled), {unknown_n} unknown, {pending_n} pending, {skipped_n} without a saved method"),
    N_("recovered {checked_n} attempts: {succeeded_n} succeeded, {failed_n} failed, {recharged_n} charged again, "
       "{unresolved_n} unresolved"),
]
