"""A newcomer's mistakes, run as a person runs `cpt` (a subprocess): each fails with exit 2 and
one line that names the fix, before torch is imported (so in a moment, not 15-30 s), and never
leaves a half-made output behind."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpt_core.config import load_preset
from cpt_core.eval.profile import load_profile
from cpt_core.index.build import build_index
from cpt_core.paths import shared_data
from cpt_core.pipeline.config import load_pipeline
from cpt_core.pipeline.registry import ModelRecord, Registry
from cpt_core.serve.settings import ServeSettings
from cpt_core.text.config import TextMiningConfig
from cpt_core.train.config import load_config
from tests.conftest import numbered_pairs, write_pairs


def cpt(*args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    """`cpt ARGS` with Python's import log on, so a test can see what was imported."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # the CLI's own default
    env.update(extra)
    command = [sys.executable, "-X", "importtime", "-m", "cpt_core.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def refused(*args: str, cwd: Path | None = None, **extra: str) -> str:
    """The one error line of a refused command, checked to have come before torch."""
    done = cpt(*args, cwd=cwd, **extra)
    assert done.returncode == 2, done.stderr[-2000:]
    assert not re.search(r"\|\s+torch$", done.stderr, re.MULTILINE), "torch was imported"
    said = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert len(said) == 1 and said[0].startswith("cpt: error: "), said
    assert "Traceback" not in done.stderr and "type=" not in said[0]  # no pydantic internals
    return said[0]


def test_version_and_help_read_as_a_person_expects():
    version = cpt("--version")
    assert version.returncode == 0 and re.fullmatch(r"cpt \d+\.\d+\.\d+\n", version.stdout)
    top = cpt("--help").stdout
    assert re.search(r"--verbose\s+Show", top) and "<bool>" not in top
    assert "--online" in top
    assert "Hits per query" in cpt("index", "search", "--help").stdout
    assert "Texts embedded per forward pass" in cpt("embed", "--help").stdout


@pytest.mark.parametrize(
    ("command", "accepts"),
    [
        (["eval"], lambda o: load_profile("quick", o)),
        (["serve"], lambda o: load_preset(ServeSettings, None, **o)),
        (["pipeline"], lambda o: load_pipeline("configs/pipeline-demo.yaml", o)),
        (["train"], lambda o: load_config(None, **o)),
        (["mine", "text"], lambda o: load_preset(TextMiningConfig, None, **o)),
    ],
)
def test_the_set_example_in_each_help_is_a_key_that_command_accepts(command, accepts):
    shown = " ".join(cpt(*command, "--help").stdout.split())
    key, value = re.search(r"e\.g\. --set (\S+)=(\S+)", shown).groups()
    accepts({key: float(value) if re.fullmatch(r"[\d.e-]+", value) else value})


def test_a_missing_model_folder_names_the_nearest_catalogue_name(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("one text\n")
    out = str(tmp_path / "out.npy")
    said = refused("embed", "--model", "./no-such-model", "--input", str(texts), "--out", out)
    assert "no such model folder: ./no-such-model, and not a catalogue name" in said
    assert "Repo id" not in said
    said = refused("serve", "./smollm2-135")
    assert "did you mean smollm2-135m?" in said
    said = refused("export", "/nonexistent", str(tmp_path / "exported"))
    assert "no such model folder: /nonexistent" in said and not (tmp_path / "exported").exists()


def test_a_name_that_could_be_a_hub_id_stays_offline_unless_asked(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("one text\n")
    out = str(tmp_path / "out.npy")
    said = refused("embed", "--model", "smolm2-135m", "--input", str(texts), "--out", out)
    assert "did you mean smollm2-135m?" in said and "not in the Hugging Face cache" in said
    assert "--online" in said


def test_wrong_keys_and_profiles_name_what_is_valid(tmp_path):
    shards = write_pairs(tmp_path / "pairs", numbered_pairs(4))
    said = refused(
        "train", "--pairs", str(shards), "--out", str(tmp_path / "run"), "--set", "optim.lrr=1"
    )
    assert "unknown config key 'optim.lrr'; did you mean optim.lr" in said
    said = refused("serve", "--set", "max_bach_tokens=3")
    assert "unknown config key 'max_bach_tokens'; did you mean max_batch_tokens" in said
    said = refused("eval", "--set", "search.querys=3")
    assert "did you mean search.queries" in said
    said = refused("eval", "--profile", "quik")
    assert "no eval profile 'quik'; profiles: full, quick" in said


def test_mining_inputs_that_do_not_exist_is_an_error_and_leaves_nothing(tmp_path):
    out = tmp_path / "pairs"
    for _ in range(2):  # and again: the same error, not "already exists"
        said = refused("mine", "code", "--input", "/nonexistent", "--output", str(out))
        assert said == "cpt: error: no input exists: /nonexistent"
        assert not out.exists()
    said = refused("mine", "code", "--output", str(out))
    assert "--input-list FILE" in said and "--input_list" not in said


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("--input_list", "--input-list"), ("--confg", "--config"), ("--runer=dask", "--runner")],
)
def test_an_option_neither_cpt_nor_beam_knows_names_the_nearest(tmp_path, typed, meant):
    said = refused("mine", "text", "--input", str(tmp_path), "--output", str(tmp_path / "o"), typed)
    assert said == f"cpt: error: unknown option {typed.partition('=')[0]}; did you mean {meant}?"


def test_an_option_beam_knows_still_reaches_beam(tmp_path):
    from beam_jobs.options import pipeline_options

    options = pipeline_options(["--direct_num_workers=1", "--runner", "FnApiRunner"])
    assert options.get_all_options()["direct_num_workers"] == 1


def test_a_pipeline_run_folder_stands_for_its_current_model(tiny_model, tmp_path):
    run = tmp_path / "run"
    Registry().write(run)
    said = refused("export", str(run), str(tmp_path / "none"))
    assert "names no current model yet" in said
    said = refused("index", "search", "--index", str(run), "fox")
    assert "names no current model yet" in said
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d0", "text": "a quick fox"}\n{"_id": "d1", "text": "a dog"}\n')
    build_index(corpus, str(tiny_model), tmp_path / "index")
    current = ModelRecord(model=str(tiny_model), dataset="d", index=str(tmp_path / "index"))
    Registry(current=current).write(run)
    done = cpt("export", str(run), str(tmp_path / "exported"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "exported" / "modules.json").is_file()
    assert str(tiny_model) in done.stdout
    done = cpt("index", "search", "--index", str(run), "--k", "2", "--json", "fox")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {hit["id"] for hit in json.loads(done.stdout)["hits"]} == {"d0", "d1"}


def test_the_main_job_without_the_shared_data_fails_before_its_first_stage(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    elsewhere = {"CPT_DATA": str(data), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    said = refused("pipeline", "--set", f"out={runs}", **elsewhere)
    assert f"crawl not found in {data}: `cpt data fetch` downloads" in said
    (data / "crawl").mkdir(parents=True)  # an empty folder is not the crawl samples
    said = refused("pipeline", "--set", f"out={runs}", **elsewhere)
    assert said.startswith("cpt: error: shared:crawl/*warc* matches nothing: `cpt data fetch`")
    shutil.copy(shared_data("crawl", "wget-sample-0000.warc.gz"), data / "crawl")
    said = refused("pipeline", "--set", f"out={runs}", **elsewhere)  # enough to mine, not to eval
    assert f"senteval not found in {data}" in said
    assert not runs.exists()
