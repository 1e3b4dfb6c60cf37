from django.urls import path

from . import selfservice, views

app_name = "portal"
urlpatterns = [
    path("<str:token>", views.pay_page, name="pay"),
    path("<str:token>/pdf", views.invoice_pdf, name="invoice_pdf"),
    path("<str:token>/pay", views.pay_now, name="pay_now"),
    path("<str:token>/methods", views.methods, name="methods"),
    path("<str:token>/methods/<str:setup_ref>", views.method_setup, name="method_setup"),
    path("<str:token>/pay/<str:public_id>", views.checkout_page, name="checkout"),
    path("<str:token>/pay/<str:public_id>/receipt", views.checkout_receipt, name="checkout_receipt"),
    # self-service (duly.portal.selfservice)
    path("<str:token>/history", selfservice.history, name="history"),
    path("<str:token>/invoices/<int:invoice_id>/pdf", selfservice.invoice_pdf, name="history_invoice_pdf"),
    path("<str:token>/invoices/<int:invoice_id>/ask", selfservice.ask, name="ask"),
    path("<str:token>/questions/<int:question_id>", selfservice.question, name="question"),
    path("<str:token>/payments/<int:payment_id>/receipt", selfservice.payment_receipt, name="payment_receipt"),
    path("<str:token>/statement", selfservice.statement, name="statement"),
    path("<str:token>/details", selfservice.details, name="details"),
    path("<str:token>/language", selfservice.language, name="language"),
]
