from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "duly.api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import outgoing_events

        outgoing_events.connect()  # the lower apps' signals become outgoing webhook events
