"""The trainer's data path: prepared ahead in a thread, each step with the state to resume it."""

import pytest

from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import PairSource
from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters
from cpt_core.pretrained.load import load_backbone
from cpt_core.train.feed import ahead, steps
from tests.conftest import numbered_pairs, write_pairs


def _steps(source, tokenizer, state, depth, count):
    batcher = DedupBatcher(source, 6, 0, state)
    with ahead(steps(batcher, tokenizer, slice(0, 6), 4), depth) as feed:
        return [next(feed) for _ in range(count)]


def _ids(step):
    return [[chunk.batch.input_ids.tolist() for chunk in side] for side in step.batch.sides]


def test_ahead_equals_inline_and_each_state_resumes_its_own_step(tiny_model, tmp_path):
    pairs = numbered_pairs(20) + [(f"alpha query {i} alpha", f"x {i}") for i in range(5)]
    source = PairSource(write_pairs(tmp_path / "p", pairs))  # repeats make the batcher defer
    tokenizer = DelimitedTokenizer(load_backbone(tiny_model)[1], Delimiters(), 24)
    inline = _steps(source, tokenizer, BatcherState(), 0, 8)
    threaded = _steps(source, tokenizer, BatcherState(), 3, 8)
    assert [_ids(s) for s in inline] == [_ids(s) for s in threaded]
    assert [s.state.to_json() for s in inline] == [s.state.to_json() for s in threaded]
    # The thread has read ahead of step 3, yet step 3's state resumes at step 4.
    resumed = _steps(source, tokenizer, BatcherState.from_json(threaded[2].state.to_json()), 2, 5)
    assert [_ids(s) for s in resumed] == [_ids(s) for s in inline[3:]]


def test_an_error_in_the_thread_reaches_the_trainer(tiny_model, tmp_path):
    pairs = [("same query", f"doc {i}") for i in range(20)]
    source = PairSource(write_pairs(tmp_path / "p", pairs))
    tokenizer = DelimitedTokenizer(load_backbone(tiny_model)[1], Delimiters(), 24)
    with pytest.raises(Exception, match="too few distinct pairs"):
        _steps(source, tokenizer, BatcherState(), 2, 1)
