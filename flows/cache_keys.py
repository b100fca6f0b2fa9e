"""Cache keys by content: a stage's inputs, its presets, the data it reads and its code.

Names and paths never enter a key; the bytes behind them do. A mining stage hashes its input
files and its miner preset, training its preset and the weights it starts from, evaluation
its profile and every evaluation set it reads, later stages the manifests or weights they
read; every stage hashes the source it runs, derived from its imports (flows/closure.py).
Editing a text filter re-mines text; the combined dataset, the model, the index and the
report follow only if the mined data actually changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cpt_core.code.config import CodeMiningConfig
from cpt_core.config import load_preset
from cpt_core.data.manifest import Manifest
from cpt_core.decontam.build import sets_key
from cpt_core.eval.profile import EvalData, load_profile, profile_path
from cpt_core.paths import repo_path
from cpt_core.pipeline.config import MineStage, PipelineConfig
from cpt_core.pipeline.sources import resolve_source
from cpt_core.pretrained.digest import file_digest, tree_digest, weights_digest
from cpt_core.text.config import TextMiningConfig
from cpt_core.train.config import load_config
from flows.closure import code_digest

MINERS = {"code": CodeMiningConfig, "text": TextMiningConfig}

# Where each stage starts; the code it runs is everything these reach (flows/closure.py).
# The Beam jobs and the training worker run from strings (importlib, `python -m`), so they
# are named here too.
ENTRIES = {
    "mine-code": ("beam_jobs.stage:mine_stage", "beam_jobs.extract_code_pairs"),
    "mine-text": ("beam_jobs.stage:mine_stage", "beam_jobs.extract_text_pairs"),
    "combine": ("cpt_core.pipeline.stages:combine_stage",),
    "train": ("cpt_core.pipeline.stages:train_stage", "cpt_core.cli:train"),
    "negatives": ("cpt_core.pipeline.stages:negatives_stage",),
    "index": ("cpt_core.pipeline.stages:index_stage",),
    "evaluate": ("cpt_core.pipeline.stages:evaluate_stage",),
}


def stage_key(stage: str, out: str, *parts: object) -> str:
    """The stage's cache key, which also names its output folder under `out`. `out` is part
    of it: Prefect's result store is shared by every run folder, and a result cached for
    another folder would point into it (and fail once that folder is deleted)."""
    digest = hashlib.sha256(stage.encode())
    digest.update(str(Path(out).resolve()).encode())
    digest.update(code_digest(ENTRIES[stage]).encode())
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return f"{stage}-{digest.hexdigest()[:16]}"


def mine_parts(kind: str, stage: MineStage) -> list:
    """The input files, the stage's settings, the miner preset's bytes, the evaluation sets
    its pairs are kept apart from and, for text, the tokenizer whose tokens the passage budget
    counts."""
    preset = repo_path(stage.config) if stage.config else None
    settings = stage.model_dump(mode="json", exclude={"inputs", "config"})  # by content here
    parts = [inputs_digest(stage.inputs), settings]
    parts.append(file_digest(preset) if preset else None)
    miner = load_preset(MINERS[kind], preset, **stage.overrides)
    parts.append(sets_key(miner.decontaminate) if miner.decontaminate.enabled else None)
    if kind == "text":
        parts.append(reference_identity(miner.tokenizer))
    return parts


def train_parts(
    config: PipelineConfig, dataset: str, init: str | None, second_round: bool = False
) -> list:
    """The dataset, the preset's bytes, the round's overrides and the weights it starts from."""
    preset = repo_path(config.train)
    overrides = config.training(second_round)
    base = load_config(preset, **overrides).model.name
    start = model_identity(init) if init else reference_identity(base)
    return [dataset_identity(dataset), file_digest(preset), overrides, start]


def negatives_parts(config: PipelineConfig, model: str, dataset: str) -> list:
    """The model that searches (none for BM25), the dataset and the mining settings."""
    searcher = model_identity(model) if config.hard_negatives.retriever == "model" else None
    mining = config.hard_negatives.mining()
    return [searcher, dataset_identity(dataset), mining, second_round_length(config)]


def second_round_length(config: PipelineConfig) -> int:
    """The tokens round 2 trains on per text: what the negatives' search embeds too."""
    return load_config(repo_path(config.train), **config.training(True)).model.max_length


def evaluate_parts(config: PipelineConfig, models: list[str], code_pairs: str | None) -> list:
    """The models' weights, the profile's bytes and overrides, and every set it reads."""
    profile = load_profile(config.eval_profile, config.eval_overrides)
    data: EvalData = config.eval_data
    return [
        [model_identity(m) for m in models],
        dataset_identity(code_pairs) if code_pairs else None,
        file_digest(profile_path(config.eval_profile)),
        config.eval_overrides,
        config.eval_baselines,
        [tree_digest(str(path)) for path in data.read_by(profile.families)],
    ]


def inputs_digest(specs: tuple[str, ...]) -> str:
    """Every file under the resolved sources: relative path, size and content."""
    digest = hashlib.sha256()
    for spec in specs:
        digest.update(tree_digest(resolve_source(spec)).encode())
    return digest.hexdigest()[:16]


def dataset_identity(folder: str | Path) -> str:
    return Manifest.read(Path(folder)).identity()


def model_identity(folder: str | Path) -> str:
    return weights_digest(str(folder), [])


def reference_identity(reference: str) -> str:
    """A model reference by content: a folder by its bytes; a catalogue name is pinned by
    sha256 in the catalogue (which the stage's code digest covers); a hub id by its name."""
    return model_identity(reference) if Path(reference).is_dir() else reference
