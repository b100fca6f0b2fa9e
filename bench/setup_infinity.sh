#!/usr/bin/env bash
# Builds .venv-infinity: infinity-emb 0.0.78 (the torch engine, CPU) for the serving benchmark.
# A venv of its own, because infinity pins sentence-transformers<4, transformers<5, numpy<2 and
# click<8.2, which clash with ours: it never touches .venv or requirements.lock.
# Run (offline, CPU):
#   HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0 \
#   INFINITY_HOME=/tmp/infinity .venv-infinity/bin/infinity_emb v2 --model-id MODEL_DIR \
#     --served-model-name all-minilm-l6-v2 --host 127.0.0.1 --port 7997 --engine torch --device cpu
#   then POST /embeddings {"model": ..., "input": [...]}
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-infinity
STAMP=$VENV/.setup-infinity-0.0.78-done
if [[ -f $STAMP ]]; then
  echo "$VENV is ready (rm -rf $VENV to rebuild)"
  exit 0
fi

python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install --disable-pip-version-check)
# torch first, exactly this CPU build; the constraint keeps every later step from pulling another
# (any other torch version resolves to GBs of CUDA wheels).
"${PIP[@]}" torch==2.13.0
CONSTRAINTS=$VENV/torch-constraint.txt
echo "torch==2.13.0" >"$CONSTRAINTS"

# infinity-emb[server,torch] and everything it resolved to, pinned (pip check is clean).
"${PIP[@]}" -c "$CONSTRAINTS" "infinity-emb[server,torch]==0.0.78" \
  sentence-transformers==3.4.1 transformers==4.57.6 tokenizers==0.22.2 safetensors==0.8.0 \
  huggingface_hub==0.36.2 hf-xet==1.8.0 numpy==1.26.4 scipy==1.17.1 scikit-learn==1.9.1 \
  joblib==1.6.0 threadpoolctl==3.8.0 pillow==13.0.0 regex==2026.11.19 tqdm==4.70.1 \
  PyYAML==6.0.4 packaging==26.4 requests==2.34.2 urllib3==2.8.0 idna==3.20 \
  certifi==2026.10.19.post1 charset-normalizer==3.5.3 fastapi==0.165.0 starlette==1.10.0 \
  annotated-doc==0.0.7 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 anyio==4.16.0 uvicorn==0.32.1 uvloop==0.23.0 httptools==0.9.0 \
  h11==0.16.0 watchfiles==1.3.0 websockets==17.4 python-dotenv==1.2.4 orjson==3.13.0 \
  click==8.1.8 typer==0.12.5 shellingham==1.5.4 rich==13.9.4 markdown-it-py==4.3.0 \
  mdurl==0.1.2 Pygments==2.21.0 posthog==7.91.1 backoff==2.2.1 distro==1.9.0 \
  opentelemetry-api==1.45.2 narwhals==2.29.0 prometheus-fastapi-instrumentator==8.1.0 \
  prometheus_client==0.26.0 cloudpickle==3.1.3

"$VENV/bin/pip" check
touch "$STAMP"
echo "$VENV is ready"
