"""Which model a pipeline currently serves, which datasets have been announced for retraining,
and every candidate ever judged: one JSON file in the pipeline's output folder.

A candidate replaces the current model only if its evaluation score is not worse, both
measured in the same evaluation run (same sets, same samples). The score is the mean of each
task's headline metric (nDCG@10 for search, MRR for code, Spearman for STS, accuracy for the
rest) over the tasks both models were scored on. Rejected candidates are kept on record with
both scores, so the history shows every retraining, not only the winners.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean

from pydantic import BaseModel, Field

from cpt_core.errors import CptError
from cpt_core.locks import locked
from cpt_core.paths import repo_path
from cpt_core.staging import atomic_file

REGISTRY_NAME = "registry.json"


class ModelRecord(BaseModel):
    model: str  # the model folder
    dataset: str  # identity of the dataset it was trained on
    index: str | None = None  # the index folder built with it (what `cpt serve` searches)
    score: float | None = None
    report: str | None = None


class Candidate(BaseModel):
    candidate: ModelRecord
    current: ModelRecord | None
    kept: bool
    at: str


class Registry(BaseModel):
    current: ModelRecord | None = None
    announced: list[str] = Field(default_factory=list)  # dataset identities sent to retraining
    history: list[Candidate] = Field(default_factory=list)

    @classmethod
    def read(cls, out: str | Path) -> Registry:
        path = Path(out) / REGISTRY_NAME
        return cls.model_validate_json(path.read_text()) if path.is_file() else cls()

    def write(self, out: str | Path) -> None:
        """Written whole (cpt_core.staging): readers never see half a registry."""
        path = Path(out) / REGISTRY_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as staging:
            staging.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    @contextmanager
    def updated(cls, out: str | Path) -> Iterator[Registry]:
        """Read, change and write the registry under its lock: two judges (two pipelines on
        one run folder) each see the other's judgement instead of writing over it."""
        with locked(Path(out) / REGISTRY_NAME):
            registry = cls.read(out)
            yield registry
            registry.write(out)

    def needs_training(self, dataset: str) -> bool:
        """True for a dataset the current model was not trained on and nobody has announced."""
        trained = self.current.dataset if self.current else None
        return dataset != trained and dataset not in self.announced

    def judge(self, candidate: ModelRecord, current: ModelRecord | None) -> bool:
        """Record the candidate beside the model it competed with; promote it if not worse."""
        kept = current is None or (candidate.score or 0.0) >= (current.score or 0.0)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        self.history.append(Candidate(candidate=candidate, current=current, kept=kept, at=at))
        if kept:
            self.current = candidate
        return kept


def scores(results: dict, references: list[str]) -> dict[str, float | None]:
    """Each model's mean headline metric over the tasks *all* of them were scored on, so the
    means compare like with like (None for a model the results do not have)."""
    names = {m["reference"]: n for n, m in results["models"].items()}
    chosen = [names.get(r) for r in references]
    shared = [s for s in results["tasks"].items() if all(n in s[1] for n in chosen)]
    headline = results["headline"]
    return {
        reference: round(mean(s[name][headline[task.split("/")[0]]] for task, s in shared), 3)
        if name and shared
        else None
        for reference, name in zip(references, chosen, strict=True)
    }


def current_source(run_dir: Path) -> tuple[str, str | None]:
    """The registry's current (model, index), paths resolved as the pipeline wrote them."""
    path = Path(run_dir) / REGISTRY_NAME
    if not path.is_file():
        raise CptError(f"{run_dir} has no {REGISTRY_NAME}; run the pipeline (make run) first")
    try:
        current = Registry.read(run_dir).current
    except ValueError as exc:
        raise CptError(f"{path} is not a valid registry: {str(exc).splitlines()[0]}") from exc
    if current is None:
        raise CptError(f"{path} names no current model yet; the pipeline has not kept one")
    index = str(repo_path(current.index)) if current.index else None
    return str(repo_path(current.model)), index
