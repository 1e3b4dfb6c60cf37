"""duly subscriptions create|change|add-item|remove-item|pause|resume|cancel|list, duly retainers start|top-up.

Each command is one call into :mod:`duly.billing.services`; a bad input prints ``error: ... [code]``, exits 2
and writes nothing. ``--preview`` (or ``--dry-run``) on ``change``, ``add-item``, ``remove-item`` and ``cancel`` shows
the proration the command would book (computed by the same service function that books it) and changes nothing;
``--expect-net AMOUNT`` then confirms: the command is refused (``proration_changed``) when the net is no longer
the one previewed.
"""

from __future__ import annotations

import json

import click

from duly.cli import DATE, current_org, handle_errors, org_option
from duly.cli.i18n import _


def _today(org):
    from duly.customers.services import local_today

    return local_today(org)


def _subscription(org, ref: str):
    """A subscription by its id or its reference."""
    from duly.billing.models import Subscription
    from duly.domain.errors import NotFound

    qs = Subscription.objects.filter(organization=org).select_related("customer", "contract")
    sub = (qs.filter(pk=int(ref)).first() if ref.isdigit() else None) or qs.filter(reference=ref).first()
    if sub is None:
        raise NotFound(f"No subscription with the id or reference {ref!r}.")
    return sub


def _target(org_slug, ref: str):
    """The organization of --org and its subscription ``ref`` (an id or a reference)."""
    org = current_org(org_slug)
    return org, _subscription(org, ref)


def _price(org, code: str):
    from duly.billing.models import Price
    from duly.domain.errors import NotFound

    price = Price.objects.filter(organization=org, code=code).select_related("product").first()
    if price is None:
        raise NotFound(f"No price with the code {code!r}.")
    return price


def _item_id(sub, ref: str, on) -> int:
    """An item of ``sub`` by its id, or by its price's code (the item running on ``on``)."""
    from django.db.models import Q

    from duly.domain.errors import NotFound, ValidationError

    items = sub.items.select_related("price")
    if ref.isdigit():
        return int(ref)
    running = list(items.filter(price__code=ref, starts_on__lte=on).filter(Q(ends_on__isnull=True) | Q(ends_on__gt=on)))
    if not running:
        raise NotFound(f"{sub} has no item on price {ref!r} running on {on.isoformat()}.")
    if len(running) > 1:
        raise ValidationError(f"{sub} has {len(running)} items on price {ref!r}: give the item id "
                              f"({', '.join(str(i.pk) for i in running)}).")
    return running[0].pk


def _describe(sub) -> dict:
    from django.db.models import Q

    items = sub.items.select_related("price").filter(Q(ends_on__isnull=True) | Q(ends_on__gt=_today(sub.organization)))
    return {"id": sub.pk, "reference": sub.reference, "customer": sub.customer.code, "contract": sub.contract.reference,
            "currency": sub.currency, "interval": sub.interval, "status": sub.status,
            "start_date": sub.start_date.isoformat(), "end_date": sub.end_date.isoformat() if sub.end_date else None,
            "next_bill_on": sub.next_bill_on.isoformat() if sub.next_bill_on else None,
            "paused": sub.pauses.filter(Q(resumes_on__isnull=True) | Q(resumes_on__gt=_today(sub.organization)),
                                        starts_on__lte=_today(sub.organization)).exists(),
            "items": [{"id": i.pk, "price": i.price.code, "quantity": f"{i.quantity.normalize():f}",
                       "starts_on": i.starts_on.isoformat()} for i in items]}


def _line(sub) -> str:
    d = _describe(sub)
    items = ", ".join(f"{i['price']} × {i['quantity']} (item {i['id']})" for i in d["items"]) or "no items"
    return (f"{d['id']}\t{d['reference'] or '-'}\t{d['customer']}\t{d['status']}{' (paused)' if d['paused'] else ''}"
            f"\t{d['interval']}\tnext bill {d['next_bill_on'] or '-'}\t{items}")


@click.group()
def subscriptions():
    """Subscriptions: create them, change seats or plans (with the proration shown), pause, resume, cancel."""


@subscriptions.command("create")
@org_option
@click.option("--customer", "customer_code", required=True, help="The customer's code")
@click.option("--item", "items", multiple=True, required=True, metavar="PRICE[:QUANTITY]",
              help="A price code and its quantity (default 1); repeat for several items")
@click.option("--start", "start_date", type=DATE, required=True, help="Service starts on this day (YYYY-MM-DD)")
@click.option("--contract", "contract_ref", help="The contract's reference [default: the one in force on --start]")
@click.option("--interval", help="Billing interval [default: the contract's billing frequency]")
@click.option("--anchor-day", help="Billing day: 1..31, 'last' or a weekday [default: the contract's]")
@click.option("--timing", type=click.Choice(["advance", "arrears"]), default="advance", show_default=True)
@click.option("--trial-end", type=DATE, help="Charges start on this day")
@click.option("--end", "end_date", type=DATE, help="Service stops on this day")
@click.option("--reference", default="", help="Your reference for the subscription")
@click.option("--as-of", "as_of", type=DATE, help="The day of the deposit invoice, if any [default: today]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def create(org_slug, customer_code, items, start_date, contract_ref, interval, anchor_day, timing, trial_end,
           end_date, reference, as_of, fmt):
    """Subscribe a customer to one or more prices."""
    from duly.billing import services
    from duly.customers.models import Contract, Customer
    from duly.domain.errors import NotFound, ValidationError

    org = current_org(org_slug)
    customer = Customer.objects.filter(organization=org, code=customer_code).first()
    if customer is None:
        raise NotFound(f"No customer with the code {customer_code!r}.")
    contract = None
    if contract_ref:
        contract = Contract.objects.filter(organization=org, customer=customer, reference=contract_ref).first()
        if contract is None:
            raise NotFound(f"{customer.name} has no contract {contract_ref!r}.")
    specs = []
    for spec in items:
        code, _sep, quantity = spec.partition(":")
        if not code:
            raise ValidationError(f"--item {spec!r}: give a price code, e.g. pro-seats:5.")
        specs.append(services.ItemSpec(_price(org, code), quantity or "1"))
    sub = services.create_subscription(
        org, customer, specs, start_date=start_date, as_of=as_of or _today(org), contract=contract,
        interval=interval, anchor_day=anchor_day, timing=timing, trial_end=trial_end, end_date=end_date,
        reference=reference)
    click.echo(json.dumps(_describe(sub), indent=2) if fmt == "json"
               else _("created subscription {subscription}", subscription=_line(sub)))


@subscriptions.command("list")
@org_option
@click.option("--customer", "customer_code", help="Only this customer's (code)")
@click.option("--status", type=click.Choice(["active", "canceled", "ended"]))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def list_(org_slug, customer_code, status, fmt):
    """List subscriptions with their items (id, reference, customer, status, next billing day)."""
    from duly.billing.models import Subscription

    org = current_org(org_slug)
    qs = Subscription.objects.filter(organization=org).select_related("customer", "contract").order_by("pk")
    if customer_code:
        qs = qs.filter(customer__code=customer_code)
    if status:
        qs = qs.filter(status=status)
    if fmt == "json":
        click.echo(json.dumps([_describe(s) for s in qs], indent=2))
    else:
        for sub in qs:
            click.echo(_line(sub))


def _proration_text(change) -> list[str]:
    p = change.proration
    if p is None:
        return ["no proration: the change falls in a period not invoiced yet (or billed in arrears); the next "
                "invoice bills each item for the days it applies."]
    from duly.billing.words import for_staff  # staff words in the active language (English by default)

    what = for_staff(p.what_words) if p.what_words is not None else p.what
    explanation = for_staff(p.words[1]) if p.words else p.explanation
    return [f"proration of {what}:",
            f"  credit  unused part of the period already invoiced ({p.invoice_number})  -{p.credit} {p.currency}",
            f"  charge  {p.rest.start.isoformat()} to {p.rest.last_day.isoformat()} at the new price  "
            f"{p.charge} {p.currency}",
            f"  net     {p.net} {p.currency}", f"  {explanation}", f"  {for_staff(p.summary_words())}"]


def _proration_json(change) -> dict | None:
    p = change.proration
    if p is None:
        return None
    return {"currency": p.currency, "credit": str(p.credit), "charge": str(p.charge), "net": str(p.net),
            "booked": p.booked, "invoice": p.invoice_number, "explanation": p.explanation,
            "period": {"start": p.rest.start.isoformat(), "end": p.rest.last_day.isoformat()}}


PREVIEW = click.option("--dry-run", "--preview", "dry_run", is_flag=True,
                       help="Show what is settled now (the proration); change nothing")
EXPECT = click.option("--expect-net", "expect_net",
                      help="Confirm a preview: refuse (proration_changed) unless the net is still this amount")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


@subscriptions.command("change")
@org_option
@click.argument("subscription")
@click.option("--item", "item_ref", required=True, help="The item: its id, or its price code")
@click.option("--on", "on", type=DATE, required=True, help="The change applies from this day")
@click.option("--quantity", help="The new quantity (seats)")
@click.option("--price", "price_code", help="The new price (plan) code")
@click.option("--dry-run", "--preview", "dry_run", is_flag=True, help="Show the proration; change nothing")
@click.option("--as-of", "as_of", type=DATE, help="The day of the credit note or charge [default: today]")
@EXPECT
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def change(org_slug, subscription, item_ref, on, quantity, price_code, dry_run, as_of, expect_net, fmt):
    """Change the seats (quantity) or the plan (price) of an item; a period invoiced in advance is prorated."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    item_id = _item_id(sub, item_ref, on)
    price = _price(org, price_code) if price_code else None
    preview = services.preview_change(org, sub, item_id, on=on, quantity=quantity, price=price)
    if not dry_run:
        services.change_item(org, sub, item_id, on=on, as_of=as_of or _today(org), quantity=quantity, price=price,
                             expected_net=expect_net)
    if fmt == "json":
        click.echo(json.dumps({"subscription": sub.pk, "item": item_id, "dry_run": dry_run,
                               "proration": _proration_json(preview)}, indent=2))
        return
    click.echo((_("dry run, nothing changed: ") if dry_run else _("changed: "))
               + _("{subscription} item {item} from {date}", subscription=sub, item=item_id, date=on.isoformat()))
    for line in _proration_text(preview):
        click.echo(line)


def _settlement_text(settlement) -> list[str]:
    cur = settlement.currency
    if not settlement.lines:
        return [f"nothing settled now ({settlement.what}): the period is not invoiced yet (or billed in arrears), or "
                "nothing of it is left to credit."]
    out = [f"proration of {settlement.what}:"]
    for line in settlement.lines:
        sign = "-" if line.kind == "credit" else ""
        out.append(f"  {line.kind:7} {line.description}  {sign}{line.amount} {cur}")
    if settlement.absorbed:
        out.append(f"  of the credit, taken off charges not invoiced yet  {settlement.absorbed} {cur}")
    out += [f"  net     {settlement.net} {cur}", *(f"  {line.explanation}" for line in settlement.lines),
            f"  {settlement.summary()}"]
    return out


def _settlement_json(settlement) -> dict:
    return {"currency": settlement.currency, "what": settlement.what, "credit": str(settlement.credit),
            "charge": str(settlement.charge), "net": str(settlement.net), "booked": settlement.booked,
            "credit_note": str(settlement.credit_note), "absorbed_by_pending_charges": str(settlement.absorbed),
            "invoice": settlement.invoice_number or None,
            "lines": [{"kind": line.kind, "description": line.description, "amount": str(line.amount),
                       "period": {"start": line.period.start.isoformat(), "end": line.period.last_day.isoformat()},
                       "explanation": line.explanation} for line in settlement.lines]}


def _settled(fmt, dry_run, done: str, settlement, **extra) -> None:
    if fmt == "json":
        click.echo(json.dumps({**extra, "dry_run": dry_run, "proration": _settlement_json(settlement)}, indent=2))
        return
    click.echo((_("dry run, nothing changed: ") if dry_run else "") + done)
    for line in _settlement_text(settlement):
        click.echo(line)




@subscriptions.command("add-item")
@org_option
@click.argument("subscription")
@click.option("--price", "price_code", required=True)
@click.option("--quantity", default="1", show_default=True)
@click.option("--on", "on", type=DATE, required=True)
@click.option("--as-of", "as_of", type=DATE)
@PREVIEW
@EXPECT
@FORMAT
@handle_errors
def add_item(org_slug, subscription, price_code, quantity, on, as_of, dry_run, expect_net, fmt):
    """Add a price to a subscription from --on (its prorated rest waits for the next invoice)."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    price = _price(org, price_code)
    settlement = services.preview_add_item(org, sub, price, quantity, on=on).settlement
    item_id = None
    if not dry_run:
        item_id = services.add_item(org, sub, price, quantity, on=on, as_of=as_of or _today(org),
                                    expected_net=expect_net).pk
    what = dict(price=price_code, quantity=quantity, date=on.isoformat())
    done = (_("added item {item}: {price} × {quantity} from {date}", item=item_id, **what) if item_id
            else _("add {price} × {quantity} from {date}", **what))
    _settled(fmt, dry_run, done, settlement, subscription=sub.pk, item=item_id)


@subscriptions.command("remove-item")
@org_option
@click.argument("subscription")
@click.option("--item", "item_ref", required=True, help="The item: its id, or its price code")
@click.option("--on", "on", type=DATE, required=True)
@click.option("--as-of", "as_of", type=DATE)
@PREVIEW
@EXPECT
@FORMAT
@handle_errors
def remove_item(org_slug, subscription, item_ref, on, as_of, dry_run, expect_net, fmt):
    """End an item on --on; the unused part of a period invoiced in advance is credited."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    item_id = _item_id(sub, item_ref, on)
    settlement = services.preview_remove_item(org, sub, item_id, on=on).settlement
    if not dry_run:
        services.remove_item(org, sub, item_id, on=on, as_of=as_of or _today(org), expected_net=expect_net)
    done = (_("remove item {item} from {date}", item=item_id, date=on.isoformat()) if dry_run
            else _("removed item {item} from {date}", item=item_id, date=on.isoformat()))
    _settled(fmt, dry_run, done, settlement, subscription=sub.pk, item=item_id)


@subscriptions.command("pause")
@org_option
@click.argument("subscription")
@click.option("--from", "starts_on", type=DATE, required=True, help="First paused day")
@click.option("--until", "resumes_on", type=DATE, help="Resume on this day [default: until resumed]")
@click.option("--reason", default="")
@click.option("--as-of", "as_of", type=DATE)
@handle_errors
def pause(org_slug, subscription, starts_on, resumes_on, reason, as_of):
    """Pause recurring charges (paused days of a period invoiced in advance are credited)."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    services.pause_subscription(org, sub, starts_on=starts_on, resumes_on=resumes_on, reason=reason,
                                as_of=as_of or _today(org))
    click.echo(_("paused {subscription} from {date}", subscription=sub, date=starts_on.isoformat())
               + (_(" until {date}", date=resumes_on.isoformat()) if resumes_on else ""))


@subscriptions.command("resume")
@org_option
@click.argument("subscription")
@click.option("--on", "on", type=DATE, required=True)
@click.option("--as-of", "as_of", type=DATE)
@handle_errors
def resume(org_slug, subscription, on, as_of):
    """End the pause on --on (credited days of an invoiced period are charged back)."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    services.resume_subscription(org, sub, on=on, as_of=as_of or _today(org))
    click.echo(_("resumed {subscription} on {date}", subscription=sub, date=on.isoformat()))


@subscriptions.command("cancel")
@org_option
@click.argument("subscription")
@click.option("--on", "on", type=DATE, required=True)
@click.option("--now", "immediately", is_flag=True,
              help="Immediately on --on, with a credit note for the unused days [default: at the end of the period]")
@click.option("--reason", default="")
@click.option("--as-of", "as_of", type=DATE)
@PREVIEW
@EXPECT
@FORMAT
@handle_errors
def cancel(org_slug, subscription, on, immediately, reason, as_of, dry_run, expect_net, fmt):
    """Cancel at the end of the period containing --on (or immediately with --now)."""
    from duly.billing import services

    org, sub = _target(org_slug, subscription)
    prepared = services.preview_cancel(org, sub, on=on, at_period_end=not immediately)
    ends_on = prepared.ends_on
    if not dry_run:
        sub = services.cancel_subscription(org, sub, on=on, as_of=as_of or _today(org), at_period_end=not immediately,
                                           reason=reason, expected_net=expect_net)
        ends_on = sub.end_date
    what = dict(subscription=sub, date=ends_on.isoformat() if ends_on else "-")
    done = (_("cancel {subscription}: service ends on {date} (exclusive)", **what) if dry_run
            else _("cancelled {subscription}: service ends on {date} (exclusive)", **what))
    _settled(fmt, dry_run, done, prepared.settlement, subscription=sub.pk,
             ends_on=ends_on.isoformat() if ends_on else None)


@click.group()
def retainers():
    """Retainers: a prepaid balance drawn down by recurring and usage charges."""


def _contract(org, reference: str):
    from duly.customers.models import Contract
    from duly.domain.errors import NotFound, ValidationError

    found = list(Contract.objects.filter(organization=org, reference=reference).select_related("customer")[:2])
    if not found:
        raise NotFound(f"No contract with the reference {reference!r}.")
    if len(found) > 1:
        raise ValidationError(f"Several customers have a contract {reference!r}: rename one.")
    return found[0]


@retainers.command("start")
@org_option
@click.argument("contract")
@click.option("--top-up", "topup", required=True, help="Each top-up invoice, in major units (500.00)")
@click.option("--threshold", required=True, help="Top up when the balance falls below this (100.00)")
@click.option("--initial", help="The first funding [default: the top-up]")
@click.option("--as-of", "as_of", type=DATE)
@handle_errors
def start(org_slug, contract, topup, threshold, initial, as_of):
    """Put a contract on a retainer and issue its first retainer invoice."""
    from duly.billing import services

    org = current_org(org_slug)
    ctr = _contract(org, contract)
    services.start_retainer(org, ctr, topup_amount=topup, threshold=threshold, initial_amount=initial,
                            as_of=as_of or _today(org))
    click.echo(_("retainer started on {contract}: top-up {topup} {currency} below {threshold} {currency}",
                 contract=ctr.reference, topup=topup, threshold=threshold, currency=ctr.currency))


@retainers.command("top-up")
@org_option
@click.argument("contract")
@click.option("--amount", help="The amount, in major units [default: the agreed top-up]")
@click.option("--as-of", "as_of", type=DATE)
@handle_errors
def top_up(org_slug, contract, amount, as_of):
    """Invoice a top-up of a contract's retainer now."""
    from duly.billing import services
    from duly.domain.money import from_minor

    org = current_org(org_slug)
    ctr = _contract(org, contract)
    invoice = services.top_up_retainer(org, ctr, amount=amount, as_of=as_of or _today(org))
    click.echo(_("top-up invoice {number}: {amount} {currency}", number=invoice.number,
                 amount=from_minor(invoice.total_minor, invoice.currency), currency=invoice.currency))


COMMANDS = [subscriptions, retainers]
