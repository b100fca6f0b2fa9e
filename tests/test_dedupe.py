"""The dedupe transforms on a real Beam runner: what each keeps, and that it counts each drop."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_jobs.dedupe import COUNTS, KEPT, ExactDedupe, NearDedupe

PAGE = " ".join(f"word{i} of the page about topic {i % 7}" for i in range(60))
OTHER = " ".join(f"another text on subject {i} with detail {i % 5}" for i in range(60))


def _run(items, kept, counts):
    with BeamTestPipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        out = (
            pipeline
            | beam.Create(items)
            | NearDedupe(text=lambda e: e[1], ident=lambda e: e[0], threshold=0.8, order=repr)
        )
        assert_that(out[KEPT] | "Ids" >> beam.Map(lambda e: e[0]), equal_to(kept))
        summed = out[COUNTS] | beam.CombinePerKey(sum)
        assert_that(summed, equal_to(counts), label="Counts")


def test_the_same_page_twice_keeps_one_and_counts_one():
    """Same URL and text give one id: the copy is counted, the page itself is kept (it used to
    be dropped with its copy, and counted once)."""
    _run([("p1", PAGE), ("p1", PAGE), ("p2", OTHER)], ["p1", "p2"], [(("duplicates", "exact"), 1)])


def test_a_near_copy_under_another_id_is_dropped_and_counted():
    near = PAGE.replace("word59", "word5x")
    _run([("p1", PAGE), ("p3", near), ("p2", OTHER)], ["p1", "p2"], [(("duplicates", "near"), 1)])


def test_every_copy_of_a_near_duplicate_is_counted():
    near = PAGE.replace("word59", "word5x")
    items = [("p1", PAGE), ("p3", near), ("p3", near)]
    _run(items, ["p1"], [(("duplicates", "near"), 2)])


def test_of_copies_under_one_id_the_first_by_order_is_kept_whatever_the_input_order():
    """Two captures of one page share an id and differ elsewhere (here a record id): the
    same one must be kept on every runner, so the choice cannot follow arrival order."""
    first, second = ("p1", PAGE, "r1"), ("p1", PAGE, "r2")
    for items in ([first, second], [second, first]):
        with BeamTestPipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
            created = pipeline | beam.Create(items)
            near = created | "Near" >> NearDedupe(
                text=lambda e: e[1], ident=lambda e: e[0], threshold=0.8, order=lambda e: e[2]
            )
            exact = created | "Exact" >> ExactDedupe(key=lambda e: e[1], order=lambda e: e[2])
            kept = (near[KEPT], exact[KEPT]) | beam.Flatten() | beam.Map(lambda e: e[2])
            assert_that(kept, equal_to(["r1", "r1"]))
