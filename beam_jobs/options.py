"""Pipeline options with local defaults: the pure-Python runner, one worker per core.

Beam's default runner first tries to download the Prism binary; offline that fails and falls
back with a warning. Naming the runner makes a local run work the same with or without a
network. Any `--runner` the user gives (DataflowRunner, FlinkRunner, SparkRunner) wins.
"""

from __future__ import annotations

import os

from apache_beam.options.pipeline_options import PipelineOptions


def local_defaults() -> list[str]:
    return [
        "--runner=FnApiRunner",
        f"--direct_num_workers={os.cpu_count() or 1}",
        "--direct_running_mode=multi_processing",
    ]


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """The user's options; with no runner named, the local defaults come first (later wins)."""
    if any(a.startswith("--runner") for a in beam_args):
        return PipelineOptions(beam_args)
    return PipelineOptions(local_defaults() + list(beam_args))
