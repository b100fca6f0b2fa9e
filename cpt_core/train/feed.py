"""The trainer's data path: batches drawn, tokenized, chunked and padded ahead of the step.

A background thread runs the dedup batcher, takes this rank's share, tokenizes it (the Rust
tokenizer releases the GIL), pads each gradient-cache chunk and page-locks the tensors on CUDA,
keeping `depth` steps ready while the device computes. Each prepared step carries the batcher's
state *after its own batch*, so a checkpoint records the step it trained on, not how far the
thread has read ahead, and a resumed run sees exactly the batches it would have seen. A thread
rather than worker processes: the batcher's state lives in one place, and at batch 4096 the
work per step is a fraction of a second of GIL-free tokenization (BENCHMARKS.md).
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import Pair
from cpt_core.loss.grad_cache import PairBatch, Prepared
from cpt_core.model.delimiters import DelimitedTokenizer


@dataclass
class Step:
    batch: Prepared
    state: BatcherState  # the batcher's state once this batch was drawn


def tokenize(tokenizer: DelimitedTokenizer, pairs: list[Pair]) -> PairBatch:
    negatives = [n for p in pairs for n in p.negatives]
    return PairBatch(
        queries=tokenizer.encode([p.x for p in pairs], "query"),
        documents=tokenizer.encode([p.y for p in pairs], "document"),
        negatives=tokenizer.encode(negatives, "document") if negatives else None,
    )


def steps(
    batcher: DedupBatcher,
    tokenizer: DelimitedTokenizer,
    share: slice,
    chunk_size: int,
    *,
    pin: bool = False,
    pad_to: int = 1,
    packed: bool = False,
) -> Iterator[Step]:
    """Prepared steps, one after another, in the calling thread."""
    while True:
        pairs = batcher.next_batch()[share]
        batch = tokenize(tokenizer, pairs).prepare(tokenizer, chunk_size, pin, pad_to, packed)
        yield Step(batch, copy.deepcopy(batcher.state))


class _Ahead:
    """Runs an iterator in a daemon thread, `depth` items ahead; its errors surface at `next`."""

    def __init__(self, items: Iterator[Step], depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[Step]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def ahead(items: Iterator[Step], depth: int) -> Iterator[Iterator[Step]]:
    """`items` prepared `depth` steps ahead in a background thread; depth 0 keeps them inline."""
    if depth == 0:
        yield items
        return
    feeder = _Ahead(items, depth)
    try:
        yield feeder
    finally:
        feeder.close()
