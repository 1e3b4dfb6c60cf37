"""The REST API v1's foundations: the NinjaAPI, key authentication with role scopes, RFC 9457 problem
documents, the money object, cursor pages and ``Idempotency-Key`` handling (docs/api.md).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Generic, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import BaseModel, ConfigDict, Field

from duly.customers.roles import role_allows
from duly.domain.errors import CurrencyMismatch, DomainError, ScopeInsufficient, Unauthenticated, UnknownField
from duly.domain.money import from_minor

from . import services
from .models import ApiKey

logger = logging.getLogger("duly.api")
PROBLEM = "application/problem+json"
T = TypeVar("T")


class KeyAuth(HttpBearer):
    """``Authorization: Bearer duly_…``: a key of one organization, counted against its rate limit."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        return services.admit_request(token)


IDEMPOTENCY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "A unique key for this request: a retry with the same key and request replays the first "
                   "response (24 hours); the same key with another request is refused (422 idempotency_conflict).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


class DulyAPI(NinjaAPI):
    """The API whose OpenAPI document says errors come as ``application/problem+json``."""

    def get_openapi_schema(self, *args, **kwargs):
        doc = super().get_openapi_schema(*args, **kwargs)
        for operations in doc.get("paths", {}).values():
            for method, operation in operations.items():
                if method == "post":
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_HEADER)
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status)[0] in "45" and "application/json" in content:
                        content[PROBLEM] = content.pop("application/json")
        return doc


api = DulyAPI(title="Duly API", version="1", description=(
    "Duly's REST API. Authenticate with `Authorization: Bearer <API key>`; every key belongs to one organization "
    "and has the permissions of a membership role. Errors are RFC 9457 problem documents "
    "(`application/problem+json`) with a stable `code`. Send an `Idempotency-Key` header with every POST: the "
    "response is replayed for 24 hours; the same key with a different request is refused (422). Lists are paged "
    "with `limit` and `starting_after`. Money is an object `{amount_minor, currency}`."),
    urls_namespace="api-v1", auth=KeyAuth())


def problem(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    body = {"type": f"https://duly.dev/errors/{code}", "title": code.replace("_", " "), "status": status,
            "detail": detail, "code": code, **extra}
    return JsonResponse(body, status=status, content_type=PROBLEM)


def domain_problem(err: DomainError) -> JsonResponse:
    response = JsonResponse(err.as_problem(), status=err.http_status, content_type=PROBLEM)
    if err.http_status == 429 and "retry_after" in err.context:
        response["Retry-After"] = str(err.context["retry_after"])
    return response


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return domain_problem(exc)


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return domain_problem(Unauthenticated("Send a valid API key: Authorization: Bearer duly_…"))


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors = [{"loc": [str(part) for part in e.get("loc", ())], "type": str(e.get("type", "")),
               "msg": str(e.get("msg", ""))} for e in exc.errors]
    unknown = any(e["type"] == "extra_forbidden" for e in errors)
    code = "unknown_field" if unknown else "invalid_input"
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)[:1000]
    return problem(422, code, detail or "The request is not valid.", errors=errors)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem(404, "not_found", "Not found.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code = "malformed_request" if exc.status_code == 400 else "http_error"
    return problem(exc.status_code, code, str(exc))


@api.exception_handler(Exception)
def _unexpected(request, exc: Exception):
    logger.exception("API request failed: %s %s", request.method, request.path)
    return problem(500, "internal_error", "Something went wrong on our side; the request may be retried.")


def require(request: HttpRequest, permission: str, query: Any = ()):
    """The key's organization, when its role allows ``permission`` (403 problem otherwise).

    ``query``: the query parameters the route takes (a schema or names); any other one is refused (422).
    """
    allowed = set(getattr(query, "model_fields", query))
    unknown = sorted(set(request.GET) - allowed)
    if unknown:
        raise UnknownField(f"Unknown query parameter(s): {', '.join(unknown)}.", fields=unknown)
    key: ApiKey = request.auth
    if not role_allows(key.role, permission):
        raise ScopeInsufficient(f"This key's role ({key.role}) does not allow this: it needs {permission!r}.",
                                permission=permission)
    return key.organization


# --- schemas shared by every route ---------------------------------------------------------------------------
class In(Schema):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class QueryIn(Schema):
    """Query parameters: unknown ones are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body built as a dict by its route (``*_body``): validated by pydantic alone, without ninja's
    per-object attribute getter (a page of 20 invoices holds 141 objects; the getter was half a list's CPU)."""


class Money(Out):
    amount_minor: int = Field(description="Integer amount in the currency's minor unit (cents; yen for JPY)")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")


class MoneyIn(In):
    amount_minor: int
    currency: str = Field(min_length=3, max_length=3)

    def major(self):
        return from_minor(self.amount_minor, self.currency.upper())


def major_in(amount: MoneyIn, currency: str, what: str):
    """``amount`` in major units, when it is in ``currency`` (400 ``currency_mismatch`` otherwise)."""
    if amount.currency.upper() != currency.upper():
        raise CurrencyMismatch(f"{what} is in {amount.currency}, expected {currency.upper()}.",
                               expected=currency.upper(), got=amount.currency)
    return amount.major()


class Paging(QueryIn):
    limit: int = Field(20, ge=1, le=100)
    starting_after: int | None = Field(None, ge=1)


def money(amount_minor: int, currency: str) -> dict:
    return {"amount_minor": int(amount_minor), "currency": currency}


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str


class PageOf(Out, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: int | None = Field(None, description="Pass as starting_after to get the next page")


def page_body(pg, render: Callable[[Any], dict]) -> dict:
    data = [render(row) for row in pg.rows]
    return {"data": data, "has_more": pg.has_more, "next_cursor": pg.rows[-1].pk if pg.has_more else None}


ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem, 429: Problem}
POST_ERRORS = ERRORS


def idempotent(request: HttpRequest, run: Callable[[], tuple[int, Any]]) -> HttpResponse:
    """Run a POST once per ``Idempotency-Key``: replay the stored response (24 h), refuse another request (422).

    ``run`` returns ``(status, json body)``; a DomainError becomes its problem document, stored like a success.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _respond(run)

    def rendered(response: HttpResponse) -> tuple[int, str, bytes]:
        return response.status_code, response["Content-Type"], response.content

    def handle() -> tuple[int, str, bytes]:
        status, body = run()
        return rendered(HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status,
                                     content_type="application/json"))
    stored = services.run_once(request.auth.organization, key,
                               services.request_fingerprint(request.method, request.path, request.body), handle,
                               lambda err: rendered(domain_problem(err)))
    response = HttpResponse(stored.body, status=stored.status_code, content_type=stored.content_type)
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _respond(run: Callable[[], tuple[int, Any]]) -> HttpResponse:
    try:
        status, body = run()
    except DomainError as err:
        return domain_problem(err)
    return HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type="application/json")
