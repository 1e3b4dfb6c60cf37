"""Events of the customers app for the apps above it, which connect their receivers in their AppConfig.ready()
(customers imports none of them: docs/conventions.md, "Layers")."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent with ``organization=<Organization>`` by :func:`duly.customers.services.create_organization`, inside its
#: transaction: what a receiver writes commits or rolls back with the organization, and a receiver's error
#: refuses the creation. Invoicing makes the organization's number series.
organization_created = Signal()

#: Sent with ``customer=<Customer>`` by :func:`duly.customers.services.create_customer` once its transaction has
#: committed (with its contacts): a receiver cannot undo the creation, and its error is logged, never raised to
#: the caller. Insights checks the new customer for red flags (issue 17).
customer_created = Signal()

#: Sent with ``contract=<Contract>`` by :func:`duly.customers.services.create_contract` once its transaction has
#: committed, on the same terms as :data:`customer_created`. Insights checks the customer with the contract's terms.
contract_made = Signal()
