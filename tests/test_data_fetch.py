"""`cpt data fetch` against a local HTTP server standing in for GitHub: every pinned file is
served from the copies in ../shared/data (the same bytes), laid out as raw.githubusercontent.com
lays them out. Never the internet."""

import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

from cpt_core.errors import CptError
from cpt_core.paths import REPO, shared_data
from cpt_core.sets import convert
from cpt_core.sets.catalogue import SETS
from cpt_core.sets.fetch import fetch_sets

KEPT = [(s, f) for s in SETS.values() for f in s.kept()]


class Mirror:
    """A folder served on 127.0.0.1 that counts the requests it answers."""

    def __init__(self, root: Path):
        self.root, self.requests = root, 0
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                mirror.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def path_of(self, url: str) -> Path:
        return self.root / urlparse(url).path.lstrip("/")


@pytest.fixture()
def mirror(tmp_path, monkeypatch):
    served = Mirror(tmp_path / "served")
    for _, pinned in KEPT:
        target = served.path_of(pinned.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data(pinned.dest), target)
    monkeypatch.setenv("CPT_DATA_MIRROR", served.url)
    monkeypatch.setenv("CPT_DATA", str(tmp_path / "data"))
    yield served
    served.server.shutdown()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_pin_is_the_shared_copy():
    for data_set in SETS.values():
        for pinned in data_set.outputs():  # what is downloaded as it is, and what is converted
            copy = shared_data(pinned.dest)
            assert (copy.stat().st_size, sha256(copy)) == (pinned.size, pinned.sha256), pinned.dest


def test_fetch_puts_each_set_in_place_once(mirror, tmp_path):
    names = [s.name for s in SETS.values() if not s.conversion]  # served as they are
    fetched = fetch_sets(names)
    assert [(f.name, f.downloaded) for f in fetched] == [(name, True) for name in names]
    for name in names:
        for pinned in SETS[name].files:
            assert sha256(tmp_path / "data" / pinned.dest) == pinned.sha256
    answered = mirror.requests
    assert [f.downloaded for f in fetch_sets(names)] == [False] * len(names)
    assert mirror.requests == answered  # present: nothing downloaded again


def test_a_file_that_is_not_the_pinned_one_leaves_nothing(mirror, tmp_path):
    _, pinned = next(item for item in KEPT if item[0].name == "cosqa")
    served = mirror.path_of(pinned.url)
    served.write_bytes(served.read_bytes()[:-1] + b"!")  # same size, other bytes
    with pytest.raises(CptError, match="is not the pinned file"):
        fetch_sets(["cosqa"])
    served.write_bytes(served.read_bytes() + b"more")  # beyond the pinned size
    with pytest.raises(CptError, match="is larger than its pinned"):
        fetch_sets(["cosqa"])
    served.unlink()
    with pytest.raises(CptError, match=r"cannot download .*: HTTP 404"):
        fetch_sets(["cosqa"])
    assert not (tmp_path / "data" / "code" / "cosqa").exists()
    assert [p.name for p in (tmp_path / "data" / "code").iterdir()] == []  # no staging left


def test_an_incomplete_folder_in_the_way_is_never_replaced(mirror, tmp_path):
    own = tmp_path / "data" / "sts" / "my-sts-2017" / "STS.input.txt"  # the user's own set
    own.parent.mkdir(parents=True)
    own.write_text("a\tb\n")
    with pytest.raises(CptError, match="sts exists but lacks 9 of the set's files"):
        fetch_sets(["sts"])
    assert own.read_text() == "a\tb\n" and mirror.requests == 0


def test_the_command_lists_and_fetches(mirror, tmp_path):
    command = [sys.executable, "-m", "cpt_core.cli", "data"]
    done = subprocess.run([*command, "fetch", "cosqa"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["cosqa", "fetched"]
    listed = subprocess.run([*command, "list"], capture_output=True, text=True, cwd=REPO).stdout
    assert str(tmp_path / "data" / "code" / "cosqa") in listed
    wrong = subprocess.run([*command, "fetch", "cosqq"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "no data set 'cosqq'; sets: " in wrong.stderr


UPSTREAM = REPO / "tests" / "fixtures" / "scifact-upstream"  # the first records of each file


def test_scifact_is_rebuilt_from_its_published_files_as_the_shared_copy_holds_it(tmp_path):
    """The excerpts are SciFact's published files as pinned: the first 3 records of
    claimverifier's corpus_train.csv (in a zip), the first 3 queries with their metadata and
    the first 5 test qrels in their 4-field, tab-and-space form."""
    convert.scifact(UPSTREAM, tmp_path)
    for name, lines in (("corpus.jsonl", 3), ("queries.jsonl", 3), ("qrels/test.tsv", 6)):
        with shared_data("beir", "scifact", name).open(encoding="utf-8") as copy:
            expected = "".join(next(copy) for _ in range(lines))
        assert (tmp_path / name).read_text(encoding="utf-8") == expected, name


def test_a_scifact_abstract_that_is_not_a_printed_array_is_one_line(tmp_path):
    with zipfile.ZipFile(tmp_path / "scifact.zip", "w") as archive:
        header = "doc_id,title,abstract,structured\n"
        archive.writestr("corpus_train.csv", header + "1,t,\"['a' + x]\",0\n")
    shutil.copy(UPSTREAM / "queries.jsonl", tmp_path)
    shutil.copy(UPSTREAM / "test.tsv", tmp_path)
    with pytest.raises(CptError, match="SciFact abstract holds more than strings"):
        convert.scifact(tmp_path, tmp_path / "out")
