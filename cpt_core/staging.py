"""Write a folder or a file whole or not at all: into a unique hidden sibling, then renamed.

Datasets, models, indexes, checkpoints, fetched weights and unpacked corpora are all written
this one way. The staging name is unique, so two writers never share one; every file and the
folder are fsynced before the rename, so a crash just after it cannot leave empty files under
a complete-looking name; and an existing target is swapped with the new one in a single step
(Linux's RENAME_EXCHANGE), so a reader never finds the target missing. Where the filesystem
cannot swap, the old one is moved aside first, for the moment between two renames.

`replace=False` is for content-addressed outputs: when another writer published first, its
folder stays and this one is dropped, since both hold the same content.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@contextmanager
def atomic_dir(target: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; on success it becomes `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        yield staging
        publish_dir(staging, target, replace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a staging path beside `target` to write; on success it replaces `target`."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.staging-{uuid.uuid4().hex[:12]}")
    try:
        yield staging
        _fsync(staging)
        os.replace(staging, target)
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)


def publish_dir(staging: Path, target: Path, replace: bool = True) -> None:
    """Make a finished staging folder `target` (what the Beam writer calls, having staged
    its own folder); afterwards `staging` is gone, or holds what it replaced."""
    for root, _, files in os.walk(staging):
        for name in files:
            if not os.path.islink(Path(root) / name):  # a link's target is not ours to sync
                _fsync(Path(root) / name)
        _fsync(Path(root))
    try:
        os.rename(staging, target)  # atomic, and refused when a complete target exists
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        if replace:
            _exchange(staging, target)
    _fsync(target.parent)


def _exchange(staging: Path, target: Path) -> None:
    """Swap the two names in one step; `staging` then names the old folder."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        done = renameat2(_AT_FDCWD, bytes(staging), _AT_FDCWD, bytes(target), _RENAME_EXCHANGE)
        if done == 0:
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(target))
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
    os.rename(target, aside)
    os.rename(staging, target)
    os.rename(aside, staging)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def escapes(name: str) -> bool:
    """Whether a relative name from outside (an archive member, an object key) would leave the
    folder it is joined to: an absolute name, or one with a `..` part."""
    return name.startswith("/") or ".." in PurePosixPath(name).parts
