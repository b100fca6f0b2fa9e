"""The SemEval STS 2012-2016 releases as published, and `read_sts`: any common STS layout.

A year's folder (STS12-en-test, ...) holds `STS.input.NAME.txt` (two tab-separated sentences a
line; 2015-2016 add source columns after them) beside `STS.gs.NAME.txt` (a score a line, blank
where a pair has no gold); 2016 names them `STS2016.input.NAME.txt`. As SentEval's STS12-16
loaders do, a pair with a blank gold line is skipped and a year is scored per file and "all".
Some released files carry stray non-UTF-8 bytes; they are read as U+FFFD and counted, since
refusing a published file would leave the year unreadable.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpt_core.errors import CptError
from cpt_core.eval.sts import StsSet, rank_correlation, read_sick, read_stsb

log = logging.getLogger(__name__)
INPUT, GOLD = ".input.", ".gs."
YEAR = re.compile(r"sts[-_ ]?(?:20)?(1[2-6])(?!\d)", re.IGNORECASE)


@dataclass(frozen=True)
class StsYear:
    """One release (a year's folder, or one input file of it): a set per input file, named by
    its data set ("MSRpar"), and per file what reading set aside."""

    name: str
    files: list[StsSet]
    skipped: list[dict[str, int]]  # "no_gold": pairs with a blank gold line; "undecodable"

    def sample(self, cap: int | None, seed: int) -> StsYear:
        """Each file capped on its own, as the profile caps every other STS set."""
        return StsYear(self.name, [f.sample(cap, seed) for f in self.files], self.skipped)

    def sizes(self) -> dict[str, dict[str, int]]:
        """Per task (file, then "all"): the pairs scored and the ones set aside."""
        out = {
            f"{self.name}/{f.name}": {"pairs": len(f.gold), **s}
            for f, s in zip(self.files, self.skipped, strict=True)
        }
        out[f"{self.name}/all"] = {
            "files": len(self.files),
            "pairs": sum(len(f.gold) for f in self.files),
            "no_gold": sum(s["no_gold"] for s in self.skipped),
        }
        return out


def read_sts(path: str | Path) -> StsSet | StsYear:
    """Any common STS layout: a SemEval year's folder or one of its input files (by name), the
    STS-B csv or SICK's file (by their first line: STS-B's score is field 5, SICK's field 4)."""
    path = Path(path)
    if path.is_dir() or INPUT in path.name:
        return read_semeval(path)
    if not path.is_file():
        raise CptError(f"STS set missing: {path}")
    first = next((line for line in _lines(path)[0] if line.strip()), "").split("\t")
    if len(first) >= 7 and _number(first[4]) is not None:
        return read_stsb(path)
    if first[0] == "pair_ID" or (len(first) >= 4 and _number(first[3]) is not None):
        return read_sick(path)
    raise CptError(
        f"{path}: not an STS layout cpt reads (a SemEval year folder or STS.input file, "
        "the STS-B csv, SICK)"
    )


def read_semeval(path: str | Path) -> StsYear:
    """A year's folder (every `*.input.*.txt` in it) or one input file, each with its gold
    file beside it."""
    path = Path(path)
    if path.is_dir():
        inputs = sorted(p for p in path.iterdir() if INPUT in p.name and p.suffix == ".txt")
        if not inputs:
            raise CptError(f"{path}: no STS.input.*.txt files")
    elif path.is_file():
        inputs = [path]
    else:
        raise CptError(f"STS set missing: {path}")
    read = [_read_pair(source) for source in inputs]
    folder = (path if path.is_dir() else path.parent).resolve()
    return StsYear(_year_name(folder, inputs[0]), [r[0] for r in read], [r[1] for r in read])


def year_spearman(year: StsYear, scored: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Spearman x100 of each file's cosines (`scored`, in `year.files` order), and "all" with
    SentEval's summaries: `spearman` is the files' figures averaged weighted by their pairs
    (SentEval's "wmean", its ALL line), `spearman_mean` the plain mean, `spearman_pooled` one
    Spearman over every pair of the year (the "all" of SimCSE's SentEval)."""
    golds = [f.gold for f in year.files]
    each = [rank_correlation(c, g) for c, g in zip(scored, golds, strict=True)]
    out = {
        f"{year.name}/{f.name}": {"spearman": 100 * rho}
        for f, rho in zip(year.files, each, strict=True)
    }
    pooled = rank_correlation(np.concatenate(scored), np.concatenate(golds))
    out[f"{year.name}/all"] = {
        "spearman": float(100 * np.average(each, weights=[len(g) for g in golds])),
        "spearman_mean": float(100 * np.mean(each)),
        "spearman_pooled": float(100 * pooled),
    }
    return out


def _read_pair(source: Path) -> tuple[StsSet, dict[str, int]]:
    gold_path = source.with_name(source.name.replace(INPUT, GOLD, 1))
    if not gold_path.is_file():
        raise CptError(f"{source}: no gold file {gold_path.name} beside it")
    (lines, bad_input), (scores, bad_gold) = _lines(source), _lines(gold_path)
    if len(lines) != len(scores):
        raise CptError(
            f"{source.name} has {len(lines)} lines but {gold_path.name} has {len(scores)}: "
            f"not a matching input/gold pair (in {source.parent})"
        )
    first, second, gold = [], [], []
    for n, (line, score) in enumerate(zip(lines, scores, strict=True), start=1):
        fields = line.split("\t")  # sources may follow the two sentences (2015, 2016)
        if len(fields) < 2:
            raise CptError(f"{source}:{n}: expected two tab-separated sentences")
        if not score.strip():
            continue
        value = _number(score)
        if value is None:
            raise CptError(f"{gold_path}:{n}: score '{score}' is not a number")
        first.append(fields[0].strip())
        second.append(fields[1].strip())
        gold.append(value)
    if not gold:
        raise CptError(f"{gold_path}: no pair has a gold score")
    name = source.name.split(INPUT, 1)[1].removesuffix(".txt")
    skipped = {"no_gold": len(lines) - len(gold)}
    if bad_input + bad_gold:
        skipped["undecodable"] = bad_input + bad_gold
    return StsSet(name, first, second, np.array(gold)), skipped


def _lines(path: Path) -> tuple[list[str], int]:
    """The file's lines (split on newlines only, unlike str.splitlines, so a sentence holding
    U+2028 stays one line) and how many undecodable byte sequences became U+FFFD."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - raw.count("\ufffd".encode())
    if bad:
        log.warning("%s: %d undecodable byte sequence(s) read as U+FFFD", path, bad)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return (lines[:-1] if lines[-1] == "" else lines), bad


def _year_name(folder: Path, source: Path) -> str:
    """STS12..STS16 from the files (STS2016.input...) or the folder (STS12-en-test), else the
    folder's own name."""
    found = YEAR.search(source.name.split(INPUT, 1)[0]) or YEAR.search(folder.name)
    return f"STS{found.group(1)}" if found else folder.name


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
