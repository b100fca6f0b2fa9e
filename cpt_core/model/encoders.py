"""Every model cpt embeds with, behind one interface: texts and a side in, unit vectors out.

The server, the index and the evaluation all load models through here. A cpt model folder, a
plain decoder (the untrained baseline: last token, cpt's delimiters) and a sentence-transformers
folder (the off-the-shelf baseline) all load from the same reference a user types: a catalogue
name, a folder or a hub id. A folder with `modules.json` is a sentence-transformers model;
anything else is read as a decoder.

`space` names the vector space (weights, tokenizer, delimiters, max length), so an index refuses
queries embedded by another model; `identity` adds the precision, so the embedding cache can
never serve vectors of a different model, setting or dtype.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from cpt_core.model.bf16 import inference_dtype
from cpt_core.model.char_cut import cut_texts
from cpt_core.model.delimiters import Side, padded_width, special_tokens_around
from cpt_core.model.names import model_name
from cpt_core.model.packed_linear import pack_linears
from cpt_core.model.widths import trained_widths
from cpt_core.pretrained.catalogue import CATALOGUE
from cpt_core.pretrained.digest import weights_digest, with_precision
from cpt_core.pretrained.fetch import fetch
from cpt_core.pretrained.reference import resolve


class TextEncoder(Protocol):
    """Texts and a side in, unit vectors out; the token-level parts let a server tokenize,
    batch across requests and run the forward pass as separate steps."""

    name: str
    space: str  # the vector space: weights, tokenizer, delimiters, length cap
    dtype: str  # the precision vectors are computed in
    identity: str  # space + dtype: what cached vectors are keyed on
    dim: int
    widths: tuple[int, ...]  # the widths it embeds at: Matryoshka prefixes and dim (widths.py)
    max_length: int
    vocab_size: int

    def encode(self, texts: list[str], side: Side) -> np.ndarray: ...

    def tokenize(self, texts: list[str], side: Side) -> list[list[int]]: ...

    def wrap(self, content: list[int], side: Side) -> list[int]: ...

    def embed_ids(self, sequences: list[list[int]], pad_to: int = 1) -> np.ndarray: ...

    def at_length(self, max_length: int | None) -> TextEncoder: ...


class DecoderEncoder:
    """A cpt model (or any decoder) through cpt's Embedder: delimiters, last-token pooling."""

    def __init__(self, embedder, location: str, name: str, batch_size: int):
        self.embedder = embedder
        self.location = location
        self.name = name
        self.batch_size = batch_size
        tokenizer = embedder.encoder.tokenizer
        self.space = weights_digest(location, [tokenizer.wrap, tokenizer.max_length])
        self.dtype = str(next(embedder.encoder.parameters()).dtype).removeprefix("torch.")
        self.identity = with_precision(self.space, self.dtype)
        self.dim = embedder.dim
        self.widths = trained_widths(self.dim, embedder.meta.matryoshka_dims)
        self.max_length = tokenizer.max_length
        self.vocab_size = len(tokenizer.tokenizer)

    @classmethod
    def load(cls, reference: str, max_length: int | None, batch_size: int, dtype: str):
        from cpt_core.model.embedder import Embedder

        embedder = Embedder.from_pretrained(reference, max_length=max_length, dtype=dtype)
        return cls(embedder, resolve(reference), model_name(reference), batch_size)

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        return self.embedder.encode(texts, side, self.batch_size, progress=len(texts) > 256)

    def tokenize(self, texts: list[str], side: Side) -> list[list[int]]:
        return self.embedder.encoder.tokenizer.encode(texts, side)

    def wrap(self, content: list[int], side: Side) -> list[int]:
        return self.embedder.encoder.tokenizer.wrap_ids(content, side)

    def embed_ids(self, sequences: list[list[int]], pad_to: int = 1) -> np.ndarray:
        return self.embedder.embed_ids(sequences, pad_to)

    def at_length(self, max_length: int | None) -> DecoderEncoder:
        if max_length is None or max_length == self.max_length:
            return self
        embedder = self.embedder.at_length(max_length)
        return DecoderEncoder(embedder, self.location, self.name, self.batch_size)


class SentenceTransformerEncoder:
    """An off-the-shelf sentence encoder; it has no sides, so both embed the same way. It runs
    in the precision cpt's own models infer in on this device (bf16 where native, packed on a
    CPU), so a comparison's timings and figures are measured alike."""

    def __init__(
        self, model, location: str, name: str, batch_size: int, max_length: int | None = None
    ):
        self.model = model
        self.location = location
        self.name = name
        self.batch_size = batch_size
        self.max_length = min(max_length or model.max_seq_length, model.max_seq_length)
        self.space = weights_digest(location, ["st", self.max_length])
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.identity = with_precision(self.space, self.dtype)
        self.dim = int(model.get_embedding_dimension())
        self.widths = (self.dim,)
        self.tokenizer = model.tokenizer
        self.around = special_tokens_around(self.tokenizer)
        self.vocab_size = len(self.tokenizer)

    @classmethod
    def load(cls, reference: str, max_length: int | None, batch_size: int, dtype: str):
        from sentence_transformers import SentenceTransformer

        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        location = resolve(reference)
        device = _device()
        model = SentenceTransformer(location, device=device, local_files_only=True)
        model.to(inference_dtype(device, dtype))
        pack_linears(model)
        if max_length:
            model.max_seq_length = min(max_length, model.max_seq_length)
        return cls(model, location, model_name(reference), batch_size)

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        # a view at another length (at_length) shares the model: set its cap for this call
        native, self.model.max_seq_length = self.model.max_seq_length, self.max_length
        try:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                show_progress_bar=len(texts) > 256,
            )
        finally:
            self.model.max_seq_length = native
        # normalised in float32: in bf16 the norms are off by ~1e-3, more than the precision costs
        return torch.nn.functional.normalize(vectors.float(), dim=-1).cpu().numpy()

    def tokenize(self, texts: list[str], side: Side) -> list[list[int]]:
        """As sentence-transformers prepares a text (stripped; lowercased if the model says
        so), then cut to max_length with the tokenizer's own specials around it."""
        lower = getattr(self.model[0], "do_lower_case", False)
        texts = [t.strip().lower() if lower else t.strip() for t in texts]
        texts = cut_texts(texts, self.tokenizer, self.max_length)
        content = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [self.wrap(ids, side) for ids in content]

    def wrap(self, content: list[int], side: Side) -> list[int]:
        before, after = self.around
        return before + content[: self.max_length - len(before) - len(after)] + after

    def embed_ids(self, sequences: list[list[int]], pad_to: int = 1) -> np.ndarray:
        width = padded_width(sequences, pad_to)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        features = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.tokenizer.model_input_names:
            features["token_type_ids"] = torch.zeros_like(ids)
        device = self.model.device
        with torch.inference_mode():
            out = self.model({k: v.to(device) for k, v in features.items()})
            vectors = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)
        return vectors.cpu().numpy()

    def at_length(self, max_length: int | None) -> SentenceTransformerEncoder:
        if max_length is None or max_length == self.max_length:
            return self
        return SentenceTransformerEncoder(
            self.model, self.location, self.name, self.batch_size, max_length
        )


def load_encoder(
    reference: str, max_length: int | None = None, batch_size: int = 32, dtype: str = "auto"
) -> TextEncoder:
    """Catalogue names are fetched on first use (a verified download, once)."""
    if reference in CATALOGUE:
        fetch(reference)
    location = Path(resolve(reference))
    if (location / "modules.json").is_file():
        return SentenceTransformerEncoder.load(reference, max_length, batch_size, dtype)
    return DecoderEncoder.load(reference, max_length, batch_size, dtype)


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
