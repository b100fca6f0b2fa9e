"""Reading real crawl files, intact and damaged: every record is a page, a count or a dead letter."""

import gzip
import io
import json
import struct
import subprocess
import sys
import zlib
from collections import Counter
from functools import cache
from pathlib import Path

import brotli
import pytest

from cpt_core.data.dead_letter import DeadLetter
from cpt_core.paths import shared_data
from cpt_core.text.http import BodyTooLarge, MalformedHttp, dechunk, inflate, parse_response
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
        head + b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunked, MB
    )
    assert response.body == b"<html><p>hello</p></html>" and response.charset == "ISO-8859-1"
    assert response.mime_type == "text/html" and response.status == 200
    stored = parse_response(
        head + b"Content-Encoding: gzip\r\n\r\n<html>already inflated</html>", MB
    )
    assert stored.body == b"<html>already inflated</html>"  # Common Crawl 2014 kept the header
    with pytest.raises(MalformedHttp, match="truncated"):
        dechunk(b"ff\r\nshort")
    with pytest.raises(MalformedHttp, match="truncated"):
        dechunk(b"5\r\nhello")  # no line end after the data: once an endless loop
    with pytest.raises(MalformedHttp, match="status line"):
        parse_response(b"garbage\r\n\r\nbody", MB)


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


# Hostile input. Each file is read in a fresh process, the same way the Beam job reads it
# (read_pages); its peak memory is measured there and its address space capped at 4 GiB, so a
# regression fails the test instead of swapping the machine. The peak is VmHWM, not ru_maxrss:
# Linux carries the parent's peak (pytest's, with Beam and torch loaded) into ru_maxrss across
# fork and exec.
ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
PEAK_MB = 500  # far below every inflated or claimed size below (1-5 GiB)
PLAIN_OUTCOMES = outcomes(read_blob(PLAIN, "plain.warc"))  # 13 records, 3 pages
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from cpt_core.text.inputs import open_local, read_pages
from tests.test_text_warc import outcomes
counts = outcomes(read_pages(sys.argv[1], open_local, int(sys.argv[2])))
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"counts": counts, "peak_mb": peak_kb >> 10}))
"""


def read_in_child(path: Path, max_bytes: int = MB) -> tuple[Counter, int]:
    """The outcomes of reading `path` in a new process, and that process's peak RSS in MB."""
    args = [sys.executable, "-c", CHILD, str(path), str(max_bytes)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-1500:]
    result = json.loads(done.stdout.splitlines()[-1])
    return Counter(result["counts"]), result["peak_mb"]


@cache
def zero_block() -> tuple[bytes, bytes]:
    """Raw deflate of 1 MiB of zeros after a full flush (so copies of it can follow each other),
    and an empty final block: a GB-sized bomb is built in milliseconds instead of a minute."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(MiB)) + packer.flush(zlib.Z_FULL_FLUSH)
    return block, packer.flush()


def gzip_zeros(mib: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """One gzip member: `head`, `mib` MiB of zeros, `tail`, about 1000:1."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block, end = zero_block()
    crc = zlib.crc32(head)
    for _ in range(mib):
        crc = zlib.crc32(bytes(MiB), crc)
    crc = zlib.crc32(tail, crc)
    deflated = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH) + block * mib
    deflated += (packer.compress(tail) + packer.flush()) if tail else end
    size = len(head) + mib * MiB + len(tail)
    return b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + deflated + struct.pack("<II", crc, size % 2**32)


def zlib_zeros(mib: int) -> bytes:
    """`mib` MiB of zeros as Content-Encoding: deflate sends it (a zlib stream)."""
    size, (block, end) = mib * MiB, zero_block()
    return b"\x78\xda" + block * mib + end + struct.pack(">I", (size % 65521) << 16 | 1)


def brotli_zeros(mib: int) -> bytes:
    packer = brotli.Compressor(quality=1)
    return b"".join(packer.process(bytes(MiB)) for _ in range(mib)) + packer.finish()


def warc_record(ident: str, kind: str, block: bytes, extra: bytes = b"") -> bytes:
    head = f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{ident}>\r\n"
    head += f"WARC-Target-URI: https://{ident}.example/\r\n"
    if kind == "response":
        head += "Content-Type: application/http; msgtype=response\r\n"
    length = f"Content-Length: {len(block)}\r\n".encode()
    return head.encode() + extra + length + b"\r\n" + block + b"\r\n\r\n"


def html_response(ident: str, body: bytes, headers: bytes = b"") -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + headers + b"\r\n" + body
    return warc_record(ident, "response", http)


def renamed(warc: bytes) -> bytes:
    """The same records under new ids: the tolerant re-read does not take them for seen ones."""
    return warc.replace(b"<urn:uuid:", b"<urn:uuid:2")


def test_inflated_http_bodies_stop_at_the_size_cap():
    page = b"<html>" + b"word " * 100 + b"</html>"
    for encoding, packed in (
        ("gzip", gzip.compress(page)),
        ("deflate", zlib.compress(page)),
        ("deflate", zlib.compress(page)[2:-4]),  # raw deflate
        ("br", brotli.compress(page)),
    ):
        assert inflate(packed, encoding, len(page)) == page
        with pytest.raises(BodyTooLarge, match=f"{encoding} body inflates past"):
            inflate(packed, encoding, len(page) - 1)
        with pytest.raises(MalformedHttp, match="cannot decode"):
            inflate(packed[:-8], encoding, len(page))  # truncated
    with pytest.raises(BodyTooLarge):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzip_zeros(64), MB)


@pytest.mark.parametrize(
    ("encoding", "bomb"), [("gzip", gzip_zeros), ("deflate", zlib_zeros), ("br", brotli_zeros)]
)
def test_http_decompression_bomb_is_too_large_and_the_rest_is_mined(tmp_path, encoding, bomb):
    body = bomb(4600)  # 4.5 GiB of zeros in a record under the 5 MB cap (brotli: in ~1 MB)
    assert len(body) < MB - 1000
    path = tmp_path / "bomb.warc"
    path.write_bytes(
        PLAIN + html_response("bomb", body, f"Content-Encoding: {encoding}\r\n".encode()) + PLAIN
    )
    counts, peak_mb = read_in_child(path)
    assert counts == PLAIN_OUTCOMES + PLAIN_OUTCOMES + Counter({"dead/too_large": 1})
    assert peak_mb < PEAK_MB


@pytest.mark.parametrize("records_after", [True, False], ids=["records_after", "file_ends"])
def test_record_with_no_boundary_within_the_cap_is_skipped_not_buffered(tmp_path, records_after):
    """1 GiB of block, in a file the tolerant reader frames (NUL bytes after the first records
    stop FastWARC): the record is too large as soon as the cap passes without a boundary."""
    path = tmp_path / "huge.warc"
    with path.open("wb") as out:
        out.write(PLAIN + bytes(100) + b"\r\n\r\n")
        out.write(b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:huge>\r\n")
        out.write(b"Content-Length: %d\r\n\r\n" % (1024 * MiB))
        lines = (b"x" * 1023 + b"\n") * 1024
        for _ in range(1024):
            out.write(lines)
        if records_after:
            out.write(b"\r\n\r\n" + renamed(PLAIN))
    counts, peak_mb = read_in_child(path)
    path.unlink()
    damage = {"repaired/file_reread_tolerantly": 1, "dead/malformed_record": 1}  # the NULs
    after = PLAIN_OUTCOMES if records_after else Counter()
    assert counts == PLAIN_OUTCOMES + after + Counter({**damage, "dead/too_large": 1})
    assert peak_mb < PEAK_MB


def test_gzip_member_bomb_in_a_damaged_file_is_inflated_block_by_block(tmp_path):
    """A 2 MB gzip member holding one record of 2 GiB, read by the tolerant reader."""
    head = b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:huge>\r\n"
    head += b"Content-Length: %d\r\n\r\n" % (2048 * MiB)
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(
        gzip.compress(PLAIN)
        + b"garbage"  # a corrupt member: FastWARC stops, the tolerant reader resynchronises
        + gzip_zeros(2048, head, tail=b"\r\n\r\n")
        + gzip.compress(renamed(PLAIN))
    )
    counts, peak_mb = read_in_child(path)
    assert counts["dead/too_large"] == 1 and counts["dead/corrupt_gzip"] == 1
    assert counts["page"] == 6 and counts["skipped/metadata_record"] == 8
    assert peak_mb < PEAK_MB


def test_absurd_lengths_and_bytes_in_headers_lose_no_record():
    odd_warc = b"X-Note: \xff\xfe caf\xe9 \x00\x00\r\n"  # not UTF-8, NUL bytes
    odd_http = b"X-Note: \xc3\x28\x00\r\nContent-Language: \xff\r\n"
    page = b"<html><p>" + b"text " * 50 + b"</p></html>"
    blob = (
        html_response("odd1", page, odd_http).replace(b"WARC-Type", odd_warc + b"WARC-Type", 1)
        + PLAIN
        + warc_record("claims", "resource", b"short", extra=b"X: 1\r\n").replace(
            b"Content-Length: 5", b"Content-Length: 1000000000000"
        )  # 10**12 bytes: FastWARC would take the rest of the file for this record's block
        + html_response("odd2", page, odd_http).replace(b"WARC-Type", odd_warc + b"WARC-Type", 1)
        + renamed(PLAIN)
    )
    counts = outcomes(read_blob(blob, "odd.warc"))
    repairs = {"repaired/file_reread_tolerantly": 1, "repaired/content_length": 1}
    expected = PLAIN_OUTCOMES + PLAIN_OUTCOMES + Counter({"page": 2, **repairs})
    assert counts == expected + Counter({"skipped/resource_record": 1})  # 30 records, 30 outcomes
    cut = blob[: blob.index(b"odd2") + 200]  # and the file ends inside the next record
    assert outcomes(read_blob(cut, "odd.warc")) == PLAIN_OUTCOMES + Counter(
        {"page": 1, **repairs, "skipped/resource_record": 1, "dead/truncated_record": 1}
    )


def test_jsonl_line_bomb_is_too_large_and_the_next_line_is_read(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    after = b'\n{"url": "https://a.example/", "text": "after the bomb"}\n'
    path.write_bytes(gzip_zeros(2048) + gzip.compress(after))  # a 2 GiB line of zeros
    counts, peak_mb = read_in_child(path)
    assert counts == {"dead/too_large": 1, "page": 1} and peak_mb < PEAK_MB
