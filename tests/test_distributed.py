"""Two gloo processes on CPU give the same loss and gradients as one on the union batch, also
with weights computed in a lower precision than their masters (`mixed`: float32 here, as bf16
is on a GPU, against float64 masters)."""

import os

import pytest
import torch
import torch.multiprocessing as mp
from torch.distributed.tensor import DTensor

from cpt_core.dist.group import joined_world
from cpt_core.dist.reducer import OverlappedReducer
from cpt_core.dist.shard import shard
from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import PairBatch, contrastive_step
from cpt_core.train.launch import free_port
from cpt_core.train.master_weights import MasterWeights
from tests.test_grad_cache import batch_of, encoder_from, gradients

N = 8


def _half(batch: PairBatch, rank: int) -> PairBatch:
    part = slice(rank * N // 2, (rank + 1) * N // 2)
    negatives = batch.negatives[part] if batch.negatives else None
    return PairBatch(batch.queries[part], batch.documents[part], negatives)


def _worker(
    rank: int,
    port: int,
    model: str,
    out: str,
    chunk: int,
    negatives: bool,
    sharded: bool,
    mixed: bool,
) -> None:
    environment = {"RANK": str(rank), "WORLD_SIZE": "2", "MASTER_PORT": str(port)}
    os.environ.update(MASTER_ADDR="127.0.0.1", **environment)
    torch.set_num_threads(1)
    # The trainer's own join: its barrier keeps a rank from tearing Gloo down while the other
    # still gathers or saves, which aborted 1 run in 12 here ("terminate called without an
    # active exception").
    with joined_world():
        _step_and_save(rank, model, out, chunk, negatives, sharded, mixed)


def _step_and_save(
    rank: int, model: str, out: str, chunk: int, negatives: bool, sharded: bool, mixed: bool
) -> None:
    encoder, scale = encoder_from(model), LogitScale().double()
    local = _half(batch_of(encoder, N, negatives), rank).prepare(encoder.tokenizer, chunk)
    summed = [scale.tau]  # FSDP2 reduce-scatters the backbone's own gradients
    stepped, master = encoder.backbone, None
    if sharded:  # in FSDP2's own mixed precision when mixed
        shard(encoder.backbone, torch.float32 if mixed else None)
    elif mixed:
        master = MasterWeights(encoder.backbone, torch.float32)
        stepped = master.twin
    if not sharded:
        summed += stepped.parameters()
    # Small buckets, so that several start while backward is still running.
    reducer = OverlappedReducer(summed, bucket_bytes=2**14)
    if master:
        master.on_accumulated = reducer.accumulated
    reducer.arm(local.backwards)
    output = contrastive_step(encoder, scale, local)
    started = sum(bucket.work is not None for bucket in reducer.buckets)
    reducer.finish()
    grads = {n: full(p.grad) for n, p in stepped.named_parameters()}
    grads["tau"] = scale.tau.grad
    body = {"loss": output.global_loss.item(), "grads": grads}
    body["overlapped"] = torch.tensor([started, len(reducer.buckets)])
    torch.save(body, f"{out}/rank{rank}.pt")


def full(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


@pytest.mark.parametrize(
    ("chunk", "negatives", "sharded", "mixed"),
    [
        (0, False, False, False),
        (3, False, False, False),
        (2, True, False, False),
        (0, False, True, False),
        (3, True, True, False),
        (3, True, False, True),
        (3, True, True, True),
    ],
)
def test_two_ranks_equal_one_process(tiny_model, tmp_path, chunk, negatives, sharded, mixed):
    args = (free_port(), str(tiny_model), str(tmp_path), chunk, negatives, sharded, mixed)
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    encoder, scale = encoder_from(tiny_model), LogitScale().double()
    loss, want = gradients(encoder, scale, batch_of(encoder, N, negatives), chunk=0)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True, map_location="cpu")
        assert got["loss"] == pytest.approx(loss, rel=1e-6 if mixed else 1e-12)
        started, buckets = got["overlapped"].tolist()
        # Every bucket but, at most, the logit scale's started while backward was running.
        assert buckets > 2 and started >= buckets - 1 if not sharded else buckets == 1
        for name, grad in want.items():
            err = (got["grads"][name] - grad).norm() / grad.norm().clamp(min=1e-30)
            assert err < (1e-4 if mixed else 1e-6), f"rank {rank} {name}: error {err:.2e}"


def test_torchrun_training_matches_one_process(tiny_model, pairs_dir, tmp_path):
    """The real launcher: 2 CPU ranks through `cpt train`, sharded, stopped and resumed, end
    with one process's weights (replicas without sharding: test_two_ranks_equal_one_process)."""
    import subprocess
    import sys

    import numpy as np
    from safetensors.numpy import load_file

    options = ["--pairs", str(pairs_dir), "--set", f"model.name={tiny_model}"]
    for key, value in {"data.batch_size": 8, "data.chunk_size": 2, "optim.max_steps": 3}.items():
        options += ["--set", f"{key}={value}"]
    options += ["--set", "optim.lr=1e-3", "--set", "model.max_length=24", "--set", "precision=fp32"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    torchrun += ["--master-port", str(free_port())]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # FSDP2, checkpointed every step (training goes on after each), stopped and resumed
    sharded = ["--set", "shard=true", "--set", "checkpoint_every=1"]
    for name, launcher, extra in (
        ("two-sharded", torchrun, [*sharded, "--stop-after", "2"]),
        ("two-sharded", torchrun, [*sharded, "--resume"]),
        ("one", [sys.executable], []),
    ):
        out = tmp_path / name
        cmd = [*launcher, "-m", "cpt_core.cli", "train", "--out", str(out), *options, *extra]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    one = load_file(tmp_path / "one" / "model" / "model.safetensors")
    two = load_file(tmp_path / "two-sharded" / "model" / "model.safetensors")
    assert two.keys() == one.keys()
    for key in one:
        np.testing.assert_allclose(two[key], one[key], rtol=1e-4, atol=1e-5, err_msg=key)
