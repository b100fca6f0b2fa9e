"""A folder of HTML pages packed into one WARC file, as a crawler would have captured them.

Debian's HTML documentation packages are real, varied English prose that this machine can
reach. Packed as WARC response records, they take the crawl path through the text miner
(WARC framing, HTTP parsing, per-host caps) exactly as Common Crawl files do, and a corpus of
them can be sized like a crawl: one file per site. Packing is reproducible: record ids derive
from the URL, dates from the file's modification time, and every record is a gzip member
without a timestamp, so packing the same folder twice gives the same bytes (and the same
dataset identity downstream).
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from cpt_core.staging import atomic_file
from cpt_core.text.html_pages import html_files

NAMESPACE = uuid.UUID("6f1c2a3e-5b7d-4c9e-8a1f-0d2b4e6a8c0e")  # record ids: uuid5(this, url)


def pack_html_folder(folder: Path, out: Path, base_url: str) -> tuple[int, list[Path]]:
    """Write every .html/.htm page under `folder` (path order) to the WARC file `out` as a
    response at `base_url` + its relative path; `out` appears whole or not at all. Returns how
    many pages, and the links to pages outside `folder`, which are left out."""
    pages, outside = html_files(folder)
    with atomic_file(out) as staging, open(staging, "wb") as stream:
        for path in pages:
            url = base_url + quote(path.relative_to(folder).as_posix())
            stream.write(gzip.compress(b"".join(response_record(url, path)), mtime=0))
    return len(pages), outside


def fingerprint(folder: Path, base_url: str) -> str:
    """What a pack of `folder` at `base_url` depends on: where, and each page's name, size and
    modification time (so an edited folder is packed again, under another name)."""
    digest = hashlib.sha256(f"{folder.resolve()}\n{base_url}\n".encode())
    for path in html_files(folder)[0]:
        info = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def response_record(url: str, path: Path) -> Iterator[bytes]:
    """One WARC/1.1 response record: the page as an HTTP 200 reply with an HTML body (its
    charset left for the miner to read from the page, as with any crawl)."""
    body = path.read_bytes()
    http = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    captured = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    headers = {
        "WARC-Type": "response",
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(NAMESPACE, url)}>",
        "WARC-Date": captured.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "WARC-Target-URI": url,
        "Content-Type": "application/http; msgtype=response",
        "Content-Length": str(len(http) + len(body)),
    }
    yield b"WARC/1.1\r\n"
    yield "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
    yield b"\r\n"
    yield http
    yield body
    yield b"\r\n\r\n"
