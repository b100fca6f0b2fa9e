"""Reading real crawl files, intact and damaged: every record is a page, a count or a dead letter."""

import gzip
import io
from collections import Counter

import pytest

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.paths import shared_data
from cpt_core.text.http import MalformedHttp, dechunk, parse_response
from cpt_core.text.inputs import open_local, read_pages
from cpt_core.text.page import Counted, Page
from cpt_core.text.warc import read_warc

CRAWL = shared_data("crawl")
MB = 5_000_000


def outcomes(items) -> Counter:
    counts = Counter()
    for item in items:
        if isinstance(item, Page):
            counts["page"] += 1
        elif isinstance(item, Counted):
            counts[f"{item.group}/{item.reason}"] += 1
        else:
            assert isinstance(item, DeadLetter)
            counts[f"dead/{item.reason}"] += 1
    return counts


def read_blob(blob: bytes, name: str = "blob.warc.gz", max_bytes: int = MB) -> list:
    return list(read_warc(name, lambda _: io.BytesIO(blob), max_bytes))


def read_file(name: str) -> list:
    return list(read_pages(str(CRAWL / name), open_local, MB))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "cc-main-2014-35-sample.warc",
            {
                "page": 3,
                "skipped/not_html": 1,
                "skipped/request_record": 4,
                "skipped/metadata_record": 4,
                "skipped/warcinfo_record": 1,
            },
        ),
        (
            "cc-main-2020-34-sample.warc.gz",
            {
                "page": 16,
                "skipped/request_record": 17,
                "skipped/metadata_record": 16,
                "skipped/warcinfo_record": 1,
            },
        ),
        (
            "ia-2008-web-sample.warc.gz",
            {
                "page": 94,
                "skipped/not_html": 120,
                "skipped/not_http": 38,
                "skipped/http_3xx": 7,
                "skipped/http_4xx": 40,
                "skipped/request_record": 261,
                "skipped/metadata_record": 261,
                "skipped/warcinfo_record": 1,
            },
        ),
        (
            "wget-sample-0000.warc.gz",
            {
                "page": 22,
                "skipped/request_record": 22,
                "skipped/metadata_record": 1,
                "skipped/resource_record": 2,
                "skipped/warcinfo_record": 1,
            },
        ),
        # damaged as found: LF line endings recover all 68 pages; a cut gzip loses only record 44
        (
            "cc-main-2016-50-sample.warc.wet.gz",
            {
                "page": 68,
                "repaired/file_reread_tolerantly": 1,
                "repaired/content_length": 10,
                "skipped/warcinfo_record": 1,
            },
        ),
        (
            "cc-main-2017-30-head.warc.wet.gz",
            {"page": 43, "dead/truncated_record": 1, "skipped/warcinfo_record": 1},
        ),
    ],
)
def test_every_record_of_the_real_crawl_samples_is_accounted_for(name, expected):
    assert outcomes(read_file(name)) == expected


def test_pages_carry_their_warc_metadata():
    page = next(i for i in read_file("cc-main-2017-30-head.warc.wet.gz") if isinstance(i, Page))
    assert page.url.startswith("http") and page.site and page.text
    assert page.record_id.startswith("<urn:uuid:") and page.date.startswith("2017-07")
    wget = next(i for i in read_file("wget-sample-0000.warc.gz") if isinstance(i, Page))
    assert wget.url == "https://www.semanticscholar.org/research/research-team"  # <url> unwrapped
    assert wget.site == "semanticscholar.org" and b"<html" in wget.html.lower()


IA = (CRAWL / "ia-2008-web-sample.warc.gz").read_bytes()


def test_corrupt_gzip_member_costs_one_record_and_reading_resumes():
    damaged = IA[:1_200_000] + bytes(500) + IA[1_200_500:]
    counts = outcomes(read_blob(damaged))
    assert counts["page"] == 94 and counts["skipped/not_html"] == 119  # one record lost of 822
    assert counts["dead/corrupt_gzip"] == 1 and counts["dead/damaged_record"] == 1
    assert counts["repaired/file_reread_tolerantly"] == 1


def test_file_cut_mid_record_yields_what_precedes_it():
    counts = outcomes(read_blob(IA[:1_200_000]))
    assert counts["page"] == 48 and counts["dead/truncated_record"] == 1
    assert sum(counts.values()) == 1 + 26 + 76 + 146 + 146 + 48 + 4 + 18 + 1


PLAIN = (CRAWL / "cc-main-2014-35-sample.warc").read_bytes()


def test_wrong_content_length_is_repaired_from_the_record_boundary():
    first = PLAIN.index(b"Content-Length: ") + len(b"Content-Length: ")
    end = PLAIN.index(b"\r\n", first)
    wrong = PLAIN[:first] + str(int(PLAIN[first:end]) + 7).encode() + PLAIN[end:]
    counts = outcomes(read_blob(wrong, "plain.warc"))
    assert counts["page"] == 3 and counts["repaired/content_length"] == 1


def test_malformed_warc_headers_are_dead_letters_and_the_rest_is_read():
    second = PLAIN.index(b"WARC/1.0", 10)  # the first request record
    broken = PLAIN[:second] + b"WARX/1.0" + PLAIN[second + 8 :]
    counts = outcomes(read_blob(broken, "plain.warc"))
    assert counts["dead/malformed_record"] == 1 and counts["skipped/request_record"] == 3
    assert counts["page"] == 3 and counts["repaired/file_reread_tolerantly"] == 1
    third = PLAIN.index(b"WARC/1.0", second + 10)
    no_colon = PLAIN[:third] + b"WARC/1.0\r\nno colon here" + PLAIN[third + 8 :]
    # FastWARC skips a header line without a colon and reads the record: nothing is lost
    assert outcomes(read_blob(no_colon, "plain.warc")) == outcomes(read_blob(PLAIN, "plain.warc"))


def test_records_over_the_size_cap_are_dead_letters():
    counts = outcomes(read_blob(PLAIN, "plain.warc", max_bytes=50_000))
    assert counts["dead/too_large"] >= 1 and counts["page"] < 3


def test_chunked_and_gzipped_http_bodies_are_decoded():
    body = gzip.compress(b"<html><p>hello</p></html>")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\n"
    response = parse_response(
        head + b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunked
    )
    assert response.body == b"<html><p>hello</p></html>" and response.charset == "ISO-8859-1"
    assert response.mime_type == "text/html" and response.status == 200
    stored = parse_response(head + b"Content-Encoding: gzip\r\n\r\n<html>already inflated</html>")
    assert stored.body == b"<html>already inflated</html>"  # Common Crawl 2014 kept the header
    with pytest.raises(MalformedHttp, match="truncated"):
        dechunk(b"ff\r\nshort")
    with pytest.raises(MalformedHttp, match="truncated"):
        dechunk(b"5\r\nhello")  # no line end after the data: once an endless loop
    with pytest.raises(MalformedHttp, match="status line"):
        parse_response(b"garbage\r\n\r\nbody")


def test_other_inputs_jsonl_parquet_html_and_their_failures(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = tmp_path / "docs.jsonl.gz"
    lines = [b'{"url": "https://a.example/1", "text": "first"}', b"{not json", b'{"url": "x"}', b""]
    jsonl.write_bytes(gzip.compress(b"\n".join(lines))[:-6])  # truncated gzip trailer
    counts = outcomes(read_pages(str(jsonl), open_local, MB))
    assert counts == {
        "page": 1,
        "dead/malformed_json": 1,
        "dead/missing_text": 1,
        "dead/truncated_gzip": 1,
    }
    good = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"url": ["u1", "u2"], "text": ["one", None]}), good)
    assert outcomes(read_pages(str(good), open_local, MB)) == {
        "page": 1,
        "dead/missing_text": 1,
    }
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"body": ["x"]}), wrong)
    assert outcomes(read_pages(str(wrong), open_local, MB)) == {"dead/wrong_schema": 1}
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<p>hi</p>")
    (site / "sub" / "empty.htm").write_text("  ")
    (site / "notes.txt").write_text("not html")
    pages = list(read_pages(str(site), open_local, MB))
    assert outcomes(pages) == {"page": 1, "dead/empty_page": 1}
    assert pages[0].url == "site/index.html" and pages[0].site == "site"
    assert outcomes(read_pages(str(tmp_path / "x.pdf"), open, MB)) == {"dead/missing_input": 1}
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    assert outcomes(read_pages(str(tmp_path / "x.pdf"), open, MB)) == {"dead/unsupported_input": 1}


def test_missing_empty_and_unreadable_inputs_are_dead_letters(tmp_path):
    def read(path):
        return outcomes(read_pages(str(path), open_local, MB))

    assert read(tmp_path / "gone.warc.gz") == {"dead/missing_input": 1}
    for name in ("empty.warc.gz", "empty.jsonl", "empty.wet"):
        (tmp_path / name).write_bytes(b"")
        assert read(tmp_path / name) == {"dead/empty_input": 1}, name
    (tmp_path / "folder.warc").mkdir()  # opening a folder as a file raises
    assert read(tmp_path / "folder.warc") == {"dead/unreadable_input": 1}
    assert read(tmp_path) == {"dead/empty_input": 1}  # a folder with no HTML in it
