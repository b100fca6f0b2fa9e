"""One writer at a time: an exclusive lock beside a stage's output folder or a shared file.

Two pipelines started on one run folder would otherwise both build the same output, and two
judges would read-modify-write registry.json over each other. The lock is `flock` on a hidden
file next to what it guards, so it is released when its holder exits, however it exits (a
killed process leaves no stale lock), and a waiter says once whom it is waiting for.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("cpt.locks")


@contextmanager
def locked(guarded: str | Path) -> Iterator[None]:
    """Hold the lock for `guarded` (a folder or file, which need not exist yet)."""
    guarded = Path(guarded)
    guarded.parent.mkdir(parents=True, exist_ok=True)
    path = guarded.with_name(f".{guarded.name}.lock")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process writing %s", guarded)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
