"""Mined pairs kept apart from the evaluation sets: planted copies removed, near misses kept,
every drop counted, the sets' content in the mining key, and the report saying what it found."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_jobs.extract_code_pairs import run as mine_code
from beam_jobs.extract_text_pairs import run as mine_text
from cpt_core.code.config import CodeMiningConfig
from cpt_core.data.decontaminated import removed_by_set
from cpt_core.decontam.build import overlap_index, sets_key
from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.decontam.eval_sets import EvalTexts, reported_sets
from cpt_core.decontam.index import OverlapIndex
from cpt_core.decontam.tokens import function_shape
from cpt_core.errors import CptError
from cpt_core.eval.profile import EvalData
from cpt_core.eval.report import _decontamination
from cpt_core.pipeline.config import MineStage, PipelineConfig
from cpt_core.pipeline.stages import combine_stage
from flows.cache_keys import mine_parts
from tests.test_beam_text import BREAD, LIGHTHOUSES, wet_record
from tests.test_beam_text import config as text_config

EVAL_FUNCTION = '''def moving_average(series, window):
    """Average of each run of `window` values."""
    totals = []
    running = 0.0
    for position, value in enumerate(series):
        running += value
        if position >= window:
            running -= series[position - window]
        if position >= window - 1:
            totals.append(running / window)
    return totals
'''
# the same function reformatted (spacing, quotes, blank lines) and with every name changed
REFORMATTED = EVAL_FUNCTION.replace("    ", "  ").replace("running += value", "running+=value")
RENAMED = (
    EVAL_FUNCTION.replace("moving_average", "smooth")
    .replace("series", "xs")
    .replace("window", "width")
    .replace("totals", "out")
    .replace("running", "acc")
    .replace("position", "i")
    .replace("value", "v")
)
# a near miss: the same opening, then code of its own (shares fewer than 13 words in a row)
NEAR_MISS = '''def moving_sum(series, window):
    """Sum of each run of `window` values."""
    sums = []
    for start in range(len(series) - window + 1):
        sums.append(sum(series[start : start + window]))
    return sums
'''
ABSTRACT = (
    "Microglial cells respond to injury in the adult spinal cord within minutes, and we show "
    "that their processes converge on damaged axons through a purinergic signal that requires "
    "the P2Y12 receptor, which sets the pace of the early inflammatory response."
)
QUERY = "microglia converge on injured axons through purinergic signalling"  # 8 words, whole


def eval_folders(root: Path) -> EvalData:
    """A BEIR folder and a CoSQA folder holding the texts above."""
    beir = root / "beir-mini"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "", "text": ABSTRACT}))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": QUERY}))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    cosqa = root / "cosqa"
    cosqa.mkdir()
    (cosqa / "code_idx_map.txt").write_text(json.dumps({EVAL_FUNCTION: 0}))
    queries = [{"idx": "c1", "doc": "python moving average", "retrieval_idx": 0}]
    (cosqa / "cosqa-retrieval-test-500.json").write_text(json.dumps(queries))
    return EvalData(beir=(beir,), cosqa=cosqa)


@pytest.fixture()
def only_fixture_sets(tmp_path, monkeypatch) -> EvalData:
    """The fixture sets, with the public ones out of reach (CPT_DATA empty) and the index
    cached under this test's own CPT_HOME."""
    monkeypatch.setenv("CPT_DATA", str(tmp_path / "no-public-sets"))
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    return eval_folders(tmp_path / "eval")


def index_of(*sets: EvalTexts, **settings) -> OverlapIndex:
    return OverlapIndex.build(list(sets), DecontaminationConfig(**settings))


def test_planted_functions_are_found_and_near_misses_are_not():
    index = index_of(EvalTexts("CoSQA", [], [(EVAL_FUNCTION, "python")]))
    for planted in (EVAL_FUNCTION, REFORMATTED, RENAMED):
        assert index.overlaps([], planted, "python") == ["CoSQA"], planted
    assert index.overlaps([], NEAR_MISS, "python") == []
    # the mined side has its docstring cut: the shape ignores docstrings and comments
    body = EVAL_FUNCTION.replace('    """Average of each run of `window` values."""\n', "")
    assert index.overlaps([], body.replace("return totals", "return totals  # done"), "python")


def test_a_passage_overlaps_with_13_shared_words_not_12():
    index = index_of(EvalTexts("SciFact", [ABSTRACT]))
    words = ABSTRACT.split()
    held = "An aside. " + " ".join(words[10:23]) + " and so on."
    assert index.overlaps([held.upper()]) == ["SciFact"]  # case and punctuation never hide it
    assert index.overlaps(["An aside. " + " ".join(words[10:22]) + " and so on."]) == []


def test_eval_texts_shorter_than_n_count_whole_down_to_min_words():
    index = index_of(EvalTexts("SciFact", [QUERY, "too short to count"]))
    assert index.overlaps([f"We read that {QUERY}, last year."]) == ["SciFact"]
    assert index.overlaps(["This page is too short to count for anything."]) == []
    assert index.shorter == (8,)


def test_a_pair_names_every_set_it_overlaps_and_the_index_round_trips():
    index = index_of(
        EvalTexts("SciFact", [ABSTRACT]), EvalTexts("CoSQA", [], [(EVAL_FUNCTION, "python")])
    )
    again = OverlapIndex.load(index.save())
    assert again.overlaps([ABSTRACT], RENAMED, "python") == ["SciFact", "CoSQA"]
    assert again.sizes == index.sizes


def test_short_functions_never_match_by_shape_alone():
    assert function_shape("def f(x):\n    return x\n", "python", min_tokens=20) is None
    assert function_shape(EVAL_FUNCTION, "python", min_tokens=20) is not None


def test_public_sets_missing_here_are_listed_not_fatal(only_fixture_sets):
    sets = reported_sets(only_fixture_sets)
    assert [s.name for s in sets.found] == ["beir-mini", "CoSQA"]
    assert sets.unavailable == ["SentEval", "STS"]
    with pytest.raises(CptError, match="CoSQA file missing"):  # a set named must exist
        reported_sets(EvalData(cosqa=Path("/no/such/cosqa")))


def test_the_code_miner_drops_planted_copies_and_the_balance_adds_up(only_fixture_sets, tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    for name, code in {
        "exact": EVAL_FUNCTION,
        "formatted": REFORMATTED,
        "renamed": RENAMED,
    }.items():
        (repo / "pkg" / f"{name}.py").write_text(code)
    (repo / "pkg" / "near.py").write_text(NEAR_MISS)
    settings = {"against": only_fixture_sets}
    config = CodeMiningConfig(decontaminate=DecontaminationConfig(**settings))
    manifest = mine_code([str(repo)], str(tmp_path / "out"), config, ["--direct_num_workers=1"])
    # exact and reformatted copies are duplicates of each other first; what is left overlaps
    assert manifest.counts["contaminated"] == {"CoSQA": 2}
    balance = manifest.counts["balance"]
    assert balance["inputs"] == sum(balance["outcomes"].values()) == 4
    assert balance["outcomes"]["contaminated"] == 2
    assert manifest.counts["decontamination_checked"] == {"beir-mini": 2, "CoSQA": 2}
    assert manifest.counts["decontamination_unavailable"] == {"SentEval": 1, "STS": 1}
    rows = [r for p in (tmp_path / "out").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert [r["y"].splitlines()[0] for r in rows] == ["def moving_sum(series, window):"]


def test_the_text_miner_drops_pairs_holding_an_eval_passage(
    only_fixture_sets, tmp_path, tiny_model
):
    wet = tmp_path / "crawl.warc.wet"
    wet.write_bytes(
        wet_record("https://bakery.example/bread", "\n".join(BREAD))
        + wet_record("https://coast.example/", "\n".join([*LIGHTHOUSES, f"A study: {ABSTRACT}"]))
    )
    against = only_fixture_sets.model_dump(mode="json")
    config = text_config(tiny_model, decontaminate={"against": against})
    manifest = mine_text([str(wet)], str(tmp_path / "out"), config, ["--direct_num_workers=1"])
    assert manifest.counts["contaminated"]["beir-mini"] >= 1
    rows = [r for p in (tmp_path / "out").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert not any("purinergic" in r["x"] + r["y"] for r in rows)
    assert any("Keepers" in r["x"] + r["y"] for r in rows)  # the page's other pairs stay
    assert any("yeast" in r["x"] for r in rows)


def test_a_changed_eval_set_changes_the_mining_key(only_fixture_sets, tmp_path):
    overrides = {"decontaminate.against": only_fixture_sets.model_dump(mode="json")}
    stage = MineStage(inputs=(str(tmp_path),), config="configs/mine-code.yaml", overrides=overrides)
    before = mine_parts("code", stage)
    assert mine_parts("code", stage) == before
    corpus = only_fixture_sets.beir[0] / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("minutes", "hours"))
    assert mine_parts("code", stage) != before
    assert sets_key(DecontaminationConfig(against=only_fixture_sets)) in mine_parts("code", stage)


def test_the_pipeline_checks_its_own_eval_sets(only_fixture_sets):
    config = PipelineConfig(code=MineStage(inputs=("x",)), eval_data=only_fixture_sets)
    against = config.miner("code").overrides["decontaminate.against"]
    assert EvalData.model_validate(against) == only_fixture_sets
    assert PipelineConfig(code=MineStage(inputs=("x",))).miner("code").overrides == {}


def test_the_index_is_built_once_for_the_same_sets(only_fixture_sets):
    config = DecontaminationConfig(against=only_fixture_sets)
    first = overlap_index(config)
    stamp = first.path.stat().st_mtime_ns
    assert overlap_index(config).path == first.path and first.path.stat().st_mtime_ns == stamp
    assert first.unavailable == ("SentEval", "STS")


def test_the_report_says_what_each_set_removed_through_a_combined_dataset(
    only_fixture_sets, tmp_path
):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text(RENAMED + "\n\n" + NEAR_MISS)
    config = CodeMiningConfig(decontaminate=DecontaminationConfig(against=only_fixture_sets))
    mine_code([str(repo)], str(tmp_path / "code"), config, ["--direct_num_workers=1"])
    combine_stage([tmp_path / "code"], tmp_path / "combined")
    found = removed_by_set([tmp_path / "combined"])
    assert found == {
        "removed": {"CoSQA": 1, "beir-mini": 0},
        "checked": ["CoSQA", "beir-mini"],
        "unavailable": ["STS", "SentEval"],
    }
    line = _decontamination(found)
    assert "mined pairs removed for overlapping eval sets: 1 (CoSQA 1, beir-mini 0)" in line
    assert "not checked: STS, SentEval" in line
    clean = {"removed": {"SciFact": 0}, "checked": ["SciFact"], "unavailable": []}
    assert _decontamination(clean) == "; no mined pair overlapped an eval set (SciFact)"
    assert removed_by_set([tmp_path / "gone"]) is None


def test_turned_off_it_keeps_every_pair_and_counts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text(EVAL_FUNCTION + "\n\n" + NEAR_MISS)
    config = CodeMiningConfig(decontaminate=DecontaminationConfig(enabled=False))
    manifest = mine_code([str(repo)], str(tmp_path / "out"), config, ["--direct_num_workers=1"])
    assert manifest.counts["rows"] == 2
    assert not {"contaminated", "decontamination_checked"} & manifest.counts.keys()
    assert not (tmp_path / "home" / "decontamination").exists()  # no index was built


def test_a_damaged_cached_index_is_built_again(only_fixture_sets):
    config = DecontaminationConfig(against=only_fixture_sets)
    path = overlap_index(config).path
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
    again = overlap_index(config)
    assert again.index.overlaps([], RENAMED, "python") == ["CoSQA"]
    assert OverlapIndex.load(path.read_bytes()).sizes == again.index.sizes
