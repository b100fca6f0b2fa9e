"""The code-mining Beam job end to end: a fixture tree with every kind of input it must handle."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_jobs.extract_code_pairs import build, run
from cpt_core.code.config import CodeMiningConfig
from cpt_core.data.manifest import Manifest
from cpt_core.data.reader import PairSource
from cpt_core.errors import CptError
from tests.conftest import tar_gz

LONG = "\n".join(
    f"    total = total + values[{i}] * weights[{i}] - offsets[{i}]" for i in range(30)
)


def function(name: str, doc: str, body: str) -> str:
    return f'def {name}(values, weights, offsets):\n    """{doc}"""\n    total = 0\n{body}\n    return total\n'


ADD = 'def add(a, b):\n    """Add two numbers and return the sum."""\n    total = a + b\n    return total\n'
SCALE = 'def scale(v, k):\n    """Multiply every value by a factor."""\n    out = [x * k for x in v]\n    return out\n'
GO = '// Greet returns a greeting for the given name.\nfunc Greet(name string) string {\n\tmsg := "hi " + name\n\treturn msg\n}\n'
MIT = "Permission is hereby granted, free of charge, to any person obtaining a copy"


def tar(path: Path, members: dict[str, bytes]) -> str:
    path.write_bytes(tar_gz(members))
    return str(path)


@pytest.fixture()
def repos(tmp_path) -> list[str]:
    return write_repos(tmp_path)


def write_repos(tmp_path: Path) -> list[str]:
    """Every kind of input the miner must handle, written under `tmp_path`."""
    alpha = tmp_path / "alpha"
    (alpha / "pkg").mkdir(parents=True)
    (alpha / "tests").mkdir()
    (alpha / "LICENSE").write_text(MIT)
    (alpha / "pkg" / "maths.py").write_text(
        ADD + "\n" + SCALE + "\ndef _helper(x):\n    y = x\n    return y\n"
    )
    (alpha / "pkg" / "copy.py").write_text(ADD.replace("a + b", "a  +  b"))  # exact, reformatted
    long_doc = "Weighted total of the values, less their offsets."
    (alpha / "pkg" / "weights.py").write_text(function("weighted", long_doc, LONG))
    near = LONG.replace("offsets[29]", "offsets[28]")
    (alpha / "pkg" / "weights2.py").write_text(function("weighted", long_doc, near))
    (alpha / "pkg" / "blob.py").write_bytes(b"\x00\x01binary")
    (alpha / "pkg" / "latin.py").write_bytes(b"# caf\xe9\n" + ADD.encode())
    (alpha / "pkg" / "broken.py").write_text(
        'def good(x):\n    """Double the value, then return it."""\n    y = x * 2\n    return y\n\ndef bad(:\n    pass\n'
    )
    (alpha / "tests" / "test_maths.py").write_text(ADD)
    (tmp_path / "empty").mkdir()
    beta = tar(
        tmp_path / "beta.tar.gz",
        {"beta-1.0/lib/greet.go": GO.encode(), "beta-1.0/s.py": SCALE.encode()},
    )
    evil = tar(tmp_path / "evil.tar.gz", {"../escape.py": ADD.encode()})
    whole = gzip.compress(b"x" * 200_000)
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    return [
        str(alpha),
        beta,
        evil,
        str(tmp_path / "cut.tar.gz"),
        str(tmp_path / "empty"),
        str(tmp_path / "gone"),
    ]


def test_pipeline_outputs_with_assert_that(repos, tmp_path):
    options = PipelineOptions(["--runner=FnApiRunner"])
    with BeamTestPipeline(options=options) as pipeline:
        parts = build(
            pipeline, repos, str(tmp_path / "out"), str(tmp_path / ".stage"), CodeMiningConfig()
        )
        names = parts["rows"] | beam.Map(lambda r: json.loads(r["meta"])["function"])
        assert_that(names, equal_to(["Greet", "add", "good", "scale", "weighted"]))
        reasons = parts["dead"] | beam.Map(lambda d: d.reason)
        want = [
            "binary_file",
            "broken_archive",
            "empty_repository",
            "missing_repository",
            "undecodable",
            "unsafe_archive_path",
        ]
        assert_that(reasons, equal_to(want), label="DeadLetters")
    manifest = Manifest.read(tmp_path / "out")
    counts = manifest.counts
    assert counts["rows"] == 5
    assert counts["duplicates"] == {"exact": 2, "near": 1}
    assert counts["filtered"]["test_file"] == 1
    assert counts["filtered"]["undocumented"] == 1
    assert counts["filtered"]["file_with_syntax_errors"] == 1
    assert counts["files"] == {"go": 1, "python": 9}
    assert sum(counts["dead_letters"].values()) == 6
    balance = counts["balance"]  # every function found lands in exactly one outcome
    assert balance["unit"] == "function" and balance["inputs"] == 10
    assert balance["outcomes"] == {
        "duplicates_exact": 2,
        "duplicates_near": 1,
        "function_with_syntax_errors": 1,
        "kept": 5,
        "undocumented": 1,
    }
    assert not (tmp_path / ".stage").exists()  # renamed into place


def test_rows_carry_licence_split_and_metadata(repos, tmp_path):
    manifest = run(repos, str(tmp_path / "out"), beam_args=["--direct_num_workers=1"])
    table = pq.read_table([str(tmp_path / "out" / s.path) for s in manifest.shards])
    rows = {json.loads(r["meta"])["function"]: r for r in table.to_pylist()}
    greet = json.loads(rows["Greet"]["meta"])
    assert (rows["Greet"]["language"], greet["repo"], greet["licence"]) == ("go", "beta", "unknown")
    add = json.loads(rows["add"]["meta"])
    assert add["licence"] == "MIT" and add["repo"] == "alpha" and add["start_line"] == 1
    assert rows["add"]["x"] == "Add two numbers and return the sum."
    assert '"""' not in rows["add"]["y"] and "return total" in rows["add"]["y"]
    assert {r["split"] for r in rows.values() if json.loads(r["meta"])["repo"] == "alpha"} == {
        rows["add"]["split"]
    }
    lines = (
        (tmp_path / "out" / "_dead_letters" / "dead-letters-00000.jsonl").read_text().splitlines()
    )
    assert {json.loads(line)["reason"] for line in lines} >= {
        "unsafe_archive_path",
        "broken_archive",
    }
    assert PairSource(tmp_path / "out").groups  # the trainer reads it as it is


def test_two_runs_with_two_workers_write_byte_identical_shards(repos, tmp_path):
    config = CodeMiningConfig.model_validate({"shards": {"rows_per_shard": 2}})
    first = run(repos, str(tmp_path / "a"), config)
    second = run(list(reversed(repos)), str(tmp_path / "b"), config)
    assert len(first.shards) >= 2
    for entry in first.shards + first.dead_letters:
        assert (tmp_path / "a" / entry.path).read_bytes() == (
            tmp_path / "b" / entry.path
        ).read_bytes()
    assert [s.sha256 for s in first.shards] == [s.sha256 for s in second.shards]


def test_existing_output_is_refused_and_a_failed_run_leaves_nothing(repos, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(CptError, match="already exists"):
        run(repos, str(tmp_path / "taken"))
    with pytest.raises(Exception, match="runner"):
        run(repos, str(tmp_path / "never"), beam_args=["--runner=NoSuchRunner"])
    assert not (tmp_path / "never").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_command_line_with_an_input_list(repos, tmp_path):
    listing = tmp_path / "repos.txt"
    listing.write_text("# repositories\n" + "\n".join(repos[:2]) + "\n")
    out = tmp_path / "listed"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpt_core.cli",
            "mine",
            "code",
            "--input-list",
            str(listing),
            "--output",
            str(out),
            "--direct_num_workers=1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "duplicates" in done.stdout and Manifest.read(out).counts["rows"] == 5
