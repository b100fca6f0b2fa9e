"""Read a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) in place.

Used two ways: as an evaluation set, and as a source of supervised (query, relevant document)
training pairs, e.g. SciFact's train qrels for the demo.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cpt_core.data.jsonl import read_jsonl
from cpt_core.data.schema import english_text_pair
from cpt_core.errors import CptError


@dataclass
class BeirSet:
    corpus: dict[str, str]  # doc id -> "title. text" as BEIR models embed it
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> relevance > 0


def read_beir(folder: str | Path, split: str) -> BeirSet:
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.is_file():
            raise CptError(f"{folder} is not a BEIR folder: missing {path.relative_to(folder)}")
    corpus = {
        row["_id"]: join_title(row.get("title", ""), row.get("text", ""))
        for _, row in read_jsonl(folder / "corpus.jsonl")
    }
    queries = {row["_id"]: row["text"] for _, row in read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for line_no, row in enumerate(reader, start=1):
            if line_no == 1 and not row[-1].lstrip("-").isdigit():
                continue  # header
            if len(row) != 3:
                raise CptError(f"{qrels_path}:{line_no}: expected 3 tab-separated columns")
            query, doc, score = row
            if int(score) > 0:
                qrels.setdefault(query, {})[doc] = int(score)
    missing = {d for rel in qrels.values() for d in rel} - corpus.keys()
    missing |= qrels.keys() - queries.keys()
    if missing:
        raise CptError(
            f"{qrels_path}: {len(missing)} ids not in the corpus/queries, e.g. {min(missing)}"
        )
    return BeirSet(corpus, queries, qrels)


def join_title(title: str, text: str) -> str:
    title, text = title.strip(), text.strip()
    return f"{title}. {text}" if title and text else title or text


def beir_pairs(folder: str | Path, split: str, pair_split: str) -> Iterator[dict]:
    """One PAIR_SCHEMA row per relevant (query, document) in `split`'s qrels."""
    data = read_beir(folder, split)
    name = Path(folder).name
    for query_id in sorted(data.qrels):
        for doc_id in sorted(data.qrels[query_id]):
            x, y = data.queries[query_id], data.corpus[doc_id]
            source = f"beir:{name}/{split}/{query_id}/{doc_id}"
            meta = {"query_id": query_id, "doc_id": doc_id}
            yield english_text_pair(source, x, y, pair_split, meta)
