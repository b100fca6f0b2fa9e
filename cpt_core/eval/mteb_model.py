"""Any cpt encoder as an MTEB 2.x model: MTEB's prompt type picks cpt's side.

MTEB says what it embeds with a prompt type: `query` for a retrieval query, `document` for a
corpus entry, none for symmetric tasks (STS, clustering, classification). cpt models embed the
two sides differently (their delimiters), so the prompt type maps onto the side, and tasks
without one use a side the caller picks (document by default, as `cpt serve` and the
evaluation's sentence tasks do).

The model meta is filled from the encoder, so MTEB never replaces it with an empty one: the
revision is the encoder's identity hash (weights, delimiters, length, dtype), so a results
folder names exactly the weights and setting that produced it.

A `cpt export --to sentence-transformers` folder is a Router with a route per side; the
evaluation's loader reads only folders with a config.json at the top, so it loads here through
sentence-transformers' own query and document routes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.types import PromptType

from cpt_core.eval.embedding_cache import CachedEncoder
from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import DecoderEncoder, load_encoder
from cpt_core.model.names import model_name
from cpt_core.pretrained.digest import weights_digest

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from torch.utils.data import DataLoader


class SidedEncoder(Protocol):
    """What the adapter needs of an encoder: texts and a side in, unit vectors out."""

    name: str
    identity: str
    dim: int
    max_length: int

    def encode(self, texts: list[str], side: Side) -> np.ndarray: ...


class CptMtebModel(AbsEncoder):
    """An MTEB encoder over a cpt encoder; vectors are unit length, so cosine is their dot."""

    def __init__(
        self,
        encoder: SidedEncoder | CachedEncoder,
        unsided: Side = "document",
        meta: ModelMeta | None = None,
    ):
        self.model = encoder
        self.unsided = unsided
        self.mteb_model_meta = meta or model_meta(encoder)  # a cache wrapper needs `meta`

    def side(self, prompt_type: PromptType | None) -> Side:
        if prompt_type is None:
            return self.unsided
        return "query" if prompt_type == PromptType.query else "document"

    def encode(
        self,
        inputs: DataLoader,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        # one call for the whole loader: cpt sorts by length and batches itself
        texts = [text for batch in inputs for text in batch["text"]]
        return self.model.encode(texts, self.side(prompt_type))


def model_meta(encoder: SidedEncoder) -> ModelMeta:
    """MTEB's record of the model, from what the encoder knows."""
    decoder = isinstance(encoder, DecoderEncoder)
    trained = decoder and encoder.embedder.meta.steps > 0
    return ModelMeta(
        loader=None,
        name=encoder.name if "/" in encoder.name else f"cpt/{encoder.name}",  # MTEB: org/name
        revision=encoder.identity,
        release_date=None,
        languages=None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=encoder.max_length,
        embed_dim=encoder.dim,
        license=None,
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch", "Transformers" if decoder else "Sentence Transformers"],
        similarity_fn_name="cosine",
        use_instructions=False,  # the delimiters are fixed; there is no instruction to pass
        training_datasets=None,
        modalities=["text"],
        model_type=["dense"],
        adapted_from=encoder.embedder.meta.base_model if trained else None,
    )


def load_model(
    reference: str,
    unsided: Side = "document",
    max_length: int | None = None,
    batch_size: int = 32,
    cached: bool = False,
    cache: Path | None = None,
) -> CptMtebModel:
    """A cpt model folder, a catalogue name, a sentence-transformers folder or hub id, or a
    `cpt export` folder, ready for `mteb.evaluate`. `cached`: through cpt's embedding cache
    (in `cache`, else the default folder), which `cpt eval` shares."""
    folder = Path(reference)
    if (folder / "router_config.json").is_file() and not (folder / "config.json").is_file():
        encoder: SidedEncoder = RoutedSentenceTransformer(folder, max_length, batch_size)
    else:
        encoder = load_encoder(reference, max_length, batch_size)
    embeds = CachedEncoder(encoder, cache) if cached else encoder
    return CptMtebModel(embeds, unsided, model_meta(encoder))


class RoutedSentenceTransformer:
    """A sentence-transformers folder with a Router: each side through its own route."""

    def __init__(self, folder: Path, max_length: int | None, batch_size: int):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), local_files_only=True)
        native = self.model.max_seq_length
        self.max_length = min(max_length or native, native)
        self.model.max_seq_length = self.max_length
        self.batch_size = batch_size
        self.name = model_name(str(folder))
        self.dim = int(self.model.get_embedding_dimension())
        # the weights sit in one subfolder per route, below where weights_digest looks
        routes = sorted(p.parent for p in folder.glob("*/config.json"))
        digests = [weights_digest(str(route), ["st-route", self.max_length]) for route in routes]
        self.identity = hashlib.sha256("".join(digests).encode()).hexdigest()

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        encode = self.model.encode_query if side == "query" else self.model.encode_document
        vectors = encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 256,
        )
        return vectors.astype(np.float32, copy=False)
