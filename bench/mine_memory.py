"""Peak memory of the text miner against input size: one WARC file of real pages, small and 1 GB.

The pages are Debian's Python 3.11 documentation, packed as WARC (`warc:` sources), written
over and over with new record ids and URLs until the file reaches each size: the same work
per byte at every size, so any growth in memory is the input's size alone. Each file is mined
by `python -m beam_jobs.extract_text_pairs` in a fresh process on the local runner
(multi_processing, 2 workers), while a sampler reads the peak resident set (VmHWM) of that
process (the runner: it holds what passes between stages) and of each worker process under
it. The smallest size is the baseline; "x" columns are ratios to it.

    python bench/mine_memory.py                   # 100 MB and 1 GB; a markdown table
    python bench/mine_memory.py --sizes-mb 50 200
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

from cpt_core.data.manifest import Manifest
from cpt_core.pipeline.sources import resolve_source
from cpt_core.text.warc import RECORD_START

PAGES = "warc:debian:python3.11-doc/usr/share/doc/python3.11/html"
MB = 1 << 20


def records(packed: Path) -> list[bytes]:
    """The packed file's records, uncompressed, each from "WARC/1.1" to its blank lines."""
    data = gzip.decompress(packed.read_bytes())
    starts = [0] + [m.end() for m in RECORD_START.finditer(data)]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def write_repeated(pages: list[bytes], out: Path, size: int) -> int:
    """Write `pages` over and over, each copy with a new record id and URL, until `out` holds
    at least `size` bytes (uncompressed WARC); return how many records."""
    count = 0
    with open(out, "wb") as stream:
        while stream.tell() < size:
            for record in pages:
                copy = count // len(pages)
                renamed = record.replace(b"<urn:uuid:", f"<urn:uuid:{uuid.uuid4()}-".encode(), 1)
                renamed = renamed.replace(
                    b"WARC-Target-URI: https://", f"WARC-Target-URI: https://c{copy}.".encode(), 1
                )
                stream.write(renamed)
                count += 1
                if stream.tell() >= size:
                    break
    return count


class PeakSampler:
    """The peak RSS (VmHWM, so no spike between samples is missed) of a process and of every
    process under it, read every 0.2 s until stopped."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peaks: dict[int, int] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in tree:
                peak = _hwm(proc.pid)
                if peak:
                    self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), peak)

    def runner_and_workers(self) -> tuple[int, list[int]]:
        workers = [peak for pid, peak in self.peaks.items() if pid != self.root.pid]
        return self.peaks.get(self.root.pid, 0), workers


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def mine(warc: Path, out: Path, workers: int) -> dict:
    command = [
        sys.executable, "-m", "beam_jobs.extract_text_pairs", f"--input={warc}",
        f"--output={out}", f"--direct_num_workers={workers}",
    ]  # fmt: skip
    env = os.environ | {"CPT_PROGRESS_SECONDS": "0"}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakSampler(process.pid)
    sampler.thread.start()
    _, err = process.communicate()
    sampler.stopped.set()
    sampler.thread.join()
    if process.returncode != 0:
        sys.exit(f"mining {warc} failed:\n{err.decode()[-2000:]}")
    runner, peaks = sampler.runner_and_workers()
    counts = Manifest.read(out).counts
    return {
        "seconds": time.perf_counter() - start,
        "runner": runner,
        "worker": max(peaks, default=0),
        "processes": len(peaks),
        "pages": counts["pages"]["read"],
        "rows": counts["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1024])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pages = records(Path(resolve_source(PAGES)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpt-mine-memory-") as tmp:
        for size in args.sizes_mb:
            warc = Path(tmp) / f"pages-{size}mb.warc"
            written = write_repeated(pages, warc, size * MB)
            print(f"{warc.name}: {written:,} records; mining...", file=sys.stderr, flush=True)
            result = mine(warc, Path(tmp) / f"out-{size}", args.workers)
            rows.append({"mb": warc.stat().st_size / MB, "records": written} | result)
            warc.unlink()
    base = rows[0]
    print(f"\n{args.workers} workers, local runner (multi_processing); peak RSS in MiB\n")
    print("| WARC (MiB) | records | pages/s | rows | runner peak | x | worker peak | x |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['mb']:,.0f} | {row['records']:,} | {row['pages'] / row['seconds']:,.1f} "
            f"| {row['rows']:,} | {row['runner'] / MB:,.0f} | {row['runner'] / base['runner']:.2f} "
            f"| {row['worker'] / MB:,.0f} | {row['worker'] / base['worker']:.2f} |"
        )


if __name__ == "__main__":
    main()
