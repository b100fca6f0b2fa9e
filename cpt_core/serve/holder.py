"""The model being served, its index, and the atomic swap to the next one.

A `Served` is everything one model answers with: its encoder, the names clients call it by and
its index (opened with a view of the same weights at the index's token cap, and refused if
the index was built by another model). A request reads `holder.current` once and keeps that
object to the end, so a swap (one reference assignment) never splits a request between two
models, and the old model lives until its last request is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cpt_core.index.search import SearchIndex, read_index_meta
from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder, load_encoder


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

    @property
    def names(self) -> list[str]:
        return [self.name, f"{self.name}:query", f"{self.name}:document"]

    def side_of(self, model: str) -> Side | Literal[False] | None:
        """The side a model alias selects (None: the plain name), False when not served."""
        if model == self.name:
            return None
        alias, _, side = model.rpartition(":")
        return side if alias == self.name and side in ("query", "document") else False


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
    state: Literal["ready", "swapping"] = "ready"
    history: list[str] = field(default_factory=list)  # labels served, oldest first

    def __post_init__(self) -> None:
        self.history.append(self.current.label)

    def swap(self, served: Served) -> None:
        self.current = served
        self.history.append(served.label)
