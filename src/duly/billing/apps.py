from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "duly.billing"
    label = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # An invoice issued (invoicing, below billing) states the customer's retainer balance.
        from duly.invoicing import hooks

        from .retainers import entry_for

        hooks.register(retainer_entry=entry_for)
