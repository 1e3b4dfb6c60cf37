from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionsConfig(AppConfig):
    name = "duly.collections"
    verbose_name = _("Collections")
    label = "collections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Receivers import the services on first call: loading them here would cost every process (a CLI command,
        # a worker) their imports at start-up.
        from duly.messaging.signals import message_undeliverable

        message_undeliverable.connect(_message_undeliverable, dispatch_uid="duly.collections.message_undeliverable")

        from duly.payments.signals import payment_recorded

        payment_recorded.connect(_payment_recorded, dispatch_uid="duly.collections.payment_recorded")

        from duly.payments.signals import match_undone

        match_undone.connect(_match_undone, dispatch_uid="duly.collections.match_undone")

        from duly.payments.signals import payment_dispute_closed, payment_disputed

        payment_disputed.connect(_payment_disputed, dispatch_uid="duly.collections.payment_disputed")
        payment_dispute_closed.connect(_payment_dispute_closed, dispatch_uid="duly.collections.payment_dispute_closed")

        from duly.payments.signals import charge_failed

        charge_failed.connect(_charge_failed, dispatch_uid="duly.collections.charge_failed")

        from duly.payments.signals import debit_failed

        debit_failed.connect(_debit_failed, dispatch_uid="duly.collections.debit_failed")


def _message_undeliverable(*args, **kwargs):
    from .services import message_undeliverable

    return message_undeliverable(*args, **kwargs)


def _payment_disputed(*args, **kwargs):
    from .services.staff_tasks import payment_disputed

    return payment_disputed(*args, **kwargs)


def _payment_dispute_closed(*args, **kwargs):
    from .services.staff_tasks import payment_dispute_closed

    return payment_dispute_closed(*args, **kwargs)


def _payment_recorded(sender, payment, **kwargs) -> None:
    """A payment was recorded (payments' signal): queue the thank-you, lift a suspension (same transaction)."""
    from .services import payment_recorded

    payment_recorded(payment, customer_status=kwargs.get("customer_status"))


def _match_undone(sender, match, organization, payment_ids, debit_return_ids, reason, now, **kwargs) -> None:
    """A bank match was undone (payments' signal): recall the messages it caused that have not gone out."""
    from .services.thanks import match_undone

    match_undone(organization, payment_ids=payment_ids, debit_return_ids=debit_return_ids, reason=reason, now=now,
                 as_of=kwargs.get("as_of"), payments=kwargs.get("payments", ()))


def _charge_failed(sender, attempt, action, decline=None, **kwargs) -> None:
    """Autopay could not take a payment (payments' signal): tell the customer when they must act (same transaction)."""
    from .services.autopay import charge_failed

    charge_failed(attempt, action, decline)


def _debit_failed(sender, debit, debit_return, decision, **kwargs) -> None:
    """A SEPA debit came back (payments' signal): ask for a new method when the customer must act (same transaction)."""
    from .services.autopay import debit_failed

    debit_failed(debit, debit_return, decision)
