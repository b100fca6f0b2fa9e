"""Mining throughput per core on every path: the pure functions, the local runner, Dask.

Same inputs, same run, for both miners: code from this interpreter's standard library
(`python-stdlib/*/`, the demo preset's input: each package a repository) and text from the
shared crawl samples (`shared:crawl/*warc*`) plus Debian's Python 3.11 documentation packed as
one WARC file (`warc:` source: 530 pages, so the text rows are not all fixed cost). Rows:

- pure: cpt_core's per-unit functions called directly in this process, one core (code:
  read_repository, mine_file, a MinHash signature per pair; text: read_pages, document_of, a
  MinHash signature per document, pairs_of with SmolLM2 token counts): the work per unit,
  without Beam, the run-wide dedupe or the writing;
- local: `python -m beam_jobs.extract_*` in a fresh process on the local FnApiRunner
  (multi_processing) with 1 and 2 workers;
- dask: the same command with `--runner=dask` against a real `dask scheduler` and 1 or 2
  `dask worker` processes (one thread each) on 127.0.0.1, started before the clock starts,
  with the partitions cpt chooses (one per worker thread; two per worker measured slower
  here: 44 s against 28-30 s for the stdlib on 2 workers).

A Beam row is the whole job: start-up, every shuffle, dedupe, writing. Its "marginal" rate
takes the fixed cost out with a tiny input (the code fixture tree; the smallest crawl file) run
the same way just before: (units - tiny units) / (wall - tiny wall). Per core divides by the
workers. "vs pure" is a row's marginal rate per core over the pure path's.

    python bench/mine_scale.py                       # every row; a markdown table on stdout
    python bench/mine_scale.py --kinds code --paths pure,local --workers 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from beam_jobs.dask_cluster import local_cluster
from beam_jobs.inputs import expand_inputs
from cpt_core.code.config import CodeMiningConfig
from cpt_core.code.languages import language_for
from cpt_core.code.licence import UNKNOWN
from cpt_core.code.mine import mine_file
from cpt_core.code.sources import SourceFile, read_repository
from cpt_core.data.manifest import Manifest
from cpt_core.dedup.minhash import signature
from cpt_core.paths import REPO
from cpt_core.pipeline.sources import resolve_source
from cpt_core.text.config import TextMiningConfig
from cpt_core.text.inputs import open_local, read_pages
from cpt_core.text.mine import Document, document_of, pairs_of
from cpt_core.text.page import Page
from cpt_core.text.tokens import tokenizer_json

PYTHON_DOCS = "warc:debian:python3.11-doc/usr/share/doc/python3.11/html"
INPUTS = {"code": ["python-stdlib/*/"], "text": ["shared:crawl/*warc*", PYTHON_DOCS]}
TINY = {"code": [str(REPO / "tests" / "fixtures" / "code")], "text": ["shared:crawl/*2014-35*"]}
JOBS = {"code": "beam_jobs.extract_code_pairs", "text": "beam_jobs.extract_text_pairs"}
UNITS = {"code": "files", "text": "pages"}


@dataclass
class Row:
    kind: str
    path: str
    workers: int
    units: int
    wall: float
    marginal: float  # units per second per core, fixed cost out


def locations(specs: list[str]) -> list[str]:
    return expand_inputs([resolve_source(spec) for spec in specs])


def pure_code(where: list[str]) -> tuple[int, float]:
    """Files mined and seconds, in this process."""
    config = CodeMiningConfig()
    skip = frozenset(config.skip_dirs)
    start = time.perf_counter()
    files = 0
    for location in where:
        for item in read_repository(location, None, skip):
            if isinstance(item, SourceFile) and language_for(item.path):
                files += 1
                for out in mine_file(item, UNKNOWN, config.filters):
                    if isinstance(out, dict):
                        signature(out["y"])
    return files, time.perf_counter() - start


def pure_text(where: list[str]) -> tuple[int, float]:
    """Pages mined and seconds, in this process (the tokenizer loaded before the clock)."""
    from tokenizers import Tokenizer

    config = TextMiningConfig()
    tokenizer = Tokenizer.from_str(tokenizer_json(config.tokenizer))

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        return [len(e.ids) for e in encoded]

    start = time.perf_counter()
    pages = 0
    for location in where:
        for item in read_pages(location, open_local, config.max_record_bytes):
            if not isinstance(item, Page):
                continue
            pages += 1
            for document in document_of(item, config):
                if isinstance(document, Document):
                    signature(document.text)
                    list(pairs_of(document, count, config.chunks))
    return pages, time.perf_counter() - start


PURE = {"code": pure_code, "text": pure_text}


def job_run(kind: str, where: list[str], beam_args: list[str], scratch: Path) -> tuple[int, float]:
    """Units the job's manifest counts, and the wall seconds of its process."""
    out = scratch / f"{kind}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", JOBS[kind], "--output", str(out), *beam_args]
    command += [arg for location in where for arg in ("--input", location)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=_env())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    counts = Manifest.read(out).counts
    units = sum(counts["files"].values()) if kind == "code" else counts["pages"]["read"]
    return units, wall


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def beam_rows(
    path: str, workers: int, kinds: list[str], beam_args: list[str], scratch: Path
) -> Iterator[Row]:
    for kind in kinds:
        tiny_units, tiny_wall = job_run(kind, locations(TINY[kind]), beam_args, scratch)
        units, wall = job_run(kind, locations(INPUTS[kind]), beam_args, scratch)
        marginal = (units - tiny_units) / max(wall - tiny_wall, 1e-9) / workers
        yield Row(kind, path, workers, units, wall, marginal)


def table(rows: list[Row]) -> str:
    pure = {r.kind: r.marginal for r in rows if r.path == "pure"}
    lines = [
        "| miner | path | workers | units | wall s | units/s/core | marginal units/s/core"
        " | vs pure |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.marginal / pure[r.kind]:.2f}x" if r.kind in pure else "-"
        lines.append(
            f"| {r.kind} | {r.path} | {r.workers} | {r.units:,} {UNITS[r.kind]} | {r.wall:.1f}"
            f" | {r.units / r.wall / r.workers:,.0f} | {r.marginal:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="code,text")
    parser.add_argument("--paths", default="pure,local,dask")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    kinds, paths = args.kinds.split(","), args.paths.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        if "pure" in paths:
            for kind in kinds:
                units, seconds = PURE[kind](locations(INPUTS[kind]))
                rows.append(Row(kind, "pure", 1, units, seconds, units / seconds))
                print(table(rows).splitlines()[-1], file=sys.stderr, flush=True)
        for workers in counts:
            if "local" in paths:
                local = [f"--direct_num_workers={workers}"]
                rows += _shown(beam_rows("local", workers, kinds, local, scratch))
            if "dask" in paths:
                (own := scratch / f"dask-{workers}").mkdir()
                with local_cluster(workers, own, _env()) as client:
                    dask = ["--runner=dask", f"--dask_client_address={client.scheduler.address}"]
                    rows += _shown(beam_rows("dask", workers, kinds, dask, scratch))
    print(table(rows))


def _shown(rows: Iterator[Row]) -> list[Row]:
    """The rows, each printed to stderr as it is measured (a partial run still says something)."""
    done = []
    for row in rows:
        done.append(row)
        print(table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    return done


if __name__ == "__main__":
    main()
