"""A dask.distributed cluster of real processes on this machine: a scheduler and N workers.

What the DaskRunner tests and `bench/mine_scale.py` run the mining jobs against: separate
processes talking TCP on 127.0.0.1, as on a real cluster, not threads in the caller. Each
process starts in `folder` (so a relative path resolved by a worker would miss, as it would on
a cluster) and logs there; the scheduler is found through a scheduler file, not a fixed port.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from distributed import Client

START_SECONDS = 60


@contextmanager
def local_cluster(
    workers: int, folder: Path, env: dict[str, str] | None = None
) -> Iterator[Client]:
    """A client of a fresh scheduler with `workers` single-threaded workers, all up; on exit
    the scheduler stops its workers and itself, and a process that does not is killed."""
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)  # a stale one would send the client to a dead address
    dask = [sys.executable, "-m", "dask"]
    where = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
    commands = [[*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", *where]]
    commands += [[*dask, "worker", "--nworkers", "1", "--nthreads", "1", *where]] * workers
    with ExitStack() as logs:
        processes = []
        for number, command in enumerate(commands):
            log = logs.enter_context((folder / f"process-{number}.log").open("w"))
            processes.append(
                subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        client = None
        try:
            client = Client(scheduler_file=str(scheduler_file), timeout=START_SECONDS)
            client.wait_for_workers(workers, timeout=START_SECONDS)
            yield client
        finally:
            if client is not None:
                client.shutdown()
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
