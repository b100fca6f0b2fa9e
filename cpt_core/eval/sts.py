"""Sentence-similarity sets (STS Benchmark, SICK-R): sentence pairs with gold scores.

Both are read in their released layouts: STS-B's tab-separated csv (score in column 5, the
sentences in 6 and 7, some rows carrying extra source columns after them) and SICK's
SemEval-2014 files (pair id, sentence A, sentence B, relatedness, entailment).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpt_core.errors import CptError


@dataclass(frozen=True)
class StsSet:
    name: str
    first: list[str]
    second: list[str]
    gold: np.ndarray

    def sample(self, cap: int | None, seed: int) -> StsSet:
        if cap is None or cap >= len(self.gold):
            return self
        keep = np.sort(np.random.default_rng(seed).permutation(len(self.gold))[:cap])
        pick = [int(i) for i in keep]
        return StsSet(
            self.name,
            [self.first[i] for i in pick],
            [self.second[i] for i in pick],
            self.gold[keep],
        )


def read_stsb(path: str | Path) -> StsSet:
    rows = [(f[5], f[6], f[4]) for f in _rows(Path(path), min_fields=7)]
    return _build("STS-B", Path(path), rows)


def read_sick(path: str | Path) -> StsSet:
    rows = [(f[1], f[2], f[3]) for f in _rows(Path(path), min_fields=4)]
    if rows and not _is_number(rows[0][2]):
        rows = rows[1:]  # the released files with a header line
    return _build("SICK-R", Path(path), rows)


def spearman(first: np.ndarray, second: np.ndarray, gold: np.ndarray) -> float:
    """Spearman x 100 between the pairs' cosines and gold."""
    return 100 * rank_correlation(cosines(first, second), gold)


def rank_correlation(scores: np.ndarray, gold: np.ndarray) -> float:
    """Spearman's rho. scipy.stats is imported here, not with the module: the miners read the
    STS sets (to keep them out of training) without scoring them, and need no scipy."""
    from scipy.stats import spearmanr

    return float(spearmanr(scores, gold).statistic)


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Each pair's cosine: the rows are unit vectors, so their dot products."""
    return np.einsum("ij,ij->i", first, second)


def _rows(path: Path, min_fields: int) -> list[list[str]]:
    if not path.is_file():
        raise CptError(f"similarity file missing: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CptError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < min_fields:
            raise CptError(f"{path}:{n}: expected at least {min_fields} tab-separated fields")
        rows.append(fields)
    return rows


def _build(name: str, path: Path, rows: list[tuple[str, str, str]]) -> StsSet:
    if not rows:
        raise CptError(f"{path}: no sentence pairs")
    bad = next((n for n, r in enumerate(rows, start=1) if not _is_number(r[2])), None)
    if bad:
        raise CptError(f"{path}: pair {bad} has a non-numeric score '{rows[bad - 1][2]}'")
    first, second, gold = zip(*rows, strict=True)
    return StsSet(name, list(first), list(second), np.array(gold, dtype=float))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
