"""Pause Python's cyclic garbage collector while an import reads and writes.

A Bundle of 10,000 patients makes millions of small objects (pydantic models,
ORM rows) and no cycles worth finding before the import ends; the collector,
woken every 700 allocations, spent over a quarter of such an import walking
them (`make bench`). Reference counting still frees everything as usual.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
