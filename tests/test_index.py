"""FAISS index folders: build/search round trips, index kinds, and refusing what does not fit."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cpt_core.cli import app
from cpt_core.data.beir import read_beir
from cpt_core.errors import CptError
from cpt_core.index.build import build_index
from cpt_core.index.faiss_index import choose_kind, make_index, recall_against_exact
from cpt_core.index.search import SearchIndex
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import shared_data
from tests.conftest import make_tiny_model, numbered_pairs, write_pairs

DOCS = [
    {"_id": f"d{i}", "title": f"title {i}", "text": f"{w} document number {i}"}
    for i, w in enumerate(["alpha", "beta", "gamma", "delta", "fox", "dog", "file", "sum"])
]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return path


def test_build_and_search_round_trip(tiny_model, corpus, tmp_path):
    meta = build_index(corpus, str(tiny_model), tmp_path / "index")
    assert (meta.kind, meta.count, meta.recall_at_10) == ("flat", 8, 1.0)
    assert meta.dimension == 32 and meta.metric == "inner_product"
    assert {p.name for p in (tmp_path / "index").iterdir()} == {
        "index.faiss",
        "ids.parquet",
        "meta.json",
    }
    searcher = SearchIndex(tmp_path / "index")
    encoder = load_encoder(str(tiny_model))
    own = encoder.encode(["title 3. delta document number 3"], "document")
    (hits,) = searcher.search_vectors(own, k=3)
    assert hits[0].id == "d3" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].text == "title 3. delta document number 3"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    (text_hits,) = searcher.search(["a query"], k=8)
    assert sorted(h.id for h in text_hits) == sorted(d["_id"] for d in DOCS)


def test_pair_dataset_corpus_uses_manifest_identity(tiny_model, tmp_path):
    from cpt_core.data.manifest import Manifest

    folder = write_pairs(tmp_path / "pairs", numbered_pairs(12))
    meta = build_index(folder, str(tiny_model), tmp_path / "index", kind="hnsw")
    assert meta.corpus_identity == Manifest.read(folder).identity()
    assert meta.kind == "hnsw" and meta.count == 12 and 0.9 <= meta.recall_at_10 <= 1.0


def test_refuses_another_model_and_dimension(tiny_model, corpus, tmp_path):
    build_index(corpus, str(tiny_model), tmp_path / "index")
    other = make_tiny_model(tmp_path / "other", hidden=48)
    with pytest.raises(
        CptError, match=r"was built with .* rebuild the index or search with its model"
    ):
        SearchIndex(tmp_path / "index", load_encoder(str(other)))
    searcher = SearchIndex(tmp_path / "index")
    with pytest.raises(CptError, match="dimension 48, the index 32"):
        searcher.search_vectors(np.zeros((1, 48), dtype=np.float32))


def test_refuses_corrupt_and_empty(tiny_model, corpus, tmp_path):
    build_index(corpus, str(tiny_model), tmp_path / "index")
    (tmp_path / "index" / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(CptError, match="index files unreadable"):
        SearchIndex(tmp_path / "index")
    with pytest.raises(CptError, match="not an index folder"):
        SearchIndex(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(CptError, match="is empty: nothing to index"):
        build_index(empty, str(tiny_model), tmp_path / "none")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no id"}\n')
    with pytest.raises(CptError, match="each line needs _id"):
        build_index(bad, str(tiny_model), tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_approximate_kinds_on_clustered_vectors():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 32))
    vectors = centres[rng.integers(0, 40, 10000)] + 0.3 * rng.normal(size=(10000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    assert recall_against_exact(make_index(vectors, "flat"), vectors) == 1.0
    assert recall_against_exact(make_index(vectors, "hnsw"), vectors, sample=200) > 0.9
    assert 0.2 < recall_against_exact(make_index(vectors, "ivfpq"), vectors, sample=200) < 1.0
    assert [choose_kind(n) for n in (10, 200_000, 9_000_000)] == ["flat", "hnsw", "ivfpq"]
    assert choose_kind(10, "ivfpq") == "ivfpq"
    with pytest.raises(CptError, match="IVF-PQ needs at least 9,984 vectors to train, not 100"):
        make_index(vectors[:100], "ivfpq")


def test_cli_build_and_search(tiny_model, corpus, tmp_path):
    runner = CliRunner()
    built = runner.invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            str(corpus),
            "--model",
            str(tiny_model),
            "--out",
            str(tmp_path / "i"),
        ],
    )
    assert built.exit_code == 0, built.output
    assert "8 vectors (flat, dim 32" in built.output
    found = runner.invoke(
        app, ["index", "search", "--index", str(tmp_path / "i"), "--k", "2", "--json", "fox"]
    )
    assert found.exit_code == 0, found.output
    answer = json.loads(found.stdout.strip().splitlines()[-1])
    assert answer["query"] == "fox" and len(answer["hits"]) == 2


def test_an_index_built_in_bf16_is_searched_in_float32(tmp_path):
    """Train and index on a GPU (bf16), serve on a CPU (float32): the same vector space, so
    the index is accepted, and its top 10 are the float32-built index's but for bf16's noise
    (measured on 300 SciFact abstracts at 128 tokens: 99.3% overlap, 90% at worst)."""
    scifact = read_beir(shared_data("beir", "scifact"), "test")
    corpus = tmp_path / "corpus.jsonl"
    docs = list(scifact.corpus.items())[:100]
    corpus.write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in docs))
    built = {
        dtype: build_index(corpus, "all-minilm-l6-v2", tmp_path / dtype, max_length=64, dtype=dtype)
        for dtype in ("bfloat16", "float32")
    }
    assert built["bfloat16"].model_identity == built["float32"].model_identity
    assert [m.model_dtype for m in built.values()] == ["bfloat16", "float32"]
    cpu = load_encoder("all-minilm-l6-v2", 64, dtype="float32")
    queries = list(scifact.queries.values())[:20]
    tops = [
        [{h.id for h in hits} for hits in SearchIndex(tmp_path / d, cpu).search(queries, 10)]
        for d in built
    ]
    overlap = [len(a & b) / 10 for a, b in zip(*tops, strict=True)]
    assert np.mean(overlap) >= 0.95 and min(overlap) >= 0.8


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_a_small_filter_gets_k_hits_from_an_approximate_index(tiny_model, tmp_path, kind):
    """A graph or inverted-list search restricted to 5 rows used to find 0-3 of them; a small
    filter is scored exactly, so k allowed ids give k hits, best first."""
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cpt_core.index.meta import IndexMeta

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, 32))
    vectors = centres[rng.integers(0, 40, 10000)] + 0.3 * rng.normal(size=(10000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    folder = tmp_path / kind
    folder.mkdir()
    faiss.write_index(make_index(vectors, kind), str(folder / "index.faiss"))
    ids = [f"d{i}" for i in range(len(vectors))]
    pq.write_table(pa.table({"id": ids, "text": ids}), folder / "ids.parquet")
    encoder = load_encoder(str(tiny_model))
    meta = IndexMeta(
        model=str(tiny_model),
        model_identity=encoder.space,
        dimension=32,
        metric="inner_product",
        kind=kind,
        count=len(vectors),
        corpus="clustered",
        corpus_identity="clustered",
        recall_at_10=1.0,
    )
    (folder / "meta.json").write_text(meta.model_dump_json())
    searcher = SearchIndex(folder, encoder)
    queries = vectors[:20] + 0.05 * rng.normal(size=(20, 32)).astype(np.float32)
    allowed = rng.choice(len(vectors), size=(20, 5), replace=False)
    for query, rows in zip(queries, allowed, strict=True):
        within = searcher.rows_of([ids[r] for r in rows])
        (hits,) = searcher.search_vectors(query[None], k=5, within=within)
        assert sorted(h.id for h in hits) == sorted(ids[r] for r in rows)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    (none,) = searcher.search_vectors(queries[:1], k=5, within=searcher.rows_of(["unknown"]))
    assert none == []
