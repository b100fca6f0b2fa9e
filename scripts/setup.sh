#!/usr/bin/env bash
# Creates .venv with the pinned stack. torch goes in first, alone: asking pip for plain `torch`
# (or letting another package ask) pulls several GB of CUDA wheels; exactly 2.13.0 resolves to the
# CPU wheel on disk here and to the CUDA build on a GPU machine. Re-running is a no-op unless a
# lock file or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.cpt-setup-$(cat requirements.lock requirements-mteb.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip's own exit status decides (pipefail: a failed install fails set-up, prints pip's error and
# leaves no stamp); only the "Location ... is ignored" warnings of an extra index are filtered
pip() {
  .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
}
echo "[setup] installing torch==2.13.0" >&2
pip install torch==2.13.0
echo "[setup] installing pinned dependencies (requirements.lock, requirements-mteb.lock)" >&2
pip install -r requirements.lock -r requirements-mteb.lock -c <(echo torch==2.13.0)
pip install --no-deps -e .
.venv/bin/python -m pip check >&2
rm -f .venv/.cpt-setup-*
touch "$stamp"
