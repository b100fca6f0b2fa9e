#!/usr/bin/env bash
# A Prefect server on 127.0.0.1:4200 (UI and API, SQLite under $PREFECT_HOME) plus the pipeline
# deployment served from this checkout on a nightly cron; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:4200/api}
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
.venv/bin/prefect server start --host 127.0.0.1 --port 4200 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 120); do
  curl -sf "$PREFECT_API_URL/health" >/dev/null && break
  sleep 1
done
curl -sf "$PREFECT_API_URL/health" >/dev/null || { echo "prefect server did not start" >&2; exit 1; }
echo "[serve] UI: http://127.0.0.1:4200  deployment: cpt-pipeline/nightly (cron ${CRON:-0 3 * * *})" >&2
.venv/bin/python -m flows.serve --name nightly --cron "${CRON:-0 3 * * *}" \
  --preset "${PRESET:-configs/pipeline-demo.yaml}"
