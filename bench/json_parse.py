"""Parsing request bodies: the standard library's json against orjson, on the bodies
`cpt serve` meets.

The bodies: 2048 SciFact documents (a full, legitimate request), 2048 short strings, a 16 MiB
body of short strings (what a flood would bring if it were parsed) and one 15 MiB string (a
greedy keyed client). Each is parsed `--repeat` times; the table gives the mean and orjson's
time as a ratio of json's (below 1: orjson is faster).

    python bench/json_parse.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable

import orjson

from cpt_core.paths import shared_data


def bodies() -> dict[str, bytes]:
    with shared_data("beir", "scifact", "corpus.jsonl").open() as f:
        docs = [json.loads(line)["text"] for line in itertools.islice(f, 2048)]

    def body(value) -> bytes:
        return json.dumps({"model": "m", "input": value}).encode()

    return {
        "2048 SciFact documents": body(docs),
        "2048 short strings": body(["a short text"] * 2048),
        "16 MiB of short strings": body(["a short text"] * 1_000_000),
        "one 15 MiB string": body("contrastive " * ((15 << 20) // 12)),
    }


def mean_ms(parse: Callable[[bytes], object], body: bytes, repeat: int) -> float:
    parse(body)  # warm-up
    started = time.perf_counter()
    for _ in range(repeat):
        parse(body)
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print("| body | KiB | json ms | orjson ms | orjson / json |")
    print("|---|---:|---:|---:|---:|")
    for name, body in bodies().items():
        plain, fast = (mean_ms(f, body, args.repeat) for f in (json.loads, orjson.loads))
        print(f"| {name} | {len(body) >> 10} | {plain:.1f} | {fast:.1f} | {fast / plain:.2f} |")


if __name__ == "__main__":
    main()
