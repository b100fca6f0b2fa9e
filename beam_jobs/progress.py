"""Live progress of a mining run: counters sampled every few seconds, shown as one line.

Where the counts come from is the runner's business (`beam_jobs/live_counters.py` on the local
runner); this module only turns successive samples into a line: the inputs finished out of
all, each count so far with its rate over the last interval, dead letters. On a terminal the
line is redrawn in place; anywhere else (a log, CI, a test) one line goes to stderr every
`CPT_PROGRESS_SECONDS` (default 30), so a run of hours is not silent and a log is not flooded.
`CPT_PROGRESS_SECONDS=0` turns progress off. Kept free of Beam imports: it is plain arithmetic
and printing, tested on its own.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.text import Text

INPUTS_READ = "inputs_read"  # the counter each job increments when it has read one input whole
SECONDS = "CPT_PROGRESS_SECONDS"
TERMINAL_SECONDS = 1.0
LOG_SECONDS = 30.0

Counts = Mapping[str, int]


@dataclass(frozen=True)
class Measure:
    """One count on the line: `counter` is a counter's name, or a prefix ending in "/" that
    sums a family (`files/` adds files/python, files/go, ...)."""

    label: str
    counter: str
    rated: bool = True

    def of(self, counts: Counts) -> int:
        if self.counter.endswith("/"):
            return sum(n for name, n in counts.items() if name.startswith(self.counter))
        return counts.get(self.counter, 0)


def progress_line(
    measures: tuple[Measure, ...],
    counts: Counts,
    before: Counts,
    elapsed: float,
    interval: float,
    inputs: int,
) -> str:
    """`elapsed | inputs read/all | label n (rate/s) | ...`; a rate is shown only for a count
    that moved in the interval, so the line says which stage is running."""
    parts = [_clock(elapsed), f"inputs {counts.get(INPUTS_READ, 0):,}/{inputs:,}"]
    for measure in measures:
        n = measure.of(counts)
        part = f"{measure.label} {n:,}"
        moved = n - measure.of(before)
        if measure.rated and moved > 0 and interval > 0:
            part += f" ({moved / interval:,.0f}/s)"
        parts.append(part)
    return " | ".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class Display(Protocol):
    every: float

    def start(self) -> None: ...
    def show(self, line: str) -> None: ...
    def close(self, final: str | None) -> None: ...


class LiveLine:
    """On a terminal: one line redrawn in place, replaced by the final line when done."""

    every = TERMINAL_SECONDS

    def __init__(self):
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, auto_refresh=False, transient=True)

    def start(self) -> None:
        self.live.start()

    def show(self, line: str) -> None:
        self.live.update(Text(line), refresh=True)

    def close(self, final: str | None) -> None:
        self.live.stop()
        if final:
            self.console.print(final, highlight=False)


class PlainLines:
    """Anywhere else: a plain line to stderr each time, never redrawn."""

    def __init__(self, every: float):
        self.every = every

    def start(self) -> None:
        pass

    def show(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def close(self, final: str | None) -> None:
        if final:
            self.show(final)


def progress_display() -> Display | None:
    """A live line on a terminal, plain lines elsewhere, none with CPT_PROGRESS_SECONDS=0."""
    every = float(os.environ.get(SECONDS, LOG_SECONDS))
    if every <= 0:
        return None
    return LiveLine() if sys.stderr.isatty() else PlainLines(every)


class ProgressReporter:
    """Samples `counts()` every `display.every` seconds on a thread and shows the line."""

    def __init__(
        self,
        counts: Callable[[], Counts],
        measures: tuple[Measure, ...],
        inputs: int,
        display: Display,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.counts, self.measures, self.inputs = counts, measures, inputs
        self.display, self.clock = display, clock
        self.started = clock()
        self.last: tuple[float, Counts] = (self.started, {})
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cpt-progress", daemon=True)

    def line(self) -> str:
        """The line for now, rated against the previous sample."""
        now, counts = self.clock(), dict(self.counts())
        then, before = self.last
        self.last = (now, counts)
        return progress_line(
            self.measures, counts, before, now - self.started, now - then, self.inputs
        )

    def final_line(self, counts: Counts) -> str:
        """The closing line from the run's own totals: rates are averages over the run."""
        elapsed = self.clock() - self.started
        line = progress_line(self.measures, counts, {}, elapsed, elapsed, self.inputs)
        return f"done: {line}"

    def __enter__(self) -> ProgressReporter:
        self.display.start()
        self.thread.start()
        return self

    def stop(self, final: Counts | None) -> None:
        self.stopped.set()
        self.thread.join()
        self.display.close(self.final_line(final) if final is not None else None)

    def __exit__(self, *exc) -> None:
        if not self.stopped.is_set():
            self.stop(None)

    def _run(self) -> None:
        while not self.stopped.wait(self.display.every):
            self.display.show(self.line())
