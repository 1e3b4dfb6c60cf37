from django.apps import AppConfig


class CollectionsConfig(AppConfig):
    name = "duly.collections"
    label = "collections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.messaging.signals import message_undeliverable

        from .services import message_undeliverable as on_undeliverable

        message_undeliverable.connect(on_undeliverable, dispatch_uid="duly.collections.message_undeliverable")
