"""Embedder: the user-facing way to turn texts into vectors with a cpt (or any decoder) model.

`Embedder.from_pretrained(path).encode(texts, side="query")` reads the delimiters and max length
from cpt.json (defaults for a plain decoder, which is how the untrained baseline is built),
sorts texts by length and batches them by a token budget (cpt_core/model/token_batches.py), so each
batch is padded little and sized to the device, and returns normalised float32 arrays
in the input order. Inference runs in bfloat16 wherever the hardware has it (GPUs, and CPUs with
AVX512-BF16 or AMX, where it is twice as fast as float32 and cosines agree to 1e-3), on a CPU with
its linear weights laid out once for oneDNN (cpt_core/model/packed_linear.py); training never
goes through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cpt_core.model.bf16 import inference_dtype
from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters, Side
from cpt_core.model.encoder import Encoder
from cpt_core.model.folder import CptMeta, read_meta
from cpt_core.model.packed_linear import pack_linears
from cpt_core.model.token_batches import default_batch_tokens, token_batches
from cpt_core.pretrained.load import load_backbone
from cpt_core.pretrained.reference import resolve


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
        dtype: str = "auto",
        pack: bool = True,
    ) -> Embedder:
        """`pack=False` keeps plain `nn.Linear` layers on a CPU (the benchmark's baseline)."""
        location = resolve(reference)
        meta = read_meta(Path(location)) if Path(location).is_dir() else None
        meta = meta or CptMeta(base_model=str(reference))
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        backbone, tokenizer = load_backbone(location, dtype=inference_dtype(device, dtype))
        length = max_length or meta.max_length
        wrapped = DelimitedTokenizer(tokenizer, delimiters or meta.delimiters, length)
        backbone = backbone.to(device)
        if pack:
            pack_linears(backbone)
        return cls(Encoder(backbone, wrapped), meta)

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def at_length(self, max_length: int) -> Embedder:
        """The same weights (shared, not copied) tokenizing with another length cap: how an
        index built with a shorter cap is queried by a model served at its full length."""
        tokenizer = self.encoder.tokenizer.at_length(max_length)
        meta = self.meta.model_copy(update={"max_length": max_length})
        return Embedder(Encoder(self.encoder.backbone, tokenizer), meta)

    def encode(
        self,
        texts: list[str],
        side: Side = "document",
        batch_size: int = 32,
        progress=False,
        max_batch_tokens: int | None = None,
    ) -> np.ndarray:
        """Vectors in input order; batches hold at most `batch_size` texts and, padded, at
        most `max_batch_tokens` tokens (by default what measured fastest on this device)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        sequences = self.encoder.tokenizer.encode(list(texts), side)
        budget = max_batch_tokens or default_batch_tokens(next(self.encoder.parameters()).device)
        batches = token_batches([len(s) for s in sequences], budget, batch_size)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for index in tqdm(batches, desc=f"embedding ({side} side)", disable=not progress):
            out[index] = self.embed_ids([sequences[i] for i in index])
        return out

    @torch.inference_mode()
    def embed_ids(self, sequences: list[list[int]], pad_to: int = 1) -> np.ndarray:
        """One forward pass over already wrapped sequences (`tokenizer.encode` / `wrap_ids`)."""
        batch = self.encoder.tokenizer.collate(sequences, pad_to)
        return self.encoder(batch).float().cpu().numpy()
