"""Mining runs where torch is not installed: the Dataflow worker image (infra/dataflow/Dockerfile)
installs the lock without dependencies, so no torch, and both Beam jobs must run there. Each job
runs in a fresh interpreter where `import torch` fails, as it does on that image."""

import json
import subprocess
import sys
import sysconfig

import pytest

from cpt_core.paths import REPO, shared_data

NO_TORCH = "import sys; sys.modules['torch'] = None  # import torch now fails, as without it\n"
LOCAL = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.mark.parametrize("job", ["extract_text_pairs", "extract_code_pairs"])
def test_a_mining_job_runs_without_torch(smollm2, tmp_path, job):
    """`smollm2`: the text job's tokenizer is fetched by then, as on the client that launches
    a Dataflow job (the one place that may need torch, to convert fetched weights)."""
    source = {
        "extract_text_pairs": str(shared_data("crawl", "wget-sample-0000.warc.gz")),
        "extract_code_pairs": sysconfig.get_paths()["stdlib"] + "/json",
    }[job]
    out = tmp_path / "pairs"
    argv = ["--input", source, "--output", str(out), *LOCAL]
    script = NO_TORCH + f"from beam_jobs.{job} import main\nmain({argv!r})\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "manifest.json").read_text())["counts"]["rows"] > 0


def test_the_worker_image_installs_the_lock_without_torch():
    steps = (REPO / "infra" / "dataflow" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --no-deps -r /tmp/requirements.lock" in steps
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert not [line for line in lock if line.startswith(("torch==", "nvidia-", "triton=="))]
