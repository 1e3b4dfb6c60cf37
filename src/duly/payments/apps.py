from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "duly.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.invoicing import hooks

        from .documents import settled_by_issue_minor

        hooks.settled_by_issue_minor.provide(settled_by_issue_minor)
