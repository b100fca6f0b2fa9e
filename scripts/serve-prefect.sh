#!/usr/bin/env bash
# Everything cpt's deployments need on this machine: a Prefect server on 127.0.0.1:4200 (UI and
# API, SQLite under $PREFECT_HOME), the deployments of infra/prefect.yaml with their schedules
# and the retraining trigger, and one worker per work pool (cpt-cpu, cpt-gpu). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:4200/api}
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
.venv/bin/prefect server start --host 127.0.0.1 --port 4200 &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
for _ in $(seq 120); do
  curl -sf "$PREFECT_API_URL/health" >/dev/null && break
  sleep 1
done
curl -sf "$PREFECT_API_URL/health" >/dev/null || { echo "prefect server did not start" >&2; exit 1; }
infra/deploy.sh
.venv/bin/prefect worker start --pool cpt-cpu &
.venv/bin/prefect worker start --pool cpt-gpu &
echo "[serve] UI: http://127.0.0.1:4200  deployments: cpt-pipeline/weekly, cpt-mining/mine," \
  "cpt-train-evaluate/train-evaluate, cpt-train-evaluate/retrain (on new data)" >&2
wait
