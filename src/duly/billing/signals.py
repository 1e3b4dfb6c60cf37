"""Events billing tells the apps above it about (they connect receivers in their ``AppConfig.ready()``; billing
imports none of them). Sent inside the service's transaction."""

from django.dispatch import Signal

#: A subscription changed: ``subscription``, ``change`` (``created``, ``updated``, ``paused``, ``resumed`` or
#: ``canceled``) and ``key``, a string naming this one change (the same change sent twice has the same key).
subscription_changed = Signal()
