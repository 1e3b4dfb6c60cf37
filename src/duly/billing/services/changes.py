"""Mid-period changes of a subscription: items changed, added or removed, cancellations, pauses and resumes,
settled at once with the recurring charges recomputed exactly as the billing run computes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from duly.customers.models import Organization
from duly.domain import usage as domain_usage
from duly.domain.billing_plan import SubscriptionPlan, plain_quantity
from duly.domain.errors import Conflict, InvalidSchedule, InvalidState, NotFound, ValidationError
from duly.domain.bounds import dates_in_range
from duly.domain.compose import paused_days, recurring_charge
from duly.domain.compose.inputs import ItemInput
from duly.domain.money import from_minor, to_minor
from duly.domain.payment_terms import format_date
from duly.domain.schedules import Cycle, Period, change_proration, prorate, split_part
from duly.domain.text import Number, Price as PriceText, Text, join_text, text
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

from ..models import BillingRecord, PendingCharge, Price, Subscription, SubscriptionItem, SubscriptionPause
from ..runner.load import Catalog, price_info
from ..signals import subscription_changed
from ..words import words
from .common import _label, _locked, _own, _plan, _refresh_cursor
from .price_changes import _notify_new_items
from .subscriptions import _check_price_currency, _quantity


def _cycle_containing(plan: SubscriptionPlan, day: date) -> Cycle | None:
    for cycle in plan.schedule().cycles(until=day + timedelta(days=1)):
        if cycle.period.start <= day < cycle.period.end:
            return cycle
    return None


def _billed_cycle(sub: Subscription, plan: SubscriptionPlan, day: date) -> tuple[Cycle | None, BillingRecord | None]:
    """The cycle containing ``day`` and its billing record, if that cycle was already invoiced."""
    if sub.last_billed_period_start is not None and day < sub.last_billed_period_start:
        raise InvalidState(
            f"{day.isoformat()} is in a period of {sub} that was already invoiced; changes start on "
            f"{sub.last_billed_period_start.isoformat()} at the earliest (or issue a credit note).")
    cycle = _cycle_containing(plan, day)
    if cycle is None:
        return None, None
    record = BillingRecord.objects.filter(subscription=sub, period_start=cycle.period.start).select_related(
        "invoice").first()
    if record is not None and sub.timing == Subscription.ARREARS:
        raise InvalidState(f"The period of {sub} containing {day.isoformat()} was already invoiced in arrears.")
    return cycle, record


def _item_charge(sub: Subscription, item: SubscriptionItem, cycle: Cycle, plan: SubscriptionPlan, catalog: Catalog):
    """The recurring charge billed for an item over a cycle: the billing run's own rule
    (:func:`duly.domain.compose.recurring_charge`, on the price in force, a change's notice included).

    ``catalog`` is read once per service call (:class:`~duly.billing.runner.load.Catalog`), not once per item.
    """
    price = price_info(item.price)
    model, _ = catalog.model_at(price, sub.pk, cycle.period.start, sub.customer_id)
    part = ItemInput(item.pk, price, item.quantity, item.starts_on, item.ends_on).overlap(cycle.period)
    if part is None:
        return model, None, None
    return model, part, recurring_charge(model, item.quantity, sub.currency, cycle, part,
                                         paused_days(plan.pauses, part))


def _credit(org: Organization, record: BillingRecord | None, lines: list[invoicing.LineData], reason: str,
            as_of: date) -> Invoice | None:
    lines = [line for line in lines if line.unit_price > 0]
    if not lines or record is None or record.invoice is None or record.invoice.status == Invoice.VOID:
        return None
    lines = _net_against_pending(record, lines)
    if not lines:
        return None
    return invoicing.create_credit_note(org, record.invoice_id, reason=reason, lines=lines, issue_date=as_of)


def _net_against_pending(record: BillingRecord, lines: list[invoicing.LineData]) -> list[invoicing.LineData]:
    """Credit lines that the invoice ``record`` billed can no longer absorb go against the charges not yet invoiced.

    Days of an invoiced cycle can be credited (a pause), charged back (a resume: a pending charge for the
    next invoice) and credited again (a second pause, a cancellation). What the invoice's credit notes
    credit never exceeds its total (``credit_exceeds_invoice_total``), so the part of the credit beyond
    what is left to credit on the invoice reduces the subscription's pending charges of that cycle instead
    (newest first): those charges billed the very days credited again. Whatever they cannot absorb is
    left in the credit note, which the invoice's own check then refuses as a real over-credit.
    """
    currency = record.invoice.currency
    excess_net = _excess_net(record, lines)
    if excess_net <= 0:
        return lines
    pending = list(_absorbing(record).select_for_update())
    absorbed = 0
    for charge in pending:
        take = min(charge.amount_minor, excess_net - absorbed)
        if take <= 0:
            break
        charge.amount_minor -= take
        reduced = text("Reduced by {amount}: those days were credited again.",
                       amount=PriceText(from_minor(take, currency), currency))
        charge.explanation = (charge.explanation + " " + words(reduced, charge.customer.locale)).strip()[:2000]
        if charge.amount_minor:
            charge.save(update_fields=["amount_minor", "explanation"])
        else:
            charge.delete()
        absorbed += take
    if not absorbed:
        return lines
    # Take the absorbed amount off the credit lines, last line first.
    out = list(lines)
    left = from_minor(absorbed, currency)
    for i in range(len(out) - 1, -1, -1):
        cut = min(out[i].unit_price, left)
        out[i] = dataclass_replace(out[i], unit_price=out[i].unit_price - cut)
        left -= cut
        if not left:
            break
    return [line for line in out if line.unit_price > 0]


def _excess_net(record: BillingRecord, lines: list[invoicing.LineData]) -> int:
    """The net part (minor units) of credit ``lines`` that the invoice of ``record`` can no longer absorb (0: all
    of it fits in what is left to credit on the invoice)."""
    invoice = record.invoice
    currency = invoice.currency
    totals = invoicing.check_lines(lines, currency)
    room = invoice.total_minor - invoicing.credited_minor(invoice)
    excess = to_minor(totals.tax_inclusive, currency) - room
    if excess <= 0:
        return 0
    # The excess in net terms (the lines' VAT scales with them), rounded up so the gross fits the room.
    gross_minor = max(to_minor(totals.tax_inclusive, currency), 1)
    return -(-excess * to_minor(totals.tax_exclusive, currency) // gross_minor)  # integer ceiling


def _absorbing(record: BillingRecord):
    """The pending charges of ``record``'s subscription that a credit beyond the invoice reduces (newest first)."""
    return PendingCharge.objects.filter(subscription_id=record.subscription_id, invoice__isnull=True,
                                        amount_minor__gt=0, period_start__lt=record.period_end).order_by("-id")


def _absorbed(record: BillingRecord | None, lines: list[invoicing.LineData]) -> Decimal:
    """What :func:`_net_against_pending` would take off the pending charges rather than credit (read only)."""
    lines = [line for line in lines if line.unit_price > 0]
    if not lines or record is None or record.invoice is None or record.invoice.status == Invoice.VOID:
        return Decimal(0)
    excess_net = _excess_net(record, lines)
    if excess_net <= 0:
        return Decimal(0)
    available = sum(_absorbing(record).values_list("amount_minor", flat=True))
    return from_minor(min(excess_net, available), record.invoice.currency)


def _pending(org: Organization, sub: Subscription, price: Price, amount: Decimal, description: str | Text,
             explanation: str | Text, period: Period, as_of: date) -> PendingCharge | None:
    """A charge for the next invoice, its words in the customer's language (frozen as they will be invoiced)."""
    if amount <= 0:
        return None
    product = price.product
    locale = sub.customer.locale
    description = words(description, locale) if isinstance(description, Text) else description
    explanation = words(explanation, locale) if isinstance(explanation, Text) else explanation
    return PendingCharge.objects.create(
        organization=org, customer=sub.customer, subscription=sub, currency=sub.currency,
        description=description[:500],
        amount_minor=to_minor(amount, sub.currency), unit=product.unit, tax_category=product.tax_category,
        tax_rate=product.tax_rate, tax_exemption_reason=product.tax_exemption_reason, period_start=period.start,
        period_end=period.last_day, explanation=explanation, created_on=as_of,
    )


def _unused_line(item: SubscriptionItem, full: Decimal, currency: str, cycle: Cycle, part: Period,
                 plan: SubscriptionPlan, on: date, description: Text, locale: str):
    """The credit line for the unused rest ``[on, part.end)`` of an item's invoiced part: priced from the
    undiscounted price of the whole cycle and its unpaused days (:func:`~duly.domain.schedules.split_part`)."""
    split = split_part(full, currency, part, on, whole=cycle.whole, pauses=plan.pauses)
    rest = Period(on, part.end)
    paused = rest.days - split.unused_days
    days: Text = text("{n} unused day", plural="{n} unused days", n=split.unused_days)
    if paused:
        days = join_text([days, text("({n} paused day not counted)", plural="({n} paused days not counted)",
                                     n=paused)])
    explanation = text("{days} of {whole}: {full} × {billed_days}/{whole} invoiced ({billed}) − {full} × "
                       "{used_days}/{whole} used ({used}) = {unused}.", days=days, whole=split.whole_days,
                       full=PriceText(full, currency), billed_days=split.billed_days,
                       billed=PriceText(split.billed, currency), used_days=split.used_days,
                       used=PriceText(split.used, currency), unused=PriceText(split.unused, currency))
    return _credit_line(item.price, split.unused, rest, description, explanation, locale)


def _credit_line(price: Price, amount: Decimal, period: Period, description: str | Text, explanation: str | Text,
                 locale: str):
    """A credit-note line, its words in the customer's language."""
    product = price.product
    description = words(description, locale) if isinstance(description, Text) else description
    explanation = words(explanation, locale) if isinstance(explanation, Text) else explanation
    return invoicing.LineData(
        description=description[:500], quantity=Decimal(1), unit_price=amount, unit=product.unit,
        tax_category=product.tax_category, tax_rate=product.tax_rate,
        tax_exemption_reason=product.tax_exemption_reason, period_start=period.start, period_end=period.last_day,
        explanation=explanation,
    )


@dataclass(frozen=True)
class ChangeProration:
    """What a mid-period change of an item settles at once: computed, not written.

    ``credit`` is the unused part of the period already invoiced at the old price, ``charge`` the rest of that
    period at the new price; ``net = charge − credit`` is what the change books: a pending charge on the next
    invoice when positive, a credit note against ``invoice_number`` when negative, nothing when zero.
    """

    currency: str
    what: str
    description: str
    #: The rest of the invoiced period, from the change on.
    rest: Period
    invoice_number: str
    credit: Decimal
    charge: Decimal
    net: Decimal
    explanation: str
    #: The description and explanation as structured text: booked in the customer's language.
    words: tuple[Text, Text] | None = field(default=None, compare=False)

    @property
    def booked(self) -> str:
        """``charge`` (a pending charge for the next invoice), ``credit`` (a credit note) or ``none``."""
        return "charge" if self.net > 0 else "credit" if self.net < 0 else "none"

    def summary(self) -> str:
        if self.net > 0:
            return f"A charge of {self.net} {self.currency} waits for the next invoice."
        if self.net < 0:
            return f"A credit note of {-self.net} {self.currency} is issued against invoice {self.invoice_number}."
        return "Nothing to settle: the charge and the credit cancel out."


@dataclass(frozen=True)
class PreparedChange:
    """A validated item change (:func:`prepare_change`): the item, its new price and quantity, and its proration
    (None when the change touches no period invoiced in advance: the billing run bills each item's days)."""

    subscription: Subscription
    item: SubscriptionItem
    price: Price
    quantity: Decimal
    on: date
    proration: ChangeProration | None
    #: The billing record of the invoiced period the change falls in (None: not invoiced yet).
    record: BillingRecord | None = None


@dataclass(frozen=True)
class SettlementLine:
    """One amount a change settles at once: ``kind`` ``credit`` (a credit-note line against the invoiced period)
    or ``charge`` (a pending charge for the next invoice), net of tax."""

    kind: str
    description: str
    amount: Decimal
    period: Period
    explanation: str


@dataclass(frozen=True)
class Settlement:
    """What adding or removing an item, or cancelling at once, settles now (:func:`prepare_add_item`,
    :func:`prepare_remove_item`, :func:`prepare_cancel`): computed, not written; the writers book exactly this.

    ``credit`` is the unused part of the period already invoiced (``invoice_number``), ``charge`` the rest of that
    period for an added item; ``net = charge − credit``. ``absorbed`` is the part of the credit that reduces the
    subscription's charges not yet invoiced instead, when the invoice has less left to credit (days credited
    before, a pause): the credit note then credits ``credit − absorbed``.
    """

    currency: str
    what: str
    invoice_number: str
    lines: tuple[SettlementLine, ...] = ()
    absorbed: Decimal = Decimal(0)
    #: The subscription's new end (exclusive) for a cancellation, else None.
    ends_on: date | None = None
    #: What is booked, as built for the customer (their language): credit-note lines and pending charges.
    booking: tuple = field(default=(), compare=False, repr=False)

    @property
    def credit(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind == "credit"), Decimal(0))

    @property
    def charge(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind == "charge"), Decimal(0))

    @property
    def net(self) -> Decimal:
        return self.charge - self.credit

    @property
    def credit_note(self) -> Decimal:
        """The credit note's net amount (the credit less what the pending charges absorb)."""
        return self.credit - self.absorbed

    @property
    def booked(self) -> str:
        """``charge`` (a pending charge for the next invoice), ``credit`` (a credit note) or ``none``."""
        return "charge" if self.net > 0 else "credit" if self.net < 0 else "none"

    @property
    def explanation(self) -> str:
        return " ".join(line.explanation for line in self.lines)

    def summary(self) -> str:
        if self.net > 0:
            return f"A charge of {self.net} {self.currency} waits for the next invoice."
        if self.net < 0:
            told = f"A credit note of {self.credit_note} {self.currency} is issued against invoice {self.invoice_number}"
            if self.absorbed:
                told += (f", and {self.absorbed} {self.currency} is taken off the charges not invoiced yet (those days "
                         "were credited before)")
            return told + "."
        return "Nothing to settle now: the period is not invoiced yet (or billed in arrears), or nothing is left of it."


def _check_expected(net: Decimal | None, expected_net: Decimal | int | str | None) -> None:
    """Refuse a confirmation whose previewed net is no longer what the change books (``proration_changed``)."""
    if expected_net is None:
        return
    try:
        shown = Decimal(str(expected_net).strip())
    except ArithmeticError:
        raise ValidationError(f"The previewed net {expected_net!r} is not an amount.") from None
    if not shown.is_finite():
        raise ValidationError(f"The previewed net {expected_net!r} is not an amount.")
    if (net or Decimal(0)) != shown:
        raise Conflict(f"The proration changed since it was shown ({shown} then, {net or Decimal(0)} now: another "
                       "change was made): preview it again before confirming.", code="proration_changed",
                       previewed=str(shown), current=str(net or Decimal(0)))


def prepare_change(org: Organization, sub: Subscription, item_id: int, *, on: date,
                   quantity: Decimal | int | str | None = None, price: Price | None = None) -> PreparedChange:
    """Validate a change of an item and compute its proration with the billing run's own rules; writes nothing.

    :func:`change_item` books exactly what this returns; :func:`duly.billing.services.previews.preview_change`
    shows it before it is confirmed.
    """
    item = SubscriptionItem.objects.select_related("price__product").filter(subscription=sub, pk=item_id).first()
    if item is None:
        raise NotFound(f"Item {item_id} is not an item of {sub}.")
    if quantity is None and price is None:
        raise ValidationError("Give a new quantity, a new price, or both.")
    new_price = price or item.price
    _own(org, new_price, "Price")
    _check_price_currency(new_price, sub.customer, sub.contract)
    if (new_price.quantity_source == Price.SOURCE_QUANTITY) != (item.price.quantity_source == Price.SOURCE_QUANTITY):
        raise ValidationError("A recurring price can only be changed for another recurring price (and a metered "
                              "one for another metered one); add and remove items instead.")
    new_quantity = _quantity(item.quantity if quantity is None else quantity, new_price)
    _check_item_date(sub, item, on)
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    proration = None
    if record is not None and record.invoice is not None and item.price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        catalog = Catalog(org)
        _, part, old = _item_charge(sub, item, cycle, plan, catalog)
        if part is not None and part.start <= on < part.end:
            new_model, _ = catalog.model_at(price_info(new_price), sub.pk, cycle.period.start, sub.customer_id)
            new = recurring_charge(new_model, new_quantity, sub.currency, cycle, cycle.whole, 0).full
            # From the undiscounted prices of the whole cycle and the days actually paused: a pause
            # already taken off the invoice is never taken off the rest a second time.
            split = change_proration(old.full.amount, new.amount, sub.currency, part, on, whole=cycle.whole,
                                     pauses=plan.pauses)
            rest = Period(on, part.end)
            what = text("{old} × {old_quantity} → {new} × {new_quantity} from {date}", old=_label(item.price),
                        old_quantity=Number(plain_quantity(item.quantity)), new=_label(new_price),
                        new_quantity=Number(plain_quantity(new_quantity)), date=on)
            money = {"charge": PriceText(split.charge_for_remaining_new, sub.currency),
                     "credit": PriceText(split.credit_for_unused_old, sub.currency),
                     "net": PriceText(split.net, sub.currency)}
            explanation = text("Remaining {first}–{last} at the new price {charge} − unused part of the period "
                               "already invoiced ({number}) {credit} = {net}.", first=on, last=rest.last_day,
                               number=record.invoice.number, **money)
            description = text("Change: {what}, {period}", what=what, period=domain_usage.period_span(rest))
            proration = ChangeProration(
                currency=sub.currency, what=str(what), description=str(description),
                rest=rest, invoice_number=record.invoice.number, credit=split.credit_for_unused_old,
                charge=split.charge_for_remaining_new, net=split.net, explanation=str(explanation),
                words=(description, explanation))
    return PreparedChange(sub, item, new_price, new_quantity, on, proration, record)


@transaction.atomic
@dates_in_range
def change_item(org: Organization, subscription: Subscription, item_id: int, *, on: date, as_of: date,
                quantity: Decimal | int | str | None = None, price: Price | None = None,
                expected_net: Decimal | int | str | None = None) -> SubscriptionItem:
    """Change the quantity and/or the price (plan) of an item from ``on``; prorated if that period was invoiced.

    The current item ends on ``on`` and a new one starts then, so every period is billed exactly
    for the days each applied. The proration booked is :func:`prepare_change`'s. ``expected_net``: the net a
    preview showed (0 for none); a different one now is refused (``proration_changed``). Returns the new item.
    """
    sub = _locked(org, subscription)
    change = prepare_change(org, sub, item_id, on=on, quantity=quantity, price=price)
    _check_expected(change.proration.net if change.proration is not None else None, expected_net)
    item, new_price, new_quantity = change.item, change.price, change.quantity
    new_item = SubscriptionItem(organization=org, subscription=sub, price=new_price, quantity=new_quantity,
                                starts_on=on, ends_on=item.ends_on)
    split = change.proration
    if split is not None:
        if split.net > 0:
            _pending(org, sub, new_price, split.net, *(split.words or (split.description, split.explanation)),
                     split.rest, as_of)
        elif split.net < 0:
            _credit(org, change.record, [_credit_line(item.price, -split.net, split.rest,
                                                      *(split.words or (split.description, split.explanation)),
                                                      sub.customer.locale)],
                    f"Plan change of {sub}: {split.what}.",
                    as_of)
    item.ends_on = on
    item.save(update_fields=["ends_on"])
    if new_quantity > 0 or new_price.quantity_source != Price.SOURCE_QUANTITY:
        new_item.save()
        _notify_new_items(org, sub, [new_item], as_of)
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="updated", key=f"item:{item.pk}:end:{on}")
    return new_item


def _check_item_date(sub: Subscription, item: SubscriptionItem | None, on: date) -> None:
    if on < sub.start_date:
        raise InvalidSchedule(f"{on.isoformat()} is before {sub} starts ({sub.start_date.isoformat()}).")
    if sub.end_date is not None and on >= sub.end_date:
        raise InvalidSchedule(f"{sub} ends on {sub.end_date.isoformat()}; nothing can change after that.")
    if item is not None:
        if on < item.starts_on:
            raise InvalidSchedule(f"The item starts on {item.starts_on.isoformat()}; it cannot change before.")
        if item.ends_on is not None and on >= item.ends_on:
            raise InvalidSchedule(f"The item already ended on {item.ends_on.isoformat()}.")


def _book(org: Organization, sub: Subscription, settlement: Settlement, record: BillingRecord | None, reason: str,
          as_of: date) -> None:
    """Book what ``settlement`` says: its pending charges, then its credit-note lines against ``record``."""
    credit_lines = []
    for kind, price, built in settlement.booking:
        if kind == "charge":
            _pending(org, sub, price, *built, as_of)
        else:
            credit_lines.append(built)
    if credit_lines:
        _credit(org, record, credit_lines, reason, as_of)


def _settlement(sub: Subscription, what: str, record: BillingRecord | None, booking: list,
                ends_on: date | None = None) -> Settlement:
    """The settlement of ``booking``: ``("charge", price, (amount, description, explanation, period))`` and
    ``("credit", price, LineData)`` entries, with what its credit note cannot hold absorbed by pending charges.
    Its lines' words are the customer's language, as booked."""
    lines = []
    credit_lines = []
    for kind, _price, built in booking:
        if kind == "charge":
            amount, description, explanation, period = built
            locale = sub.customer.locale  # the words as they will be invoiced (the credit lines' are already)
            lines.append(SettlementLine("charge", _said(description, locale), amount, period, _said(explanation, locale)))
        else:
            credit_lines.append(built)
            lines.append(SettlementLine("credit", built.description, built.unit_price,
                                        Period(built.period_start, built.period_end + timedelta(days=1)),
                                        built.explanation))
    return Settlement(currency=sub.currency, what=what,
                      invoice_number=record.invoice.number if record is not None and record.invoice else "",
                      lines=tuple(lines), absorbed=_absorbed(record, credit_lines), ends_on=ends_on,
                      booking=tuple(booking))


def _said(value: str | Text, locale: str) -> str:
    return words(value, locale) if isinstance(value, Text) else str(value)


@dataclass(frozen=True)
class PreparedItem:
    """A validated addition or removal of an item, and its settlement (:func:`prepare_add_item`,
    :func:`prepare_remove_item`)."""

    subscription: Subscription
    price: Price
    quantity: Decimal
    on: date
    settlement: Settlement
    record: BillingRecord | None = None
    item: SubscriptionItem | None = None


def prepare_add_item(org: Organization, sub: Subscription, price: Price, quantity: Decimal | int | str = 1, *,
                     on: date) -> PreparedItem:
    """Validate adding ``price`` from ``on`` and compute what it settles now (in a period invoiced in advance,
    its prorated rest as a charge for the next invoice); writes nothing. :func:`add_item` books exactly this."""
    _own(org, price, "Price")
    _check_price_currency(price, sub.customer, sub.contract)
    qty = _quantity(quantity, price)
    _check_item_date(sub, None, on)
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    price = Price.objects.select_related("product").get(pk=price.pk)
    booking: list = []
    if record is not None and record.invoice is not None and price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        item = SubscriptionItem(organization=org, subscription=sub, price=price, quantity=qty, starts_on=on)
        _, part, charge = _item_charge(sub, item, cycle, plan, Catalog(org))
        if part is not None and charge is not None and charge.amount > 0:
            description = text("Added: {label} × {quantity}, {period}", label=_label(price),
                               quantity=Number(plain_quantity(qty)), period=domain_usage.period_span(part))
            booking.append(("charge", price, (charge.amount, description, charge.text, part)))
    what = f"{_label(price)} × {plain_quantity(qty)} from {on.isoformat()}"
    return PreparedItem(sub, price, qty, on, _settlement(sub, what, record, booking), record)


@transaction.atomic
@dates_in_range
def add_item(org: Organization, subscription: Subscription, price: Price, quantity: Decimal | int | str = 1, *,
             on: date, as_of: date, expected_net: Decimal | int | str | None = None) -> SubscriptionItem:
    """Add a price from ``on`` (an add-on).

    In a period invoiced in advance, its prorated rest waits for the next invoice (:func:`prepare_add_item`'s
    settlement; ``expected_net``: the net a preview showed, refused with ``proration_changed`` when it changed).
    """
    sub = _locked(org, subscription)
    prepared = prepare_add_item(org, sub, price, quantity, on=on)
    _check_expected(prepared.settlement.net, expected_net)
    item = SubscriptionItem.objects.create(organization=org, subscription=sub, price=prepared.price,
                                           quantity=prepared.quantity, starts_on=on)
    _book(org, sub, prepared.settlement, prepared.record, "", as_of)
    _notify_new_items(org, sub, [item], as_of)
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="updated", key=f"item:{item.pk}:added")
    return item


def prepare_remove_item(org: Organization, sub: Subscription, item_id: int, *, on: date) -> PreparedItem:
    """Validate ending an item on ``on`` and compute what it settles now (the unused part of a period invoiced in
    advance, credited); writes nothing. :func:`remove_item` books exactly this."""
    item = SubscriptionItem.objects.select_related("price__product").filter(subscription=sub, pk=item_id).first()
    if item is None:
        raise NotFound(f"Item {item_id} is not an item of {sub}.")
    _check_item_date(sub, item, on)
    if not SubscriptionItem.objects.filter(subscription=sub).exclude(pk=item.pk).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gt=on)).exists():
        raise InvalidState(f"{item.price.code} is the last item of {sub}: cancel the subscription instead.")
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, on)
    booking: list = []
    if record is not None and record.invoice is not None and item.price.quantity_source == Price.SOURCE_QUANTITY:
        assert cycle is not None
        _, part, fixed = _item_charge(sub, item, cycle, plan, Catalog(org))
        if part is not None and part.start <= on < part.end:
            rest = Period(on, part.end)
            line = _unused_line(item, fixed.full.amount, sub.currency, cycle, part, plan, on,
                                text("Removed: {label}, {period}", label=_label(item.price),
                                     period=domain_usage.period_span(rest)), sub.customer.locale)
            if line.unit_price > 0:
                booking.append(("credit", item.price, line))
    what = f"{_label(item.price)} × {plain_quantity(item.quantity)} removed from {on.isoformat()}"
    return PreparedItem(sub, item.price, item.quantity, on, _settlement(sub, what, record, booking), record, item)


@transaction.atomic
@dates_in_range
def remove_item(org: Organization, subscription: Subscription, item_id: int, *, on: date, as_of: date,
                expected_net: Decimal | int | str | None = None) -> None:
    """End an item on ``on``; the unused part of an invoiced advance period is credited
    (:func:`prepare_remove_item`'s settlement; ``expected_net`` as for :func:`add_item`)."""
    sub = _locked(org, subscription)
    prepared = prepare_remove_item(org, sub, item_id, on=on)
    _check_expected(prepared.settlement.net, expected_net)
    item = prepared.item
    _book(org, sub, prepared.settlement, prepared.record,
          f"{_label(item.price)} removed from {sub} on {format_date(on)}.", as_of)
    item.ends_on = on
    item.save(update_fields=["ends_on"])
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="updated", key=f"item:{item.pk}:end:{on}")


@dataclass(frozen=True)
class PreparedCancel:
    """A validated cancellation and its settlement (:func:`prepare_cancel`)."""

    subscription: Subscription
    on: date
    at_period_end: bool
    ends_on: date
    settlement: Settlement
    record: BillingRecord | None = None


def prepare_cancel(org: Organization, sub: Subscription, *, on: date, at_period_end: bool = True) -> PreparedCancel:
    """Validate a cancellation and compute its end and what it settles now (immediately: the unused days of a
    period invoiced in advance, credited); writes nothing. :func:`cancel_subscription` books exactly this."""
    if sub.status != Subscription.ACTIVE:
        raise InvalidState(f"{sub} is already {sub.get_status_display().lower()}.")
    plan = _plan(sub)
    new_end = plan.schedule().cancel(on, at_period_end=at_period_end).end
    booking: list = []
    record = None
    if not at_period_end:
        cycle, record = _billed_cycle(sub, plan, on)
        if record is not None and record.invoice is not None and cycle is not None:
            catalog = Catalog(org)
            for item in sub.items.select_related("price__product").order_by("pk"):
                if item.price.quantity_source != Price.SOURCE_QUANTITY:
                    continue
                _, part, fixed = _item_charge(sub, item, cycle, plan, catalog)
                if part is None or not part.start <= on < part.end:
                    continue
                rest = Period(on, part.end)
                line = _unused_line(item, fixed.full.amount, sub.currency, cycle, part, plan, on,
                                    text("Cancelled: {label}, {period}", label=_label(item.price),
                                         period=domain_usage.period_span(rest)), sub.customer.locale)
                if line.unit_price > 0:
                    booking.append(("credit", item.price, line))
    what = (f"cancel at the end of the period containing {on.isoformat()}" if at_period_end
            else f"cancel on {on.isoformat()}")
    return PreparedCancel(sub, on, at_period_end, new_end,
                          _settlement(sub, what, record, booking, ends_on=new_end), record)


@transaction.atomic
@dates_in_range
def cancel_subscription(org: Organization, subscription: Subscription, *, on: date, as_of: date,
                        at_period_end: bool = True, reason: str = "",
                        expected_net: Decimal | int | str | None = None) -> Subscription:
    """Cancel at the end of the period containing ``on``, or immediately on ``on`` with a prorated credit note.

    Immediately, the unused days of a period invoiced in advance are credited against that invoice
    (:func:`prepare_cancel`'s settlement; ``expected_net`` as for :func:`add_item`); usage up to ``on`` is
    still billed (on the next run).
    """
    sub = _locked(org, subscription)
    prepared = prepare_cancel(org, sub, on=on, at_period_end=at_period_end)
    _check_expected(prepared.settlement.net, expected_net)
    _book(org, sub, prepared.settlement, prepared.record,
          f"{sub} cancelled on {format_date(on)}" + (f": {reason}" if reason else "."), as_of)
    sub.end_date = prepared.ends_on
    sub.status = Subscription.CANCELED
    sub.cancel_at_period_end = at_period_end
    sub.canceled_on = as_of
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="canceled", key="canceled")
    return sub


@transaction.atomic
@dates_in_range
def pause_subscription(org: Organization, subscription: Subscription, *, starts_on: date, as_of: date,
                       resumes_on: date | None = None, reason: str = "") -> SubscriptionPause:
    """Pause recurring charges from ``starts_on`` (until ``resumes_on``, or until resumed).

    Paused days of a period already invoiced in advance are credited at once.
    """
    sub = _locked(org, subscription)
    if sub.status != Subscription.ACTIVE:
        raise InvalidState(f"{sub} is {sub.get_status_display().lower()}: it cannot be paused.")
    if resumes_on is not None and resumes_on <= starts_on:
        raise InvalidSchedule("A pause must resume after it starts.")
    _check_item_date(sub, None, starts_on)
    for other in sub.pauses.all():
        if starts_on < (other.resumes_on or date.max) and other.starts_on < (resumes_on or date.max):
            raise InvalidState(f"{sub} is already paused from {other.starts_on.isoformat()}"
                               + (f" to {other.resumes_on.isoformat()}." if other.resumes_on else " (open)."))
    plan = _plan(sub)
    cycle, record = _billed_cycle(sub, plan, starts_on)
    pause = SubscriptionPause.objects.create(organization=org, subscription=sub, starts_on=starts_on,
                                             resumes_on=resumes_on, reason=reason)
    if record is not None and record.invoice is not None and cycle is not None:
        paused = Period(starts_on, min(resumes_on or cycle.period.end, cycle.period.end))
        _settle_days(org, sub, cycle, record, plan, paused, as_of, credit=True,
                     why=text("paused from {date}", date=starts_on))
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="paused", key=f"pause:{pause.pk}")
    return pause


@transaction.atomic
@dates_in_range
def resume_subscription(org: Organization, subscription: Subscription, *, on: date, as_of: date) -> SubscriptionPause:
    """End the open pause on ``on``. Days of an invoiced period that were credited for the pause are charged back."""
    sub = _locked(org, subscription)
    pause = sub.pauses.filter(Q(resumes_on__isnull=True) | Q(resumes_on__gt=on), starts_on__lte=on).first()
    if pause is None:
        raise InvalidState(f"{sub} is not paused on {on.isoformat()}.")
    if on <= pause.starts_on:
        raise InvalidSchedule("A pause must resume after it starts.")
    plan = _plan(sub)
    old_resume = pause.resumes_on
    cycle, record = _billed_cycle(sub, plan, on)
    if record is not None and cycle is not None:
        # The period was billed without these days (credited by the pause, or billed while paused).
        back = Period(on, min(old_resume or cycle.period.end, cycle.period.end))
        _settle_days(org, sub, cycle, record, plan, back, as_of, credit=False,
                     why=text("resumed on {date}", date=on))
    pause.resumes_on = on
    pause.save(update_fields=["resumes_on"])
    _refresh_cursor(sub)
    subscription_changed.send(sender=Subscription, subscription=sub, change="resumed",
                              key=f"pause:{pause.pk}:resumed:{on}")
    return pause


def _settle_days(org: Organization, sub: Subscription, cycle: Cycle, record: BillingRecord,
                 plan: SubscriptionPlan, days: Period, as_of: date, *, credit: bool, why: Text) -> None:
    """Credit (or charge back) the recurring charges of ``days`` inside an invoiced cycle."""
    lines = []
    catalog = Catalog(org)
    for item in sub.items.select_related("price__product"):
        if item.price.quantity_source != Price.SOURCE_QUANTITY:
            continue
        model, part, charge = _item_charge(sub, item, cycle, plan, catalog)
        if part is None:
            continue
        start, end = max(part.start, days.start), min(part.end, days.end)
        if end <= start:
            continue
        span = Period(start, end)
        amount = prorate(charge.full.amount, sub.currency, span, cycle.whole)
        values = {"label": _label(item.price), "period": domain_usage.period_span(span)}
        description = text("Paused: {label}, {period}", **values) if credit else text("Resumed: {label}, {period}",
                                                                                      **values)
        explanation = text("{days} of {whole} day ({why}): {full} × {days}/{whole} = {amount}.",
                           plural="{days} of {whole} days ({why}): {full} × {days}/{whole} = {amount}.",
                           n=cycle.whole.days, days=span.days, whole=cycle.whole.days, why=why,
                           full=PriceText(charge.full.amount, sub.currency), amount=PriceText(amount, sub.currency))
        if credit:
            lines.append(_credit_line(item.price, amount, span, description, explanation, sub.customer.locale))
        else:
            _pending(org, sub, item.price, amount, description, explanation, span, as_of)
    if credit:
        _credit(org, record, lines, f"{sub} {why}.", as_of)
