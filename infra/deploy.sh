#!/usr/bin/env bash
# Create cpt's work pools (if missing) and register every deployment in infra/prefect.yaml
# with the Prefect server at PREFECT_API_URL. Run from anywhere; workers will run the flows
# from this checkout. Idempotent: a second run updates the deployments in place.
set -euo pipefail
cd "$(dirname "$0")/.."
prefect=${PREFECT:-.venv/bin/prefect}
for pool in cpt-cpu cpt-gpu; do
  "$prefect" work-pool inspect "$pool" >/dev/null 2>&1 ||
    "$prefect" work-pool create "$pool" --type process >/dev/null
done
# Every deployment that trains (weekly, train-evaluate, retrain) runs on cpt-gpu: one flow run
# at a time there, so a retrain never trains on the GPUs the weekly run is using.
"$prefect" work-pool set-concurrency-limit cpt-gpu 1 >/dev/null
"$prefect" --no-prompt deploy --all --prefect-file infra/prefect.yaml
