"""Download one pinned file: streamed to disk while hashed, never past its pinned size, and
kept only if its sha256 is the pinned one.

`CPT_DATA_MIRROR` replaces the GitHub host in every URL (an internal mirror, or the local
server the tests start), so the same pins serve machines without the internet.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from cpt_core.errors import CptError
from cpt_core.sets.catalogue import Made

GITHUB_RAW = "https://raw.githubusercontent.com"
CHUNK = 1 << 20
ATTEMPTS = 3  # a dropped connection is tried again; a wrong hash is not
TIMEOUT_SECONDS = 60


def mirrored(url: str) -> str:
    mirror = os.environ.get("CPT_DATA_MIRROR", "").rstrip("/")
    return mirror + url.removeprefix(GITHUB_RAW) if mirror and url.startswith(GITHUB_RAW) else url


def download(url: str, sha256: str, size: int, dest: Path) -> Path:
    """Write the file at `url` to `dest`; a transient network error is retried."""
    source = mirrored(url)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _stream(source, sha256, size, dest)
        except urllib.error.HTTPError as exc:
            if attempt == ATTEMPTS or exc.code < 500:  # a 404 will not go away
                raise CptError(f"cannot download {source}: HTTP {exc.code} {exc.reason}") from exc
        except (http.client.HTTPException, OSError) as exc:  # URLError, timeouts, resets
            if attempt == ATTEMPTS:
                reason = getattr(exc, "reason", exc)
                raise CptError(f"cannot download {source}: {reason}") from exc
        else:
            return dest
        time.sleep(2**attempt)
    raise AssertionError("unreachable")


def _stream(source: str, sha256: str, size: int, dest: Path) -> None:
    digest, written = hashlib.sha256(), 0
    with (
        urllib.request.urlopen(source, timeout=TIMEOUT_SECONDS) as response,
        dest.open("wb") as out,
    ):
        while chunk := response.read(CHUNK):
            written += len(chunk)
            if written > size:  # bounded: a wrong or hostile server cannot fill the disk
                raise CptError(f"{source} is larger than its pinned {size} bytes")
            digest.update(chunk)
            out.write(chunk)
    if written != size or digest.hexdigest() != sha256:
        raise CptError(
            f"{source} is not the pinned file: {written} bytes, sha256 {digest.hexdigest()[:16]}"
            f"..., expected {size} bytes, sha256 {sha256[:16]}..."
        )


def check_file(path: Path, pinned: Made) -> None:
    """A file written here (a conversion's output) against its pinned size and sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if path.stat().st_size != pinned.size or digest.hexdigest() != pinned.sha256:
        raise CptError(f"{pinned.dest}: the conversion did not give the pinned file")
