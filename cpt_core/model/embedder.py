"""Embedder: the user-facing way to turn texts into vectors with a cpt (or any decoder) model.

`Embedder.from_pretrained(path).encode(texts, side="query")` reads the delimiters and max length
from cpt.json (defaults for a plain decoder, which is how the untrained baseline is built),
sorts texts by length so each batch is padded little, and returns normalised float32 arrays
in the input order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cpt_core.config import Delimiters
from cpt_core.model.delimiters import DelimitedTokenizer, Side
from cpt_core.model.encoder import Encoder
from cpt_core.model.folder import CptMeta, read_meta
from cpt_core.models.load import load_backbone, resolve


class Embedder:
    def __init__(self, encoder: Encoder, meta: CptMeta):
        self.encoder = encoder.eval()
        self.meta = meta

    @classmethod
    def from_pretrained(
        cls,
        reference: str | Path,
        *,
        max_length: int | None = None,
        device: str | None = None,
        delimiters: Delimiters | None = None,
    ) -> Embedder:
        location = resolve(reference)
        meta = read_meta(Path(location)) if Path(location).is_dir() else None
        meta = meta or CptMeta(base_model=str(reference))
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        backbone, tokenizer = load_backbone(location, dtype=dtype)
        length = max_length or meta.max_length
        wrapped = DelimitedTokenizer(tokenizer, delimiters or meta.delimiters, length)
        return cls(Encoder(backbone.to(device), wrapped), meta)

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @torch.inference_mode()
    def encode(
        self, texts: list[str], side: Side = "document", batch_size: int = 32, progress=False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sequences = self.encoder.tokenizer.encode(list(texts), side)
        order = np.argsort([-len(s) for s in sequences], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc=f"embedding ({side} side)", disable=not progress):
            index = order[start : start + batch_size]
            batch = self.encoder.tokenizer.collate([sequences[i] for i in index])
            out[index] = self.encoder(batch).float().cpu().numpy()
        return out
