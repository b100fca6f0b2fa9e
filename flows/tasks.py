"""The pipeline's stages as Prefect tasks: cached by content, retried when transient.

A task's cache key is its content (flows/cache_keys.py) and its output folder is named by that key,
so a rerun of unchanged work is a cache hit and any change lands in a new folder. Transient
failures (I/O, a lost worker) are retried with backoff; a CptError (bad config, missing input,
corrupt data) fails at once, naming the stage. Results go to the preset's result storage (a
Prefect storage block) or, by default, Prefect's local folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prefect import Task, get_run_logger, task
from prefect.context import TaskRunContext
from prefect.transactions import get_transaction

from beam_jobs.stage import mine_stage
from cpt_core.errors import CptError
from cpt_core.pipeline import stages
from cpt_core.pipeline.config import MineStage, PipelineConfig
from flows.cache_keys import (
    dataset_identity,
    evaluate_parts,
    mine_parts,
    model_identity,
    negatives_parts,
    second_round_length,
    stage_key,
    train_parts,
)

RETRY = {"retries": 2, "retry_delay_seconds": [5, 30]}


def transient(task, task_run, state) -> bool:
    """Retry anything but a CptError: those are the user's to fix, not the network's."""
    try:
        state.result()
    except CptError:
        return False
    except Exception:  # any other failure may pass on a second try
        return True
    return False


def _folder(out: str, area: str) -> Path:
    """The running task's output folder, named by the cache key Prefect computed for it (the
    key hashes input files and weights, so it is computed once, not again here)."""
    key = get_transaction().key
    if key is None:  # Prefect logs the key function's error and runs the task regardless
        raise CptError(f"no cache key, so no {area} folder: see the error logged above")
    return Path(out) / area / key


def _task(key_fn):
    """Results persist as JSON, never pickle: a shared result store (a bucket several workers
    read) must not be a way to run code, and every stage returns paths and plain results."""
    return task(
        cache_key_fn=key_fn,
        persist_result=True,
        result_serializer="json",
        retry_condition_fn=transient,
        **RETRY,
    )


def stored(chosen: Task, config: PipelineConfig, name: str | None = None) -> Callable:
    """The task with the preset's result storage (if it names one), called so that a cached
    result naming a folder that is gone (`rm -rf runs`, a copied result store) runs the stage
    again instead of handing later stages a path to nothing."""
    options = {"name": name} if name else {}
    if config.result_storage is not None:
        options["result_storage"] = config.result_storage
    chosen = chosen.with_options(**options) if options else chosen

    def call(*args, **kwargs):
        result = chosen(*args, **kwargs)
        if (gone := _missing(result)) is None:
            return result
        get_run_logger().warning(
            "%s: its cached result names %s, which is gone; running it again", chosen.name, gone
        )
        return chosen.with_options(refresh_cache=True)(*args, **kwargs)

    return call


def _missing(result: str | dict) -> str | None:
    """The path a stage's result names (a folder, a model, or a report) if it does not exist."""
    path = result["report"] if isinstance(result, dict) else result
    return None if Path(path).exists() else path


def _mine_key(_: TaskRunContext, p: dict) -> str:
    return stage_key(f"mine-{p['kind']}", p["out"], *mine_parts(p["kind"], p["stage"]))


@_task(_mine_key)
def mine(kind: str, stage: MineStage, out: str) -> str:
    folder = _folder(out, "datasets")
    mine_stage(kind, stage, folder)
    return str(folder)


def _combine_key(_: TaskRunContext, p: dict) -> str:
    return stage_key("combine", p["out"], [dataset_identity(d) for d in p["datasets"]])


@_task(_combine_key)
def combine(datasets: list[str], out: str) -> str:
    folder = _folder(out, "datasets")
    stages.combine_stage([Path(d) for d in datasets], folder)
    return str(folder)


def _train_key(_: TaskRunContext, p: dict) -> str:
    parts = train_parts(p["config"], p["dataset"], p["init"], p.get("second_round", False))
    return stage_key("train", p["config"].out, *parts)


@_task(_train_key)
def train(
    dataset: str, config: PipelineConfig, init: str | None = None, second_round: bool = False
) -> str:
    """Train on every device the worker has; from `init` (an earlier model) when given. The
    second round trains on mined hard negatives, with the preset's round-2 overrides."""
    folder = _folder(config.out, "train")
    model = stages.train_stage(
        Path(dataset),
        config.train,
        config.training(second_round),
        folder,
        init=Path(init) if init else None,
        devices=config.train_devices,
    )
    return str(model)


def _negatives_key(_: TaskRunContext, p: dict) -> str:
    parts = negatives_parts(p["config"], p["model"], p["dataset"])
    return stage_key("negatives", p["config"].out, *parts)


@_task(_negatives_key)
def negatives(model: str, dataset: str, config: PipelineConfig) -> str:
    """The dataset's training pairs with hard negatives from the round-1 model's ranking."""
    folder = _folder(config.out, "datasets")
    length = second_round_length(config)
    stages.negatives_stage(Path(model), Path(dataset), config.hard_negatives, length, folder)
    return str(folder)


def _index_key(_: TaskRunContext, p: dict) -> str:
    parts = model_identity(p["model"]), dataset_identity(p["dataset"])
    return stage_key("index", p["out"], *parts, p["documents"], p["minutes"])


@_task(_index_key)
def index(model: str, dataset: str, documents: int | None, minutes: float | None, out: str) -> str:
    folder = _folder(out, "index")
    return str(stages.index_stage(Path(model), Path(dataset), documents, minutes, folder))


def _evaluate_key(_: TaskRunContext, p: dict) -> str:
    parts = evaluate_parts(p["config"], p["models"], p["code_pairs"])
    return stage_key("evaluate", p["config"].out, *parts)


@_task(_evaluate_key)
def evaluate(models: list[str], code_pairs: str | None, config: PipelineConfig) -> dict:
    """The models side by side on the evaluation suite (and on the held-out split of the mined
    code pairs, when there are some); the report and its results."""
    folder = _folder(config.out, "eval")
    chosen = [Path(m) for m in models]
    pairs = Path(code_pairs) if code_pairs else None
    report, results = stages.evaluate_stage(chosen, pairs, config, folder)
    return {"report": str(report), "results": results}
