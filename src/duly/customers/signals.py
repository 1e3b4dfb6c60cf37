"""Events of the customers app for the apps above it, which connect their receivers in their AppConfig.ready()
(customers imports none of them: docs/conventions.md, "Layers")."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent with ``organization=<Organization>`` by :func:`duly.customers.services.create_organization`, inside its
#: transaction: what a receiver writes commits or rolls back with the organization, and a receiver's error
#: refuses the creation. Invoicing makes the organization's number series.
organization_created = Signal()
