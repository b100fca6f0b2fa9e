"""FSDP2 sharding, for models whose replicas do not fit on one device.

Each decoder layer, then the whole backbone, goes through `fully_shard`: every rank keeps 1/N
of the weights, gradients and optimiser state, and gathers a layer's weights only while it
runs. The gradient cache and cross-device negatives work unchanged on top: each chunk's
backward reduce-scatters its gradients into the shards. The gradients are *summed* over ranks
(the divide factor is 1), since each rank's loss is already its share of the global loss; so,
as with replicas, two ranks equal one process on the union batch.

With bf16 weights (`precision: bf16-weights`), FSDP2's own mixed precision is the master-weight
scheme: the shards stay float32 for the optimiser, each layer is gathered in bf16 for its
forward and backward, and gradients are reduced in float32.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    set_model_state_dict,
)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor
from transformers import PreTrainedModel

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard(backbone: PreTrainedModel, compute_dtype: torch.dtype | None = None) -> None:
    """Shard in place; `compute_dtype` (bf16) gathers the weights in it for compute."""
    reduce = torch.float32 if compute_dtype else None  # else the weights' own (float64 in tests)
    policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=reduce)
    blocks = set(backbone._no_split_modules or [])
    for module in backbone.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mp_policy=policy)
    fully_shard(backbone, mp_policy=policy)
    for module in backbone.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # plain SUM: Gloo has no PREMUL_SUM


def is_sharded(module: nn.Module) -> bool:
    return any(isinstance(p, DTensor) for p in module.parameters())


def full_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight whole, copied to the CPU (training may go on changing the originals).
    Gathering shards is collective: every rank calls it, and rank 0 receives the weights (the
    others an empty dict)."""
    if is_sharded(module):
        return get_model_state_dict(module, options=FULL)
    return {k: _host_copy(v) for k, v in module.state_dict().items()}


def load_full_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    if is_sharded(module):
        set_model_state_dict(module, state, options=StateDictOptions(full_state_dict=True))
    else:
        module.load_state_dict(state, strict=True)


def optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimiser's state in `optimizer.state_dict()`'s own layout, every tensor a whole copy
    on the CPU: sharded ones gathered (collective: every rank calls it, in the same parameter
    order). `state_dict()` shares its per-parameter dicts with the live optimiser, so they are
    rebuilt here, never written into."""
    body = optimizer.state_dict()
    body["state"] = {
        index: {key: _host_copy(value) for key, value in state.items()}
        for index, state in body["state"].items()
    }
    return body


def _host_copy(value):
    if isinstance(value, DTensor):
        return value.full_tensor().cpu()
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True).contiguous()
    return value


def load_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Inverse of `optimizer_state`: whole tensors are cut back into this rank's shards."""
    if is_sharded(module):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, entry in state["state"].items():
            param = params[int(index)]
            for key, value in entry.items():
                if isinstance(param, DTensor) and value.shape == param.shape:
                    local = distribute_tensor(value, param.device_mesh, param.placements)
                    entry[key] = local
    optimizer.load_state_dict(state)


def clip_gradients(groups: list[list[nn.Parameter]], max_norm: float) -> torch.Tensor:
    """clip_grad_norm_ over all groups at once, where some parameters may be shards: each
    group's norm is made whole, then every gradient is scaled by the one global factor."""
    norms = []
    for params in groups:
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        norms.append(norm.full_tensor() if isinstance(norm, DTensor) else norm)
    total = torch.linalg.vector_norm(torch.stack(norms))
    for params in groups:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return total
