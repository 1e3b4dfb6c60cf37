from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "duly.insights"
    label = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.messaging.attachments import register_renderer

        register_renderer("statement_pdf", _statement_renderer)

        from duly.invoicing import hooks

        from .risk_services import prediction_words

        hooks.register(late_payment_prediction=prediction_words)


def _statement_renderer():
    from .documents import render_statement

    return render_statement
