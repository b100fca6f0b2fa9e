"""`cpt export MODEL --to sentence-transformers OUT`: a folder `SentenceTransformer(OUT)` loads
as it is (no custom code, no `trust_remote_code`) and that embeds exactly as cpt does.

Of the two ways that reproduce cpt's vectors, this takes a `Router` with one Transformer per
side, each with its side's delimiters as its tokenizer's post-processor (export/delimiters.py).
The delimiters then live in tokenizer.json, where the tokenizers library itself keeps the
closing one on truncation, so the folder embeds the same in anything that reads a tokenizer
(text-embeddings-inference, transformers.js, plain transformers) and needs no chat template
or truncation fix-up that a consumer might not apply. Its cost is two Transformer folders;
their identical weights are hard links to one file, so the disk holds them once. Right padding
is fixed in each tokenizer's config: the Llama forward does not shift positions under left
padding, and last-token pooling reads the attention mask.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Router
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

from cpt_core.export.card import model_card
from cpt_core.export.delimiters import side_post_processor
from cpt_core.model.delimiters import DelimitedTokenizer, Side
from cpt_core.model.embedder import Embedder
from cpt_core.pretrained.digest import file_digest
from cpt_core.staging import atomic_dir

SIDES: tuple[Side, ...] = ("query", "document")


def export_sentence_transformers(reference: str, out: Path, max_length: int | None = None) -> Path:
    """Write the export of `reference` (a cpt model folder, a catalogue name or a plain decoder,
    which gets cpt's default delimiters) to `out`, whole or not at all."""
    # float32, whatever this machine would infer in: the file keeps every bit of the weights
    embedder = Embedder.from_pretrained(
        reference, max_length=max_length, device="cpu", dtype="float32"
    )
    with atomic_dir(out) as staging:
        sides = {side: _side_modules(embedder, side, staging / f".{side}") for side in SIDES}
        router = Router.for_query_document(sides["query"], sides["document"])
        SentenceTransformer(modules=[router], device="cpu").save(str(staging))
        for side in SIDES:
            shutil.rmtree(staging / f".{side}")
        _link_identical_weights(staging)
        (staging / "README.md").write_text(model_card(reference, embedder, Path(out).name))
    return Path(out)


def _side_modules(embedder: Embedder, side: Side, folder: Path) -> list:
    """Transformer (the side's tokenizer), last-token pooling, normalisation."""
    tokenizer = embedder.encoder.tokenizer
    embedder.encoder.backbone.save_pretrained(folder)
    tokenizer.tokenizer.save_pretrained(folder)
    _write_side_tokenizer(folder, tokenizer, side)
    transformer = Transformer(str(folder), max_seq_length=tokenizer.max_length)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
    return [transformer, pooling, *([Normalize()] if embedder.meta.normalise else [])]


def _write_side_tokenizer(folder: Path, tokenizer: DelimitedTokenizer, side: Side) -> None:
    """tokenizer.json with the side's delimiters; tokenizer_config.json loading it as a plain
    fast tokenizer (model-specific classes rebuild their post-processor on load), padding on
    the right, capped at cpt's max length, and without the chat template an instruct model
    ships (sentence-transformers applies one when it finds it: cpt embeds the bare text)."""
    opening, closing = tokenizer.wrap[side]
    pieces = [("cpt_specials", tokenizer.prefix), (f"cpt_{side}_open", opening), ("$A", [])]
    pieces.append((f"cpt_{side}_close", closing))
    path = folder / "tokenizer.json"
    spec = json.loads(path.read_text())
    tokens_of = tokenizer.tokenizer.convert_ids_to_tokens
    spec["post_processor"] = side_post_processor(spec.get("post_processor"), pieces, tokens_of)
    path.write_text(json.dumps(spec, ensure_ascii=False))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)  # sentence-transformers would wrap each text in a chat
    for template in folder.glob("chat_template.*"):
        template.unlink()
    config |= {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "padding_side": "right",
        "model_max_length": tokenizer.max_length,
    }
    if tokenizer.tokenizer.pad_token is None:  # batches need one; the mask hides it
        config["pad_token"] = tokenizer.tokenizer.convert_ids_to_tokens(tokenizer.pad_id)
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def _link_identical_weights(folder: Path) -> None:
    """The two sides' weights are the same bytes: keep one file, hard-linked twice."""
    seen: dict[tuple[int, str], Path] = {}
    for path in sorted(folder.rglob("*.safetensors")):
        key = (path.stat().st_size, file_digest(path))
        if key in seen:
            path.unlink()
            os.link(seen[key], path)
        else:
            seen[key] = path
