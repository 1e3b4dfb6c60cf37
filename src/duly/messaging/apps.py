from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "duly.messaging"
    verbose_name = _("Messaging")
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import tracking

        from .signals import provider_event

        tracking.connect(provider_event, dispatch_uid="duly.messaging.provider_event")
