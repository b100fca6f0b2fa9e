"""HTML folders packed into WARC: every page comes back through the crawl reader, byte for byte,
an independent reader (warcio) agrees, packing is reproducible, and `warc:` sources pack once."""

import os

import pytest
from warcio.archiveiterator import ArchiveIterator

from cpt_core.errors import CptError
from cpt_core.pipeline.sources import resolve_source
from cpt_core.text.inputs import open_local, read_pages
from cpt_core.text.page import Page
from cpt_core.text.warc_pack import pack_html_folder

PAGES = {
    "index.html": b"<html><body><p>The front page.</p></body></html>",
    "library/os path.html": "<html><body><p>Caf\u00e9 \u2014 paths.</p></body></html>".encode(),
    "library/deep/x.htm": b"<html><body><p>Deeper.</p></body></html>",
}


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "html"
    for name, body in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    (root / "library" / "style.css").write_text("p {}")  # not a page: left out
    os.utime(root / "index.html", (0, 1_700_000_000))
    return root


def test_every_page_reads_back_through_the_crawl_path(site, tmp_path):
    out = tmp_path / "site.warc.gz"
    assert pack_html_folder(site, out, "https://docs.example/") == (3, [])
    pages = [p for p in read_pages(str(out), open_local, 1 << 20) if isinstance(p, Page)]
    assert [p.url for p in pages] == [
        "https://docs.example/index.html",
        "https://docs.example/library/deep/x.htm",
        "https://docs.example/library/os%20path.html",
    ]
    assert [p.html for p in pages] == [PAGES[n] for n in sorted(PAGES)]
    assert pages[0].date == "2023-11-14T22:13:20Z"  # the file's modification time
    assert len({p.record_id for p in pages}) == 3
    assert {p.site for p in pages} == {"docs.example"}


def test_warcio_reads_the_same_records(site, tmp_path):
    out = tmp_path / "site.warc.gz"
    pack_html_folder(site, out, "https://docs.example/")
    with open(out, "rb") as stream:
        records = [
            (r.rec_headers.get_header("WARC-Target-URI"), r.http_headers.get_statuscode(),
             r.content_stream().read())
            for r in ArchiveIterator(stream)
        ]  # fmt: skip
    assert [(status, body) for _, status, body in records] == [
        ("200", PAGES[n]) for n in sorted(PAGES)
    ]


def test_packing_twice_gives_the_same_bytes(site, tmp_path, monkeypatch):
    pack_html_folder(site, tmp_path / "a.warc.gz", "https://docs.example/")
    monkeypatch.setattr("gzip.time.time", lambda: 2_000_000_000.0)  # a later clock
    pack_html_folder(site, tmp_path / "b.warc.gz", "https://docs.example/")
    assert (tmp_path / "a.warc.gz").read_bytes() == (tmp_path / "b.warc.gz").read_bytes()


def _urls(path: str) -> list[str]:
    with open(path, "rb") as stream:
        return [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(stream)]


def test_a_warc_source_is_packed_once_per_version_of_its_folder(site, tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    first = resolve_source(f"warc:{site}")
    assert first.endswith(".warc.gz") and first.startswith(str(tmp_path / "home" / "corpora"))
    written = os.stat(first).st_mtime_ns
    assert resolve_source(f"warc:{site}") == first and os.stat(first).st_mtime_ns == written
    assert _urls(first)[0] == "https://html.invalid/index.html"  # the folder's name is the site
    (site / "late.html").write_bytes(b"<p>added after packing</p>")
    second = resolve_source(f"warc:{site}")
    assert second != first and "https://html.invalid/late.html" in _urls(second)


def test_two_manuals_of_one_package_never_share_a_url(tmp_path, monkeypatch):
    """A Debian package already unpacked in the cache (as `debian:` leaves it): each manual's
    pages are named by their path in the package."""
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    html = tmp_path / "home" / "corpora" / "somedoc" / "usr" / "share" / "doc" / "somedoc" / "html"
    for book in ("book", "reference"):
        (html / book).mkdir(parents=True)
        (html / book / "index.html").write_bytes(f"<p>{book}</p>".encode())
    urls = [
        _urls(resolve_source(f"warc:debian:somedoc/usr/share/doc/somedoc/html/{book}"))
        for book in ("book", "reference")
    ]
    assert urls == [
        ["https://somedoc.invalid/usr/share/doc/somedoc/html/book/index.html"],
        ["https://somedoc.invalid/usr/share/doc/somedoc/html/reference/index.html"],
    ]


def test_links_to_pages_outside_the_folder_are_never_read(site, tmp_path):
    secret = tmp_path / "secret.html"
    secret.write_bytes(b"<p>not part of the site</p>")
    (site / "escape.html").symlink_to(secret)
    (site / "library" / "inside.html").symlink_to(site / "index.html")  # inside: kept
    count, outside = pack_html_folder(site, tmp_path / "s.warc.gz", "https://docs.example/")
    assert count == 4 and outside == [site / "escape.html"]
    assert "https://docs.example/escape.html" not in _urls(str(tmp_path / "s.warc.gz"))
    items = list(read_pages(str(site), open_local, 1 << 20))
    dead = [i for i in items if not isinstance(i, Page)]
    assert [(d.reason, d.item) for d in dead] == [("link_outside_folder", "escape.html")]
    assert secret.read_bytes() not in [p.html for p in items if isinstance(p, Page)]


def test_a_warc_source_must_be_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    (tmp_path / "page.html").write_bytes(b"<p>x</p>")
    for spec in (tmp_path / "page.html", tmp_path / "missing"):
        with pytest.raises(CptError, match="not a folder"):
            resolve_source(f"warc:{spec}")


def test_an_empty_folder_packs_to_an_empty_input_the_miner_reports(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "e.warc.gz"
    assert pack_html_folder(tmp_path / "empty", out, "https://e.example/") == (0, [])
    assert [d.reason for d in read_pages(str(out), open_local, 1 << 20)] == ["empty_input"]
