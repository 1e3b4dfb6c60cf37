"""Payment providers by code: ``register("stripe", factory)``, then ``get("stripe", **settings)``.

A factory is a :class:`~.base.Provider` subclass or any callable returning a provider. The registry holds
factories, not instances, so each caller builds its provider with its own settings (keys, endpoints).
"""

from __future__ import annotations

import re
import threading
from typing import Callable, Iterator

from duly.domain.errors import Conflict, UnknownPaymentProvider, ValidationError

from .base import Provider

__all__ = ["ProviderRegistry", "UnknownProvider", "codes", "get", "register", "registry"]

Factory = Callable[..., Provider]

_CODE = re.compile(r"[a-z][a-z0-9_]{1,31}")


UnknownProvider = UnknownPaymentProvider


class ProviderRegistry:
    """A small, thread-safe map of provider codes to factories."""

    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}
        self._lock = threading.Lock()

    def register(self, code: str, factory: Factory | None = None):
        """Register ``factory`` under ``code`` (or use as a class decorator: ``@registry.register("fake")``).

        Registering the same factory twice is harmless; another factory under a taken code is refused.
        """
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise ValidationError(f"A provider code is 2-32 lower-case letters, digits or _, starting with a "
                                  f"letter, got {code!r}.")
        if factory is None:
            def decorator(cls):
                self.register(code, cls)
                return cls
            return decorator
        if not callable(factory):
            raise ValidationError(f"Provider {code!r} needs a callable factory, got {factory!r}.")
        with self._lock:
            taken = self._factories.get(code)
            if taken is not None and taken is not factory:
                raise Conflict(f"Payment provider {code!r} is already registered ({_name(taken)}).", provider=code)
            self._factories[code] = factory
        return factory

    def unregister(self, code: str) -> None:
        with self._lock:
            self._factories.pop(code, None)

    def get(self, code: str, **settings) -> Provider:
        """A new provider for ``code`` built with ``settings``; :class:`UnknownProvider` names the known codes."""
        factory = self._factories.get(code) if isinstance(code, str) else None
        if factory is None:
            known = ", ".join(sorted(self._factories)) or "none"
            raise UnknownProvider(f"Unknown payment provider {code!r}: registered providers are {known}.",
                                  provider=str(code))
        provider = factory(**settings)
        if not isinstance(provider, Provider):
            raise ValidationError(f"The factory of provider {code!r} returned {type(provider).__name__}, "
                                  "not a Provider.")
        return provider

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def __contains__(self, code: object) -> bool:
        return code in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes())


def _name(factory: Factory) -> str:
    return getattr(factory, "__qualname__", repr(factory))


#: The process-wide registry the payments app fills.
registry = ProviderRegistry()
register = registry.register
get = registry.get
codes = registry.codes
