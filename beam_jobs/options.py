"""Pipeline options with local defaults: the pure-Python runner, one worker per core.

Beam's default runner first tries to download the Prism binary; offline that fails and falls
back with a warning. Naming the runner makes a local run work the same with or without a
network. Any `--runner` the user gives (DataflowRunner, FlinkRunner, SparkRunner, dask) wins.

Beam knows the DaskRunner only by its dotted path, so `--runner=dask` (or DaskRunner) is
translated. The DaskRunner needs a running scheduler (`--dask_client_address=tcp://HOST:8786`
or `--dask_scheduler_file=FILE`); without one it is refused in one line rather than left to
Beam, which would start a throwaway cluster inside this process, where the local runner does
the same job better. Unless `--dask_npartitions` or `--dask_partition_size` is given, the
inputs are cut into as many partitions as the cluster has worker threads, and more for a long
list (at most 128 inputs each, Beam's own default size); Beam's default alone would keep up to
128 inputs in one partition and so leave every worker but one idle on a small run.
"""

from __future__ import annotations

import difflib
import math

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from cpt_core.cpus import usable_cpus
from cpt_core.errors import CptError

LOCAL = "FnApiRunner"
DASK = "apache_beam.runners.dask.dask_runner.DaskRunner"
RUNNER_NAMES = {"dask": DASK, "DaskRunner": DASK}
PARTITION_SIZE = 128  # inputs per partition at most, unless the user says otherwise
CONNECT_SECONDS = 30  # to reach the scheduler when asking it for its workers


def local_defaults() -> list[str]:
    return [
        f"--runner={LOCAL}",
        f"--direct_num_workers={usable_cpus()}",
        "--direct_running_mode=multi_processing",
    ]


def pipeline_options(beam_args: list[str], inputs: int = 1) -> PipelineOptions:
    """The user's options for a job of `inputs` inputs; with no runner named, the local
    defaults come first (later wins)."""
    check_known(beam_args)
    if not any(a.startswith("--runner") for a in beam_args):
        return PipelineOptions(local_defaults() + list(beam_args))
    args = runner_named(list(beam_args))
    options = PipelineOptions(args)
    if options.view_as(StandardOptions).runner == DASK:
        dask = _check_dask(options)
        if not (dask.npartitions or dask.partition_size):
            threads = _cluster_threads(dask.address, dask.scheduler_file)
            partitions = max(threads, math.ceil(inputs / PARTITION_SIZE))
            options = PipelineOptions([*args, f"--dask_npartitions={min(partitions, inputs)}"])
    return options


def check_known(beam_args: list[str], own: tuple[str, ...] = ()) -> None:
    """Refuse an option no Beam options class defines: Beam itself only warns and drops it,
    so a typo (`--runer`, or cpt's own `--input-list` spelt Beam's way) would run with the
    default. The nearest name is suggested among Beam's and the caller's own options."""
    flags = beam_flags(dask=any("dask" in arg.lower() for arg in beam_args))
    for arg in beam_args:
        flag = arg.partition("=")[0]
        if flag.startswith("--") and flag not in flags:
            near = difflib.get_close_matches(flag, [*own, *flags], n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}?" if near else "neither cpt nor Beam has it"
            raise CptError(f"unknown option {flag}; {hint}")


def beam_flags(dask: bool = False) -> set[str]:
    """Every option string Beam's registered options classes define (the DaskRunner's are
    registered only once its module is imported)."""
    if dask:
        from apache_beam.runners.dask.dask_runner import DaskOptions  # noqa: F401

    flags: set[str] = set()
    PipelineOptions([]).get_all_options(
        add_extra_args_fn=lambda parser: flags.update(parser._option_string_actions)
    )
    return flags


def runner_named(beam_args: list[str]) -> list[str]:
    """The arguments with a short runner name (`--runner=dask`, `--runner dask`) spelled out."""
    named = []
    for i, arg in enumerate(beam_args):
        flag, equals, value = arg.partition("=")
        if flag == "--runner" and equals:
            arg = f"--runner={RUNNER_NAMES.get(value, value)}"
        elif i and beam_args[i - 1] == "--runner":
            arg = RUNNER_NAMES.get(arg, arg)
        named.append(arg)
    return named


def _check_dask(options: PipelineOptions):
    from apache_beam.runners.dask.dask_runner import DaskOptions  # registers the dask options

    dask = options.view_as(DaskOptions)
    if not (dask.address or dask.scheduler_file):
        raise CptError(
            "the dask runner needs a scheduler: start one (dask scheduler; dask worker ADDRESS)"
            " and give --dask_client_address=tcp://HOST:8786 or --dask_scheduler_file=FILE"
        )
    return dask


def _cluster_threads(address: str | None, scheduler_file: str | None) -> int:
    """How many tasks the cluster runs at once (its workers' threads), asked of the scheduler."""
    from distributed import Client

    where = address or scheduler_file
    try:
        with Client(address, scheduler_file=scheduler_file, timeout=CONNECT_SECONDS) as client:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
            workers = client.scheduler_info()["workers"].values()
    except TimeoutError:
        raise CptError(f"the dask scheduler at {where} has no workers") from None
    except OSError as exc:
        raise CptError(f"cannot reach the dask scheduler at {where}: {exc}") from None
    return sum(worker["nthreads"] for worker in workers)
