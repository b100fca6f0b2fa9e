# The two commands of the README. Each sets itself up, so both work on a fresh clone.
.PHONY: setup run serve serve-prefect demo test lint bench-train bench-mine-code bench-mine-scale

VENV := .venv/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

setup:
	bash scripts/setup.sh

run: setup  # the public data sets first (nothing to do where ../shared/data has them)
	$(VENV)/cpt data fetch
	$(VENV)/cpt pipeline

serve: setup  # the demo run's current model (make run first) on http://127.0.0.1:8000/v1
	$(VENV)/cpt serve --registry runs/pipeline-demo

serve-prefect: setup  # Prefect server + UI on :4200, infra/prefect.yaml's deployments, a worker per pool
	bash scripts/serve-prefect.sh

demo: setup
	$(VENV)/cpt data fetch scifact
	$(VENV)/cpt demo

test: setup  # the tests read the public sets too
	$(VENV)/cpt data fetch
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/python -m pytest -q -ra --durations=15

bench-train: setup
	$(VENV)/python bench/train.py

bench-mine-code: setup
	$(VENV)/python bench/mine_code.py

bench-mine-scale: setup
	$(VENV)/python bench/mine_scale.py
