"""The models an evaluation compares, behind one interface: texts and a side in, unit vectors out.

A cpt model folder, a plain decoder (the untrained baseline: last token, cpt's delimiters) and a
sentence-transformers folder (the off-the-shelf baseline) all load from the same reference a
user types: a registry name, a folder or a hub id. A folder with `modules.json` is a
sentence-transformers model; anything else is read as a decoder.

`identity` names what the vectors depend on (weights bytes, delimiters, max length, dtype), so
the embedding cache can never serve vectors of a different model or setting, and an index
refuses queries embedded by another model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from cpt_core.model.delimiters import Side
from cpt_core.models.digest import weights_digest
from cpt_core.models.fetch import fetch
from cpt_core.models.load import resolve
from cpt_core.models.registry import REGISTRY


class TextEncoder(Protocol):
    name: str
    identity: str

    def encode(self, texts: list[str], side: Side) -> np.ndarray: ...


class DecoderEncoder:
    """A cpt model (or any decoder) through cpt's Embedder: delimiters, last-token pooling."""

    def __init__(self, reference: str, max_length: int | None, batch_size: int, dtype: str):
        from cpt_core.model.embedder import Embedder

        self.embedder = Embedder.from_pretrained(reference, max_length=max_length, dtype=dtype)
        self.name = display_name(reference)
        self.batch_size = batch_size
        tokenizer = self.embedder.encoder.tokenizer
        dtype_name = str(next(self.embedder.encoder.parameters()).dtype)
        setting = [tokenizer.wrap, tokenizer.max_length, dtype_name]
        self.identity = weights_digest(resolve(reference), setting)

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        return self.embedder.encode(texts, side, self.batch_size, progress=len(texts) > 256)


class SentenceTransformerEncoder:
    """An off-the-shelf sentence encoder; it has no sides, so both embed the same way."""

    def __init__(self, reference: str, max_length: int | None, batch_size: int):
        from sentence_transformers import SentenceTransformer

        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        location = resolve(reference)
        self.model = SentenceTransformer(location, device=_device(), local_files_only=True)
        if max_length:
            self.model.max_seq_length = min(max_length, self.model.max_seq_length)
        self.name = display_name(reference)
        self.batch_size = batch_size
        self.identity = weights_digest(location, ["st", self.model.max_seq_length])

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 256,
        )
        return vectors.astype(np.float32, copy=False)


def load_encoder(
    reference: str, max_length: int | None = None, batch_size: int = 32, dtype: str = "auto"
) -> TextEncoder:
    """Registry names are fetched on first use (a verified download, once)."""
    if reference in REGISTRY:
        fetch(reference)
    location = Path(resolve(reference))
    if (location / "modules.json").is_file():
        return SentenceTransformerEncoder(reference, max_length, batch_size)
    return DecoderEncoder(reference, max_length, batch_size, dtype)


def display_name(reference: str) -> str:
    """A short column header: the registry name, or a run folder's name rather than `model`."""
    path = Path(reference)
    if path.name == "model" and path.parent.name:
        return path.parent.name
    return path.name or str(reference)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
