"""An adversarial corpus, built at test time: the miner and the trainer finish or fail in one line.

Symlinks out of a repository and in loops, a named pipe, NUL bytes, a 1M-line file, 50 nested
archives, compression bombs, a remote key with `..`, Parquet shards with wrong types or corrupt
pages. Everything goes through the real entry points (the Beam job, the trainer, the CLI); the
miner runs in a subprocess with a timeout, so a hang fails the test instead of stalling it, and
reports its own peak RSS. Every case checks that each item read is accounted for: a row, a
counted filter or a dead letter with its reason, and `counts.balance` adds up.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import FileMetadata, FileSystem

from beam_jobs.extract_code_pairs import run
from beam_jobs.inputs import expand_inputs
from cpt_core.code.config import CodeMiningConfig
from cpt_core.data.manifest import Manifest
from cpt_core.errors import CptError
from cpt_core.train.config import TrainConfig, load_config
from cpt_core.train.trainer import train
from tests.conftest import tar_gz

IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
SECRET = "leaked_secret"  # a function that lives outside every repository


def documented(name: str) -> str:
    """A function every filter keeps; distinct names give distinct (never duplicate) bodies."""
    return (
        f"def {name}(values, weights):\n"
        f'    """Weighted total of the {name} values, less nothing."""\n'
        f"    {name}_total = 0\n"
        f"    for {name}_v, {name}_w in zip(values, weights):\n"
        f"        {name}_total += {name}_v * {name}_w\n"
        f"    return {name}_total\n"
    )


MINE = """
import json, resource, sys
from beam_jobs.extract_code_pairs import run
from cpt_core.code.config import CodeMiningConfig
config = CodeMiningConfig.model_validate_json(sys.argv[3])
run(json.loads(sys.argv[2]), sys.argv[1], config, json.loads(sys.argv[4]))
print("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def mine(
    out: Path, locations: list[str], config: CodeMiningConfig | None = None, timeout: int = 120
) -> tuple[Manifest, list[dict], list[dict], int]:
    """Run the code job in its own process: manifest, rows, dead letters, peak RSS in MB."""
    config = config or CodeMiningConfig()
    args = [json.dumps(locations), config.model_dump_json(), json.dumps(IN_PROCESS)]
    done = subprocess.run(
        [sys.executable, "-c", MINE, str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    peak = int(done.stdout.split("peak_rss_mb")[-1])
    return (*outputs(out), peak)


def outputs(out: Path) -> tuple[Manifest, list[dict], list[dict]]:
    manifest = Manifest.read(out)
    shards = [str(out / s.path) for s in manifest.shards]
    rows = pq.read_table(shards).to_pylist() if shards else []
    dead = [
        json.loads(line)
        for entry in manifest.dead_letters
        for line in (out / entry.path).read_text().splitlines()
    ]
    return manifest, rows, dead


def functions(rows: list[dict]) -> set[str]:
    return {json.loads(r["meta"])["function"] for r in rows}


def letters(dead: list[dict]) -> set[tuple[str, str, str]]:
    return {(d["source"], d["item"], d["reason"]) for d in dead}


def assert_balanced(manifest: Manifest, dead: list[dict]) -> None:
    """Every function found lands in one outcome; every dead letter is counted by reason."""
    balance = manifest.counts["balance"]
    assert balance["unit"] == "function"
    assert balance["inputs"] == sum(balance["outcomes"].values()) > 0
    assert manifest.counts.get("dead_letters", {}) == Counter(d["reason"] for d in dead)


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.fixture()
def outside(tmp_path) -> Path:
    """A file and a folder next to the repositories, which no repository may read."""
    folder = tmp_path / "outside"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secret.py").write_text(documented(SECRET))
    (folder / "secrets" / "a.py").write_text(documented(SECRET))
    return folder


def test_links_pipes_and_binary_files_are_reported_never_followed(tmp_path, outside):
    linked = tmp_path / "linked"  # a plain folder
    linked.mkdir()
    (linked / "ok.py").write_text(documented("folder_total"))
    (linked / "leak.py").symlink_to(outside / "secret.py")
    (linked / "outdir").symlink_to(outside / "secrets")
    (linked / "loop.py").symlink_to("loop.py")
    (linked / "self").symlink_to(".")
    os.mkfifo(linked / "pipe.py")  # reading it would wait for a writer forever
    (linked / "blob.py").write_bytes(b"\x00\x01" * 100 + documented("blob").encode())

    checkout = tmp_path / "checkout"  # git lists sub/a.py; sub is then swapped for a link out
    (checkout / "sub").mkdir(parents=True)
    (checkout / "ok.py").write_text(documented("git_total"))
    (checkout / "sub" / "a.py").write_text(documented("sub_total"))
    (checkout / "leak.py").symlink_to(outside / "secret.py")
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    (checkout / "sub" / "a.py").unlink()
    (checkout / "sub").rmdir()
    (checkout / "sub").symlink_to(outside / "secrets")

    archived = tmp_path / "archived.tar.gz"
    archived.write_bytes(
        tar_gz(
            {"archived-1/ok.py": documented("tar_total").encode()},
            (
                special("archived-1/leak.py", tarfile.SYMTYPE, str(outside / "secret.py")),
                special("archived-1/hard.py", tarfile.LNKTYPE, "../outside/secret.py"),
                special("archived-1/pipe.py", tarfile.FIFOTYPE),
            ),
        )
    )
    zipped = tmp_path / "zipped.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("zipped-1/ok.py", documented("zip_total"))
        link = zipfile.ZipInfo("zipped-1/leak.py")
        link.external_attr = 0o120777 << 16  # a symlink, its target stored as the data
        archive.writestr(link, str(outside / "secret.py"))

    locations = [str(linked), str(checkout), str(archived), str(zipped)]
    manifest, rows, dead, _ = mine(tmp_path / "out", locations)  # a hang times out

    assert functions(rows) == {"folder_total", "git_total", "tar_total", "zip_total"}
    assert not any(SECRET in r["x"] + r["y"] + r["meta"] for r in rows)
    assert letters(dead) == {
        ("linked", "blob.py", "binary_file"),
        ("linked", "leak.py", "symlink"),
        ("linked", "loop.py", "symlink"),
        ("linked", "outdir", "symlink"),
        ("linked", "self", "symlink"),
        ("linked", "pipe.py", "special_file"),
        ("checkout", "leak.py", "symlink"),
        ("checkout", "sub/a.py", "symlink"),
        ("archived", "leak.py", "symlink"),
        ("archived", "hard.py", "symlink"),
        ("archived", "pipe.py", "special_file"),
        ("zipped", "leak.py", "symlink"),
    }
    assert len(dead) == 12  # linked folders (outdir, self) are reported, never entered
    assert_balanced(manifest, dead)


def tar_bomb(path: Path, size: int, good: bytes, chunk: int = 1 << 24) -> str:
    """A .tar.gz of ~1 MB per GiB: one good file, then one member of `size` zero bytes.

    Built in a second: after a full flush deflate forgets its history, so the compressed block
    of `chunk` zeros can be written again and again; the gzip trailer is computed honestly.
    """
    first = tarfile.TarInfo("bomb-1/ok.py")
    first.size = len(good)
    bomb = tarfile.TarInfo("bomb-1/pkg/bomb.py")
    bomb.size = size
    head = first.tobuf() + good + bytes(-len(good) % 512) + bomb.tobuf()
    tail = bytes(1024)  # the member ends on a block boundary; two empty blocks end the archive
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(chunk)) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(size // chunk):
        crc = zlib.crc32(bytes(chunk), crc)
    crc = zlib.crc32(tail, crc)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + start)
        for _ in range(size // chunk):
            out.write(block)
        out.write(deflate.compress(tail) + deflate.flush())
        out.write(struct.pack("<II", crc, (len(head) + size + len(tail)) % 2**32))
    return str(path)


def nested_archive(path: Path, depth: int) -> str:
    """A tar.gz holding a tar.gz holding ... `depth` levels; each level has one source file."""
    data = b""
    for level in range(depth, 0, -1):
        files = {f"nest-{level}/level_{level}.py": documented(f"level_{level}").encode()}
        if data:
            files[f"nest-{level}/inner.tar.gz"] = data
        data = tar_gz(files)
    top = {"nest-0/inner.tar.gz": data, "nest-0/inner.py": data}  # .py: an archive in disguise
    path.write_bytes(tar_gz(top | {"nest-0/level_0.py": documented("level_0").encode()}))
    return str(path)


def test_huge_files_nested_archives_and_bombs_finish_in_bounded_memory(tmp_path):
    huge = tmp_path / "huge"
    huge.mkdir()
    lines = documented("big_total") + "x = 1\n\n" * 500_000  # 1M lines, 3.5 MB: read, filtered
    (huge / "big.py").write_text(lines)
    (huge / "bigger.py").write_text("value = 1\n" * 1_000_000)  # 10 MB: never read
    bomb = tar_bomb(tmp_path / "bomb.tar.gz", 2 << 30, documented("bomb_total").encode())
    zip_bomb = tmp_path / "zipbomb.zip"
    with zipfile.ZipFile(zip_bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zipbomb-1/ok.py", documented("zip_total"))
        for i in range(100):  # 100 x 3.9 MB of one repeated line, 4 KB each compressed
            archive.writestr(f"zipbomb-1/pkg/f{i:03d}.py", "a = 1\n" * 650_000)
    nest = nested_archive(tmp_path / "nest.tar.gz", 50)

    manifest, rows, dead, peak = mine(tmp_path / "out", [str(huge), bomb, str(zip_bomb), nest])
    assert peak < 1500, f"peak RSS {peak} MB"

    assert functions(rows) == {"bomb_total", "zip_total", "level_0"}  # inner archives: not opened
    counts = manifest.counts
    assert counts["filtered"]["file_too_large"] >= 2  # big.py and what the zip gave before its cut
    assert letters(dead) >= {
        ("huge", "bigger.py", "file_too_large"),
        ("bomb", "pkg/bomb.py", "file_too_large"),
        ("bomb", "", "compression_bomb"),
        ("zipbomb", "", "compression_bomb"),
        ("nest", "inner.py", "binary_file"),
    }
    assert len(dead) == 5
    assert_balanced(manifest, dead)


def test_a_million_line_file_is_parsed_in_bounded_memory(tmp_path):
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "big.py").write_text(documented("big_total") + "x = 1\n\n" * 500_000)
    config = CodeMiningConfig.model_validate({"filters": {"max_file_bytes": 4_000_000}})
    manifest, rows, dead, peak = mine(tmp_path / "out", [str(huge)], config)
    assert peak < 1500, f"peak RSS {peak} MB"
    assert functions(rows) == {"big_total"} and not dead
    assert manifest.counts["balance"]["outcomes"] == {"kept": 1}


class ObjectStore(FileSystem):
    """A bucket in memory whose reads resolve `a/../b` as an HTTP path, as some stores do."""

    objects: ClassVar[dict[str, bytes]] = {}

    @classmethod
    def scheme(cls) -> str:
        return "objstore"

    def has_dirs(self) -> bool:
        return False

    def _list(self, prefix: str):
        for key, data in self.objects.items():
            if key.startswith(prefix):
                yield FileMetadata(key, len(data))

    def open(self, path: str, mime_type: str = "", compression_type: str = "") -> io.BytesIO:
        scheme, key = path.split("://", 1)
        return io.BytesIO(self.objects[f"{scheme}://{posixpath.normpath(key)}"])


ObjectStore.__abstractmethods__ = frozenset()  # the job only lists and opens


def test_a_remote_key_with_dotdot_is_not_read_outside_its_prefix(tmp_path):
    ObjectStore.objects = {
        "objstore://bucket/repos/good.tar.gz": tar_gz(
            {"good-1/ok.py": documented("good").encode()}
        ),
        "objstore://bucket/repos/../private.tar.gz": tar_gz({"x/ok.py": b"x = 1\n"}),
        "objstore://bucket/private.tar.gz": tar_gz({"p-1/s.py": documented(SECRET).encode()}),
    }
    locations = expand_inputs(["objstore://bucket/repos/**"])
    assert len(locations) == 2  # the listing does hold the key with `..`
    run(locations, str(tmp_path / "out"), beam_args=IN_PROCESS)
    manifest, rows, dead = outputs(tmp_path / "out")
    assert functions(rows) == {"good"}
    assert letters(dead) == {("private", "", "unsafe_location")}
    assert dead[0]["detail"] == "objstore://bucket/repos/../private.tar.gz"
    assert_balanced(manifest, dead)


def tiny_config(model: Path) -> TrainConfig:
    return load_config(None, **{"model.name": str(model), "data.batch_size": 2})


BAD_SHARDS = {
    "x as int64": (pa.table({"x": [1, 2], "y": ["a", "b"]}), "column 'x' has type int64"),
    "no y column": (pa.table({"x": ["a", "b"]}), "missing column 'y'"),
    "split as a list": (
        pa.table({"x": ["a", "b"], "y": ["c", "d"], "split": [["train"], ["train"]]}),
        "column 'split' has type list<element: string>, expected string",
    ),
    "x twice": (
        pa.Table.from_arrays([pa.array(["a", "b"])] * 3, names=["x", "x", "y"]),
        "column 'x' appears 2 times",
    ),
}


@pytest.mark.parametrize("case", BAD_SHARDS)
def test_a_shard_with_wrong_types_fails_in_one_line(tiny_model, tmp_path, case):
    table, message = BAD_SHARDS[case]
    shards = tmp_path / "shards"
    shards.mkdir()
    good = pa.table({"x": ["a", "b"], "y": ["c", "d"], "split": ["train", "train"]})
    pq.write_table(good, shards / "a-good.parquet")
    pq.write_table(table, shards / "b-bad.parquet")
    with pytest.raises(CptError, match=message) as raised:
        train(tiny_config(tiny_model), shards, tmp_path / "run", progress=False)
    assert str(raised.value).startswith(f"{shards / 'b-bad.parquet'}: ")
    assert "\n" not in str(raised.value) and not (tmp_path / "run").exists()


def corrupt_shard(path: Path) -> Path:
    """A shard whose footer is intact and whose data pages are not."""
    rows = [f"text number {i} " * 20 for i in range(2000)]
    pq.write_table(pa.table({"x": rows, "y": rows, "split": ["train"] * 2000}), path)
    data = bytearray(path.read_bytes())
    for i in range(200, 5000, 7):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_cli_names_the_corrupt_shard_in_one_line(tiny_model, tmp_path):
    shard = corrupt_shard(tmp_path / "corrupt.parquet")
    args = [
        "--pairs",
        str(shard),
        "--out",
        str(tmp_path / "run"),
        "--set",
        f"model.name={tiny_model}",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "cpt_core.cli", "train", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"cpt: error: {shard}: row group 0 is unreadable (")
