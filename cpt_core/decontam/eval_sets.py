"""The evaluation sets a training pair must not overlap, read as plain texts and functions.

These are the sets the project reports (SentEval, STS-B, SICK and any other STS set, the BEIR
folders such as SciFact, CoSQA, and any code-pair file of the profile), found where evaluation
finds them. Every text a set evaluates on counts, whatever the split or the profile's caps: a
figure measured on a sample today may be measured on the whole set tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cpt_core.data.beir import join_title
from cpt_core.data.jsonl import read_jsonl
from cpt_core.errors import CptError
from cpt_core.eval.code_sets import code_set_name, read_code_pairs, read_cosqa
from cpt_core.eval.profile import EvalData, Family
from cpt_core.eval.semeval_sts import StsYear, read_sts
from cpt_core.eval.senteval import TASKS, load_task


@dataclass
class EvalTexts:
    name: str
    texts: list[str] = field(default_factory=list)  # queries, documents, sentences, docstrings
    functions: list[tuple[str, str | None]] = field(default_factory=list)  # (code, language)


@dataclass
class ReportedSets:
    found: list[EvalTexts]
    unavailable: list[str]  # public sets not on this machine (`cpt data fetch` brings them)
    paths: list[Path]  # what was read, so a cache can key on its content


def reported_sets(data: EvalData, read: bool = True) -> ReportedSets:
    """Each set `data` names, or the public set of each family where it names none (read
    only with `read`; the paths alone key a cache). A public set missing here is listed as
    unavailable, not an error: mining does not need it, and the manifest says it was not
    checked. A set named explicitly must exist."""
    found, unavailable, paths = [], [], []
    for family, public in (("probe", "SentEval"), ("sts", "STS"), ("search", "BEIR")):
        try:
            located = data.located((family,))
        except CptError:
            unavailable.append(public)
            continue
        paths += located.read_by((family,))
        found += _read(located, family) if read else []
    try:
        located = data.located(("code",))
    except CptError:  # CoSQA missing: the code-pair files named still count
        unavailable.append("CoSQA")
        located = data.model_copy(update={"cosqa": None})
    paths += [p for p in (located.cosqa, *map(Path, located.code_pairs)) if p]
    found += _read(located, "code") if read else []
    return ReportedSets(found, unavailable, paths)


def _read(data: EvalData, family: Family) -> list[EvalTexts]:
    if family == "probe":
        return [
            EvalTexts(
                "SentEval", [t for task in TASKS for t in load_task(data.senteval, task).texts()]
            )
        ]
    if family == "sts":
        return [_sts(path) for path in (data.stsb, data.sick, *data.sts) if path]
    if family == "search":
        return [_beir(folder) for folder in data.beir]
    sets = [_cosqa(data.cosqa)] if data.cosqa else []
    for spec in data.code_pairs:
        for language, pairs in read_code_pairs(spec).items():
            texts = [query for query, _ in pairs]
            functions = [(code, language) for _, code in pairs]
            sets.append(EvalTexts(code_set_name(spec, language), texts, functions))
    return sets


def _sts(path: Path) -> EvalTexts:
    read = read_sts(path)
    sets = read.files if isinstance(read, StsYear) else [read]
    return EvalTexts(read.name, [t for s in sets for t in (*s.first, *s.second)])


def _beir(folder: Path) -> EvalTexts:
    """Every document and every query, of whichever split."""
    texts = [
        join_title(row.get("title", ""), row.get("text", ""))
        for _, row in read_jsonl(folder / "corpus.jsonl")
    ]
    texts += [row["text"] for _, row in read_jsonl(folder / "queries.jsonl")]
    return EvalTexts(_beir_name(folder), texts)


def _beir_name(folder: Path) -> str:
    return {"scifact": "SciFact"}.get(folder.name, folder.name)


def _cosqa(folder: Path) -> EvalTexts:
    cosqa = read_cosqa(folder)
    return EvalTexts(
        "CoSQA",
        list(cosqa.queries.values()),
        [(code, "python") for code in cosqa.corpus.values()],
    )
