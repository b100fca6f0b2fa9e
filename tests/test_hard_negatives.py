"""Hard negatives mined from a model's own ranking (or BM25's): the false-negative filter, the
dataset the stage writes, its cached and resumed runs, and round 2 training on it."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cpt_core.cli import app
from cpt_core.data.manifest import MANIFEST_NAME
from cpt_core.data.reader import PairSource, resolve_shards
from cpt_core.data.schema import english_text_pair
from cpt_core.data.writer import write_dataset
from cpt_core.negatives import mine
from cpt_core.negatives.config import HardNegativesConfig
from cpt_core.negatives.mine import mine_negatives
from cpt_core.negatives.select import choose
from cpt_core.pipeline.stages import negatives_stage
from cpt_core.train.config import load_config
from cpt_core.train.trainer import train

TOPICS = [
    ("parse a json document from a string", "json loads parses the document string into objects"),
    ("open a tcp socket to a server", "socket connect opens a tcp connection to the server port"),
    ("sort a list of numbers in place", "list sort orders the numbers in place ascending"),
    ("read lines from a text file", "file readlines returns each line of the text file"),
    ("compress bytes with gzip", "gzip compress squeezes the bytes into a smaller stream"),
    ("hash a password with a salt", "scrypt hashes the password with a random salt"),
    ("format a date as iso text", "date isoformat writes the date as iso text"),
    ("split a string on commas", "string split cuts the string on every comma"),
]


def _rows(pairs: list[tuple[str, str]], split: str = "train") -> list[dict]:
    return [english_text_pair("test", x, y, split, {}) for x, y in pairs]


def test_choose_refuses_positives_and_candidates_above_the_margin():
    ids = np.array([[0, 1, 2, 3, 4], [2, -1, -1, -1, -1]])
    scores = np.array([[0.9, 0.85, 0.7, 0.5, 0.4], [0.3, 0, 0, 0, 0]], dtype=np.float32)
    chosen = choose(ids, scores, np.array([0.8, 0.9]), [{0}, {1}], count=2, margin=0.95)
    # query 0: 0 is its positive, 1 scores 0.85 > 0.95 x 0.8; 2 and 3 are kept, best first
    assert chosen.negatives == [[2, 3], [2]]  # query 1 has one candidate at all: short
    assert chosen.counts == Counter(negatives_refused_positive=1, negatives_refused_margin=1)
    assert chosen.too_close == [{1}, set()]


def test_the_margin_holds_for_a_positive_scoring_below_zero():
    """0.95 x -0.2 is above -0.2: the margin is taken from the score's magnitude instead."""
    ids, scores = np.array([[1, 2, 3]]), np.array([[0.5, -0.205, -0.5]], dtype=np.float32)
    chosen = choose(ids, scores, np.array([-0.2]), [{0}], count=1, margin=0.95)
    assert chosen.negatives == [[3]] and chosen.counts["negatives_refused_margin"] == 2


def test_positives_their_duplicates_and_the_querys_other_documents_never_come_back():
    pairs = list(TOPICS)
    pairs.append((TOPICS[0][0], "json decoder turns a json document string into python objects"))
    pairs.append(("decode json", "  json loads parses the  document string into objects\n"))  # dup
    rows = _rows(pairs)
    config = HardNegativesConfig(retriever="bm25", count=3, depth=10, margin=1.0)
    mined, counts = mine_negatives(rows, config, None)
    assert len(mined) == len(rows)
    for row in mined:
        assert len(row["negatives"]) == 3
        same_query = {r["y"] for r in rows if r["x"] == row["x"]}
        normalised = {" ".join(t.split()) for t in (row["y"], *same_query)}
        assert not normalised & {" ".join(n.split()) for n in row["negatives"]}
    assert counts["negatives_mined"] + counts["negatives_random"] == 3 * len(rows)
    assert counts["negatives_refused_positive"] > 0  # the duplicate and the second json document
    assert counts["pool_documents"] == len(rows) - 1  # the duplicate is pooled once


def test_the_margin_refuses_a_near_copy_of_the_positive_and_keeps_a_real_negative():
    query = "parse a json document from a string"
    rows = _rows(
        [
            (query, "json loads parses a json document from a string"),
            ("unrelated", "parse a json document from a string with json loads quickly"),
            ("other", "socket connect opens a tcp connection"),
            ("more", "a json document from a socket is read, not parsed"),
        ]
    )
    strict = HardNegativesConfig(retriever="bm25", count=1, margin=0.5, queries=None)
    loose = strict.model_copy(update={"margin": 1.0})
    near_copy = rows[1]["y"]
    assert mine_negatives(rows, loose, None)[0][0]["negatives"] == [near_copy]
    refused, counts = mine_negatives(rows, strict, None)
    assert refused[0]["negatives"] != [near_copy] and counts["negatives_refused_margin"] >= 1
    for seed in range(8):  # nor does it come back as a random filler, whatever the draw
        filled = strict.model_copy(update={"count": 2, "seed": seed})
        assert near_copy not in mine_negatives(rows, filled, None)[0][0]["negatives"]


def test_a_pool_too_small_to_fill_a_pair_drops_it_counted():
    rows = _rows([("a question here", "the one answer"), ("a question here", "another answer")])
    mined, counts = mine_negatives(rows, HardNegativesConfig(retriever="bm25"), None)
    assert mined == [] and counts["pairs_without_negatives"] == 2  # each other's positives


def test_queries_and_pool_are_seeded_samples(tiny_model):
    from cpt_core.model.encoders import load_encoder

    rows = _rows(TOPICS * 1 + [(f"query {i} words", f"document {i} text") for i in range(40)])
    config = HardNegativesConfig(count=2, queries=10, pool=20, seed=3)
    encoder = load_encoder(str(tiny_model), 32)
    first, counts = mine_negatives(rows, config, encoder)
    again, _ = mine_negatives(rows, config, encoder)
    assert first == again and counts["pool_documents"] == 20
    assert len(first) + counts["pairs_without_negatives"] == 10  # a random model's ties refuse
    assert counts["pairs_not_sampled"] == len(rows) - 10
    assert counts["negatives_mined"] + counts["negatives_random"] == 2 * len(first)
    other, _ = mine_negatives(rows, config.model_copy(update={"seed": 4}), encoder)
    assert {r["pair_id"] for r in other} != {r["pair_id"] for r in first}


@pytest.fixture
def dataset(tmp_path):
    pairs = [*TOPICS, *((f"how to step {i}", f"step {i} is done like this") for i in range(24))]
    rows = _rows(pairs) + _rows([("held out query", "held out document")], split="test")
    write_dataset(rows, tmp_path / "pairs", kind="text", inputs=[], config={})
    return tmp_path / "pairs"


def test_the_stage_writes_round_twos_data_then_is_a_cache_hit(
    dataset, tiny_model, tmp_path, monkeypatch
):
    out = tmp_path / "negatives"
    out.mkdir()
    (out / "pairs-00000.parquet").write_bytes(b"half written")  # a crashed run's leftovers
    config = HardNegativesConfig(enabled=True, count=2, depth=8)
    manifest = negatives_stage(tiny_model, dataset, config, 32, out)
    rows = [r for s in resolve_shards(out) for r in pq.read_table(s).to_pylist()]
    assert len(rows) == manifest.counts["rows"] == 32  # the train split; held out stays out
    assert {r["split"] for r in rows} == {"train"}
    assert all(len(r["negatives"]) == 2 for r in rows)
    recorded = json.loads((out / MANIFEST_NAME).read_text())["config"]["hard_negatives"]
    assert recorded["count"] == 2 and recorded["retriever"] == "model"

    def never(*_):
        raise AssertionError("a finished stage must not mine again")

    monkeypatch.setattr(mine, "mine_negatives", never)
    assert negatives_stage(tiny_model, dataset, config, 32, out).identity() == manifest.identity()


def test_round_two_trains_on_the_mined_column_and_held_out_rows_need_none(
    dataset, tiny_model, tmp_path
):
    config = HardNegativesConfig(enabled=True, retriever="bm25", count=2)
    negatives_stage(tiny_model, dataset, config, 32, tmp_path / "negatives")
    source = PairSource(tmp_path / "negatives", negatives=2, split="train")
    pair, _ = next(source.stream(seed=0))
    assert len(pair.negatives) == 2 and pair.y not in pair.negatives
    # the original dataset mixes a held-out row without negatives: only the train split counts
    write_dataset(
        [
            *(
                r
                for s in resolve_shards(tmp_path / "negatives")
                for r in pq.read_table(s).to_pylist()
            ),
            *_rows([("held out query", "held out document")], split="test"),
        ],
        tmp_path / "mixed",
        kind="text",
        inputs=[],
        config={},
    )
    overrides = {
        "model.name": str(tiny_model),
        "model.max_length": 32,
        "data.batch_size": 4,
        "data.chunk_size": 2,
        "optim.max_steps": 2,
        "optim.warmup_steps": 1,
        **config.round_two({}),
    }
    model = train(
        load_config("configs/demo.yaml", **overrides), tmp_path / "mixed", tmp_path / "r2"
    )
    assert (model / "cpt.json").is_file()


def test_the_cli_mines_with_bm25_when_no_model_is_named(dataset, tmp_path):
    out = tmp_path / "mined"
    result = CliRunner().invoke(
        app, ["pairs", "negatives", str(dataset), "--out", str(out), "--count", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "32 pairs" in result.output and "mined negatives" in result.output
    again = CliRunner().invoke(app, ["pairs", "negatives", str(dataset), "--out", str(out)])
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)


def test_the_model_retriever_without_a_model_says_so_in_one_line(dataset, tmp_path):
    from cpt_core.errors import CptError

    config = HardNegativesConfig(enabled=True)
    with pytest.raises(CptError, match="need that model"):
        negatives_stage(None, dataset, config, 32, tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()
