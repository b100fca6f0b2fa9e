"""Serve the pipeline as a Prefect deployment on this machine: on a cron schedule, and on demand
from the UI, the CLI (`prefect deployment run cpt-pipeline/NAME`) or the API.

    python -m flows.serve --name nightly --cron "0 3 * * *" --preset configs/pipeline-demo.yaml

Needs a Prefect server (`prefect server start`, then PREFECT_API_URL); schedules do not run
against the temporary server a plain flow call starts. The process runs each flow run in a
subprocess of its own and keeps listening until stopped.
"""

from __future__ import annotations

import argparse

from prefect import serve

from flows.pipeline import pipeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="demo")
    parser.add_argument("--preset", default="configs/pipeline-demo.yaml")
    parser.add_argument("--cron", default=None, help="e.g. '0 3 * * *'; none: on demand only")
    args = parser.parse_args(argv)
    deployment = pipeline.to_deployment(
        name=args.name,
        cron=args.cron,
        parameters={"preset": args.preset},
        description="cpt: mine, combine, train, index, evaluate, report",
        tags=["cpt"],
    )
    serve(deployment, pause_on_shutdown=False)


if __name__ == "__main__":
    main()
