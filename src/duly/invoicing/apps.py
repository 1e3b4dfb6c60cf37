from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "duly.invoicing"
    verbose_name = _("Invoicing")
    label = "invoicing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from duly.customers.signals import organization_created

        organization_created.connect(_make_number_series, dispatch_uid="duly.invoicing.number_series")


def _make_number_series(sender, organization, **kwargs) -> None:
    """A new organization gets its invoice and credit-note number series (in the transaction that creates it)."""
    from .services import ensure_number_series

    ensure_number_series(organization)
