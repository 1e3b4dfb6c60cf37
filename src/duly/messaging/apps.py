from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "duly.messaging"
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import tracking

        from .signals import provider_event

        tracking.connect(provider_event, dispatch_uid="duly.messaging.provider_event")
