"""Every kind of text input, read record by record into pages, counts and dead letters.

WARC/WET files (the crawl), JSONL and Parquet documents with `text` (and `url`) fields, single
HTML files and local folders of them. The kind is chosen by the name; anything else is a dead
letter that names what would have worked.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.text.html_pages import HTML_SUFFIXES, html_files
from cpt_core.text.page import Counted, Page
from cpt_core.text.warc import CHUNK, Item, read_warc

PAGE = "page"  # the text miner's unit of account (counts.balance)
# dead letters for a whole input: no page was read from it, so none is lost with it
INPUT_FAILURES = frozenset({
    "missing_input", "unreadable_input", "empty_input", "unsupported_input", "wrong_schema",
    "broken_parquet",
})  # fmt: skip
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
Opener = Callable[[str], BinaryIO]


def read_pages(location: str, open_stream: Opener, max_bytes: int) -> Iterator[Item]:
    """Every item of one input. An input that is missing, cannot be read, or holds nothing at
    all is a dead letter, whatever its kind, so no input disappears without a trace."""
    if not os.path.exists(location) and "://" not in location:
        yield DeadLetter(location, "", "missing_input", "no such file or folder")
        return
    empty = True
    try:
        for item in _reader(location, open_stream, max_bytes):
            empty = False
            yield item
    except OSError as exc:
        yield DeadLetter(location, "", "unreadable_input", str(exc).splitlines()[0])
        return
    if empty:
        yield DeadLetter(location, "", "empty_input", "no records, rows or pages")


def reader_outcome(item: Item) -> str | None:
    """Where a read item leaves the balance: every record, line, row or file read is a page,
    and one that is skipped or set aside ends here, by name. None for a page that goes on to
    extraction, and for what is not a page (a repair note, a whole input that failed)."""
    if isinstance(item, Counted):
        return f"skipped_{item.reason}" if item.group == "skipped" else None
    if isinstance(item, DeadLetter) and item.reason not in INPUT_FAILURES:
        return f"dead_{item.reason}"
    return None


def _reader(location: str, open_stream: Opener, max_bytes: int) -> Iterator[Item]:
    name = location.lower().rstrip("/")
    if name.endswith(WARC_SUFFIXES):
        return read_warc(location, open_stream, max_bytes)
    if name.endswith(JSONL_SUFFIXES):
        return read_jsonl(location, open_stream, max_bytes)
    if name.endswith(".parquet"):
        return read_parquet(location, open_stream, max_bytes)
    if name.endswith(HTML_SUFFIXES):
        return read_html_files(location, [location], open_stream, max_bytes)
    if os.path.isdir(location):
        return read_html_folder(location, max_bytes)
    wanted = ", ".join((*WARC_SUFFIXES, *JSONL_SUFFIXES, ".parquet", *HTML_SUFFIXES))
    return iter([DeadLetter(location, "", "unsupported_input", f"expected {wanted} or a folder")])


def read_jsonl(location: str, open_stream: Opener, max_bytes: int) -> Iterator[Item]:
    """One JSON object per line with a `text` field; `url`, `id` and `date` are optional.

    A line is read only up to the size cap: the rest of a longer one (a gzip bomb of a line
    with no newline) is skipped a block at a time, never held.
    """
    with open_stream(location) as raw:
        stream = gzip.GzipFile(fileobj=raw) if location.endswith(".gz") else raw
        number = 0
        try:
            while line := stream.readline(max_bytes + 1):
                number += 1
                if len(line) > max_bytes:
                    size = len(line) + _skip_line(stream, line)
                    yield DeadLetter(location, f"line {number}", "too_large", f"{size} bytes")
                elif line.strip():
                    yield _json_page(location, number, line)
        except (EOFError, OSError, zlib.error) as exc:
            yield DeadLetter(location, f"line {number + 1}", "truncated_gzip", str(exc))


def _skip_line(stream: BinaryIO, line: bytes) -> int:
    """Read past the end of a line begun with `line`; how many more bytes it had."""
    skipped = 0
    while not line.endswith(b"\n"):
        line = stream.readline(CHUNK)
        if not line:
            break
        skipped += len(line)
    return skipped


def _json_page(location: str, number: int, line: bytes) -> Item:
    item = f"line {number}"
    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return DeadLetter(location, item, "malformed_json", str(exc))
    if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
        return DeadLetter(location, item, "missing_text", "each line needs a string 'text'")
    return _document(location, item, doc)


def _document(location: str, item: str, doc: dict) -> Page:
    return Page(
        url=str(doc.get("url") or ""),
        source=location,
        record_id=str(doc.get("id") or item),
        date=str(doc.get("date") or ""),
        text=doc["text"],
    )


def read_parquet(location: str, open_stream: Opener, max_bytes: int) -> Iterator[Item]:
    """Rows with a string `text` column (`url`, `id`, `date` used when present)."""
    with open_stream(location) as stream:
        try:
            reader = pq.ParquetFile(stream)
            names = set(reader.schema_arrow.names)
            if "text" not in names or not pa.types.is_string(
                reader.schema_arrow.field("text").type
            ):
                yield DeadLetter(
                    location, "", "wrong_schema", f"needs a string 'text'; has {sorted(names)}"
                )
                return
            columns = [c for c in ("text", "url", "id", "date") if c in names]
            row = 0
            for batch in reader.iter_batches(columns=columns):
                for doc in batch.to_pylist():
                    row += 1
                    item = f"row {row}"
                    if not isinstance(doc["text"], str):
                        yield DeadLetter(location, item, "missing_text", "null text")
                    elif len(doc["text"]) > max_bytes:
                        yield DeadLetter(location, item, "too_large", f"{len(doc['text'])} chars")
                    else:
                        yield _document(location, item, doc)
        except (pa.ArrowException, OSError) as exc:
            yield DeadLetter(location, "", "broken_parquet", str(exc).splitlines()[0])


def read_html_folder(folder: str, max_bytes: int) -> Iterator[Item]:
    """Every .html/.htm file under a local folder, in path order; the folder's name is the host.
    A link to a page outside the folder is a dead letter, never read."""
    root = Path(folder)
    pages, outside = html_files(root)
    for link in outside:
        detail = f"links to {os.path.realpath(link)}"
        yield DeadLetter(folder, str(link.relative_to(root)), "link_outside_folder", detail)
    yield from read_html_files(folder, [str(p) for p in pages], open_local, max_bytes, root)


def read_html_files(
    source: str, paths: list[str], open_stream: Opener, max_bytes: int, root: Path | None = None
) -> Iterator[Item]:
    for path in paths:
        item = str(Path(path).relative_to(root)) if root else Path(path).name
        with open_stream(path) as stream:
            data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            yield DeadLetter(source, item, "too_large", f"more than {max_bytes} bytes")
        elif not data.strip():
            yield DeadLetter(source, item, "empty_page", path)
        else:
            host = root.name if root else ""
            url = f"{root.name}/{item}" if root else path
            yield Page(url=url, source=source, record_id=item, html=data, host=host)


def open_local(path: str) -> BinaryIO:
    return open(path, "rb")
