#!/usr/bin/env bash
# The trainer's GPU check (bench/gpu_check.py), in two halves.
#
# Here, on a machine with this checkout and the demo's mined data (`make run` first):
#   bash bench/gpu_check.sh prepare
# builds .gpu-kit/ (ignored by git, ~13 MB): SmolLM2-135M's config and tokenizer (no weights),
# the demo's combined pairs, and wheels of what the GPU machine's image lacks (pydantic, and
# liger-kernel for the fused-kernel row).
#
# There, on one H100/H200 with PyTorch installed, from the repository root (.gpu-kit carried):
#   bash bench/gpu_check.sh
# installs the wheels to /tmp/site and runs the check, within ~8 minutes; results are printed
# and written to $OUT (or ./gpu-check) as gpu_check.json, after every row.
#
# Before any GPU run, here, on any CPU (tests/test_gpu_check.py runs it too):
#   python bench/gpu_check.py --dry-run
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.gpu-kit

if [[ "${1:-}" == "prepare" ]]; then
  rm -rf "$KIT" && mkdir -p "$KIT/smollm2-135m" "$KIT/whl"
  model="${CPT_HOME:-$HOME/.cache/cpt}/models/smollm2-135m"
  cp "$model"/{config.json,tokenizer.json,tokenizer_config.json} "$KIT/smollm2-135m/"
  dataset=$(ls -d runs/pipeline-demo/datasets/combine-* | head -1)
  cp -r "$dataset" "$KIT/pairs"
  for spec in pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 \
              typing-inspection==0.4.5 liger-kernel==0.8.5; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$KIT/whl" "$spec"
  done
  du -sh "$KIT"
  exit 0
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "$KIT"/whl/*.whl
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 bench/gpu_check.py --kit "$KIT" "$@"
