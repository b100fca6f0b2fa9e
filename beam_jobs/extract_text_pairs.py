"""Beam job: pairs of adjacent passages from web crawls (WARC/WET), JSONL/Parquet and HTML.

    python -m beam_jobs.extract_text_pairs --input CRAWL [--input ...] [--input-list warc.paths.gz]
        --output DIR [--config configs/mine-text.yaml] [Beam pipeline options]

Stages: read each input record by record (damaged files are re-read tolerantly; every loss is a
dead letter), reshuffle the pages over workers, extract main text, tag its language and filter
(pure `cpt_core.text.mine.document_of`), drop near-duplicate documents (MinHash LSH), cut each
into passages under a token budget and pair neighbours (`pairs_of`), drop exact duplicate
passages, cap the pairs per host, and write deterministic Parquet shards, dead letters and a
manifest. With no --runner, it runs locally on the Python runner with one worker per core.
"""

from __future__ import annotations

import json
import sys
from functools import partial

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from tokenizers import Tokenizer

from beam_jobs.balance import INPUTS, OUTCOMES, as_outcomes
from beam_jobs.dataset import WriteDataset, pair_key, pair_order
from beam_jobs.decontaminate import Decontaminate
from beam_jobs.dedupe import COUNTS, KEPT, ExactDedupe, NearDedupe
from beam_jobs.inputs import is_local
from beam_jobs.job import job_main, mine_with, run_job
from beam_jobs.logs import quiet_beam
from beam_jobs.progress import INPUTS_READ, Measure
from beam_jobs.routed import Routed
from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered
from cpt_core.data.manifest import Manifest
from cpt_core.dedup.minhash import exact_key
from cpt_core.text.config import TextMiningConfig
from cpt_core.text.inputs import PAGE, open_local, read_pages, reader_outcome
from cpt_core.text.mine import Document, document_of, pairs_of
from cpt_core.text.page import Counted, Page
from cpt_core.text.tokens import tokenizer_json

PAGES, DEAD, PAIRS = "pages", "dead", "pairs"
PROGRESS = (  # the Beam Metrics counters a run's progress line shows
    Measure("pages read", "pages_read"),
    Measure("pages mined", "pages_mined"),
    Measure("pairs mined", "pairs_mined"),
    Measure("dead letters", "dead_letters", rated=False),
)


class ReadPages(beam.PTransform):
    """Input locations -> pages, ((group, reason), 1) counts, dead letters."""

    def __init__(self, max_bytes: int):
        super().__init__()
        self.max_bytes = max_bytes

    def expand(self, locations):
        return (
            locations
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> Routed(_Read(self.max_bytes), (PAGES, COUNTS, DEAD))
        )


class _Read(beam.DoFn):
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.pages = Metrics.counter("cpt", "pages_read")
        self.dead = Metrics.counter("cpt", "dead_letters")
        self.inputs = Metrics.counter("cpt", INPUTS_READ)

    def process(self, location: str):
        opener = open_local if is_local(location) else _open_remote
        for item in read_pages(location, opener, self.max_bytes):
            outcome = reader_outcome(item)
            if isinstance(item, Page) or outcome:
                yield COUNTS, ((INPUTS, PAGE), 1)
            if outcome:
                yield COUNTS, ((OUTCOMES, outcome), 1)
            if isinstance(item, Page):
                self.pages.inc()
                yield PAGES, item
            elif isinstance(item, Counted):
                Metrics.counter("cpt", f"{item.group}/{item.reason}").inc()
                yield COUNTS, ((item.group, item.reason), 1)
            else:
                self.dead.inc()
                yield DEAD, item
        self.inputs.inc()


def _open_local(path: str):
    return open(path, "rb")


def _open_remote(path: str):
    return FileSystems.open(path, compression_type="uncompressed")  # the readers inflate


class ExtractDocuments(beam.DoFn):
    """A page -> its document, filtered-reason counts, dead letters."""

    def __init__(self, config: TextMiningConfig):
        self.config = config
        self.pages = Metrics.counter("cpt", "pages_mined")

    def process(self, page: Page):
        self.pages.inc()
        yield COUNTS, (("pages", "read"), 1)
        for out in document_of(page, self.config):
            if isinstance(out, Document):
                yield COUNTS, (("documents", out.language), 1)
                yield PAGES, out
            else:
                yield from _tagged(out)


class MakePairs(beam.DoFn):
    """A kept document -> its passage pairs and counts; the tokenizer travels as JSON."""

    def __init__(self, tokenizer: str, config: TextMiningConfig):
        self.tokenizer_json, self.config = tokenizer, config

    def setup(self):
        self.tokenizer = Tokenizer.from_str(self.tokenizer_json)

    def count(self, texts: list[str]) -> list[int]:
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        return [len(e.ids) for e in encoded]

    def process(self, document: Document):
        paired = False
        for out in pairs_of(document, self.count, self.config.chunks):
            if isinstance(out, Filtered):
                yield from _tagged(out)
            else:
                Metrics.counter("cpt", "pairs_mined").inc()
                paired = True
                yield PAIRS, out
        if paired:
            yield COUNTS, ((OUTCOMES, "paired"), 1)


def _tagged(out: Filtered | DeadLetter):
    """Counted by reason; a dead letter (a page that cannot be decoded) set aside too; what
    ends a page is its outcome in the balance."""
    if isinstance(out, Filtered):
        Metrics.counter("cpt", f"filtered/{out.reason}").inc(out.count)
        yield COUNTS, (("filtered", out.reason), out.count)
        if out.unit:
            yield COUNTS, ((OUTCOMES, out.reason), out.count)
    else:
        Metrics.counter("cpt", "dead_letters").inc()
        yield DEAD, out
        yield COUNTS, ((OUTCOMES, f"dead_{out.reason}"), 1)


class CapPerHost(beam.PTransform):
    """At most `cap` pairs per host (the smallest ids, so runs agree); 0 means no cap."""

    def __init__(self, cap: int):
        super().__init__()
        self.cap = cap

    def expand(self, rows):
        if not self.cap:
            return {KEPT: rows, COUNTS: rows.pipeline | "NoCounts" >> beam.Create([])}
        return (
            rows
            | "ByHost" >> beam.Map(lambda r: (host_of(r), r))
            | "Group" >> beam.GroupByKey()
            | "Cap" >> Routed(_Cap(self.cap), (KEPT, COUNTS))
        )


class _Cap(beam.DoFn):
    def __init__(self, cap: int):
        self.cap = cap

    def process(self, group):
        _, rows = group
        rows = sorted(rows, key=pair_key)
        for row in rows[: self.cap]:
            yield KEPT, row
        if len(rows) > self.cap:
            Metrics.counter("cpt", "filtered/host_cap").inc(len(rows) - self.cap)
            yield COUNTS, (("filtered", "host_cap"), len(rows) - self.cap)


class TopHosts(beam.PTransform):
    """(("top_hosts", host), pairs) for the `n` hosts with the most pairs written.

    A global combine without defaults: `Top.Of` emits from finish_bundle, which the DaskRunner
    drops, and a combine with defaults reads its result back as a side input, which the
    DaskRunner recomputes from the start of the job (no rows: no top hosts, either way).
    """

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def expand(self, rows):
        return (
            rows
            | "Host" >> beam.Map(host_of)
            | "PerHost" >> beam.combiners.Count.PerElement()
            | "Top"
            >> beam.CombineGlobally(
                beam.combiners.TopCombineFn(self.n, key=lambda hc: (hc[1], hc[0]))
            ).without_defaults()
            | "Each" >> beam.FlatMap(lambda top: [(("top_hosts", h), n) for h, n in top])
        )


def host_of(row: dict) -> str:
    return json.loads(row["meta"])["host"]


def build(
    pipeline: beam.Pipeline,
    locations: list[str],
    output: str,
    staging: str,
    config: TextMiningConfig,
) -> dict:
    """The whole job as a graph on `pipeline`; returns its pairs, counts and dead letters."""
    tokenizer = tokenizer_json(config.tokenizer)
    read = (
        pipeline
        | "Locations" >> beam.Create(locations)
        | "Read" >> ReadPages(config.max_record_bytes)
    )
    # Extraction is fused with reading, one input file at a time (a crawl's unit of work, as
    # in datatrove and CCNet): a reshuffle of the pages in between would move every page's
    # HTML through the shuffle, and the local runner would hold all of it in memory at once.
    documents = read[PAGES] | "Extract" >> Routed(ExtractDocuments(config), (PAGES, COUNTS, DEAD))
    near = documents[PAGES] | "NearDedupe" >> NearDedupe(
        _document_text, _document_id, config.dedupe.near_threshold, _first_capture
    )
    pairs = near[KEPT] | "Pairs" >> Routed(MakePairs(tokenizer, config), (PAIRS, COUNTS, DEAD))
    exact = pairs[PAIRS] | "ExactDedupe" >> ExactDedupe(_passage_key, pair_order)
    # pairs, not pages: what it drops is counted apart from the balance
    clean = exact[KEPT] | "Decontaminate" >> Decontaminate(
        config.decontaminate, output, code=False, outcome=False
    )
    capped = clean[KEPT] | "HostCap" >> CapPerHost(config.max_pairs_per_host)
    counts = (
        read[COUNTS],
        documents[COUNTS],
        near[COUNTS],
        near[COUNTS] | as_outcomes("PageDuplicates"),  # pages; ExactDedupe's below are pairs
        pairs[COUNTS],
        exact[COUNTS],
        clean[COUNTS],
        capped[COUNTS],
        capped[KEPT] | "TopHosts" >> TopHosts(config.top_hosts),
    ) | "Counts" >> beam.Flatten()
    dead = (read[DEAD], documents[DEAD], pairs[DEAD]) | "Dead" >> beam.Flatten()
    parts = {"rows": capped[KEPT], "counts": counts, "dead": dead}
    _ = parts | "Write" >> WriteDataset(
        output,
        staging,
        kind="text",
        inputs=locations,
        config=config.model_dump(mode="json"),
        rows_per_shard=config.shards.rows_per_shard,
    )
    return parts


def _document_text(document: Document) -> str:
    return document.text


def _document_id(document: Document) -> str:
    return document.doc_id


def _first_capture(document: Document) -> tuple[str, str, str]:
    """Of the captures of one page (same URL and text), the earliest is kept."""
    return document.date, document.record_id, document.source


def _passage_key(row: dict) -> str:
    return exact_key(row["x"])


def run(
    locations: list[str],
    output: str,
    config: TextMiningConfig | None = None,
    beam_args: list[str] = (),
) -> Manifest:
    """Run the job; return the manifest of the dataset it wrote at `output`."""
    return run_job(build, PROGRESS, locations, output, config or TextMiningConfig(), beam_args)


mine = partial(mine_with, run, TextMiningConfig)  # what `cpt mine ...` and `python -m` call


def main(argv: list[str] | None = None) -> Manifest:
    return job_main(__doc__, mine, argv)


if __name__ == "__main__":
    quiet_beam()
    main(sys.argv[1:])
