import json
import os
import shlex
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.numpy import load_file
from transformers import AutoModel

from cpt_core.errors import CptError
from cpt_core.model.embedder import Embedder
from cpt_core.train.checkpoint import checkpoints
from cpt_core.train.config import load_config
from cpt_core.train.trainer import train
from tests.conftest import numbered_pairs, write_pairs


def tiny_config(model, **extra):
    base = {
        "model.name": str(model),
        "model.max_length": 24,
        "data.batch_size": 8,
        "data.chunk_size": 3,
        "optim.lr": 1e-3,
        "optim.warmup_steps": 2,
        "optim.max_steps": 10,
        "checkpoint_every": 5,
    }
    return load_config(None, **{**base, **extra})


def test_resume_continues_exactly(tiny_model, pairs_dir, tmp_path):
    config = tiny_config(tiny_model)
    straight = train(config, pairs_dir, tmp_path / "a", progress=False)
    assert train(config, pairs_dir, tmp_path / "b", progress=False, stop_after=5) is None
    assert not (tmp_path / "b" / "model").exists()
    resumed = train(config, pairs_dir, tmp_path / "b", resume=True, progress=False)
    a = load_file(straight / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "b" / "metrics.jsonl").open()]
    assert steps == list(range(1, 11))
    initial = load_file(tiny_model / "model.safetensors")["model.embed_tokens.weight"]
    assert not np.array_equal(a["embed_tokens.weight"], initial)  # training changed weights


def test_run_folder_contents(tiny_model, pairs_dir, tmp_path):
    model = train(
        tiny_config(tiny_model, **{"optim.max_steps": 3}), pairs_dir, tmp_path / "r", progress=False
    )
    record = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    for key in (
        "loss",
        "accuracy",
        "scale",
        "tau",
        "grad_norm",
        "lr",
        "pairs_per_s",
        "tokens_per_s",
    ):
        assert np.isfinite(record[key]), key
    assert (tmp_path / "r" / "curves.png").stat().st_size > 10_000
    meta = json.loads((model / "cpt.json").read_text())
    assert meta["delimiters"] == {"query": ["[", "]"], "document": ["{", "}"]}
    assert meta["pooling"] == "last" and meta["steps"] == 3
    assert meta["data_manifests"][0]["rows"] == 64
    AutoModel.from_pretrained(model)  # a plain Hugging Face folder
    vectors = Embedder.from_pretrained(model).encode(["b", "a much longer text here", "c"], "query")
    assert vectors.dtype == np.float32 and vectors.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)
    one = Embedder.from_pretrained(model).encode(["a much longer text here"], "query")
    np.testing.assert_allclose(vectors[1], one[0], atol=1e-5)  # order kept despite sorting


def test_existing_checkpoints_need_resume(tiny_model, pairs_dir, tmp_path):
    config = tiny_config(tiny_model, **{"optim.max_steps": 2})
    train(config, pairs_dir, tmp_path / "r", progress=False, stop_after=1)
    with pytest.raises(CptError, match="--resume"):
        train(config, pairs_dir, tmp_path / "r", progress=False)


def test_resume_refuses_another_config(tiny_model, pairs_dir, tmp_path):
    train(tiny_config(tiny_model), pairs_dir, tmp_path / "r", progress=False, stop_after=5)
    with pytest.raises(CptError, match="another training config"):
        train(tiny_config(tiny_model, **{"optim.lr": 5e-4}), pairs_dir, tmp_path / "r", resume=True)


class _Planted:
    """Unpickling this runs a shell command: what a tampered checkpoint file could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize("file", ["optimizer.pt", "rng.pt"])
def test_resume_refuses_a_planted_pickle(tiny_model, pairs_dir, tmp_path, file):
    config = tiny_config(tiny_model)
    train(config, pairs_dir, tmp_path / "r", progress=False, stop_after=5)
    [checkpoint] = checkpoints(tmp_path / "r" / "checkpoints")
    ran = tmp_path / "planted-code-ran"
    torch.save({"optimizer": _Planted(ran), "python": _Planted(ran)}, checkpoint / file)
    with pytest.raises(CptError, match=f"{file} holds more than tensors and plain values"):
        train(config, pairs_dir, tmp_path / "r", resume=True, progress=False)
    assert not ran.exists()


# What torch.save writes on a GPU machine: the optimiser's storages tagged "cuda:0". Run in a
# child process so the tagger registered for it does not outlive the rewrite.
RETAG_AS_CUDA = """
import sys, torch
torch.serialization.register_package(0, lambda s: "cuda:0", lambda s, location: None)
torch.save(torch.load(sys.argv[1], weights_only=True), sys.argv[1])
"""


def test_checkpoint_written_on_a_gpu_resumes_on_cpu(tiny_model, pairs_dir, tmp_path):
    config = tiny_config(tiny_model)
    train(config, pairs_dir, tmp_path / "r", progress=False, stop_after=5)
    [checkpoint] = checkpoints(tmp_path / "r" / "checkpoints")
    saved = checkpoint / "optimizer.pt"
    subprocess.run([sys.executable, "-c", RETAG_AS_CUDA, str(saved)], check=True)
    with zipfile.ZipFile(saved) as archive:
        pickled = next(archive.read(n) for n in archive.namelist() if n.endswith("data.pkl"))
    assert b"cuda:0" in pickled and b"cpu" not in pickled
    model = train(config, pairs_dir, tmp_path / "r", resume=True, progress=False)
    assert json.loads((model / "cpt.json").read_text())["steps"] == 10


def test_hard_negatives_train(tiny_model, tmp_path):
    pairs = write_pairs(tmp_path / "nli", numbered_pairs(32), negatives=2)
    config = tiny_config(tiny_model, **{"data.hard_negatives": 2, "optim.max_steps": 2})
    assert (train(config, pairs, tmp_path / "r", progress=False) / "cpt.json").exists()


def _write(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


BAD_SHARDS = {
    "empty shard": (
        pa.table({"x": pa.array([], pa.string()), "y": pa.array([], pa.string())}),
        "hold no pairs",
    ),
    "missing column": (pa.table({"x": ["a", "b"]}), "missing column 'y'"),
    "wrong type": (pa.table({"x": [1, 2], "y": ["a", "b"]}), "column 'x' has type int64"),
    "empty string": (pa.table({"x": ["a", ""], "y": ["b", "c"]}), "row 1 has an empty 'x'"),
    "null": (pa.table({"x": ["a", "b"], "y": ["b", None]}), "row 1 has an empty 'y'"),
}


@pytest.mark.parametrize("case", BAD_SHARDS)
def test_bad_shards_fail_before_any_output(tiny_model, tmp_path, case):
    table, message = BAD_SHARDS[case]
    shard = _write(tmp_path / "bad" / "part.parquet", table)
    out = tmp_path / "run"
    with pytest.raises(CptError, match=message):
        train(tiny_config(tiny_model), shard.parent, out, split=None, progress=False)
    assert not out.exists()


def test_glob_matching_nothing(tiny_model, tmp_path):
    with pytest.raises(CptError, match="no Parquet shards match"):
        train(tiny_config(tiny_model), str(tmp_path / "nope" / "*.parquet"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_not_parquet(tiny_model, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(CptError, match="not a readable Parquet file"):
        train(tiny_config(tiny_model), tmp_path / "d", tmp_path / "run")


def test_cli_prints_one_line_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpt_core.cli",
            "train",
            "--pairs",
            str(tmp_path / "*.parquet"),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"cpt: error: no Parquet shards match '{tmp_path}/*.parquet'"
    ]


def test_config_typo_is_refused(tmp_path):
    preset = tmp_path / "c.yaml"
    preset.write_text("optim:\n  lerning_rate: 1\n")
    with pytest.raises(CptError, match=r"optim\.lerning_rate"):
        load_config(preset)


def test_raising_max_steps_on_resume_extends_the_run(tiny_model, pairs_dir, tmp_path):
    train(tiny_config(tiny_model, **{"optim.max_steps": 4}), pairs_dir, tmp_path / "r")
    longer = tiny_config(tiny_model, **{"optim.max_steps": 6})
    model = train(longer, pairs_dir, tmp_path / "r", resume=True, progress=False)
    assert json.loads((model / "cpt.json").read_text())["steps"] == 6
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "r" / "metrics.jsonl").open()]
    assert steps == list(range(1, 7))


def _ten_seconds_a_step(monkeypatch):
    """The budget's clock, advanced 10 s at each reading: every step takes 10 s to it."""
    from types import SimpleNamespace

    from cpt_core.train import schedule

    ticks = iter(range(0, 10**6, 10))
    monkeypatch.setattr(schedule, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))


def test_a_time_budget_trains_as_if_its_steps_were_max_steps(
    tiny_model, pairs_dir, tmp_path, monkeypatch
):
    """One minute at 10 s a step, measured on step 2 after 20 s: 4 more steps, so 6. The
    learning rate decays to step 6 from the start, so the weights equal max_steps=6 exactly;
    a run stopped and resumed keeps its length, whatever its new clock says."""
    six = train(tiny_config(tiny_model, **{"optim.max_steps": 6}), pairs_dir, tmp_path / "six")
    _ten_seconds_a_step(monkeypatch)
    timed = tiny_config(tiny_model, **{"optim.max_minutes": 1})
    model = train(timed, pairs_dir, tmp_path / "timed", progress=False)
    assert json.loads((model / "cpt.json").read_text())["steps"] == 6
    assert train(timed, pairs_dir, tmp_path / "resumed", progress=False, stop_after=5) is None
    monkeypatch.undo()  # real time: the budget would now allow all 10 steps
    resumed = train(timed, pairs_dir, tmp_path / "resumed", resume=True, progress=False)
    lrs = {}
    for run in ("six", "timed", "resumed"):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        lrs[run] = [json.loads(line)["lr"] for line in lines]
    assert lrs["timed"] == lrs["six"] == lrs["resumed"] and len(lrs["six"]) == 6
    expected = load_file(six / "model.safetensors")
    for folder in (model, resumed):
        got = load_file(folder / "model.safetensors")
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_a_budget_shorter_than_a_step_still_makes_a_model(
    tiny_model, pairs_dir, tmp_path, monkeypatch
):
    _ten_seconds_a_step(monkeypatch)
    tight = tiny_config(tiny_model, **{"optim.max_minutes": 0.1})  # 6 s, spent by step 1
    model = train(tight, pairs_dir, tmp_path / "r", progress=False)
    assert json.loads((model / "cpt.json").read_text())["steps"] == 2  # the deciding step


def test_bf16_on_a_cpu_without_it_is_refused(tiny_model, pairs_dir, tmp_path, monkeypatch):
    import cpt_core.train.precision

    monkeypatch.setattr(cpt_core.train.precision, "native_bf16", lambda device: False)
    with pytest.raises(CptError, match="precision: bf16 needs a GPU or a CPU with AVX512-BF16"):
        train(tiny_config(tiny_model, precision="bf16"), pairs_dir, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def _tiny_run(model):
    from torch import nn

    from cpt_core.loss.contrastive import LogitScale

    backbone = AutoModel.from_pretrained(model)
    modules = nn.ModuleDict({"backbone": backbone, "scale": LogitScale()})
    optimizer = torch.optim.AdamW(modules.parameters(), lr=1e-3)
    for parameter in modules.parameters():
        parameter.grad = torch.ones_like(parameter)
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return modules, optimizer, scheduler


def test_a_checkpoint_holds_its_steps_weights_while_training_goes_on(
    tiny_model, tmp_path, monkeypatch
):
    """The write runs in the background: what it writes is the step's copy, not the live
    weights and moments that the next steps change (here before the write starts)."""
    from cpt_core.data.pair_batches import BatcherState
    from cpt_core.train import checkpoint
    from cpt_core.train.checkpoint import Checkpointer, TrainState

    trained = threading.Event()
    write = checkpoint.save_file
    monkeypatch.setattr(checkpoint, "save_file", lambda *a: trained.wait(60) and write(*a))
    modules, optimizer, scheduler = _tiny_run(tiny_model)
    want = {k: v.clone() for k, v in modules.state_dict().items()}
    moment = next(iter(optimizer.state.values()))["exp_avg"].clone()
    with Checkpointer(tmp_path / "checkpoints", keep=2) as checkpointer:
        checkpointer.save(TrainState(1, BatcherState(), "x"), modules, optimizer, scheduler)
        with torch.no_grad():  # what the next optimiser steps do, before the write is done
            for parameter in modules.parameters():
                parameter.add_(1.0)
            next(iter(optimizer.state.values()))["exp_avg"].add_(1.0)
        trained.set()
    written = load_file(str(tmp_path / "checkpoints" / "step-0000001" / "weights.safetensors"))
    for key, value in want.items():
        np.testing.assert_array_equal(written[key], value.numpy(), err_msg=key)
    saved = torch.load(tmp_path / "checkpoints" / "step-0000001" / "optimizer.pt")
    assert torch.equal(saved["optimizer"]["state"][0]["exp_avg"], moment)


def test_a_failed_background_write_is_raised_on_the_training_thread(tiny_model, tmp_path):
    from cpt_core.data.pair_batches import BatcherState
    from cpt_core.train.checkpoint import Checkpointer, TrainState

    modules, optimizer, scheduler = _tiny_run(tiny_model)
    (tmp_path / "taken").write_text("a file where the checkpoint folder should be")
    with pytest.raises(OSError), Checkpointer(tmp_path / "taken", keep=2) as checkpointer:
        checkpointer.save(TrainState(1, BatcherState(), "x"), modules, optimizer, scheduler)


def test_the_cli_continues_a_trained_model_on_new_pairs(tiny_model, pairs_dir, tmp_path):
    first = train(tiny_config(tiny_model, **{"optim.max_steps": 2}), pairs_dir, tmp_path / "a")
    settings = {"model.max_length": 24, "data.batch_size": 8, "data.chunk_size": 3}
    sets = [f"--set={key}={value}" for key, value in {**settings, "optim.max_steps": 2}.items()]
    command = [sys.executable, "-m", "cpt_core.cli", "train", "--pairs", str(pairs_dir)]
    command += ["--out", str(tmp_path / "b"), "--continue-from", str(first), *sets]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    before = json.loads((first / "cpt.json").read_text())
    after = json.loads((tmp_path / "b" / "model" / "cpt.json").read_text())
    assert after["train_config"]["model"]["name"] == str(first)
    assert after["train_config"]["loss"]["init_scale"] == pytest.approx(before["logit_scale"])
    assert after["delimiters"] == before["delimiters"]


def test_fused_kernels_are_refused_on_a_cpu_in_one_line(tiny_model, pairs_dir, tmp_path):
    config = tiny_config(tiny_model, **{"model.fused_kernels": True})
    with pytest.raises(CptError, match=r"model\.fused_kernels needs a CUDA GPU"):
        train(config, pairs_dir, tmp_path / "r", progress=False)
