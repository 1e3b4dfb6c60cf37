from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import include, path

admin.site.site_header = "Duly back office"
admin.site.site_title = "Duly"
admin.site.index_title = "Get invoices paid on time"

urlpatterns = [
    path("", lambda request: HttpResponseRedirect("/admin/")),
    path("admin/", admin.site.urls),
    # E-mail providers' delivery webhooks (bounces, rejections, opens): /anymail/<provider>/tracking/,
    # authenticated with ANYMAIL["WEBHOOK_SECRET"] (DULY_ANYMAIL_WEBHOOK_SECRET). See duly.messaging.signals.
    path("anymail/", include("anymail.urls")),
    # The personal pay/view link every invoice, e-mail and letter carries (duly.messaging.links).
    path("p/", include("duly.portal.urls")),
]
