"""The training loop: stream pairs, contrast them, step, log, checkpoint, save.

One function, top to bottom, in the spirit of nanoGPT's train.py. Every rank reads the same
deterministic batch stream and takes its own slice, so ranks need no data coordination and a
resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from cpt_core.data.batches import BatcherState, DedupBatcher
from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.data.reader import Pair, PairSource
from cpt_core.dist.group import init_world, reduce_gradients
from cpt_core.errors import CptError
from cpt_core.loss.grad_cache import PairBatch, contrastive_step
from cpt_core.model.delimiters import DelimitedTokenizer
from cpt_core.model.folder import save_model
from cpt_core.train.checkpoint import TrainState, checkpoints, load_checkpoint, save_checkpoint
from cpt_core.train.config import TrainConfig
from cpt_core.train.metrics import MetricsLog, plot_curves
from cpt_core.train.setup import build_encoder, build_optimizer, build_scale, trainable

log = logging.getLogger(__name__)


def train(
    config: TrainConfig,
    pairs: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    split: str | None = "train",
    progress: bool = True,
    stop_after: int | None = None,
) -> Path | None:
    """Train per `config` on the shards at `pairs`; write checkpoints and the model to `out`.

    `stop_after` ends the run early at that step with a checkpoint, as a preempted job would
    (time-boxed jobs, tests); the model folder is written only when max_steps is reached.
    """
    out = Path(out)
    world = init_world()
    source = PairSource(pairs, negatives=config.data.hard_negatives, split=split)
    batch_size = config.data.batch_size
    if batch_size % world.size:
        raise CptError(f"data.batch_size {batch_size} must divide by the {world.size} ranks")
    found = checkpoints(out / "checkpoints")
    if found and not resume:
        raise CptError(f"{out} already has checkpoints; pass --resume or choose another --out")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")

    torch.manual_seed(config.data.seed)
    encoder = build_encoder(config.model, device)
    scale = build_scale(config.loss, device)
    modules = nn.ModuleDict({"backbone": encoder.backbone, "scale": scale})
    params = trainable(modules)
    optimizer, scheduler = build_optimizer(encoder, scale, config.optim)
    state = TrainState(0, BatcherState(), config.digest())
    if resume and found:
        state = load_checkpoint(found[-1], modules, optimizer, scheduler, config.digest())
        log.info("resumed from %s", found[-1])
    out.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(out / "metrics.jsonl", enabled=world.is_main)
    metrics.truncate_after(state.step)

    batcher = DedupBatcher(source, batch_size, config.data.seed, state.data)
    share = batch_size // world.size
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext()
    bar = tqdm(
        total=config.optim.max_steps, initial=state.step, disable=not (progress and world.is_main)
    )
    encoder.train()
    last = min(config.optim.max_steps, stop_after or config.optim.max_steps)
    for step in range(state.step + 1, last + 1):
        started = time.perf_counter()
        local = batcher.next_batch()[world.rank * share : (world.rank + 1) * share]
        batch = tokenize(encoder.tokenizer, local)
        with autocast:
            output = contrastive_step(encoder, scale, batch, config.data.chunk_size)
        reduce_gradients(params)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - started
        record = {
            "step": step,
            "loss": float(output.global_loss),
            "accuracy": float(output.accuracy),
            "scale": float(scale().detach()),
            "tau": float(scale.tau.detach()),
            "grad_norm": float(grad_norm),
            "lr": lr,
            "pairs_per_s": batch_size / seconds,
            "tokens_per_s": batch.tokens * world.size / seconds,
        }
        if step % config.log_every == 0 or step == config.optim.max_steps:
            metrics.append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.2f}")
        if world.is_main and (step % config.checkpoint_every == 0 or step == last):
            state = TrainState(step, batcher.state, config.digest())
            save_checkpoint(
                out / "checkpoints", state, modules, optimizer, scheduler, config.keep_checkpoints
            )
    bar.close()
    if last < config.optim.max_steps:
        return None
    if world.is_main:
        steps = config.optim.max_steps
        meta = config.model_meta(float(scale().detach()), steps, _manifests(source))
        save_model(encoder, meta, out / "model")
        records = metrics.read()
        if records:
            plot_curves(records, out / "curves.png")
    return out / "model"


def tokenize(tokenizer: DelimitedTokenizer, pairs: list[Pair]) -> PairBatch:
    negatives = [n for p in pairs for n in p.negatives]
    return PairBatch(
        queries=tokenizer.encode([p.x for p in pairs], "query"),
        documents=tokenizer.encode([p.y for p in pairs], "document"),
        negatives=tokenizer.encode(negatives, "document") if negatives else None,
    )


def _manifests(source: PairSource) -> list[dict]:
    """The datasets a model saw, by identity: retraining compares these."""
    seen = []
    for folder in sorted({f.parent for f in source.files}):
        if (folder / MANIFEST_NAME).is_file():
            manifest = Manifest.read(folder)
            seen.append(
                {
                    "path": str(folder),
                    "identity": manifest.identity(),
                    "rows": manifest.counts.get("rows"),
                }
            )
    return seen
