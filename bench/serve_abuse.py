"""Keyed clients' latency while anonymous and greedy clients abuse the server.

`cpt serve` (the real CLI, one API key, all-MiniLM-L6-v2 by default) runs as its own process.
Four keyed clients send short requests (4 SciFact texts) back to back, first alone (the
baseline), then while 20 keyless clients each send bodies of the size limit (8 MiB) and 2 keyed
clients each send one string 1 MiB shorter, each abuser at most once every `--every` seconds
(0: back to back; on one machine a faster server otherwise just takes more abuse). The abusers
run in a process of their own, so the keyed clients' event loop times the server, not the load
generator's sends (all three processes still share the machine's cores). The table gives the
keyed clients' p50/p99 in both phases and the p99 ratio (target <= 3x), every abusive answer by
status, and the server's resident memory (sampled every 50 ms) before and at its peak.

    python bench/serve_abuse.py
    python bench/serve_abuse.py --model smollm2-135m --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import statistics
import sys
import time

import httpx
from serve import Server, bench_texts  # bench/serve.py, beside this script

from cpt_core.serve.settings import ServeSettings

KEY = "bench-key"
BODY = ServeSettings().max_body_bytes  # floods at the limit, huge strings just under it
MIB = BODY >> 20


async def keyed_client(url: str, texts: list[str], until: float, latencies: list[float]):
    async with httpx.AsyncClient(timeout=120, headers={"Authorization": f"Bearer {KEY}"}) as c:
        i = 0
        while time.monotonic() < until:
            batch = texts[i % len(texts) : i % len(texts) + 4] or texts[:4]
            start = time.perf_counter()
            answer = await c.post(url, json={"model": "bench", "input": batch})
            answer.raise_for_status()
            latencies.append(time.perf_counter() - start)
            i += 4


async def abuser(
    url: str, body: bytes, headers: dict, until: float, every: float, statuses: collections.Counter
):
    async with httpx.AsyncClient(timeout=120, headers=headers) as c:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                answer = await c.post(url, content=body)
                statuses[str(answer.status_code)] += 1
            except httpx.TransportError as exc:  # counted, never hidden
                statuses[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, started + every - time.monotonic()))


async def sample_rss(server: Server, until: float, peak: list[float]) -> None:
    while time.monotonic() < until:
        peak[0] = max(peak[0], server.rss_mb())
        await asyncio.sleep(0.05)


async def abusers(url: str, until: float, every: float) -> tuple[dict, dict]:
    """The 20 keyless floods and 2 greedy keyed clients, until `until`; their answers."""
    anonymous: collections.Counter = collections.Counter()
    greedy: collections.Counter = collections.Counter()
    short = json.dumps({"model": "bench", "input": ["a short text"] * 2048}).encode()
    flood = (short * (BODY // len(short) + 1))[:BODY]  # never parsed
    plain = {"content-type": "application/json"}
    huge = json.dumps({"model": "bench", "input": "contrastive " * ((BODY - (1 << 20)) // 12)})
    keyed = plain | {"Authorization": f"Bearer {KEY}"}
    tasks = [abuser(url, flood, plain, until, every, anonymous) for _ in range(20)]
    tasks += [abuser(url, huge.encode(), keyed, until, every, greedy) for _ in range(2)]
    await asyncio.gather(*tasks)
    return dict(anonymous), dict(greedy)


def abuse_process(url: str, until: float, every: float, answers) -> None:
    answers.put(asyncio.run(abusers(url, until, every)))


async def phase(
    server: Server, texts: list[str], seconds: float, abuse: bool, every: float = 0.0
) -> tuple:
    url = server.url
    until = time.monotonic() + seconds
    latencies: list[float] = []
    peak = [server.rss_mb()]
    if abuse:  # CLOCK_MONOTONIC is shared by the processes of one machine
        answers = multiprocessing.get_context("spawn").Queue()
        generator = multiprocessing.get_context("spawn").Process(
            target=abuse_process, args=(url, until, every, answers)
        )
        generator.start()
    tasks = [keyed_client(url, texts[k * 50 :], until, latencies) for k in range(4)]
    tasks.append(sample_rss(server, until, peak))
    await asyncio.gather(*tasks)
    anonymous, greedy = ({}, {})
    if abuse:
        anonymous, greedy = answers.get(timeout=300)
        generator.join()
    return latencies, anonymous, greedy, peak[0]


def p(latencies: list[float], q: int) -> float:
    return statistics.quantiles(latencies, n=100)[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--every", type=float, default=0.0, help="seconds between an abuser's sends"
    )
    args = parser.parse_args()
    texts = bench_texts(400)
    command = [sys.executable, "-m", "cpt_core.cli", "serve", args.model, "--name", "bench"]
    command += ["--port", "{port}"]
    with Server(command, {"CPT_API_KEYS": KEY}, "/v1/embeddings", "cpt serve") as server:
        asyncio.run(phase(server, texts, 3, abuse=False))  # warm-up
        before = server.rss_mb()
        alone, _, _, alone_peak = asyncio.run(phase(server, texts, args.seconds, abuse=False))
        abused, anonymous, greedy, abused_peak = asyncio.run(
            phase(server, texts, args.seconds, abuse=True, every=args.every)
        )
    pace = f"each abuser every {args.every:g} s" if args.every else "abusers back to back"
    print(f"{args.model}, 4 keyed clients x 4 texts, {args.seconds:.0f} s a phase, {pace}")
    print("| phase | keyed requests | p50 ms | p99 ms | p99 vs alone | abusive answers", end="")
    print(" | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---|---:|")
    base = p(alone, 99)
    for name, lat, answers, peak in (
        ("alone", alone, {}, alone_peak),
        (
            "abused",
            abused,
            {f"keyless {MIB} MiB": anonymous, f"keyed {MIB - 1} MiB string": greedy},
            abused_peak,
        ),
    ):
        said = "; ".join(f"{who}: {dict(c)}" for who, c in answers.items()) or "-"
        row = f"| {name} | {len(lat)} | {p(lat, 50):.0f} | {p(lat, 99):.0f} | "
        print(row + f"{p(lat, 99) / base:.2f}x | {said} | {peak:.0f} |")
    print(f"resident memory after warm-up: {before:.0f} MB")


if __name__ == "__main__":
    main()
