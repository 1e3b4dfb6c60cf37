"""Payment providers' webhooks: POST /webhooks/stripe/ (signed by Stripe; no session, so no CSRF token).

The view only hands the raw body and the signature header to the payments service: 200 when the event was
processed, is pending, or was processed before; 400 with an RFC 9457 problem document when the signature is
missing, forged or expired (the problem never names a secret).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from duly.domain.errors import WebhookRejected
from duly.payments.webhook_services import handle_stripe_webhook


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        outcome = handle_stripe_webhook(request.body, request.headers.get("Stripe-Signature"))
    except WebhookRejected as err:
        return JsonResponse(err.as_problem(), status=err.http_status, content_type="application/problem+json")
    return JsonResponse({"received": True, "event": outcome.event_id, "status": outcome.status})
