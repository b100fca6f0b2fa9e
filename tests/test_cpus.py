"""Worker pools are sized by the CPUs this process may use, not the host's count."""

import os

import pytest

from cpt_core.cpus import usable_cpus


@pytest.mark.parametrize(
    "cpu_max, cap",
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("1000 100000\n", 1)],
)
def test_a_cgroup_quota_caps_the_count(tmp_path, cpu_max, cap):
    (tmp_path / "cpu.max").write_text(cpu_max)
    mask = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path / "cpu.max") == (mask if cap is None else min(mask, cap))


def test_without_a_cgroup_the_affinity_mask_counts(tmp_path):
    assert usable_cpus(tmp_path / "absent") == len(os.sched_getaffinity(0))
    (tmp_path / "odd").write_text("not a quota")
    assert usable_cpus(tmp_path / "odd") == len(os.sched_getaffinity(0))
