"""Stream the source files of a repository: a folder, a git checkout, a .tar.gz or a .zip.

Files are yielded one at a time (a huge repository never has to fit in memory). Anything that
cannot be read becomes a `DeadLetter` with a reason instead of an exception, so one broken
archive or unreadable file never stops a mining run and is never silently lost.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cpt_core.code.languages import language_for
from cpt_core.code.licence import LICENCE_FILES
from cpt_core.data.dead_letter import DeadLetter

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")
MAX_READ_BYTES = 4_000_000  # larger files are reported, not read (the filter cap is 1 MB)
# vendored, installed or cached code is someone else's repository, mined (if at all) on its own
SKIP_DIRS = frozenset({
    ".git", "__pycache__", "node_modules", "site-packages", "dist-packages",
    "vendor", "third_party",
})  # fmt: skip


@dataclass(frozen=True)
class SourceFile:
    repo: str
    path: str  # POSIX, relative to the repository root
    data: bytes


Found = Iterator["SourceFile | DeadLetter"]


def repo_name(location: str) -> str:
    name = PurePosixPath(location.rstrip("/")).name
    for suffix in (*TAR_SUFFIXES, ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def wanted(path: str, skip_dirs: frozenset[str] = SKIP_DIRS) -> bool:
    """Source files of a mined language, and licence files, outside the skipped folders."""
    parts = PurePosixPath(path).parts
    if skip_dirs.intersection(parts[:-1]):
        return False
    return language_for(path) is not None or parts[-1] in LICENCE_FILES


def read_repository(
    location: str,
    open_binary: Callable[[str], BinaryIO] | None = None,
    skip_dirs: frozenset[str] = SKIP_DIRS,
) -> Found:
    """Every wanted file of the repository at `location`, or the reason it could not be read.

    `open_binary` opens archives that are not on the local disk (the Beam job passes Beam's
    FileSystems.open, so `gs://bucket/repo.tar.gz` works); folders and git checkouts are local.
    Files under a folder named in `skip_dirs` are not read at all, and neither is a repository
    whose own folder is named there (a glob like `lib/*/` also matches `site-packages/`): it is
    reported as a `skipped_repository` dead letter.
    """
    repo = repo_name(location)
    if repo in skip_dirs:
        yield DeadLetter(repo, "", "skipped_repository", f"{location}: named in skip_dirs")
        return
    empty = True
    for item in _items(location, repo, open_binary, skip_dirs):
        empty = False
        yield item
    if empty:
        yield DeadLetter(repo, "", "empty_repository", f"{location}: no source or licence files")


def _items(
    location: str,
    repo: str,
    open_binary: Callable[[str], BinaryIO] | None,
    skip_dirs: frozenset[str],
) -> Found:
    opener = open_binary or _open_local
    try:
        if location.endswith(TAR_SUFFIXES):
            with opener(location) as handle:
                yield from _tar(handle, repo, skip_dirs)
        elif location.endswith(".zip"):
            with opener(location) as handle:
                yield from _zip(handle, repo, skip_dirs)
        elif open_binary is not None:
            yield DeadLetter(repo, "", "unsupported_repository", f"{location}: not an archive")
        elif Path(location).is_dir():
            root = Path(location)
            yield from (_git if (root / ".git").exists() else _folder)(root, repo, skip_dirs)
        elif not Path(location).exists():
            yield DeadLetter(repo, "", "missing_repository", location)
        else:
            yield DeadLetter(repo, "", "unsupported_repository", location)
    except FileNotFoundError:
        yield DeadLetter(repo, "", "missing_repository", location)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        yield DeadLetter(repo, "", "broken_archive", f"{type(exc).__name__}: {exc}")


def _open_local(path: str) -> BinaryIO:
    return open(path, "rb")


def _folder(root: Path, repo: str, skip_dirs: frozenset[str]) -> Found:
    # followlinks=False: a symlink loop cannot trap the walk; linked files are reported
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            full = Path(directory, name)
            rel = full.relative_to(root).as_posix()
            if wanted(rel, skip_dirs):
                yield _read(full, repo, rel)


def _git(root: Path, repo: str, skip_dirs: frozenset[str]) -> Found:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        yield DeadLetter(repo, "", "broken_git", listed.stderr.decode(errors="replace")[:200])
        return
    for rel in sorted(p for p in listed.stdout.decode().split("\0") if p):
        if wanted(rel, skip_dirs):
            yield _read(root / rel, repo, rel)


def _read(full: Path, repo: str, rel: str) -> SourceFile | DeadLetter:
    if full.is_symlink():
        return DeadLetter(repo, rel, "symlink")
    try:
        return _sized(repo, rel, full.stat().st_size, full.read_bytes)
    except OSError as exc:
        return DeadLetter(repo, rel, "unreadable_file", str(exc))


def _sized(repo: str, rel: str, size: int, read: Callable[[], bytes]) -> SourceFile | DeadLetter:
    """Read a file unless it is too large to be worth reading."""
    if size > MAX_READ_BYTES:
        return DeadLetter(repo, rel, "file_too_large", f"{size} bytes")
    return SourceFile(repo, rel, read())


def _unsafe(name: str) -> bool:
    return name.startswith("/") or ".." in PurePosixPath(name).parts


def _tar(handle: BinaryIO, repo: str, skip_dirs: frozenset[str]) -> Found:
    # "r|*": a pure stream (no seeking), so a remote archive is read once, front to back
    with tarfile.open(fileobj=handle, mode="r|*") as archive:
        for member in archive:
            name = _strip_top(member.name)
            if _unsafe(member.name):
                yield DeadLetter(repo, member.name, "unsafe_archive_path")
            elif member.issym() or member.islnk():
                yield DeadLetter(repo, name, "symlink")
            elif member.isfile() and wanted(name, skip_dirs):
                yield _sized(repo, name, member.size, lambda m=member: _tar_read(archive, m))


def _tar_read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    return handle.read() if handle else b""


def _zip(handle: BinaryIO, repo: str, skip_dirs: frozenset[str]) -> Found:
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            name = _strip_top(info.filename)
            if _unsafe(info.filename):
                yield DeadLetter(repo, info.filename, "unsafe_archive_path")
            elif not info.is_dir() and wanted(name, skip_dirs):
                try:
                    yield _sized(repo, name, info.file_size, lambda i=info: archive.read(i))
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    yield DeadLetter(repo, name, "broken_archive", str(exc))


def _strip_top(name: str) -> str:
    """Archives usually wrap everything in one top folder (repo-1.2/...); paths drop it."""
    parts = PurePosixPath(name).parts
    return PurePosixPath(*parts[1:]).as_posix() if len(parts) > 1 else name
