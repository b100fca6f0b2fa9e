"""Stream the source files of a repository: a folder, a git checkout, a .tar.gz or a .zip.

Files are yielded one at a time (a huge repository never has to fit in memory). Anything that
cannot be read becomes a `DeadLetter` with a reason instead of an exception, so one broken
archive or unreadable file never stops a mining run and is never silently lost.

Repositories are untrusted: a symlink may point outside the repository or loop, so none is
followed (a linked file, or one git lists under a linked folder, is reported); a named pipe
would block the read forever; an archive may be a compression bomb, so inflating stops at a
ratio no source tree reaches; a remote object's key is a name, and a `..` in it is not resolved.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
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
from cpt_core.staging import escapes

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")
MAX_READ_BYTES = 4_000_000  # larger files are reported, not read (the filter cap is 1 MB)
# source archives inflate 4-10x; past BOMB_FLOOR bytes, MAX_INFLATION times is a bomb
MAX_INFLATION = 100
BOMB_FLOOR = 100_000_000
DECOMPRESSORS = {
    ".tar.gz": gzip.open,
    ".tgz": gzip.open,
    ".tar.xz": lzma.open,
    ".tar.bz2": bz2.open,
}
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


@dataclass(frozen=True)
class LocalFile:
    """A file of a local folder or git checkout, named but not read yet. A job that spreads one
    repository's files over its workers shuffles these, so paths travel, not contents (the
    local runner holds whatever crosses a shuffle in memory); `read` then runs on the worker."""

    repo: str
    root: str
    path: str

    def read(self) -> SourceFile | DeadLetter:
        return _read(Path(self.root), self.repo, self.path)


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
    defer_local: bool = False,
) -> Iterator[SourceFile | LocalFile | DeadLetter]:
    """Every wanted file of the repository at `location`, or the reason it could not be read.

    `open_binary` opens archives that are not on the local disk (the Beam job passes Beam's
    FileSystems.open, so `gs://bucket/repo.tar.gz` works); folders and git checkouts are local.
    Files under a folder named in `skip_dirs` are not read at all, and neither is a repository
    whose own folder is named there (a glob like `lib/*/` also matches `site-packages/`): it is
    reported as a `skipped_repository` dead letter. With `defer_local`, a folder's or
    checkout's files come as LocalFile references to read later (archives are read here: a
    member cannot be reached without reading the archive up to it).
    """
    repo = repo_name(location)
    if repo in skip_dirs:
        yield DeadLetter(repo, "", "skipped_repository", f"{location}: named in skip_dirs")
        return
    empty = True
    for item in _items(location, repo, open_binary, skip_dirs, defer_local):
        empty = False
        yield item
    if empty:
        yield DeadLetter(repo, "", "empty_repository", f"{location}: no source or licence files")


def _items(
    location: str,
    repo: str,
    open_binary: Callable[[str], BinaryIO] | None,
    skip_dirs: frozenset[str],
    defer_local: bool,
) -> Iterator[SourceFile | LocalFile | DeadLetter]:
    opener = open_binary or _open_local
    try:
        if open_binary is not None and escapes(location):
            # some object stores and HTTP layers resolve `a/../b` to `b`: another object
            yield DeadLetter(repo, "", "unsafe_location", location)
        elif suffix := next((s for s in TAR_SUFFIXES if location.endswith(s)), None):
            with opener(location) as handle:
                yield from _tar(handle, DECOMPRESSORS.get(suffix), repo, skip_dirs)
        elif location.endswith(".zip"):
            with opener(location) as handle:
                yield from _zip(handle, repo, skip_dirs)
        elif open_binary is not None:
            yield DeadLetter(repo, "", "unsupported_repository", f"{location}: not an archive")
        elif Path(location).is_dir():
            root = Path(location)
            listed = (_git if (root / ".git").exists() else _folder)(root, repo, skip_dirs)
            for item in listed:
                if isinstance(item, str):  # a wanted file's path
                    file = LocalFile(repo, location, item)
                    item = file if defer_local else file.read()
                yield item
        elif not Path(location).exists():
            yield DeadLetter(repo, "", "missing_repository", location)
        else:
            yield DeadLetter(repo, "", "unsupported_repository", location)
    except FileNotFoundError:
        yield DeadLetter(repo, "", "missing_repository", location)
    except _CompressionBomb as exc:
        yield DeadLetter(repo, "", "compression_bomb", str(exc))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        yield DeadLetter(repo, "", "broken_archive", f"{type(exc).__name__}: {exc}")


def _open_local(path: str) -> BinaryIO:
    return open(path, "rb")


Listed = Iterator["str | DeadLetter"]  # wanted files' paths, relative to the root


def _folder(root: Path, repo: str, skip_dirs: frozenset[str]) -> Listed:
    # followlinks=False: a linked folder (out of the repository, or a loop) is never entered,
    # and is reported like a linked file
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in [d for d in dirs if Path(directory, d).is_symlink()]:
            yield DeadLetter(repo, Path(directory, name).relative_to(root).as_posix(), "symlink")
        for name in sorted(files):
            rel = Path(directory, name).relative_to(root).as_posix()
            if wanted(rel, skip_dirs):
                yield rel


def _git(root: Path, repo: str, skip_dirs: frozenset[str]) -> Listed:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        yield DeadLetter(repo, "", "broken_git", listed.stderr.decode(errors="replace")[:200])
        return
    yield from sorted(p for p in listed.stdout.decode().split("\0") if p and wanted(p, skip_dirs))


def _read(root: Path, repo: str, rel: str) -> SourceFile | DeadLetter:
    # git lists paths from its index: a folder on the way may since have become a symlink
    if _through_symlink(root, rel):
        return DeadLetter(repo, rel, "symlink")
    full = root / rel
    try:
        info = full.lstat()
        if not stat.S_ISREG(info.st_mode):
            return DeadLetter(repo, rel, "special_file", stat.filemode(info.st_mode))
        return _sized(repo, rel, info.st_size, full.read_bytes)
    except OSError as exc:
        return DeadLetter(repo, rel, "unreadable_file", str(exc))


def _through_symlink(root: Path, rel: str) -> bool:
    """Whether the file, or a folder between it and the root, is a symlink."""
    path = root
    for part in PurePosixPath(rel).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def _sized(repo: str, rel: str, size: int, read: Callable[[], bytes]) -> SourceFile | DeadLetter:
    """Read a file unless it is too large to be worth reading."""
    if size > MAX_READ_BYTES:
        return DeadLetter(repo, rel, "file_too_large", f"{size} bytes")
    return SourceFile(repo, rel, read())


class _CompressionBomb(Exception):
    """An archive inflating far beyond any source tree; the rest of it is not read."""


class _Inflation:
    """Bytes into a decompressor against bytes out of it, for one archive."""

    def __init__(self) -> None:
        self.packed = self.inflated = 0

    def add(self, packed: int = 0, inflated: int = 0) -> None:
        self.packed += packed
        self.inflated += inflated
        if self.inflated > BOMB_FLOOR and self.inflated > MAX_INFLATION * self.packed:
            raise _CompressionBomb(f"{self.inflated} bytes from {self.packed} compressed")


class _Counted:
    """A reader that reports how many bytes pass through it."""

    def __init__(self, handle: BinaryIO, count: Callable[[int], None]):
        self.handle, self.count = handle, count

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.count(len(data))
        return data


def _tar(
    handle: BinaryIO,
    decompress: Callable[[BinaryIO, str], BinaryIO] | None,
    repo: str,
    skip_dirs: frozenset[str],
) -> Found:
    stream = handle
    if decompress is not None:  # inflated here, not by tarfile, to watch the ratio as it goes
        inflation = _Inflation()
        inflating = decompress(_Counted(handle, lambda n: inflation.add(packed=n)), "rb")
        stream = _Counted(inflating, lambda n: inflation.add(inflated=n))
    # "r|": a pure stream (no seeking), so a remote archive is read once, front to back
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        while (member := archive.next()) is not None:
            archive.members.clear()  # a stream never looks back; kept, they grow with the archive
            name = _strip_top(member.name)
            if escapes(member.name):
                yield DeadLetter(repo, member.name, "unsafe_archive_path")
            elif member.issym() or member.islnk():
                yield DeadLetter(repo, name, "symlink")
            elif member.isdir() or not wanted(name, skip_dirs):
                continue
            elif not member.isfile():
                yield DeadLetter(repo, name, "special_file", f"tar type {member.type!r}")
            else:
                yield _sized(repo, name, member.size, lambda m=member: _tar_read(archive, m))


def _tar_read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    return handle.read() if handle else b""


def _zip(handle: BinaryIO, repo: str, skip_dirs: frozenset[str]) -> Found:
    inflation = _Inflation()
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            name = _strip_top(info.filename)
            if escapes(info.filename):
                yield DeadLetter(repo, info.filename, "unsafe_archive_path")
            elif stat.S_ISLNK(info.external_attr >> 16):  # zip keeps a link's target as its data
                yield DeadLetter(repo, name, "symlink")
            elif not info.is_dir() and wanted(name, skip_dirs):
                try:
                    yield _sized(
                        repo, name, info.file_size, lambda i=info: _zip_read(archive, i, inflation)
                    )
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    yield DeadLetter(repo, name, "broken_archive", str(exc))


def _zip_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, inflation: _Inflation) -> bytes:
    # zipfile stops at the declared size, so the declared sizes are what gets inflated
    inflation.add(packed=info.compress_size, inflated=info.file_size)
    return archive.read(info)


def _strip_top(name: str) -> str:
    """Archives usually wrap everything in one top folder (repo-1.2/...); paths drop it."""
    parts = PurePosixPath(name).parts
    return PurePosixPath(*parts[1:]).as_posix() if len(parts) > 1 else name
