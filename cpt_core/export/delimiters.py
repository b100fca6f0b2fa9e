"""The delimiters as the tokenizer's own post-processor, so any consumer of tokenizer.json
wraps a text exactly as cpt does.

cpt tokenizes the delimiters apart from the text (BPE would merge `.]` into one token in
SmolLM2) and cuts only the content, so the closing delimiter, whose hidden state is the
embedding, always survives. A `TemplateProcessing` post-processor does the same inside the
tokenizers library: it adds fixed token ids around the encoded text, and truncation leaves room
for them before they are added. So a side's tokenizer.json carries
`[specials] [opening] $A [closing]` as ids, for that side's delimiters.
"""

from __future__ import annotations

from collections.abc import Callable

REPLACED = ("TemplateProcessing", "BertProcessing", "RobertaProcessing")  # they add specials


def side_post_processor(
    existing: dict | None,
    pieces: list[tuple[str, list[int]]],
    tokens_of: Callable[[list[int]], list[str]],
) -> dict:
    """The post-processor for one side: `pieces` are (name, ids) in order, with "$A" standing
    for the text. A processor that adds special tokens itself (BOS) is replaced, since the
    pieces already hold what it added; one that only fixes offsets (ByteLevel) is kept first."""
    single, specials = [], {}
    for name, ids in pieces:
        if name == "$A":
            single.append({"Sequence": {"id": "A", "type_id": 0}})
        elif ids:
            single.append({"SpecialToken": {"id": name, "type_id": 0}})
            specials[name] = {"id": name, "ids": ids, "tokens": tokens_of(ids)}
    pair = [*single, {"Sequence": {"id": "B", "type_id": 1}}]
    template = {"type": "TemplateProcessing", "single": single, "pair": pair}
    template["special_tokens"] = specials
    kept = [p for p in _flatten(existing) if p["type"] not in REPLACED]
    return {"type": "Sequence", "processors": [*kept, template]} if kept else template


def _flatten(processor: dict | None) -> list[dict]:
    if processor is None:
        return []
    if processor["type"] == "Sequence":
        return [p for inner in processor["processors"] for p in _flatten(inner)]
    return [processor]
