"""Domain errors with stable snake_case codes.

Every error raised by a rule or a service is a :class:`DomainError` subclass (or a
DomainError with an explicit code). Interfaces map ``code`` to an exit status, an
HTTP problem document or a form error; ``message`` is the one clear line a user reads.
Keep every code in this module so they stay stable and unique.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    #: HTTP status the API maps this error to.
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, **context):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.context = context

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def as_problem(self) -> dict:
        """RFC 9457 problem document."""
        return {
            "type": f"https://duly.dev/errors/{self.code}",
            "title": self.code.replace("_", " "),
            "status": self.http_status,
            "detail": self.message,
            "code": self.code,
            **{k: v for k, v in self.context.items() if isinstance(v, (str, int, float, bool, type(None), list))},
        }


class ValidationError(DomainError):
    code = "invalid_input"


class UnknownCurrency(ValidationError):
    code = "unknown_currency"


class CurrencyMismatch(ValidationError):
    code = "currency_mismatch"


class NegativeQuantity(ValidationError):
    code = "negative_quantity"


class RequiredFieldMissing(ValidationError):
    code = "required_field_missing"


class InvalidTerms(ValidationError):
    code = "invalid_terms"


class InvalidPricing(ValidationError):
    code = "invalid_pricing"


class OverlappingTiers(InvalidPricing):
    code = "overlapping_tiers"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class InvalidState(Conflict):
    code = "invalid_state"


class InvoiceNotDraft(InvalidState):
    code = "invoice_not_draft"


class InvoiceNotIssued(InvalidState):
    code = "invoice_not_issued"


class InvoiceImmutable(InvalidState):
    code = "invoice_immutable"


class InvoiceAlreadyVoid(InvalidState):
    code = "invoice_already_void"


class InvoiceHasPayments(InvalidState):
    """A void would hide money received: refund it or issue a credit note instead."""

    code = "invoice_has_payments"


class ReasonRequired(ValidationError):
    """An action that must say why (voiding, writing off) was given no reason."""

    code = "reason_required"


class CreditExceedsOpenAmount(ValidationError):
    """A partial credit larger than what is still open on the invoice it corrects."""

    code = "credit_exceeds_open_amount"


class CreditExceedsInvoiceTotal(ValidationError):
    """Credit notes (issued or draft) would credit more than the total of the invoice they correct."""

    code = "credit_exceeds_invoice_total"


class IssueDateBeforeLastIssued(ValidationError):
    """Numbering is chronological: a number is never given to an issue date before that of the series' last number."""

    code = "issue_date_before_last_issued"


class CreditAmountNotExact(ValidationError):
    """No credit-note line at the invoice's tax rate totals exactly this amount (tax is rounded)."""

    code = "credit_amount_not_exact"


class AllowanceExceedsTaxGroup(ValidationError):
    """A document allowance larger than the lines and charges of the VAT group it reduces."""

    code = "allowance_exceeds_tax_group"


class SeveralTaxRates(ValidationError):
    """A single amount cannot say how much of it falls under each of an invoice's tax rates."""

    code = "several_tax_rates"


class CustomerNotActive(InvalidState):
    code = "customer_not_active"


class Overpayment(ValidationError):
    code = "overpayment"


class AllocationExceedsBalance(ValidationError):
    code = "allocation_exceeds_balance"


class UnknownMetric(ValidationError):
    code = "unknown_metric"


class InvalidUsageValue(ValidationError):
    code = "invalid_usage_value"


class ClosedPeriod(ValidationError):
    code = "closed_period"


class TemplateError(ValidationError):
    code = "template_error"


class TemplateRefused(TemplateError):
    """A template reaching outside Duly's template sandbox (Python internals, an unlisted filter...)."""

    code = "template_refused"


class MissingDocumentData(ValidationError):
    code = "missing_document_data"


class SellerIdentifierMissing(ValidationError):
    """The seller states no seller identifier (BT-29), legal registration id (BT-30) nor VAT id (BT-31): its
    e-invoices would break EN 16931 rule BR-CO-26, so nothing is issued."""

    code = "seller_identifier_missing"


class ForgedRequest(DomainError):
    code = "forged_request"
    http_status = 401


class CrossOrganization(DomainError):
    code = "cross_organization"
    http_status = 404


class UnknownHolidayCountry(InvalidTerms):
    code = "unknown_holiday_country"


class UnknownSubdivision(UnknownHolidayCountry):
    """A subdivision (ISO 3166-2) of another country, or one without its own public-holiday calendar."""

    code = "unknown_subdivision"


class InvalidLateFeePolicy(InvalidTerms):
    code = "invalid_late_fee_policy"


class InvalidReference(ValidationError):
    code = "invalid_reference"


class InvalidDocumentData(ValidationError):
    """Invoice data an e-invoice standard forbids (e.g. an exemption reason on a standard-rated line)."""

    code = "invalid_document_data"


class AttachmentTypeNotAllowed(ValidationError):
    """An invoice attachment of a file type EN 16931 e-invoices cannot embed (BR-CL-24)."""

    code = "attachment_type_not_allowed"


class EInvoiceInvalid(DomainError):
    """A rendered or received e-invoice breaks official EN 16931 (or Duly's) rules; ``rule_ids`` lists them."""

    code = "einvoice_invalid"
    http_status = 422


class PeppolInvalid(EInvoiceInvalid):
    """A document for a customer with a Peppol address would break the Peppol BIS Billing 3.0 rules
    (``rule_ids`` names them): it is not issued."""

    code = "peppol_invalid"


class BrFrInvalid(EInvoiceInvalid):
    """A French seller's document for a business buyer with an electronic address would break the French
    e-invoicing reform rules (BR-FR; ``rule_ids`` names them, ``rule_texts`` gives their messages): it is not
    issued."""

    code = "br_fr_invalid"


class InvalidSchedule(ValidationError):
    code = "invalid_schedule"


class UnknownAggregation(InvalidPricing):
    code = "unknown_aggregation"


class DuplicateUsageEvent(InvalidUsageValue):
    code = "duplicate_usage_event"


class InvalidDunningPolicy(ValidationError):
    """A dunning policy or step that cannot be evaluated (unknown channel, action or tone, duplicate step codes...)."""

    code = "invalid_dunning_policy"


class DisputeAlreadyOpen(Conflict):
    """An invoice already has an open query; answer it before opening another."""

    code = "dispute_already_open"


class DisputeAlreadyResolved(InvalidState):
    code = "dispute_already_resolved"


class NoticePeriodTooShort(ValidationError):
    """A price change scheduled with less notice than its customers must get."""

    code = "notice_period_too_short"


class InvalidChoice(ValidationError):
    """A value that is not one of a field's choices (an unknown deposit kind, billing frequency, payment method...)."""

    code = "invalid_choice"


class ValueOutOfRange(ValidationError):
    """A number outside what a field allows (a negative percentage, a deposit amount of 0, a text too long...)."""

    code = "value_out_of_range"


class InvalidPassword(ValidationError):
    """A password the configured password validators refuse."""

    code = "invalid_password"


class RefundExceedsPayment(ValidationError):
    """A refund larger than what the payment still holds: its unapplied part plus what it paid on invoices."""

    code = "refund_exceeds_payment"


class BillingFrequencyMismatch(ValidationError):
    """A subscription billed at another frequency than its contract agrees."""

    code = "billing_frequency_mismatch"


class ReferenceRateMissing(ValidationError):
    """No central-bank reference rate is recorded for a semester the EU statutory interest needs."""

    code = "reference_rate_missing"


class InsecureConfiguration(DomainError):
    """A server mode refused to start: a setting it needs to be safe is missing or weak (DULY_SECRET_KEY...)."""

    code = "insecure_configuration"


class DemoDatabaseInUse(InvalidState):
    """``duly demo`` was pointed at a database that holds another organization: it never touches one."""

    code = "demo_database_in_use"


class MessageNotSent(InvalidState):
    """A delivery event (bounce, complaint, open) for a message that was never sent: nothing changes."""

    code = "message_not_sent"


class PayLinkRefused(NotFound):
    """A personal pay link that does not open: forged, malformed, expired, revoked or another account's.

    Every such link gets the same answer (404 and one message), so a refusal tells nothing about why."""

    code = "pay_link_refused"


class PublicUrlNotSet(ValidationError):
    """Issuing would freeze a pay link to a loopback or unset ``DULY_PUBLIC_URL`` into the invoice's documents."""

    code = "public_url_not_set"


class RoleNotAllowed(DomainError):
    """The user's membership role in that organization does not allow this (see docs/roles.md)."""

    code = "role_not_allowed"
    http_status = 403


class LastOwner(Conflict):
    """An organization always keeps at least one owner: its last owner cannot be removed or demoted."""

    code = "last_owner"


class NumberOutOfRange(ValueOutOfRange):
    """An amount, quantity or rate its column cannot store exactly (too many digits or decimals; see domain.bounds)."""

    code = "number_out_of_range"


class DateOutOfRange(ValidationError):
    """A date outside the absolute bounds Duly accepts (2000-01-01 … 2199-12-31; see domain.bounds)."""

    code = "date_out_of_range"


class DateOutsideWindow(ValidationError):
    """A business date outside the organization's window (a year before its first invoice … 31 days after
    today) given without ``--allow-date-outside-window``."""

    code = "date_outside_window"


# --- payments: providers and SEPA mandates ------------------------------------------------------------
class ProviderError(DomainError):
    """The provider refused a request (bad request, unknown object): nothing was charged."""

    code = "provider_error"
    http_status = 502


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or answered 5xx: the outcome is unknown, recover before retrying."""

    code = "provider_unavailable"
    http_status = 503


class WebhookRejected(DomainError):
    """A webhook whose signature is missing, forged or expired (answer 400, change nothing)."""

    code = "webhook_rejected"
    http_status = 400


class UnknownPaymentProvider(NotFound):
    """No payment provider is registered under that code."""

    code = "unknown_payment_provider"


class InvalidCreditorId(ValidationError):
    """A SEPA creditor identifier whose format or check digits are wrong."""

    code = "invalid_creditor_id"


class InvalidMandate(ValidationError):
    """A SEPA mandate that cannot be used as given. Codes: ``mandate_invalid`` and, more precisely,
    ``mandate_unsigned``, ``mandate_place_missing``, ``mandate_signed_in_future``, ``mandate_revoked``, ``mandate_expired``, ``mandate_used``,
    ``mandate_sequence_invalid``, ``mandate_reference_missing``, ``mandate_reference_invalid``,
    ``mandate_blocked`` (a hard R-transaction), ``invalid_pre_notification`` (passed as ``code=``)."""

    code = "mandate_invalid"


class InvalidBankAccount(ValidationError):
    """An IBAN or BIC whose format or check digits are wrong. Codes: ``invalid_iban``, ``invalid_bic``."""

    code = "invalid_iban"


class SepaNotConfigured(ValidationError):
    """The organization has no SEPA creditor identifier and account yet: direct debits cannot be exported."""

    code = "sepa_not_configured"


class SepaFileInvalid(DomainError):
    """The pain.008 file built from the debits does not validate against its XSD: nothing was written."""

    code = "sepa_file_invalid"


class SepaStatusReportInvalid(ValidationError):
    """A pain.002 status report that cannot be read (not XML, not pain.002, not valid against its XSD, or an
    element missing or wrong): the message names the element at fault; nothing was recorded."""

    code = "sepa_status_report_invalid"


class DebitReturnConflict(Conflict):
    """A direct debit already has its R-transaction (one per debit) with another reason code."""

    code = "debit_return_conflict"


class StatementMalformed(ValidationError):
    """A bank statement file that cannot be read: the message names the line or element at fault. Codes:
    ``statement_malformed``, ``statement_format_unknown``, ``statement_mapping_missing``."""

    code = "statement_malformed"


class UnknownBankAccount(ValidationError):
    """A statement for an account the organization has not added (``duly bank accounts add``)."""

    code = "bank_account_unknown"


class StatementCurrencyMismatch(CurrencyMismatch):
    """A statement (or one of its lines) in another currency than the bank account's."""

    code = "statement_currency_mismatch"


class StatementUnbalanced(ValidationError):
    """A statement whose opening balance plus its movements is not its closing balance."""

    code = "statement_unbalanced"


# --- payments: bank reconciliation ---------------------------------------------------------------------
class LineAlreadyMatched(Conflict):
    """A statement line that is already matched to a payment (undo that match first)."""

    code = "line_already_matched"


class MatchUsedLater(Conflict):
    """A bank match that cannot be undone: a later refund, credit drawn on another invoice, or a return of the
    debits it collected used its money (``match_used_later``); or what it changed was changed since
    (``match_changed_since``)."""

    code = "match_used_later"


# --- api: keys, idempotency, pagination, rate limits --------------------------------------------------------
class Unauthenticated(DomainError):
    """A request to the API without a valid key (missing, unknown or revoked)."""

    code = "unauthenticated"
    http_status = 401


class ScopeInsufficient(DomainError):
    """An API key whose role does not allow what the request asks."""

    code = "insufficient_scope"
    http_status = 403


class IdempotencyConflict(ValidationError):
    """An ``Idempotency-Key`` used before with a different request."""

    code = "idempotency_conflict"
    http_status = 422


class IdempotencyInProgress(Conflict):
    """An ``Idempotency-Key`` whose first request is still being handled."""

    code = "idempotency_in_progress"


class InvalidCursor(ValidationError):
    """A page cursor (``starting_after``) that names no row of the organization."""

    code = "invalid_cursor"


class RateLimited(DomainError):
    """Too many requests with one API key in the current window."""

    code = "rate_limited"
    http_status = 429


class UnknownField(ValidationError):
    """A request field (body or query parameter) the API does not have."""

    code = "unknown_field"
    http_status = 422


class UnsafeWebhookUrl(ValidationError):
    """An outgoing webhook endpoint's URL is not https, or points at a loopback, private or link-local address."""

    code = "unsafe_webhook_url"


class UnknownEventType(ValidationError):
    code = "unknown_event_type"


class RiskModelError(DomainError):
    """A late-payment model cannot be trained, read or used (codes: risk_model_corrupt, risk_model_foreign,
    risk_history_short)."""

    code = "risk_model_error"


class RiskCheckError(DomainError):
    """A new customer's red-flag check cannot run (codes: risk_no_identifiers, risk_bad_input,
    risk_check_unavailable for an external check that does not answer)."""

    code = "risk_check_error"


class CreditLimitExceeded(Conflict):
    """Issuing the invoice would take the customer's open balance over its accepted credit limit (issue 17):
    ``credit_limit_exceeded``; an owner or admin may issue it anyway with a note (kept)."""

    code = "credit_limit_exceeded"
