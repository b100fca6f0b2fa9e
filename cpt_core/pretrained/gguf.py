"""Convert a GGUF checkpoint once into an ordinary Hugging Face safetensors folder.

transformers dequantises GGUF to float32 on load (17-100 s), but a model loaded that way
cannot be saved directly; rebuilding it from its config and copying the weights in gives a
normal folder that later loads in 1-3 s with plain `from_pretrained`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

log = logging.getLogger(__name__)


def convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    # The weights are dequantised now; a leftover gguf quantization_config would make every
    # later save_pretrained of this model refuse ("quantized with gguf, not serializable").
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # A tied output head is the one tensor allowed to be absent from the state dict.
    missing = [
        k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)
    ]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion lost weights: missing={missing} extra={unexpected}")
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    log.info("converted %s -> %s", gguf_file, out_dir)
