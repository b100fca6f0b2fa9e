"""The tokenizer that passage budgets are counted in, as JSON that travels to Beam workers.

Workers on Dataflow have no model cache, so the job ships the tokenizer's definition itself
(a few MB, once per worker) rather than a path. A catalogue name is fetched on first use.
"""

from __future__ import annotations

from transformers import AutoTokenizer

from cpt_core.errors import CptError
from cpt_core.pretrained.cache import is_complete, model_dir
from cpt_core.pretrained.catalogue import CATALOGUE
from cpt_core.pretrained.reference import resolve


def tokenizer_json(reference: str) -> str:
    """The fast tokenizer of a model reference (catalogue name, folder, hub id) as JSON."""
    if reference in CATALOGUE and not is_complete(model_dir(reference)):
        # converting the fetched weights needs torch; a mining image without it (Beam workers,
        # infra/dataflow/Dockerfile) gets the tokenizer from the client, never through here
        from cpt_core.pretrained.fetch import fetch

        fetch(reference)
    location = resolve(reference)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
    except Exception as exc:  # transformers raises many types; the user needs one line
        raise CptError(
            f"cannot load the tokenizer of '{reference}': {exc}".splitlines()[0]
        ) from exc
    if not tokenizer.is_fast:
        raise CptError(f"'{reference}' has no fast (Rust) tokenizer; passages need one")
    return tokenizer.backend_tokenizer.to_str()
