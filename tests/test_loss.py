import math

import numpy as np
import pytest
import torch

from cpt_core.loss.contrastive import LogitScale, contrastive_loss


def reference_loss(q, d, scale, negatives=None):
    """Symmetric InfoNCE written out with loops, in float64 numpy."""
    q, d = np.asarray(q, np.float64), np.asarray(d, np.float64)
    columns = d if negatives is None else np.concatenate([d, negatives])
    m = len(q)

    def ce(logits, target):
        top = logits.max()
        return -(logits[target] - top - math.log(np.exp(logits - top).sum()))

    rows = sum(ce(scale * np.array([q[i] @ c for c in columns]), i) for i in range(m))
    cols = sum(ce(scale * np.array([d[j] @ q[i] for i in range(m)]), j) for j in range(m))
    return (rows + cols) / (2 * m), rows / m, cols / m


def unit(rows, dim, seed):
    x = torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.nn.functional.normalize(x, dim=-1)


@pytest.mark.parametrize("with_negatives", [False, True])
def test_matches_float64_reference(with_negatives):
    q, d = unit(7, 16, 1), unit(7, 16, 2)
    negatives = unit(14, 16, 3) if with_negatives else None
    scale = torch.tensor(14.3, dtype=torch.float64)
    got = contrastive_loss(q, d, scale, negatives).loss.item()
    want, _, _ = reference_loss(q, d, 14.3, None if negatives is None else negatives.numpy())
    assert got == pytest.approx(want, rel=1e-12)


def test_both_directions_are_counted():
    # Queries 0 and 1 coincide: rows 0 and 1 cannot tell documents apart, but columns can't
    # tell queries apart either, and the two directions give different losses.
    q, d = unit(5, 8, 4), unit(5, 8, 5)
    q[1] = q[0]
    _, rows, cols = reference_loss(q, d, 10.0)
    assert rows != pytest.approx(cols)
    got = contrastive_loss(q, d, torch.tensor(10.0, dtype=torch.float64)).loss.item()
    assert got == pytest.approx((rows + cols) / 2, rel=1e-12)
    assert got != pytest.approx(rows) and got != pytest.approx(cols)


def test_hard_negatives_only_add_row_columns():
    q, d, n = unit(4, 8, 6), unit(4, 8, 7), unit(4, 8, 8)
    scale = torch.tensor(20.0, dtype=torch.float64)
    _, rows, cols = reference_loss(q, d, 20.0, n.numpy())
    got = contrastive_loss(q, d, scale, n).loss.item()
    assert got == pytest.approx((rows + cols) / 2, rel=1e-12)
    # the column loss is the plain one: negatives are documents, never queries
    assert cols == pytest.approx(reference_loss(q, d, 20.0)[2], rel=1e-12)


def test_tau_receives_gradient_and_is_clamped():
    scale = LogitScale(init=1 / 0.07, maximum=100.0).double()
    out = contrastive_loss(unit(6, 8, 9), unit(6, 8, 10), scale())
    out.loss.backward()
    assert scale.tau.grad is not None and scale.tau.grad.abs().item() > 0
    with torch.no_grad():
        scale.tau.fill_(10.0)  # exp(10) would be 22026
    assert scale().item() == pytest.approx(100.0)


def test_accuracy_counts_rows_whose_positive_wins():
    q = torch.eye(4, dtype=torch.float64)
    d = q.clone()
    d[3] = q[0]  # row 3 now scores 0 on every column; argmax picks column 0: a miss
    out = contrastive_loss(q, d, torch.tensor(10.0, dtype=torch.float64))
    assert out.accuracy.item() == pytest.approx(0.75)


@pytest.mark.parametrize("with_negatives", [False, True])
def test_blockwise_loss_equals_full_matrix(with_negatives):
    """Row blocks under checkpointing: same loss, accuracy and gradients as one big matrix."""
    results = []
    for block in (1000, 3):
        q = unit(10, 8, 11).requires_grad_()
        d = unit(10, 8, 12).requires_grad_()
        n = unit(10, 8, 13).requires_grad_() if with_negatives else None
        scale = torch.tensor(12.0, dtype=torch.float64, requires_grad=True)
        out = contrastive_loss(q, d, scale, n, block_rows=block)
        out.loss.backward()
        grads = [q.grad, d.grad, scale.grad] + ([n.grad] if with_negatives else [])
        results.append((out.loss.item(), out.accuracy.item(), grads))
    (full_loss, full_acc, full_grads), (block_loss, block_acc, block_grads) = results
    assert block_loss == pytest.approx(full_loss, rel=1e-12)
    assert block_acc == full_acc
    for a, b in zip(full_grads, block_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_loss_is_float32_under_bf16_autocast():
    """At scale 100, bf16 logits would move the loss by ~0.4; autocast must not reach it."""
    q, d = unit(64, 96, 4).float(), unit(64, 96, 5).float()
    scale = torch.tensor(100.0)
    want = contrastive_loss(q, d, scale).loss.item()
    seen = []

    class Matmuls(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if "matmul" in getattr(func, "__name__", ""):
                seen.append(out.dtype)
            return out

    with torch.autocast("cpu", dtype=torch.bfloat16), Matmuls():
        got = contrastive_loss(q, d, scale).loss.item()
        assert (q @ d.T).dtype == torch.bfloat16  # autocast is really on around the loss
    assert seen[:-1] and set(seen[:-1]) == {torch.float32}
    assert got == pytest.approx(want, abs=1e-3)
