"""The training loop: stream pairs, contrast them, step, log, checkpoint, save.

One function, top to bottom, in the spirit of nanoGPT's train.py. Every rank reads the same
deterministic batch stream and takes its own slice, so ranks need no data coordination and a
resumed run sees exactly the batches it would have seen. Batches are prepared ahead in a
background thread (`feed`), and the host waits for the device only on logging steps.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import PairSource
from cpt_core.dist.group import World, joined_world
from cpt_core.dist.reducer import OverlappedReducer
from cpt_core.dist.shard import clip_gradients, full_state, shard
from cpt_core.errors import CptError
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.loss.matryoshka import loss_for
from cpt_core.model.encoder import Encoder
from cpt_core.model.folder import save_model
from cpt_core.train.checkpoint import Checkpointer, TrainState, checkpoints, load_checkpoint
from cpt_core.train.config import TrainConfig
from cpt_core.train.feed import ahead, steps
from cpt_core.train.flops import FlopCounter, peak_flops
from cpt_core.train.master_weights import MasterWeights
from cpt_core.train.metrics import MetricsLog, Window, plot_curves
from cpt_core.train.precision import autocast, resolve
from cpt_core.train.schedule import StepBudget
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
    (time-boxed jobs, tests); the model folder is written only when the run's length is
    reached: max_steps, or fewer where `optim.max_minutes` fixed it from measured steps.
    """
    with joined_world() as world:
        return _train(config, pairs, Path(out), world, resume, split, progress, stop_after)


def _train(
    config: TrainConfig,
    pairs: str | Path,
    out: Path,
    world: World,
    resume: bool,
    split: str | None,
    progress: bool,
    stop_after: int | None,
) -> Path | None:
    source = PairSource(pairs, negatives=config.data.hard_negatives, split=split)
    batch_size = config.data.batch_size
    if batch_size % world.size:
        raise CptError(f"data.batch_size {batch_size} must divide by the {world.size} ranks")
    found = checkpoints(out / "checkpoints")
    if found and not resume:
        raise CptError(f"{out} already has checkpoints; pass --resume or choose another --out")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = resolve(config.precision, device)
    precision = autocast(resolved, device)

    torch.manual_seed(config.data.seed)
    encoder = build_encoder(config.model, device)
    sharded = config.shard and world.size > 1
    bf16_weights = resolved == "bf16-weights"
    master = None
    if sharded:  # FSDP2's mixed precision keeps float32 shards as the masters
        shard(encoder.backbone, torch.bfloat16 if bf16_weights else None)
    elif bf16_weights:
        master = MasterWeights(encoder.backbone)
    if config.compile:  # widths are rounded up to 16 below, so few shapes reach the compiler
        encoder.backbone.compile(dynamic=False)
    # What the optimiser steps, clipping measures, checkpoints hold and the model is saved from.
    stepped = master.twin if master else encoder.backbone
    scale = build_scale(config.loss, device)
    widths, weights = config.loss.widths(encoder.dim)
    loss = loss_for(widths, weights)
    modules = nn.ModuleDict({"backbone": stepped, "scale": scale})
    groups = [trainable(stepped), trainable(scale)]
    optimizer, scheduler = build_optimizer(
        stepped, scale, config.optim, fused=device.type == "cuda"
    )
    # Replicas sum every gradient here; shards reduce-scatter their own, leaving the scale.
    # The scale comes first so that it lands in the last bucket, with the embeddings: its
    # gradient is final early, but the first buckets should hold only the last layers.
    summed = trainable(scale) if sharded else trainable(scale, stepped)
    reducer = OverlappedReducer(summed) if world.size > 1 else None
    if master and reducer:  # the masters' gradients are summed by hooks on the live weights
        master.on_accumulated = reducer.accumulated
    state = TrainState(0, BatcherState(), config.digest())
    if resume and found:
        state = load_checkpoint(found[-1], modules, optimizer, scheduler, config.digest())
        if master:
            master.push()
        log.info("resumed from %s", found[-1])
    out.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(out / "metrics.jsonl", enabled=world.is_main)
    metrics.truncate_after(state.step)

    batcher = DedupBatcher(source, batch_size, config.data.seed, state.data)
    share = slice(
        world.rank * batch_size // world.size, (world.rank + 1) * batch_size // world.size
    )
    pad_to = 16 if config.compile else 1
    prepared = steps(
        batcher,
        encoder.tokenizer,
        share,
        config.data.chunk_size,
        pin=device.type == "cuda",
        pad_to=pad_to,
        packed=config.data.pack,
    )
    flops = FlopCounter.of(encoder.backbone)
    peak = peak_flops(device, resolved != "fp32")
    schedule = scheduler.lr_lambdas[0]  # the WarmupCosine every parameter group shares
    if not schedule.timed:  # a resumed run's length follows max_steps: raising it extends
        schedule.horizon = config.optim.max_steps
    minutes = config.optim.max_minutes
    timer = StepBudget(schedule, minutes, state.step) if minutes and not schedule.timed else None
    bar = tqdm(total=schedule.horizon, initial=state.step, disable=not (progress and world.is_main))
    encoder.train()
    window = Window(time.perf_counter())
    checkpointer = Checkpointer(out / "checkpoints", config.keep_checkpoints, world.is_main)
    step = state.step

    def last() -> int:  # the budget may shorten the run at its first steps
        return min(schedule.horizon, stop_after or schedule.horizon)

    with ahead(prepared, config.data.prefetch) as feed, checkpointer:
        while step < last():
            step += 1
            taken = next(feed)
            if reducer:
                reducer.arm(taken.batch.backwards)
            with precision:
                output = contrastive_step(encoder, scale, taken.batch, loss)
            if reducer:
                reducer.finish()
            grad_norm = clip_gradients(groups, config.optim.grad_clip)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            if master:
                master.push()
            if timer:  # before the scheduler, which reads the horizon the budget may fix
                timer.observe(step)
                bar.total = schedule.horizon
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            window.add(batch_size, taken.batch.lengths, flops)
            bar.update(1)
            if step % config.log_every == 0 or step == last():
                record = {
                    "step": step,
                    "loss": output.global_loss.item(),  # the host waits for the device here
                    "accuracy": output.accuracy.item(),
                    "scale": scale().item(),
                    "tau": scale.tau.item(),
                    "grad_norm": grad_norm.item(),
                    "lr": lr,
                    **window.rates(time.perf_counter(), world.size, peak),
                }
                metrics.append(record)
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.2f}")
            if step % config.checkpoint_every == 0 or step == last():
                state = TrainState(step, taken.state, config.digest())
                checkpointer.save(state, modules, optimizer, scheduler)
    bar.close()
    if step < schedule.horizon:
        return None
    weights = full_state(encoder.backbone) if sharded else None  # gathered from every rank
    if world.is_main:
        meta = config.model_meta(scale().item(), schedule.horizon, _manifests(source), widths)
        saved = Encoder(master.twin, encoder.tokenizer) if master else encoder  # float32
        save_model(saved, meta, out / "model", weights)
        records = metrics.read()
        if records:
            plot_curves(records, out / "curves.png")
    return out / "model"


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
