from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    name = "duly.insights"
    verbose_name = _("Insights")
    label = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.messaging.attachments import register_renderer

        register_renderer("statement_pdf", _statement_renderer)

        from duly.invoicing import hooks

        hooks.register(late_payment_prediction=_prediction_words)

        from duly.customers.signals import contract_made, customer_created

        customer_created.connect(_check_new_customer, dispatch_uid="insights.risk.customer_created")
        contract_made.connect(_check_new_customer, dispatch_uid="insights.risk.contract_made")


def _check_new_customer(sender, customer=None, contract=None, **kwargs):
    """The red-flag check of a customer just created or a contract just made (issue 17); the onboarding
    services load on first use."""
    from .risk_onboarding import check_on_creation

    check_on_creation(customer=customer, contract=contract)


def _prediction_words(*args, **kwargs):
    """The invoice page's late-payment prediction; the risk services (and scikit-learn) load on first use."""
    from .risk_services import prediction_words

    return prediction_words(*args, **kwargs)


def _statement_renderer():
    from .documents import render_statement

    return render_statement
