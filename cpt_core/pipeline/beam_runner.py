"""Where a pipeline's mining jobs run: Beam's local runner, or Dask/Dataflow/Flink/Spark by preset.

A remote runner's workers cannot write into this machine's run folder, so they write the
dataset under `output` (a gs:// or s3:// prefix, or a path every worker shares), and the
mining stage (beam_jobs/stage.py) copies it back into the run folder when the job is done:
training, indexing and evaluation then read it locally, wherever mining ran. infra/README.md
shows a Dataflow preset.
"""

from __future__ import annotations

from pydantic import model_validator

from cpt_core.config import Strict
from cpt_core.errors import CptError

LOCAL = "local"
NEEDS = {
    "DataflowRunner": ("project", "region", "temp_location"),
    "dask": ("dask_client_address",),
}


class BeamRunner(Strict):
    runner: str = LOCAL  # local, dask, DataflowRunner, FlinkRunner, SparkRunner, ...
    output: str | None = None  # where the job writes (gs://bucket/cpt/datasets); remote only
    project: str | None = None
    region: str | None = None
    temp_location: str | None = None
    staging_location: str | None = None
    sdk_container_image: str | None = None  # infra/dataflow/Dockerfile
    requirements_file: str | None = None  # the alternative to an image: pip installs at start
    max_num_workers: int | None = None
    dask_client_address: str | None = None  # the scheduler, tcp://HOST:8786 (runner: dask)
    options: tuple[str, ...] = ()  # any other Beam option, e.g. --experiments=use_runner_v2

    @model_validator(mode="after")
    def _complete(self) -> BeamRunner:
        if self.runner == LOCAL:
            return self
        missing = [f for f in ("output", *NEEDS.get(self.runner, ())) if getattr(self, f) is None]
        if missing:
            raise CptError(f"runner {self.runner} needs {', '.join(missing)} in the preset")
        return self

    @property
    def remote(self) -> bool:
        return self.runner != LOCAL

    def args(self) -> list[str]:
        """Beam pipeline options; none for the local runner (beam_jobs picks its defaults)."""
        if not self.remote:
            return list(self.options)
        named = self.model_dump(exclude={"runner", "output", "options"}, exclude_none=True)
        return [f"--runner={self.runner}", *(f"--{k}={v}" for k, v in named.items()), *self.options]

    def target(self, name: str) -> str:
        """Where a remote job writes the dataset called `name`."""
        return f"{self.output.rstrip('/')}/{name}"
