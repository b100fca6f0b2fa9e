"""Evaluation profiles (configs/eval-quick.yaml, configs/eval-full.yaml) and data locations.

A profile says how much of each set to use; `None` means all of it (the full profile, for a
GPU). Every cap is a fixed-seed subsample, and the profile is written into results.json, so a
figure always says what it was measured on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cpt_core.config import Strict, load_preset
from cpt_core.errors import CptError
from cpt_core.eval.senteval import TASKS
from cpt_core.paths import REPO, repo_path, shared_data

Family = Literal["probe", "sts", "search", "code", "zeroshot", "knn"]
FAMILIES: tuple[Family, ...] = ("probe", "sts", "search", "code", "zeroshot", "knn")

BM25 = "bm25"  # the lexical baseline, named where a model reference goes


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
    queries_per_group: int | None = None  # None: every function of a group is asked for


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
    # Minutes one dense model may take on this machine: the caps shrink by a power of two
    # measured from its throughput (eval/sizing.py), the same for every model. None: as set.
    model_minutes: float | None = Field(None, gt=0)

    def scaled(self, factor: float) -> EvalProfile:
        """Every set cap times `factor` (at least 10, so each task still means something);
        code search keeps its candidates and asks fewer queries of each group. Caps that are
        None (whole sets) stay whole."""
        if factor >= 1:
            return self

        def cap(value: int | None) -> int | None:
            return None if value is None else min(value, max(10, round(value * factor)))

        code = self.code
        return self.model_copy(
            update={
                "probe": self.probe.model_copy(update={"per_class": cap(self.probe.per_class)}),
                "sts": StsProfile(pairs=cap(self.sts.pairs)),
                "search": SearchProfile(
                    queries=cap(self.search.queries), documents=cap(self.search.documents)
                ),
                "code": code.model_copy(
                    update={
                        "cosqa_queries": cap(code.cosqa_queries),
                        "cosqa_documents": cap(code.cosqa_documents),
                        "queries_per_group": cap(code.queries_per_group or code.candidates),
                    }
                ),
                "knn": self.knn.model_copy(
                    update={
                        "train_per_class": cap(self.knn.train_per_class),
                        "test_per_class": cap(self.knn.test_per_class),
                    }
                ),
            }
        )


class EvalData(Strict):
    """Where the sets are; unset ones are the public sets (cpt_core/paths.py)."""

    senteval: Path | None = None
    stsb: Path | None = None  # the sts-test.csv file
    sick: Path | None = None  # the SICK_test_annotated.txt file
    sts: tuple[Path, ...] = ()  # any STS layout (semeval_sts.read_sts), each its own task
    beir: tuple[Path, ...] = ()
    cosqa: Path | None = None
    code_pairs: tuple[str, ...] = ()  # pair shards (test split) or CodeSearchNet jsonl

    def located(self, families: tuple[Family, ...]) -> EvalData:
        """The sets `families` read, located: unset ones point into ../shared/data (only
        those, so a search-only evaluation needs no SentEval on disk)."""
        wanted, found = set(families), {}
        if wanted & {"probe", "zeroshot", "knn"}:  # SST-2 for zero-shot and k-NN is SentEval's
            found["senteval"] = self.senteval or shared_data("senteval")
        if "sts" in wanted and not self.sts:  # named STS sets replace the default two
            found["stsb"] = self.stsb or shared_data("sts", "stsbenchmark", "sts-test.csv")
            found["sick"] = self.sick or shared_data("sts", "sick", "SICK_test_annotated.txt")
        if "search" in wanted:
            found["beir"] = self.beir or (shared_data("beir", "scifact"),)
        if "code" in wanted:
            found["cosqa"] = self.cosqa or shared_data("code", "cosqa")
        return self.model_copy(update=found)

    def read_by(self, families: tuple[Family, ...]) -> list[Path]:
        """The files and folders an evaluation of `families` reads, so a cache can key on
        their content."""
        located, wanted = self.located(families), set(families)
        paths = [located.senteval] if wanted & {"probe", "zeroshot", "knn"} else []
        sts = [p for p in (located.stsb, located.sick, *located.sts) if p]
        paths += sts if "sts" in wanted else []
        paths += list(located.beir) if "search" in wanted else []
        paths += [located.cosqa, *map(Path, located.code_pairs)] if "code" in wanted else []
        return paths


def profile_path(profile: str) -> Path:
    """`quick` or `full` name configs/eval-NAME.yaml; anything ending in .yaml is a file."""
    if profile.endswith((".yaml", ".yml")):
        return repo_path(profile)
    path = REPO / "configs" / f"eval-{profile}.yaml"
    if not path.is_file():
        names = sorted(p.stem.removeprefix("eval-") for p in path.parent.glob("eval-*.yaml"))
        raise CptError(f"no eval profile '{profile}'; profiles: {', '.join(names)}, or a YAML file")
    return path


def load_profile(profile: str, overrides: dict | None = None) -> EvalProfile:
    """A profile (`quick`, `full` or a YAML file) with dotted overrides like
    `search.queries=100`."""
    return load_preset(EvalProfile, profile_path(profile), **(overrides or {}))
