"""Conversions from a set's published files to the layout cpt reads: byte for byte what the
copies in ../shared/data hold. Each takes the folder of verified downloads and the set's
staging folder."""

from __future__ import annotations

import ast
import csv
import io
import json
import tokenize
import zipfile
from pathlib import Path

from cpt_core.errors import CptError

MAX_MEMBER_BYTES = 64 << 20  # the corpus member is 9 MB; a larger one is not the pinned zip


def scifact(downloads: Path, staged: Path) -> None:
    """BEIR's SciFact layout from claimverifier's zip and a BEIR-style copy's queries and
    qrels: the corpus rebuilt from the zip's CSV, the queries without their `metadata`, the
    test qrels as BEIR's 3 columns with a header (upstream: 4 fields, tabs and spaces)."""
    (staged / "corpus.jsonl").write_text(_corpus(downloads / "scifact.zip"), encoding="utf-8")
    queries = (downloads / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    lines = [json.loads(line) for line in queries if line.strip()]
    (staged / "queries.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in q.items() if k != "metadata"}) + "\n" for q in lines),
        encoding="utf-8",
    )
    rows = ["query-id\tcorpus-id\tscore"]
    for line in (downloads / "test.tsv").read_text(encoding="utf-8").splitlines():
        if fields := line.split():
            if len(fields) != 4:
                raise CptError(f"SciFact test qrels: expected 4 fields, got {line!r}")
            query, _, doc, score = fields
            rows.append(f"{query}\t{doc}\t{score}")
    (staged / "qrels").mkdir(exist_ok=True)
    (staged / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _corpus(archive: Path) -> str:
    """corpus_train.csv (doc_id, title, abstract, structured): one JSON line per document,
    its abstract's sentences stripped and joined by single spaces."""
    with zipfile.ZipFile(archive) as zipped:
        member = zipped.getinfo("corpus_train.csv")  # read by name: no path from the archive
        if member.file_size > MAX_MEMBER_BYTES:
            raise CptError(f"{archive}: corpus_train.csv is {member.file_size} bytes unpacked")
        text = zipped.read(member).decode("utf-8")
    lines, limit = [], csv.field_size_limit(MAX_MEMBER_BYTES)  # an abstract is one long field
    try:
        for row in csv.DictReader(io.StringIO(text, newline="")):
            abstract = " ".join(sentence.strip() for sentence in _sentences(row["abstract"]))
            document = {"_id": row["doc_id"], "title": row["title"], "text": abstract}
            lines.append(json.dumps(document))
    finally:
        csv.field_size_limit(limit)  # process-wide: put back
    return "".join(line + "\n" for line in lines)


def _sentences(printed: str) -> list[str]:
    """The strings of a printed NumPy array of strings, `['A.'\\n 'B.']`: string literals with
    no commas between them, each read on its own (reading the whole would join them)."""
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(printed).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    if not tokens or tokens[0].string != "[" or tokens[-1].string != "]":
        raise CptError(f"SciFact abstract is not a printed array: {printed[:60]!r}")
    inner = tokens[1:-1]
    if any(t.type != tokenize.STRING for t in inner):
        raise CptError(f"SciFact abstract holds more than strings: {printed[:60]!r}")
    return [ast.literal_eval(t.string) for t in inner]
