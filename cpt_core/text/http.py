"""The body of an HTTP response as a crawler stored it: status, headers, decoded payload.

WARC response records keep the raw HTTP message. Common Crawl stores bodies already
de-chunked and inflated, but other crawlers (wget, Heritrix) keep `Transfer-Encoding: chunked`
and `Content-Encoding: gzip` as sent, so both are undone here. A few MB of gzip, deflate or
brotli can inflate to gigabytes (a decompression bomb), so a body is inflated only up to the
size cap and a larger one is refused before it is ever held in memory.
"""

from __future__ import annotations

import email.parser
import zlib
from dataclasses import dataclass

import brotli


class MalformedHttp(ValueError):
    """The HTTP message cannot be parsed or its body cannot be decoded."""


class BodyTooLarge(ValueError):
    """The decoded body would be larger than the size cap."""


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


def parse_response(block: bytes, max_bytes: int) -> HttpResponse:
    """The response in a WARC block; its decoded body is at most `max_bytes` long."""
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
    body = inflate(body, headers.get("content-encoding", ""), max_bytes)
    return HttpResponse(int(parts[1]), headers, body)


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


def inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo Content-Encoding, producing at most `max_bytes`: more raises BodyTooLarge.

    Common Crawl (2014) kept `gzip` headers on bodies it had already inflated, so a "gzip" body
    without the gzip magic number is taken as it is.
    """
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip") and body[:2] == b"\x1f\x8b":
            out, done = _inflate_zlib(body, 47, max_bytes)  # gzip or zlib header, detected
        elif encoding == "deflate":
            try:
                out, done = _inflate_zlib(body, 15, max_bytes)
            except zlib.error:
                out, done = _inflate_zlib(body, -15, max_bytes)  # raw deflate, as some servers send
        elif encoding == "br":
            inflater = brotli.Decompressor()
            out = inflater.process(body, output_buffer_limit=max_bytes + 1)
            done = inflater.is_finished()
        else:
            return body
    except (zlib.error, brotli.error) as exc:
        raise MalformedHttp(f"cannot decode {encoding} body: {exc}") from None
    if len(out) > max_bytes:
        raise BodyTooLarge(f"{encoding} body inflates past max_record_bytes {max_bytes}")
    if not done:  # all input used and the stream not ended
        raise MalformedHttp(f"cannot decode {encoding} body: truncated stream")
    return out


def _inflate_zlib(body: bytes, wbits: int, max_bytes: int) -> tuple[bytes, bool]:
    """At most max_bytes + 1 bytes of output, and whether the stream ended."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, max_bytes + 1)
    return out, inflater.eof
