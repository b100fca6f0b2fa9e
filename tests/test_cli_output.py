"""What a person sees from `cpt`, run as a person runs it (a subprocess): the command's own
output without libraries' INFO logs (unless --verbose), and `cpt index search` as a ranked
table, with JSON lines behind --json for scripts."""

import json
import os
import re
import subprocess
import sys

import pytest

from cpt_core.index.build import build_index

WIDTH = 100
DOCS = [
    {"_id": "d0", "text": "alpha particles"},
    {"_id": "d1", "text": "a quick fox\njumps over the second line"},
    {"_id": "d2", "text": "the lazy dog " + "sleeps on " * 30 + "THE END"},
    {"_id": "d3", "text": "[bold]brackets[/bold] are not markup"},
]


@pytest.fixture(scope="module")
def index(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-index")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    build_index(corpus, str(tiny_model), folder / "index")
    return folder / "index"


def cpt(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "cpt_core.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_search_prints_a_ranked_table_and_no_library_logs(index):
    done = cpt("index", "search", "--index", str(index), "--k", "4", "fox")
    seen = done.stdout + done.stderr
    assert "faiss.loader" not in seen and "ModuleNotFoundError" not in seen
    lines = done.stdout.splitlines()
    assert lines[0].strip() == "fox" and all(len(line) <= WIDTH for line in lines)
    header = next(line for line in lines if "rank" in line)
    assert re.search(r"rank\W+score\W+id\W+text", header)
    rows = [line for line in lines if re.search(r"\bd\d\b", line)]
    assert [int(re.match(r"\W*(\d+)", row).group(1)) for row in rows] == [1, 2, 3, 4]
    scores = [float(re.findall(r"\d+\.\d{4}", row)[0]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert "a quick fox" in done.stdout and "second line" not in done.stdout  # first line only
    assert "the lazy dog" in done.stdout and "THE END" not in done.stdout  # cut to the width
    assert "[bold]brackets[/bold]" in done.stdout  # a text is shown as it is, never as markup


def test_verbose_shows_library_logs_and_json_is_for_scripts(index):
    done = cpt("--verbose", "index", "search", "--index", str(index), "--k", "2", "--json", "fox")
    assert "faiss.loader" in done.stderr
    (answer,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert answer["query"] == "fox" and len(answer["hits"]) == 2
    assert {"id", "score", "text"} == set(answer["hits"][0])
