from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "duly.insights"
    label = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.messaging.attachments import register_renderer

        register_renderer("statement_pdf", _statement_renderer)

        from duly.invoicing import hooks

        hooks.register(late_payment_prediction=_prediction_words)


def _prediction_words(*args, **kwargs):
    """The invoice page's late-payment prediction; the risk services (and scikit-learn) load on first use."""
    from .risk_services import prediction_words

    return prediction_words(*args, **kwargs)


def _statement_renderer():
    from .documents import render_statement

    return render_statement
