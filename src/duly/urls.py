from django.conf import settings
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import include, path

from duly.api import reports as api_reports
from duly.api.v1 import urls as api_v1_urls
from duly.api.webhooks import stripe_webhook
from duly.insights import documents as insight_documents
from duly.insights import services as insights

# The API serves insights' statement of account and aging (two interfaces that never import each other).
api_reports.connect(statement=insights.statement_of_account, statement_pdf=insight_documents.render_statement,
                    aging=insights.aging_report)

admin.site.site_header = "Duly back office"
admin.site.site_title = "Duly"
admin.site.index_title = "Get invoices paid on time"

urlpatterns = [
    path("", lambda request: HttpResponseRedirect("/admin/")),
    path("admin/", admin.site.urls),
    # The personal pay/view link every invoice, e-mail and letter carries (duly.messaging.links).
    path("p/", include("duly.portal.urls")),
    # Payment providers' signed webhooks (duly.api.webhooks -> duly.payments.webhook_services).
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
    # The REST API v1 (duly.api.v1): OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.
    path("api/v1/", api_v1_urls),
]

# E-mail providers' delivery webhooks (bounces, complaints, opens): /anymail/<provider>/tracking/, mounted only
# when DULY_ANYMAIL_WEBHOOK_SECRET is set; anymail then answers 400 to a request without that secret (HTTP basic
# auth "user:password"). Without it, /anymail/ does not exist (404). See duly.messaging.signals.
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    urlpatterns.append(path("anymail/", include("anymail.urls")))
