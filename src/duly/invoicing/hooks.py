"""What invoicing asks of the apps above it without importing them (docs/conventions.md, "Layers").

Each question is a :class:`Hook`: the app that knows the answer gives its function in its AppConfig.ready()
(``hook.provide(fn)``), and invoicing calls the hook. A question nobody answers is a configuration error, said
by name.
"""

from __future__ import annotations

from typing import Any, Callable


class Hook:
    """One question invoicing asks, answered by the function an app above it provides."""

    def __init__(self, name: str, answered_by: str) -> None:
        self.name = name
        self.answered_by = answered_by
        self._fn: Callable[..., Any] | None = None

    def provide(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    @property
    def provided(self) -> bool:
        return self._fn is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._fn is None:
            raise RuntimeError(f"nothing provides invoicing's {self.name!r}: the {self.answered_by} app does, "
                               "in its AppConfig.ready() (is it in INSTALLED_APPS?)")
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name} ({'provided' if self._fn else 'not provided'})>"


#: ``fn(invoice) -> int``: the minor units the payments applied up to ``invoice``'s issue date settled on it,
#: for an invoice issued before its document snapshot froze that amount (documents.adapter).
settled_by_issue_minor = Hook("settled_by_issue_minor", "payments")
