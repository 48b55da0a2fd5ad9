"""Whether an object was freed, for classes that cannot be weakly referenced (the compiled
build's native classes): found by id among what the garbage collector tracks."""

from __future__ import annotations

import gc


def survivor(object_id: int, cls: type) -> object | None:
    """After a full collection: the ``cls`` instance with this id if it is still alive, else None.

    Call it with no new ``cls`` instance made since the object was let go, so its id cannot
    have been reused by one."""
    gc.collect()
    for obj in gc.get_objects():
        if id(obj) == object_id and isinstance(obj, cls):
            return obj
    return None
