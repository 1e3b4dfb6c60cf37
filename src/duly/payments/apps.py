from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "duly.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Issuing an invoice (invoicing, below payments) applies customer credit and settles credit notes.
        from duly.invoicing import hooks

        from . import services
        from .documents import settled_by_issue_minor
        from .instructions import instructions, scheduled_collections
        from .providers import registry
        from .providers.stripe import StripeProvider

        hooks.register(apply_customer_credit=services.apply_customer_credit,
                       apply_credit_note=services.apply_credit_note,
                       credit_balances=services.credit_balances,
                       settled_by_issue_minor=settled_by_issue_minor,
                       payment_instructions=instructions,
                       scheduled_collections=scheduled_collections)
        registry.register(StripeProvider.code, StripeProvider)
