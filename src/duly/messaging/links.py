"""Pay links moved to :mod:`duly.customers.links` (below invoicing, which prints them); these names stay
importable from here."""

from duly.customers.links import (  # noqa: F401 - re-exported
    DEFAULT_ACCOUNT_LINK_DAYS,
    INVOICE_LINK_DAYS_AFTER_CLOSED,
    REFUSED,
    SALT,
    LinkTarget,
    account_link_days,
    make_token,
    pay_url,
    read_token,
)
