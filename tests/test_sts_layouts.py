"""Every common STS layout: SemEval 2012-2016 year folders built here as released (2016 names,
source columns, blank gold lines, a stray byte), single input files, STS-B and SICK by content;
per-file and "all" Spearman against scipy; `cpt eval --sts` end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from cpt_core.errors import CptError
from cpt_core.eval.profile import EvalData, EvalProfile
from cpt_core.eval.semeval_sts import StsYear, read_semeval, read_sts, year_spearman
from cpt_core.eval.suite import load_sets
from cpt_core.paths import REPO, shared_data

EVAL = Path(__file__).parent / "fixtures" / "eval"
PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.2),
    ("A dog is running through the snow.", "A cat is sleeping on a sofa.", 0.4),
    ("The president met the prime minister on Tuesday.", "Leaders met on Tuesday.", 3.2),
    ("Stocks fell sharply after the report.", "Shares dropped steeply following the report.", 4.6),
    ("Two children are playing in the park.", "Kids play outdoors in a park.", 3.8),
    ("The train was delayed by heavy snow.", "Heavy snow delayed the train.", 5.0),
    ("He bought a new car last week.", "She sold her old bicycle yesterday.", 0.8),
    ("A bird is flying over the lake.", "A plane is landing at the airport.", 0.6),
    ("The company reported record profits.", "Profits at the firm reached a record.", 4.4),
    ("A man is riding a horse on the beach.", "A person rides a horse along the shore.", 4.0),
    ("The meeting was postponed until Friday.", "The meeting will now take place Friday.", 3.6),
    ("A girl is brushing her hair.", "A girl is styling her hair.", 2.5),
    ("Police arrested three people after the protest.", "Three protesters were detained.", 3.4),
    ("The river flooded the village.", "The village was flooded by the river.", 4.9),
    ("A chef is cooking pasta.", "Someone is reading a newspaper.", 0.2),
    ("The museum reopened after renovation.", "After repairs, the museum opened again.", 4.5),
    ("Rain is expected tomorrow morning.", "Tomorrow will be sunny and warm.", 1.2),
    ("The senator voted against the bill.", "The bill was opposed by the senator.", 4.3),
    ("A boy is kicking a ball.", "A child kicks a soccer ball.", 4.1),
    ("The bank raised interest rates.", "Interest rates were increased by the bank.", 4.7),
    ("A woman is playing the piano.", "A man is playing the flute.", 1.6),
    ("The film won three awards.", "The movie received three prizes.", 4.6),
    ("The bridge will close for repairs.", "Repairs will shut the bridge.", 4.4),
    ("A cat is chasing a mouse.", "A mouse is being chased by a cat.", 4.9),
    ("Oil prices rose on Monday.", "Oil prices fell on Monday.", 2.2),
    ("The team celebrated its victory.", "The players celebrated winning the match.", 3.9),
    ("A man is cutting paper with scissors.", "A man is folding paper.", 1.8),
    ("The school was closed because of the storm.", "The storm closed the school.", 4.8),
    ("Scientists discovered a new species of frog.", "A new frog species was found.", 4.5),
]


def write_year(folder: Path, files: dict[str, list], prefix: str = "STS") -> Path:
    """One year's release: for each data set, an input file (sentences, then any extra
    columns) and a gold file (a score, or None for a pair without gold: a blank line)."""
    folder.mkdir(parents=True)
    for name, rows in files.items():
        inputs = "".join("\t".join(row[:2] + row[3:]) + "\n" for row in rows)
        gold = "".join(("" if row[2] is None else f"{row[2]:.2f}") + "\n" for row in rows)
        (folder / f"{prefix}.input.{name}.txt").write_text(inputs, encoding="utf-8")
        (folder / f"{prefix}.gs.{name}.txt").write_text(gold)
    (folder / "00-readme.txt").write_text("SemEval STS test data; not a data set\n")
    return folder


@pytest.fixture
def sts12(tmp_path) -> Path:
    rows = [[a, b, score] for a, b, score in PAIRS]
    return write_year(tmp_path / "STS12-en-test", {"MSRpar": rows[:18], "surprise.OnWN": rows[18:]})


@pytest.fixture
def sts16(tmp_path) -> Path:
    """2016's names, source columns after the sentences, blank gold lines, a latin-1 byte."""
    rows = [[a, b, score, "answers", "answers-src"] for a, b, score in PAIRS]
    for n in (2, 7, 11):
        rows[n][2] = None
    folder = write_year(
        tmp_path / "sts2016-english-with-gs-v1.0",
        {"answer-answer": rows[:16], "headlines": rows[16:]},
        prefix="STS2016",
    )
    source = folder / "STS2016.input.headlines.txt"
    source.write_bytes(source.read_bytes().replace(b"The film", b"The caf\xe9 film", 1))
    return folder


def test_reads_a_year_folder(sts12):
    year = read_sts(sts12)
    assert isinstance(year, StsYear) and year.name == "STS12"
    assert [f.name for f in year.files] == ["MSRpar", "surprise.OnWN"]  # the readme is skipped
    msrpar, onwn = year.files
    assert (msrpar.first[0], msrpar.second[0], msrpar.gold[0]) == PAIRS[0]
    assert len(msrpar.gold) == 18 and len(onwn.gold) == 12
    assert (onwn.first[-1], onwn.gold[-1]) == (PAIRS[-1][0], 4.5)
    assert year.skipped == [{"no_gold": 0}, {"no_gold": 0}]


def test_2016_names_blank_gold_and_source_columns(sts16, caplog):
    year = read_sts(sts16)
    assert year.name == "STS16" and [f.name for f in year.files] == ["answer-answer", "headlines"]
    answers, headlines = year.files
    kept = [p for n, p in enumerate(PAIRS[:16]) if n not in (2, 7, 11)]
    assert list(zip(answers.first, answers.second, answers.gold, strict=True)) == kept
    assert headlines.first[6] == "The caf\ufffd film won three awards."  # read, and said so
    assert "1 undecodable byte sequence(s)" in caplog.text
    assert year.skipped == [{"no_gold": 3}, {"no_gold": 0, "undecodable": 1}]
    sizes = year.sizes()
    assert sizes["STS16/answer-answer"] == {"pairs": 13, "no_gold": 3}
    assert sizes["STS16/all"] == {"files": 2, "pairs": 27, "no_gold": 3}
    assert [len(f.gold) for f in year.sample(5, seed=0).files] == [5, 5]


def test_a_single_input_file_finds_its_gold(sts12):
    year = read_sts(sts12 / "STS.input.surprise.OnWN.txt")
    assert year.name == "STS12" and [(f.name, len(f.gold)) for f in year.files] == [
        ("surprise.OnWN", 12)
    ]


def test_stsb_and_sick_are_told_apart_by_content(tmp_path):
    stsb = read_sts(EVAL / "sts" / "sts-test.csv")
    sick = read_sts(EVAL / "sts" / "SICK_test_annotated.txt")
    assert (stsb.name, len(stsb.gold)) == ("STS-B", 18) and sick.name == "SICK-R"
    other = tmp_path / "notes.txt"
    other.write_text("just some text\n")
    with pytest.raises(CptError, match="not an STS layout cpt reads"):
        read_sts(other)


def test_mismatched_pair_and_missing_gold_are_one_clear_error(sts12):
    gold = sts12 / "STS.gs.MSRpar.txt"
    gold.write_text("".join(gold.read_text().splitlines(keepends=True)[:-2]))
    message = r"STS\.input\.MSRpar\.txt has 18 lines but STS\.gs\.MSRpar\.txt has 16"
    with pytest.raises(CptError, match=message):
        read_sts(sts12)
    gold.unlink()
    with pytest.raises(CptError, match=r"no gold file STS\.gs\.MSRpar\.txt beside it"):
        read_sts(sts12)
    with pytest.raises(CptError, match=r"no STS\.input"):
        read_semeval(sts12.parent)
    (sts12 / "STS.gs.surprise.OnWN.txt").write_text("4.0\nhigh\n" + "1.0\n" * 10)
    with pytest.raises(CptError, match=r"OnWN\.txt:2: score 'high' is not a number"):
        read_semeval(sts12 / "STS.input.surprise.OnWN.txt")


def test_spearman_per_file_and_all_match_scipy(sts16):
    year = read_sts(sts16)
    rng = np.random.default_rng(3)
    scored = [f.gold + rng.normal(0, 1.5, len(f.gold)) for f in year.files]
    got = year_spearman(year, scored)
    rho = [spearmanr(c, f.gold).statistic for c, f in zip(scored, year.files, strict=True)]
    assert got["STS16/answer-answer"]["spearman"] == pytest.approx(100 * rho[0])
    assert got["STS16/headlines"]["spearman"] == pytest.approx(100 * rho[1])
    every = got["STS16/all"]
    assert every["spearman"] == pytest.approx(100 * (13 * rho[0] + 14 * rho[1]) / 27)
    assert every["spearman_mean"] == pytest.approx(50 * (rho[0] + rho[1]))
    pooled = spearmanr(np.concatenate(scored), np.concatenate([f.gold for f in year.files]))
    assert every["spearman_pooled"] == pytest.approx(100 * pooled.statistic)


def test_named_sets_replace_the_defaults_and_must_differ(sts12):
    data = EvalData(sts=(sts12, EVAL / "sts" / "sts-test.csv"))
    assert data.read_by(("sts",)) == [sts12, EVAL / "sts" / "sts-test.csv"]
    sets = load_sets(EvalProfile(families=("sts",)), data)
    assert [s.name for s in sets.sts] == ["STS12", "STS-B"]
    twice = EvalData(stsb=EVAL / "sts" / "sts-test.csv", sts=(EVAL / "sts" / "sts-test.csv",))
    with pytest.raises(CptError, match="two STS sets are named STS-B"):
        load_sets(EvalProfile(families=("sts",)), twice)


def test_cli_eval_sts_folder_and_stsb(tiny_model, sts12, tmp_path):
    stsb = shared_data("sts", "stsbenchmark", "sts-test.csv")
    report = tmp_path / "report"
    args = [str(tiny_model), "--no-baselines", "--report", str(report), "--profile", "quick"]
    args += ["--sts", str(sts12), "--sts", str(stsb)]
    args += ["--set", "families=[sts]", "--set", "sts.pairs=100"]
    env = {**os.environ, "CPT_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "cpt_core.cli", "eval", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((report / "results.json").read_text())
    tasks = ["sts/STS12/MSRpar", "sts/STS12/surprise.OnWN", "sts/STS12/all", "sts/STS-B"]
    assert list(results["tasks"]) == tasks
    assert results["sizes"]["sts/STS-B"] == {"pairs": 100}
    assert results["sizes"]["sts/STS12/all"] == {"files": 2, "pairs": 30, "no_gold": 0}
    every = results["tasks"]["sts/STS12/all"][tiny_model.name]
    assert {"spearman", "spearman_mean", "spearman_pooled"} <= every.keys()
    text = (report / "report.md").read_text()
    assert "## Sentence similarity, Spearman x100" in text
    assert "| STS12/all |" in text and "| STS-B |" in text
