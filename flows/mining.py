"""Mining alone, as its own flow (and deployment, on a CPU work pool): code and text pairs,
then one combined dataset; with `announce`, new data is announced for retraining.

When the combined dataset's manifest differs from the one the current model was trained on
(and nobody announced it yet), the flow emits a `cpt.dataset.changed` event. The `retrain`
deployment in infra/prefect.yaml has a trigger on that event: it continues training the
current model on the new data, re-indexes, re-evaluates and keeps the better model. The event
is emitted once per dataset, so an unchanged rerun of mining retrains nothing.

Run alone: `prefect deployment run cpt-mining/mine` (infra/prefect.yaml), or
`mining("configs/pipeline-demo.yaml")` from Python.
"""

from __future__ import annotations

from prefect import flow
from prefect.events import emit_event

from cpt_core.errors import CptError
from cpt_core.pipeline.config import PipelineConfig, load_pipeline
from cpt_core.pipeline.registry import Registry
from flows.cache_keys import dataset_identity
from flows.tasks import combine, mine, stored

DATASET_CHANGED = "cpt.dataset.changed"


@flow(name="cpt-mining", log_prints=True)
def mining(
    preset: str = "configs/pipeline-demo.yaml",
    overrides: dict | None = None,
    announce: bool = True,
) -> dict:
    """Each miner the preset gives inputs to, then the combined dataset."""
    config = load_pipeline(preset, overrides)
    miners = {kind: config.miner(kind) for kind in ("code", "text")}
    mined = {
        f"{kind}_pairs": stored(mine, config, name=f"mine {kind}")(kind, stage, config.out)
        for kind, stage in miners.items()
        if stage.inputs
    }
    if not mined:
        raise CptError(f"preset {preset} gives no inputs to mine (code.inputs, text.inputs)")
    mined["dataset"] = stored(combine, config)(list(mined.values()), config.out)
    if announce:
        announce_if_new(config, preset, overrides or {}, mined)
    return mined


def announce_if_new(config: PipelineConfig, preset: str, overrides: dict, mined: dict) -> bool:
    """Emit DATASET_CHANGED for a dataset no model was trained on and nobody announced (under
    the registry's lock: two mining runs of one dataset announce it once)."""
    identity = dataset_identity(mined["dataset"])
    with Registry.updated(config.out) as registry:
        if not registry.needs_training(identity):
            print(f"dataset {identity[:12]} already trained on or announced: nothing to retrain")
            return False
        previous = registry.current.dataset if registry.current else None
        # code_pairs is always there (None for a text-only preset): the trigger's template
        # reads it
        payload = {"preset": preset, "overrides": overrides, "previous": previous}
        emit_event(
            event=DATASET_CHANGED,
            resource={
                "prefect.resource.id": f"cpt.dataset.{identity}",
                "cpt.pipeline": config.name,
            },
            payload=payload | {"code_pairs": None} | mined,
        )
        registry.announced.append(identity)
    print(f"new dataset {identity[:12]} (model trained on {str(previous)[:12]}): announced")
    return True
