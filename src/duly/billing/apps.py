from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "duly.billing"
    verbose_name = _("Billing")
    label = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # An invoice issued (invoicing, below billing) states the customer's retainer balance.
        from duly.invoicing import hooks

        from .retainers import entry_for

        hooks.register(retainer_entry=entry_for)
