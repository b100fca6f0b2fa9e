"""Routed: a step whose elements go to named outputs, the same way on every Beam runner.

Beam's multi-output ParDo (`.with_outputs`) is not split by tag on the DaskRunner: every
consumer of one tag gets all of the step's outputs. So a routing DoFn here yields
`(tag, value)` pairs from its single output, and one selector per tag picks that tag's values.
On the runners that do split tags the result is the same; the cost is one cheap pass per tag.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam


class Routed(beam.PTransform):
    """Items -> {tag: PCollection} from a DoFn that yields (tag, value) pairs."""

    def __init__(self, fn: beam.DoFn, tags: Iterable[str]):
        super().__init__()
        self.fn, self.tags = fn, tuple(tags)

    def expand(self, items) -> dict[str, beam.PCollection]:
        tagged = items | "Route" >> beam.ParDo(self.fn)
        return {tag: tagged | f"Select_{tag}" >> beam.FlatMap(select, tag) for tag in self.tags}


def select(item: tuple[str, object], tag: str) -> list:
    """The value of a (tag, value) pair if it is `tag`'s."""
    return [item[1]] if item[0] == tag else []
