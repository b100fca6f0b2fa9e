"""Dynamic batching: every input is a queue item, one consumer forms the batches.

Requests put their tokenized inputs on one bounded queue and wait. The consumer takes what has
queued (first come, first served, up to 16 batches' worth at a time), groups it by model
(a request is embedded by the model it arrived under, so none mixes models during a swap),
sorts each group by length and cuts it into batches whose padded cost (longest x count) stays
under the token budget, and hands each batch to the backend (backend.py: the forward pass,
off the event loop).

Capacity counts texts that are being tokenized, queued or embedded. A request takes its permit
(`permit`) before it is tokenized, as text-embeddings-inference does: one that would pass the
capacity is refused at once (the caller answers 429 with Retry-After), and one that could never
fit is a client error (400), so memory is bounded by the capacity, not by how many clients
arrive, and no tokenizing is spent on a request that will be refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cpt_core.model.encoders import TextEncoder
from cpt_core.model.token_batches import CPU_BATCH_TOKENS, token_batches
from cpt_core.serve.backend import Backend

WINDOW_BATCHES = 16  # a window sorts up to this many batches' worth of tokens together


class QueueFull(Exception):
    def __init__(self, pending: int, capacity: int, asked: int):
        super().__init__(
            f"the server is at capacity ({pending} of {capacity} texts queued or running, "
            f"this request brings {asked}); retry shortly"
        )


class BeyondCapacity(Exception):
    """More texts than the whole queue holds: no retry can help."""

    def __init__(self, capacity: int, asked: int):
        super().__init__(
            f"this request holds {asked} inputs and the server's queue holds {capacity}; "
            "send at most that many per request"
        )


@dataclass(eq=False)
class Item:
    encoder: TextEncoder
    ids: list[int]
    future: asyncio.Future


class Batcher:
    def __init__(
        self,
        backend: Backend,
        max_batch_tokens: int = CPU_BATCH_TOKENS,
        capacity: int = 8192,
        on_batch: Callable[[int, int], None] | None = None,
    ):
        self.backend = backend
        self.max_batch_tokens = max_batch_tokens
        self.capacity = capacity
        self.pending = 0
        self.on_batch = on_batch or (lambda texts, tokens: None)
        self._queue: deque[Item] = deque()
        self._ready = asyncio.Event()

    @contextlib.contextmanager
    def permit(self, texts: int) -> Iterator[None]:
        """Room for `texts` from before they are tokenized until their vectors are back (or the
        request is abandoned); refused at once when there is none."""
        if texts > self.capacity:
            raise BeyondCapacity(self.capacity, texts)
        if self.pending + texts > self.capacity:
            raise QueueFull(self.pending, self.capacity, texts)
        self.pending += texts
        try:
            yield
        finally:
            self.pending -= texts

    async def embed(self, encoder: TextEncoder, sequences: list[list[int]]) -> np.ndarray:
        """Vectors for `sequences` (already wrapped for their side), in order; the caller
        holds a `permit` for them."""
        loop = asyncio.get_running_loop()
        items = [Item(encoder, ids, loop.create_future()) for ids in sequences]
        self._queue.extend(items)
        self._ready.set()
        return np.stack(await asyncio.gather(*(item.future for item in items)))

    async def run(self) -> None:
        """The consumer: forever take a window of the queue and embed it batch by batch."""
        while True:
            await self._ready.wait()
            window = self._take_window()
            if not self._queue:
                self._ready.clear()
            for batch in self.batches(window):
                await self._embed_batch(batch)
            await self.backend.trim_when_due()

    def _take_window(self) -> list[Item]:
        window, tokens = [], 0
        while self._queue and (not window or tokens < WINDOW_BATCHES * self.max_batch_tokens):
            item = self._queue.popleft()
            window.append(item)
            tokens += len(item.ids)
        return window

    def batches(self, items: list[Item]) -> list[list[Item]]:
        """Per model, longest first, cut so that longest x count <= the token budget."""
        groups: dict[int, list[Item]] = {}
        for item in items:
            groups.setdefault(id(item.encoder), []).append(item)
        out: list[list[Item]] = []
        for group in groups.values():
            cut = token_batches([len(item.ids) for item in group], self.max_batch_tokens)
            out += [[group[i] for i in batch] for batch in cut]
        return out

    async def _embed_batch(self, batch: list[Item]) -> None:
        """One forward pass for the batch. If it fails, each text is tried alone, so only the
        texts that fail by themselves fail their requests; the others in the batch, which may
        be other clients', are answered."""
        live = [item for item in batch if not item.future.done()]  # skip abandoned requests
        if not live:
            return
        try:
            await self._forward_pass(live)
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            for item in live:
                await self._embed_batch([item])

    async def _forward_pass(self, items: list[Item]) -> None:
        sequences = [item.ids for item in items]
        vectors = await self.backend.embed(items[0].encoder, sequences)
        self.on_batch(len(items), sum(len(s) for s in sequences))
        for item, vector in zip(items, vectors, strict=True):
            if not item.future.done():
                item.future.set_result(vector)
