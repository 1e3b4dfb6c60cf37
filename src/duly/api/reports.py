"""The reports the API serves but does not compute: a customer's statement of account (its data and its PDF)
and the organization's aging. They are :mod:`duly.insights`' readers, an interface beside the API: the two never
import each other, so :mod:`duly.urls` (above both) connects them here when the URLs load (:func:`connect`).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

_READERS: dict[str, Callable[..., Any]] = {}


def connect(*, statement: Callable[..., dict], statement_pdf: Callable[..., bytes],
            aging: Callable[..., dict]) -> None:
    """``statement(customer, as_of=)``, ``statement_pdf(customer, as_of=)``, ``aging(org, as_of=)``."""
    _READERS.update(statement=statement, statement_pdf=statement_pdf, aging=aging)


def _reader(name: str) -> Callable[..., Any]:
    reader = _READERS.get(name)
    if reader is None:
        raise LookupError(f"No {name} reader is connected (duly.urls connects duly.insights' readers).")
    return reader


def statement(customer, *, as_of: date) -> dict:
    return _reader("statement")(customer, as_of=as_of)


def statement_pdf(customer, *, as_of: date) -> bytes:
    return _reader("statement_pdf")(customer, as_of=as_of)


def aging(org, *, as_of: date) -> dict:
    return _reader("aging")(org, as_of=as_of)
