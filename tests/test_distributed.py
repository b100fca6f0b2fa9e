"""Two gloo processes on CPU give the same loss and gradients as one on the union batch."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cpt_core.dist.group import reduce_gradients
from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import PairBatch, contrastive_step
from tests.test_grad_cache import batch_of, encoder_from, gradients

N = 8


def _half(batch: PairBatch, rank: int) -> PairBatch:
    part = slice(rank * N // 2, (rank + 1) * N // 2)
    negatives = batch.negatives[part] if batch.negatives else None
    return PairBatch(batch.queries[part], batch.documents[part], negatives)


def _worker(rank: int, port: int, model: str, out: str, chunk: int, negatives: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    encoder, scale = encoder_from(model), LogitScale().double()
    local = _half(batch_of(encoder, N, negatives), rank)
    output = contrastive_step(encoder, scale, local, chunk)
    params = [*encoder.backbone.parameters(), scale.tau]
    reduce_gradients(params)
    grads = {n: p.grad for n, p in encoder.backbone.named_parameters()}
    grads["tau"] = scale.tau.grad
    torch.save({"loss": output.global_loss.item(), "grads": grads}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("chunk", "negatives"), [(0, False), (3, False), (2, True)])
def test_two_ranks_equal_one_process(tiny_model, tmp_path, chunk, negatives):
    args = (_free_port(), str(tiny_model), str(tmp_path), chunk, negatives)
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    encoder, scale = encoder_from(tiny_model), LogitScale().double()
    loss, want = gradients(encoder, scale, batch_of(encoder, N, negatives), chunk=0)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["loss"] == pytest.approx(loss, rel=1e-12)
        for name, grad in want.items():
            err = (got["grads"][name] - grad).norm() / grad.norm().clamp(min=1e-30)
            assert err < 1e-6, f"rank {rank} {name}: relative error {err:.2e}"
