"""A web page as read from any input, before extraction; and what a reader counts instead."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Page:
    """One document: HTML bytes (WARC response, HTML file) or text (WET, JSONL, Parquet)."""

    url: str
    source: str  # the file it was read from
    record_id: str  # WARC-Record-ID, or the line, row or path inside `source`
    date: str = ""  # WARC-Date, ISO 8601; empty when unknown
    html: bytes | None = None
    text: str | None = None
    charset: str | None = None  # as declared by the HTTP header, a hint for detection
    host: str = ""  # empty: taken from the URL

    @property
    def site(self) -> str:
        """The host the per-host cap and the split are keyed on (lower case, no 'www.')."""
        host = self.host or (urlsplit(self.url).hostname or "")
        return host.lower().removeprefix("www.")


@dataclass(frozen=True)
class Counted:
    """Something a reader counts rather than yields: a record that is not a page by design
    (group "skipped": a request, an image) or one it had to repair (group "repaired")."""

    group: str
    reason: str
