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
"$prefect" --no-prompt deploy --all --prefect-file infra/prefect.yaml
