"""The end-to-end pipeline as a Prefect 3 flow: mining, then training plus evaluation.

Both halves are flows of their own (flows/mining.py, flows/training.py), deployed apart in
infra/prefect.yaml (mining on a CPU pool, training on a GPU pool); here they run as subflows
of one run. Every stage is a cached, retried task (flows/tasks.py): a second run of an
unchanged pipeline is all cache hits, and any change re-runs exactly what depends on it.

    python -m flows.pipeline --preset configs/pipeline-demo.yaml
"""

from __future__ import annotations

import argparse

from prefect import flow

from cpt_core.pipeline.config import check_shared_data, load_pipeline
from flows.mining import mining
from flows.training import train_and_evaluate


@flow(name="cpt-pipeline", log_prints=True)
def pipeline(
    preset: str = "configs/pipeline-demo.yaml",
    overrides: dict | None = None,
    warm_start: bool = False,
) -> dict:
    """`warm_start`: training continues from the run's current model (flows/training.py)."""
    check_shared_data(load_pipeline(preset, overrides))  # before minutes of mining, not after
    mined = mining(preset, overrides, announce=False)  # trained on right here, not announced
    trained = train_and_evaluate(
        mined["dataset"], mined.get("code_pairs"), preset, overrides, warm_start
    )
    return mined | trained


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="configs/pipeline-demo.yaml")
    parser.add_argument("--warm-start", action="store_true", help="continue the current model")
    args = parser.parse_args(argv)
    return pipeline(args.preset, warm_start=args.warm_start)


if __name__ == "__main__":
    main()
