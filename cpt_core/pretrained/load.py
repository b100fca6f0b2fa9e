"""Load a pretrained decoder's backbone and tokenizer from any reference a user may give.

A reference is a catalogue name (`smollm2-135m`), a local folder, or a Hugging Face model id;
the same code serves all three. Every failure becomes one line that names the fix.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from cpt_core.errors import CptError
from cpt_core.pretrained.reference import resolve


def load_backbone(
    reference: str | Path, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The transformer without its LM head (embeddings come from hidden states) + tokenizer."""
    location = resolve(reference)
    # A causal-LM folder loaded as its backbone reports lm_head.weight as "unexpected" in a
    # large table on every load; that is by design here, so keep transformers to errors only.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a bar per load would bury the command's own output
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = AutoModel.from_pretrained(location, dtype=dtype)
    except Exception as exc:  # transformers raises many types; the user needs one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = (
            "run `cpt models fetch NAME --force`"
            if Path(location).is_dir()
            else "pass a catalogue name (`cpt models list`), a local folder, or a cached hub id"
        )
        raise CptError(f"cannot load model '{reference}': {detail[:200]}; {fix}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    if model.config.is_encoder_decoder:
        raise CptError(f"model '{reference}' is an encoder-decoder; cpt needs a decoder-only LM")
    return model, tokenizer
