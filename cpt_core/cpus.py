"""How many CPUs this process may really use, which sizes local worker pools and thread counts.

`os.cpu_count()` counts the host's CPUs. In a container or under `taskset` a process may run on
fewer: its affinity mask says which, and a cgroup v2 CPU quota (what `docker run --cpus=2` and
Kubernetes CPU limits set) says how much time. Sizing pools by the host's count oversubscribes
the CPUs the process has, which slows every worker (joblib's loky counts the same way).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The affinity mask's size, capped by the cgroup's quota (rounded up), at least 1."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            count = min(count or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):  # no cgroup v2 here, or a format it does not write
        pass
    return max(1, count or 1)
