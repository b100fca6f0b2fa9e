"""Code-search sets: CoSQA's retrieval split, and (docstring, function) pairs for the
CodeSearchNet protocol, from cpt pair shards or CodeSearchNet-style jsonl.

CoSQA comes back as a search set (queries, corpus, qrels) over its 6267-function pool, the
shape BEIR sets have, so one search harness serves both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from cpt_core.data.beir import BeirSet
from cpt_core.data.jsonl import read_jsonl
from cpt_core.data.reader import resolve_shards
from cpt_core.errors import CptError

# CodeSearchNet's release names; its later Hugging Face copy prefixes them with func_
_DOC = ("docstring", "func_documentation_string")
_CODE = ("code", "func_code_string", "original_string")
_LANGUAGES = {"javascript": "JavaScript", "php": "PHP"}  # the rest read right capitalised


def read_cosqa(folder: str | Path, split: str = "test") -> BeirSet:
    folder = Path(folder)
    queries_path = folder / f"cosqa-retrieval-{split}-500.json"
    pool_path = folder / "code_idx_map.txt"
    pool = _json(pool_path)
    rows = _json(queries_path)
    if not isinstance(pool, dict) or not isinstance(rows, list) or not rows:
        raise CptError(f"{folder}: not a CoSQA retrieval folder (pool map + query list)")
    corpus = {str(index): code for code, index in pool.items()}
    queries, qrels = {}, {}
    for n, row in enumerate(rows):
        try:
            qid, target = str(row["idx"]), str(row["retrieval_idx"])
            queries[qid] = row["doc"]
        except (KeyError, TypeError) as exc:
            raise CptError(f"{queries_path}: entry {n} lacks idx/doc/retrieval_idx") from exc
        if target not in corpus:
            raise CptError(f"{queries_path}: entry {n} points at {target}, not in the pool")
        qrels[qid] = {target: 1}
    return BeirSet(corpus, queries, qrels)


def read_code_pairs(spec: str | Path, split: str = "test") -> dict[str, list[tuple[str, str]]]:
    """(query, function) pairs of one split, by programming language, in file order."""
    path = Path(spec)
    if path.suffix in (".jsonl", ".gz") and path.is_file():
        pairs = _csn_jsonl(path, split)
    else:
        pairs = _shards(spec, split)
    if not pairs:
        raise CptError(f"{spec}: no code pairs in split '{split}'")
    return pairs


def code_set_name(spec: str | Path, language: str) -> str:
    """What a report calls one language of a code-pair set. cpt's miner splits by repository,
    so the test split of mined shards is repositories training never saw; a jsonl file is a
    CodeSearchNet release."""
    shown = _LANGUAGES.get(language, language.capitalize())
    if Path(spec).suffix in (".jsonl", ".gz"):
        return f"CodeSearchNet {shown}"
    return f"mined {shown}, held-out repositories"


def _shards(spec: str | Path, split: str) -> dict[str, list[tuple[str, str]]]:
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for file in resolve_shards(spec):
        try:
            table = pq.read_table(file, columns=["x", "y", "language", "split", "kind"])
        except Exception as exc:  # pyarrow raises several types
            raise CptError(f"{file}: not a cpt pair shard ({str(exc).splitlines()[0]})") from exc
        mask = pc.and_(pc.equal(table["split"], split), pc.equal(table["kind"], "code"))
        for row in table.filter(mask).to_pylist():
            pairs[row["language"]].append((row["x"], row["y"]))
    return dict(pairs)


def _csn_jsonl(path: Path, split: str) -> dict[str, list[tuple[str, str]]]:
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for n, row in read_jsonl(path):
        if row.get("partition", split) != split:
            continue
        doc = next((row[k] for k in _DOC if row.get(k)), None)
        code = next((row[k] for k in _CODE if row.get(k)), None)
        if doc is None or code is None:
            raise CptError(f"{path}:{n}: needs a docstring and a code field")
        pairs[row.get("language", "unknown")].append((doc, code))
    return dict(pairs)


def _json(path: Path):
    if not path.is_file():
        raise CptError(f"CoSQA file missing: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CptError(f"{path}: not valid JSON ({exc})") from exc
