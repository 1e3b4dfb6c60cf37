"""Python's cyclic garbage collector paused around a bulk step (a billing batch, a collections chunk).

Such a step allocates many small objects that live until its end (snapshots, rows, decisions); the collector
would only walk them again and again, which cost a third of a collections dry run. What was alive before the
step is frozen out of the collections that follow."""

import contextlib
import gc


@contextlib.contextmanager
def paused():
    """No cyclic collection inside the block; the collector's state is restored afterwards, even on error.
    Memory stays bounded by what the block itself allocates."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
