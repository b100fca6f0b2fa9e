from collections import Counter

import pytest

from cpt_core.data.manifest import Manifest
from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import PairSource, Position
from cpt_core.errors import CptError
from tests.conftest import numbered_pairs, write_pairs


def test_stream_is_deterministic_and_resumable(tmp_path):
    folder = write_pairs(tmp_path / "p", numbered_pairs(50))
    source = PairSource(folder)
    first = [p for p, _ in zip(source.stream(seed=3), range(120), strict=False)]
    again = [p for p, _ in zip(source.stream(seed=3), range(120), strict=False)]
    other = [p for p, _ in zip(source.stream(seed=4), range(120), strict=False)]
    assert [p for p, _ in first] == [p for p, _ in again]
    assert [p for p, _ in first] != [p for p, _ in other]
    epoch = Counter(p.x for p, _ in first[:50])
    assert len(epoch) == 50  # one epoch visits every pair once
    position = first[69][1]
    resumed = [p for p, _ in zip(source.stream(seed=3, start=position), range(50), strict=False)]
    assert [p for p, _ in resumed] == [p for p, _ in first[70:120]]
    assert first[69][1] == Position(epoch=1, group=0, row=20)


def test_batches_have_no_repeated_text_and_lose_nothing(tmp_path):
    pairs = numbered_pairs(40)
    pairs += [(pairs[i][0], f"another document {i}") for i in range(0, 40, 4)]  # same query
    pairs += [(f"another query {i}", pairs[i][1]) for i in range(1, 40, 5)]  # same document
    source = PairSource(write_pairs(tmp_path / "p", pairs))
    batcher = DedupBatcher(source, batch_size=8, seed=0, state=BatcherState())
    seen = []
    for _ in range(20):
        batch = batcher.next_batch()
        assert len(batch) == 8
        assert len({p.x for p in batch}) == 8 and len({p.y for p in batch}) == 8
        seen.extend(batch)
    # every pair of the first epoch came out (deferred, not dropped)
    assert {(p.x, p.y) for p in seen} >= set(pairs)


def test_batcher_state_round_trips(tmp_path):
    pairs = numbered_pairs(30) + [(numbered_pairs(30)[0][0], f"dup {i}") for i in range(5)]
    source = PairSource(write_pairs(tmp_path / "p", pairs))
    a = DedupBatcher(source, 6, 0, BatcherState())
    for _ in range(3):
        a.next_batch()
    saved = BatcherState.from_json(a.state.to_json())
    b = DedupBatcher(source, 6, 0, saved)
    assert [a.next_batch() for _ in range(5)] == [b.next_batch() for _ in range(5)]


def test_too_few_distinct_pairs(tmp_path):
    pairs = [("same query", f"doc {i}") for i in range(20)]
    batcher = DedupBatcher(PairSource(write_pairs(tmp_path / "p", pairs)), 4, 0, BatcherState())
    with pytest.raises(CptError, match="too few distinct pairs"):
        batcher.next_batch()


def test_manifest_identity_ignores_creation_time(tmp_path):
    write_pairs(tmp_path / "a", numbered_pairs(10))
    write_pairs(tmp_path / "b", numbered_pairs(10))
    a, b = Manifest.read(tmp_path / "a"), Manifest.read(tmp_path / "b")
    assert a.identity() == b.identity()
    assert a.counts["rows"] == 10 and a.counts["by_split"] == {"train": 10}
    write_pairs(tmp_path / "c", numbered_pairs(11))
    assert Manifest.read(tmp_path / "c").identity() != a.identity()


def test_writer_refuses_existing_and_empty(tmp_path):
    write_pairs(tmp_path / "a", numbered_pairs(3))
    with pytest.raises(CptError, match="already exists"):
        write_pairs(tmp_path / "a", numbered_pairs(3))
    with pytest.raises(CptError, match="no pairs"):
        write_pairs(tmp_path / "empty", [])
    assert not (tmp_path / "empty").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging folders left


def test_split_filter(tmp_path):
    with pytest.raises(CptError, match="in split 'test'"):
        PairSource(write_pairs(tmp_path / "p", numbered_pairs(5)), split="test")


def _damage_row(shard, row: int) -> None:
    """Rewrite a shard with one empty 'x', as no cpt writer would."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(shard)
    x = table.column("x").to_pylist()
    x[row] = ""
    pq.write_table(table.set_column(table.schema.get_field_index("x"), "x", pa.array(x)), shard)


def test_a_manifest_vouches_for_its_shards_and_reading_still_checks(tmp_path, monkeypatch):
    import dataclasses

    import pyarrow.parquet as pq

    folder = write_pairs(tmp_path / "p", numbered_pairs(30))
    reads = []
    original = pq.ParquetFile.read_row_group

    def counted(self, *args, **kwargs):
        reads.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    PairSource(folder, split="train")
    assert reads == []  # opened from the footers and the manifest alone

    [shard] = folder.glob("*.parquet")
    _damage_row(shard, 3)
    with pytest.raises(CptError, match="row 3 has an empty 'x'"):
        PairSource(folder, split="train")  # the size no longer matches: scanned up front

    manifest = Manifest.read(folder)  # a manifest that lies about the damaged file
    entry = dataclasses.replace(manifest.shards[0], bytes=shard.stat().st_size)
    dataclasses.replace(manifest, shards=[entry]).write(folder)
    source = PairSource(folder, split="train")
    with pytest.raises(CptError, match="row 3 has an empty 'x'"):
        next(source.stream(0))  # still never reaches a batch


def test_writers_refuse_a_pair_with_an_empty_side(tmp_path):
    with pytest.raises(CptError, match="refusing to write a pair with an empty 'y'"):
        write_pairs(tmp_path / "p", [("a query", "a doc"), ("another query", "")])
    assert not (tmp_path / "p").exists()
