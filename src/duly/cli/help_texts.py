"""The first sentence of each top-level command's help, marked for the catalogue: ``duly --help`` lists the
commands with it, in the staff's language (duly.cli.i18n.short_help). Nothing imports this module; a test checks
that each sentence is still a command's (a help text reworded must be reworded here, and translated).
"""

from __future__ import annotations

from duly.cli.i18n import N_

COMMAND_SUMMARIES = (
    N_("Keys of the REST API v1: each belongs to one organization and acts with one role's permissions."),
    N_("Recover interrupted charges, then charge each invoice due (and each retry due) on the customer's saved "
       "method."),
    N_("The organization's bank accounts and their statements."),
    N_("Start Celery beat: it starts the cycle of periodic jobs every DULY_CYCLE_INTERVAL seconds (default 300)."),
    N_("Issue the invoices of every subscription period due by --as-of (idempotent: rerun it freely)."),
    N_("Check the configuration for a public deployment: Django's deploy checks and DULY_SECRET_KEY."),
    N_("Run collections: reminders, late fees, suspensions, terminations, greetings, price notices."),
    N_("Worklist, dunning policies, promises to pay and queries."),
    N_("The organization as a SEPA creditor (identifier, account, name)."),
    N_("Customers: their Peppol electronic addresses; revoke their personal pay links."),
    N_("SEPA direct debits from the organization's own bank (pain.008 files)."),
    N_("Seed a realistic demo organization, then serve it (needs no configuration)."),
    N_("Late fees and interest."),
    N_("Migrate the database, create an organization and an admin user (one transaction: all or nothing)."),
    N_("List, issue and void invoices."),
    N_("SEPA direct debit mandates customers signed (debited from the organization's own bank)."),
    N_("A customer's payment methods: saved cards and debits (one default, the one autopay charges)."),
    N_("The outbox: rendered messages waiting for (or done with) delivery."),
    N_("Record and refund payments."),
    N_("Statutory reference rates: the rates statutory late-payment interest follows, by series."),
    N_("Migrate open receivables from another invoicing tool."),
    N_("Accounts receivable reports."),
    N_("Retainers: a prepaid balance drawn down by recurring and usage charges."),
    N_("Late-payment prediction: train the organization's model, score its open invoices."),
    N_("Print the role matrix (Markdown): each role's permissions and what every back-office page needs."),
    N_("Serve Duly with a production WSGI server (waitress) and the in-process scheduler."),
    N_("Subscriptions: create them, change seats or plans (with the proration shown), pause, resume, cancel."),
    N_("Message templates of the organization."),
    N_("Usage events and licence counts."),
    N_("Outgoing webhooks: endpoints that receive Duly's events, signed per the Standard Webhooks specification."),
    N_("Start a Celery worker: it runs the partitions of the billing, dunning, fee, autopay and outbox runs."),
)
