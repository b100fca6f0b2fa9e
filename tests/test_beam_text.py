"""The text-mining Beam job end to end on a small crawl with every outcome it must handle."""

import gzip
import io
import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from fastwarc.warc import ArchiveIterator, WarcRecordType

from beam_jobs.extract_text_pairs import build, run
from cpt_core.data.manifest import Manifest
from cpt_core.paths import shared_data
from cpt_core.text.config import TextMiningConfig

WGET = shared_data("crawl") / "wget-sample-0000.warc.gz"  # real pages, English, mineable

LIGHTHOUSES = [
    "Lighthouses were built along dangerous coasts to warn ships of rocks and shallow water at night.",
    "Early towers burned wood or coal in open fires, which were hard to see in rain and fog.",
    "In the nineteenth century the Fresnel lens gathered the light of a single lamp into a strong beam.",
    "Keepers lived at the station with their families and trimmed the wicks every few hours.",
    "Today most lights are automatic, and the old keepers' houses have become museums for visitors.",
]
BREAD = [
    "Bread is made from flour, water, salt and yeast, which is mixed and left to rise for hours.",
    "The yeast eats the sugars in the flour and releases gas that makes the dough light and airy.",
    "Bakers fold the dough several times so that the gluten forms a strong and elastic network.",
    "After shaping, the loaves rest once more before they go into a very hot oven with steam.",
    "A good crust is dark and crisp, while the crumb inside stays soft, open and slightly chewy.",
]
GERMAN = (
    "Der Leuchtturm warnt die Schiffe in der Nacht vor den Felsen und dem flachen Wasser an der Küste. "
    * 6
)


def wet_record(url: str, text: str, date: str = "2017-07-20T12:00:00Z", cut: int = 0) -> bytes:
    body = text.encode()
    head = (
        f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
        f"WARC-Record-ID: <urn:uuid:{abs(hash(url)) % 10**12:012d}>\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    record = head + body + b"\r\n\r\n"
    return record[: len(record) - cut] if cut else record


@pytest.fixture()
def crawl(tmp_path) -> list[str]:
    return write_crawl(tmp_path)


def write_crawl(tmp_path: Path) -> list[str]:
    """A small crawl with every outcome the miner must handle, written under `tmp_path`."""
    wet = tmp_path / "sample.warc.wet"
    wet.write_bytes(
        wet_record("https://coast.example/history", "\n".join(LIGHTHOUSES))
        + wet_record(
            "https://mirror.example/copy", "\n".join(LIGHTHOUSES)
        )  # the same page on a mirror: kept is the smaller doc id
        + wet_record("https://de.example/leuchtturm", GERMAN)
        + wet_record("https://short.example/", "Too short to be a document.")
        + wet_record(
            "https://cut.example/", "\n".join(BREAD), cut=40
        )  # the file ends inside this record
    )
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        json.dumps({"url": "https://bakery.example/bread", "text": "\n".join(BREAD)})
        + "\n{broken\n"
    )
    return [str(wet), str(jsonl)]


def config(tiny_model, **changes) -> TextMiningConfig:
    base = {
        "tokenizer": str(tiny_model),
        "filters": {"min_words": 40},
        "chunks": {"max_tokens": 120, "min_tokens": 8},
    }
    return TextMiningConfig.model_validate({**base, **changes})


def test_pipeline_pairs_dedupe_and_dead_letters(crawl, tmp_path, tiny_model):
    options = PipelineOptions(["--runner=FnApiRunner"])
    with BeamTestPipeline(options=options) as pipeline:
        parts = build(
            pipeline, crawl, str(tmp_path / "out"), str(tmp_path / "staging"), config(tiny_model)
        )
        hosts = parts["rows"] | beam.Map(lambda r: json.loads(r["meta"])["host"]) | beam.Distinct()
        assert_that(hosts, equal_to(["mirror.example", "bakery.example"]), label="hosts")
        reasons = parts["dead"] | beam.Map(lambda d: d.reason)
        assert_that(reasons, equal_to(["truncated_record", "malformed_json"]), label="dead")
        counts = (
            parts["counts"]
            | beam.Filter(lambda c: c[0][0] in ("duplicates", "filtered"))
            | beam.CombinePerKey(sum)
        )
        expected = [
            (("duplicates", "near"), 1),
            (("filtered", "language_de"), 1),
            (("filtered", "too_few_words"), 1),
        ]
        assert_that(counts, equal_to(expected), label="counts")


def read_rows(folder) -> list[dict]:
    return sorted(
        (r for p in sorted(folder.glob("*.parquet")) for r in pq.read_table(p).to_pylist()),
        key=lambda r: r["pair_id"],
    )


def test_run_writes_shards_manifest_and_is_deterministic(crawl, tmp_path, tiny_model):
    cfg = config(tiny_model, shards={"rows_per_shard": 3})
    first = run(crawl, str(tmp_path / "a"), cfg)
    second = run(list(reversed(crawl)), str(tmp_path / "b"), cfg)
    assert first.counts["rows"] == second.counts["rows"] > 3
    assert [s.sha256 for s in first.shards] == [s.sha256 for s in second.shards]
    assert [s.sha256 for s in first.dead_letters] == [s.sha256 for s in second.dead_letters]
    manifest = Manifest.read(tmp_path / "a")
    assert manifest.kind == "text" and manifest.counts["dead_letters"] == {
        "malformed_json": 1,
        "truncated_record": 1,
    }
    assert set(manifest.counts["top_hosts"]) == {"mirror.example", "bakery.example"}
    rows = read_rows(tmp_path / "a")
    assert len(rows) == manifest.counts["rows"] and all(
        r["kind"] == "text" and r["language"] == "en" for r in rows
    )
    meta = json.loads(rows[0]["meta"])
    assert {"url", "host", "date", "record_id", "chunks", "file"} <= set(meta)
    capped = run(crawl, str(tmp_path / "c"), config(tiny_model, max_pairs_per_host=1))
    assert (
        capped.counts["rows"] == 2
        and capped.counts["filtered"]["host_cap"] == first.counts["rows"] - 2
    )


def test_cli_mines_text_with_a_list_file(crawl, tmp_path, tiny_model):
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(crawl) + "\n")
    out = tmp_path / "cli"
    preset = tmp_path / "preset.yaml"
    preset.write_text(json.dumps(config(tiny_model).model_dump(mode="json")))
    result = subprocess.run(
        [sys.executable, "-m", "cpt_core.cli", "mine", "text", "--input-list", str(listing), "--output", str(out), "--config", str(preset), "--direct_num_workers=1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "truncated_record" in result.stdout and Manifest.read(out).counts["rows"] > 0


def real_pages(count: int) -> list[bytes]:
    """The first `count` response records of a real crawl, each as uncompressed WARC."""
    pages = []
    with WGET.open("rb") as stream:
        responses = ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=False)
        for record in islice(responses, count):
            out = io.BytesIO()
            record.write(out)
            pages.append(out.getvalue())
    return pages


def test_a_decompression_bomb_is_a_dead_letter_and_the_crawl_is_still_mined(tmp_path, tiny_model):
    """64 MiB of zeros sent as Content-Encoding: gzip (~65 KB), between real crawl pages."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
    http += gzip.compress(bytes(64 << 20))
    bomb = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:bomb>\r\n"
        b"WARC-Target-URI: https://bomb.example/\r\n"
        b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n"
    ) % len(http)
    first, *rest = real_pages(3)
    warc = tmp_path / "bomb.warc"
    warc.write_bytes(b"".join([first, bomb, http, b"\r\n\r\n", *rest]))
    in_process = ["--direct_num_workers=1", "--direct_running_mode=in_memory"]  # 20 s less start-up
    manifest = run([str(warc)], str(tmp_path / "out"), config(tiny_model), in_process)
    assert manifest.counts["dead_letters"] == {"too_large": 1} and manifest.counts["rows"] > 0


GARDEN = [
    "A kitchen garden needs six hours of sun, rich soil and water close at hand for dry weeks.",
    "Beans and peas climb on poles, which saves room and keeps the pods clean and easy to pick.",
    "Tomatoes are planted deep, so that roots grow along the buried stem and feed a taller plant.",
    "Mulch of straw or leaves keeps the soil moist and cool, and it smothers most of the weeds.",
    "Rotating crops each year keeps diseases from building up in the same beds season after season.",
]


def test_a_page_seen_twice_is_kept_once_and_two_pages_under_one_url_both(tmp_path, tiny_model):
    """Same URL and text twice: one kept, the copy counted (both used to be dropped and one
    counted). Two different pages under one URL are two documents."""
    wet = tmp_path / "twice.warc.wet"
    wet.write_bytes(
        wet_record("https://coast.example/history", "\n".join(LIGHTHOUSES)) * 2
        + wet_record("https://home.example/", "\n".join(BREAD))
        + wet_record("https://home.example/", "\n".join(GARDEN))
    )
    manifest = run([str(wet)], str(tmp_path / "out"), config(tiny_model))
    rows = read_rows(tmp_path / "out")
    docs = {json.loads(r["meta"])["doc_id"]: json.loads(r["meta"])["url"] for r in rows}
    assert sorted(docs.values()) == [
        "https://coast.example/history",
        *["https://home.example/"] * 2,
    ]
    assert manifest.counts["duplicates"] == {"exact": 1}
    assert manifest.counts["balance"] == {
        "unit": "page",
        "inputs": 4,
        "outcomes": {"duplicates_exact": 1, "paired": 3},
    }


def test_every_page_of_the_shared_crawl_lands_in_one_outcome(tmp_path, tiny_model):
    """The real crawl samples, damaged files included: pages read == sum of their outcomes."""
    crawl = sorted(str(p) for p in shared_data("crawl").iterdir() if "warc" in p.name)
    manifest = run(crawl, str(tmp_path / "out"), config(tiny_model))
    balance = manifest.counts["balance"]
    assert balance["unit"] == "page" and balance["inputs"] > 500
    assert balance["inputs"] == sum(balance["outcomes"].values())
    assert balance["outcomes"]["paired"] > 50
    assert {"skipped_request_record", "dead_truncated_record"} <= balance["outcomes"].keys()
