"""Reads memoised for the length of one bulk write (a "read scope"): no business rule, no invalidation needed.

A service writing many rows in one transaction (``payments.services.record_invoice_payments``: hundreds of
payments, each sending ``payment_recorded``) opens :func:`read_scope`; a receiver of a higher layer that asks the
same question for every row (the organization's webhook endpoints, one query) answers it once per scope with
:func:`memo`. Only reads of rows nobody writes inside such a scope may be memoised (configuration: endpoints), so a
memo is never stale for the transaction that reads it. Outside a scope :func:`memo` just calls its function.
Scopes are per thread and per task (a :class:`~contextvars.ContextVar`), and nest (the outermost one holds).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Hashable, Iterator, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict | None] = ContextVar("duly_read_scope", default=None)


@contextmanager
def read_scope() -> Iterator[None]:
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memo(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, once per open :func:`read_scope` and ``key``."""
    cache = _memo.get()
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    return cache[key]
