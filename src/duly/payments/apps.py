import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "duly.payments"
    verbose_name = _("Payments")
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Issuing an invoice (invoicing, below payments) applies customer credit and settles credit notes. The
        # answers import their modules on first use: a process that issues nothing (``duly invoices export``)
        # does not pay for importing payments' services.
        from duly.invoicing import hooks

        from .providers import registry
        from .providers.stripe import StripeProvider

        hooks.register(apply_customer_credit=_on_first_use("services", "apply_customer_credit"),
                       apply_credit_note=_on_first_use("services", "apply_credit_note"),
                       credit_balances=_on_first_use("services", "credit_balances"),
                       settled_by_issue_minor=_on_first_use("documents", "settled_by_issue_minor"),
                       payment_instructions=_on_first_use("instructions", "instructions"),
                       scheduled_collections=_on_first_use("instructions", "scheduled_collections"))
        registry.register(StripeProvider.code, StripeProvider)


def _on_first_use(module: str, name: str):
    """``duly.payments.<module>.<name>``, imported when first called."""

    def call(*args, **kwargs):
        fn = getattr(importlib.import_module(f"duly.payments.{module}"), name)
        return fn(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call
