"""Payment providers behind one small contract (:mod:`.base`), found by code in :mod:`.registry`.

Adding a provider: write ``providers/<code>.py`` with a :class:`~.base.Provider` subclass, register it
(``registry.register("<code>", factory)``) where the payments app starts, give it its settings and its
tests. Nothing else changes.
"""
