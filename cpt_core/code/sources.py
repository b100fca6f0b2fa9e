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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cpt_core.code.languages import language_for
from cpt_core.code.licence import LICENCE_FILES
from cpt_core.data.dead_letter import DeadLetter

MAX_READ_BYTES = 4_000_000  # larger files are reported, not read (the filter cap is 1 MB)


@dataclass(frozen=True)
class SourceFile:
    repo: str
    path: str  # POSIX, relative to the repository root
    data: bytes


def repo_name(location: str) -> str:
    name = PurePosixPath(location.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def wanted(path: str) -> bool:
    """Source files of a mined language, and licence files (for the repository's licence)."""
    return language_for(path) is not None or PurePosixPath(path).name in LICENCE_FILES


def read_repository(location: str) -> Iterator[SourceFile | DeadLetter]:
    repo = repo_name(location)
    path = Path(location)
    try:
        if path.is_dir():
            yield from (_git if (path / ".git").exists() else _folder)(path, repo)
        elif location.endswith((".tar.gz", ".tgz", ".tar")):
            yield from _tar(path, repo)
        elif location.endswith(".zip"):
            yield from _zip(path, repo)
        elif not path.exists():
            yield DeadLetter(repo, "", "missing_repository", location)
        else:
            yield DeadLetter(repo, "", "unsupported_repository", location)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        yield DeadLetter(repo, "", "broken_archive", f"{type(exc).__name__}: {exc}")


def _folder(root: Path, repo: str) -> Iterator[SourceFile | DeadLetter]:
    # followlinks=False: a symlink loop cannot trap the walk; linked files are reported
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            full = Path(directory, name)
            rel = full.relative_to(root).as_posix()
            if wanted(rel):
                yield _read(full, repo, rel)


def _git(root: Path, repo: str) -> Iterator[SourceFile | DeadLetter]:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        yield DeadLetter(repo, "", "broken_git", listed.stderr.decode(errors="replace")[:200])
        return
    for rel in sorted(p for p in listed.stdout.decode().split("\0") if p):
        if wanted(rel):
            yield _read(root / rel, repo, rel)


def _read(full: Path, repo: str, rel: str) -> SourceFile | DeadLetter:
    if full.is_symlink():
        return DeadLetter(repo, rel, "symlink")
    try:
        size = full.stat().st_size
        if size > MAX_READ_BYTES:
            return DeadLetter(repo, rel, "file_too_large", f"{size} bytes")
        return SourceFile(repo, rel, full.read_bytes())
    except OSError as exc:
        return DeadLetter(repo, rel, "unreadable_file", str(exc))


def _unsafe(name: str) -> bool:
    return name.startswith("/") or ".." in PurePosixPath(name).parts


def _tar(path: Path, repo: str) -> Iterator[SourceFile | DeadLetter]:
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:  # streams: members are read as they come
            name = _strip_top(member.name)
            if _unsafe(member.name):
                yield DeadLetter(repo, member.name, "unsafe_archive_path")
            elif member.issym() or member.islnk():
                yield DeadLetter(repo, name, "symlink")
            elif member.isfile() and wanted(name):
                if member.size > MAX_READ_BYTES:
                    yield DeadLetter(repo, name, "file_too_large", f"{member.size} bytes")
                    continue
                handle = archive.extractfile(member)
                yield SourceFile(repo, name, handle.read() if handle else b"")


def _zip(path: Path, repo: str) -> Iterator[SourceFile | DeadLetter]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = _strip_top(info.filename)
            if _unsafe(info.filename):
                yield DeadLetter(repo, info.filename, "unsafe_archive_path")
            elif not info.is_dir() and wanted(name):
                if info.file_size > MAX_READ_BYTES:
                    yield DeadLetter(repo, name, "file_too_large", f"{info.file_size} bytes")
                    continue
                try:
                    yield SourceFile(repo, name, archive.read(info))
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    yield DeadLetter(repo, name, "broken_archive", str(exc))


def _strip_top(name: str) -> str:
    """Archives usually wrap everything in one top folder (repo-1.2/...); paths drop it."""
    parts = PurePosixPath(name).parts
    return PurePosixPath(*parts[1:]).as_posix() if len(parts) > 1 else name
