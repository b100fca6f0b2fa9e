"""Benchmark the code miner: files/s and pairs/s per core, and where the time goes.

Two real corpora: the Python standard library of this interpreter, and Debian's Go sources
(golang-1.19-src, fetched once with `apt-get download` and unpacked into the cache). For each:

- the pure per-file path in one process (no Beam): read, tree-sitter parse (of the files the
  miner parses: not tests, generated or binary ones), the rest of mining (queries, filters,
  rows), MinHash signatures; the parse share is parse / all of it;
- decontamination: building the eval sets' overlap index, and checking every pair against it;
- the Beam job end to end (`python -m beam_jobs.extract_code_pairs`, a fresh process per run),
  with and without decontamination, with 1 and 2 workers, beside a run over a tiny fixture
  tree measured in the same session: its
  time is Beam's fixed start-up, so "steady" rates are files / (wall - start-up).

    python bench/mine_code.py                      # both corpora, 1 and 2 workers
    python bench/mine_code.py --corpus stdlib --workers 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cpt_core.code.languages import language_for, parser_for
from cpt_core.code.mine import file_refusal, mine_file
from cpt_core.code.sources import SourceFile, read_repository
from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.decontam.eval_sets import reported_sets
from cpt_core.decontam.index import OverlapIndex
from cpt_core.dedup.minhash import signature
from cpt_core.paths import REPO
from cpt_core.pipeline.sources import resolve_source

GO_PACKAGE = "golang-1.19-src"


def corpus(name: str) -> str:
    if name == "stdlib":
        return resolve_source("python-stdlib")
    return resolve_source(f"debian:{GO_PACKAGE}/usr/share/go-1.19")


def pure_stages(location: str) -> dict[str, float]:
    """Seconds per stage over the whole corpus in this process, plus file and pair counts."""
    start = time.perf_counter()
    files = [f for f in read_repository(location) if isinstance(f, SourceFile)]
    read = time.perf_counter() - start
    sources = [f for f in files if language_for(f.path)]
    parsed = [f for f in sources if file_refusal(f) is None]
    start = time.perf_counter()
    for f in parsed:
        parser_for(language_for(f.path).name).parse(f.data)
    parse = time.perf_counter() - start
    start = time.perf_counter()
    rows = [r for f in sources for r in mine_file(f, "unknown") if isinstance(r, dict)]
    mine = time.perf_counter() - start
    start = time.perf_counter()
    for row in rows:
        signature(row["y"])
    sign = time.perf_counter() - start
    return {
        "rows": rows,
        "files": len(sources),
        "pairs": len(rows),
        "read": read,
        "parse": parse,
        "rest": mine - parse,
        "minhash": sign,
    }


def decontamination(rows: list[dict]) -> dict[str, float]:
    """The overlap index of the public eval sets: seconds to build it (done once per content of
    the sets, then cached) and to check every pair against it."""
    config = DecontaminationConfig()
    start = time.perf_counter()
    index = OverlapIndex.build(reported_sets(config.against).found, config)
    build = time.perf_counter() - start
    start = time.perf_counter()
    for row in rows:
        index.overlaps((row["x"],), row["y"], row["language"])
    return {"build": build, "check": time.perf_counter() - start}


def beam_run(location: str, workers: int, scratch: Path, decontaminate: bool = True) -> float:
    out = scratch / f"out-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "beam_jobs.extract_code_pairs", "--input", location]
    command += ["--output", str(out), f"--direct_num_workers={workers}"]
    if not decontaminate:
        preset = scratch / "no-decontamination.yaml"
        preset.write_text("decontaminate:\n  enabled: false\n")
        command += ["--config", str(preset)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="stdlib,go")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    console = Console(width=150)
    stages = Table(title="pure per-file path, one process (no Beam)", title_justify="left")
    for column in ("corpus", "files", "pairs", "read s", "parse s", "rest s", "minhash s"):
        stages.add_column(column, justify="right")
    stages.add_column("parse share", justify="right")
    stages.add_column("files/s/core", justify="right")
    runs = Table(title="Beam job end to end (fresh process per run)", title_justify="left")
    for column in ("corpus", "workers", "wall s", "files/s", "files/s/core", "steady files/s/core"):
        runs.add_column(column, justify="right")
    runs.add_column("pairs/s", justify="right")
    runs.add_column("vs pure", justify="right")
    runs.add_column("decontamination off: wall s", justify="right")
    runs.add_column("on / off", justify="right")
    checks = Table(title="decontamination against the public eval sets", title_justify="left")
    for column in ("corpus", "pairs", "index build s (once)", "check s", "ms/pair", "of pure"):
        checks.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as scratch:
        fixtures = str(REPO / "tests" / "fixtures" / "code")
        startup = {w: beam_run(fixtures, w, Path(scratch)) for w in workers}
        for name in args.corpus.split(","):
            location = corpus(name)
            t = pure_stages(location)
            total = t["read"] + t["parse"] + t["rest"] + t["minhash"]
            pure_rate = t["files"] / total
            d = decontamination(t["rows"])
            checks.add_row(
                name, f"{t['pairs']:,}", f"{d['build']:.1f}", f"{d['check']:.2f}",
                f"{1000 * d['check'] / max(t['pairs'], 1):.2f}", f"{d['check'] / total:.1%}",
            )  # fmt: skip
            stages.add_row(
                name, f"{t['files']:,}", f"{t['pairs']:,}",
                *(f"{t[k]:.2f}" for k in ("read", "parse", "rest", "minhash")),
                f"{t['parse'] / total:.0%}", f"{pure_rate:.0f}",
            )  # fmt: skip
            for w in workers:
                wall = beam_run(location, w, Path(scratch))
                off = beam_run(location, w, Path(scratch), decontaminate=False)
                steady = t["files"] / max(wall - startup[w], 1e-9) / w
                runs.add_row(
                    name, str(w), f"{wall:.1f}", f"{t['files'] / wall:.0f}",
                    f"{t['files'] / wall / w:.0f}", f"{steady:.0f}",
                    f"{t['pairs'] / wall:.0f}", f"{steady / pure_rate:.2f}x",
                    f"{off:.1f}", f"{wall / off:.2f}x",
                )  # fmt: skip
    console.print(stages)
    console.print(runs)
    console.print(checks)
    fixed = ", ".join(f"{w} worker(s) {s:.1f} s" for w, s in startup.items())
    console.print(f"Beam start-up (the tiny fixture tree, same session): {fixed}")


if __name__ == "__main__":
    main()
