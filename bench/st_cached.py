"""sentence-transformers' gradient-cached step, the row cpt's trainer is compared against.

CachedMultipleNegativesRankingLoss in its symmetric form (two softmaxes, the same loss as
cpt's), last-token pooling and normalisation, on the model folder and texts given. Shared by
bench/train.py (CPU sweeps) and bench/gpu_check.py (one GPU).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def st_cached_step(
    model: str,
    queries: list[str],
    documents: list[str],
    chunk: int,
    seq: int,
    dtype: torch.dtype,
    device: str,
) -> tuple[Callable[[], None], int, int]:
    """A step (forward and backward, gradients cleared after) and the model's parameter and
    the batch's token counts."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import CachedMultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    body = Transformer(model, max_seq_length=seq, model_kwargs={"dtype": dtype})
    st = SentenceTransformer(
        modules=[body, Pooling(body.get_embedding_dimension(), "lasttoken"), Normalize()],
        device=device,
    )
    loss = CachedMultipleNegativesRankingLoss(
        st,
        mini_batch_size=chunk,
        directions=("query_to_doc", "doc_to_query"),
        partition_mode="per_direction",
    )
    features = [st.preprocess(queries), st.preprocess(documents)]
    features = [
        {k: v.to(device) if torch.is_tensor(v) else v for k, v in f.items()} for f in features
    ]
    tokens = sum(int(f["attention_mask"].sum()) for f in features)
    n_params = sum(p.numel() for p in st.parameters())

    def run() -> None:
        loss(features, None).backward()
        st.zero_grad(set_to_none=True)

    return run, n_params, tokens
