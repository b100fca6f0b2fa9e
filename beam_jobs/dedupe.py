"""Exact and near-duplicate removal across a whole run, as Beam transforms.

Both keep the member with the smallest id, and among copies under one id (two captures of a
page) the first by an order the job gives, so two runs over the same input make the same
choices whatever the runner's ordering. Both count what they drop, as data (a `counts` output
that ends up in the manifest) and as Beam Metrics (live in the runner's UI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from beam_jobs.routed import Routed
from cpt_core.dedup.minhash import Banding, jaccard, signature

KEPT = "kept"
COUNTS = "counts"
Comparable = Any  # a sort key: a string or a tuple of strings


class ExactDedupe(beam.PTransform):
    """One element per exact key (a normalised content hash): the first by `order`."""

    def __init__(self, key: Callable[[object], str], order: Callable[[object], Comparable]):
        super().__init__()
        self.key, self.order = key, order

    def expand(self, items):
        return (
            items
            | "ByKey" >> beam.Map(lambda e, key=self.key: (key(e), e))
            | "Group" >> beam.GroupByKey()
            | "KeepSmallest" >> Routed(_KeepSmallest(self.order), (KEPT, COUNTS))
        )


class _KeepSmallest(beam.DoFn):
    def __init__(self, order: Callable[[object], Comparable]):
        self.order = order
        self.dropped = Metrics.counter("cpt", "duplicates/exact")

    def process(self, group):
        _, members = group
        members = sorted(members, key=self.order)
        yield KEPT, members[0]
        if len(members) > 1:
            self.dropped.inc(len(members) - 1)
            yield COUNTS, (("duplicates", "exact"), len(members) - 1)


class NearDedupe(beam.PTransform):
    """Drop an element when one with a smaller id is near it (MinHash Jaccard >= threshold).

    Candidates meet in LSH band buckets (a GroupByKey per band key) and are confirmed on their
    signatures. Within a bucket, members are visited by id and compared with the bucket's
    representatives so far, so a bucket of n copies costs n comparisons, not n^2. Of the
    copies under one id, the first by `order` is kept.
    """

    def __init__(
        self,
        text: Callable[[object], str],
        ident: Callable[[object], str],
        threshold: float,
        order: Callable[[object], Comparable],
    ):
        super().__init__()
        self.text, self.ident, self.threshold, self.order = text, ident, threshold, order

    def expand(self, items):
        banding = Banding.for_threshold(self.threshold)
        by_id = items | "ById" >> beam.Map(lambda e, ident=self.ident: (ident(e), e))
        dropped = (
            items
            | "Signature"
            >> beam.Map(lambda e, ident=self.ident, text=self.text: (ident(e), signature(text(e))))
            | "Bands" >> beam.FlatMap(_bands, banding=banding)
            | "ByBand" >> beam.GroupByKey()
            | "Compare" >> beam.FlatMap(_near_in_bucket, threshold=self.threshold)
            | "Once" >> beam.Distinct()
            | "AsKey" >> beam.Map(lambda ident: (ident, True))
        )
        return (
            {"item": by_id, "dropped": dropped}
            | "Join" >> beam.CoGroupByKey()
            | "KeepUnlessNear" >> Routed(_KeepUnlessNear(self.order), (KEPT, COUNTS))
        )


def _bands(item: tuple[str, np.ndarray], banding: Banding) -> list[tuple[str, tuple[str, bytes]]]:
    """(band key, (id, signature)) per band; the signature as bytes, which encode without pickle."""
    ident, sig = item
    packed = sig.tobytes()
    return [(key, (ident, packed)) for key in banding.keys(sig)]


def _near_in_bucket(bucket, threshold: float) -> Iterable[str]:
    """Ids in one band bucket that are near a smaller-id member kept as a representative."""
    members = list(bucket[1])
    if len(members) < 2:
        return
    representatives: dict[str, np.ndarray] = {}
    for ident, packed in sorted(members):
        if ident in representatives:  # a second copy under the same id is no neighbour
            continue
        sig = np.frombuffer(packed, dtype=np.uint64)
        if any(jaccard(sig, rep) >= threshold for rep in representatives.values()):
            yield ident
        else:
            representatives[ident] = sig


class _KeepUnlessNear(beam.DoFn):
    """Elements sharing an id are copies of one (an id hashes the content): one is kept and
    the others count as exact duplicates, unless the id is near a smaller one, when every
    copy counts as a near duplicate. Each element lands in one count or is kept."""

    def __init__(self, order: Callable[[object], Comparable]):
        self.order = order
        self.near = Metrics.counter("cpt", "duplicates/near")
        self.exact = Metrics.counter("cpt", "duplicates/exact")

    def process(self, joined):
        _, groups = joined
        items = list(groups["item"])
        if not items:
            return
        if list(groups["dropped"]):
            self.near.inc(len(items))
            yield COUNTS, (("duplicates", "near"), len(items))
            return
        yield KEPT, min(items, key=self.order)
        if len(items) > 1:
            self.exact.inc(len(items) - 1)
            yield COUNTS, (("duplicates", "exact"), len(items) - 1)
