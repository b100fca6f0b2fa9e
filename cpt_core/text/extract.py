"""HTML (or plain text) to the lines of a page's main text.

resiliparse's html2text was chosen over trafilatura, measured on Debian's Python docs (120
pages, one core): 277 pages/s against 10, and it keeps each block (paragraph, list item, table
cell) on its own line, where trafilatura keeps the source's hard line wraps inside paragraphs.
bench/mine_text.py compares them on the crawl sample. Encodings are detected from the bytes
(resiliparse's detector, the HTTP charset as a fallback), since declared charsets are often
wrong on the real web.
"""

from __future__ import annotations

import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from cpt_core.text.page import Page

SPACES = re.compile(r"[ \t\u00a0\u200b]+")
BAD_CHARS = re.compile(r"[\ufffd\x00-\x08\x0e-\x1f]")


class Undecodable(ValueError):
    """The body is binary or decodes to mostly replacement characters."""


def page_lines(page: Page, max_bad_chars: float = 0.01) -> list[str]:
    """The page's main text as non-empty, whitespace-normalised lines (blocks), in order."""
    text = page.text if page.text is not None else html_text(page.html or b"", page.charset)
    bad = len(BAD_CHARS.findall(text))
    if text and bad > max_bad_chars * len(text):
        raise Undecodable(f"{bad} of {len(text)} characters are replacement or control characters")
    return [line for raw in text.splitlines() if (line := SPACES.sub(" ", raw).strip())]


def html_text(html: bytes, declared: str | None = None) -> str:
    if b"\x00" in html[:8192]:
        raise Undecodable("NUL bytes in an HTML body: binary content")
    encoding = detect_encoding(html) or declared or "utf-8"
    fallbacks = tuple(e for e in (declared, "utf-8", "cp1252") if e)
    markup = bytes_to_str(html, encoding, errors="replace", fallback_encodings=fallbacks)
    return extract_plain_text(markup, main_content=True, alt_texts=False, noscript=False)
