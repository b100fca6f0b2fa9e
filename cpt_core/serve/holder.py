"""The models being served, by name and by version, and the atomic swap to the next one.

A `Served` is everything one model answers with: its encoder, the names clients call it by and
its index (opened with a view of the same weights at the index's token cap, and refused if
the index was built by another model). A request reads its model once and keeps that object to
the end, so a swap (one reference assignment) never splits a request between two models, and
the old model lives until its last request is answered.

Versions never change under a client, as OpenAI's model names never do. `NAME` is the moving
alias: whatever is current. `NAME@VERSION` (the label every response carries; the version is
the model's vector space) always means the same weights: after a swap the old version keeps
answering to it for `grace_seconds`, so clients that stored its vectors can finish or migrate,
and then a request for it gets a 404 that names the current version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cpt_core.index.search import SearchIndex, read_index_meta
from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder, load_encoder

SIDES = ("query", "document")


@dataclass(frozen=True)
class Served:
    name: str
    encoder: TextEncoder
    index: SearchIndex | None
    source: tuple[str, str | None]  # the model and index references it was loaded from

    @property
    def label(self) -> str:
        """What each response's `model` says: the name and which weights produced it (the
        vector space, whatever precision this replica computes in)."""
        return f"{self.name}@{self.encoder.space[:12]}"

    def names(self, current: bool = True) -> list[str]:
        """What clients may call it: the pinned label always, the plain name while current;
        each also with a side (`:query`, `:document`)."""
        bases = [self.name, self.label] if current else [self.label]
        return [f"{base}{suffix}" for base in bases for suffix in ("", ":query", ":document")]

    def side_of(self, model: str, current: bool = True) -> Side | Literal[False] | None:
        """The side a name selects (None: a name without one), False when it is not this
        model's."""
        bases = (self.name, self.label) if current else (self.label,)
        if model in bases:
            return None
        base, _, side = model.rpartition(":")
        return side if base in bases and side in SIDES else False


def load_served(
    model: str,
    index: str | None = None,
    name: str | None = None,
    dtype: str = "auto",
    max_length: int | None = None,
) -> Served:
    encoder = load_encoder(model, max_length, dtype=dtype)
    searcher = None
    if index:
        cap = read_index_meta(Path(index)).max_length
        searcher = SearchIndex(index, encoder.at_length(cap))
    return Served(name or encoder.name, encoder, searcher, (model, index))


@dataclass
class ModelHolder:
    current: Served
    grace_seconds: float = 300.0  # how long a replaced version still answers to NAME@VERSION
    state: Literal["ready", "swapping"] = "ready"
    history: list[str] = field(default_factory=list)  # labels served, oldest first
    retired: dict[str, tuple[Served, float]] = field(default_factory=dict)  # label -> until

    def __post_init__(self) -> None:
        self.history.append(self.current.label)

    def swap(self, served: Served) -> None:
        previous, self.current = self.current, served
        self.retired.pop(served.label, None)  # a version that comes back is current again
        if self.grace_seconds > 0 and previous.label != served.label:
            self.retired[previous.label] = (previous, time.monotonic() + self.grace_seconds)
        self.history.append(served.label)

    def loaded(self) -> list[tuple[Served, bool]]:
        """Every model answering now, each with whether it is the current one."""
        now = time.monotonic()
        for label, (_, until) in list(self.retired.items()):
            if until <= now:  # its grace is over: the last reference goes with its requests
                del self.retired[label]
        return [(self.current, True), *((s, False) for s, _ in self.retired.values())]

    def find(self, model: str) -> tuple[Served, Side | None] | None:
        """The model a request names and the side its name selects; None when nothing
        loaded answers to it."""
        for served, current in self.loaded():
            side = served.side_of(model, current)
            if side is not False:
                return served, side
        return None
