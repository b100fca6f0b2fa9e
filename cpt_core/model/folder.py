"""The model folder: a plain Hugging Face folder plus cpt.json, cpt's own metadata.

Any transformers user can load the weights; cpt.json says how to use them as an embedder
(delimiters, pooling, max length), what they were made from, and the learned temperature.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from cpt_core.errors import CptError
from cpt_core.model.delimiters import Delimiters
from cpt_core.staging import atomic_dir

CPT_JSON = "cpt.json"


class CptMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    base_model: str
    delimiters: Delimiters = Delimiters()
    pooling: str = "last"
    max_length: int = 512
    normalise: bool = True
    logit_scale: float | None = None
    train_config: dict | None = None
    data_manifests: list[dict] = []
    steps: int = 0
    matryoshka_dims: list[int] = []  # widths trained to embed on their own (prefixes)


def read_meta(folder: Path) -> CptMeta | None:
    path = folder / CPT_JSON
    if not path.is_file():
        return None
    try:
        return CptMeta.model_validate_json(path.read_text())
    except ValueError as exc:
        raise CptError(f"{path} is not valid cpt metadata: {str(exc).splitlines()[0]}") from exc


def save_model(encoder, meta: CptMeta, folder: Path, weights: dict | None = None) -> Path:
    """Written whole or not at all (cpt_core.staging), so a crash never leaves half a model.
    `weights` replaces the backbone's own state (gathered whole from a sharded run)."""
    folder = Path(folder)
    with atomic_dir(folder) as staging:
        encoder.backbone.save_pretrained(staging, state_dict=weights)
        encoder.tokenizer.tokenizer.save_pretrained(staging)
        meta_json = json.dumps(meta.model_dump(mode="json"), indent=2) + "\n"
        (staging / CPT_JSON).write_text(meta_json)
    return folder
