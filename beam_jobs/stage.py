"""The pipeline's mining stage, run as a Beam job: locally, or on a cluster runner by preset.

The core describes the stage (`cpt_core.pipeline.config.MineStage`: inputs, miner preset,
runner); running it is Beam's business, so it lives here, with the adapters, and the Prefect
flow calls it. A remote runner's workers cannot write into this machine's run folder, so they
write the dataset under the runner's `output`, and the stage copies it back into the run folder
when the job is done: training, indexing and evaluation then read it locally.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from beam_jobs.dataset import finished
from beam_jobs.logs import quiet_beam
from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.errors import CptError
from cpt_core.locks import locked
from cpt_core.pipeline.config import MineStage
from cpt_core.pipeline.sources import resolve_source
from cpt_core.staging import atomic_dir, escapes

JOBS = {"code": "beam_jobs.extract_code_pairs", "text": "beam_jobs.extract_text_pairs"}


def mine_stage(kind: str, stage: MineStage, out: Path) -> Manifest:
    """Mine into `out`; on a remote runner the job writes to the runner's output and the
    dataset is copied back (a finished remote dataset is fetched, not mined again)."""
    with locked(out):
        if (out / MANIFEST_NAME).is_file():
            return Manifest.read(out)
        shutil.rmtree(out, ignore_errors=True)
        quiet_beam()
        target = stage.beam.target(out.name) if stage.beam.remote else str(out)
        if not finished(target):
            inputs = [resolve_source(spec) for spec in stage.inputs]
            mine = importlib.import_module(JOBS[kind]).mine
            overrides = dict(stage.overrides)
            mine(inputs, [], target, stage.config, overrides, beam_args=stage.beam.args())
        if stage.beam.remote:
            fetch_dataset(target, out)
        return Manifest.read(out)


def fetch_dataset(source: str, folder: Path) -> None:
    """Copy a finished dataset (from any Beam filesystem) into a local folder, whole or not
    at all (cpt_core.staging): an interrupted copy leaves nothing, and is redone."""
    prefix = source.rstrip("/") + "/"
    files = [m.path for m in FileSystems.match([prefix + "**"])[0].metadata_list]
    files.sort(key=lambda path: path.endswith("/" + MANIFEST_NAME))
    if not files or not files[-1].endswith("/" + MANIFEST_NAME):
        raise CptError(f"{source} has no {MANIFEST_NAME}: the mining job there did not finish")
    with atomic_dir(folder, replace=False) as staging:
        for path in files:
            local = staging / relative_key(path, prefix)
            local.parent.mkdir(parents=True, exist_ok=True)
            remote = FileSystems.open(path, compression_type="uncompressed")
            with remote, local.open("wb") as copy:
                shutil.copyfileobj(remote, copy, 1 << 24)


def relative_key(path: str, prefix: str) -> str:
    """`path` below `prefix`, refused when the key would write outside the folder (object
    stores allow `..` in keys)."""
    relative = path.removeprefix(prefix)
    if not path.startswith(prefix) or escapes(relative):
        raise CptError(f"refusing to copy {path}: its key would write outside {prefix}")
    return relative
