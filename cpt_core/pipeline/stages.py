"""Each pipeline stage as a function from input folders to an output folder.

A stage whose output folder is complete (a manifest, a model, an index, a report) returns it
without redoing the work, and half-written outputs are replaced, so a stage is safe to run again
after a crash. Which folder a stage writes is decided by the caller (flows/ names it by the
stage's cache key), so a changed input or config lands in a new folder instead of overwriting.
"""

from __future__ import annotations

import json
import logging
import shutil
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.data.reader import resolve_shards
from cpt_core.data.writer import write_dataset
from cpt_core.dedup.minhash import exact_key
from cpt_core.errors import CptError
from cpt_core.locks import locked
from cpt_core.paths import repo_path
from cpt_core.pipeline.config import PipelineConfig

if TYPE_CHECKING:
    from cpt_core.model.encoders import TextEncoder
    from cpt_core.negatives.config import HardNegativesConfig

log = logging.getLogger(__name__)
INDEX_LENGTH = 128  # tokens of each indexed document


def combine_stage(datasets: list[Path], out: Path) -> Manifest:
    """One training dataset from several: rows keep their split; a pair whose normalised
    document side already came from another dataset is dropped and counted."""
    with locked(out):
        if (out / MANIFEST_NAME).is_file():
            return Manifest.read(out)
        shutil.rmtree(out, ignore_errors=True)
        seen: set[str] = set()
        duplicates = 0
        rows = []
        for folder in datasets:
            for shard in resolve_shards(folder):
                for row in pq.read_table(shard).to_pylist():
                    key = exact_key(row["y"])
                    if key in seen:
                        duplicates += 1
                        continue
                    seen.add(key)
                    rows.append(row)
        return write_dataset(
            rows,
            out,
            kind="mixed",
            inputs=[str(d) for d in datasets],
            config={"sources": [Manifest.read(d).identity() for d in datasets]},
            extra_counts={"duplicates_across_sources": duplicates},
        )


def train_stage(
    dataset: Path, preset: str, overrides: dict, out: Path, init: Path | None = None, devices=None
) -> Path:
    """Train on the dataset's train split, on every device there is; `init` continues from an
    earlier cpt model (its weights, delimiters and learned temperature) instead of the
    preset's base model."""
    from cpt_core.train.config import continue_from
    from cpt_core.train.launch import train_on_devices

    with locked(out):
        model = out / "model"
        if (model / "config.json").is_file():
            return model
        if init is not None:
            overrides = {**overrides, **continue_from(init)}
        return train_on_devices(repo_path(preset), overrides, dataset, out, devices)


def negatives_stage(
    model: str | Path | None,
    dataset: Path,
    config: HardNegativesConfig,
    max_length: int,
    out: Path,
) -> Manifest:
    """The dataset's training pairs with hard negatives mined from `model`'s own ranking (a
    folder or catalogue name; none with BM25): round 2's data. Held-out splits stay where they
    are, in `dataset`."""
    with locked(out):
        from cpt_core.model.encoders import load_encoder
        from cpt_core.negatives.mine import mine_negatives

        if (out / MANIFEST_NAME).is_file():
            return Manifest.read(out)
        shutil.rmtree(out, ignore_errors=True)
        rows = [
            row
            for shard in resolve_shards(dataset)
            for row in pq.read_table(shard, filters=[("split", "=", "train")]).to_pylist()
        ]
        if not rows:
            raise CptError(f"{dataset} has no training pairs to mine hard negatives for")
        searches = config.retriever == "model" and model is not None
        encoder = load_encoder(str(model), max_length) if searches else None
        mined, counts = mine_negatives(rows, config, encoder)
        log.info("hard negatives: %s", dict(counts))
        source = Manifest.read(dataset)
        return write_dataset(
            mined,
            out,
            kind=source.kind,
            inputs=[str(dataset), *([str(model)] if encoder else [])],
            config={
                "hard_negatives": config.mining(),
                "dataset": source.identity(),
            },
            extra_counts=dict(counts),
        )


def index_stage(
    model: Path, dataset: Path, documents: int | None, minutes: float | None, out: Path
) -> Path:
    """A FAISS index of the dataset's held-out documents (test split), capped for CPU runs:
    at most `documents`, and at most what `minutes` allow at the model's rate measured here."""
    with locked(out):
        from cpt_core.index.build import build_index
        from cpt_core.model.encoders import load_encoder

        if (out / "meta.json").is_file():
            return out
        corpus = out.with_name(f"{out.name}-corpus.jsonl")
        held_out = (
            {"_id": row["pair_id"], "text": row["y"]}
            for shard in resolve_shards(dataset)
            for row in pq.read_table(shard, columns=["pair_id", "y", "split"]).to_pylist()
            if row["split"] == "test"
        )
        rows = list(islice(held_out, documents))  # reads shards only until the cap is reached
        if not rows:
            raise CptError(f"{dataset} has no held-out (test split) documents to index")
        encoder = load_encoder(str(model), INDEX_LENGTH)
        rows = _affordable(rows, encoder, minutes) if minutes else rows
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
        build_index(corpus, str(model), out, max_length=INDEX_LENGTH, encoder=encoder)
        return out


def _affordable(rows: list[dict], encoder: TextEncoder, minutes: float) -> list[dict]:
    """The first rows that `encoder` embeds within `minutes` here (model/throughput.py)."""
    from cpt_core.model.throughput import SAMPLE, texts_per_second

    if len(rows) <= 4 * SAMPLE:
        return rows
    rate = texts_per_second(encoder, [r["text"] for r in rows], "document")
    kept = max(4 * SAMPLE, int(rate * minutes * 60))
    log.info(
        "index: %d of %d documents, what %.1f minutes allow at %.1f documents/s",
        min(kept, len(rows)),
        len(rows),
        minutes,
        rate,
    )
    return rows[:kept]


def evaluate_stage(
    models: list[Path], code_pairs: Path | None, config: PipelineConfig, out: Path
) -> tuple[Path, dict]:
    """The models side by side (and beside the baselines, if the preset asks) on the eval
    suite, plus code search on the mined repositories' held-out split when code was mined;
    report.md, PNGs and results.json in `out`."""
    with locked(out):
        from cpt_core.eval.profile import load_profile
        from cpt_core.eval.report import write_report
        from cpt_core.eval.suite import evaluate, with_baselines

        if (out / "results.json").is_file():
            return out / "report.md", json.loads((out / "results.json").read_text())
        chosen = load_profile(config.eval_profile, config.eval_overrides)
        references = [str(m) for m in models]
        references = with_baselines(references) if config.eval_baselines else references
        data = config.eval_data
        if code_pairs is not None:
            data = data.model_copy(update={"code_pairs": (*data.code_pairs, str(code_pairs))})
        results = evaluate(references, chosen, data)
        return write_report(results, out), results
