"""How many bytes of JSON a request at the token cap takes: the measurement behind `cpt serve`'s
default body limit.

A request may bring `max_request_tokens` (300,000) tokens over up to 2048 inputs. The bytes
that takes depend on the text and the tokenizer: here real English abstracts (SciFact), Python
functions (CoSQA's pool) and multilingual crawl pages (zh, de, ja, en, nl), tokenized by
SmolLM2 and all-MiniLM-L6-v2, and encoded as clients send them (`json.dumps`, with and without
ASCII escapes). The table gives bytes per token and the body the token cap implies.

    python bench/request_bytes.py
"""

from __future__ import annotations

import itertools
import json

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from transformers import AutoTokenizer

from cpt_core.paths import shared_data
from cpt_core.pretrained.reference import resolve
from cpt_core.serve.settings import ServeSettings


def abstracts() -> list[str]:
    with shared_data("beir", "scifact", "corpus.jsonl").open() as f:
        return [json.loads(line)["text"] for line in itertools.islice(f, 2000)]


def functions() -> list[str]:
    lines = shared_data("code", "cosqa", "code_idx_map.txt").read_text().splitlines()
    return [line.split("<CODESPLIT>")[-1] for line in lines[:2000]]


def pages() -> list[str]:
    texts = []
    with shared_data("crawl", "cc-main-2020-34-sample.warc.gz").open("rb") as f:
        for record in ArchiveIterator(f, record_types=WarcRecordType.response):
            text = extract_plain_text(record.reader.read().decode("utf-8", "replace"))
            texts += [text] if text else []
    return texts


def main() -> None:
    cap = ServeSettings().max_request_tokens
    sets = {"SciFact abstracts": abstracts(), "CoSQA functions": functions()}
    sets["crawl pages (zh, de, ja, en, nl)"] = pages()
    header = "| tokenizer | texts | tokens | bytes/token (escaped) | bytes/token (UTF-8) |"
    print(f"{header} {cap:,} tokens, MB |\n|---|---|---:|---:|---:|---:|")
    for model in ("smollm2-135m", "all-minilm-l6-v2"):
        tokenizer = AutoTokenizer.from_pretrained(resolve(model))
        for name, texts in sets.items():
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            tokens = sum(map(len, ids))
            escaped = len(json.dumps(texts).encode()) / tokens
            utf8 = len(json.dumps(texts, ensure_ascii=False).encode()) / tokens
            print(
                f"| {model} | {name} | {tokens:,} | {escaped:.2f} | {utf8:.2f} "
                f"| {cap * max(escaped, utf8) / 1e6:.1f} |"
            )


if __name__ == "__main__":
    main()
