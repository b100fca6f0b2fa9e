"""WARC and WET files, record by record, with nothing lost silently.

Intact files go through FastWARC (resiliparse's C++ reader, ~10x warcio). Real crawl files are
sometimes damaged, and strict readers then stop, or worse (warcio) stop without an error and
drop the rest of the file. When FastWARC raises, the file is read again by a tolerant reader
that (1) inflates gzip member by member and resynchronises on the next member after a corrupt
one, and (2) cuts records at "blank line + WARC/x.y" boundaries, trusting Content-Length only
where it agrees with them, so files whose CRLFs were rewritten to LF still give every record.
Records already yielded by the first pass are not yielded twice. Every loss becomes a dead
letter (truncated_record, corrupt_gzip, damaged_record, malformed_record, too_large, ...).

Memory stays bounded whatever the file holds: gzip is inflated a block at a time, a record is
buffered only up to the size cap (past it, the rest is skipped to the next boundary), and HTTP
bodies are inflated only up to the cap, so neither a record without a boundary nor a
decompression bomb can take the worker down.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.text.http import BodyTooLarge, MalformedHttp, parse_response
from cpt_core.text.page import Counted, Page

CHUNK = 1 << 20
HEAD_ROOM = 1 << 16  # a record's WARC headers, allowed on top of max_bytes of block
HTML_TYPES = ("text/html", "application/xhtml+xml")
TERMINATOR = re.compile(rb"(?:\r?\n){1,2}\Z")  # what ends a record
# a blank line, then a version line; it starts with a literal so that `re` looks only at line
# ends (~50x faster than "(?:\r?\n){2,}", which tries every byte of a record it is skipping)
RECORD_START = re.compile(rb"\n(?:\r?\n)+(?=WARC/\d\.\d+\r?\n)")
Item = Page | Counted | DeadLetter


def read_warc(path: str, open_stream: Callable[[str], BinaryIO], max_bytes: int) -> Iterator[Item]:
    """Every record of a WARC or WET file (gzipped or not), in order."""
    seen: set[str] = set()
    with open_stream(path) as stream:  # one that cannot be opened is read_pages' dead letter
        try:
            for record in ArchiveIterator(stream, parse_http=False):
                headers = {k.lower(): v for k, v in record.headers.asdict().items()}
                if record.content_length > max_bytes:
                    if _skip(record.reader) < record.content_length:
                        # a claimed size past the end of the file (10**12) hides every record
                        # after it: frame them by their boundaries instead
                        raise ValueError("the file ends inside an oversized record")
                    detail = f"{record.content_length} bytes > max_record_bytes {max_bytes}"
                    items = [_too_large(path, headers, detail)]
                else:
                    block = record.reader.read()  # may raise: then the re-read must yield it
                    complete = len(block) >= record.content_length
                    items = record_items(path, headers, block, complete, max_bytes)
                seen.add(headers.get("warc-record-id", ""))
                yield from items
            return
        except (OSError, ValueError):
            pass  # damaged compression or framing: read it again, tolerantly
    yield Counted("repaired", "file_reread_tolerantly")
    with open_stream(path) as stream:
        for item in tolerant_records(stream, path, max_bytes):
            if isinstance(item, tuple):
                headers, block, complete = item
                if headers.get("warc-record-id", "") not in seen:
                    yield from record_items(path, headers, block, complete, max_bytes)
            else:
                yield item


def record_items(
    source: str, headers: dict[str, str], block: bytes, complete: bool, max_bytes: int
) -> list[Item]:
    """One WARC record (lower-case headers, its block) -> a page, a count or a dead letter."""
    kind = headers.get("warc-type", "")
    ident = headers.get("warc-record-id", "")
    if not complete:
        declared = headers.get("content-length", "?")
        return [DeadLetter(source, ident, "truncated_record", f"{len(block)} of {declared} bytes")]
    url = headers.get("warc-target-uri", "").strip(
        "<>"
    )  # wget writes <url>, as WARC 1.1 drafts did
    date = headers.get("warc-date", "")
    if kind == "conversion":
        return [Page(url, source, ident, date, text=block.decode("utf-8", errors="replace"))]
    if kind != "response":
        return [Counted("skipped", f"{kind or 'untyped'}_record")]
    if not headers.get("content-type", "").startswith("application/http"):
        return [Counted("skipped", "not_http")]  # dns:, ftp: and other non-HTTP captures
    try:
        response = parse_response(block, max_bytes)
    except BodyTooLarge as exc:
        return [DeadLetter(source, ident, "too_large", str(exc))]
    except MalformedHttp as exc:
        return [DeadLetter(source, ident, "malformed_http", str(exc))]
    if not 200 <= response.status < 300:
        return [Counted("skipped", f"http_{response.status // 100}xx")]
    if response.mime_type not in HTML_TYPES:
        return [Counted("skipped", "not_html")]
    if not response.body.strip():
        return [DeadLetter(source, ident, "empty_page", url)]
    return [Page(url, source, ident, date, html=response.body, charset=response.charset)]


def _too_large(source: str, headers: dict[str, str], detail: str) -> DeadLetter:
    return DeadLetter(source, headers.get("warc-record-id", ""), "too_large", detail)


def _skip(reader: BinaryIO) -> int:
    """Read a record's block to its end a block at a time, keeping none of it; its length."""
    size = 0
    while piece := reader.read(CHUNK):
        size += len(piece)
    return size


def tolerant_records(
    stream: BinaryIO, source: str, max_bytes: int
) -> Iterator[tuple[dict[str, str], bytes, bool] | Counted | DeadLetter]:
    """(headers, block, complete) per record that can be framed; dead letters for the rest.

    A record with no boundary within max_bytes (+ HEAD_ROOM) is a too_large dead letter as soon
    as that is known; the rest of it is read and dropped, keeping only enough bytes to see a
    boundary that straddles two pieces.
    """
    buffer, scan_from, skipping = bytearray(), 0, False
    for piece in _inflate(stream, source):
        if isinstance(piece, DeadLetter):
            if buffer.strip() and not skipping:
                yield DeadLetter(source, "", "damaged_record", f"{len(buffer)} bytes before it")
            yield piece
            buffer.clear()
            scan_from, skipping = 0, False
            continue
        buffer += piece
        start = 0
        for match in RECORD_START.finditer(buffer, scan_from):
            if not skipping:
                yield from _frame(bytes(buffer[start : match.end()]), source, max_bytes, last=False)
            start, skipping = match.end(), False
        del buffer[:start]
        if not skipping and len(buffer) > max_bytes + HEAD_ROOM:
            head = _head(bytes(buffer[:HEAD_ROOM]), source)
            headers = {} if isinstance(head, DeadLetter) else head[0]
            detail = f"no record boundary within max_record_bytes {max_bytes}"
            yield _too_large(source, headers, detail)
            skipping = True
        if skipping:
            del buffer[:-16]
        scan_from = max(0, len(buffer) - 16)
    if buffer.strip() and not skipping:
        yield from _frame(bytes(buffer), source, max_bytes, last=True)


def _head(segment: bytes, source: str) -> tuple[dict[str, str], int] | DeadLetter:
    """A record's WARC headers (lower-case names) and where its block starts, or why not."""
    crlf, lf = segment.find(b"\r\n\r\n"), segment.find(b"\n\n")
    cut, gap = (crlf, 4) if crlf >= 0 and (lf < 0 or crlf <= lf) else (lf, 2)
    if not segment.startswith(b"WARC/") or cut < 0:
        return DeadLetter(
            source, "", "malformed_record", f"{len(segment)} bytes with no WARC header"
        )
    headers: dict[str, str] = {}
    for line in segment[:cut].decode("utf-8", errors="replace").splitlines()[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return DeadLetter(source, "", "malformed_warc_header", line[:80])
        headers[name.strip().lower()] = value.strip()
    return headers, cut + gap


def _frame(segment: bytes, source: str, max_bytes: int, last: bool):
    head = _head(segment, source)
    if isinstance(head, DeadLetter):
        yield head
        return
    headers, start = head
    body = segment[start:]
    if len(body) > max_bytes:
        yield _too_large(source, headers, f"{len(body)} bytes > max_record_bytes {max_bytes}")
        return
    declared = headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else -1
    if 0 <= size <= len(body):
        yield headers, body[:size], True
        if rest := body[size:].strip(b"\r\n"):  # e.g. a record whose version line is broken
            detail = f"{len(rest)} unframed bytes after {headers.get('warc-record-id', '?')}"
            yield DeadLetter(source, "", "malformed_record", detail)
    elif last:  # the file ends inside this record
        yield headers, body, False
    else:  # the next record starts here, so the declared length is wrong: trust the boundary
        yield Counted("repaired", "content_length")
        yield headers, TERMINATOR.sub(b"", body), True


def _inflate(stream: BinaryIO, source: str) -> Iterator[bytes | DeadLetter]:
    """The decompressed bytes of a (multi-member) gzip stream, or the raw bytes of a plain one.

    A corrupt member becomes a dead letter and reading resumes at the next gzip header;
    a stream that ends inside a member becomes a truncated_gzip dead letter.
    """
    pending = stream.read(CHUNK)
    if not pending.startswith(b"\x1f\x8b"):
        while pending:
            yield pending
            pending = stream.read(CHUNK)
        return
    inflater, inside, offset = zlib.decompressobj(wbits=31), False, 0
    while True:
        try:  # at most CHUNK bytes out per call: one MB of gzip can hold a GB of zeros
            out = inflater.decompress(pending, CHUNK)
        except zlib.error as exc:
            yield DeadLetter(source, f"byte {offset}", "corrupt_gzip", str(exc))
            pending, skipped = _next_member(pending[1:], stream)
            offset += 1 + skipped
            inflater, inside = zlib.decompressobj(wbits=31), False
            continue
        inside = inside or bool(pending)
        rest = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        offset += len(pending) - len(rest)
        if out:
            yield out
        if inflater.eof:
            inflater, inside = zlib.decompressobj(wbits=31), False
        pending = rest
        if not pending and not out:  # the inflater has given all it can from its input
            pending = stream.read(CHUNK)
            if not pending:
                if inside:
                    yield DeadLetter(source, f"byte {offset}", "truncated_gzip", "ends mid-member")
                return


def _next_member(data: bytes, stream: BinaryIO) -> tuple[bytes, int]:
    """Skip to the next gzip member header; (bytes from it on, bytes skipped)."""
    skipped = 0
    while True:
        at = data.find(b"\x1f\x8b\x08")
        if at >= 0:
            return data[at:], skipped + at
        more = stream.read(CHUNK)
        if not more:
            return b"", skipped + len(data)
        skipped += max(0, len(data) - 2)
        data = data[-2:] + more
