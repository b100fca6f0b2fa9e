#!/usr/bin/env bash
# Multi-GPU training with cross-device negatives: every rank contrasts its share of the batch
# against the whole global batch (see cpt_core/dist/group.py).
#
#   infra/torchrun.sh NPROC --config configs/cpt-text-s.yaml --pairs 'data/pairs/*.parquet' --out runs/x
#
# data.batch_size is the global batch and must divide by NPROC. Add --resume to continue.
# Several nodes: set NNODES, NODE_RANK and MASTER_ADDR (torchrun's rendezvous) in the environment.
set -euo pipefail
nproc=${1:?usage: infra/torchrun.sh NPROC cpt-train-options...}
shift
exec torchrun \
  --nnodes "${NNODES:-1}" --node-rank "${NODE_RANK:-0}" \
  --master-addr "${MASTER_ADDR:-127.0.0.1}" --master-port "${MASTER_PORT:-29500}" \
  --nproc-per-node "$nproc" \
  -m cpt_core.cli train "$@"
