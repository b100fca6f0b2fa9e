"""The GPU check runs where no GPU is: every row's code at tiny shapes, before a GPU is spent."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent


def test_the_gpu_check_dry_run_measures_every_row_it_can_on_a_cpu(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--dry-run", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["rows"]
    failed = {name: row["error"] for name, row in rows.items() if "error" in row}
    assert not failed, failed
    skipped = {name for name, row in rows.items() if "skipped" in row}
    assert skipped == {
        "fused-packed-8",
        "compiled-packed-8",
        "trainer-packed-compiled",
        "trainer-packed-bf16w",
    }
    for name in ("plain-4", "cached-8", "packed-8", "packed-16", "st-cached-8", "st-cached-16"):
        assert rows[name]["pairs_per_s"] > 0, name
    for name in ("plain-bf16w-8", "packed-bf16w-8", "packed-bf16w-16"):
        assert rows[name]["bf16_weights"] and rows[name]["pairs_per_s"] > 0, name
    assert rows["trainer-packed"]["tokens_per_s"] > 0
    assert len(rows["profile-packed-8"]["top"]) == 8
    assert len(rows["profile-packed-bf16w-8"]["top"]) == 8
    assert "| packed-16 | 16 | 4 |" in done.stdout and "MFU at 16" in done.stdout
