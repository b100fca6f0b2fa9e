"""The model folder: a plain Hugging Face folder plus cpt.json, cpt's own metadata.

Any transformers user can load the weights; cpt.json says how to use them as an embedder
(delimiters, pooling, max length), what they were made from, and the learned temperature.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from cpt_core.errors import CptError
from cpt_core.model.delimiters import Delimiters

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


def read_meta(folder: Path) -> CptMeta | None:
    path = folder / CPT_JSON
    if not path.is_file():
        return None
    try:
        return CptMeta.model_validate_json(path.read_text())
    except ValueError as exc:
        raise CptError(f"{path} is not valid cpt metadata: {str(exc).splitlines()[0]}") from exc


def save_model(encoder, meta: CptMeta, folder: Path) -> Path:
    """Write into a temp sibling, then swap in, so a crash never leaves half a model."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    encoder.backbone.save_pretrained(staging)
    encoder.tokenizer.tokenizer.save_pretrained(staging)
    (staging / CPT_JSON).write_text(json.dumps(meta.model_dump(mode="json"), indent=2) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder
