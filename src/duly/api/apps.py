from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "duly.api"
    verbose_name = _("API")
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import outgoing_events

        outgoing_events.connect()  # the lower apps' signals become outgoing webhook events
