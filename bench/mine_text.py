"""Benchmark the text miner against datatrove on the real crawl sample, one core each.

Ours, stage by stage in one process (no Beam): read (FastWARC, every record of every file),
extract (resiliparse main text), filter (language id, boilerplate, Gopher/C4 checks), dedupe
(MinHash signatures of the kept documents), pairs (SmolLM2 token counts, passages, rows).
datatrove, the same WARC files: its WarcReader (warcio) and its Trafilatura extractor, run as
its pipeline steps run them. Rates are per core; the ratio is ours over datatrove's for the
same work (read + extract). Extraction quality is compared on what survives the same filters:
documents kept and their words, for each extractor's text of the same pages.

    python bench/mine_text.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cpt_core.dedup.minhash import signature
from cpt_core.paths import shared_data
from cpt_core.text.config import TextMiningConfig
from cpt_core.text.extract import Undecodable, page_lines
from cpt_core.text.inputs import open_local, read_pages
from cpt_core.text.mine import Document, document_of, pairs_of
from cpt_core.text.page import Page
from cpt_core.text.tokens import tokenizer_json

CRAWL = shared_data("crawl")
WARCS = "*.warc.gz"  # the HTML crawl files (datatrove reads WET too, but extracts nothing there)


def timed(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def ours(files: list[Path], repeat: int) -> dict:
    config = TextMiningConfig()
    read_s, items = timed(
        lambda: [i for f in files for i in read_pages(str(f), open_local, config.max_record_bytes)],
        repeat,
    )
    pages = [i for i in items if isinstance(i, Page)]
    extract_s, _ = timed(lambda: [_lines(p) for p in pages], repeat)
    document_s, outs = timed(lambda: [o for p in pages for o in document_of(p, config)], repeat)
    documents = [o for o in outs if isinstance(o, Document)]
    dedupe_s, _ = timed(lambda: [signature(d.text) for d in documents], repeat)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json(config.tokenizer))

    def count(texts):
        return (
            [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
            if texts
            else []
        )

    pairs_s, rows = timed(
        lambda: [
            r for d in documents for r in pairs_of(d, count, config.chunks) if isinstance(r, dict)
        ],
        repeat,
    )
    return {
        "records": len(items),
        "pages": len(pages),
        "documents": len(documents),
        "pairs": len(rows),
        "words": sum(len(d.text.split()) for d in documents),
        "read": read_s,
        "extract": extract_s,
        "filter": document_s - extract_s,
        "dedupe": dedupe_s,
        "pairs_s": pairs_s,
    }


def _lines(page: Page) -> list[str]:
    try:
        return page_lines(page)
    except Undecodable:
        return []


def datatrove(folder: Path, repeat: int) -> dict:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    read_s, docs = timed(lambda: list(WarcReader(str(folder), glob_pattern=WARCS).run()), repeat)
    extract_s, extracted = timed(
        lambda: list(Trafilatura(favour_precision=True).run(iter(_copies(docs)))), repeat
    )
    config = TextMiningConfig()
    kept = []
    for doc in extracted:
        page = Page(doc.metadata.get("url", ""), "datatrove", doc.id, text=doc.text)
        kept += [o for o in document_of(page, config) if isinstance(o, Document)]
    words = sum(len(d.text.split()) for d in kept)
    return {
        "records": len(docs),
        "pages": len(docs),
        "documents": len(kept),
        "words": words,
        "read": read_s,
        "extract": extract_s,
    }


def _copies(docs):
    from datatrove.data import Document as DtDocument

    return [DtDocument(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per stage")
    args = parser.parse_args()
    files = sorted(CRAWL.glob(WARCS))
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    ours_ = ours(files, args.repeat)
    theirs = datatrove(CRAWL, args.repeat)
    table = Table(
        title=f"Text mining, one core: {len(files)} WARC files, {megabytes:.1f} MB gzipped"
    )
    for column in ("system", "stage", "items", "seconds", "items/s", "MB/s"):
        table.add_column(column, justify="left" if column in ("system", "stage") else "right")

    def row(system, stage, items, seconds):
        table.add_row(
            system,
            stage,
            f"{items:,}",
            f"{seconds:.3f}",
            f"{items / seconds:,.0f}",
            f"{megabytes / seconds:.1f}",
        )

    row("cpt", "read (records)", ours_["records"], ours_["read"])
    row("cpt", "extract (pages)", ours_["pages"], ours_["extract"])
    row("cpt", "filter (pages)", ours_["pages"], ours_["filter"])
    row("cpt", "dedupe (documents)", ours_["documents"], ours_["dedupe"])
    row("cpt", "pairs (documents)", ours_["documents"], ours_["pairs_s"])
    row("datatrove", "read (responses)", theirs["records"], theirs["read"])
    row("datatrove", "extract (pages)", theirs["pages"], theirs["extract"])
    ours_rw = ours_["read"] + ours_["extract"]
    theirs_rw = theirs["read"] + theirs["extract"]
    row("cpt", "read + extract", ours_["pages"], ours_rw)
    row("datatrove", "read + extract", theirs["pages"], theirs_rw)
    console = Console()
    console.print(table)
    mine_rate, their_rate = ours_["pages"] / ours_rw, theirs["pages"] / theirs_rw
    console.print(
        f"read + extract, pages/s per core: cpt {mine_rate:,.0f} vs datatrove "
        f"{their_rate:,.0f} = {mine_rate / their_rate:.1f}x"
    )
    console.print(
        f"after the same filters: cpt keeps {ours_['documents']} documents, "
        f"{ours_['words']:,} words; "
        f"datatrove+trafilatura {theirs['documents']} documents, {theirs['words']:,} words "
        f"({ours_['pairs']} pairs from ours)"
    )


if __name__ == "__main__":
    main()
