"""Every evaluation loader on fixtures cut from the real files, and its bad-input errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from cpt_core.data.beir import read_beir
from cpt_core.errors import CptError
from cpt_core.eval.code_sets import read_code_pairs, read_cosqa
from cpt_core.eval.senteval import TASKS, cap_per_class, load_task
from cpt_core.eval.sts import read_sick, read_stsb
from tests.conftest import write_pairs

EVAL = Path(__file__).parent / "fixtures" / "eval"


def test_senteval_tasks_in_their_layout():
    tasks = {name: load_task(EVAL / "senteval", name) for name in TASKS}
    mr = tasks["MR"]
    assert len(mr.train) == 24 and mr.test is None and mr.train.labels.sum() == 12
    assert mr.train.inputs[0].startswith("the rock is destined to be the 21st century")
    sst = tasks["SST2"]
    assert (len(sst.train), len(sst.dev), len(sst.test)) == (16, 16, 16)
    assert sst.test.inputs[0] == "uneasy mishmash of styles and genres ."
    trec = tasks["TREC"]
    assert sorted(set(trec.train.labels)) == [0, 1, 2, 3, 4, 5] and len(trec.test) == 12
    assert trec.train.inputs[0] == "What is the full form of .com ?"
    mrpc = tasks["MRPC"]
    assert mrpc.pairs and len(mrpc.train) == 12 and len(mrpc.test) == 8
    assert mrpc.train.inputs[0][0].startswith("Amrozi accused his brother")  # BOM header skipped
    assert len(mrpc.texts()) == 2 * (12 + 8)


def test_cap_per_class_is_seeded_and_balanced():
    split = load_task(EVAL / "senteval", "TREC").train
    small = cap_per_class(split, 2, seed=0)
    assert np.bincount(small.labels).tolist() == [2] * 6
    assert small.inputs == cap_per_class(split, 2, seed=0).inputs
    assert cap_per_class(split, None, seed=0) is split


def test_senteval_errors(tmp_path):
    with pytest.raises(CptError, match="SentEval file missing"):
        load_task(tmp_path, "MR")
    (tmp_path / "SST" / "binary").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (tmp_path / "SST" / "binary" / f"sentiment-{split}").write_text("good film\tmaybe\n")
    with pytest.raises(CptError, match=r"sentiment-train:1: expected 'sentence<TAB>0\|1'"):
        load_task(tmp_path, "SST2")
    (tmp_path / "SST" / "binary" / "sentiment-train").write_bytes(b"caf\xe9 film\t1\n")
    with pytest.raises(CptError, match=r"sentiment-train is not utf-8 text \(byte 3\)"):
        load_task(tmp_path, "SST2")
    with pytest.raises(CptError, match="unknown SentEval task 'XYZ'"):
        load_task(tmp_path, "XYZ")


def test_sts_files():
    stsb = read_stsb(EVAL / "sts" / "sts-test.csv")
    assert len(stsb.gold) == 18 and stsb.gold[0] == 2.5  # rows with extra source columns too
    assert (stsb.first[0], stsb.second[0]) == (
        "A girl is styling her hair.",
        "A girl is brushing her hair.",
    )
    sick = read_sick(EVAL / "sts" / "SICK_test_annotated.txt")
    assert len(sick.gold) == 16 and sick.gold[0] == 3.3
    assert len(stsb.sample(5, seed=1).gold) == 5


def test_sts_errors(tmp_path):
    bad = tmp_path / "sts.csv"
    bad.write_text("a\tb\tc\n")
    with pytest.raises(CptError, match="expected at least 7 tab-separated fields"):
        read_stsb(bad)
    bad.write_text("g\tx\ty\tid\tfive\ts1\ts2\n")
    with pytest.raises(CptError, match="non-numeric score 'five'"):
        read_stsb(bad)
    bad.write_bytes(b"\xff\xfe binary")
    with pytest.raises(CptError, match=r"sts\.csv is not UTF-8 text \(byte 0\)"):
        read_stsb(bad)
    bad.write_text("\n")
    with pytest.raises(CptError, match="no sentence pairs"):
        read_sick(bad)


def test_beir_fixture():
    data = read_beir(EVAL / "scifact", "test")
    assert len(data.queries) == 6 and len(data.corpus) == 21
    assert sum(len(r) for r in data.qrels.values()) == 7


def test_cosqa_pool_and_queries(tmp_path):
    data = read_cosqa(EVAL / "cosqa")
    assert len(data.queries) == 6 and len(data.corpus) == 20
    first = data.qrels["cosqa-train-12467"]
    assert data.corpus[next(iter(first))].startswith("def _process_and_sort(")
    broken = tmp_path / "cosqa"
    broken.mkdir()
    (broken / "code_idx_map.txt").write_text(json.dumps({"def f(): pass": 0}))
    rows = [{"idx": "q1", "doc": "f", "retrieval_idx": 7}]
    (broken / "cosqa-retrieval-test-500.json").write_text(json.dumps(rows))
    with pytest.raises(CptError, match="points at 7, not in the pool"):
        read_cosqa(broken)
    (broken / "code_idx_map.txt").write_text("{not json")
    with pytest.raises(CptError, match="not valid JSON"):
        read_cosqa(broken)


def test_code_pairs_from_shards_and_csn_jsonl(tmp_path):
    import pyarrow.parquet as pq

    folder = write_pairs(tmp_path / "pairs", [("doc a", "code a"), ("doc b", "code b")])
    shard = next(folder.rglob("*.parquet"))
    table = pq.read_table(shard)
    table = table.set_column(table.schema.get_field_index("kind"), "kind", [["code", "code"]])
    table = table.set_column(table.schema.get_field_index("split"), "split", [["test", "train"]])
    pq.write_table(table, shard)
    assert read_code_pairs(folder) == {"en": [("doc a", "code a")]}
    jsonl = tmp_path / "python_test_0.jsonl"
    rows = [
        {
            "docstring": "Add.",
            "code": "def add(a, b): return a + b",
            "language": "python",
            "partition": "test",
        },
        {
            "docstring": "Sub.",
            "code": "def sub(a, b): return a - b",
            "language": "python",
            "partition": "train",
        },
    ]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_code_pairs(jsonl) == {"python": [("Add.", "def add(a, b): return a + b")]}
    (tmp_path / "cut.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(CptError, match=r"cut\.jsonl\.gz: unreadable"):
        read_code_pairs(tmp_path / "cut.jsonl.gz")
    with pytest.raises(CptError, match="no code pairs in split 'valid'"):
        read_code_pairs(jsonl, split="valid")
