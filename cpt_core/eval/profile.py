"""Evaluation profiles (configs/eval-quick.yaml, configs/eval-full.yaml) and data locations.

A profile says how much of each set to use; `None` means all of it (the full profile, for a
GPU). Every cap is a fixed-seed subsample, and the profile is written into results.json, so a
figure always says what it was measured on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cpt_core.config import Strict, load_preset
from cpt_core.eval.senteval import TASKS
from cpt_core.paths import REPO, repo_path

Family = Literal["probe", "sts", "search", "code", "zeroshot", "knn"]
FAMILIES: tuple[Family, ...] = ("probe", "sts", "search", "code", "zeroshot", "knn")


class ProbeProfile(Strict):
    tasks: tuple[str, ...] = TASKS
    per_class: int | None = None  # examples kept per label in every split
    folds: int = 10  # outer and inner folds (SentEval: 10)


class StsProfile(Strict):
    pairs: int | None = None


class SearchProfile(Strict):
    queries: int | None = None
    documents: int | None = None  # relevant documents + distractors; None: the whole corpus


class CodeProfile(Strict):
    cosqa_queries: int | None = None
    cosqa_documents: int | None = None  # None: CoSQA's whole 6267-function pool
    candidates: int = 1000  # CodeSearchNet protocol: 1 right function among this many
    max_groups: int | None = None  # groups of `candidates` queries per language


class KnnProfile(Strict):
    k: int = 256
    train_per_class: int | None = None
    test_per_class: int | None = None  # SST-2 test, for k-NN and zero-shot


class EvalProfile(Strict):
    name: str = "full"
    seed: int = 0
    families: tuple[Family, ...] = FAMILIES
    max_length: int | None = None  # token cap on every text; None: the model's own
    batch_size: int = 32
    sentence_side: Literal["query", "document"] = "document"  # probe, STS, k-NN inputs
    probe: ProbeProfile = ProbeProfile()
    sts: StsProfile = StsProfile()
    search: SearchProfile = SearchProfile()
    code: CodeProfile = CodeProfile()
    knn: KnnProfile = KnnProfile()


class EvalData(Strict):
    """Where the sets are; unset ones default to ../shared/data (or $CPT_DATA)."""

    senteval: Path | None = None
    stsb: Path | None = None  # the sts-test.csv file
    sick: Path | None = None  # the SICK_test_annotated.txt file
    beir: tuple[Path, ...] = ()
    cosqa: Path | None = None
    code_pairs: tuple[str, ...] = ()  # pair shards (test split) or CodeSearchNet jsonl


def load_profile(profile: str, overrides: dict | None = None) -> EvalProfile:
    """`quick` or `full` (configs/eval-NAME.yaml), or a profile's YAML file, with dotted
    overrides like `search.queries=100`."""
    named = not profile.endswith((".yaml", ".yml"))
    path = REPO / "configs" / f"eval-{profile}.yaml" if named else repo_path(profile)
    return load_preset(EvalProfile, path, **(overrides or {}))
