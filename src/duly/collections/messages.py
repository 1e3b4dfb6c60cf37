"""What each collections message says: contexts built from gathered rows, rendered in the
customer's language with amounts and dates in their locale.

Nothing here writes; :mod:`duly.collections.services` queues what this renders. Who a message goes
to (:class:`Addressee`, :func:`pick_contact`, :func:`locale_for`) is :mod:`duly.messaging.addressees`,
re-exported here. Contexts follow
:data:`duly.messaging.rendering.CATEGORY_KEYS`, so every shipped or organization template renders
against them (templates are checked against the same keys when they are saved).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Sequence

from django.utils.translation import gettext_lazy, override

from duly.domain import dunning
from duly.domain.calendar import zone
from duly.domain.payment_instructions import CARD, SEPA_DEBIT, PaymentInstruction
from duly.invoicing.models import Invoice
from duly.messaging.addressees import Addressee, locale_for, pick_contact  # noqa: F401 (re-exported)
from duly.messaging.declines import decline_text, method_word
from duly.messaging.context import base_context, invoice_view, org_view, period_text, within_days
from duly.messaging.formatting import Formatter, late_fee_terms
from duly.messaging.invoice_mail import pay_view
from duly.messaging.labels import method_name
from duly.messaging.rendering import RenderedMessage, Renderer, category_of

from .interest import accrued_interest
from .snapshots import Account, ContactRow, InvoiceRow, RunContext, late_fee_terms_of

#: What the next consequential step will do (completes "Unless paid by <date>, ..."): English message ids,
#: translated in duly/collections/locale.
NEXT_STEP_WORDS = {
    "suspend": gettext_lazy("your service will be suspended"),
    "terminate": gettext_lazy("your contract will be terminated"),
    "handover": gettext_lazy("the debt will be handed over to a collection agency"),
    "assess_late_fee": gettext_lazy("late-payment charges will be added as agreed"),
}
CONSEQUENCES = dunning.CONSEQUENCES


def _next_step_words(language: str, action: str | None) -> str:
    """What ``action`` will do, in ``language`` ("" for none or an action with no words)."""
    if not action or action not in NEXT_STEP_WORDS:
        return ""
    with override(language):
        return str(NEXT_STEP_WORDS[action])


class MessageBuilder:
    """Renders collections messages for one run (one organization): caches formatters and the org view."""

    def __init__(self, rc: RunContext, renderer: Renderer) -> None:
        self.rc = rc
        self.renderer = renderer
        self.org = org_view(rc.org)
        self._terms_cache: dict[tuple[Any, str, str, date], str] = {}
        # Read ahead for many customers (preload): per local day, (invoice ids read, accrued interest found);
        # (invoice ids read, the invoices among them) for the automatic payment sentences.
        self._accrued: dict[date, tuple[set[int], dict]] = {}
        self._automatic_read: tuple[set[int], dict[int, Invoice]] = (set(), {})

    def preload(self, rows: Iterable[tuple[InvoiceRow, date]]) -> None:
        """Read at once what the messages about these invoices show, each ``(row, local day of its customer)``:
        the interest accrued (one read per local day, :func:`accrued_interest`) and the invoices that may be paid
        automatically (one query): the messages of a chunk of customers then read nothing more. Replaces what
        an earlier call read; :meth:`forget` drops it."""
        interest: dict[date, list[int]] = {}
        automatic: set[int] = set()
        for r, today in rows:
            if r.due_date < today:
                if r.contract_id and getattr(late_fee_terms_of(self.rc, r.contract_id), "charges_interest", False):
                    interest.setdefault(today, []).append(r.id)
            else:
                automatic.add(r.id)
        self._accrued = {day: (set(ids), accrued_interest(self.rc.org.pk, ids, day, explain=False))
                         for day, ids in interest.items()}
        found: dict[int, Invoice] = {}
        ids = sorted(automatic)
        for start in range(0, len(ids), 5000):  # well under SQLite's limit of bound variables
            found.update((inv.pk, inv) for inv in Invoice.objects.filter(organization_id=self.rc.org.pk,
                                                                         pk__in=ids[start:start + 5000]))
        self._automatic_read = (automatic, found)

    def forget(self) -> None:
        """Drop what :meth:`preload` read (the next reads query the database again)."""
        self._accrued = {}
        self._automatic_read = (set(), {})

    def _terms(self, contract_id: int | None, currency: str, fmt: Formatter, today: date) -> str:
        """The contract's late-fee terms in words on ``today`` (cached: many invoices share a contract's terms)."""
        policy = late_fee_terms_of(self.rc, contract_id)
        key = (policy, currency, fmt.locale, today)
        text = self._terms_cache.get(key)
        if text is None:
            text = self._terms_cache[key] = late_fee_terms(policy, currency, fmt, as_of=today)
        return text

    def category(self, template: str) -> str:
        return category_of(template, self.rc.template_categories)

    def _base(self, category: str, fmt: Formatter, customer, contact_name: str, contact_email: str,
              currency: str, today: date) -> dict[str, Any]:
        return base_context(category=category, fmt=fmt, org=self.org, org_id=self.rc.org.pk,
                            customer_id=customer.id, customer_name=customer.name, customer_code=customer.code,
                            contact_name=contact_name, contact_email=contact_email, currency=currency, today=today,
                            link_version=customer.pay_link_version)

    def _invoices(self, fmt: Formatter, customer, rows: Sequence[InvoiceRow], today: date,
                  declines: dict[int, tuple[str, str]] | None = None) -> list[dict]:
        interest = self._interest(rows, today)
        declines = declines or {}
        return [
            invoice_view(fmt, org_id=self.rc.org.pk, customer_id=customer.id, link_version=customer.pay_link_version,
                         invoice_id=r.id, number=r.number,
                         currency=r.currency, issue_date=r.issue_date, due_date=r.due_date,
                         service_date=r.service_date, total_minor=r.payable_minor, balance_minor=r.balance_minor,
                         today=today, period=period_text(fmt, r.service_date, r.period_end),
                         interest=fmt.money(interest[r.id].amount, r.currency) if r.id in interest else "",
                         payment_failure=decline_text(fmt.language, *declines[r.id]) if r.id in declines else "")
            for r in sorted(rows, key=lambda r: (r.due_date, r.id))
        ]

    def _automatic(self, fmt: Formatter, rows: Sequence[InvoiceRow], today: date,
                   declines: dict[int, tuple[str, str]]) -> dict[int, str]:
        """The invoices among ``rows`` that will be charged or debited without the customer doing anything: the
        way their documents stated it (the instruction frozen at issue, ``document_snapshot["payment"]``: card
        autopay or a SEPA direct debit) when its date is today or later and no charge of it failed for good; each
        with that sentence in the customer's language ("120,00 € seront débités sur votre carte Visa •••• 4242 le
        15 juillet 2026."). One query, and only for reminders carrying invoices not yet past due."""
        ids = [r.id for r in rows if r.id not in declines and r.due_date >= today]
        if not ids:
            return {}
        found: dict[int, str] = {}
        read, preloaded = self._automatic_read
        if read.issuperset(ids):
            invoices: Iterable[Invoice] = [preloaded[i] for i in ids if i in preloaded]
        else:
            invoices = Invoice.objects.filter(organization_id=self.rc.org.pk, pk__in=ids)
        for invoice in invoices:
            chosen = PaymentInstruction.from_json((invoice.document_snapshot or {}).get("payment"))
            if chosen is None or chosen.method not in (CARD, SEPA_DEBIT):
                continue
            on = chosen.charge_date if chosen.method == CARD else chosen.debit_date
            if on is None or on < today:
                continue
            sentence = pay_view(invoice, fmt, seller_name=self.rc.org.name)["sentence"]
            if sentence:
                found[invoice.pk] = sentence
        return found

    def _interest(self, rows: Sequence[InvoiceRow], today: date) -> dict:
        """Interest accrued to ``today`` and not invoiced, per overdue row whose contract charges interest
        (:mod:`duly.collections.interest`); no query when no row can accrue any."""
        ids = [r.id for r in rows if r.due_date < today and r.contract_id
               and getattr(late_fee_terms_of(self.rc, r.contract_id), "charges_interest", False)]
        if not ids:
            return {}
        read, found = self._accrued.get(today, (None, None))
        if read is not None and read.issuperset(ids):
            return {i: found[i] for i in ids if i in found}
        return accrued_interest(self.rc.org.pk, ids, today, explain=False)

    def _totals(self, fmt: Formatter, rows: Sequence[InvoiceRow]) -> tuple[str, str]:
        """``(currency, "1 234,56 € + 80,00 $")``: per currency, never summed across currencies."""
        per: dict[str, int] = {}
        for r in rows:
            per[r.currency] = per.get(r.currency, 0) + r.balance_minor
        text = " + ".join(fmt.money(amount, cur) for cur, amount in sorted(per.items()))
        return (next(iter(sorted(per))) if per else ""), text

    # --- reminders (every step message) ------------------------------------------------------
    def reminder(self, account: Account, action: dunning.Action, rows: Sequence[InvoiceRow], addressee_name: str,
                 addressee_email: str, contact: ContactRow | None, now: datetime,
                 upcoming: Sequence[InvoiceRow] = ()) -> tuple[str, RenderedMessage]:
        """Render the message of a dunning step. Returns ``(category, rendered)``.

        ``rows`` are the invoices it asks to pay (``total_due``); ``upcoming`` the invoices it carries
        that are not due yet (a late fee just charged, a new invoice): listed with their own due
        date, never demanded."""
        customer = account.customer
        today = now.astimezone(zone(account.snapshot.timezone)).date()
        fmt = Formatter.for_locale(locale_for(customer.locale, contact))
        category = self.category(action.template)
        currency, total = self._totals(fmt, rows)
        ctx = self._base(category, fmt, customer, addressee_name, addressee_email, currency, today)
        contract = next((r.contract_id for r in (*rows, *upcoming) if r.contract_id), None)
        step = account.policy.step(action.step_code)
        invoices = self._invoices(fmt, customer, rows, today, account.declines)
        automatic = self._automatic(fmt, rows, today, account.declines)
        for view in invoices:
            view["pay_sentence"] = automatic.get(view["id"], "")
        ctx.update(
            invoices=invoices,
            pay_manual=any(r.id not in automatic for r in rows),
            total_due=total,
            upcoming=self._invoices(fmt, customer, upcoming, today),
            late_fee_terms=self._terms(contract, currency or customer.currency, fmt, today),
            step={"code": action.step_code, "tone": action.tone, "final": "final_notice" in action.actions,
                  "offset_days": step.offset_days, "anchor": step.anchor},
        )
        if category in ("dunning", "termination"):
            restore = today + timedelta(days=account.spec.restore_days)
            next_action, next_on = self.next_consequence(account, action, today)
            ctx.update(next_step=_next_step_words(fmt.language, next_action),
                       restore_days=account.spec.restore_days,
                       restore_period=within_days(fmt.language, account.spec.restore_days),
                       reminders=self._reminders_cited(account, fmt, {r.id for r in (*rows, *upcoming)}))
            if category == "termination":
                ctx.update(restore_deadline=fmt.date(restore))
            else:
                ctx.update(restore_deadline=fmt.date(next_on or restore))
        elif category == "statement":
            ctx.update(payments=[], credit_left="", retainer_left="")
        return category, self.renderer.render(action.template, fmt.language, ctx)

    def _reminders_cited(self, account: Account, fmt: Formatter, invoice_ids: set[int]) -> list[dict[str, str]]:
        """The earlier reminders about these invoices that reached the customer, oldest first."""
        tz = zone(account.snapshot.timezone)
        return [{"date": fmt.date(r.sent_at.astimezone(tz).date()), "subject": r.subject or r.step_code}
                for r in account.reminders if r.delivered and not invoice_ids.isdisjoint(r.invoice_ids)]

    def reminder_dates(self, account: Account, invoice_ids: set[int]) -> list[date]:
        """The local dates earlier reminders about these invoices reached the customer, oldest first
        (what a letter cites)."""
        tz = zone(account.snapshot.timezone)
        return [r.sent_at.astimezone(tz).date()
                for r in account.reminders if r.delivered and not invoice_ids.isdisjoint(r.invoice_ids)]

    def next_consequence(self, account: Account, action: dunning.Action,
                         today: date) -> tuple[str | None, date | None]:
        """The next later step that does something (suspend, terminate...), and the date it comes at
        the earliest if this step reaches the customer today (the date a final notice names):
        :func:`duly.domain.dunning.next_consequence`."""
        return dunning.next_consequence(account.snapshot, account.policy, action.step_code, action.invoice_ids, today)

    # --- termination: the final statement -------------------------------------------------
    def final_statement(self, account: Account, rows: Sequence[InvoiceRow], addressee: Addressee,
                        payments: Sequence[tuple[date, int, str, str]], credit_minor: int, now: datetime,
                        retainer: Decimal | None = None, upcoming: Sequence[InvoiceRow] = ()) -> RenderedMessage:
        """The final statement of account: ``rows`` due now (``total_due``), ``upcoming`` not due yet;
        ``retainer``: the customer's retainer balance in the statement's currency (None: no retainer,
        no line)."""
        customer = account.customer
        today = now.astimezone(zone(account.snapshot.timezone)).date()
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        currency, total = self._totals(fmt, rows)
        currency = currency or customer.currency
        ctx = self._base("statement", fmt, customer, addressee.name, addressee.email, currency, today)
        contract = next((r.contract_id for r in (*rows, *upcoming) if r.contract_id), None)
        ctx.update(
            invoices=self._invoices(fmt, customer, rows, today), total_due=total,
            upcoming=self._invoices(fmt, customer, upcoming, today),
            late_fee_terms=self._terms(contract, currency, fmt, today),
            step={"code": "final_statement", "tone": "neutral", "final": True, "offset_days": 0,
                  "anchor": "due_date"},
            payments=[{"date": fmt.date(d), "amount": fmt.money(minor, cur), "reference": ref}
                      for d, minor, cur, ref in payments],
            credit_left=fmt.money(credit_minor, currency) if credit_minor > 0 else "",
            retainer_left=fmt.money(retainer, currency) if retainer is not None else "",
        )
        return self.renderer.render("final_statement", fmt.language, ctx)


# --- messages about one customer, outside the dunning run ------------------------------------------
def contact_rows(customer) -> list[ContactRow]:
    """The customer's contacts as rows (one query, none when the caller prefetched ``customer.contacts``)."""
    from duly.customers.models import Contact

    prefetched = getattr(customer, "_prefetched_objects_cache", {}).get("contacts")
    if prefetched is not None:
        return [ContactRow(c.pk, c.customer_id, c.name, c.email, c.phone, c.role, c.locale, c.opted_out)
                for c in sorted(prefetched, key=lambda c: c.pk)]
    return [ContactRow(*row) for row in Contact.objects.filter(customer=customer).order_by("pk").values_list(
        "pk", "customer_id", "name", "email", "phone", "role", "locale", "opted_out")]


class SingleMessages:
    """Thank-yous, greetings, price notices and answers to queries for one organization (the e-mail
    of an issued invoice is :class:`duly.messaging.invoice_mail.InvoiceMail`)."""

    def __init__(self, org, renderer: Renderer) -> None:
        self.org = org
        self.renderer = renderer
        self.org_view = org_view(org)

    def _base(self, category: str, fmt: Formatter, customer, addressee: Addressee, currency: str,
              today: date) -> dict[str, Any]:
        return base_context(category=category, fmt=fmt, org=self.org_view, org_id=self.org.pk,
                            customer_id=customer.pk, customer_name=customer.name, customer_code=customer.code,
                            contact_name=addressee.name, contact_email=addressee.email, currency=currency,
                            today=today, link_version=customer.pay_link_version)

    def thank_you(self, payment, addressee: Addressee, credit_minor: int, today: date) -> RenderedMessage:
        """What the payment paid for: each invoice, its service lines, periods and usage."""
        from duly.invoicing.models import InvoiceLine
        from duly.payments.models import Allocation

        customer = payment.customer
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        allocations = list(Allocation.objects.filter(payment=payment).select_related("invoice")
                           .order_by("invoice__due_date", "invoice_id"))
        lines: dict[int, list[dict[str, str]]] = {}
        for line in InvoiceLine.objects.filter(invoice_id__in=[a.invoice_id for a in allocations]).order_by(
                "invoice_id", "position", "id"):
            lines.setdefault(line.invoice_id, []).append({
                "description": line.description,
                "period": period_text(fmt, line.period_start, line.period_end),
                "usage": line.explanation,
                "amount": fmt.money(line.net_minor, payment.currency),
            })
        ctx = self._base("payment", fmt, customer, addressee, payment.currency, today)
        ctx.update(
            payment={"amount": fmt.money(payment.amount_minor, payment.currency), "date": fmt.date(payment.received_on),
                     "method": method_name(fmt.language, payment.method, payment.get_method_display()),
                     "reference": payment.external_reference},
            paid=[{"number": a.invoice.number, "amount": fmt.money(a.amount_minor, payment.currency),
                   "period": period_text(fmt, a.invoice.service_period_start, a.invoice.service_period_end),
                   "lines": lines.get(a.invoice_id, [])} for a in allocations],
            credit_left=fmt.money(credit_minor, payment.currency) if credit_minor > 0 else "",
        )
        return self.renderer.render("thank_you", fmt.language, ctx)

    def payment_failed(self, attempt, addressee: Addressee, *, kind: str, rail: str, code: str,
                       today: date) -> RenderedMessage:
        """An automatic payment that did not go through: ``kind`` ``new_method`` (a hard decline: choose another
        method) or ``authenticate`` (3-D Secure: confirm the payment), with the reason in the customer's language
        and the personal pay link."""
        invoice = attempt.invoice
        customer = invoice.customer
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        ctx = self._base("payment", fmt, customer, addressee, attempt.currency, today)
        method = method_word(fmt.language, rail)
        ctx.update(
            payment={"amount": fmt.money(attempt.amount_minor, attempt.currency), "date": fmt.date(attempt.attempted_on),
                     "method": method, "reference": attempt.provider_ref},
            paid=[{"number": invoice.number, "amount": fmt.money(invoice.balance_minor, invoice.currency),
                   "period": period_text(fmt, invoice.service_period_start, invoice.service_period_end), "lines": []}],
            credit_left="",
            failure={"kind": kind, "reason": decline_text(fmt.language, rail, code), "method": method,
                     "rail": rail},
        )
        return self.renderer.render("payment_failed", fmt.language, ctx)

    def greeting(self, customer, addressee: Addressee, *, kind: str, label: str, years: int, on: date,
                 today: date) -> RenderedMessage:
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        ctx = self._base("relationship", fmt, customer, addressee, customer.currency, today)
        ctx["occasion"] = {"kind": kind, "label": label, "years": years, "date": fmt.date(on)}
        return self.renderer.render(f"greeting_{kind}", fmt.language, ctx)

    def price_notice(self, customer, addressee: Addressee, *, product: str, old_minor: int, new_minor: int,
                     currency: str, effective: date, justification: str, subscription: str,
                     today: date) -> RenderedMessage:
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        ctx = self._base("notice", fmt, customer, addressee, currency, today)
        ctx["change"] = {"product": product, "old_price": fmt.money(old_minor, currency),
                         "new_price": fmt.money(new_minor, currency), "effective_date": fmt.date(effective),
                         "justification": justification, "subscription": subscription}
        return self.renderer.render("price_increase", fmt.language, ctx)

    def dispute_answer(self, dispute, addressee: Addressee, today: date) -> RenderedMessage:
        customer = dispute.customer
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        ctx = self._base("dispute", fmt, customer, addressee, dispute.invoice.currency, today)
        note = dispute.credit_note
        ctx["dispute"] = {
            "invoice_number": dispute.invoice.number, "question": dispute.question, "answer": dispute.answer,
            "opened_on": fmt.date(dispute.opened_at.date()),
            "credit_note_number": note.number if note is not None else "",
            "credit_note_amount": fmt.money(note.total_minor, note.currency) if note is not None else "",
        }
        return self.renderer.render("dispute_resolved", fmt.language, ctx)
