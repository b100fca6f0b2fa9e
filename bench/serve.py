"""Serving throughput and latency: `cpt serve` under concurrent clients, against in-process
encoding of the same texts and against infinity-emb serving the same MiniLM folder.

Each server runs as its own process (the real CLI), started by this script on 127.0.0.1; the
load comes from one asyncio process of N clients, each sending requests of 1-32 texts (drawn
from SciFact claims and abstract openings) back to back. A level runs `--seconds` after a
warm-up; texts/s counts the texts of requests that finished inside the measured window, p50
and p99 are those requests' latencies. "vs in-process" divides by the best texts/s that
`encode` reaches on the same texts in this process, over batch sizes 8-128, measured first
while no server runs. `--soak S` then keeps 32 clients on cpt's server for S seconds and reads
its resident memory after 1 minute and at the end.

    python bench/serve.py                                  # SmolLM2-135M and MiniLM, 1/8/32
    bash bench/setup_infinity.sh && python bench/serve.py --infinity   # + the anchor
    python bench/serve.py --models all-minilm-l6-v2 --soak 600 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from cpt_core.data.jsonl import read_jsonl
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import REPO, shared_data
from cpt_core.pretrained.reference import resolve
from cpt_core.train.launch import free_port

INFINITY = REPO / ".venv-infinity" / "bin" / "infinity_emb"
QUIET = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}


def bench_texts(n: int, seed: int = 0) -> list[str]:
    """Real short texts: SciFact claims and the first 12-60 words of abstracts."""
    folder = shared_data("beir", "scifact")
    claims = [row["text"] for _, row in read_jsonl(folder / "queries.jsonl")]
    rng = random.Random(seed)
    openings = [
        " ".join(row["text"].split()[: rng.randint(12, 60)])
        for _, row in read_jsonl(folder / "corpus.jsonl")
    ]
    pool = [t for t in claims + openings if t.strip()]
    rng.shuffle(pool)
    return pool[:n]


def in_process(model: str, texts: list[str], max_length: int) -> tuple[float, int, int]:
    """Best texts/s of the model's own `encode` over batch sizes, that batch size, and the
    model's dimension."""
    best = (0.0, 0)
    encoder = load_encoder(model, max_length)
    for batch in (8, 16, 32, 64, 128):
        encoder.batch_size = batch
        encoder.encode(texts[:batch], "document")
        start = time.perf_counter()
        encoder.encode(texts, "document")
        best = max(best, (len(texts) / (time.perf_counter() - start), batch))
    return *best, encoder.dim


class Server:
    """A server process on a free port, ready when /health answers 200."""

    def __init__(self, command: list[str], env: dict, route: str, name: str):
        self.port = free_port()
        self.command = [c.replace("{port}", str(self.port)) for c in command]
        self.env = {**os.environ, **QUIET, **env}
        self.url = f"http://127.0.0.1:{self.port}{route}"
        self.health = f"http://127.0.0.1:{self.port}/health"
        self.name = name

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.process.stderr.read().decode()}")
            try:
                if httpx.get(self.health, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not start in 300 s")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def cpt_server(model: str, max_length: int) -> Server:
    command = [sys.executable, "-m", "cpt_core.cli", "serve", model, "--name", "bench"]
    command += ["--port", "{port}", "--set", f"max_length={max_length}"]
    return Server(command, {}, "/v1/embeddings", f"cpt serve {model}")


def infinity_server(model: str) -> Server:
    command = [str(INFINITY), "v2", "--model-id", resolve(model), "--served-model-name", "bench"]
    command += ["--host", "127.0.0.1", "--port", "{port}", "--engine", "torch", "--device", "cpu"]
    command += ["--url-prefix", "/v1", "--no-model-warmup", "--log-level", "warning"]
    env = {"INFINITY_ANONYMOUS_USAGE_STATS": "0", "INFINITY_HOME": "/tmp/cpt-bench-infinity"}
    return Server(command, env, "/v1/embeddings", f"infinity-emb {model}")


async def load(url: str, texts: list[str], clients: int, seconds: float, warmup: float, dim: int):
    """Latencies and texts of the requests that finished inside the measured window."""
    done: list[tuple[float, float, int]] = []  # (finished at, latency, texts)
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(timeout=600) as http:
            while time.perf_counter() < window[1]:
                n = rng.randint(1, 32)
                batch = [texts[rng.randrange(len(texts))] for _ in range(n)]
                body = {"model": "bench", "input": batch, "encoding_format": "base64"}
                sent = time.perf_counter()
                answer = await http.post(url, json=body)
                finished = time.perf_counter()
                answer.raise_for_status()
                data = answer.json()["data"]
                vector = np.frombuffer(base64.b64decode(data[0]["embedding"]), dtype="<f4")
                assert len(data) == n and vector.shape == (dim,)
                done.append((finished, finished - sent, n))

    await asyncio.gather(*(client(seed) for seed in range(clients)))
    inside = [(lat, n) for at, lat, n in done if window[0] <= at <= window[1]]
    latencies = sorted(lat for lat, _ in inside)
    if not latencies:
        return {"texts_s": 0.0, "p50": float("nan"), "p99": float("nan"), "requests": 0}
    return {
        "texts_s": sum(n for _, n in inside) / seconds,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "requests": len(latencies),
    }


def soak(server: Server, texts: list[str], clients: int, seconds: float, dim: int) -> dict:
    """Resident memory after 1 minute and after `seconds` of sustained load."""
    marks: dict[str, float] = {}

    async def watch() -> None:
        await asyncio.sleep(60)
        marks["after_1_min"] = server.rss_mb()

    async def run() -> dict:
        watcher = asyncio.create_task(watch())
        result = await load(server.url, texts, clients, seconds - 10, 10, dim)
        await watcher
        return result

    result = asyncio.run(run())
    marks["at_end"] = server.rss_mb()
    return {**result, **marks, "seconds": seconds, "growth": marks["at_end"] / marks["after_1_min"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "all-minilm-l6-v2"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--texts", type=int, default=256, help="distinct texts; in-process set")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--infinity", action="store_true", help="also infinity-emb (MiniLM)")
    parser.add_argument("--soak", type=float, default=0, help="seconds of 32 clients on cpt")
    parser.add_argument("--json", type=Path, default=Path("runs/bench-serve.json"))
    args = parser.parse_args()

    texts = bench_texts(args.texts)
    rows: list[dict] = []
    for model in args.models:
        rate, batch, dim = in_process(model, texts, args.max_length)
        print(f"{model}: in-process encode {rate:.1f} texts/s at batch {batch}", flush=True)
        servers = [cpt_server(model, args.max_length)]
        if args.infinity and (Path(resolve(model)) / "modules.json").is_file():
            servers.append(infinity_server(model))
        for factory in servers:
            with factory as server:
                for clients in args.clients:
                    found = asyncio.run(
                        load(server.url, texts, clients, args.seconds, args.warmup, dim)
                    )
                    row = {"model": model, "server": server.name.split()[0], "clients": clients}
                    row |= found | {"in_process": rate, "ratio": found["texts_s"] / rate}
                    rows.append(row)
                    print(_line(row), flush=True)
                if args.soak and server.name.startswith("cpt"):
                    memory = soak(server, texts, max(args.clients), args.soak, dim)
                    print(f"soak {model}: {json.dumps(memory)}", flush=True)
                    rows.append({"model": model, "server": "cpt", "soak": memory})
    print(_table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    _plot(rows, args.json.with_suffix(".png"))


def _line(row: dict) -> str:
    return (
        f"| {row['model']} | {row['server']} | {row['clients']} | {row['texts_s']:.1f} "
        f"| {row['p50']:.2f} | {row['p99']:.2f} | {row['p99'] / row['p50']:.1f}x "
        f"| {row['ratio']:.2f}x | {row['requests']} |"
    )


def _table(rows: list[dict]) -> str:
    head = (
        "| model | server | clients | texts/s | p50 s | p99 s | p99/p50 | vs in-process "
        "| requests |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [_line(r) for r in rows if "clients" in r]
    for r in rows:
        if "soak" in r:
            s = r["soak"]
            lines.append(
                f"\nsoak {r['model']}: {s['seconds']:.0f} s of 32 clients, RSS after 1 min "
                f"{s['after_1_min']:.0f} MB, at end {s['at_end']:.0f} MB ({s['growth']:.3f}x); "
                f"{s['texts_s']:.1f} texts/s, p50 {s['p50']:.2f} s, p99 {s['p99']:.2f} s"
            )
    return "\n".join([head, *lines])


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (speed, tail) = plt.subplots(1, 2, figsize=(10, 4))
    series = sorted({(r["model"], r["server"]) for r in rows if "clients" in r})
    for model, server in series:
        mine = [
            r for r in rows if r.get("clients") and (r["model"], r["server"]) == (model, server)
        ]
        x = [r["clients"] for r in mine]
        speed.plot(x, [r["texts_s"] for r in mine], marker="o", label=f"{server} {model}")
        tail.plot(x, [r["p99"] for r in mine], marker="o", label=f"{server} {model}")
    speed.set(xscale="log", xlabel="concurrent clients", ylabel="texts/s", title="throughput")
    tail.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="p99 latency (s)")
    tail.set_title("p99 latency")
    speed.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
