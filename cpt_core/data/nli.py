"""Pairs with a hard negative each, from NLI data or any triplet file, for supervised
fine-tuning (configs/nli-finetune.yaml reads the `negatives` column these fill).

Two layouts, told apart line by line:
- SNLI and MultiNLI as released (`sentence1`, `sentence2`, `gold_label`, jsonl): a premise with
  an entailed and a contradicted hypothesis gives (premise, entailment) with the contradiction
  as its hard negative, the supervised SimCSE recipe (Gao et al., 2021). Lines without a gold
  label (`-`: the annotators disagreed), neutral hypotheses and premises lacking either side are
  counted, not used.
- triplets from any source: `query` (or `anchor`, `x`), `positive` (or `y`), and `negatives` (a
  list) or `negative` (one text).
A line in neither layout is an error naming the file and line: it means the wrong file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cpt_core.data.jsonl import read_jsonl
from cpt_core.data.schema import english_text_pair
from cpt_core.errors import CptError

QUERY_KEYS = ("query", "anchor", "x")
POSITIVE_KEYS = ("positive", "y")


def nli_pairs(paths: list[Path], split: str, skipped: dict[str, int]) -> Iterator[dict]:
    """PAIR_SCHEMA rows with `negatives`, file by file; what is not used is counted in
    `skipped` by reason (a plain dict: it goes into the manifest as it is)."""
    for path in paths:
        premises: dict[str, dict[str, str]] = {}  # premise -> label -> first hypothesis
        for line_no, row in read_jsonl(path):
            if "sentence1" in row and "gold_label" in row:
                _collect(row, premises, skipped)
            else:
                yield _row(path, *_triplet(path, line_no, row), split)
        for premise, by_label in premises.items():
            if {"entailment", "contradiction"} <= by_label.keys():
                negative = [by_label["contradiction"]]
                yield _row(path, premise, by_label["entailment"], negative, split)
            else:
                _count(skipped, "premise_without_both_sides")


def _collect(row: dict, premises: dict[str, dict[str, str]], skipped: dict[str, int]) -> None:
    label = row["gold_label"]
    premise, hypothesis = str(row["sentence1"]).strip(), str(row.get("sentence2", "")).strip()
    if label not in ("entailment", "contradiction"):
        _count(skipped, "neutral" if label == "neutral" else "no_gold_label")
    elif not premise or not hypothesis:
        _count(skipped, "empty_sentence")
    elif label in premises.setdefault(premise, {}):
        _count(skipped, f"another_{label}")  # one hypothesis of each side per premise
    else:
        premises[premise][label] = hypothesis


def _count(skipped: dict[str, int], reason: str) -> None:
    skipped[reason] = skipped.get(reason, 0) + 1


def _triplet(path: Path, line_no: int, row: dict) -> tuple[str, str, list[str]]:
    query = next((row[k] for k in QUERY_KEYS if k in row), None)
    positive = next((row[k] for k in POSITIVE_KEYS if k in row), None)
    negatives = row.get("negatives", [row["negative"]] if "negative" in row else None)
    texts = [query, positive, *(negatives or [])]
    if (
        not negatives
        or not isinstance(negatives, list)
        or not all(isinstance(t, str) and t.strip() for t in texts)
    ):
        raise CptError(
            f"{path}:{line_no}: expected SNLI/MultiNLI fields (sentence1, sentence2, "
            "gold_label) or a triplet (query, positive, negatives: non-empty texts)"
        )
    return query, positive, negatives


def _row(path: Path, x: str, y: str, negatives: list[str], split: str) -> dict:
    return english_text_pair(f"nli:{path.name}", x, y, split, {"file": path.name}, negatives)
