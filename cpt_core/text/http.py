"""The body of an HTTP response as a crawler stored it: status, headers, decoded payload.

WARC response records keep the raw HTTP message. Common Crawl stores bodies already
de-chunked and inflated, but other crawlers (wget, Heritrix) keep `Transfer-Encoding: chunked`
and `Content-Encoding: gzip` as sent, so both are undone here.
"""

from __future__ import annotations

import email.parser
import zlib
from dataclasses import dataclass

import brotli


class MalformedHttp(ValueError):
    """The HTTP message cannot be parsed or its body cannot be decoded."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def mime_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip(" \"'"):
                return value.strip(" \"'")
        return None


def parse_response(block: bytes) -> HttpResponse:
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")  # line endings rewritten to LF
    status_line, _, header_lines = head.partition(b"\n")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise MalformedHttp(f"bad status line {status_line[:60]!r}")
    message = email.parser.BytesHeaderParser().parsebytes(header_lines)
    headers = {k.lower(): str(v) for k, v in message.items()}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    return HttpResponse(int(parts[1]), headers, inflate(body, headers.get("content-encoding", "")))


def dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise MalformedHttp("chunked body ends inside a chunk header")
        size_field = body[pos:end].split(b";")[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise MalformedHttp(f"bad chunk size {size_field[:20]!r}") from None
        if size == 0:
            return bytes(out)
        out += body[end + 1 : end + 1 + size]
        pos = end + 1 + size
        if pos > len(body):
            raise MalformedHttp("chunked body is truncated")
        after = body.find(b"\n", pos)  # the CRLF after the chunk data
        if after < 0:  # without this check, find's -1 would restart the loop at byte 0
            raise MalformedHttp("chunked body is truncated")
        pos = after + 1


def inflate(body: bytes, encoding: str) -> bytes:
    """Undo Content-Encoding. Common Crawl (2014) kept `gzip` headers on bodies it had already
    inflated, so a "gzip" body without the gzip magic number is taken as it is."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip") and body[:2] == b"\x1f\x8b":
            return zlib.decompress(body, wbits=47)  # gzip or zlib header, detected
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, wbits=-15)  # raw deflate, as some servers send
        if encoding == "br":
            return brotli.decompress(body)
    except (zlib.error, brotli.error) as exc:
        raise MalformedHttp(f"cannot decode {encoding} body: {exc}") from None
    return body
