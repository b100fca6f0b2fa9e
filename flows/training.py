"""Training plus evaluation, as its own flow (and deployment, on a GPU work pool): train,
build the index, evaluate beside the current model, keep whichever is not worse.

With `warm_start` (the `retrain` deployment, triggered by new data) training continues from
the current model instead of the preset's base model. The candidate and the current model are
evaluated in the same run, on the same sets, and the candidate replaces the current model only
if its score is not lower; both scores are recorded (registry.json in the run folder, and the
artifact) either way. A run that fails, crashes or is cancelled withdraws its dataset's
announcement, so the next mining of that data announces it again instead of never retraining.

With `hard_negatives.enabled` in the preset, a second round follows: the round-1 model (or
BM25) mines hard negatives for the training pairs (cpt_core/negatives), and round 2 continues
from round 1 on them. Both rounds are evaluated in the one run and judged in order, so round 2
is kept only if it scores no lower than the model round 1's judgement left current.

    python -m flows.training --preset configs/pipeline-demo.yaml --dataset runs/.../combine-...
"""

from __future__ import annotations

import argparse

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from cpt_core.eval.report import family_tables
from cpt_core.pipeline.config import PipelineConfig, load_pipeline
from cpt_core.pipeline.registry import ModelRecord, Registry, scores
from flows.cache_keys import dataset_identity
from flows.tasks import evaluate, index, negatives, stored, train


def withdraw_announcement(flow, flow_run, state) -> None:
    """Prefect's hook for a failed, crashed or cancelled run: its dataset is no longer taken."""
    parameters = flow_run.parameters
    config = load_pipeline(
        parameters.get("preset", "configs/pipeline-demo.yaml"), parameters.get("overrides")
    )
    identity = dataset_identity(parameters["dataset"])
    with Registry.updated(config.out) as registry:
        if identity in registry.announced:
            registry.announced.remove(identity)
            print(f"dataset {identity[:12]} was not trained on ({state.name}): announce it again")


@flow(
    name="cpt-train-evaluate",
    log_prints=True,
    on_failure=[withdraw_announcement],
    on_crashed=[withdraw_announcement],
    on_cancellation=[withdraw_announcement],
)
def train_and_evaluate(
    dataset: str,
    code_pairs: str | None = None,
    preset: str = "configs/pipeline-demo.yaml",
    overrides: dict | None = None,
    warm_start: bool = False,
) -> dict:
    config = load_pipeline(preset, overrides)
    current = Registry.read(config.out).current
    init = current.model if warm_start and current else None
    rounds = [stored(train, config)(dataset, config, init)]
    summary = {"dataset": dataset}
    if config.hard_negatives.enabled:  # round 2 continues round 1 on its mined hard negatives
        mined = stored(negatives, config)(rounds[0], dataset, config)
        rounds.append(stored(train, config, "train-round-2")(mined, config, rounds[0], True))
        summary |= {"hard_negatives": mined, "first_round": rounds[0]}
    sized = config.index_documents, config.index_minutes
    built = {model: stored(index, config)(model, dataset, *sized, config.out) for model in rounds}
    rivals = [current.model] if current and current.model not in rounds else []
    evaluated = stored(evaluate, config)([*reversed(rounds), *rivals], code_pairs, config)
    for model in rounds:  # round 2 is judged against whichever model round 1's judgement kept
        current = judge(config, model, built[model], current, dataset, evaluated)
    model = rounds[-1]
    summary |= {"model": model, "index": built[model], "report": evaluated["report"]}
    summary["current"] = current.model
    create_markdown_artifact(
        key=f"cpt-{config.name}-report",
        markdown=_artifact(summary, evaluated["results"], config.out),
        description="cpt: results, the model kept, and where everything is",
    )
    print(f"report: {evaluated['report']}")
    return summary


def judge(
    config: PipelineConfig,
    model: str,
    index: str,
    current: ModelRecord | None,
    dataset: str,
    evaluated: dict,
) -> ModelRecord:
    """Promote the new model unless the current one scored higher in the same evaluation
    (under the registry's lock: a second pipeline on the run folder sees this judgement);
    the registry's current model afterwards."""
    references = [model, *([current.model] if current else [])]
    score = scores(evaluated["results"], references)
    candidate = ModelRecord(
        model=model,
        dataset=dataset_identity(dataset),
        index=index,
        score=score[model],
        report=evaluated["report"],
    )
    if current:
        current = current.model_copy(update={"score": score[current.model]})
    with Registry.updated(config.out) as registry:
        if any(e.candidate.model == model for e in registry.history):
            return registry.current  # a rerun (all cache hits): this model was judged already
        kept = registry.judge(candidate, current)
        chosen = registry.current
    verdict = "kept" if kept else "not kept (the current model scored higher)"
    rival = f" vs current {current.score}" if current else ""
    print(f"candidate score {candidate.score}{rival}: {verdict}")
    return chosen


def _artifact(summary: dict, results: dict, out: str) -> str:
    """The report's tables, every judgement so far, then where every output of the run is."""
    lines = family_tables(results)
    lines += ["", "| candidate | its score | current | its score | kept |", "|---|---|---|---|---|"]
    for entry in Registry.read(out).history:
        rival = entry.current
        lines.append(
            f"| `{entry.candidate.model}` | {entry.candidate.score} "
            f"| `{rival.model if rival else '-'}` | {rival.score if rival else '-'} "
            f"| {entry.kept} |"
        )
    lines += ["", *(f"- {name}: `{path}`" for name, path in summary.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="configs/pipeline-demo.yaml")
    parser.add_argument("--dataset", required=True, help="the combined dataset folder")
    parser.add_argument("--code-pairs", help="mined code pairs: code search on their test split")
    parser.add_argument("--warm-start", action="store_true", help="continue the current model")
    args = parser.parse_args(argv)
    return train_and_evaluate(args.dataset, args.code_pairs, args.preset, None, args.warm_start)


if __name__ == "__main__":
    main()
