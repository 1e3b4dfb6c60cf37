from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("<str:token>", views.pay_page, name="pay"),
    path("<str:token>/pdf", views.invoice_pdf, name="invoice_pdf"),
    path("<str:token>/pay", views.pay_now, name="pay_now"),
    path("<str:token>/methods", views.methods, name="methods"),
    path("<str:token>/methods/<str:setup_ref>", views.method_setup, name="method_setup"),
    path("<str:token>/pay/<str:public_id>", views.checkout_page, name="checkout"),
    path("<str:token>/pay/<str:public_id>/receipt", views.checkout_receipt, name="checkout_receipt"),
]
