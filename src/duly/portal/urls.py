from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("<str:token>", views.pay_page, name="pay"),
    path("<str:token>/pdf", views.invoice_pdf, name="invoice_pdf"),
]
