"""duly risk train / duly risk score: late-payment prediction per organization."""

from __future__ import annotations

import json

import click

from duly.cli import DATE, current_org, handle_errors, org_option
from duly.cli.i18n import _, message, ngettext


@click.group()
def risk():
    """Late-payment prediction: train the organization's model, score its open invoices."""


@risk.command("train")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Train on invoices settled before this date (default: today in the organization's time zone)")
@handle_errors
def train_cmd(org_slug, as_of):
    """Train the late-payment model on the settled invoices (idempotent: the same data gives the same model).
    Needs 200 settled invoices over 30 customers; with less, says so and the global prior is used."""
    from duly.customers.services import local_today
    from duly.insights.risk_services import train_risk_model

    org = current_org(org_slug)
    result = train_risk_model(org, as_of=as_of or local_today(org))
    click.echo(message(result.message))
    if result.model is not None:
        click.echo(json.dumps(result.model.metrics, sort_keys=True))


@risk.command("score")
@org_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Scoring date (default: today in the organization's time zone)")
@handle_errors
def score_cmd(org_slug, as_of):
    """Score every open invoice: probability of paying late, expected payment date, reasons (idempotent)."""
    from duly.customers.services import local_today
    from duly.insights.risk_services import score_open_invoices

    org = current_org(org_slug)
    result = score_open_invoices(org, as_of=as_of or local_today(org))
    for line in result.errors:
        click.echo(_("warning: refused {line}; the previous model stays in use", line=message(line)), err=True)
    if result.source == "prior":
        click.echo(_("No trained model for this organization: the global prior scored the invoices."))
    click.echo(ngettext("Scored {n} open invoices ({source}).", "Scored {n} open invoices ({source}).", result.scored,
                        source=result.source))


@risk.command("check")
@org_option
@click.option("--customer", "code", default=None, help="The customer's code (default: every customer and recent "
              "contract not checked yet)")
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Date of the check (default: today in the organization's time zone)")
@handle_errors
def check_cmd(org_slug, code, as_of):
    """Red-flag check of a new customer (with its current contract): the flags in words, the score and the recommended terms (stored on the
    customer's page for staff to accept or override). A customer with nothing to check is an error."""
    from duly.customers.models import Customer
    from duly.customers.services import current_contract, local_today
    from duly.domain.errors import NotFound
    from duly.insights.risk_onboarding import assess_customer, assess_new_customers

    org = current_org(org_slug)
    day = as_of or local_today(org)
    if code is None:
        result = assess_new_customers(org, as_of=day)
        click.echo(_("{checked}; {nothing}.",
                     checked=ngettext("Checked {n} customers or contracts", "Checked {n} customers or contracts",
                                      result["checked"]),
                     nothing=ngettext("{n} had nothing to check", "{n} had nothing to check",
                                      result["refused"] + result["unchanged"])))
        return
    customer = Customer.objects.filter(organization=org, code=code).first()
    if customer is None:
        raise NotFound(f"No customer {code!r} in {org.name}.")
    row = assess_customer(customer, as_of=day, contract=current_contract(customer, day))
    click.echo(_("{code}: {level} risk (score {score}).", code=customer.code, level=row.level, score=row.score))
    for flag in row.flags:
        click.echo(f"  - {flag['words']} [{flag['code']}]")
    for words in row.recommendation.get("words", ()):
        click.echo(f"  > {words}")


COMMANDS = [risk]
