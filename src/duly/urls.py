from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path

admin.site.site_header = "Duly back office"
admin.site.site_title = "Duly"
admin.site.index_title = "Get invoices paid on time"

urlpatterns = [
    path("", lambda request: HttpResponseRedirect("/admin/")),
    path("admin/", admin.site.urls),
]
