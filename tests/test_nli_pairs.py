"""`cpt pairs nli`: SNLI/MultiNLI lines as released and triplet files become pairs with a hard
negative each, which the nli-finetune recipe (`data.hard_negatives: 1`) trains on."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from cpt_core.data.nli import nli_pairs
from cpt_core.data.reader import resolve_shards
from cpt_core.errors import CptError
from cpt_core.paths import REPO
from cpt_core.train.config import load_config
from cpt_core.train.trainer import train

# Lines in SNLI 1.0's jsonl layout (fields trimmed to those read), as the release has them:
# a premise with three hypotheses, and one with no gold label.
SNLI = [
    {"gold_label": "neutral", "sentence1": "A person on a horse jumps over a broken down "
     "airplane.", "sentence2": "A person is training his horse for a competition."},
    {"gold_label": "contradiction", "sentence1": "A person on a horse jumps over a broken down "
     "airplane.", "sentence2": "A person is at a diner, ordering an omelette."},
    {"gold_label": "entailment", "sentence1": "A person on a horse jumps over a broken down "
     "airplane.", "sentence2": "A person is outdoors, on a horse."},
    {"gold_label": "-", "sentence1": "Two women are embracing while holding to go packages.",
     "sentence2": "The sisters are hugging goodbye while holding to go packages."},
    {"gold_label": "entailment", "sentence1": "Children smiling and waving at camera",
     "sentence2": "There are children present"},
]  # fmt: skip


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_snli_premises_with_both_sides_become_pairs_and_the_rest_is_counted(tmp_path):
    skipped: dict[str, int] = {}
    rows = list(nli_pairs([write_jsonl(tmp_path / "snli.jsonl", SNLI)], "train", skipped))
    assert [(r["x"], r["y"], r["negatives"]) for r in rows] == [
        (
            "A person on a horse jumps over a broken down airplane.",
            "A person is outdoors, on a horse.",
            ["A person is at a diner, ordering an omelette."],
        )
    ]
    assert skipped == {"neutral": 1, "no_gold_label": 1, "premise_without_both_sides": 1}


def test_triplets_in_any_naming_and_a_wrong_file_is_one_line(tmp_path):
    triplets = [
        {"query": "q1", "positive": "p1", "negatives": ["n1", "n2"]},
        {"anchor": "q2", "positive": "p2", "negative": "n3"},
    ]
    rows = list(nli_pairs([write_jsonl(tmp_path / "t.jsonl", triplets)], "train", {}))
    assert [(r["x"], r["y"], r["negatives"]) for r in rows] == [
        ("q1", "p1", ["n1", "n2"]),
        ("q2", "p2", ["n3"]),
    ]
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [*triplets, {"text": "a corpus line"}])
    with pytest.raises(CptError, match=r"wrong\.jsonl:3: expected SNLI/MultiNLI fields"):
        list(nli_pairs([wrong], "train", {}))
    empty = write_jsonl(
        tmp_path / "empty.jsonl", [{"query": "q", "positive": "p", "negatives": []}]
    )
    with pytest.raises(CptError, match=r"empty\.jsonl:1"):
        list(nli_pairs([empty], "train", {}))


def test_the_command_writes_a_dataset_the_nli_recipe_trains_on(tiny_model, tmp_path):
    triplets = [
        {"query": f"premise {i}", "positive": f"entailed {i}", "negatives": [f"contra {i}"]}
        for i in range(16)
    ]
    source = write_jsonl(tmp_path / "triplets.jsonl", triplets + SNLI)
    out = tmp_path / "pairs"
    command = [sys.executable, "-m", "cpt_core.cli", "pairs", "nli", str(source), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "17 pairs" in done.stdout and "1 neutral" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["skipped"]["premise_without_both_sides"] == 1
    table = pq.read_table(resolve_shards(out))
    assert all(len(n) == 1 for n in table.column("negatives").to_pylist())
    recipe = load_config(
        REPO / "configs" / "nli-finetune.yaml",
        **{
            "model.name": str(tiny_model),
            "model.max_length": 24,
            "data.batch_size": 4,
            "data.chunk_size": 2,
            "optim.max_steps": 2,
            "optim.warmup_steps": 1,
        },
    )
    assert recipe.data.hard_negatives == 1
    assert (train(recipe, out, tmp_path / "run", progress=False) / "cpt.json").is_file()
