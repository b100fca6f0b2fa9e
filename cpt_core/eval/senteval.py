"""SentEval's seven linear-probe tasks, read from SentEval's own data layout in place.

MR, CR, SUBJ and MPQA are one pool each (cross-validated); SST-2 has train/dev/test, TREC and
MRPC train/test. Files are decoded as SentEval decodes them (latin-1 for the binary sets and
TREC, UTF-8 with BOM for MRPC) so that sentences, and hence figures, match the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cpt_core.errors import CptError

BINARY = {
    "MR": ("rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("custrev.pos", "custrev.neg"),
    "SUBJ": ("subj.objective", "subj.subjective"),
    "MPQA": ("mpqa.pos", "mpqa.neg"),
}
TASKS = (*BINARY, "SST2", "TREC", "MRPC")
TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")


@dataclass(frozen=True)
class Split:
    """Inputs (sentences, or sentence pairs for MRPC) and integer labels."""

    inputs: list
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ProbeTask:
    name: str
    train: Split
    dev: Split | None = None  # regularisation chosen here when given, else inner folds
    test: Split | None = None  # None: k-fold cross-validation over train

    @property
    def pairs(self) -> bool:
        return self.name == "MRPC"

    def texts(self) -> list[str]:
        """Every sentence the task embeds."""
        splits = [s for s in (self.train, self.dev, self.test) if s is not None]
        items = [x for s in splits for x in s.inputs]
        return [t for pair in items for t in pair] if self.pairs else items


def load_task(root: str | Path, name: str) -> ProbeTask:
    root = Path(root)
    if name in BINARY:
        pos, neg = BINARY[name]
        positives = _lines(root / name / pos, "latin-1")
        negatives = _lines(root / name / neg, "latin-1")
        labels = np.array([1] * len(positives) + [0] * len(negatives))
        return ProbeTask(name, Split(positives + negatives, labels))
    if name == "SST2":
        folder = root / "SST" / "binary"
        train, dev, test = (_sst(folder / f"sentiment-{s}") for s in ("train", "dev", "test"))
        return ProbeTask(name, train, dev, test)
    if name == "TREC":
        return ProbeTask(
            name, _trec(root / name / "train_5500.label"), test=_trec(root / name / "TREC_10.label")
        )
    if name == "MRPC":
        train = _mrpc(root / name / "msr_paraphrase_train.txt")
        return ProbeTask(name, train, test=_mrpc(root / name / "msr_paraphrase_test.txt"))
    raise CptError(f"unknown SentEval task '{name}'; known: {', '.join(TASKS)}")


def cap_per_class(split: Split, cap: int | None, seed: int) -> Split:
    """A fixed-seed subsample with at most `cap` examples of each label (quick profile)."""
    if cap is None:
        return split
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(split.labels):
        members = np.flatnonzero(split.labels == label)
        keep.extend(rng.permutation(members)[:cap])
    keep = np.sort(np.array(keep, dtype=int))
    return Split([split.inputs[i] for i in keep], split.labels[keep])


def capped(task: ProbeTask, cap: int | None, seed: int) -> ProbeTask:
    splits = {k: getattr(task, k) for k in ("train", "dev", "test")}
    return replace(task, **{k: cap_per_class(v, cap, seed) for k, v in splits.items() if v})


def _lines(path: Path, encoding: str) -> list[str]:
    if not path.is_file():
        raise CptError(f"SentEval file missing: {path}")
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise CptError(f"{path} is not {encoding} text (byte {exc.start})") from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise CptError(f"SentEval file is empty: {path}")
    return lines


def _sst(path: Path) -> Split:
    inputs, labels = [], []
    for n, line in enumerate(_lines(path, "utf-8"), start=1):
        text, sep, label = line.rpartition("\t")
        if not sep or label not in ("0", "1"):
            raise CptError(f"{path}:{n}: expected 'sentence<TAB>0|1'")
        inputs.append(text.strip())
        labels.append(int(label))
    return Split(inputs, np.array(labels))


def _trec(path: Path) -> Split:
    inputs, labels = [], []
    for n, line in enumerate(_lines(path, "latin-1"), start=1):
        target, _, sentence = line.partition(" ")
        coarse = target.split(":")[0]
        if coarse not in TREC_CLASSES:
            raise CptError(f"{path}:{n}: unknown TREC class '{target}'")
        inputs.append(sentence.strip())
        labels.append(TREC_CLASSES.index(coarse))
    return Split(inputs, np.array(labels))


def _mrpc(path: Path) -> Split:
    inputs, labels = [], []
    for n, line in enumerate(_lines(path, "utf-8-sig")[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 5 or fields[0] not in ("0", "1"):
            raise CptError(f"{path}:{n}: expected 5 tab-separated MRPC columns")
        inputs.append((fields[3], fields[4]))
        labels.append(int(fields[0]))
    return Split(inputs, np.array(labels))
