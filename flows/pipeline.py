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

from flows.mining import mining
from flows.training import train_and_evaluate


@flow(name="cpt-pipeline", log_prints=True)
def pipeline(preset: str = "configs/pipeline-demo.yaml", overrides: dict | None = None) -> dict:
    mined = mining(preset, overrides, announce=False)  # trained on right here, not announced
    trained = train_and_evaluate(mined["dataset"], mined.get("code_pairs"), preset, overrides)
    return mined | trained


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="configs/pipeline-demo.yaml")
    return pipeline(parser.parse_args(argv).preset)


if __name__ == "__main__":
    main()
