"""`scripts/setup.sh`, which both README commands run first: a failed install must fail it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cpt_core.paths import REPO


def test_a_failed_install_fails_set_up_prints_why_and_leaves_no_stamp(tmp_path):
    """Against this suite's own environment (torch already there), with a lock naming a
    package no index has: set-up must stop with pip's error, and no stamp may tell a later
    `make` that set-up is done."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts")
    for name in ("pyproject.toml", "requirements-mteb.lock"):
        shutil.copy(REPO / name, tmp_path)
    (tmp_path / "requirements.lock").write_text("cpt-no-such-package==0.0.1\n")
    venv = Path(sys.prefix)
    (tmp_path / ".venv").symlink_to(venv)
    stamps = set(venv.glob(".cpt-setup-*"))
    done = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},  # no network: the index has nothing
        timeout=600,
    )
    assert done.returncode != 0
    assert "No matching distribution found for cpt-no-such-package==0.0.1" in done.stdout
    assert set(venv.glob(".cpt-setup-*")) == stamps
