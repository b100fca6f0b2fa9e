"""A page in, its outcomes out: a document (then pairs), filtered reasons, dead letters.

Two pure steps with near-duplicate removal between them (it needs every document): `document_of`
extracts, language-tags and filters a page; `pairs_of` cuts a kept document into passages and
pairs each with the next. Every page and every passage pair lands in exactly one bucket.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered
from cpt_core.data.schema import pair_id
from cpt_core.data.split import split_for
from cpt_core.langid import identify
from cpt_core.text.chunk import ChunkConfig, TokenCounter, chunk, consecutive_pairs
from cpt_core.text.config import TextMiningConfig
from cpt_core.text.extract import Undecodable, page_lines
from cpt_core.text.filters import denied, document_reason, strip_boilerplate
from cpt_core.text.inputs import PAGE
from cpt_core.text.page import Page

LANGID_CHARS = 2000  # the identifier's answer is stable long before this; it costs linear time


@dataclass(frozen=True)
class Document:
    doc_id: str
    url: str
    host: str
    source: str
    record_id: str
    date: str
    language: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def document_of(page: Page, config: TextMiningConfig) -> Iterator[Document | Filtered | DeadLetter]:
    if page.url and denied(page.url, config.filters):
        yield Filtered("denied_url", unit=PAGE)
        return
    try:
        lines = page_lines(page)
    except Undecodable as exc:
        yield DeadLetter(page.source, page.record_id, "undecodable", str(exc))
        return
    if not lines:
        yield Filtered("no_text", unit=PAGE)
        return
    language, _ = identify("\n".join(lines)[:LANGID_CHARS])
    if config.languages and language not in config.languages:
        yield Filtered(f"language_{language}", unit=PAGE)
        return
    kept = strip_boilerplate(lines, config.filters)
    if len(kept) < len(lines):
        yield Filtered("boilerplate_lines", len(lines) - len(kept))
    if not kept:
        yield Filtered("no_text", unit=PAGE)
        return
    if reason := document_reason(kept, language, config.filters):
        yield Filtered(reason, unit=PAGE)
        return
    text = "\n".join(kept)
    yield Document(
        doc_id=hashlib.sha256(f"{page.url}\0{text}".encode()).hexdigest()[:24],
        url=page.url,
        host=page.site,
        source=page.source,
        record_id=page.record_id,
        date=page.date,
        language=language,
        lines=tuple(kept),
    )


def pairs_of(
    document: Document, count: TokenCounter, config: ChunkConfig
) -> Iterator[dict | Filtered]:
    passages = chunk(list(document.lines), count, config.max_tokens)
    kept, short, over_cap = consecutive_pairs(passages, config)
    if short:
        yield Filtered("short_passage", short)
    if over_cap:
        yield Filtered("pairs_per_document_cap", over_cap)
    if not kept:
        yield Filtered("no_pairs", unit=PAGE)  # too short for two passages worth pairing
    for i, j in kept:
        x, y = passages[i][0], passages[j][0]
        meta = {
            "url": document.url,
            "host": document.host,
            "date": document.date,
            "record_id": document.record_id,
            "file": document.source,
            "doc_id": document.doc_id,
            "chunks": [i, j],
            "passages": len(passages),
        }
        yield {
            "pair_id": pair_id("text", document.url or document.record_id, x, y),
            "kind": "text",
            "x": x,
            "y": y,
            "language": document.language,
            "source": document.url or f"{document.source}#{document.record_id}",
            "split": split_for(document.host),
            "meta": json.dumps(meta, sort_keys=True, ensure_ascii=False),
            "negatives": None,
        }
