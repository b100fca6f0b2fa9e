"""The end-to-end pipeline as a Prefect 3 flow: mine code and text, combine, train, index,
evaluate, report.

Every stage is a task whose cache key is its content (flows/keys.py) and whose output folder is
named by that key, so a second run of an unchanged pipeline is all cache hits and any change
re-runs exactly the stages downstream of it. Transient failures (I/O, a lost worker) are retried
with backoff; a CptError (bad config, missing input, corrupt data) fails at once, naming the
stage. Training resumes from its last checkpoint when a run died mid-way.

    python -m flows.pipeline --preset configs/pipeline-demo.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import TaskRunContext
from prefect.transactions import get_transaction

from cpt_core.config import load_preset
from cpt_core.errors import CptError
from cpt_core.eval.report import family_tables
from cpt_core.pipeline import stages
from cpt_core.pipeline.config import MineStage, PipelineConfig
from flows.keys import dataset_identity, inputs_digest, model_identity, stage_key

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
    return Path(out) / area / get_transaction().key


def _task(key_fn):
    return task(cache_key_fn=key_fn, persist_result=True, retry_condition_fn=transient, **RETRY)


def _mine_key(_: TaskRunContext, p: dict) -> str:
    stage: MineStage = p["stage"]
    return stage_key(
        f"mine-{p['kind']}", inputs_digest(stage.inputs), stage.model_dump(mode="json")
    )


@_task(_mine_key)
def mine(kind: str, stage: MineStage, out: str) -> str:
    folder = _folder(out, "datasets")
    stages.mine_stage(kind, stage, folder)
    return str(folder)


def _combine_key(_: TaskRunContext, p: dict) -> str:
    return stage_key("combine", [dataset_identity(d) for d in p["datasets"]])


@_task(_combine_key)
def combine(datasets: list[str], out: str) -> str:
    folder = _folder(out, "datasets")
    stages.combine_stage([Path(d) for d in datasets], folder)
    return str(folder)


def _train_key(_: TaskRunContext, p: dict) -> str:
    preset = stages.repo_path(p["preset"]).read_text()
    return stage_key("train", dataset_identity(p["dataset"]), preset, p["overrides"])


@_task(_train_key)
def train(dataset: str, preset: str, overrides: dict, out: str) -> str:
    folder = _folder(out, "train")
    return str(stages.train_stage(Path(dataset), preset, overrides, folder))


def _index_key(_: TaskRunContext, p: dict) -> str:
    return stage_key(
        "index", model_identity(p["model"]), dataset_identity(p["dataset"]), p["documents"]
    )


@_task(_index_key)
def index(model: str, dataset: str, documents: int | None, out: str) -> str:
    folder = _folder(out, "index")
    return str(stages.index_stage(Path(model), Path(dataset), documents, folder))


def _evaluate_key(_: TaskRunContext, p: dict) -> str:
    config: PipelineConfig = p["config"]
    settings = [config.eval_profile, config.eval_overrides, config.eval_baselines]
    settings.append(config.eval_data.model_dump(mode="json"))
    return stage_key(
        "evaluate", model_identity(p["model"]), dataset_identity(p["code_pairs"]), settings
    )


@_task(_evaluate_key)
def evaluate(model: str, code_pairs: str, config: PipelineConfig) -> dict:
    folder = _folder(config.out, "eval")
    report, results = stages.evaluate_stage(Path(model), Path(code_pairs), config, folder)
    return {"report": str(report), "results": results}


@flow(name="cpt-pipeline", log_prints=True)
def pipeline(preset: str = "configs/pipeline-demo.yaml", overrides: dict | None = None) -> dict:
    config = load_preset(PipelineConfig, stages.repo_path(preset), **(overrides or {}))
    out = config.out
    code = mine.with_options(name="mine code")("code", config.code, out)
    text = mine.with_options(name="mine text")("text", config.text, out)
    dataset = combine([code, text], out)
    model = train(dataset, config.train, config.train_overrides, out)
    built = index(model, dataset, config.index_documents, out)
    evaluated = evaluate(model, code, config)
    summary = {
        "code_pairs": code,
        "text_pairs": text,
        "dataset": dataset,
        "model": model,
        "index": built,
        "report": evaluated["report"],
    }
    create_markdown_artifact(
        key=f"cpt-{config.name}-report",
        markdown=_artifact(summary, evaluated["results"]),
        description="cpt pipeline: results and where everything is",
    )
    print(f"report: {evaluated['report']}")
    return summary


def _artifact(summary: dict, results: dict) -> str:
    """The report's tables, then where every output of the run is."""
    lines = family_tables(results)
    lines += ["", *(f"- {name}: `{path}`" for name, path in summary.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="configs/pipeline-demo.yaml")
    args = parser.parse_args(argv)
    return pipeline(args.preset)


if __name__ == "__main__":
    main()
