"""Assemble training batches free of in-batch false negatives.

With in-batch negatives, two pairs that share a query text (or a document text) put the same
text on both sides of the softmax as "positive" and "negative" at once. The batcher defers
such a pair to a later batch instead of dropping it, so no data is lost, and its whole state
(stream position + deferred pairs) fits in a checkpoint. Deferred pairs are offered first, so
the oldest always gets in and the queue cannot starve.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from cpt_core.data.reader import Pair, PairSource, Position
from cpt_core.errors import CptError


@dataclass
class BatcherState:
    position: Position = field(default_factory=Position)
    deferred: list[Pair] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "position": vars(self.position),
            "deferred": [[p.x, p.y, list(p.negatives)] for p in self.deferred],
        }

    @classmethod
    def from_json(cls, body: dict) -> BatcherState:
        deferred = [Pair(x, y, tuple(neg)) for x, y, neg in body["deferred"]]
        return cls(Position(**body["position"]), deferred)


class DedupBatcher:
    """Yields lists of `batch_size` pairs with no repeated x and no repeated y inside a batch."""

    def __init__(self, source: PairSource, batch_size: int, seed: int, state: BatcherState):
        self.batch_size = batch_size
        self.state = state
        self._stream = source.stream(seed, state.position)

    def __iter__(self) -> Iterator[list[Pair]]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> list[Pair]:
        batch: list[Pair] = []
        seen_x: set[str] = set()
        seen_y: set[str] = set()
        waiting = deque(self.state.deferred)
        still_deferred: list[Pair] = []

        def offer(pair: Pair) -> None:
            if pair.x in seen_x or pair.y in seen_y:
                still_deferred.append(pair)
                return
            batch.append(pair)
            seen_x.add(pair.x)
            seen_y.add(pair.y)

        while waiting and len(batch) < self.batch_size:
            offer(waiting.popleft())
        still_deferred.extend(waiting)
        while len(batch) < self.batch_size:
            pair, self.state.position = next(self._stream)
            offer(pair)
            if len(still_deferred) > 10 * self.batch_size:
                raise CptError(
                    f"cannot fill a batch of {self.batch_size} without repeating a text: "
                    "the data has too few distinct pairs; lower data.batch_size"
                )
        self.state.deferred = still_deferred
        return batch
